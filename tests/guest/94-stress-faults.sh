#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: backing faults (dm-flakey/dm-error, ENOSPC, backing truncated or deleted), failslab/fail_page_alloc
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: stock-loop
# Stress: faults under the device, on aloop and on stock loop as the
# control in the same boot.
#  4. Backing faults: the backing files on ext4 on a device-mapper device
#     (over $RAWDEV, or a stock loop device over a file) that is switched
#     to failing every I/O (dm-flakey down, or dm-error): reads through
#     the device fail with EIO within 30 s, write + fsync reports EIO,
#     nothing hangs, detach works.  ENOSPC: a sparse backing file bigger
#     than its small filesystem.  The backing file truncated, deleted, and
#     its filesystem lazily unmounted while attached: I/O answers (data or
#     an error) and never hangs, detach works, the filesystem is released.
#  5. Allocation faults: failslab and fail_page_alloc (debugfs, task
#     filter) aimed at configure and at I/O (the device's workers too):
#     errors come back, nothing crashes, the module unloads, kmemleak (when
#     present) reports nothing of aloop.  SKIP without CONFIG_FAILSLAB /
#     CONFIG_FAIL_PAGE_ALLOC (Debian's production kernels).
# Each step checks tasks in D state and the kernel log since it began.
. "$(dirname "$0")/lib.sh"

plan 25

D=$(test_dir stress-faults)
MNT=$(mkmnt faults-dm)
MNT2=$(mkmnt faults-small)
export DM_DISABLE_UDEV=1
DMNAME=alo-stress-flaky
DMBASE='' DMBASE_LOOP='' SMALL_LOOP=''
ALL_DEVS=()

faults_cleanup() {
	local d
	for d in "${ALL_DEVS[@]}"; do timeout 10 "$ALO_IOCTL" clr-fd "$d"; done
	if [ -e /sys/kernel/debug/failslab/probability ]; then
		echo 0 >/sys/kernel/debug/failslab/probability
		echo 0 >/sys/kernel/debug/fail_page_alloc/probability
	fi
	umount -l "$MNT" "$MNT2"
	if dmsetup info "$DMNAME" >/dev/null 2>&1; then
		dmsetup load --noudevsync "$DMNAME" --table "0 $DMSECTORS linear $DMBASE 0" &&
			dmsetup resume --noudevsync "$DMNAME"
		sleep 0.5
		dmsetup remove --noudevsync "$DMNAME"
	fi
	[ -z "$DMBASE_LOOP" ] || losetup -d "$DMBASE_LOOP"
	[ -z "$SMALL_LOOP" ] || losetup -d "$SMALL_LOOP"
}
on_exit faults_cleanup

_unbound() { [ "$(dev_state "$1")" = unbound ]; }
# attach_mode DRIVER dio|buf FILE: a bound device (DRIVER: aloop or stock)
attach_mode() {
	local drv=$1 mode=$2 f=$3 d o n
	if [ "$drv" = stock ]; then
		d=$(stock_free) || { echo "no free stock loop device"; return 1; }
	else
		o=$(ioc ctl-get-free "$DUT_CTL"); n=${o#OK }
		[ "${o%% *}" = OK ] && wait_dev "$(dutdev "$n")" || { echo "GET_FREE: $o"; return 1; }
		d=$(dutdev "$n")
	fi
	if [ "$mode" = dio ]; then
		o=$(ioc configure "$d" "$f" --flags 16)
	elif [ "$drv" = stock ]; then
		o=$(ioc configure "$d" "$f")
	else
		o=$(ioc configure "$d" "$f" --set-dio 0)
	fi
	[ "$(ioc1_of "$o")" = OK ] || { echo "configure $d $f: $o"; return 1; }
	echo "$d"
}
# tsha DEV [LEN]: sha256 of the device read with O_DIRECT, at most 30 s
tsha() {
	if [ -n "${2:-}" ]; then
		timeout 30 dd if="$1" bs=64k iflag=direct,count_bytes count="$2" status=none
	else
		timeout 30 dd if="$1" bs=64k iflag=direct status=none
	fi | sha256sum | cut -d' ' -f1
}
drvname() { [ "$1" = stock ] && echo "stock loop" || echo "$DUT"; }
# errno_of TEXT: the errno a dd message names
errno_of() {
	case $1 in
	*"Input/output error"*) echo EIO ;;
	*"No space left"*) echo ENOSPC ;;
	*"Invalid argument"*) echo EINVAL ;;
	*"No such device or address"*) echo ENXIO ;;
	*) echo "?" ;;
	esac
}

