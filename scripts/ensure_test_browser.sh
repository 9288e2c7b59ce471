#!/usr/bin/env bash
# Makes sure the headless browser of the admin tests is installed: Debian's
# `chromium` package at /usr/bin/chromium (Playwright drives it by that path and
# never downloads a browser of its own). Installs it when missing and run as root.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "The admin browser tests need Debian's chromium at $CHROMIUM, which is missing." >&2
    echo "Install it once as root:  sudo apt-get update && sudo apt-get install -y chromium" >&2
    exit 1
fi

echo "Installing Debian's chromium for the admin browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium
if [ ! -x "$CHROMIUM" ]; then
    echo "apt-get installed chromium, but $CHROMIUM is still missing." >&2
    exit 1
fi
