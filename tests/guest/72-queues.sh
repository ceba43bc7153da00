#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: queue count, one aloopN-qM worker per queue, batching, counters, fio verify with 1 and 2 queues
# aloop-timeout: 600
# aloop-driver: any
# aloop-needs: fio stock-loop
# Hardware queues (issue 11, parts 2, 3 and 5): ALOOP_CONFIGURE with a
# queue count (1, 2, 4, 64; 0 and plain LOOP_CONFIGURE take the module
# parameter; above ALOOP_MAX_QUEUES, a wrong size or non-zero reserved
# fields are EINVAL), the effective count (clamped to the CPUs) in sysfs
# and ALOOP_GET_INFO, one aloopN-qM kthread per queue while bound and
# none after; fio verify with 1 and 2 queues, dio and buffered (stock
# loop as the control); batching (fewer worker wake-ups than requests);
# the counters of ALOOP_GET_INFO equal sysfs; idle workers sleep in S,
# not D; dependent writes to one
# block read back the last one (stock loop as the control).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

plan 28

NOTDUT="queues are an aloop extension (DUT=$DUT)"
QPARAM=/sys/module/aloop/parameters/queues
queues_cleanup() {
	local d
	for d in /sys/block/"$DUT"[0-9]*; do
		[ -e "$d" ] && timeout 10 "$ALO_IOCTL" clr-fd "/dev/${d##*/}"
	done
	[ "$DUT" = loop ] || timeout 20 losetup -D
	[ ! -w "$QPARAM" ] || echo 0 >"$QPARAM"
}
on_exit queues_cleanup
D=$(test_dir queues)
NCPU=$(nproc)
diag "$NCPU online CPUs (possible: $(cat /sys/devices/system/cpu/possible))"

# --------------------------------------------------------------- helpers
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
# qthreads DEV: the aloopN-qM kthreads of DEV, sorted, on one line
qthreads() {
	local n; n=$(devnum "$1")
	# shellcheck disable=SC2009 # pgrep lists pids; the names are wanted here
	ps -eo comm= | grep -E "^$DUT$n-q[0-9]+\$" | sort -V | tr '\n' ' ' | sed 's/ $//'
}
# want_threads DEV K: "aloopN-q0 ... aloopN-q(K-1)"
want_threads() {
	local n i s=; n=$(devnum "$1")
	for ((i = 0; i < $2; i++)); do s+="$DUT$n-q$i "; done
	echo "${s% }"
}
_no_qthreads() { [ -z "$(qthreads "$1")" ]; }
# pid_of COMM: pid of the (kernel) thread named COMM
pid_of() { ps -eo pid=,comm= | awk -v c="$1" '$2 == c {print $1; exit}'; }
# reads_back DATA DEV SKIP: DATA (1 MiB) is on DEV at SKIP 64 KiB blocks
reads_back() { cmp -s "$1" <(dd if="$2" bs=64k skip="$3" count=16 iflag=direct status=none); }
vcsw() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/status" 2>/dev/null; }
sysdio() {	# DEV: its dio attribute (aloop or stock loop)
	local n; n=$(devname "$1")
	cat "/sys/block/$n/${n%%[0-9]*}/dio" 2>/dev/null
}

DETACH_PROBS=()
# detach DEV: unbind; no aloopN-qM kthread may remain, queues reads 0
detach() {
	local dev=$1 o
	o=$(ioc1 clr-fd "$dev")
	[ "$o" = OK ] || DETACH_PROBS+=("clr-fd $dev: $o")
	[ "$DUT" = loop ] && return
	wait_for 10 _no_qthreads "$dev" || DETACH_PROBS+=("$dev: kthreads left after detach: $(qthreads "$dev")")
	[ "$(dut_attr "$dev" queues)" = 0 ] || DETACH_PROBS+=("$dev: sysfs queues '$(dut_attr "$dev" queues)' when unbound")
}

F=$D/q.img
mkrand "$F" $((32 * MiB))

