#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: BLKPG partitions vanish on detach and on CHANGE_FD (stock loop beside); uevents for configure, capacity change and detach
# aloop-timeout: 300
# aloop-driver: aloop
# aloop-needs: aloopctl stock-loop
# Partitions added with BLKPG vanish on detach and on LOOP_CHANGE_FD (new
# media: the old partitions described the old file; blktests loop/013's
# shape); stock loop's behaviour on the same kernel is shown beside, as a
# note (it keeps them on CHANGE_FD, and on detach before 7.2).  uevents
# for configure, capacity change and detach reach userspace (udevadm
# monitor --kernel).
. "$(dirname "$0")/lib.sh"

plan 7

on_exit "aloopctl detach-all"
D=$(test_dir parts)

F=$D/blkpg.img
mkrand "$F" $((8 * MiB))
DEV=$(attach_dev "$F") || bail "attach: $DEV"
P=${DEV}p1
check_fails "no partition without --partscan" test -b "$P"
exec 7<"$DEV"	# keep it open so the detach is deferred to our close
out=$(ioc blkpg-add "$DEV" 1 2048 4096); rc=$?
[ "$(ioc1_of "$out")" = OK ] || rc=1
wait_dev "$P" 5
result "BLKPG_ADD_PARTITION creates $P" "$([ $rc = 0 ] && [ -b "$P" ]; echo $?)" "BLKPG_ADD_PARTITION: $out"
aloopctl detach "$DEV"
exec 7<&-
wait_gone "$P" 5
result "the BLKPG partition vanishes on detach" "$([ ! -e "$P" ]; echo $?)" "$(ls -l "$P" 2>&1)"

# CHANGE_FD: a read-only device, a BLKPG partition, then a new file of
# the same size.  Same steps on stock loop, for the note.
F1=$D/cfd1.img F2=$D/cfd2.img
mkrand "$F1" $((8 * MiB)); mkrand "$F2" $((8 * MiB))
# chfd DEV: BLKPG p1, CHANGE_FD to F2; prints "added kept|gone"
chfd() {
	local dev=$1 p=${1}p1 o
	o=$(ioc blkpg-add "$dev" 1 2048 4096)
	[ "$(ioc1_of "$o")" = OK ] && wait_dev "$p" 5 || { echo "blkpg-add: $o"; return; }
	o=$(ioc change-fd "$dev" "$F2")
	[ "$(ioc1_of "$o")" = OK ] || { echo "change-fd: $o"; return; }
	sleep 0.5
	if [ -e "$p" ]; then echo "added kept"; else echo "added gone"; fi
}
if DEV=$(attach_dev --read-only "$F1"); then
	a=$(chfd "$DEV")
	check_eq "LOOP_CHANGE_FD drops the BLKPG partition of the old file" "added gone" "$a"
	check_eq "after CHANGE_FD the device reads the new file" "$(sha "$F2")" "$(sha_dev "$DEV" $((8 * MiB)))"
	aloopctl detach "$DEV"
	if SDEV=$(stock_attach -r "$F1"); then
		diag "stock loop on $(uname -r), same steps: $(chfd "$SDEV")"
		stock_detach "$SDEV"
	fi
else
	skip_n 2 "read-only attach failed: $DEV" "CHANGE_FD drops BLKPG" "CHANGE_FD data"
fi

# uevents: configure, capacity change, detach
if have udevadm; then
	udevadm monitor --kernel --subsystem-match=block >"$SCRATCH/uev" 2>&1 &
	MON=$!
	sleep 1
	F=$D/uev.img
	mkrand "$F" $((4 * MiB))
	DEV=$(attach_dev "$F") || bail "attach: $DEV"
	truncate -s 8M "$F"
	aloopctl resize "$DEV"
	sz=$(blockdev --getsize64 "$DEV")
	aloopctl detach "$DEV"
	sleep 2
	kill $MON 2>/dev/null; wait $MON 2>/dev/null
	n=$(grep -c "change .*/block/$(devname "$DEV") " "$SCRATCH/uev")
	result "KOBJ_CHANGE uevents for configure, resize and detach ($n seen)" \
		"$([ "$n" -ge 3 ]; echo $?)" "$(cat "$SCRATCH/uev")"
	check_eq "LOOP_SET_CAPACITY: size follows the grown file" $((8 * MiB)) "$sz"
else
	skip_n 2 "udevadm not installed" "uevents" "resize size"
fi

finish
