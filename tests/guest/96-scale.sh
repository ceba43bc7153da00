#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: 256 devices at once; mixed block sizes fio verify on dio and buffered devices under memory pressure
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: fio stock-loop
# Stress: scale, on aloop and on stock loop as the control in the same boot.
#  - 256 devices attached at once (1 MiB sparse files, half with direct
#    I/O), 64 KiB written and read back on every one (O_DIRECT; the data
#    must also be in the backing file), all detached, all removed.
#  - fio with mixed block sizes (bsrange 512-1M, --direct=1, random
#    writes verified with crc32c) on a direct-I/O and a buffered device of
#    each driver at once, under memory pressure (stress-ng --vm when
#    installed, else a python3 process holding ~1.2 GiB).
# Each step checks tasks in D state and the kernel log since it began.
. "$(dirname "$0")/lib.sh"

plan 13

D=$(test_dir stress-scale)
NDEV=256

scale_cleanup() {
	[ -z "${HOG_PID:-}" ] || kill -KILL "$HOG_PID" 2>/dev/null
	for p in /sys/block/loop[3-5][0-9][0-9]; do
		[ -e "$p" ] || continue
		n=${p##*/loop}
		[ "$n" -ge 300 ] || continue
		timeout 10 "$ALO_IOCTL" clr-fd "/dev/loop$n"
		timeout 10 "$ALO_IOCTL" ctl-remove "$STOCK_CTL" "$n"
	done
	[ -z "${FIODEVS:-}" ] || for p in $FIODEVS; do timeout 10 "$ALO_IOCTL" clr-fd "$p"; done
}
on_exit scale_cleanup

cat >"$SCRATCH/scale.py" <<'EOF'
import errno, fcntl, mmap, os, struct, sys, time
ctl, prefix, base, count, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
INFO64 = '<QQQQQIIII64s64s32sQQ'
idx = range(base, base + count)
def dev(n):
    return '/dev/%s%d' % (prefix, n)
def img(n):
    return '%s/s%d.img' % (d, n)
def eno(ex):
    return errno.errorcode.get(ex.errno, str(ex.errno))
errs = []
cfd = os.open(ctl, os.O_RDWR)
def report(step, t0):
    print('%s_seconds=%.1f' % (step, time.monotonic() - t0))
    print('%s_errors=%d' % (step, len(errs)))
    for e in errs[:12]:
        print('%s_error: %s' % (step, e))
    del errs[:]
    sys.stdout.flush()

def bound(n):
    fd = os.open(dev(n), os.O_RDONLY)
    try:
        fcntl.ioctl(fd, 0x4C05, bytes(struct.calcsize(INFO64)))
        return True
    except OSError as ex:
        if ex.errno != errno.ENXIO:
            errs.append('%s get-status: %s' % (dev(n), eno(ex)))
        return False
    finally:
        os.close(fd)

t0 = time.monotonic()
if True:
    for n in idx:
        with open(img(n), 'wb') as f:
            f.truncate(1048576)
        try:
            fcntl.ioctl(cfd, 0x4C80, n)
        except OSError as ex:
            if ex.errno != errno.EEXIST:
                errs.append('add %d: %s' % (n, eno(ex)))
                continue
        for _ in range(200):
            if os.path.exists(dev(n)):
                break
            time.sleep(0.05)
        try:
            fd = os.open(dev(n), os.O_RDWR)
            bfd = os.open(img(n), os.O_RDWR)
            info = struct.pack(INFO64, 0, 0, 0, 0, 0, 0, 0, 0, 16 if n % 2 else 0, img(n).encode()[:63], b'', b'', 0, 0)
            fcntl.ioctl(fd, 0x4C0A, struct.pack('<II', bfd, 0) + info + bytes(64))
            os.close(bfd); os.close(fd)
        except OSError as ex:
            errs.append('configure %s: %s' % (dev(n), eno(ex)))
    nb = sum(1 for n in idx if bound(n))
    print('bound=%d' % nb)
    report('attach', t0)
t0 = time.monotonic()
if True:
    buf, rbuf = mmap.mmap(-1, 65536), mmap.mmap(-1, 65536)
    good = 0
    for n in idx:
        off = (n % 8) * 65536
        buf[:] = os.urandom(65536)
        try:
            fd = os.open(dev(n), os.O_RDWR | os.O_DIRECT)
            try:
                w = os.pwritev(fd, [buf], off)
                os.fsync(fd)
                r = os.preadv(fd, [rbuf], off)
            finally:
                os.close(fd)
        except OSError as ex:
            errs.append('%s I/O: %s' % (dev(n), eno(ex))); continue
        with open(img(n), 'rb') as f:
            f.seek(off); fdata = f.read(65536)
        if w != 65536 or r != 65536 or rbuf[:] != buf[:]:
            errs.append('%s: read back differs' % dev(n))
        elif fdata != buf[:]:
            errs.append('%s: data not in %s at %d' % (dev(n), img(n), off))
        else:
            good += 1
    print('good=%d' % good)
    report('io', t0)
t0 = time.monotonic()
if True:
    for n in idx:
        try:
            fd = os.open(dev(n), os.O_RDONLY)
            fcntl.ioctl(fd, 0x4C01, 0)
            os.close(fd)
        except OSError as ex:
            errs.append('clr-fd %s: %s' % (dev(n), eno(ex)))
    nb = sum(1 for n in idx if bound(n))
    removed = 0
    for n in idx:
        for _ in range(20):
            try:
                fcntl.ioctl(cfd, 0x4C81, n); removed += 1; break
            except OSError as ex:
                if ex.errno != errno.EBUSY:
                    errs.append('remove %d: %s' % (n, eno(ex))); break
                time.sleep(0.2)
        else:
            errs.append('remove %d: EBUSY for 4 s' % n)
        if os.path.exists(img(n)):
            os.unlink(img(n))
    print('still_bound=%d' % nb)
    print('removed=%d' % removed)
    report('detach', t0)
EOF

sv() { kv "$1" "$(cat "$SOUT")"; }
serr() { grep "^$1_error: " "$SOUT" | head -n 12; }

# scale_run NAME CTL PREFIX BASE: four results
scale_run() {
	local name=$1 mark rc
	SOUT=$SCRATCH/scale-$1.out
	mark=$(klog_mark)
	run_bounded 600 "$SOUT" "$PYTHON" "$SCRATCH/scale.py" "$2" "$3" "$4" "$NDEV" "$D"; rc=$?
	[ $rc = 0 ] || rc="$rc: $(tail -n 3 "$SOUT")"
	if [ "$(sv bound)" = $NDEV ] && [ "$(sv attach_errors)" = 0 ]; then
		ok "$name: $NDEV devices created and attached at once ($(sv attach_seconds) s)"
	else
		fail "$name: $NDEV devices created and attached at once" "exit $rc, bound $(sv bound)" "$(serr attach)"
	fi
	if [ "$(sv good)" = $NDEV ] && [ "$(sv io_errors)" = 0 ]; then
		ok "$name: 64 KiB written (O_DIRECT + fsync) and read back on all $NDEV, and found in each backing file ($(sv io_seconds) s)"
	else
		fail "$name: 64 KiB written and read back on all $NDEV devices" "exit $rc, good $(sv good)" "$(serr io)"
	fi
	if [ "$(sv still_bound)" = 0 ] && [ "$(sv removed)" = $NDEV ] && [ "$(sv detach_errors)" = 0 ]; then
		ok "$name: all $NDEV detached (LOOP_CLR_FD) and removed (LOOP_CTL_REMOVE) ($(sv detach_seconds) s)"
	else
		fail "$name: all $NDEV detached and removed" "exit $rc, still bound $(sv still_bound), removed $(sv removed)" "$(serr detach)"
	fi
	klog_clean_step "$name: no task in D state, kernel log clean since the $NDEV devices were created" "$mark"
}
scale_run "$DUT" "$DUT_CTL" "$DUT" 0
scale_run "stock loop" "$STOCK_CTL" loop 300

# =========================================== mixed block sizes, memory pressure
mark=$(klog_mark)
HOGMB=1200
cat >"$SCRATCH/hog.py" <<'EOF'
import mmap, sys, time
n = int(sys.argv[1]) << 20
try:
    with open('/proc/self/oom_score_adj', 'w') as f:
        f.write('1000')
except OSError:
    pass
m = mmap.mmap(-1, n)
mb = b'\1' * (1 << 20)
for i in range(0, n, 1 << 20):
    m[i:i + (1 << 20)] = mb
print('ready', flush=True)
k = 0
while True:
    k = (k + 1) & 255
    for i in range(0, n, 1 << 20):
        m[i] = k
    time.sleep(1)
EOF
if have stress-ng; then
	HOGWHAT="stress-ng --vm 1 --vm-bytes ${HOGMB}M --vm-keep"
	stress-ng --vm 1 --vm-bytes "${HOGMB}M" --vm-keep --timeout 600 >"$SCRATCH/hog.out" 2>&1 &
	HOG_PID=$!
	sleep 10
else
	HOGWHAT="python3 holding ${HOGMB} MiB"
	"$PYTHON" "$SCRATCH/hog.py" $HOGMB >"$SCRATCH/hog.out" 2>&1 &
	HOG_PID=$!
	_hog_ready() { grep -q ready "$SCRATCH/hog.out"; }
	wait_for 120 _hog_ready || diag "the memory hog is not ready after 120 s: $(tail -n 2 "$SCRATCH/hog.out")"
fi
memavail() { awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo; }
diag "memory pressure: $HOGWHAT; MemAvailable now $(memavail) MiB of $(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"

FIODEVS=
declare -A MB=()
for drv in aloop stock; do
	for mode in dio buf; do
		f=$D/fio-$drv-$mode.img; truncate -s 128M "$f"
		if [ $drv = stock ]; then d=$(stock_free); else
			o=$(ioc ctl-get-free "$DUT_CTL"); d=$(dutdev "${o#OK }"); wait_dev "$d"
		fi
		case $drv-$mode in
		*-dio) o=$(ioc1 configure "$d" "$f" --flags 16) ;;
		stock-buf) o=$(ioc1 configure "$d" "$f") ;;
		*) o=$(ioc configure "$d" "$f" --set-dio 0); o=$(ioc1_of "$o") ;;
		esac
		[ "$o" = OK ] || diag "$drv $mode: configure $d: $o"
		MB[$drv-$mode]=$d; FIODEVS="$FIODEVS $d"
	done
