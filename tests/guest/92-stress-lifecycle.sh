#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: device lifecycle races (4 threads + sysfs readers), teardown under I/O, rmmod while busy
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: fio stock-loop
# Stress: the device lifecycle under concurrency, and teardown under I/O.
# Each scenario runs on aloop and, as the control, on stock loop in the
# same boot; afterwards the data, the devices' state, tasks in D state
# and the kernel log (no WARNING/BUG/Oops/hung task/KASAN/lockdep line
# since the step began) are checked.
#  1. Concurrent lifecycle: 4 workers cycle GET_FREE/ADD, CONFIGURE (dio
#     on and off, sometimes PARTSCAN), open + O_DIRECT write/read-back,
#     CLR_FD and REMOVE on devices 20-23 (stock: 220-223) for 20 s while
#     2 readers read every sysfs attribute and rescan the partitions
#     (BLKRRPART) of PARTSCAN devices.
#  3. Teardown under I/O: LOOP_CLR_FD while fio writes (deferred to the
#     last close; what fio wrote is then verified with fio --verify_only
#     on the file attached again), LOOP_CTL_REMOVE of an open device,
#     rmmod while bound or busy (refused), then detached (succeeds).
. "$(dirname "$0")/lib.sh"

plan 23

D=$(test_dir stress-lc)
LCSECS=20

lc_cleanup() {
	local p
	for p in ${LC_PIDS:-}; do kill -KILL "$p" 2>/dev/null; done
	exec 7<&- 8<&-
	[ -z "${FIO_PID:-}" ] || kill -KILL "$FIO_PID" 2>/dev/null
	for p in /sys/block/loop2[2-9][0-9]; do
		[ -e "$p" ] || continue
		timeout 10 "$ALO_IOCTL" clr-fd "/dev/${p##*/}"
		timeout 10 "$ALO_IOCTL" ctl-remove "$STOCK_CTL" "${p##*/loop}"
	done
	dut_loaded || mod_load >/dev/null 2>&1
	mod_is_loaded loop || modprobe loop
}
on_exit lc_cleanup

# ------------------------------------------------- the python workers
cat >"$SCRATCH/lc.py" <<'EOF'
import errno, fcntl, glob, mmap, os, random, struct, sys, time

LOOP_CLR_FD, LOOP_GET_STATUS64 = 0x4C01, 0x4C05
LOOP_SET_DIRECT_IO, LOOP_CONFIGURE = 0x4C08, 0x4C0A
LOOP_CTL_ADD, LOOP_CTL_REMOVE, LOOP_CTL_GET_FREE = 0x4C80, 0x4C81, 0x4C82
BLKRRPART = 0x125F
LO_FLAGS_PARTSCAN, LO_FLAGS_DIRECT_IO = 8, 16
INFO64 = '<QQQQQIIII64s64s32sQQ'

# lc.py CTL PREFIX LO HI SECS OUTPREFIX FILE...: forks 4 lifecycle workers
# and 2 readers; worker N writes OUTPREFIX-wN.out, the pids go to
# OUTPREFIX.pids
ctl, prefix, lo, hi, secs, outp = sys.argv[1:7]
lo, hi, secs = int(lo), int(hi), float(secs)
files = sys.argv[7:]
stats, unexpected, checks, bad = {}, [], 0, []

def note(op, e):
    k = '%s:%s' % (op, errno.errorcode.get(e, e) if e else 'OK')
    stats[k] = stats.get(k, 0) + 1

def call(op, allowed, fn, *a):
    """run fn; errno outside `allowed` is unexpected; returns (result, errno)"""
    try:
        r = fn(*a)
        note(op, 0)
        return r, 0
    except OSError as ex:
        note(op, ex.errno)
        if ex.errno not in allowed:
            unexpected.append('%s: %s' % (op, errno.errorcode.get(ex.errno, ex.errno)))
        return None, ex.errno

def dev(n):
    return '/dev/%s%d' % (prefix, n)

def ctl_ioctl(cmd, arg):
    fd = os.open(ctl, os.O_RDWR | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, cmd, arg)
    finally:
        os.close(fd)

GONE = (errno.ENOENT, errno.ENXIO, errno.ENODEV)

