#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: dio over ext4/xfs/raw partition/4K sectors, alignment rules, dio_reason, no double caching, dio toggled under fio
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: aloopctl fio
# Direct I/O (the seeds' core): data verified through aloop-dio over ext4,
# xfs, a raw partition and a 4K-sector filesystem; the alignment rules and
# dio_reason; tmpfs without O_DIRECT; no double caching (fincore); dio
# toggled under fio verify; live block-size changes.
. "$(dirname "$0")/lib.sh"

plan 30

on_exit "aloopctl detach-all"
D=$(test_dir dio)


# fio_verify DEV DESC ARGS...: random write + crc32c verify through DEV
fio_verify() {
	local dev=$1 d=$2 out; shift 2
	out=$(fio --name=v --filename="$dev" --size=24M --verify=crc32c \
		--do_verify=1 --verify_fatal=1 --output-format=terse "$@" 2>&1)
	result "$d" $? "$out"
}

info_of() { ioc info "$1"; }

# ------------------------------------------ dio over ext4 / xfs
F=$D/ext4.img
mkrand "$F" $((32 * MiB))
DEV=$(attach_dev "$F") || bail "attach on ext4: $DEV"
check_eq "ext4 backing: dio on by default, no reason" "1:" \
	"$(dut_attr "$DEV" dio):$(dut_attr "$DEV" dio_reason)"
fio_verify "$DEV" "fio verify: ext4, aloop-dio, randwrite 4k direct, libaio qd16" \
	--rw=randwrite --bs=4k --direct=1 --ioengine=libaio --iodepth=16
fio_verify "$DEV" "fio verify: ext4, aloop-dio, seq write 1M buffered" \
	--rw=write --bs=1M --direct=0
fio_verify "$DEV" "fio verify: ext4, aloop-dio, randwrite 64k..1M mixed direct" \
	--rw=randwrite --bsrange=64k-1M --direct=1 --ioengine=libaio --iodepth=4
o=$(info_of "$DEV")
if [ "$(kv reqs_dio "$o")" -gt 0 ] 2>/dev/null && [ "$(kv errors "$o")" = 0 ]; then
	ok "ALOOP_GET_INFO counts dio requests ($(kv reqs_dio "$o")) and no errors"
else
	fail "ALOOP_GET_INFO counts dio requests and no errors" "$o"
fi
aloopctl detach "$DEV"

if [ -n "$XFSDIR" ]; then
	mkdir -p "$XFSDIR/dio"; XF=$XFSDIR/dio/xfs.img
	mkrand "$XF" $((32 * MiB))
	if XDEV=$(attach_dev "$XF"); then
		check_eq "xfs backing: dio on" 1 "$(dut_attr "$XDEV" dio)"
		fio_verify "$XDEV" "fio verify: xfs, aloop-dio, randwrite 4k..1M" \
			--rw=randwrite --bsrange=4k-1M --direct=1 --ioengine=libaio --iodepth=8
		aloopctl detach "$XDEV"
	else
		fail "xfs backing: attach" "$XDEV"; fail "fio verify: xfs"
	fi
else
	skip_n 2 "no xfs scratch disk" "xfs backing: dio on" "fio verify: xfs"
fi

# ------------------------------- raw partition and 4K-sector backing
if [ -n "${RAWDEV:-}" ] && [ -b "$RAWDEV" ]; then
	if RDEV=$(attach_dev "$RAWDEV"); then
		lbs=$(blockdev --getss "$RAWDEV")
		check_eq "raw partition $RAWDEV (lbs $lbs): dio on, block size follows backing" \
			"1 $lbs" "$(dut_attr "$RDEV" dio) $(blk_attr "$RDEV" queue/logical_block_size)"
		fio_verify "$RDEV" "fio verify: raw partition, aloop-dio, randwrite 4k..256k" \
			--rw=randwrite --bsrange=4k-256k --direct=1 --ioengine=libaio --iodepth=8
		aloopctl detach "$RDEV"
	else
		fail "raw partition backing: attach" "$RDEV"; fail "fio verify: raw partition"
	fi
else
	skip_n 2 "no raw partition (RAWDEV) in this guest" "raw partition dio" "fio verify: raw partition"
fi

if [ -n "${BACK4K:-}" ]; then
	F4=$BACK4K/dio4k.img
	mkrand "$F4" $((32 * MiB))
	if DEV4=$(attach_dev --direct-io "$F4"); then
		check_eq "4K-sector ext4 backing with --direct-io: block size 4096, dio on" \
			"4096 1" "$(blk_attr "$DEV4" queue/logical_block_size) $(dut_attr "$DEV4" dio)"
		fio_verify "$DEV4" "fio verify: 4K-sector ext4, aloop-dio, randwrite 4k..1M" \
			--rw=randwrite --bsrange=4k-1M --direct=1 --ioengine=libaio --iodepth=8
		aloopctl detach "$DEV4"
	else
		fail "4K-sector backing: attach" "$DEV4"; fail "fio verify: 4K-sector"
	fi
