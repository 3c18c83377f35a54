#!/usr/bin/env sh
# Debian's Chromium and CJK fonts for the web app's browser tests (Playwright drives this Chromium; it
# downloads no browser). Installed when missing and this is a Debian machine run as root, as CI is;
# otherwise the browser tests say they are skipped (and fail under CI).
set -eu
if command -v chromium >/dev/null 2>&1 && dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium or fonts-noto-cjk missing (apt-get install chromium fonts-noto-cjk): browser tests skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-cjk >/dev/null; }
