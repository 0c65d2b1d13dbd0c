#!/usr/bin/env bash
# Builds Dovecot's imaptest against Debian 12's Dovecot 2.3.19 headers, for `npm run bench -- --imaptest PATH`.
# Usage: bench/build-imaptest.sh IMAPTEST_GIT_CHECKOUT   (a clone of https://github.com/dovecot/imaptest)
# Needs: apt-get install dovecot-dev autoconf automake libtool pkg-config make gcc
# The newest imaptest needs Dovecot 2.4's headers; commit ba1d6ab (the last before imaptest followed the
# 2.4 ssl-iostream API) builds once imap_parser_create() gets its fourth argument and str_begins() its
# 2.3 form: bench/imaptest-dovecot-2.3.19.patch. The binary lands in SRC/src/imaptest.
set -euo pipefail
src=$(cd "$1" && pwd)
patch=$(cd "$(dirname "$0")" && pwd)/imaptest-dovecot-2.3.19.patch
cd "$src"
git checkout -q ba1d6ab35b7751e740a5fe4fad2c2ea02a717a5f
git apply --check "$patch" 2>/dev/null && git apply "$patch"
./autogen.sh >/dev/null
./configure -q --with-dovecot=/usr/lib/dovecot
make -s -C src imaptest
echo "built $src/src/imaptest (run it with LD_LIBRARY_PATH=/usr/lib/dovecot; the bench sets that)"
