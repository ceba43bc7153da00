#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test: the compatibility layer's rules.
#  - no kernel version numbers in the driver (.c, aloop.h, aloop_compat.h):
#    version decisions are probes in scripts/probes/
#  - every ALOOP_HAVE_* the code tests has a probe, every probe is used
#  - an unknown API shape stops the build with the compat header's #error
#    (built with a probes header that knows nothing)
#  - headers older than 6.1 stop `make` with a clear message and no module
# The build checks use the Debian 6.1 headers (SKIP when not installed).
# KTAP on stdout (tests/lib/ktap.sh); exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1

. tests/lib/ktap.sh
ok() { ktap_pass "$@"; }
bad() { ktap_fail "$@"; }
skip() { ktap_skip "$@"; }

ktap_plan 5
KSRC=()	# the driver: every .c and .h in src/ but the generated probes header
for f in src/*.c src/*.h; do
	[ "$f" = src/aloop_probes.h ] || KSRC+=("$f")
done

hits=$(grep -n -E 'LINUX_VERSION_CODE|KERNEL_VERSION|LINUX_VERSION_(MAJOR|PATCHLEVEL)' "${KSRC[@]}")
[ -z "$hits" ] && ok "no kernel version numbers in the driver or the compat header" ||
	bad "no kernel version numbers in the driver or the compat header" "$hits"

used=$(grep -oh 'ALOOP_HAVE_[A-Z0-9_]*' "${KSRC[@]}" | sort -u)
probes=$(for f in scripts/probes/*.c; do b=${f##*/}; b=${b%.c}; echo "ALOOP_HAVE_${b^^}"; done | sort -u)
d=$(diff <(echo "$used") <(echo "$probes"))
[ -z "$d" ] && ok "every ALOOP_HAVE_* tested has a probe and every probe is used ($(wc -l <<<"$probes") probes)" ||
	bad "every ALOOP_HAVE_* tested has a probe and every probe is used" "< used only, > probe only:" "$d"

K61=$(compgen -G '/lib/modules/6.1.*-amd64/build' | sort -V | tail -n 1)
if [ -z "$K61" ] || [ ! -e "$K61/Makefile" ]; then
	skip "unknown API shapes stop the build (#error)" "no Debian 6.1 headers installed"
	skip "probes header without the 6.1 floor stops the build" "no Debian 6.1 headers installed"
	skip "headers older than 6.1: make stops with a clear message" "no Debian 6.1 headers installed"
else
	tmp=$(mktemp -d)
	ktap_on_exit "rm -rf '$tmp'"
	# A copy of the tree built with a hand-written probes header.
	tree() {
		rm -rf "$tmp/t"; mkdir -p "$tmp/t"
		cp -a src include Kbuild VERSION "$tmp/t/"
		{ echo "#ifndef ALOOP_PROBES_H"; echo "#define ALOOP_PROBES_H"
		  for m in "$@"; do echo "#define $m 1"; done; echo "#endif"; } >"$tmp/t/src/aloop_probes.h"
		make -C "$K61" M="$tmp/t" -k modules >"$tmp/log" 2>&1
	}
	tree ALOOP_HAVE_MIN_KERNEL ALOOP_HAVE_FMODE_CAN_ODIRECT; rc=$?
	errs=$(grep -o '#error "aloop: unknown[^"]*"' "$tmp/log" | sort -u)
	if [ $rc != 0 ] && [ "$(grep -c . <<<"$errs")" -ge 3 ] && [ ! -e "$tmp/t/aloop.ko" ]; then
		ok "unknown API shapes stop the build: $(grep -c . <<<"$errs") error directives naming the API"
	else
		bad "unknown API shapes stop the build (#error)" "make rc=$rc" "$errs" "$(tail -n 15 "$tmp/log")"
	fi
	tree; rc=$?
	if [ $rc != 0 ] && grep -q 'aloop supports Linux 6.1 and later' "$tmp/log"; then
		ok "probes header without the 6.1 floor stops the build"
	else
		bad "probes header without the 6.1 floor stops the build" "make rc=$rc" "$(tail -n 15 "$tmp/log")"
	fi
	# Headers that say 5.10: a copy of the 6.1 build dir with another version.h
	real=$(readlink -f "$K61")
	mkdir -p "$tmp/old"
	cp -a "$real"/. "$tmp/old/"
	for l in scripts tools; do
		[ -L "$tmp/old/$l" ] && ln -sfn "$(readlink -f "$real/$l")" "$tmp/old/$l"
	done
	sed -i -e 's/^#define LINUX_VERSION_CODE .*/#define LINUX_VERSION_CODE 330240/' \
	       -e 's/^#define LINUX_VERSION_PATCHLEVEL .*/#define LINUX_VERSION_PATCHLEVEL 10/' \
	       -e 's/^#define LINUX_VERSION_MAJOR .*/#define LINUX_VERSION_MAJOR 5/' \
		"$tmp/old/include/generated/uapi/linux/version.h"
	rm -rf "$tmp/t"; mkdir -p "$tmp/t"
	cp -a src include scripts Kbuild Makefile VERSION "$tmp/t/"
	rm -f "$tmp/t/src/aloop_probes.h"
	out=$(make -C "$tmp/t" module KDIR="$tmp/old" 2>&1); rc=$?
	if [ $rc != 0 ] && grep -q 'aloop: Linux 5.10 (headers in .*) is older than 6.1, the oldest aloop supports' <<<"$out" &&
	   [ ! -e "$tmp/t/aloop.ko" ]; then
		ok "headers older than 6.1: make stops with '$(grep -m1 '^aloop: Linux' <<<"$out")'"
	else
		bad "headers older than 6.1: make stops with a clear message" "make rc=$rc" "$(tail -n 15 <<<"$out")"
	fi
fi
ktap_finish
