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
# linux-headers do not ship it).  KTAP on stdout; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1

files=(src/aloop_main.c src/aloop_dev.c src/aloop_io.c src/aloop_sysfs.c
       src/aloop.h src/aloop_compat.h include/uapi/linux/aloop.h)
echo "KTAP version 1"
if ! cp=$(scripts/checkpatch.sh --fetch 2>/tmp/aloop-cp.$$); then
	echo "1..1"
	echo "ok 1 - checkpatch # SKIP $(tail -n 1 /tmp/aloop-cp.$$)"
	rm -f /tmp/aloop-cp.$$
	echo "# 0 passed, 0 failed"
	exit 0
fi
rm -f /tmp/aloop-cp.$$
echo "# checkpatch: $cp"
echo "1..$(( ${#files[@]} + 1 ))"
n=0 pass=0 failed=0
for f in "${files[@]}"; do
	n=$((n + 1))
	out=$(perl "$cp" --no-tree -f --terse --show-types "$f" 2>&1)
	# the one allowed finding: loop's -ENOSYS in the control ioctl
	bad=$(grep -E ': (ERROR|WARNING|CHECK):' <<<"$out" |
	      grep -v -E '^src/aloop_main\.c:[0-9]+: WARNING:ENOSYS:' || true)
	if [ -z "$bad" ] && ! grep -q -E "^total: [1-9]" <<<"$out"; then
		pass=$((pass + 1)); echo "ok $n - checkpatch $f"
	else
		failed=$((failed + 1)); echo "not ok $n - checkpatch $f"
		sed 's/^/# /' <<<"$out"
	fi
done
n=$((n + 1))
c=$(grep -c -w ENOSYS "${files[@]}" | awk -F: '{ s += $2 } END { print s }')
if [ "$c" = 1 ]; then
	pass=$((pass + 1)); echo "ok $n - ENOSYS only in the control ioctl's default (loop ABI)"
else
	failed=$((failed + 1)); echo "not ok $n - ENOSYS only in the control ioctl's default (loop ABI)"
	echo "# found $c uses"
fi
echo "# $pass passed, $failed failed"
[ "$failed" = 0 ]
