#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: quick
# aloop-desc: BLKPG partitions vanish on detach; uevents for configure, capacity change and detach
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: aloopctl
# Partitions added with BLKPG vanish on detach; uevents for configure,
# capacity change and detach reach userspace (udevadm monitor --kernel).
. "$(dirname "$0")/lib.sh"

plan 5

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
