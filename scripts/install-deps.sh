#!/usr/bin/env bash
# Everything the demo and the whole test suite use, from Debian's packages, in one place: README's
# first command and CI (.ci/run) both run this, so a newcomer's machine gets what CI's gets.
# Run as root on Debian 12 / Ubuntu. Nothing of the system's mail or database setup is used: the
# demo and the tests start private instances with their own config on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure itself; "No configuration" leaves the system's mail setup alone.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix postgresql haproxy redis-server \
  openssl ca-certificates curl swaks fetchmail python3 chromium fonts-dejavu-core >/dev/null
# Cyrus IMAP for the second-upstream suite, without removing Dovecot (see the script).
./scripts/install-cyrus.sh
dovecot --version
postconf -d mail_version
ls /usr/lib/postgresql/*/bin/postgres
haproxy -v | sed -n 1p  # sed reads to the end: head would exit early and SIGPIPE haproxy (exit 141 under pipefail)
redis-server --version
chromium --version 2>/dev/null  # Debian's wrapper script prints a shell warning on some machines
