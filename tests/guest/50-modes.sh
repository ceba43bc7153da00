#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: read-only, autoclear, 8 devices, legacy SET_FD, sysfs attributes, block size, partitions, direct I/O
# aloop-timeout: 900
# aloop-driver: any
# aloop-needs: aloopctl stock-loop
# Modes: read-only (flag and read-only fd), autoclear, 8 devices at once,
# the legacy LOOP_SET_FD + LOOP_SET_STATUS64 path, sysfs attributes,
# logical block size, partition scanning, direct I/O.
. "$(dirname "$0")/lib.sh"

plan 32

MNT=$(mkmnt modes)
on_exit "exec 7<&- 8<&-; umount -l $MNT; aloopctl detach-all; losetup -D"
D=$(test_dir modes)

free_dev() {	# an unbound device (LOOP_CTL_GET_FREE on the DUT)
	local o; o=$(ioc ctl-get-free "$DUT_CTL")
	[ "${o%% *}" = OK ] || { echo "GET_FREE: $o"; return 1; }
	wait_dev "$(dutdev "${o#OK }")" || return 1
	dutdev "${o#OK }"
}
flags_of() { kv flags "$(ioc get-status "$1")"; }
write_fails() {	# DEV: a direct write must fail
	! dd if=/dev/zero of="$1" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null
}

# ------------------------------------------------------------ read-only
F=$D/ro.img; mkrand "$F" $((4 * MiB)); FS=$(sha "$F")
DEV=$(attach_dev --read-only "$F"); rc=$?
if [ $rc = 0 ]; then
	ro=$(blk_attr "$DEV" ro); gro=$(blockdev --getro "$DEV"); fl=$(flags_of "$DEV")
	if [ "$ro" = 1 ] && [ "$gro" = 1 ] && [ $(( ${fl:-0} & 1 )) = 1 ]; then
		ok "attach --read-only: sysfs ro=1, blockdev --getro 1, LO_FLAGS_READ_ONLY"
	else
		fail "attach --read-only: sysfs ro=1, blockdev --getro 1, LO_FLAGS_READ_ONLY" "ro=$ro getro=$gro flags=$fl"
	fi
	write_fails "$DEV"; w=$?
	printf 'x' | dd of="$DEV" bs=1 count=1 conv=notrunc,fsync status=none 2>/dev/null; b=$?
	if [ $w = 0 ] && [ $b != 0 ] && [ "$(sha "$F")" = "$FS" ]; then
		ok "read-only device: direct and buffered writes fail, file unchanged"
	else
		fail "read-only device: direct and buffered writes fail, file unchanged" "direct write refused: $w, buffered dd exit $b"
	fi
	check_eq "read-only device reads the file" "$FS" "$(sha_dev "$DEV")"
	aloopctl detach "$DEV" >/dev/null 2>&1
else
	fail "attach --read-only" "$DEV"; skip_n 2 "attach failed" "ro writes" "ro reads"
fi

DEV=$(free_dev); SDEV=$(stock_free)
o=$(ioc1 configure "$DEV" "$F" --open-ro); so=$(ioc1 configure "$SDEV" "$F" --open-ro)
if [ "$o" = OK ]; then
	ro=$(blk_attr "$DEV" ro); gro=$(blockdev --getro "$DEV"); fl=$(flags_of "$DEV")
	sro=$(blk_attr "$SDEV" ro)
	if [ "$ro" = 1 ] && [ "$gro" = 1 ] && [ $(( ${fl:-0} & 1 )) = 1 ]; then
		ok "LOOP_CONFIGURE with a read-only fd: read-only device (stock loop: ro=$sro)"
	else
		fail "LOOP_CONFIGURE with a read-only fd: read-only device" "ro=$ro getro=$gro flags=$fl (stock: $so, ro=$sro)"
	fi
	write_fails "$DEV"; w=$?
	if [ $w = 0 ] && [ "$(sha "$F")" = "$FS" ]; then
		ok "read-only fd: writes fail, file unchanged"
	else
		fail "read-only fd: writes fail, file unchanged"
	fi
else
	fail "LOOP_CONFIGURE with a read-only fd" "$o"; skip "read-only fd: writes fail" "configure failed"
fi
ioc clr-fd "$DEV" >/dev/null; ioc clr-fd "$SDEV" >/dev/null

# ------------------------------------------------------------ autoclear
F=$D/ac.img; mkrand "$F" $((4 * MiB))
DEV=$(free_dev)
exec 7<"$DEV"
o=$(aloopctl attach --autoclear --device "$DEV" "$F" 2>&1); rc=$?
if [ $rc = 0 ] && [ "$o" = "$DEV" ] && [ "$(dut_attr "$DEV" autoclear)" = 1 ] && [ "$(dev_state "$DEV")" != unbound ]; then
	ok "attach --autoclear while another opener holds the device: bound, sysfs autoclear=1"
else
	fail "attach --autoclear while another opener holds the device: bound, sysfs autoclear=1" "exit $rc: $o" "autoclear=$(dut_attr "$DEV" autoclear) state=$(dev_state "$DEV")"
fi
dd if="$DEV" of=/dev/null bs=4096 count=1 status=none
if [ "$(dev_state "$DEV")" != unbound ]; then
	ok "autoclear: open+close by another user does not detach while still held"
else
	fail "autoclear: open+close by another user does not detach while still held"
fi
exec 7<&-
n=$(devnum "$DEV")
_unbound() { [ "$(dev_state "$1")" = unbound ]; }
if wait_for 10 _unbound "$DEV" && [ -z "$(dut_attr "$DEV" backing_file)" ] &&
   { [ "$DUT" = loop ] || wait_for 5 kthread_absent "$DUT$n-q0"; }; then
	ok "autoclear: last close detaches (status ENXIO, backing_file empty, no kthread)"
else
	fail "autoclear: last close detaches" "state: $(dev_state "$DEV"), backing_file '$(dut_attr "$DEV" backing_file)'"
fi

# LOOP_CONFIGURE(AUTOCLEAR) by a process that then exits: like stock
DEV=$(free_dev); SDEV=$(stock_free)
o=$(ioc1 configure "$DEV" "$F" --flags 4); so=$(ioc1 configure "$SDEV" "$F" --flags 4)
sleep 0.5
st=$(dev_state "$DEV"); sst=$(dev_state "$SDEV")
if [ "$o $so" = "OK OK" ] && [ "${st%% *}" = "${sst%% *}" ]; then
	ok "LOOP_CONFIGURE with LO_FLAGS_AUTOCLEAR, configuring process exits: $st (like stock loop)"
else
	fail "LOOP_CONFIGURE with LO_FLAGS_AUTOCLEAR, configuring process exits: like stock loop" "$DUT: $o, $st" "stock: $so, $sst"
fi
ioc clr-fd "$DEV" >/dev/null; ioc clr-fd "$SDEV" >/dev/null

# mount -o loop style: autoclear device detaches at umount
F=$D/ac-fs.img; truncate -s 64M "$F"; mkfs.ext4 -q -F "$F"
DEV=$(free_dev)
exec 7<"$DEV"
p=()
o=$(aloopctl attach --autoclear --device "$DEV" "$F" 2>&1) || p+=("attach: $o")
mount -t ext4 "$DEV" "$MNT" >&2 || p+=("mount failed")
exec 7<&-
sleep 0.3
[ "$(dev_state "$DEV")" != unbound ] || p+=("detached while mounted")
echo hello >"$MNT/hello" 2>/dev/null || p+=("write to fs failed")
umount "$MNT" || p+=("umount failed")
wait_for 10 _unbound "$DEV" || p+=("still bound after umount: $(dev_state "$DEV")")
result "autoclear device stays while mounted, detaches at umount" ${#p[@]} "${p[@]}"

# ---------------------------------------------------- 8 devices at once
devs=() files=() p=()
for i in 0 1 2 3 4 5 6 7; do
	f=$D/multi$i.img; mkrand "$f" $((8 * MiB)); files+=("$f")
	d=$(attach_dev "$f") || { p+=("attach $f: $d"); continue; }
	devs+=("$d")
done
nl=$(aloopctl list 2>/dev/null | grep -c "^/dev/${DUT}[0-9]")
uniq=$(printf '%s\n' "${devs[@]}" | sort -u | wc -l)
[ "$uniq" = 8 ] || p+=("$uniq distinct devices")
[ "$nl" -ge 8 ] || p+=("aloopctl list shows $nl devices")
if [ "$DUT" = aloop ]; then
	for d in "${devs[@]}"; do
		dut_wake_workers "$d"
		kthread_present "$DUT$(devnum "$d")-q0" || p+=("no kthread for $d")
	done
fi
result "8 devices attached at once (${devs[*]})" ${#p[@]} "${p[@]}"
for i in 0 1 2 3 4 5 6 7; do
	d=${devs[$i]:-}
	if [ -z "$d" ]; then fail "data check on device $i" "not attached"; continue; fi
	mkrand "$SCRATCH/m$i" $((2 * MiB))
	write_dev "$SCRATCH/m$i" "$d" $(( (i + 1) * 512 * 1024 )) &
done
wait
for i in 0 1 2 3 4 5 6 7; do
	d=${devs[$i]:-}; [ -n "$d" ] || continue
	if [ "$(sha_range "${files[$i]}" $(( (i + 1) * 512 * 1024 )) $((2 * MiB)))" = "$(sha "$SCRATCH/m$i")" ] &&
	   [ "$(sha_dev "$d")" = "$(sha "${files[$i]}")" ]; then
		ok "parallel write on $d landed in ${files[$i]##*/} at $(( (i + 1) * 512 )) KiB; device reads equal the file"
	else
		fail "parallel write on $d landed in ${files[$i]##*/}"
	fi
done
out=$(aloopctl detach-all 2>&1); rc=$?
left=0; for d in "${devs[@]}"; do [ "$(dev_state "$d")" = unbound ] || left=$((left + 1)); done
result "aloopctl detach-all: exit 0, all 8 unbound" $(( rc + left )) "exit $rc: $out" "$left still bound"

# ------------------------------------- legacy LOOP_SET_FD + SET_STATUS64
F=$D/legacy.img; mkrand "$F" $((4 * MiB))
DEV=$(free_dev); SDEV=$(stock_free)
o=$(ioc1 set-fd "$DEV" "$F"); so=$(ioc1 set-fd "$SDEV" "$F")
check_eq "LOOP_SET_FD binds the device (stock: $so)" OK "$o"
o=$(ioc1 set-status "$DEV" --offset 4096 --sizelimit $MiB --name "$F")
so=$(ioc1 set-status "$SDEV" --offset 4096 --sizelimit $MiB --name "$F")
g=$(ioc get-status "$DEV"); sg=$(ioc get-status "$SDEV")
# flags compared without LO_FLAGS_DIRECT_IO (16): aloop uses dio by default
nodio_flags() { echo $(( ${1:-0} & ~16 )); }
a="$o $(kv offset "$g") $(kv sizelimit "$g") $(nodio_flags "$(kv flags "$g")") $(kv file "$g")"
b="$so $(kv offset "$sg") $(kv sizelimit "$sg") $(nodio_flags "$(kv flags "$sg")") $(kv file "$sg")"
if [ "$o $(kv offset "$g") $(kv sizelimit "$g") $(kv file "$g")" = "OK 4096 $MiB $F" ] && [ "$a" = "$b" ] && [ "$(dut_attr "$DEV" offset)" = 4096 ] &&
   [ "$(dut_attr "$DEV" sizelimit)" = "$MiB" ]; then
	ok "LOOP_SET_STATUS64 offset 4096 sizelimit 1M: GET_STATUS64 and sysfs report it (like stock)"
else
	fail "LOOP_SET_STATUS64 offset 4096 sizelimit 1M: GET_STATUS64 and sysfs report it" "$DUT:  $a" "stock: $b" "sysfs offset $(dut_attr "$DEV" offset) sizelimit $(dut_attr "$DEV" sizelimit)"
fi
check_eq "LOOP_SET_STATUS64 resizes the device to the sizelimit" "$MiB" "$(devsize "$DEV")"
mkrand "$SCRATCH/leg" $((512 * 1024))
write_dev "$SCRATCH/leg" "$DEV" 0
check_eq "legacy-configured device: data lands at offset 4096" "$(sha "$SCRATCH/leg")" "$(sha_range "$F" 4096 $((512 * 1024)))"
o=$(ioc1 clr-fd "$DEV"); ioc clr-fd "$SDEV" >/dev/null
result "LOOP_CLR_FD detaches the legacy-configured device" "$([ "$o" = OK ] && [ "$(dev_state "$DEV")" = unbound ]; echo $?)" "$o"

# ------------------------------------------------------ sysfs attributes
# (dio is on by default on aloop when the backing file allows it: turn it
# off explicitly so that every value is one that was configured)
F=$D/attrs.img; mkrand "$F" $((8 * MiB))
DEV=$(free_dev)
exec 7<"$DEV"
nodio=(); [ "$DUT" = loop ] || nodio=(--direct-io=off)
o=$(aloopctl attach --device "$DEV" --offset 512K --sizelimit 2M --autoclear --partscan "${nodio[@]}" "$F" 2>&1); rc=$?
got="backing_file=$(dut_attr "$DEV" backing_file) offset=$(dut_attr "$DEV" offset) sizelimit=$(dut_attr "$DEV" sizelimit)"
got="$got autoclear=$(dut_attr "$DEV" autoclear) partscan=$(dut_attr "$DEV" partscan) dio=$(dut_attr "$DEV" dio)"
got="$got ro=$(blk_attr "$DEV" ro) size=$(blk_attr "$DEV" size)"
exp="backing_file=$F offset=524288 sizelimit=2097152 autoclear=1 partscan=1 dio=0 ro=0 size=4096"
if [ "$DUT" = aloop ] && [ ! -r "/sys/block/$(devname "$DEV")/aloop/dio_reason" ]; then
	got="$got (no dio_reason attribute)"
fi
if [ $rc = 0 ]; then check_eq "sysfs attributes match the configuration" "$exp" "$got"
else fail "sysfs attributes match the configuration" "attach: $o"; fi
exec 7<&-
wait_for 10 _unbound "$DEV"

# ------------------------------------------------------- logical block size
F=$D/bs.img; mkrand "$F" $((4 * MiB))
DEV=$(attach_dev --block-size 4096 "$F"); rc=$?
if [ $rc = 0 ]; then
	lbs=$(blk_attr "$DEV" queue/logical_block_size)
	js=$(aloopctl list --json 2>/dev/null | "$PYTHON" -c 'import json,sys; print([d["log-sec"] for d in json.load(sys.stdin)["aloopdevices"] if d["name"]==sys.argv[1]])' "$DEV" 2>&1)
	mkrand "$SCRATCH/bs" $MiB; write_dev "$SCRATCH/bs" "$DEV" 8192
	dd if="$DEV" of=/dev/null bs=512 count=1 iflag=direct status=none 2>/dev/null; small=$?
	if [ "$lbs" = 4096 ] && [ "$js" = "[4096]" ] && [ "$(sha_range "$F" 8192 $MiB)" = "$(sha "$SCRATCH/bs")" ] && [ $small != 0 ]; then
		ok "--block-size 4096: logical_block_size 4096, list log-sec 4096, data ok, 512-byte direct read refused"
	else
		fail "--block-size 4096" "logical_block_size $lbs, json log-sec $js, 512-byte direct read exit $small"
	fi
	aloopctl detach "$DEV" >/dev/null 2>&1
else
	fail "--block-size 4096" "$DEV"
fi

# ---------------------------------------------------- partition scanning
F=$D/parts.img; mkrand "$F" $((16 * MiB))
if have sfdisk && printf 'label: dos\nstart=2048, size=8192, type=83\nstart=12288, size=8192, type=83\n' | sfdisk -q "$F" >/dev/null 2>&1; then
	DEV=$(attach_dev "$F"); rc=$?
	sleep 0.5
	if [ $rc = 0 ] && [ ! -e "${DEV}p1" ]; then ok "without --partscan no partition devices appear"
	else fail "without --partscan no partition devices appear" "$DEV" "$(ls "$DEV"* 2>&1)"; fi
	aloopctl detach "$DEV" >/dev/null 2>&1
	DEV=$(attach_dev --partscan "$F"); rc=$?
	if [ $rc = 0 ] && wait_dev "${DEV}p1" && wait_dev "${DEV}p2" &&
	   [ "$(devsize "${DEV}p1")" = $((4 * MiB)) ] && [ "$(devsize "${DEV}p2")" = $((4 * MiB)) ]; then
		ok "--partscan: ${DEV}p1 and p2 appear, 4 MiB each"
	else
		fail "--partscan: partitions p1 and p2 appear, 4 MiB each" "$DEV" "$(ls -l "$DEV"* 2>&1)"
	fi
	p=()
	if [ -b "${DEV}p2" ]; then
		mkrand "$SCRATCH/p2" $MiB
		write_dev "$SCRATCH/p2" "${DEV}p2" 4096 || p+=("write failed")
		[ "$(sha_range "$F" $((6 * MiB + 4096)) $MiB)" = "$(sha "$SCRATCH/p2")" ] || p+=("data not at 6 MiB + 4 KiB in the file")
	else
		p+=("no ${DEV}p2")
	fi
	aloopctl detach "$DEV" >/dev/null 2>&1
	wait_gone "${DEV}p1" 5 || p+=("${DEV}p1 still there after detach")
	result "data written to p2 lands at the partition offset; partitions go away on detach" ${#p[@]} "${p[@]}"
else
	skip_n 3 "sfdisk missing or failed" "no partscan" "partscan" "partition data"
fi

# ------------------------------------------------------------ direct I/O
F=$D/dio.img; mkrand "$F" $((8 * MiB))
DEV=$(free_dev); SDEV=$(stock_free)
o=$(ioc1 configure "$DEV" "$F" --flags 16); so=$(ioc1 configure "$SDEV" "$F" --flags 16)
dio=$(dut_attr "$DEV" dio); sdio=$(cat "/sys/block/$(devname "$SDEV")/loop/dio" 2>/dev/null)
if [ "$o" = OK ] && [ "$dio" = "$sdio" ]; then
	ok "LOOP_CONFIGURE with LO_FLAGS_DIRECT_IO on ext4: dio=$dio (stock loop dio=$sdio)"
else
	fail "LOOP_CONFIGURE with LO_FLAGS_DIRECT_IO on ext4: dio like stock loop" "$DUT: $o dio=$dio reason='$(dut_attr "$DEV" dio_reason)'" "stock: $so dio=$sdio"
fi
mkrand "$SCRATCH/dio" $((4 * MiB))
write_dev "$SCRATCH/dio" "$DEV" $MiB; w=$?
dd if=/dev/urandom of="$DEV" bs=512 count=3 seek=7 oflag=direct conv=notrunc status=none; w2=$?
if [ $w = 0 ] && [ $w2 = 0 ] && [ "$(sha_range "$F" $MiB $((4 * MiB)))" = "$(sha "$SCRATCH/dio")" ] &&
   [ "$(sha_dev "$DEV")" = "$(sha "$F")" ]; then
	ok "direct I/O device: 64K and 512-byte writes land in the file, reads match"
else
	fail "direct I/O device: writes land in the file, reads match" "write exits $w $w2"
fi
ioc clr-fd "$DEV" >/dev/null; ioc clr-fd "$SDEV" >/dev/null

finish
