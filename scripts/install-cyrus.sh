#!/usr/bin/env bash
# Cyrus IMAP 3.6 for the interop tests, without removing Dovecot.
#
# Debian's cyrus-imapd and cyrus-pop3d conflict with dovecot-imapd/-pop3d (Conflicts: imap-server):
# installing them would remove Dovecot and every other interop suite with it. So only the packages
# that coexist are installed (cyrus-common: master, lmtpd, ctl_*; cyrus-admin: cyradm; sasl2-bin:
# saslpasswd2), and imapd/pop3d of the same version are unpacked with dpkg-deb -x into a cache
# folder. The tests find them through CYRUS_BIN_DIR (default: that cache's usr/lib/cyrus/bin).
# Run as root; apt-get update first on a fresh machine.
set -euo pipefail
CACHE="${MAILGATE_CYRUS_CACHE:-/var/cache/mailgate/cyrus}"

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends cyrus-common cyrus-admin sasl2-bin >/dev/null
version="$(dpkg-query -W -f='${Version}' cyrus-common)"

mkdir -p "$CACHE/debs"
# apt-get download fetches as the _apt user when it can write there (else it warns and runs as root).
if id _apt >/dev/null 2>&1; then chown _apt "$CACHE/debs"; fi
(cd "$CACHE/debs" && rm -f ./*.deb && apt-get download -qq "cyrus-imapd=$version" "cyrus-pop3d=$version")
for deb in "$CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$CACHE"; done
echo "cyrus $version: imapd/pop3d in $CACHE/usr/lib/cyrus/bin"

# The point of all this: Dovecot must still be there.
dovecot --version