done
diag "devices: $DUT dio ${MB[aloop-dio]} (dio=$(dut_attr "${MB[aloop-dio]}" dio)), $DUT buffered ${MB[aloop-buf]} (dio=$(dut_attr "${MB[aloop-buf]}" dio)), stock dio ${MB[stock-dio]}, stock buffered ${MB[stock-buf]}"
FOUT=$SCRATCH/mixed.fio
fjob() { echo "--name=$1 --filename=$2"; }
# shellcheck disable=SC2046
run_bounded 400 "$FOUT" fio --rw=randwrite --bsrange=512-1m --direct=1 --ioengine=libaio --iodepth=8 \
	--size=64M --verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 \
	$(fjob aloop-dio "${MB[aloop-dio]}") $(fjob aloop-buf "${MB[aloop-buf]}") \
	$(fjob stock-dio "${MB[stock-dio]}") $(fjob stock-buf "${MB[stock-buf]}") &
FPID=$!
rss=0
while kill -0 "$FPID" 2>/dev/null; do
	r=$(awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$HOG_PID/status" 2>/dev/null)
	[ "${r:-0}" -le "$rss" ] || rss=$r
	sleep 2
done
wait "$FPID"; frc=$?
diag "fio exit $frc; the memory hog's largest resident size while fio ran: $rss MiB; MemAvailable now $(memavail) MiB"
jobres() {	# JOB: fio's error status line for the job
	grep -E "^$1: \(groupid" "$FOUT" | head -n 1
}
for drv in aloop stock; do
	for mode in dio buf; do
		j=$drv-$mode; l=$(jobres "$j")
		desc="$(if [ $drv = stock ]; then echo "stock loop"; else echo "$DUT"; fi) ($mode): fio randwrite bsrange 512-1M --direct=1 + verify crc32c (64 MiB) passes beside the other devices under memory pressure"
		if [[ $l == *"err= 0"* ]] && ! grep -qiE "verify failed|bad magic|bad header" "$FOUT"; then
			ok "$desc"
		else
			fail "$desc" "fio exit $frc; job: ${l:-no status line}" "$(grep -iE 'verify|err=|error' "$FOUT" | head -n 8)"
		fi
	done
done
kill -KILL "$HOG_PID" 2>/dev/null; wait "$HOG_PID" 2>/dev/null; HOG_PID=
p=()
for d in $FIODEVS; do
	o=$(timeout 20 "$ALO_IOCTL" clr-fd "$d" 2>&1)
	[ "$o" = OK ] || p+=("$d clr-fd: ${o:-timeout}")
done
FIODEVS=
bad=$(klog_bad "$mark"); dd=$(dstate_tasks)
[ -z "$bad" ] || p+=("kernel log:" "$bad")
[ -z "$dd" ] || p+=("tasks in D state: $dd")
[ "$rss" -ge $((HOGMB * 3 / 4)) ] || diag "note: the memory hog held only $rss MiB while fio ran"
result "mixed block sizes under memory pressure: all four devices detach, no task in D state, kernel log clean" ${#p[@]} "${p[@]}"

finish