# cfg_check DESC EXPECTED-QUEUES HELPER-CONFIGURE-OPTS...: bind a free
# device with alo-ioctl configure, check sysfs queues, GET_INFO nr_queues
# and the kthreads, detach.
cfg_check() {
	local d=$1 exp=$2 dev o info got thr; shift 2
	dev=$(free_dev) || { fail "$d" "$dev"; return; }
	o=$(ioc configure "$dev" "$F" "$@")
	if [ "$(ioc1_of "$o")" != OK ]; then
		fail "$d" "configure $dev $*: $o"; return
	fi
	dut_wake_workers "$dev"
	info=$(ioc info "$dev")
	got="sysfs queues=$(dut_attr "$dev" queues) info nr_queues=$(kv nr_queues "$info") threads: $(qthreads "$dev")"
	thr=$(want_threads "$dev" "$exp")
	check_eq "$d" "sysfs queues=$exp info nr_queues=$exp threads: $thr" "$got"
	detach "$dev"
}

# ------------------------------------------------ queue count and kthreads
if [ "$DUT" = aloop ]; then
	# queues=0 (the default): one per CPU, at most 4 (ALOOP_AUTO_QUEUES)
	AUTO=$(min "$NCPU" 4)
	cfg_check "LOOP_CONFIGURE (no count): module default, one queue per CPU at most 4 ($AUTO), kthreads q0..q$((AUTO - 1))" "$AUTO"
	for n in 1 2 4 64; do
		e=$(min "$n" "$NCPU")
		cfg_check "ALOOP_CONFIGURE --queues $n: $e queue(s) (min($n, $NCPU CPUs)), kthreads q0..q$((e - 1))" "$e" --queues "$n"
	done
	cfg_check "ALOOP_CONFIGURE --queues 0: the module default ($AUTO)" "$AUTO" --queues 0
	if [ -w "$QPARAM" ] && echo 2 >"$QPARAM"; then
		e=$(min 2 "$NCPU")
		dev=$(free_dev)
		o1=$(ioc configure "$dev" "$F" --queues 0)
		dut_wake_workers "$dev"
		g1="$(dut_attr "$dev" queues) $(qthreads "$dev")"; detach "$dev"
		o2=$(ioc configure "$dev" "$F")
		dut_wake_workers "$dev"
		g2="$(dut_attr "$dev" queues) $(qthreads "$dev")"; detach "$dev"
		echo 0 >"$QPARAM"
		w="$e $(want_threads "$dev" "$e")"
		check_eq "module parameter queues=2: --queues 0 and plain LOOP_CONFIGURE both get $e queues" \
			"OK: $w / OK: $w" "$(ioc1_of "$o1"): $g1 / $(ioc1_of "$o2"): $g2"
	else
		fail "module parameter queues=2: --queues 0 and plain LOOP_CONFIGURE follow it" "$QPARAM not writable"
	fi
	dev=$(free_dev)
	for n in 65 200; do
		o=$(ioc configure "$dev" "$F" --queues "$n")
		check_eq "ALOOP_CONFIGURE --queues $n (> ALOOP_MAX_QUEUES 64): EINVAL, device stays unbound" \
			"EINVAL unbound" "$(ioc1_of "$o") $(dev_state "$dev")"
		[ "$(dev_state "$dev")" = unbound ] || detach "$dev"
	done
	o=$(ioc configure-ext-raw "$dev" "$F" --size 8)
	o2=$(ioc configure-ext-raw "$dev" "$F" --size 4096)
	check_eq "ALOOP_CONFIGURE with size 8 or 4096 (not sizeof): EINVAL, unbound" \
		"EINVAL EINVAL unbound" "$(ioc1_of "$o") $(ioc1_of "$o2") $(dev_state "$dev")"
	[ "$(dev_state "$dev")" = unbound ] || detach "$dev"
	o=$(ioc configure-ext-raw "$dev" "$F" --queues 1 --reserved-nonzero)
	check_eq "ALOOP_CONFIGURE with reserved[0] != 0: EINVAL, unbound" \
		"EINVAL unbound" "$(ioc1_of "$o") $(dev_state "$dev")"
	[ "$(dev_state "$dev")" = unbound ] || detach "$dev"
	# An idle bound device's workers sleep interruptibly (S), never in
	# D: a kernel thread left unwoken after creation waits in D until
	# its first work, and the hung-task detector reported idle devices'
	# workers on 7.3 (68-cgroups' kernel log, session 6).
	dev=$(free_dev)
	o=$(ioc configure "$dev" "$F" --queues 2)
	dut_wake_workers "$dev"
	sleep 1
	st=
	for c in $(qthreads "$dev"); do
		p=$(pid_of "$c")
		st+="$c:$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) "
	done
	st=${st% }
	detach "$dev"
	w=$(want_threads "$dev" "$(min 2 "$NCPU")" | sed 's/\([^ ]*\)/\1:S/g')
	check_eq "an idle bound device's workers sleep in S, not D" \
		"OK $w" "$(ioc1_of "$o") $st"
	# Workers live while there is work (issue 22: an idle device costs
	# no thread): started by a queue's first request, stopped after
	# worker_idle_ms without one, started again by the next.
	# (5 s: one fork of dd takes ~0.3 s under TCG, 4x that on the debug
	# kernel, and the threads are looked for after a read on each CPU)
	d="worker_idle_ms=5000: idle workers exit, the next requests start new ones (worker_starts), data written then reads back"
	IDLEP=/sys/module/$DUT/parameters/worker_idle_ms
	if [ -w "$IDLEP" ]; then
		old=$(cat "$IDLEP"); echo 5000 >"$IDLEP"
		p=() dev=$(free_dev)
		o=$(ioc configure "$dev" "$F" --queues 2)
		[ "$(ioc1_of "$o")" = OK ] || p+=("configure: $o")
		w=$(want_threads "$dev" "$(min 2 "$NCPU")")
		dut_wake_workers "$dev"
		t=$(qthreads "$dev") s1=$(dut_attr "$dev" worker_starts)
		[ "$t" = "$w" ] || p+=("after a read on every CPU: threads '$t', want '$w'")
		wait_for 20 _no_qthreads "$dev" || p+=("idle for 20 s: threads '$(qthreads "$dev")' still there")
		data=$D/idle.data; mkrand "$data" $MiB
		dd if="$data" of="$dev" bs=64k seek=16 oflag=direct conv=fsync status=none 2>/dev/null ||
			p+=("write after the workers exited failed")
		dut_wake_workers "$dev"
		t=$(qthreads "$dev") s2=$(dut_attr "$dev" worker_starts)
		[ "$t" = "$w" ] || p+=("after new requests: threads '$t', want '$w'")
		[ "$((s2 - s1))" -ge "$(min 2 "$NCPU")" ] || p+=("worker_starts $s1 -> $s2")
		reads_back "$data" "$dev" 16 ||
			p+=("1 MiB written through restarted workers reads back different")
		echo "$old" >"$IDLEP"
		detach "$dev"
		result "$d" ${#p[@]} "${p[@]}"
	else
		fail "$d" "$IDLEP not writable"
	fi
	# No thread can be created (debugfs aloop/fail_worker_start fails
	# the next N): start_work serves the queue itself, blocking, and the
	# next request after that tries again.
	d="no queue worker can be created: the queue is served from a work item, data intact; then workers start again"
	FI=$(debugfs_dir)/$DUT/fail_worker_start
	if [ -w "$FI" ] && [ -w "$IDLEP" ]; then
		old=$(cat "$IDLEP"); echo 5000 >"$IDLEP"
		p=() dev=$(free_dev) name=$(devname "$dev")
		o=$(ioc configure "$dev" "$F" --queues 2)
		[ "$(ioc1_of "$o") $(sysdio "$dev")" = "OK 1" ] || p+=("configure: $o, dio $(sysdio "$dev")")
		# udev's probe may have started workers: let them exit first
		udevadm settle -t 10 2>/dev/null
		wait_for 20 _no_qthreads "$dev" || p+=("idle for 20 s: threads '$(qthreads "$dev")' still there")
		echo 1000 >"$FI"
		s1=$(dut_attr "$dev" worker_starts)
		data=$D/nothread.data; mkrand "$data" $MiB
		dd if="$data" of="$dev" bs=64k seek=32 oflag=direct conv=fsync status=none 2>/dev/null ||
			p+=("direct write with no worker failed")
		dd if="$data" of="$dev" bs=64k seek=48 conv=fsync status=none 2>/dev/null ||
			p+=("buffered write with no worker failed")
		dut_wake_workers "$dev"
		t=$(qthreads "$dev") s2=$(dut_attr "$dev" worker_starts) left=$(cat "$FI")
		[ -z "$t" ] || p+=("threads '$t' while none can be created")
		[ "$s2" = "$s1" ] || p+=("worker_starts $s1 -> $s2 while none can be created")
		[ "$left" -lt 1000 ] || p+=("the hook was never reached (still $left)")
		dmesg | grep -q "$name: no queue worker (-12): served from a work item" ||
			p+=("no 'no queue worker' line in the kernel log")
		reads_back "$data" "$dev" 32 ||
			p+=("1 MiB written (dio) with no worker reads back different")
		echo 0 >"$FI"
		dut_wake_workers "$dev"
		w=$(want_threads "$dev" "$(min 2 "$NCPU")")
		t=$(qthreads "$dev")
		[ "$t" = "$w" ] || p+=("hook cleared: threads '$t', want '$w'")
		echo 3 >/proc/sys/vm/drop_caches
		reads_back "$data" "$dev" 48 ||
			p+=("1 MiB written (buffered) with no worker reads back different through workers")
		echo "$old" >"$IDLEP"
		detach "$dev"
		result "$d" ${#p[@]} "${p[@]}"
	else
		skip "$d" "no $FI (debugfs not mounted or not built in) or $IDLEP not writable"
	fi
else
	skip_n 14 "$NOTDUT" "default" "--queues 1" "--queues 2" "--queues 4" "--queues 64" \
		"--queues 0" "module parameter" "--queues 65" "--queues 200" "size" "reserved" "idle workers" \
		"worker_idle_ms" "no worker"
fi

# --------------------------------------------------------------- fio verify
FIO_VERIFY=(--rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 --direct=1
	--numjobs=2 --size=16M --offset_increment=16M --verify=crc32c --do_verify=1
	--verify_fatal=1 --cpus_allowed="0-$((NCPU - 1))" --cpus_allowed_policy=split
	--group_reporting --output-format=terse)

# bind DEV FILE DIO [CONFIGURE-OPTS...]: configure, then dio on/off; checks it
bind() {
	local dev=$1 f=$2 dio=$3 o; shift 3
	o=$(ioc configure "$dev" "$f" --set-dio "$dio" "$@")
	if [ "$(ioc1_of "$o")" != OK ] || [ "$(kv set_dio "$o")" != OK ]; then
		echo "configure $dev $f --set-dio $dio $*: $o"; return 1
	fi
	[ "$(sysdio "$dev")" = "$dio" ] || { echo "$dev: dio is '$(sysdio "$dev")', wanted $dio"; return 1; }
}

mode_of() { if [ "$1" = 1 ]; then echo dio; else echo buffered; fi; }

# aloop_verify Q DIO: fio verify through a Q-queue aloop device
aloop_verify() {
	local q=$1 dio=$2 d dev o before after i p c c1 n0 probs=() k
	local -A c0=()
	d="fio verify (randwrite 4k libaio QD16, 2 jobs, 32 MiB, crc32c): aloop $q queue(s), $(mode_of "$dio")"
	if [ "$DUT" != aloop ]; then skip "$d" "$NOTDUT"; return; fi
	dev=$(free_dev) && o=$(bind "$dev" "$F" "$dio" --queues "$q") || { fail "$d" "$dev $o"; return; }
	before=$(ioc info "$dev")
	k=$(dut_attr "$dev" queues)
	dut_wake_workers "$dev"
	for ((i = 0; i < k; i++)); do
		p=$(pid_of "$DUT$(devnum "$dev")-q$i"); c0[$i]="$p $(vcsw "$p")"
	done
	o=$(fio --name=v --filename="$dev" "${FIO_VERIFY[@]}" 2>&1) || probs+=("fio failed: $o")
	after=$(ioc info "$dev")
	if [ "$dio" = 1 ]; then c=reqs_dio; else c=reqs_buffered; fi
	[ "$(( $(kv "$c" "$after") - $(kv "$c" "$before") ))" -ge 8192 ] ||
		probs+=("$c grew by only $(( $(kv "$c" "$after") - $(kv "$c" "$before") )) (>= 8192 4k writes expected)")
	[ "$(kv errors "$after")" = 0 ] || probs+=("errors=$(kv errors "$after")")
	result "$d" ${#probs[@]} "${probs[@]}"
	if [ "$q" -ge 2 ] && [ "$dio" = 1 ]; then
		probs=() c1=
		for ((i = 0; i < k; i++)); do
			read -r p n0 <<<"${c0[$i]}"
			c=$(( $(vcsw "$p") - ${n0:-0} ))
			c1+="q$i: $c "
			[ "$c" -ge 10 ] || probs+=("$DUT$(devnum "$dev")-q$i (pid $p): $c context switches")
		done
		diag "voluntary context switches of the workers during fio: $c1"
		result "2-queue device: each queue's worker served requests of the 2 pinned fio jobs ($c1)" \
			${#probs[@]} "${probs[@]}"
	fi
	detach "$dev"
}
aloop_verify 1 1
aloop_verify 1 0
aloop_verify 2 1
aloop_verify 2 0

stock_verify() {	# DIO
	local d dev o
	d="fio verify (randwrite 4k libaio QD16, 2 jobs, 32 MiB, crc32c): stock loop, $(mode_of "$1") (control)"
	dev=$(stock_free) && o=$(bind "$dev" "$F" "$1") || { fail "$d" "$dev $o"; ioc clr-fd "$dev" >/dev/null; return; }
	o=$(fio --name=v --filename="$dev" "${FIO_VERIFY[@]}" 2>&1)
	result "$d" $? "$o"
	ioc clr-fd "$dev" >/dev/null
}
stock_verify 1
stock_verify 0

# ------------------------------------------------------------- batching
d="batching: randread 4k libaio QD16 (submitted 16 at a time): fewer worker wake-ups than dio requests"
if [ "$DUT" = aloop ]; then
	dev=$(free_dev) && o=$(bind "$dev" "$F" 1 --queues 1) || { fail "$d" "$dev $o"; dev=; }
	if [ -n "$dev" ]; then
		rd() { fio --name=b --filename="$dev" --rw=randread --bs=4k --ioengine=libaio \
			--iodepth=16 --direct=1 --size=32M --number_ios=4096 --output-format=terse "$@" >/dev/null 2>&1; }
		ib=$(ioc info "$dev"); rd; ia=$(ioc info "$dev")
		r0=$(( $(kv reqs_dio "$ia") - $(kv reqs_dio "$ib") )); w0=$(( $(kv wakeups "$ia") - $(kv wakeups "$ib") ))
		ib=$(ioc info "$dev"); rd --iodepth_batch_submit=16 --iodepth_batch_complete_min=8; ia=$(ioc info "$dev")
		r=$(( $(kv reqs_dio "$ia") - $(kv reqs_dio "$ib") )); w=$(( $(kv wakeups "$ia") - $(kv wakeups "$ib") ))
		ratio() { awk -v r="$1" -v w="$2" 'BEGIN { if (w) printf "%.2f", r / w; else print "inf" }'; }
		diag "one io_submit per I/O: $r0 dio requests, $w0 wake-ups, $(ratio "$r0" "$w0") requests per wake-up"
		diag "16 I/Os per io_submit: $r dio requests, $w wake-ups, $(ratio "$r" "$w") requests per wake-up"
		if [ "$r" -ge 2000 ] && [ "$w" -lt "$r" ]; then
			ok "$d ($w wake-ups for $r requests: $(ratio "$r" "$w") per wake-up)"
		else
			fail "$d" "requests $r (want >= 2000), wake-ups $w (want fewer)"
		fi

		# ------------------------------------ ALOOP_GET_INFO equals sysfs
		ia=$(ioc info "$dev") g=() s=()
		for k in queues:nr_queues dio:dio reqs_dio:reqs_dio reqs_buffered:reqs_buffered \
			 reqs_fallback:reqs_fallback reqs_cgroup:reqs_cgroup wakeups:wakeups errors:errors \
			 reqs_nowait:reqs_nowait reqs_worker:reqs_worker nowait_again:nowait_again \
			 batches:batches reqs_helper:reqs_helper; do
			g+=("${k%%:*}=$(kv "${k#*:}" "$ia")"); s+=("${k%%:*}=$(dut_attr "$dev" "${k%%:*}")")
		done
		check_eq "ALOOP_GET_INFO counters equal sysfs (idle device)" "${s[*]}" "${g[*]}"
		detach "$dev"
	else
		fail "ALOOP_GET_INFO counters equal sysfs" "no device"
	fi
else
	skip "$d" "$NOTDUT"; skip "ALOOP_GET_INFO counters equal sysfs" "$NOTDUT"
fi

# ------------------------------------------------------- write ordering
# Two processes pinned to different CPUs (so, with 2 queues, to both
# queues) each write 64 KiB of pattern A, then 4 KiB of pattern B inside
# it, with O_DIRECT, and read the 64 KiB back: it must be A with B at its
# place, every iteration.
cat >"$SCRATCH/order.py" <<'EOF'
import mmap, os, sys
dev, base, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
a, b, r = mmap.mmap(-1, 65536), mmap.mmap(-1, 4096), mmap.mmap(-1, 65536)
bad = 0
for i in range(n):
    off = base + (i % 64) * 65536
    pa, pb, pos = bytes([i % 251]), bytes([(i + 97) % 251]), (i * 7 % 16) * 4096
    a[:] = pa * 65536; b[:] = pb * 4096
    os.pwrite(fd, a, off)
    os.pwrite(fd, b, off + pos)
    os.preadv(fd, [r], off)
    want = pa * pos + pb * 4096 + pa * (65536 - pos - 4096)
    if r[:] != want:
        bad += 1
        if bad <= 3:
            print("iteration %d at %d: read back differs" % (i, off))
print("%d of %d iterations wrong" % (bad, n))
sys.exit(1 if bad else 0)
EOF
order_check() {	# DESC DEV
	local d=$1 dev=$2 o rc=0 i pids=()
	for ((i = 0; i < 2; i++)); do
		taskset -c $((i % NCPU)) "$PYTHON" "$SCRATCH/order.py" "$dev" $((i * 8 * MiB)) 200 \
			>"$SCRATCH/order.$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	o=$(cat "$SCRATCH"/order.[01])
	result "$d" $rc "$o"
}
for dio in 1 0; do
	d="dependent O_DIRECT writes (64K A, then 4K B inside) read back B over A: aloop 2 queues, $(mode_of $dio)"
	if [ "$DUT" != aloop ]; then skip "$d" "$NOTDUT"; continue; fi
	dev=$(free_dev) && o=$(bind "$dev" "$F" $dio --queues 2) || { fail "$d" "$dev $o"; continue; }
	order_check "$d" "$dev"
	detach "$dev"
done
for dio in 1 0; do
	d="dependent O_DIRECT writes read back B over A: stock loop, $(mode_of $dio) (control)"
	dev=$(stock_free) && o=$(bind "$dev" "$F" $dio) || { fail "$d" "$dev $o"; continue; }
	order_check "$d" "$dev"
	ioc clr-fd "$dev" >/dev/null
done

if [ "$DUT" = aloop ]; then
	result "after every detach above: no aloopN-qM kthread left, sysfs queues 0" ${#DETACH_PROBS[@]} "${DETACH_PROBS[@]}"
else
	skip "after every detach: no aloopN-qM kthread left" "$NOTDUT"
fi

finish
