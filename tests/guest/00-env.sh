#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: quick
# aloop-desc: guest environment sanity (backing filesystems, tools); the harness's smoke test, runs without aloop.ko
# aloop-timeout: 120
# aloop-driver: any
# aloop-needs: unloaded
# Guest environment sanity: what every other test relies on.  This is
# also the harness's own smoke test (runs without aloop.ko).
. "$(dirname "$0")/lib.sh"

plan 12

m=$(awk -v d="$BACKING" '$2 == d {print $1, $3}' /proc/mounts)
check_eq "ext4 backing filesystem on /dev/vda mounted at $BACKING" "/dev/vda ext4" "$m"

if [ -b /dev/vdb ]; then
	m=$(awk -v d="$XFSDIR" '$2 == d {print $1, $3}' /proc/mounts)
	check_eq "xfs backing filesystem on /dev/vdb1 mounted at ${XFSDIR:-?}" "/dev/vdb1 xfs" "$m"
	check_eq "raw partition for block-device backing" "/dev/vdb2" "$RAWDEV"
else
	skip "xfs backing filesystem on /dev/vdb1" "no /dev/vdb in this guest"
	skip "raw partition for block-device backing" "no /dev/vdb in this guest"
fi
if [ -n "$BACK4K" ]; then
	m=$(awk -v d="$BACK4K" '$2 == d {print $1}' /proc/mounts)
	check_eq "ext4 on a 4096-byte-sector disk at $BACK4K" "4096 ext4" \
		"$(blockdev --getss "$m" 2>&1) $(awk -v d="$BACK4K" '$2 == d {print $3}' /proc/mounts)"
else
	skip "ext4 on a 4096-byte-sector disk" "no 4K-sector disk in this guest"
fi

check "scratch tmpfs mounted at $SCRATCH" mountpoint -q "$SCRATCH"

out=$("$ALO_IOCTL" 2>&1); rc=$?
if [ -x "$ALO_IOCTL" ] && [ $rc = 2 ] && grep -q usage <<<"$out"; then
	ok "ioctl helper $ALO_IOCTL runs"
else
	fail "ioctl helper $ALO_IOCTL runs" "exit $rc: $out"
fi

check "stock loop module loads, /dev/loop-control appears" stock_load

# The helper against stock loop: the reference every errno test uses.
r1=$(ioc1 ctl-add "$STOCK_CTL" 250); r2=$(ioc1 ctl-add "$STOCK_CTL" 250)
r3=$(ctl_remove_settled "$STOCK_CTL" 250)	# udev may still hold it: EBUSY
r4=$(ioc1 ctl-remove "$STOCK_CTL" 250)
check_eq "helper: stock LOOP_CTL_ADD/ADD/REMOVE/REMOVE of index 250" \
	"OK EEXIST OK ENODEV" "$r1 $r2 $r3 $r4"

missing=
for t in python3 fio mkfs.ext4 e2fsck mkfs.xfs xfs_repair sfdisk setpriv blockdev losetup sha256sum cmp diff; do
	have "$t" || missing="$missing $t"
done
check_eq "guest tools present (python3 fio e2fsprogs xfsprogs sfdisk setpriv ...)" "" "$missing"

check "python3 json works" "$PYTHON" -c 'import json,sys; json.loads("{\"a\": [1]}")'

if [ "$DUT" = loop ]; then
	skip "aloop.ko matches the running kernel" "DUT=loop (harness self-test)"
elif [ -z "$ALOOP_KO" ] || [ ! -f "$ALOOP_KO" ]; then
	skip "aloop.ko matches the running kernel" "no module given (ALOOP_KO='$ALOOP_KO')"
else
	vm=$(modinfo -F vermagic "$ALOOP_KO" 2>&1 | awk '{print $1}')
	check_eq "aloop.ko vermagic matches the running kernel" "$(uname -r)" "$vm"
fi

if [ "$DUT" = loop ]; then
	skip "aloopctl is built" "DUT=loop (aloopctl emulated)"
elif have aloopctl; then
	ok "aloopctl is built ($(command -v aloopctl))"
else
	fail "aloopctl is built" "no aloopctl in $REPO (make aloopctl)"
fi

finish
