"""What the name of a domain's CA (`smime.pki_name`) serves over HTTP: the CA's certificate
and its CRL, at the URLs written into every certificate it issues.

Plain HTTP, as the S/MIME Baseline Requirements want for CRL and CA-issuer URLs (a client
checking a certificate must not need another certificate checked first). The files are the
ones `mailstack smime` publishes into the inventory, named relative to its `published/`
directory; the `pki` role on `pki_host` serves them with these paths and content types
(docs/smime.md#serving-the-ca-certificate-and-crl).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailstack.keys import PublishedKeys
from mailstack.model import Description
from mailstack.smime.profile import Urls


@dataclass(frozen=True)
class Served:
    """One file: on `host` (a mail host), at http://`name``path`, from `published` (relative
    to the inventory's published directory)."""

    host: str
    name: str
    path: str
    published: Path
    content_type: str


def served(description: Description) -> list[Served]:
    """Every file the CAs' names serve, for the domains whose CA mailstack keeps."""
    published = PublishedKeys(Path())
    out = []
    for domain in description.domains:
        smime, host = domain.smime, description.pki_host(domain)
        if smime is None or smime.pki_name is None or host is None:
            continue
        urls = Urls.at(smime.pki_name, domain.name)
        prefix = f"http://{smime.pki_name}"
        out += [
            Served(host, smime.pki_name, url.removeprefix(prefix), file, content_type)
            for url, file, content_type in (
                (urls.ca, published.smime_ca_der(domain.name), "application/pkix-cert"),
                (urls.crl, published.smime_crl(domain.name), "application/pkix-crl"),
            )
        ]
    return out
