#!/usr/bin/env bash
# `mailstack check` against the running lab (make lab-check, e2e check 8, make bench):
#
#   molecule/lab/audit.sh DOMAIN [more mailstack check options, e.g. --json]
#
# The lab's DNS server (dns.lab.test, which serves every lab zone) is the resolver, the lab's
# DNSSEC trust anchors and Pebble's root (both written by make lab into published/lab/) replace
# the root zone's anchor and the system's CAs, and the lab inventory gives the DKIM selectors,
# the plan to compare with (drift) and the hosts that may be probed for open relaying.
set -euo pipefail
cd "$(dirname "$0")/../.."
INVENTORY=${INVENTORY:-inventories/lab}
PUBLISHED=$INVENTORY/published/lab
DNS_SERVER=10.231.0.2
[ $# -ge 1 ] || { echo "usage: $0 DOMAIN [mailstack check options]" >&2; exit 2; }
for f in trust-anchors.txt acme-root.pem; do
  [ -s "$PUBLISHED/$f" ] || { echo "$PUBLISHED/$f is missing: run make lab first" >&2; exit 2; }
done
domain=$1
shift
exec "${MAILSTACK:-.venv/bin/mailstack}" check "$domain" -i "$INVENTORY" --resolver "$DNS_SERVER" \
  --trust-anchor "$PUBLISHED/trust-anchors.txt" --ca-file "$PUBLISHED/acme-root.pem" \
  --relay-test "$@"
