#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Find the kernel's checkpatch.pl and print its path.  Looked for in
# $CHECKPATCH, the installed kernel headers and sources, and the cache
# /var/cache/aloop/checkpatch/.  Debian's linux-headers packages do not
# ship it, so when none is found (and --fetch is given) the script is
# taken out of Debian's linux-source-6.1 package (apt-get download, only
# checkpatch.pl, spelling.txt and const_structs.checkpatch are kept) into
# the cache.
#
#   scripts/checkpatch.sh [--fetch]    print the path or exit 1
set -euo pipefail

cache=${ALOOP_CACHE:-/var/cache/aloop}/checkpatch
fetch=0
[ "${1:-}" = --fetch ] && fetch=1

for c in "${CHECKPATCH:-}" /usr/src/linux-headers-*/scripts/checkpatch.pl \
	 /usr/src/linux-source-*/scripts/checkpatch.pl \
	 /usr/src/linux-*/scripts/checkpatch.pl "$cache/checkpatch.pl"; do
	[ -n "$c" ] && [ -f "$c" ] && { echo "$c"; exit 0; }
done
[ $fetch = 1 ] || { echo "checkpatch: checkpatch.pl not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg=$(apt-cache pkgnames linux-source-6. 2>/dev/null |
      grep -E '^linux-source-6\.[0-9]+$' | sort -V | head -n 1 || true)
[ -n "$pkg" ] || { echo "checkpatch: no linux-source package in the apt sources" >&2; exit 1; }
# stale package lists name a version the mirror no longer has: refresh once
(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
	{ apt-get update -qq >/dev/null 2>&1; (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1); } ||
	{ echo "checkpatch: apt-get download $pkg failed" >&2; exit 1; }
dpkg-deb --fsys-tarfile "$tmp"/"$pkg"_*.deb |
	tar -x -C "$tmp" --wildcards './usr/src/linux-source-*.tar.xz'
tar -xJf "$tmp"/usr/src/linux-source-*.tar.xz -C "$tmp" --wildcards \
	'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
	'*/scripts/const_structs.checkpatch'
mkdir -p "$cache"
cp "$tmp"/linux-source-*/scripts/{checkpatch.pl,spelling.txt,const_structs.checkpatch} "$cache/"
echo "$pkg" > "$cache/SOURCE"
echo "$cache/checkpatch.pl"
