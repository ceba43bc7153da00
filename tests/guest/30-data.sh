#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: aloopctl attach/list/status/detach, offset/sizelimit placement, reads past the end, fio verify, beside stock loop
# aloop-timeout: 900
# aloop-driver: any
# aloop-needs: aloopctl stock-loop
# Data path: aloopctl attach/list/status/detach round trip, aloop and
# stock loop side by side, offset/sizelimit placement and device size,
# reads past the end of the backing file, fio verify runs.
. "$(dirname "$0")/lib.sh"

plan 28

on_exit "aloopctl detach-all; losetup -D"
D=$(test_dir data)
XD=${XFSDIR:-$BACKING}
[ "$XD" = "$BACKING" ] || { rm -rf "$XD/data"; mkdir -p "$XD/data"; XD=$XD/data; }


# ------------------------------------------------ aloopctl round trip
F=$D/rt.img
mkrand "$F" $((8 * MiB))
DEV=$(aloopctl attach "$F" 2>"$SCRATCH/err"); rc=$?
if [ $rc = 0 ] && [[ $DEV =~ ^/dev/${DUT}[0-9]+$ ]] && wait_dev "$DEV" && [ ! -s "$SCRATCH/err" ]; then
	ok "aloopctl attach FILE prints the device ($DEV), exit 0"
else
	fail "aloopctl attach FILE prints the device" "exit $rc, stdout '$DEV'" "stderr: $(cat "$SCRATCH/err")"
	bail "cannot attach"
fi