# ====================================================== dm faults
DMSECTORS=262144	# 128 MiB
dm_ok=1 dm_why='' dm_kind=''
if ! have dmsetup; then
	dm_ok=0 dm_why="no dmsetup"
elif ! modprobe dm-mod 2>/dev/null; then
	dm_ok=0 dm_why="dm-mod does not load"
fi
if [ $dm_ok = 1 ]; then
	if [ -n "$RAWDEV" ] && [ "$(blockdev --getsz "$RAWDEV" 2>/dev/null || echo 0)" -ge $DMSECTORS ]; then
		DMBASE=$RAWDEV
	else
		truncate -s 128M "$D/dmbase.img"
		DMBASE_LOOP=$(losetup -f --show "$D/dmbase.img" 2>/dev/null) && DMBASE=$DMBASE_LOOP
	fi
	if modprobe dm-flakey 2>/dev/null; then
		dm_kind="flakey $DMBASE 0 0 3600"	# up 0 s, down an hour: every I/O fails
	else
		dm_kind="error"
	fi
	if [ -z "$DMBASE" ] ||
	   ! dmsetup create --noudevsync "$DMNAME" --table "0 $DMSECTORS linear $DMBASE 0" >"$SCRATCH/dm.err" 2>&1 ||
	   ! wait_dev "/dev/mapper/$DMNAME" ||
	   ! mkfs.ext4 -q -F -O ^has_journal "/dev/mapper/$DMNAME" >>"$SCRATCH/dm.err" 2>&1 ||
	   ! mount -t ext4 -o errors=continue "/dev/mapper/$DMNAME" "$MNT" 2>>"$SCRATCH/dm.err"; then
		dm_ok=0 dm_why="cannot set up dm over ${DMBASE:-nothing}: $(tail -n 3 "$SCRATCH/dm.err")"
	fi
fi

