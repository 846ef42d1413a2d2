#!/usr/bin/env bash
# NSS's tools (pk12util, certutil, cmsutil) for tests/test_smime_clients.py: the .p12 files
# of `mailstack smime export` imported and verified as Thunderbird and Evolution do. Does
# nothing when pk12util is there; installs Debian's libnss3-tools when we are root on Debian;
# otherwise says what to install (the tests then skip, or fail under CI).
set -euo pipefail

if command -v pk12util >/dev/null 2>&1 && command -v certutil >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-nss: pk12util is missing: apt-get install libnss3-tools (Debian's package)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnss3-tools >/dev/null
  echo "setup-nss: installed $(dpkg-query -W -f '${Package} ${Version}' libnss3-tools)"
else
  echo "setup-nss: pk12util is missing and cannot be installed here (root on Debian only):" \
    "install libnss3-tools, or the NSS tests are skipped (and fail when CI is set)" >&2
fi
