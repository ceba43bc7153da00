#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test: dkms.conf's supported-kernel gate.  dkms must build aloop for
# the kernels it supports (6.1 and later, the floor of src/aloop_compat.h
# in scripts/probes/min_kernel.c) and skip every other one with exit 77,
# which never fails apt.  Bookworm's dkms 3.0.10 knows only the regex
# BUILD_EXCLUSIVE_KERNEL (BUILD_EXCLUSIVE_KERNEL_MIN is dkms 3.1's), so:
#  - the regex, read as dkms reads dkms.conf, accepts the supported
#    kernels and rejects the older ones;
#  - BUILD_EXCLUSIVE_KERNEL_MIN says the same for each of them, and equals
#    the floor of the version probe;
#  - with /usr/sbin/dkms installed: its own safe_source (how it reads
#    dkms.conf: sourced, printed again in double quotes, sourced again)
#    leaves the regex intact, its own build_exclude test decides as we do,
#    and it still ends a build of an excluded kernel with exit 77.
# KTAP on stdout (tests/lib/ktap.sh); exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh

ACCEPT=(6.1.0-57-amd64 6.12.118+deb12-amd64 7.3.4+deb13-amd64 6.19.0-1-amd64
	6.19.2 6.1.0 6.10.0-rc1 10.0.0-1-amd64)
REJECT=(5.10.0-30-amd64 4.19.0-27-amd64 4.19.0-x 6.0.12-amd64 5.19.0
	3.16.0-11-amd64 6.0)
DKMS=${DKMS:-/usr/sbin/dkms}

ktap_plan 8

# dkms.conf as dkms sources it, with $kernelver set.
conf=$(bash -c 'kernelver=KVER; . ./dkms.conf || exit 1
	printf "%s\n" "${BUILD_EXCLUSIVE_KERNEL:-}" "${BUILD_EXCLUSIVE_KERNEL_MIN:-}"' 2>&1)
rc=$?
mapfile -t c <<<"$conf"
RE=${c[0]:-} MIN=${c[1]:-}
[ "$rc" = 0 ] && [ -n "$RE" ] && [ -n "$MIN" ]
ktap_result $? "dkms.conf sets BUILD_EXCLUSIVE_KERNEL and BUILD_EXCLUSIVE_KERNEL_MIN" "$conf"

# match KVER: 0 when the regex lets dkms build for KVER
match() { [[ $1 =~ $RE ]]; }

bad=
for k in "${ACCEPT[@]}"; do match "$k" || bad+=" $k"; done
[ -z "$bad" ]
ktap_result $? "the regex accepts the supported kernels (${ACCEPT[*]})" "rejected:$bad" "regex: $RE"

bad=
for k in "${REJECT[@]}"; do match "$k" && bad+=" $k"; done
[ -z "$bad" ]
ktap_result $? "the regex rejects older kernels (${REJECT[*]})" "accepted:$bad" "regex: $RE"

# >= MIN by version order, as dkms 3.1 compares
at_least_min() { [ "$(printf '%s\n%s\n' "$MIN" "${1%%[-+]*}" | sort -V | head -n 1)" = "$MIN" ]; }
bad=
for k in "${ACCEPT[@]}" "${REJECT[@]}"; do
	match "$k"; a=$?
	at_least_min "$k"; b=$?
	[ "$a" = "$b" ] || bad+=" $k(regex:$a,min:$b)"
done
[ -z "$bad" ]
ktap_result $? "BUILD_EXCLUSIVE_KERNEL_MIN=$MIN agrees with the regex on every kernel above" "disagree:$bad"

floor=$(sed -n 's/.*KERNEL_VERSION(\([0-9]*\), *\([0-9]*\), *0).*/\1.\2/p' scripts/probes/min_kernel.c)
[ -n "$floor" ] && [ "$floor" = "$MIN" ] && match "$floor.0" && ! match "${floor%.*}.$((${floor#*.} - 1)).99"
ktap_result $? "the gate is the version probe's floor ($floor): $floor.0 accepted, the minor below rejected" \
	"scripts/probes/min_kernel.c: '$floor', BUILD_EXCLUSIVE_KERNEL_MIN: '$MIN'"

if [ ! -x "$DKMS" ]; then
	ktap_skip_n 3 "no $DKMS (apt-get install dkms)" \
		"dkms's safe_source reads the regex intact" \
		"dkms's own build_exclude test decides as this test does" \
		"dkms ends the build of an excluded kernel with exit 77"
	ktap_finish
fi
ver=$("$DKMS" --version 2>/dev/null | head -n 1)

# dkms's own functions, taken from the installed script.
fn() { sed -n "/^$1() *[({]/,/^[)}]\$/p" "$DKMS"; }
funcs=$(fn mktemp_or_die; fn safe_source)
read_re=$(bash -c "$funcs"'
	die() { exit "$1"; }
	safe_source ./dkms.conf BUILD_EXCLUSIVE_KERNEL BUILD_EXCLUSIVE_KERNEL_MIN kernelver
	printf "%s\n" "${BUILD_EXCLUSIVE_KERNEL:-}"' 2>&1)
[ -n "$funcs" ] && [ "$read_re" = "$RE" ]
ktap_result $? "$ver: its safe_source reads the regex intact" \
	"read by dkms: '$read_re'" "sourced:      '$RE'"

# The line of read_conf() that sets build_exclude from the kernel version.
# shellcheck disable=SC2016 # a regex for the literal $ of dkms's source
test_line=$(grep -m1 -E '^\s*\[\[ \$BUILD_EXCLUSIVE_KERNEL && ! \$1 =~ \$BUILD_EXCLUSIVE_KERNEL \]\] && build_exclude="yes"' "$DKMS")
bad=
if [ -n "$test_line" ]; then
	for k in "${ACCEPT[@]}" "${REJECT[@]}"; do
		ex=$(BUILD_EXCLUSIVE_KERNEL=$RE bash -c 'build_exclude=; '"$test_line"'; echo "${build_exclude:-no}"' _ "$k")
		match "$k" && want=no || want=yes
		[ "$ex" = "$want" ] || bad+=" $k(dkms:$ex)"
	done
fi
[ -n "$test_line" ] && [ -z "$bad" ]
ktap_result $? "$ver: its own build_exclude test decides as this test does" \
	"line: ${test_line:-not found in $DKMS}" "differs:$bad"

grep -q -E 'build_exclude\ ?\]\] && die 77' "$DKMS"
ktap_result $? "$ver: a build for an excluded kernel ends with exit 77 (die 77 on build_exclude)"

ktap_finish