else
	skip_n 2 "no 4K-sector scratch disk (BACK4K)" "4K-sector dio" "fio verify: 4K-sector"
fi

# ------------------------------------------------ alignment matrix
# matrix DIR ALIGN: offsets 0/512/4096 x block sizes 512/4096; dio must
# be on exactly when both are multiples of ALIGN, dio_reason must name
# the cause otherwise, and data must land at offset+pos either way.
matrix() {
	local dir=$1 align=$2 off bs dev exp got reason bad=0 msg=
	local f=$dir/matrix.img
	mkrand "$f" $((8 * MiB))
	mkrand "$SCRATCH/m.pat" $((256 * 1024))
	for off in 0 512 4096; do
		for bs in 512 4096; do
			dev=$(attach_dev --offset "$off" --block-size "$bs" "$f") ||
				{ bad=1; msg+="attach off=$off bs=$bs: $dev; "; continue; }
			exp=0; [ $((off % align)) = 0 ] && [ $((bs % align)) = 0 ] && exp=1
			got=$(dut_attr "$dev" dio); reason=$(dut_attr "$dev" dio_reason)
			if [ "$got" != "$exp" ]; then
				bad=1; msg+="off=$off bs=$bs: dio $got, want $exp; "
			elif [ "$exp" = 0 ] && ! grep -qE "offset $off not aligned to $align|block size $bs smaller than dio alignment $align" <<<"$reason"; then
				bad=1; msg+="off=$off bs=$bs: reason '$reason'; "
			elif [ "$exp" = 1 ] && [ -n "$reason" ]; then
				bad=1; msg+="off=$off bs=$bs: reason '$reason' with dio on; "
			fi
			write_dev "$SCRATCH/m.pat" "$dev" $((64 * 1024))
			if [ "$(sha_range "$f" $((off + 64 * 1024)) $((256 * 1024)))" != "$(sha "$SCRATCH/m.pat")" ]; then
				bad=1; msg+="off=$off bs=$bs: data not at offset+pos; "
			fi
			aloopctl detach "$dev" || { bad=1; msg+="detach $dev failed; "; }
		done
	done
	MATRIX_MSG=$msg
	return $bad
}
matrix "$D" 512
result "alignment matrix on 512-sector ext4: dio exactly when aligned, reasons, data" $? "$MATRIX_MSG"
if [ -n "${BACK4K:-}" ]; then
	matrix "$BACK4K" 4096
	result "alignment matrix on 4096-sector ext4: dio exactly when aligned, reasons, data" $? "$MATRIX_MSG"
else
	skip "alignment matrix on 4096-sector ext4" "no 4K-sector scratch disk (BACK4K)"
fi

# ------------------- explicit dio requests, a backing without O_DIRECT
# ramfs has no O_DIRECT on any kernel (tmpfs gained it in 6.6).
RAMFS=/run/aloop/ramfs
mkdir -p "$RAMFS" && mount -t ramfs aloop-ramfs "$RAMFS" || bail "cannot mount ramfs"
on_exit "umount $RAMFS"
T=$RAMFS/nodio.img
mkrand "$T" $((8 * MiB))
TDEV=$(attach_dev --direct-io=on "$T") || bail "attach on ramfs: $TDEV"
check_eq "ramfs backing with --direct-io=on: attach succeeds, dio off with reason" \
	"0:backing filesystem has no O_DIRECT" "$(dut_attr "$TDEV" dio):$(dut_attr "$TDEV" dio_reason)"
expect_errno "LOOP_SET_DIRECT_IO 1 on ramfs backing fails EINVAL" EINVAL set-dio "$TDEV" 1
mkrand "$SCRATCH/t.pat" $((1 * MiB))
write_dev "$SCRATCH/t.pat" "$TDEV" $((2 * MiB))
check_eq "ramfs backing: data correct with buffered I/O" \
	"$(sha "$SCRATCH/t.pat")" "$(sha_range "$T" $((2 * MiB)) $MiB)"
out=$(aloopctl list -O NAME,DIO,DIO-REASON 2>&1)
if grep -F "$TDEV" <<<"$out" | grep -q "no O_DIRECT"; then
	ok "aloopctl list shows the dio reason"
else
	fail "aloopctl list shows the dio reason" "$out"
fi
aloopctl detach "$TDEV"

F=$D/req.img
mkrand "$F" $((8 * MiB))
DEV=$(attach_dev --offset 1000 "$F") || bail "attach: $DEV"
check_eq "dio=auto on a misaligned offset: off, reason names the offset" \
	"0:offset 1000 not aligned to 512" "$(dut_attr "$DEV" dio):$(dut_attr "$DEV" dio_reason)"
