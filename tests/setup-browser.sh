#!/usr/bin/env bash
# Headless Chromium for tests/test_reports_html.py (the HTML page of `mailstack dmarc report`,
# rendered by a real browser). Does nothing when chromium is there; installs Debian's package
# when we are root on Debian; otherwise says what to install (the test then skips, or fails
# under CI).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser: chromium is missing: apt-get install chromium (Debian's package)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  echo "setup-browser: installed $(dpkg-query -W -f '${Package} ${Version}' chromium)"
else
  echo "setup-browser: chromium is missing and cannot be installed here (root on Debian" \
    "only): install it (apt-get install chromium), or the HTML report test is skipped" \
    "(and fails when CI is set)" >&2
fi
