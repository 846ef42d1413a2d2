"""The DKIM records that mailstack's DNS builder derives from the public keys the opendkim
role wrote back, as {name: TXT value} in JSON: what a verifier would find in DNS. Run on the
controller by verify.yml:

    python dkim_dns.py PUBLISHED_DIR DOMAIN MX_HOST MX_IPV4 SELECTOR:ALGORITHM...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from mailstack.dnssource import CacheSource
from mailstack.keys import PublishedKeys
from mailstack.model import parse
from mailstack.plan import plan


def main() -> None:
    published, domain, host, address, *selectors = sys.argv[1:]
    dkim = [dict(zip(("selector", "algorithm"), s.split(":"), strict=True)) for s in selectors]
    description = parse(
        [{"name": domain, "mx": [{"host": host}], "dkim": dkim}],
        {host: {"mailstack_ipv4": address}},
    )
    # No SPF include to resolve: an empty offline cache is enough.
    records = plan(description, PublishedKeys(Path(published)), CacheSource(Path("/nonexistent")))
    found = {}
    for record in records.records:
        if record.rtype == "TXT" and record.name.endswith(f"._domainkey.{domain}"):
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, record.rdata)
            found[record.name] = b"".join(rdata.strings).decode()  # type: ignore[attr-defined]
    json.dump(found, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
