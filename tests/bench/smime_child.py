"""One run of the S/MIME benchmark's issuing, in a process of its own (tests/bench/smime.py
starts it, and measures its wall time and peak memory).

    python -m tests.bench.smime_child INVENTORY COUNT OUT
        `mailstack smime issue` of the first COUNT mailboxes of the inventory's first domain
        (one call, as the command makes it), then `export` of each into OUT (both
        encodings); prints one JSON line with the seconds of each phase and the counts.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from pathlib import Path

from mailstack.inventory import load
from mailstack.smime import pkcs12
from mailstack.smime.actions import Smime


def main(inventory: str, count: int, out: str) -> None:
    path = Path(inventory)
    session = Smime(
        load(path), path.with_name(path.name + ".smime"), datetime.datetime.now(datetime.UTC)
    )
    domain = session.inventory.description.domains[0]
    addresses = [f"{m.name}@{domain.name}" for m in domain.accounts.mailboxes][:count]
    start = time.perf_counter()
    session.issue_all(addresses)
    issued = time.perf_counter()
    password = pkcs12.new_password()
    for address in addresses:
        session.export(address, Path(out), password)
    exported = time.perf_counter()
    files = len(list(Path(out).glob("*.p12")))
    print(
        json.dumps(
            {
                "issue_s": round(issued - start, 3),
                "export_s": round(exported - issued, 3),
                "certificates": len(addresses),
                "p12": files,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
