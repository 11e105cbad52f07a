#!/usr/bin/env bash
# Installs the Debian packages the test suite runs for real: an IRC server
# (ngircd) and a network with services (inspircd, atheme-services). Synapse
# comes from PyPI and is installed by the suite itself into .venv-synapse.
# Needs root or sudo the first time; a no-op afterwards.
set -euo pipefail

need=()
command -v ngircd >/dev/null 2>&1 || [ -x /usr/sbin/ngircd ] || need+=(ngircd)
# A Libera-like network with services for tests/test_services_network.py: InspIRCd 3 and Atheme 7.
if [ "${1:-test}" != "demo" ]; then
    [ -x /usr/sbin/inspircd ] || need+=(inspircd)
    [ -x /usr/bin/atheme-services ] || need+=(atheme-services)
fi
# Headless Chromium for the archive site's browser tests (tests/test_site_browser.py);
# the demo (`system-deps.sh demo`) needs only the IRC server.
if [ "${1:-test}" != "demo" ]; then
    command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
    # irssi in tmux: what a person on IRC sees of the relay (tests/test_irc_screen.py).
    command -v irssi >/dev/null 2>&1 || need+=(irssi)
    command -v tmux >/dev/null 2>&1 || need+=(tmux)
fi

[ ${#need[@]} -eq 0 ] && exit 0

echo "==> installing Debian packages: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "sigbot: the tests need these Debian packages: ${need[*]}" >&2
    echo "        install them as root: apt-get install -y ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian packages start ngircd and inspircd as system services; the tests run their own.
for service in ngircd inspircd atheme-services; do
    $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || $SUDO service "$service" stop >/dev/null 2>&1 || true
done