def configure(n, f, flags):
    fd = os.open(f, os.O_RDWR | os.O_CLOEXEC)
    try:
        d = os.open(dev(n), os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        os.close(fd)
        raise
    try:
        info = struct.pack(INFO64, 0, 0, 0, 0, 0, 0, 0, 0, flags,
                           f.encode()[:63], b'', b'', 0, 0)
        cfg = struct.pack('<II', fd, 0) + info + bytes(64)
        fcntl.ioctl(d, LOOP_CONFIGURE, cfg)
        if prefix == 'aloop' and not flags & LO_FLAGS_DIRECT_IO:
            # aloop uses dio by default: off means asking for it
            call('set-dio-0', (errno.ENXIO,), fcntl.ioctl, d, LOOP_SET_DIRECT_IO, 0)
    finally:
        os.close(d)
        os.close(fd)

buf = rbuf = None	# made after the fork: mmap(-1, n) is MAP_SHARED

def rw_check(n):
    """open, and if bound: O_DIRECT write + read back in this worker's own MiB"""
    global checks
    d = os.open(dev(n), os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)
    try:
        try:
            fcntl.ioctl(d, LOOP_GET_STATUS64, bytes(struct.calcsize(INFO64)))
        except OSError as ex:
            note('get-status', ex.errno)
            if ex.errno != errno.ENXIO:
                unexpected.append('get-status: %s' % errno.errorcode.get(ex.errno))
            return
        note('get-status', 0)
        off = (1 + wid) * 1048576 + rnd.randrange(16) * 65536
        pat = os.urandom(64)
        buf[:] = pat * 1024
        try:
            w = os.pwritev(d, [buf], off)
            r = os.preadv(d, [rbuf], off)
        except OSError as ex:
            bad.append('%s: I/O at %d on a bound device: %s' % (dev(n), off, errno.errorcode.get(ex.errno)))
            return
        checks += 1
        if w != 65536 or r != 65536 or rbuf[:] != buf[:]:
            bad.append('%s: read back at %d differs (wrote %d, read %d)' % (dev(n), off, w, r))
    finally:
        os.close(d)

def lifecycle():
    global buf, rbuf
    buf = mmap.mmap(-1, 65536, flags=mmap.MAP_PRIVATE)
    rbuf = mmap.mmap(-1, 65536, flags=mmap.MAP_PRIVATE)
    while time.monotonic() < end:
        n = rnd.randint(lo, hi)
        if rnd.random() < 0.3:
            r, e = call('get-free', (), ctl_ioctl, LOOP_CTL_GET_FREE, 0)
            if r is not None and lo <= r <= hi:
                n = r
        else:
            call('add', (errno.EEXIST,), ctl_ioctl, LOOP_CTL_ADD, n)
        flags = LO_FLAGS_DIRECT_IO if rnd.random() < 0.5 else 0
        if rnd.random() < 0.3:
            flags |= LO_FLAGS_PARTSCAN
        call('configure', (errno.EBUSY,) + GONE, configure, n, rnd.choice(files), flags)
        for _ in range(rnd.randint(0, 2)):
            call('open-rw', GONE, rw_check, rnd.randint(lo, hi))
        if rnd.random() < 0.7:
            def clr(n):
                d = os.open(dev(n), os.O_RDONLY | os.O_CLOEXEC)
                try:
                    fcntl.ioctl(d, LOOP_CLR_FD, 0)
                finally:
                    os.close(d)
            call('clr-fd', GONE, clr, rnd.randint(lo, hi))
        if rnd.random() < 0.4:
            call('remove', (errno.EBUSY, errno.ENODEV), ctl_ioctl, LOOP_CTL_REMOVE, rnd.randint(lo, hi))

def reader():
    drv = 'aloop' if prefix == 'aloop' else 'loop'
    while time.monotonic() < end:
        for d in glob.glob('/sys/block/%s[0-9]*' % prefix):
            for sub in ('', '/queue', '/' + drv):
                try:
                    names = os.listdir(d + sub)
                except OSError as ex:
                    note('listdir', ex.errno)
                    continue
                for a in names:
                    p = d + sub + '/' + a
                    try:
                        with open(p, 'rb') as fh:
                            fh.read(4096)
                        note('sysfs-read', 0)
                    except IsADirectoryError:
                        pass
                    except OSError as ex:
                        note('sysfs-read', ex.errno)
            try:
                with open(d + '/' + drv + '/partscan') as fh:
                    ps = fh.read().strip() == '1'
            except OSError:
                ps = False
            if ps:
                def rrpart(name):
                    fd = os.open('/dev/' + name, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        fcntl.ioctl(fd, BLKRRPART, 0)
                    finally:
                        os.close(fd)
                # any answer is fine (EBUSY, EINVAL, ENXIO...): no crash, no hang
                call('rereadpt', tuple(errno.errorcode), rrpart, os.path.basename(d))

end = time.monotonic() + secs
pids = []
for wid in range(6):
    pid = os.fork()
    if pid:
        pids.append(pid)
        continue
    role = 'lifecycle' if wid < 4 else 'reader'
    rnd = random.Random(1000 + wid)
    out = os.open('%s-w%d.out' % (outp, wid), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1); os.dup2(out, 2)
    sys.stdout = os.fdopen(1, 'w', buffering=1)
    try:
        if role == 'lifecycle':
            lifecycle()
        else:
            reader()
    except Exception as ex:
        print('crashed: %r' % ex)
    break
else:
    with open(outp + '.pids', 'w') as fh:
        fh.write(' '.join(map(str, pids)) + '\n')
    for pid in pids:
        os.waitpid(pid, 0)
    sys.exit(0)
print('role=%s worker=%d checks=%d' % (role, wid, checks))
print('stats=' + ','.join('%s=%d' % kv for kv in sorted(stats.items())))
for u in unexpected[:10]:
    print('unexpected: ' + u)
print('unexpected_n=%d' % len(unexpected))
for b in bad[:10]:
    print('bad: ' + b)
print('bad_n=%d' % len(bad))
sys.stdout.flush()
os._exit(0)
EOF

# Backing files: 8 MiB, an MBR with p1 (1-4 MiB) and p2 (4-8 MiB); the
# workers write in MiB 1-4, one MiB each.
LCFILES=()
for i in 0 1 2 3; do
	f=$D/lc$i.img; mkrand "$f" $((8 * MiB))
	printf 'label: dos\nstart=2048, size=6144, type=83\nstart=8192, size=8192, type=83\n' |
		sfdisk -q "$f" >/dev/null 2>&1
	LCFILES+=("$f")
done

sum_stats() {	# FILE...: the stats of all workers, summed, "op:errno=n" sorted by count
	sed -n 's/^stats=//p' "$@" | tr ',' '\n' | awk -F= 'NF == 2 { s[$1] += $2 }
		END { for (k in s) print s[k], k }' | sort -rn | awk '{ printf "%s=%s ", $2, $1 }'
}

# lifecycle_run NAME CTL PREFIX LO HI
lifecycle_run() {
	local name=$1 ctl=$2 pfx=$3 lo=$4 hi=$5 mark i pids=() left outs=() n rc
	local p=() bad unexp checks left_dev st
	mark=$(klog_mark)
	"$PYTHON" "$SCRATCH/lc.py" "$ctl" "$pfx" "$lo" "$hi" "$LCSECS" "$SCRATCH/lc-$name" \
		"${LCFILES[@]}" >"$SCRATCH/lc-$name.out" 2>&1 &
	pids=($!)
	for i in 0 1 2 3 4 5; do outs+=("$SCRATCH/lc-$name-w$i.out"); done
	LC_PIDS="${pids[*]}"
	left=$(wait_pids $((LCSECS + 90)) "${pids[@]}")
	if [ -n "$left" ]; then	# the workers too
		wp=(); read -r -a wp <"$SCRATCH/lc-$name.pids" 2>/dev/null
		for i in "${wp[@]}"; do kill -KILL "$i" 2>/dev/null; done
	fi
	LC_PIDS=
	wait "${pids[0]}" 2>/dev/null; rc=$?
	for i in "${!outs[@]}"; do
		grep -q '^bad_n=' "${outs[$i]}" 2>/dev/null ||
			p+=("worker $i did not finish: $(tail -n 3 "${outs[$i]}" 2>&1)")
	done
	[ $rc = 0 ] || p+=("lc.py exit $rc: $(tail -n 3 "$SCRATCH/lc-$name.out")")
	[ -z "$left" ] || p+=("still running after $((LCSECS + 90)) s (killed)")
	result "$name: 4 lifecycle workers and 2 sysfs/BLKRRPART readers ran ${LCSECS} s and stopped by themselves" \
		${#p[@]} "${p[@]}"
	diag "$name operations: $(sum_stats "${outs[@]}")"

	unexp=$(awk -F= '/^unexpected_n=/ { s += $2 } END { print s + 0 }' "${outs[@]}")
	if [ "$unexp" = 0 ]; then
		ok "$name: every lifecycle call answered OK or an expected errno (EEXIST/EBUSY/ENXIO/ENODEV/ENOENT)"
	else
		fail "$name: every lifecycle call answered OK or an expected errno" "$unexp unexpected:" \
			"$(grep -h '^unexpected: ' "${outs[@]}" | sort | uniq -c | head -n 15)"
	fi

	bad=$(awk -F= '/^bad_n=/ { s += $2 } END { print s + 0 }' "${outs[@]}")
	checks=$(awk '/^role=lifecycle/ { sub("checks=", "", $3); s += $3 } END { print s + 0 }' "${outs[@]}")
	if [ "$bad" = 0 ] && [ "$checks" -gt 0 ]; then
		ok "$name: 64 KiB written with O_DIRECT through an open bound device reads back the same ($checks checks)"
	else
		fail "$name: 64 KiB written with O_DIRECT through an open bound device reads back the same" \
			"$checks checks, $bad bad:" "$(grep -h '^bad: ' "${outs[@]}" | head -n 10)"
	fi

	# every device detaches and is removed
	p=()
	udev_settle
	for st in /sys/block/"$pfx"[0-9]*; do
		[ -e "$st" ] || continue
		n=${st##*/"$pfx"}
		{ [ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ]; } || [ "$pfx" = "$DUT" ] || continue
		o=$(timeout 20 "$ALO_IOCTL" clr-fd "/dev/$pfx$n" 2>&1)
		case ${o%% *} in OK|ENXIO) ;; *) p+=("clr-fd $pfx$n: $o") ;; esac
	done
	for st in /sys/block/"$pfx"[0-9]*; do
		[ -e "$st" ] || continue
		n=${st##*/"$pfx"}
		{ [ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ]; } || [ "$pfx" = "$DUT" ] || continue
		for i in 1 2 3 4 5 6 7 8 9 10; do
			o=$(timeout 20 "$ALO_IOCTL" ctl-remove "$ctl" "$n" 2>&1)
			[ "$o" = EBUSY ] || break
			sleep 0.5
		done
		[ "${o%% *}" = OK ] || p+=("ctl-remove $n: $o ($(dev_state "/dev/$pfx$n"))")
	done
	left_dev=$(cd /sys/block && for st in "$pfx"[0-9]*; do
		[ -e "$st" ] || continue; n=${st#"$pfx"}
		{ [ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ]; } || [ "$pfx" = "$DUT" ] && echo "$st"; done)
	[ -z "$left_dev" ] || p+=("left: $left_dev")
	result "$name: afterwards every device detaches (CLR_FD OK/ENXIO) and LOOP_CTL_REMOVE removes it" ${#p[@]} "${p[@]}"

	klog_clean_step "$name: no task in D state, kernel log clean since the lifecycle run began" "$mark"
}

lifecycle_run "$DUT" "$DUT_CTL" "$DUT" 20 23
lifecycle_run "stock loop" "$STOCK_CTL" loop 220 223

# ------------------------------------------------ teardown under I/O
F=$D/td.img; SF=$D/td-stock.img
truncate -s 64M "$F" "$SF"
TD_MARK=$(klog_mark)

# fio_td DEV OUT: random writes with crc32c headers, in the background
# (no verify phase: fio would close and reopen the device for it, and a
# pending clear takes effect at that close); fio_vo DEV OUT checks what
# such a run wrote (--verify_only, same offsets: --randrepeat=1)
FIO_TD=(--name=td --rw=randwrite --bs=16k --iodepth=16 --ioengine=libaio --direct=1 --size=64M
	--verify=crc32c --verify_fatal=1 --randrepeat=1)
fio_td() {	# at 8 MiB/s: 8 s, however fast the machine
	fio "${FIO_TD[@]}" --filename="$1" --do_verify=0 --rate=8m >"$2" 2>&1 &
	FIO_PID=$!
}
fio_vo() { run_bounded 150 "$2" fio "${FIO_TD[@]}" --filename="$1" --verify_only=1; }
fio_ok() {	# OUT: fio's output says the job ran without an error
	grep -q 'err= 0' "$1" && ! grep -qiE 'verify failed|bad magic|crc32c: verify' "$1"
}
_unbound() { [ "$(dev_state "$1")" = unbound ]; }
# fio_started DEV: wait until writes are in flight on DEV (at most 60 s)
_inflight_w() {
	local w
	read -r _ w 2>/dev/null <"/sys/block/${1##*/}/inflight" || return 1
	[ "${w:-0}" -gt 0 ]
}
fio_started() {
	local t=600
	while ! _inflight_w "$1"; do
		t=$((t - 1)); [ $t -gt 0 ] || return 1
		sleep 0.1
	done
}

# clr_under_fio NAME DEV FILE [CONFIGURE-OPTIONS]: LOOP_CLR_FD while fio
# writes; the device unbinds at fio's last close; FILE attached again
# holds everything fio wrote (fio --verify_only)
clr_under_fio() {
	local name=$1 dev=$2 f=$3 out=$SCRATCH/td-$1.fio vout=$SCRATCH/td-$1.vfio o st left mark rc p=()
	shift 3
	mark=$(klog_mark)
	fio_td "$dev" "$out"
	fio_started "$dev" || diag "$name: no write in flight 60 s after fio started"
	sleep 1
	o=$(ioc clr-fd "$dev"); st=$(dev_state "$dev")
	if grep -q 'Run status' "$out"; then
		fail "$name: LOOP_CLR_FD while fio writes: OK, the device stays bound while open" \
			"fio had already finished its I/O when LOOP_CLR_FD was issued (test too short)" "$(tail -n 5 "$out")"
	elif [ "$o" = OK ] && [ "${st%% *}" = bound ] && kill -0 "$FIO_PID" 2>/dev/null; then
		ok "$name: LOOP_CLR_FD while fio writes: OK, the device stays bound while open"
	else
		fail "$name: LOOP_CLR_FD while fio writes: OK, the device stays bound while open" \
			"clr-fd: $o, state: $st, fio running: $(kill -0 "$FIO_PID" 2>/dev/null && echo yes || echo no)" \
			"$(tail -n 5 "$out")"
	fi
	left=$(wait_pids 150 "$FIO_PID"); wait "$FIO_PID" 2>/dev/null; rc=$?; FIO_PID=
	if wait_for 15 _unbound "$dev"; then
		ok "$name: the device unbinds at fio's last close"
	else
		fail "$name: the device unbinds at fio's last close" "state: $(dev_state "$dev")"
	fi
	[ -z "$left" ] && [ $rc = 0 ] && fio_ok "$out" ||
		p+=("fio exit $rc${left:+, killed after 150 s}: $(grep -iE 'err|fail' "$out" | head -n 6)")
	o=$(ioc1 configure "$dev" "$f" "$@")
	if [ "$o" = OK ]; then
		fio_vo "$dev" "$vout"; rc=$?
		[ $rc = 0 ] && fio_ok "$vout" ||
			p+=("verify-only after attaching $f again: exit $rc: $(grep -iE 'err|verify|fail' "$vout" | head -n 6)")
		timeout 20 "$ALO_IOCTL" clr-fd "$dev" >/dev/null 2>&1
		wait_for 15 _unbound "$dev"
	else
		p+=("cannot attach $f again: $o")
	fi
	result "$name: fio's 64 MiB of random writes complete without an error and are all in the file (crc32c verify-only)" \
		${#p[@]} "${p[@]}"
}
o=$(ioc ctl-add "$DUT_CTL" 30); wait_dev "$(dutdev 30)"
if [ "$(ioc1 configure "$(dutdev 30)" "$F")" = OK ]; then
	clr_under_fio "$DUT" "$(dutdev 30)" "$F"
else
	fail "$DUT: LOOP_CLR_FD while fio writes" "cannot bind $(dutdev 30) ($o)"; skip_n 2 "no device" "unbind" "data"
fi
SDEV=$(stock_free)
if [ -n "$SDEV" ] && [ "$(ioc1 configure "$SDEV" "$SF" --flags 16)" = OK ]; then
	clr_under_fio "stock loop" "$SDEV" "$SF" --flags 16
else
	fail "stock loop: LOOP_CLR_FD while fio writes" "cannot bind a stock device"; skip_n 2 "no device" "unbind" "data"
fi

# LOOP_CTL_REMOVE of an open (bound) device
ioc ctl-add "$STOCK_CTL" 230 >/dev/null; wait_dev "$(stockdev 230)"; wait_dev "$(dutdev 30)"
ca=$(ioc1 configure "$(dutdev 30)" "$F"); cb=$(ioc1 configure "$(stockdev 230)" "$SF")
exec 7<"$(dutdev 30)" 8<"$(stockdev 230)"
expect_like_stock "LOOP_CTL_REMOVE of an open, bound device (configure: $ca/$cb)" EBUSY \
	"ctl-remove $DUT_CTL 30" "ctl-remove $STOCK_CTL 230"
ioc clr-fd "$(dutdev 30)" >/dev/null; ioc clr-fd "$(stockdev 230)" >/dev/null
expect_like_stock "LOOP_CTL_REMOVE of an open device after LOOP_CLR_FD (clear deferred)" EBUSY \
	"ctl-remove $DUT_CTL 30" "ctl-remove $STOCK_CTL 230"
exec 7<&- 8<&-
wait_for 10 _unbound "$(dutdev 30)"; wait_for 10 _unbound "$(stockdev 230)"
udev_settle
expect_like_stock "LOOP_CTL_REMOVE once closed and unbound" OK \
	"ctl-remove $DUT_CTL 30" "ctl-remove $STOCK_CTL 230"

# rmmod while bound, while busy, and after detach
ioc ctl-add "$DUT_CTL" 31 >/dev/null; wait_dev "$(dutdev 31)"
ca=$(ioc1 configure "$(dutdev 31)" "$F")
o1=$(rmmod aloop 2>&1); r1=$?
fio_td "$(dutdev 31)" "$SCRATCH/td-rmmod.fio"
fio_started "$(dutdev 31)"
o2=$(rmmod aloop 2>&1); r2=$?
st=$(dev_state "$(dutdev 31)")
if [ "$ca" = OK ] && [ $r1 != 0 ] && [ $r2 != 0 ] && dut_loaded && [ "${st%% *}" = bound ]; then
	ok "rmmod aloop refused while a device is bound ('$o1') and while fio writes to it; still bound"
else
	fail "rmmod aloop refused while a device is bound and while fio writes to it" \
		"configure: $ca" "idle: exit $r1: $o1" "busy: exit $r2: $o2" "state: $st, loaded: $(dut_loaded && echo yes || echo no)"
fi
ioc clr-fd "$(dutdev 31)" >/dev/null
left=$(wait_pids 150 "$FIO_PID"); wait "$FIO_PID" 2>/dev/null; rc=$?; FIO_PID=
wait_for 15 _unbound "$(dutdev 31)"
udev_settle
o3=$(rmmod aloop 2>&1); r3=$?
o4=$(mod_load); r4=$?
p=()
[ -z "$left" ] && [ $rc = 0 ] && fio_ok "$SCRATCH/td-rmmod.fio" || p+=("fio exit $rc${left:+ (killed)}: $(grep -iE 'err|fail' "$SCRATCH/td-rmmod.fio" | head -n 3)")
[ $r3 = 0 ] || p+=("rmmod after detach: exit $r3: $o3")
[ $r4 = 0 ] || p+=("reload: $o4")
if [ $r4 = 0 ]; then
	d=$(attach_dev "$F") && [ "$(sha_dev "$d" $MiB)" = "$(sha_range "$F" 0 $MiB)" ] || p+=("attach/read after reload: $d")
	ioc clr-fd "$d" >/dev/null 2>&1
fi
result "after detach (fio's writes completed) rmmod aloop succeeds; reloaded, a device attaches and reads" ${#p[@]} "${p[@]}"

# stock loop as the control: rmmod loop while bound, then after detach
SDEV=$(stock_free)
ca=$(ioc1 configure "$SDEV" "$SF")
o1=$(rmmod loop 2>&1); r1=$?
ioc clr-fd "$SDEV" >/dev/null
wait_for 10 _unbound "$SDEV"
udev_settle
for p in /sys/block/loop2[2-9][0-9]; do	# our extra stock devices
	[ -e "$p" ] && ioc ctl-remove "$STOCK_CTL" "${p##*/loop}" >/dev/null
done
o2=$(rmmod loop 2>&1); r2=$?
modprobe loop; stock_load
if [ "$ca" = OK ] && [ $r1 != 0 ] && [ $r2 = 0 ] && mod_is_loaded loop; then
	ok "stock loop: rmmod refused while bound ('$o1'), succeeds after detach; reloaded"
elif [ "$ca" = OK ] && [ $r1 != 0 ] && [ $r2 != 0 ]; then
	fail "stock loop: rmmod refused while bound, succeeds after detach" "after detach: $o2 (in use: $(lsmod | awk '$1 == "loop"'))"
else
	fail "stock loop: rmmod refused while bound, succeeds after detach" "configure: $ca" "bound: exit $r1: $o1" "after detach: exit $r2: $o2"
fi
klog_clean_step "teardown steps: no task in D state, kernel log clean" "$TD_MARK"

finish