expect_errno "LOOP_SET_DIRECT_IO 1 on the misaligned offset fails EINVAL" EINVAL set-dio "$DEV" 1
aloopctl detach "$DEV"
DEV=$(attach_dev "$F") || bail "attach: $DEV"
expect_errno "LOOP_SET_DIRECT_IO 0 on a bound device" OK set-dio "$DEV" 0
check_eq "after LOOP_SET_DIRECT_IO 0: dio 0, reason 'turned off by user'" \
	"0:turned off by user" "$(dut_attr "$DEV" dio):$(dut_attr "$DEV" dio_reason)"
expect_errno "LOOP_SET_DIRECT_IO 1 back on" OK set-dio "$DEV" 1
aloopctl detach "$DEV"

# ----------------------------------------- live block-size changes
if [ -n "${BACK4K:-}" ]; then
	F4=$BACK4K/bs.img
	mkrand "$F4" $((8 * MiB))
	DEV4=$(attach_dev "$F4") || bail "attach: $DEV4"
	expect_errno "LOOP_SET_BLOCK_SIZE 512 on 4K backing" OK set-bs "$DEV4" 512
	check_eq "block size 512 on 4K backing: dio off, reason names the block size" \
		"0:block size 512 smaller than dio alignment 4096: set it to 4096" \
		"$(dut_attr "$DEV4" dio):$(dut_attr "$DEV4" dio_reason)"
	expect_errno "LOOP_SET_BLOCK_SIZE 4096 again" OK set-bs "$DEV4" 4096
	check_eq "block size 4096 again: dio back on" 1 "$(dut_attr "$DEV4" dio)"
	aloopctl detach "$DEV4"
else
	skip_n 4 "no 4K-sector scratch disk (BACK4K)" "set-bs 512" "dio off" "set-bs 4096" "dio on"
fi

# ------------------------------------------- no double caching
F=$D/cache.img
dd if=/dev/urandom of="$F" bs=1M count=256 oflag=direct status=none
drop_caches
res_of() { fincore --bytes --noheadings --output RES "$1" 2>/dev/null | tr -d ' '; }
DEV=$(attach_dev "$F") || bail "attach: $DEV"
dd if="$DEV" of=/dev/null bs=1M status=none
r_dio=$(res_of "$F")
aloopctl set "$DEV" --direct-io=off >/dev/null 2>&1
echo 1 >/proc/sys/vm/drop_caches   # drop what the dio read cached above us
blockdev --flushbufs "$DEV"
dd if="$DEV" of=/dev/null bs=1M status=none
r_buf=$(res_of "$F")
diag "backing file page cache after reading 256 MiB: dio ${r_dio:-?} bytes, buffered ${r_buf:-?} bytes"
if [ -n "$r_dio" ] && [ "$r_dio" -le $((1 * MiB)) ]; then
	ok "dio: backing page cache after 256 MiB read is $r_dio bytes (<= 1 MiB)"
else
	fail "dio: backing page cache after 256 MiB read <= 1 MiB" "got '${r_dio}'"
fi
if [ -n "$r_buf" ] && [ "$r_buf" -ge $((128 * MiB)) ]; then
	ok "buffered: backing file is cached ($r_buf bytes), so the dio figure means something"
else
	fail "buffered: backing file is cached (>= 128 MiB)" "got '${r_buf}'"
fi
aloopctl detach "$DEV"
rm -f "$F"

# ------------------------------------ toggle dio under fio verify
F=$D/toggle.img
mkrand "$F" $((32 * MiB))
DEV=$(attach_dev "$F") || bail "attach: $DEV"
fio --name=t --filename="$DEV" --size=32M --rw=randwrite --bs=4k --direct=1 \
	--ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output-format=terse >"$SCRATCH/toggle.out" 2>&1 &
FIO=$!
n=0 terr=0
while kill -0 $FIO 2>/dev/null; do
	ioc set-dio "$DEV" 0 | grep -q '^OK' || terr=$((terr + 1))
	sleep 0.2
	ioc set-dio "$DEV" 1 | grep -q '^OK' || terr=$((terr + 1))
	sleep 0.2
	n=$((n + 1))
done
wait $FIO; rc=$?
diag "dio toggled $n times while fio ran"
if [ $rc = 0 ] && [ $terr = 0 ] && [ $n -ge 3 ]; then
	ok "dio toggled on/off $n times under fio randwrite+verify: no error, no corruption"
else
	fail "dio toggled under fio verify" "fio rc=$rc, toggle errors=$terr, toggles=$n" "$(cat "$SCRATCH/toggle.out")"
fi
check_eq "no request errors counted after the toggling" 0 "$(kv errors "$(info_of "$DEV")")"
aloopctl detach "$DEV"

finish