# Queue set up as stock loop's: no I/O scheduler by default (the backing
# device has one) and the same largest request.
q=/sys/block/${DEV#/dev/}/queue sq=/sys/block/loop0/queue
got="$(cat "$q/scheduler") max_hw_sectors_kb=$(cat "$q/max_hw_sectors_kb") max_sectors_kb=$(cat "$q/max_sectors_kb")"
want="$(cat "$sq/scheduler") max_hw_sectors_kb=$(cat "$sq/max_hw_sectors_kb") max_sectors_kb=$(cat "$sq/max_sectors_kb")"
if [[ $got == *"[none]"* ]] && [ "$got" = "$want" ]; then
	ok "queue as stock loop's: scheduler $got"
else
	fail "queue as stock loop's: scheduler none, same request size limits" "$DUT: $got" "loop0: $want"
fi

out=$(aloopctl status "$DEV" 2>&1); rc=$?
if [ $rc = 0 ] && grep -qF "$F" <<<"$out"; then
	ok "aloopctl status DEV shows the backing file"
else
	fail "aloopctl status DEV shows the backing file" "exit $rc" "$out"
fi

out=$(aloopctl list 2>&1); rc=$?
if [ $rc = 0 ] && grep -F "$DEV" <<<"$out" | grep -qF "$F"; then
	ok "aloopctl list shows the device with its backing file"
else
	fail "aloopctl list shows the device with its backing file" "exit $rc" "$out"
fi

aloopctl list --json >"$SCRATCH/list.json" 2>&1; rc=$?
out=$("$PYTHON" - "$SCRATCH/list.json" "$DEV" "$F" "$(dut_attr "$DEV" dio)" <<'EOF' 2>&1
import json, sys
doc = json.load(open(sys.argv[1]))
devs = doc["aloopdevices"]
mine = [d for d in devs if d.get("name") == sys.argv[2]]
assert len(mine) == 1, "device %s listed %d times in %r" % (sys.argv[2], len(mine), devs)
d = mine[0]
for k in ("name", "back-file", "offset", "sizelimit", "autoclear", "ro", "dio", "log-sec", "dio-reason"):
    assert k in d, "column %s missing from %r" % (k, d)
assert d["back-file"] == sys.argv[3], d
assert d["offset"] in (0, "0") and d["sizelimit"] in (0, "0"), d
assert d["autoclear"] in (False, 0, "0") and d["ro"] in (False, 0, "0"), d
assert int(bool(d["dio"] not in (False, 0, "0"))) == int(sys.argv[4]), ("dio differs from sysfs dio=" + sys.argv[4], d)
assert d["dio-reason"] is None or isinstance(d["dio-reason"], str), d
assert int(d["log-sec"]) == 512, d
print("ok")
EOF
)
if [ $rc = 0 ] && [ "$out" = ok ]; then
	ok "aloopctl list --json: key aloopdevices, the device with all columns and values"
else
	fail "aloopctl list --json: key aloopdevices, the device with all columns and values" "exit $rc" "$out" "$(head -c 2000 "$SCRATCH/list.json")"
fi

n=$(devnum "$DEV")
p=()
[ "$(dut_attr "$DEV" backing_file)" = "$F" ] || p+=("backing_file: '$(dut_attr "$DEV" backing_file)'")
[ "$(dut_attr "$DEV" offset)" = 0 ] || p+=("offset: '$(dut_attr "$DEV" offset)'")
[ "$(dut_attr "$DEV" sizelimit)" = 0 ] || p+=("sizelimit: '$(dut_attr "$DEV" sizelimit)'")
[ "$(blk_attr "$DEV" size)" = $((8 * MiB / 512)) ] || p+=("size: '$(blk_attr "$DEV" size)'")
dut_wake_workers "$DEV"
[ "$DUT" = loop ] || kthread_present "$DUT$n-q0" || p+=("no kernel thread named $DUT$n-q0")
result "sysfs backing_file/offset/sizelimit/size and kthread $DUT$n-q0 of the bound device" ${#p[@]} "${p[@]}"

data=$SCRATCH/rt.data; mkrand "$data" $((4 * MiB))
if write_dev "$data" "$DEV" $MiB && [ "$(sha_dev "$DEV" $((8 * MiB)) )" = "$(sha "$F")" ] &&
   [ "$(sha_range "$F" $MiB $((4 * MiB)))" = "$(sha "$data")" ]; then
	ok "4 MiB written at 1 MiB through $DEV land in the file; device reads equal the file"
else
	fail "4 MiB written at 1 MiB through $DEV land in the file; device reads equal the file"
fi

out=$(aloopctl detach "$DEV" 2>&1); rc=$?
p=()
[ $rc = 0 ] || p+=("detach exit $rc: $out")
[ "$(dev_state "$DEV")" = unbound ] || p+=("state: $(dev_state "$DEV")")
! aloopctl list 2>/dev/null | grep -qF "$DEV " || p+=("still listed")
[ "$DUT" = loop ] || wait_for 5 kthread_absent "$DUT$n-q0" || p+=("kernel thread $DUT$n-q0 still there")
result "aloopctl detach: exit 0, device unbound, not listed, kthread gone" ${#p[@]} "${p[@]}"

out=$(aloopctl detach "$DEV" 2>"$SCRATCH/err"); rc=$?; err=$(cat "$SCRATCH/err")
if [ $rc = 1 ] && [ "$(grep -c . "$SCRATCH/err")" = 1 ] && [[ $err == "aloopctl: "* ]]; then
	ok "aloopctl detach of an unbound device: exit 1, '$err'"
else
	fail "aloopctl detach of an unbound device: exit 1 and one 'aloopctl: ...' line" "exit $rc" "stderr: $err"
fi

before=$(cat /sys/block/"$DUT"*/"$DUT"/backing_file 2>/dev/null | sort | tr '\n' ' ')
out=$(aloopctl attach "$D/no-such-file" 2>"$SCRATCH/err"); rc=$?; err=$(cat "$SCRATCH/err")
after=$(cat /sys/block/"$DUT"*/"$DUT"/backing_file 2>/dev/null | sort | tr '\n' ' ')
if [ $rc = 1 ] && [ -z "$out" ] && [ "$(grep -c . "$SCRATCH/err")" = 1 ] &&
   [[ $err == "aloopctl: $D/no-such-file: "* ]] && [ "$before" = "$after" ]; then
	ok "aloopctl attach of a missing file: exit 1, '$err'"
else
	fail "aloopctl attach of a missing file: exit 1 and 'aloopctl: FILE: reason'" "exit $rc, stdout '$out'" "stderr: $err" "bound before: $before, after: $after"
fi

# ------------------------------------------------ next to stock loop
FA=$D/side-aloop.img FS=$D/side-stock.img
mkrand "$FA" $((16 * MiB)); mkrand "$FS" $((16 * MiB))
DA=$(attach_dev "$FA"); ra=$?
DS=$(stock_attach "$FS"); rs=$?
if [ $ra = 0 ] && [ $rs = 0 ]; then
	da=$SCRATCH/side-a; ds=$SCRATCH/side-s
	mkrand "$da" $((12 * MiB)); mkrand "$ds" $((12 * MiB))
	write_dev "$da" "$DA" $((2 * MiB)) & wa=$!
	write_dev "$ds" "$DS" $((2 * MiB)) & ws=$!
	wait $wa; ea=$?; wait $ws; es=$?
	ga=$(sha_dev "$DA"); gs=$(sha_dev "$DS")
	p=()
	[ $ea = 0 ] || p+=("write failed")
	[ "$(sha_range "$FA" $((2 * MiB)) $((12 * MiB)))" = "$(sha "$da")" ] || p+=("data not in $FA")
	[ "$ga" = "$(sha "$FA")" ] || p+=("device read != file")
	result "$DUT ($DA) and stock loop ($DS) at once: $DUT data correct" ${#p[@]} "${p[@]}"
	p=()
	[ $es = 0 ] || p+=("write failed")
	[ "$(sha_range "$FS" $((2 * MiB)) $((12 * MiB)))" = "$(sha "$ds")" ] || p+=("data not in $FS")
	[ "$gs" = "$(sha "$FS")" ] || p+=("device read != file")
	result "$DUT and stock loop at once: stock loop data correct" ${#p[@]} "${p[@]}"
	aloopctl detach "$DA" >/dev/null 2>&1; losetup -d "$DS"
else
	fail "$DUT and stock loop at once: $DUT data correct" "attach $DUT: $DA" "attach stock: $DS"
	fail "$DUT and stock loop at once: stock loop data correct" "attach $DUT: $DA" "attach stock: $DS"
fi

# ------------------------------------------------- offset / sizelimit
F=$D/window.img
mkrand "$F" $((16 * MiB))
HEAD=$(sha_range "$F" 0 $MiB); TAIL=$(sha_range "$F" $((9 * MiB)) $((7 * MiB)))
DEV=$(attach_dev --offset 1M --sizelimit 8M "$F"); rc=$?
if [ $rc = 0 ]; then
	check_eq "--offset 1M --sizelimit 8M: device size is 8 MiB (blockdev --getsize64)" $((8 * MiB)) "$(devsize "$DEV")"
	w=$SCRATCH/window.data; mkrand "$w" $((8 * MiB))
	write_dev "$w" "$DEV"; wrc=$?
	got=$(sha_dev "$DEV")
	dd if=/dev/zero of="$DEV" bs=4096 count=1 seek=$((8 * MiB / 4096)) oflag=direct conv=notrunc status=none 2>/dev/null; past=$?
	aloopctl detach "$DEV" >/dev/null 2>&1
	if [ $wrc = 0 ] && [ "$got" = "$(sha "$w")" ] && [ "$(sha_range "$F" $MiB $((8 * MiB)))" = "$(sha "$w")" ]; then
		ok "data written through the device lands at offset+position in the file"
	else
		fail "data written through the device lands at offset+position in the file" "write exit $wrc"
	fi
	if [ "$(sha_range "$F" 0 $MiB)" = "$HEAD" ] && [ "$(sha_range "$F" $((9 * MiB)) $((7 * MiB)))" = "$TAIL" ] &&
	   [ "$(stat -c %s "$F")" = $((16 * MiB)) ]; then
		ok "nothing outside [offset, offset+sizelimit) of the file changed"
	else
		fail "nothing outside [offset, offset+sizelimit) of the file changed"
	fi
	if [ $past != 0 ] && [ "$(sha_range "$F" $((9 * MiB)) $((7 * MiB)))" = "$TAIL" ]; then
		ok "a write past the end of the device fails and changes nothing"
	else
		fail "a write past the end of the device fails and changes nothing" "dd exit $past"
	fi
else
	fail "--offset 1M --sizelimit 8M: device size is 8 MiB" "$DEV"
	skip_n 3 "attach failed" "offset placement" "outside untouched" "write past end"
fi

# size_case DESC EXPECTED-BYTES ALOOPCTL-ARGS... (also checked on stock loop)
size_case() {
	local d=$1 exp=$2 dev sdev got sgot largs=(); shift 2
	dev=$(attach_dev "$@") || { fail "$d" "$dev"; return; }
	got=$(devsize "$dev")
	while [ $# -gt 1 ]; do
		case $1 in --offset) largs+=(-o "$(to_bytes "$2")"); shift ;; --sizelimit) largs+=(--sizelimit "$(to_bytes "$2")"); shift ;; esac
		shift
	done
	sdev=$(stock_attach "${largs[@]}" "$1") && sgot=$(devsize "$sdev")
	aloopctl detach "$dev" >/dev/null 2>&1; losetup -d "$sdev" 2>/dev/null
	if [ "$got" = "$exp" ] && [ "$sgot" = "$exp" ]; then
		ok "$d: $got bytes (stock loop $sgot)"
	else
		fail "$d" "expected $exp, $DUT: $got, stock loop: ${sgot:-$sdev}"
	fi
}
size_case "16 MiB file, --offset 3M: size 13 MiB" $((13 * MiB)) --offset 3M "$F"
size_case "16 MiB file, --sizelimit 64M: size capped at 16 MiB" $((16 * MiB)) --sizelimit 64M "$F"
size_case "16 MiB file, --offset 12M --sizelimit 8M: size 4 MiB" $((4 * MiB)) --offset 12M --sizelimit 8M "$F"

# ---------------------------------------------- unaligned file / EOF
U=$D/odd.img
mkrand "$U" $((MiB + 100))
DEV=$(attach_dev "$U"); r1=$?
SDEV=$(stock_attach "$U"); r2=$?
if [ $r1 = 0 ] && [ $r2 = 0 ]; then
	s=$(devsize "$DEV"); ss=$(devsize "$SDEV")
	check_eq "1 MiB + 100 byte file: device size like stock loop ($ss)" "$ss" "$s"
	a=$(sha_dev "$DEV"); b=$(sha_range "$U" 0 "${s:-0}")
	check_eq "1 MiB + 100 byte file: device content is the file's first $s bytes" "$b" "$a"
else
	fail "1 MiB + 100 byte file: device size like stock loop" "$DEV / $SDEV"
	fail "1 MiB + 100 byte file: device content" "attach failed"
fi
aloopctl detach "$DEV" >/dev/null 2>&1; losetup -d "$SDEV" >/dev/null 2>&1

# Shrink the backing file under a bound device: a read of the part past
# the new end (bytes 1 MiB+100 .. 2 MiB) must fail with EIO, as stock
# loop's direct I/O and mainline loop do (zeros would pass a truncated
# image off as valid empty blocks), and the bytes before the new end must
# still be the file's.
T1=$D/shrink-a.img T2=$D/shrink-s.img
mkrand "$T1" $((2 * MiB)); cp "$T1" "$T2"
DEV=$(attach_dev "$T1"); r1=$?
SDEV=$(stock_attach --direct-io=on "$T2"); r2=$?
if [ $r1 = 0 ] && [ $r2 = 0 ]; then
	truncate -s $((MiB + 100)) "$T1" "$T2"
	blockdev --flushbufs "$DEV" "$SDEV" 2>/dev/null; drop_caches
	eof_outcome() {	# DEV FILE OUT: "exit E, EIO|no-EIO, head file|NOT-file"
		local rc
		dd if="$1" of="$3" bs=64K iflag=direct status=none 2>"$3.err"; rc=$?
		echo "exit $rc, $(grep -q 'Input/output error' "$3.err" && echo EIO || echo no-EIO)," \
			"$(stat -c %s "$3") bytes," \
			"head $(cmp -s -n "$MiB" "$3" "$2" && echo file || echo NOT-file)"
	}
	oa=$(eof_outcome "$DEV" "$T1" "$SCRATCH/got-a"); os=$(eof_outcome "$SDEV" "$T2" "$SCRATCH/got-s")
	if [[ $oa == "exit 1, EIO,"* ]]; then
		ok "read past the end of a shrunk backing file: EIO ($oa; stock loop dio: $os)"
	else
		fail "read past the end of a shrunk backing file: EIO" "$DUT: $oa $(cat "$SCRATCH/got-a.err")" "stock loop dio: $os"
	fi
	if [[ $oa == *"$MiB bytes, head file" ]]; then
		ok "read up to the end of a shrunk backing file: the bytes before the end are the file's"
	else
		fail "read up to the end of a shrunk backing file: the bytes before the end are the file's" "$DUT: $oa" "stock loop dio: $os"
	fi
else
	fail "read past the end of a shrunk backing file: EIO" "$DEV / $SDEV"
	fail "read up to the end of a shrunk backing file: the bytes before the end are the file's" "attach failed"
fi
aloopctl detach "$DEV" >/dev/null 2>&1; losetup -d "$SDEV" >/dev/null 2>&1

# ---------------------------------------------------------------- fio
fio_case() {	# BS DIRECT DIR
	local bs=$1 direct=$2 dir=$3 f dev eng=psync qd=1 out rc d
	d="fio randwrite+verify crc32c 32M bs=$bs direct=$direct on $(awk -v m="${dir%/data}" '$2 == m {print $3}' /proc/mounts)"
	have fio || { skip "$d" "fio not installed"; return; }
	f=$dir/fio-$bs-$direct.img
	truncate -s $((40 * MiB)) "$f"
	dev=$(attach_dev "$f") || { fail "$d" "$dev"; return; }
	[ "$direct" = 0 ] || { eng=libaio; qd=16; }
	out=$(fio --name=aloop-verify --filename="$dev" --rw=randwrite --bs="$bs" --size=32M \
		--direct="$direct" --ioengine=$eng --iodepth=$qd --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --end_fsync=1 --randrepeat=0 --group_reporting 2>&1); rc=$?
	blockdev --flushbufs "$dev" 2>/dev/null
	local sd sf
	sd=$(sha_dev "$dev" $((40 * MiB))); sf=$(sha "$f")
	aloopctl detach "$dev" >/dev/null 2>&1
	if [ $rc = 0 ] && [ "$sd" = "$sf" ]; then
		ok "$d"
	else
		fail "$d" "fio exit $rc; device/file checksums $( [ "$sd" = "$sf" ] && echo equal || echo DIFFER)" "$(tail -n 25 <<<"$out")"
	fi
	rm -f "$f"
}
fio_case 4k 1 "$D"
fio_case 64k 1 "$XD"
fio_case 4k 0 "$XD"
fio_case 64k 0 "$D"

# Block size above PAGE_SIZE: kernels since 6.15 accept it (stock loop
# too); then data must survive dio and buffered fio verify, otherwise both
# drivers refuse it.
d="block size 8192 (above PAGE_SIZE): as stock loop; when accepted, fio verify direct and buffered"
f=$D/bs8k.img
truncate -s $((24 * MiB)) "$f"
stock_takes_bs 8192 "$f"; src=$?
dev=$(aloopctl attach --block-size 8K "$f" 2>"$SCRATCH/err"); rc=$?
if [ $rc != 0 ] && [ $src != 0 ]; then
	if grep -q "Invalid argument" "$SCRATCH/err"; then
		ok "$d (this kernel refuses it: EINVAL, as stock loop)"
	else
		fail "$d" "aloopctl: $(cat "$SCRATCH/err")"
	fi
elif [ $rc != 0 ] || [ $src != 0 ]; then
	fail "$d" "aloopctl exit $rc ($(cat "$SCRATCH/err")), losetup -b 8192 exit $src"
elif ! have fio; then
	aloopctl detach "$dev"; skip "$d" "fio not installed"
else
	wait_dev "$dev"
	lbs=$(blockdev --getss "$dev")
	out=$(fio --name=bs8k-dio --filename="$dev" --rw=randwrite --bs=16k --size=8M \
		--direct=1 --ioengine=libaio --iodepth=8 --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --end_fsync=1 --randrepeat=0 2>&1 &&
	      fio --name=bs8k-buf --filename="$dev" --rw=randwrite --bs=8k --size=8M \
		--offset=8M --direct=0 --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--end_fsync=1 --randrepeat=0 2>&1); frc=$?
	blockdev --flushbufs "$dev" 2>/dev/null
	sd=$(sha_dev "$dev" $((24 * MiB))); sf=$(sha "$f")
	aloopctl detach "$dev" >/dev/null 2>&1
	if [ "$lbs" = 8192 ] && [ $frc = 0 ] && [ "$sd" = "$sf" ]; then
		ok "$d (accepted; logical block size 8192)"
	else
		fail "$d" "logical block size $lbs, fio exit $frc, checksums $([ "$sd" = "$sf" ] && echo equal || echo DIFFER)" "$(tail -n 20 <<<"$out")"
	fi
fi
rm -f "$f"

finish
