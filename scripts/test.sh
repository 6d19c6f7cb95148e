#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
# The lab tests build network namespaces and run nmap: they need root. gcc and Python's headers
# build pcapscan's compiled helpers (setup.py; without them the pure Python twins run).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
need=()
for pair in nmap:nmap tcpdump:tcpdump ip:iproute2 nft:nftables ndiff:ndiff tshark:tshark hping3:hping3 masscan:masscan zmap:zmap \
            chromium:chromium chromedriver:chromium-driver python3-config:python3-dev gcc:gcc; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q -e ".[test]"
exec python3 -m pytest "$@"
