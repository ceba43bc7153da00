#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: discard and write-zeroes, a backing without them (tmpfs), sparse and shrinking backing files
# aloop-timeout: 300
# aloop-driver: aloop
# aloop-needs: aloopctl
# Discard and write-zeroes (hole punching / zero range), a backing file
# without them (tmpfs has no ZERO_RANGE), sparse backing files, and a
# backing file that shrinks under the device.  dio and buffered.
. "$(dirname "$0")/lib.sh"

plan 13

on_exit "aloopctl detach-all"
D=$(test_dir discard)

kib_used() { du -k "$1" | cut -f1; }
# sha_dev_range DEV OFFSET LEN: checksum of a device range read with O_DIRECT
sha_dev_range() {
	dd if="$1" bs=64K iflag=direct,skip_bytes,count_bytes skip="$2" count="$3" status=none |
		sha256sum | cut -d' ' -f1
}
zeros_sha() { head -c "$1" /dev/zero | sha256sum | cut -d' ' -f1; }

for mode in on off; do
	F=$D/disc-$mode.img
	dd if=/dev/urandom of="$F" bs=1M count=32 status=none; sync
	DEV=$(attach_dev --direct-io=$mode "$F") || bail "attach: $DEV"
	[ "$mode" = off ] && aloopctl set "$DEV" --direct-io=off >/dev/null 2>&1
	before=$(kib_used "$F")
	blkdiscard -o $((4 * MiB)) -l $((16 * MiB)) "$DEV"; rc=$?
	sync
	after=$(kib_used "$F")
	if [ $rc = 0 ] && [ "$after" -le $((before - 15 * 1024)) ]; then
		ok "dio=$mode: blkdiscard 16 MiB frees backing blocks (du $before -> $after KiB)"
	else
		fail "dio=$mode: blkdiscard frees backing blocks" "rc=$rc du $before -> $after KiB"
	fi
	check_eq "dio=$mode: discarded range reads back as zeros" \
		"$(zeros_sha $((16 * MiB)))" "$(sha_dev_range "$DEV" $((4 * MiB)) $((16 * MiB)))"
	blkdiscard -z -o $((24 * MiB)) -l $((4 * MiB)) "$DEV"; rc=$?
	check_eq "dio=$mode: write-zeroes (BLKZEROOUT) reads back zeros" \
		"0 $(zeros_sha $((4 * MiB)))" "$rc $(sha_dev_range "$DEV" $((24 * MiB)) $((4 * MiB)))"
	aloopctl detach "$DEV"
done

# tmpfs: hole punching yes, ZERO_RANGE no -> write-zeroes stops being
# advertised after the first EOPNOTSUPP, and the device keeps working.
T=$SCRATCH/nozero.img
head -c $((8 * MiB)) /dev/urandom >"$T"
TDEV=$(attach_dev "$T") || bail "attach: $TDEV"
blkdiscard -z -o 0 -l $MiB "$TDEV"; rc=$?
check_eq "tmpfs backing: BLKZEROOUT succeeds (block layer falls back) and reads zeros" \
	"0 $(zeros_sha $MiB)" "$rc $(sha_dev_range "$TDEV" 0 $MiB)"
wait_for 5 test "$(blk_attr "$TDEV" queue/write_zeroes_max_bytes)" = 0
check_eq "tmpfs backing: write_zeroes_max_bytes drops to 0 after EOPNOTSUPP" \
	0 "$(blk_attr "$TDEV" queue/write_zeroes_max_bytes)"
mkrand "$SCRATCH/p" $MiB
write_dev "$SCRATCH/p" "$TDEV" $((2 * MiB))
check_eq "tmpfs backing: device still reads and writes correctly" \
	"$(sha "$SCRATCH/p")" "$(sha_range "$T" $((2 * MiB)) $MiB)"
aloopctl detach "$TDEV"

# Sparse backing file.
S=$D/sparse.img
truncate -s 64M "$S"
SDEV=$(attach_dev "$S") || bail "attach: $SDEV"
check_eq "sparse file: holes read as zeros" "$(zeros_sha $((8 * MiB)))" "$(sha_dev_range "$SDEV" $((40 * MiB)) $((8 * MiB)))"
u0=$(kib_used "$S")
mkrand "$SCRATCH/s" $((2 * MiB))
write_dev "$SCRATCH/s" "$SDEV" $((10 * MiB))
u1=$(kib_used "$S")
if [ "$(sha_range "$S" $((10 * MiB)) $((2 * MiB)))" = "$(sha "$SCRATCH/s")" ] && [ "$u1" -ge $((u0 + 2000)) ]; then
	ok "sparse file: writes allocate (du $u0 -> $u1 KiB) and land in place"
else
	fail "sparse file: writes allocate and land in place" "du $u0 -> $u1"
fi
aloopctl detach "$SDEV"

# A backing file shorter than the device: shrink it under the device.
S=$D/short.img
mkrand "$S" $((16 * MiB))
SDEV=$(attach_dev "$S") || bail "attach: $SDEV"
truncate -s 8M "$S"
drop_caches
if ! out=$(dd if="$SDEV" of=/dev/null bs=1M skip=10 count=4 iflag=direct 2>&1) &&
   grep -q "Input/output error" <<<"$out"; then
	ok "file shrunk to 8 MiB: a read of the device region past its end fails with EIO"
else
	fail "file shrunk to 8 MiB: a read of the device region past its end fails with EIO" "$out"
fi
mkrand "$SCRATCH/e" $MiB
write_dev "$SCRATCH/e" "$SDEV" $((12 * MiB))
sz=$(stat -c %s "$S")
if [ "$sz" -ge $((13 * MiB)) ] && [ "$(sha_range "$S" $((12 * MiB)) $MiB)" = "$(sha "$SCRATCH/e")" ]; then
	ok "write past the file's end extends it (size $sz) with the data in place"
else
	fail "write past the file's end extends it" "size $sz"
fi
aloopctl detach "$SDEV"

finish
