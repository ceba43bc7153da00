#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: partitions there when attach returns, ROUNDS times with udevd running: a 512-sector GPT image on ext4 on a 4K-sector disk, aloop and stock loop
# aloop-timeout: 1800
# aloop-driver: aloop
# aloop-needs: aloopctl stock-loop udevd udevadm sfdisk 4k unloaded
# Issue 22 item 6: a 512-sector GPT image (two partitions) in a file on
# ext4 on a 4096-byte-sector disk, attached with partscan while a real
# udevd runs - once seen with aloop0p2 missing right after `aloopctl
# attach --partscan` + `udevadm settle`.  ROUNDS (100) attach/check/detach
# rounds each with aloop and with stock loop (losetup -P): both partition
# nodes must exist when the attach command returns, and after a settle;
# the partition add/remove uevents are counted (each once per round).
# Results: aloop's misses (must be 0), aloop's uevents per round (2 add +
# 2 remove), stock loop's misses and uevents shown beside (a note).
. "$(dirname "$0")/lib.sh"

plan 4

ROUNDS=${ALOOP_PARTSCAN_ROUNDS:-100}
UDEVD=
for u in /lib/systemd/systemd-udevd /usr/lib/systemd/systemd-udevd; do
	[ -x "$u" ] && { UDEVD=$u; break; }
done
udevd_stop() {
	udevadm control --exit >/dev/null 2>&1
	wait_for 10 test -z "$(pidof systemd-udevd)"
}
MON=
ps_cleanup() {
	[ -z "$MON" ] || kill "$MON" 2>/dev/null
	aloopctl detach-all >/dev/null 2>&1
	losetup -D 2>/dev/null
	udevadm settle --timeout=15 >/dev/null 2>&1
	udevd_stop
}
on_exit ps_cleanup
[ -z "$(pidof systemd-udevd)" ] || udevd_stop || bail "cannot stop the running udevd"
"$UDEVD" --daemon >/dev/null 2>&1 </dev/null && wait_for 10 udevadm control --ping ||
	bail "systemd-udevd does not start here"
out=$(mod_load) || bail "cannot load aloop: $out"
stock_load || bail "cannot load stock loop"
udevadm settle --timeout=15

D=$BACK4K/partscan
rm -rf "$D"; mkdir -p "$D"
IMG=$D/gpt.img
truncate -s 64M "$IMG"
printf 'label: gpt\n,16M\n,\n' | sfdisk -q "$IMG" >/dev/null 2>&1 || bail "sfdisk on $IMG failed"

# rounds KIND: ROUNDS attach+check+detach; prints "misses settled_misses uevents"
rounds() {
	local kind=$1 i dev miss=0 smiss=0 ev
	udevadm monitor --kernel --subsystem-match=block >"$SCRATCH/ps-$kind.uev" 2>&1 &
	MON=$!
	sleep 1
	for i in $(seq "$ROUNDS"); do
		if [ "$kind" = aloop ]; then
			dev=$(aloopctl attach --partscan "$IMG" 2>&1) || { echo "attach: $dev" >&2; miss=$((miss + 1)); continue; }
		else
			dev=$(losetup -P -f --show "$IMG" 2>&1) || { echo "losetup: $dev" >&2; miss=$((miss + 1)); continue; }
		fi
		[ -b "${dev}p1" ] && [ -b "${dev}p2" ] || miss=$((miss + 1))
		udevadm settle --timeout=15 >/dev/null 2>&1
		[ -b "${dev}p1" ] && [ -b "${dev}p2" ] || smiss=$((smiss + 1))
		if [ "$kind" = aloop ]; then
			aloopctl detach --wait=10 "$dev" >/dev/null 2>&1
		else
			losetup -d "$dev"
			wait_gone "${dev}p2" 10
		fi
		udevadm settle --timeout=15 >/dev/null 2>&1
	done
	sleep 1
	kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null; MON=
	ev=$(grep -cE "(add|remove) +[^ ]*/block/[a-z]+[0-9]+/[a-z]+[0-9]+p[12] " "$SCRATCH/ps-$kind.uev")
	echo "$miss $smiss $ev"
}

read -r am asm aev <<<"$(rounds aloop 2>"$SCRATCH/ps-aloop.err")"
read -r lm lsm lev <<<"$(rounds loop 2>"$SCRATCH/ps-loop.err")"
diag "stock loop on $(uname -r), same $ROUNDS rounds: partitions missing when losetup -P returned: $lm, after settle: $lsm, partition uevents: $lev (4 per round = each once)"
check_eq "aloop: both partitions exist when aloopctl attach --partscan returns, $ROUNDS of $ROUNDS rounds" 0 "$am"
check_eq "aloop: both partitions exist after udevadm settle, $ROUNDS of $ROUNDS rounds" 0 "$asm"
check_eq "aloop: each partition added and removed once per round ($((4 * ROUNDS)) partition uevents)" $((4 * ROUNDS)) "$aev"
result "stock loop's figures beside (a note, not a verdict): missing $lm/$lsm, uevents $lev" 0
finish
