#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test: the kernel code passes `checkpatch.pl --no-tree -f` with no
# errors and no warnings.  One exception, checked to stay one: the control
# device answers an unknown ioctl with -ENOSYS because stock loop does
# (tests/guest/80-differential.sh compares the two), which checkpatch's
# ENOSYS rule flags.
#
# checkpatch.pl comes from scripts/checkpatch.sh --fetch (Debian's
# linux-headers do not ship it).  KTAP on stdout (tests/lib/ktap.sh); exit
# 1 on failure.  `make style` runs it.
set -u
cd "$(dirname "$0")/../.." || exit 1

# Every kernel source file: the module's .c and .h in src/ (not the
# generated probes header) and the UAPI header.
files=()
for f in src/*.c src/*.h include/uapi/linux/*.h; do
	[ "$f" = src/aloop_probes.h ] || files+=("$f")
done
. tests/lib/ktap.sh
if ! cp=$(scripts/checkpatch.sh --fetch 2>/tmp/aloop-cp.$$); then
	ktap_plan 1
	ktap_skip "checkpatch" "$(tail -n 1 /tmp/aloop-cp.$$)"
	rm -f /tmp/aloop-cp.$$
	ktap_finish
fi
rm -f /tmp/aloop-cp.$$
ktap_plan $(( ${#files[@]} + 1 ))
ktap_diag "checkpatch: $cp"
for f in "${files[@]}"; do
	out=$(perl "$cp" --no-tree -f --terse --show-types "$f" 2>&1)
	# the one allowed finding: loop's -ENOSYS in the control ioctl
	bad=$(grep -E ': (ERROR|WARNING|CHECK):' <<<"$out" |
	      grep -v -E '^src/aloop_main\.c:[0-9]+: WARNING:ENOSYS:' || true)
	if [ -z "$bad" ] && ! grep -q -E "^total: [1-9]" <<<"$out"; then
		ktap_pass "checkpatch $f"
	else
		ktap_fail "checkpatch $f" "$out"
	fi
done
c=$(grep -c -w ENOSYS "${files[@]}" | awk -F: '{ s += $2 } END { print s }')
ktap_result "$([ "$c" = 1 ]; echo $?)" "ENOSYS only in the control ioctl's default (loop ABI)" "found $c uses"
ktap_finish