if [ $dm_ok = 1 ]; then
	mark=$(klog_mark)
	declare -A DMDEV=()
	for drv in aloop stock; do
		for mode in dio buf; do
			f=$MNT/$drv-$mode.img; mkrand "$f" $((16 * MiB))
			d=$(attach_mode "$drv" "$mode" "$f") && DMDEV[$drv-$mode]=$d && ALL_DEVS+=("$d")
			[ -n "${DMDEV[$drv-$mode]:-}" ] || diag "$drv $mode: $d"
		done
	done
	sync
	dmsetup suspend --noudevsync "$DMNAME" &&
		dmsetup load --noudevsync "$DMNAME" --table "0 $DMSECTORS $dm_kind" &&
		dmsetup resume --noudevsync "$DMNAME"
	diag "backing ext4 on dm over $DMBASE, now failing every I/O: table '0 $DMSECTORS $dm_kind'"
	drop_caches
	for drv in aloop stock; do
		for mode in dio buf; do
			d=${DMDEV[$drv-$mode]:-}
			desc="$(drvname $drv) ($mode): reads fail with EIO within 30 s, write + fsync reports EIO"
			if [ -z "$d" ]; then fail "$desc" "no device"; continue; fi
			p=()
			t0=$(date +%s)
			o=$(timeout 30 dd if="$d" of=/dev/null bs=64k count=16 iflag=direct 2>&1); r=$?
			t1=$(date +%s)
			if [ $r = 124 ]; then
				p+=("O_DIRECT read still running after 30 s")
			elif [ $r = 0 ] || [ "$(errno_of "$o")" != EIO ]; then
				p+=("O_DIRECT read: exit $r: $o")
			fi
			o=$(timeout 30 dd if=/dev/urandom of="$d" bs=64k count=16 conv=fsync,notrunc 2>&1); r=$?
			t2=$(date +%s)
			if [ $r = 124 ]; then
				p+=("write + fsync still running after 30 s")
			elif [ $r = 0 ] || [ "$(errno_of "$o")" != EIO ]; then
				p+=("write + fsync: exit $r: $o")
			fi
			result "$desc (read $((t1 - t0)) s, write+fsync $((t2 - t1)) s)" ${#p[@]} "${p[@]}"
		done
	done
	for drv in aloop stock; do
		p=()
		for mode in dio buf; do
			d=${DMDEV[$drv-$mode]:-}; [ -n "$d" ] || { p+=("no $mode device"); continue; }
			o=$(timeout 20 "$ALO_IOCTL" clr-fd "$d" 2>&1)
			[ "$o" = OK ] || p+=("$d clr-fd: ${o:-timeout}")
			wait_for 15 _unbound "$d" || p+=("$d: $(dev_state "$d") after clr-fd")
		done
		result "$(drvname $drv): after the errors both devices detach (LOOP_CLR_FD OK, unbound)" ${#p[@]} "${p[@]}"
	done
	dmsetup load --noudevsync "$DMNAME" --table "0 $DMSECTORS linear $DMBASE 0" &&
		dmsetup resume --noudevsync "$DMNAME"
	timeout 60 umount "$MNT" || umount -l "$MNT"
	dmsetup remove --noudevsync "$DMNAME" >/dev/null 2>&1 || { sleep 1; dmsetup remove --noudevsync "$DMNAME" >/dev/null 2>&1; }
	klog_clean_step "dm faults: no task in D state, kernel log clean (I/O error lines aside)" "$mark"
else
	skip_n 7 "$dm_why" "aloop dio EIO" "aloop buffered EIO" "stock dio EIO" "stock buffered EIO" \
		"aloop detach" "stock detach" "log"
fi

# =================================================== a small filesystem
SMALL=$D/small.img
truncate -s 48M "$SMALL"
small_ok=1
if ! mkfs.ext4 -q -F -O ^has_journal "$SMALL" >/dev/null 2>&1 ||
   ! SMALL_LOOP=$(losetup -f --show "$SMALL" 2>/dev/null) ||
   ! mount -t ext4 "$SMALL_LOOP" "$MNT2"; then
	small_ok=0
fi

# ---------------------------------------------------------------- ENOSPC
mkrand "$SCRATCH/fill" $((8 * MiB))
if [ $small_ok = 1 ]; then
	declare -A NOSPC=()
	for drv in aloop stock; do
		for mode in dio buf; do
			mark=$(klog_mark)
			f=$MNT2/sparse.img; rm -f "$f"; truncate -s 64M "$f"
			desc="$(drvname $drv) ($mode): 64 MiB written to a sparse file on a 48 MiB fs: the write fails (ENOSPC/EIO) within 60 s, what fitted reads back, detach works"
			d=$(attach_mode "$drv" "$mode" "$f") || { fail "$desc" "$d"; continue; }
			p=()
			# 8 MiB of data, then zeros until the fs is full
			o=$( { cat "$SCRATCH/fill"; head -c $((56 * MiB)) /dev/zero; } |
				timeout 60 dd of="$d" bs=1M iflag=fullblock oflag=direct conv=notrunc 2>&1); r=$?
			e=$(errno_of "$o"); NOSPC[$drv-$mode]=$e
			if [ $r = 124 ]; then
				p+=("the write still ran after 60 s")
			elif [ $r = 0 ]; then
				p+=("the write did not fail: $o")
			else
				case $e in ENOSPC|EIO) ;; *) p+=("dd: exit $r: $o") ;; esac
			fi
			[ "$(tsha "$d" $((8 * MiB)))" = "$(sha "$SCRATCH/fill")" ] ||
				p+=("the first 8 MiB do not read back")
			o=$(timeout 20 "$ALO_IOCTL" clr-fd "$d" 2>&1)
			[ "$o" = OK ] && wait_for 15 _unbound "$d" || p+=("clr-fd: ${o:-timeout}, $(dev_state "$d")")
			bad=$(klog_bad "$mark"); [ -z "$bad" ] || p+=("kernel log:" "$bad")
			result "$desc (dd: $e)" ${#p[@]} "${p[@]}"
			rm -f "$f"
		done
	done
	for mode in dio buf; do
		[ "${NOSPC[aloop-$mode]:-}" = "${NOSPC[stock-$mode]:-}" ] ||
			diag "note ($mode): $DUT reports ${NOSPC[aloop-$mode]:-?} for a full backing fs, stock loop ${NOSPC[stock-$mode]:-?}"
	done
else
	skip_n 4 "cannot make the small ext4 (stock loop over $SMALL)" "aloop dio" "aloop buf" "stock dio" "stock buf"
fi

# ------------------------------------ truncated, deleted, lazily unmounted
if [ $small_ok = 1 ]; then
	mark=$(klog_mark)
	declare -A TR=() DL=() LZ=() LZSUM=()
	mkrand "$SCRATCH/w1m" $MiB
	for drv in aloop stock; do
		for kind in TR DL LZ; do
			f=$MNT2/$drv-$kind.img; mkrand "$f" $((4 * MiB))
			[ $kind != LZ ] || LZSUM[$drv]=$(sha "$f")
			d=$(attach_mode "$drv" dio "$f") || { diag "$drv $kind: $d"; d=; }
			[ -z "$d" ] || ALL_DEVS+=("$d")
			case $kind in TR) TR[$drv]=$d ;; DL) DL[$drv]=$d ;; LZ) LZ[$drv]=$d ;; esac
		done
	done
	# truncate to 1 MiB under both drivers
	for drv in aloop stock; do head -c $MiB "$MNT2/$drv-TR.img" >"$SCRATCH/$drv-tr-head"; done
	for drv in aloop stock; do truncate -s 1M "$MNT2/$drv-TR.img"; done
	for drv in aloop stock; do
		d=${TR[$drv]}; desc="$(drvname $drv): backing file truncated to 1 MiB: reads and writes past the end answer within 30 s, the first MiB reads back"
		[ -n "$d" ] || { fail "$desc" "no device"; continue; }
		p=()
		o=$(timeout 30 dd if="$d" of=/dev/null bs=64k iflag=direct 2>&1); r1=$?
		[ $r1 != 124 ] || p+=("full read still running after 30 s")
		o2=$(timeout 30 dd if="$SCRATCH/w1m" of="$d" bs=64k count=1 seek=48 oflag=direct conv=notrunc 2>&1); r2=$?
		[ $r2 != 124 ] || p+=("write at 3 MiB still running after 30 s")
		[ "$(tsha "$d" $MiB)" = "$(sha "$SCRATCH/$drv-tr-head")" ] || p+=("first MiB differs")
		[ $r1 = 0 ] && o=OK || o=$(errno_of "$o")
		[ $r2 = 0 ] && o2=OK || o2=$(errno_of "$o2")
		result "$desc (read: $o, write: $o2)" ${#p[@]} "${p[@]}"
	done
	# delete
	for drv in aloop stock; do rm -f "$MNT2/$drv-DL.img"; done
	for drv in aloop stock; do
		d=${DL[$drv]}; desc="$(drvname $drv): backing file deleted: I/O still works, 1 MiB written reads back"
		[ -n "$d" ] || { fail "$desc" "no device"; continue; }
		p=()
		timeout 30 dd if="$SCRATCH/w1m" of="$d" bs=64k oflag=direct conv=notrunc status=none 2>"$SCRATCH/err" || p+=("write: $(cat "$SCRATCH/err")")
		[ "$(tsha "$d" $MiB)" = "$(sha "$SCRATCH/w1m")" ] || p+=("read back differs")
		result "$desc" ${#p[@]} "${p[@]}"
	done
	# lazy unmount of the filesystem holding all of them
	umount -l "$MNT2"; lz=$?
	for drv in aloop stock; do
		d=${LZ[$drv]}; desc="$(drvname $drv): backing filesystem lazily unmounted: the device reads its file, a write reads back"
		[ -n "$d" ] || { fail "$desc" "no device"; continue; }
		p=()
		[ $lz = 0 ] || p+=("umount -l failed")
		[ "$(tsha "$d")" = "${LZSUM[$drv]}" ] || p+=("device does not read its file")
		timeout 30 dd if="$SCRATCH/w1m" of="$d" bs=64k oflag=direct conv=notrunc status=none 2>"$SCRATCH/err" || p+=("write: $(cat "$SCRATCH/err")")
		[ "$(tsha "$d" $MiB)" = "$(sha "$SCRATCH/w1m")" ] || p+=("read back differs")
		result "$desc" ${#p[@]} "${p[@]}"
	done
	for drv in aloop stock; do
		p=()
		for d in "${TR[$drv]}" "${DL[$drv]}" "${LZ[$drv]}"; do
			[ -n "$d" ] || { p+=("a device is missing"); continue; }
			o=$(timeout 20 "$ALO_IOCTL" clr-fd "$d" 2>&1)
			[ "$o" = OK ] && wait_for 15 _unbound "$d" || p+=("$d: clr-fd ${o:-timeout}, $(dev_state "$d")")
		done
		result "$(drvname $drv): the truncated, deleted and lazily unmounted backings all detach" ${#p[@]} "${p[@]}"
	done
	# nothing holds the lazily unmounted fs any more: its device can go
	p=()
	o=$(losetup -d "$SMALL_LOOP" 2>&1) || p+=("losetup -d: $o")
	wait_for 15 _unbound "$SMALL_LOOP" || p+=("$SMALL_LOOP still bound: the unmounted fs is still held")
	SMALL_LOOP=
	bad=$(klog_bad "$mark"); d=$(dstate_tasks)
	[ -z "$bad" ] || p+=("kernel log:" "$bad")
	[ -z "$d" ] || p+=("tasks in D state: $d")
	result "the lazily unmounted fs is released after the detaches; no task in D state, kernel log clean" ${#p[@]} "${p[@]}"
else
	skip_n 9 "cannot make the small ext4" "aloop trunc" "stock trunc" "aloop del" "stock del" \
		"aloop lazy" "stock lazy" "aloop detach" "stock detach" "release"
fi

# ================================================== allocation faults
DBG=$(debugfs_dir)
FS=$DBG/failslab FP=$DBG/fail_page_alloc
if [ ! -e "$FS"/probability ] || [ ! -e "$FP"/probability ] || [ ! -e /proc/self/make-it-fail ]; then
	why="kernel $(uname -r) lacks CONFIG_FAULT_INJECTION/CONFIG_FAILSLAB/CONFIG_FAIL_PAGE_ALLOC (no $FS, $FP or /proc/self/make-it-fail)"
	skip_n 5 "$why" "aloop configure under failslab" "stock configure under failslab" \
		"aloop I/O under failslab" "stock I/O under failslab" "unload, kmemleak"
	finish
fi

mark=$(klog_mark)
inject_on() {	# PROBABILITY
	local f
	for f in $FS $FP; do
		echo 1 >"$f/task-filter"; echo "$1" >"$f/probability"; echo 1 >"$f/interval"
		echo -1 >"$f/times"; echo 0 >"$f/space"; echo 0 >"$f/verbose"
		echo N >"$f/ignore-gfp-wait" 2>/dev/null
	done
	echo N >"$FP"/ignore-gfp-highmem 2>/dev/null; echo 0 >"$FP"/min-order 2>/dev/null
}
inject_off() { echo 0 >"$FS"/probability; echo 0 >"$FP"/probability; }
on_exit inject_off

# fi.py CTL PREFIX IDX FILE ROUNDS [WORKER-COMM...]: configure, I/O, clear
# with make-it-fail set on itself (and the named kernel threads)
cat >"$SCRATCH/fi.py" <<'EOF'
import errno, fcntl, mmap, os, struct, sys
ctl, prefix, idx, f, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
mode = sys.argv[6]
INFO64 = '<QQQQQIIII64s64s32sQQ'
res = {}
def note(k):
    res[k] = res.get(k, 0) + 1
def eno(ex):
    return errno.errorcode.get(ex.errno, str(ex.errno))
mif = open('/proc/self/make-it-fail', 'w')
def fail_on(v):
    mif.seek(0); mif.write('1' if v else '0'); mif.flush()
def workers(v):
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                with open('/proc/%s/comm' % p) as c:
                    if not c.read().startswith('%s%d-q' % (prefix, idx)):
                        continue
                with open('/proc/%s/make-it-fail' % p, 'w') as m:
                    m.write('1' if v else '0')
            except OSError:
                pass
buf = mmap.mmap(-1, 65536)
dev = '/dev/%s%d' % (prefix, idx)
bfd = os.open(f, os.O_RDWR)
cfd = os.open(ctl, os.O_RDWR)
for i in range(rounds):
    try:
        fcntl.ioctl(cfd, 0x4C80, idx)
    except OSError:
        pass
    try:
        d = os.open(dev, os.O_RDWR | os.O_DIRECT)
    except OSError as ex:
        note('open:' + eno(ex)); continue
    cfg = struct.pack('<II', bfd, 0) + struct.pack(INFO64, 0, 0, 0, 0, 0, 0, 0, 0, 16 if i % 2 else 0,
                                                  b'fi', b'', b'', 0, 0) + bytes(64)
    if mode == 'configure':
        fail_on(1)
    try:
        fcntl.ioctl(d, 0x4C0A, cfg)
        fail_on(0)
        note('configure:OK')
    except OSError as ex:
        fail_on(0)
        note('configure:' + eno(ex)); os.close(d); continue
    if mode == 'io':
        workers(1); fail_on(1)
    for j in range(8):
        try:
            os.pwritev(d, [buf], j * 65536); os.preadv(d, [buf], j * 65536); note('io:OK')
        except OSError as ex:
            note('io:' + eno(ex))
    fail_on(0); workers(0)
    try:
        fcntl.ioctl(d, 0x4C01, 0); note('clr:OK')
    except OSError as ex:
        note('clr:' + eno(ex))
    os.close(d)
print(' '.join('%s=%d' % kv for kv in sorted(res.items())))
EOF

# fault_run NAME CTL PREFIX IDX MODE: one result
fault_run() {
	local name=$1 ctl=$2 pfx=$3 idx=$4 mode=$5 f=$D/fi-$1-$5.img out p=() st
	truncate -s 8M "$f"
	inject_on 10
	run_bounded 180 "$SCRATCH/fi.out" "$PYTHON" "$SCRATCH/fi.py" "$ctl" "$pfx" "$idx" "$f" 40 "$mode"; rc=$?
	inject_off
	out=$(cat "$SCRATCH/fi.out")
	[ $rc = 0 ] || p+=("the run ended with exit $rc: $(tail -n 5 "$SCRATCH/fi.out")")
	st=$(dev_state "/dev/$pfx$idx")
	case $st in unbound|bound*) ;; *) p+=("device state afterwards: $st") ;; esac
	timeout 20 "$ALO_IOCTL" clr-fd "/dev/$pfx$idx" >/dev/null 2>&1
	wait_for 15 _unbound "/dev/$pfx$idx" || p+=("does not detach afterwards: $(dev_state "/dev/$pfx$idx")")
	[[ $out == *":E"* ]] || diag "$name $mode: no injected failure came back (${out:-no output})"
	result "$name: 40 rounds of configure + I/O + clear, failslab/fail_page_alloc aimed at $mode: answers come back, device consistent ($out)" \
		${#p[@]} "${p[@]}"
}
ioc ctl-add "$DUT_CTL" 40 >/dev/null; ioc ctl-add "$STOCK_CTL" 240 >/dev/null
wait_dev "$(dutdev 40)"; wait_dev "$(stockdev 240)"
fault_run "$DUT" "$DUT_CTL" "$DUT" 40 configure
fault_run "stock loop" "$STOCK_CTL" loop 240 configure
fault_run "$DUT" "$DUT_CTL" "$DUT" 40 io
fault_run "stock loop" "$STOCK_CTL" loop 240 io
ioc ctl-remove "$STOCK_CTL" 240 >/dev/null

p=()
dut_detach_all; udev_settle
o=$(mod_unload) || p+=("rmmod $DUT: $o")
if [ -w "$DBG"/kmemleak ]; then
	echo scan >"$DBG"/kmemleak; sleep 5; echo scan >"$DBG"/kmemleak
	leak=$(grep -B2 -A20 'unreferenced object' "$DBG"/kmemleak | grep -B12 -A12 -w "$DUT" | head -n 40)
	[ -z "$leak" ] || p+=("kmemleak:" "$leak")
else
	diag "no kmemleak in this kernel"
fi
bad=$(klog_bad "$mark"); d=$(dstate_tasks)
[ -z "$bad" ] || p+=("kernel log:" "$bad")
[ -z "$d" ] || p+=("tasks in D state: $d")
result "after the allocation faults $DUT unloads, kmemleak reports nothing of it, no task in D state, kernel log clean" ${#p[@]} "${p[@]}"
mod_load >/dev/null

finish
