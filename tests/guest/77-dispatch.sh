#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: dispatch corner cases: root request after a cgroup lane's batch, dm backing without nowait, sysfs during a freeze, partition offset
# aloop-timeout: 900
# aloop-driver: aloop
# aloop-needs: fio stock-loop
# Dispatch correctness, round 2 (issue 20, item 1; correctness-review-2):
#  G2 a root request queued without a wake-up must not be stranded when
#     the last request of the dispatch batch goes to a cgroup lane:
#     mq-deadline (and bfq) on the device, fio randread QD32 in a cgroup
#     and psync QD1 in the root, both on CPU 0, buffered and dio (and, with
#     dio, a root job of buffered writes fsync'd one by one: writeback
#     requests, which were never submitted inline): the root fio ends in
#     time, inflight is "0 0" after;
#  G1 a block-device backing without nowait support (dm-delay; dm-linear
#     reloaded to dm-delay under the open device): O_DIRECT reads and
#     writes through the device succeed (no EOPNOTSUPP);
#  G7 sysfs attributes answer while a freeze of the device's queue waits
#     (LOOP_SET_DIRECT_IO behind a write held by a frozen backing fs);
#  G8 LOOP_SET_STATUS64 on a partition node moving the offset leaves no
#     stale data in the whole disk's page cache.
# Stock loop on the same kernel is the control of G2, G1 and G8.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

plan 17

rm -f "$SCRATCH/77-devs"
DEVLIST=$SCRATCH/77-devs DMS=() BG=() BRD='' BASELOOP=''
disp_cleanup() {
	local i
	fsfreeze -u "$BACKING" 2>/dev/null
	for i in "${BG[@]}"; do kill -KILL "$i" 2>/dev/null; done
	kind_unbind_all
	sleep 0.5
	for i in "${DMS[@]}"; do timeout 20 dmsetup remove --noudevsync "$i"; done
	[ -z "$BASELOOP" ] || timeout 20 losetup -d "$BASELOOP"
	[ -z "$BRD" ] || rmmod brd
	cg_remove_all
}
on_exit disp_cleanup
D=$(test_dir dispatch)
MARK=$(klog_mark)

mode_of() { if [ "$1" = 1 ]; then echo "dio"; else echo "buffered"; fi; }
inflight() { awk '{print $1, $2}' "/sys/block/$(devname "$1")/inflight"; }
counters() {
	local c s='' a
	a=/sys/block/$(devname "$1")/$DUT
	for c in reqs_dio reqs_buffered reqs_cgroup reqs_worker reqs_nowait nowait_again reqs_helper reqs_inline batches wakeups errors; do
		[ -e "$a/$c" ] && s="$s $c=$(timeout 3 cat "$a/$c")"
	done
	echo "${s# }"
}

# ================================================ G2: stranded request
G2T=15
F2=$D/g2.img
truncate -s 256M "$F2"
CGWHY=$(cg_prepare) && CGWHY=
if [ -z "$CGWHY" ]; then
	[ "$(cat /proc/self/cgroup)" = "0::/" ] || echo $$ >"$CG/cgroup.procs"
	cg_new g2 || CGWHY="cannot create a cgroup"
fi
# g2_run DEV ROOTJOB: the two fio jobs on CPU 0 (ROOTJOB "read": O_DIRECT
# randread, "wb": 4k buffered randwrite, fsync after each); G2R: "ok", or
# "stuck ..." / "error ..."
g2_run() {
	local dev=$1 cgpid rootpid i infl rel rc rj=(--rw=randread --direct=1)
	[ "$2" != wb ] || rj=(--rw=randwrite --direct=0 --fsync=1)
	cg_run g2 taskset -c 0 fio --name=cg --filename="$dev" --rw=randread --bs=4k --direct=1 \
		--ioengine=libaio --iodepth=32 --iodepth_batch_submit=8 --iodepth_batch_complete_min=1 \
		--size=200M --time_based --runtime=$G2T --output=/dev/null </dev/null >/dev/null 2>&1 &
	cgpid=$!
	taskset -c 0 fio --name=root --filename="$dev" "${rj[@]}" --bs=4k --ioengine=psync \
		--size=200M --time_based --runtime=$G2T --output=/dev/null </dev/null >/dev/null 2>&1 &
	rootpid=$!
	BG+=("$cgpid" "$rootpid")
	for ((i = 0; i < (G2T + 20) * 10; i++)); do
		kill -0 "$rootpid" 2>/dev/null || break
		sleep 0.1
	done
	if ! kill -0 "$rootpid" 2>/dev/null; then
		wait "$rootpid"; rc=$?
		if [ -n "$(wait_pids 30 "$cgpid")" ]; then
			G2R="error: the cgroup's fio still runs 30 s after the root's"
		elif [ "$rc" != 0 ]; then
			G2R="error: root fio exit $rc"
		else
			G2R=ok
		fi
		return
	fi
	# Stuck: show it, then release it with one more root read (alone in
	# its batch: it ends the batch and wakes the queue's worker)
	infl=$(inflight "$dev")
	timeout 30 taskset -c 0 dd if="$dev" of=/dev/null bs=4k count=1 skip=7 iflag=direct status=none \
		</dev/null >/dev/null 2>&1 &
	BG+=("$!")
	for ((i = 0; i < 200; i++)); do
		kill -0 "$rootpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$rootpid" 2>/dev/null; then
		rel="not released by one more root read (left behind)"
	else
		rel="released by one more root read"
		wait_pids 30 "$cgpid" >/dev/null
	fi
	G2R="stuck: root fio (QD1) still running $((G2T + 20)) s after its start; inflight '$infl'; $rel"
}
g2_case() {	# KIND SCHED DIO ROOTJOB
	local kind=$1 sched=$2 dio=$3 job=$4 d dev q r infl what="psync QD1 randread"
	[ "$job" != wb ] || what="psync QD1 buffered writes with fsync"
	d="G2 $(kind_name "$kind") $(mode_of "$dio"), $sched: fio randread QD32 in a cgroup + $what in the root, both on CPU 0, ${G2T} s: the root fio ends within $((G2T + 20)) s, inflight '0 0' after"
	[ "$kind" = dut ] || d="$d (control)"
	[ -z "$CGWHY" ] || { skip "$d" "$CGWHY"; return; }
	dev=$(kind_bind "$kind" "$F2" "$dio") || { fail "$d" "$dev"; return; }
	q=/sys/block/$(devname "$dev")/queue/scheduler
	echo "$sched" >"$q" 2>/dev/null
	if ! grep -q "\[$sched\]" "$q"; then
		skip "$d" "cannot select $sched (schedulers: $(cat "$q"))"; kind_unbind "$dev"; return
	fi
	g2_run "$dev" "$job"; r=$G2R
	sleep 0.5
	infl=$(inflight "$dev")
	diag "$(kind_name "$kind") $(mode_of "$dio") $sched $job: $r; $( [ "$kind" != dut ] || counters "$dev")"
	if [ "$r" = ok ] && [ "$infl" = "0 0" ]; then
		ok "$d"
		echo none >"$q" 2>/dev/null
		kind_unbind "$dev"
	else
		fail "$d" "$r" "inflight now: '$infl'"
		if [ "$infl" = "0 0" ]; then
			echo none >"$q" 2>/dev/null
			kind_unbind "$dev"
		else	# a freeze would wait for the stranded request: leave the device
			diag "$(devname "$dev") left bound (a freeze would hang behind the request in flight)"
		fi
	fi
}
modprobe -q bfq 2>/dev/null
modprobe -q mq-deadline 2>/dev/null
for k in dut stock; do
	for sched in mq-deadline bfq; do
		[ "$k" = dut ] || [ "$sched" = mq-deadline ] || continue
		g2_case "$k" "$sched" 0 read
		[ "$k" != dut ] || g2_case "$k" "$sched" 1 read	# stock: as buffered
		g2_case "$k" "$sched" 1 wb
	done
done
cg_del g2 2>/dev/null

# ========================================= G1: no EOPNOTSUPP from dm
G1D=("G1 case A: $DUT (dio) on dm-delay: O_DIRECT write + read succeed, data on the dm device"
     "G1 case A: stock loop (--direct-io=on) on dm-delay: O_DIRECT write + read succeed (control)"
     "G1 case B: $DUT (dio) on dm-linear reloaded to dm-delay under it: O_DIRECT write + read succeed, data on the dm device"
     "G1 case B: stock loop (--direct-io=on) on dm-linear reloaded to dm-delay: O_DIRECT write + read succeed (control)")
modprobe -q dm-mod 2>/dev/null
modprobe -q dm-delay 2>/dev/null
g1why=
if ! have dmsetup; then
	g1why="dmsetup is not installed"
elif ! timeout 20 dmsetup targets 2>/dev/null | grep -q '^delay'; then
	g1why="no dm-delay target (modprobe dm-delay: $(modprobe dm-delay 2>&1 | head -c 200))"
fi
BASE=
if [ -z "$g1why" ]; then
	if [ ! -e /sys/module/brd ] && modprobe brd rd_nr=1 rd_size=65536 2>/dev/null; then BRD=1; fi
	if [ -n "$BRD" ] && wait_dev /dev/ram0; then
		BASE=/dev/ram0
	else
		[ -z "$BRD" ] || { rmmod brd 2>/dev/null; BRD=; }
		truncate -s 64M "$SCRATCH/g1-base.img"
		BASELOOP=$(losetup -f --show "$SCRATCH/g1-base.img") && wait_dev "$BASELOOP" && BASE=$BASELOOP ||
			g1why="no base device (brd or loop)"
	fi
fi
# dmdev NAME: its /dev/dm-N
dmdev() {
	local d
	for d in /sys/block/dm-*; do
		[ "$(cat "$d/dm/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; return 0; }
	done
	return 1
}
nowait_of() { cat "/sys/block/$(devname "$1")/queue/nowait" 2>/dev/null || echo "?"; }
# g1_io DEV DM OFF(MiB): O_DIRECT write of 256 KiB at OFF through DEV, read
# it back through DEV, compare with DM; prints "" (fine) or what failed
g1_io() {
	local dev=$1 dm=$2 off=$3 e w r m
	mkrand "$SCRATCH/g1.dat" $((256 * 1024))
	w=$(sha "$SCRATCH/g1.dat")
	e=$(timeout 60 dd if="$SCRATCH/g1.dat" of="$dev" bs=64k seek=$((off * 16)) oflag=direct conv=notrunc status=none 2>&1) ||
		{ echo "write: $e"; return; }
	r=$(timeout 60 dd if="$dev" bs=64k skip=$((off * 16)) count=4 iflag=direct status=none 2>"$SCRATCH/g1.err" | sha256sum | cut -d' ' -f1)
	[ -s "$SCRATCH/g1.err" ] && { echo "read: $(head -c 200 "$SCRATCH/g1.err")"; return; }
	m=$(timeout 60 dd if="$dm" bs=64k skip=$((off * 16)) count=4 iflag=direct status=none | sha256sum | cut -d' ' -f1)
	[ "$r" = "$w" ] && [ "$m" = "$w" ] || echo "data: written ${w:0:12}, read back ${r:0:12}, on the dm device ${m:0:12}"
}
# g1_case N DM KIND OFF
g1_case() {
	local n=$1 dm=$2 kind=$3 off=$4 dev e
	dev=$(kind_bind "$kind" "$dm" 1) || { fail "${G1D[n]}" "$dev"; return; }
	G1DEVS+=("$dev")
	[ "$n" -lt 2 ] || return 0	# case B: the I/O comes after the reload
	e=$(g1_io "$dev" "$dm" "$off")
	if [ -z "$e" ]; then ok "${G1D[n]}"; else fail "${G1D[n]}" "$e" "dm nowait: $(nowait_of "$dm"); $( [ "$kind" != dut ] || counters "$dev")"; fi
}
if [ -n "$g1why" ]; then
	skip_n 4 "$g1why" "${G1D[@]}"
else
	SZ=$(blockdev --getsz "$BASE")
	diag "G1 base device $BASE ($SZ sectors)$([ -n "$BRD" ] && echo ", brd")"
	# case A
	G1DEVS=()
	if timeout 30 dmsetup create --noudevsync actx-g1a --table "0 $SZ delay $BASE 0 0" && DMS+=(actx-g1a) &&
	   dma=$(dmdev actx-g1a) && wait_dev "$dma"; then
		g1_case 0 "$dma" dut 1
		g1_case 1 "$dma" stock 3
	else
		fail "${G1D[0]}" "dmsetup create (delay) failed"; fail "${G1D[1]}" "dmsetup create (delay) failed"
	fi
	for d in "${G1DEVS[@]}"; do kind_unbind "$d"; done
	sleep 0.5
	timeout 30 dmsetup remove --noudevsync actx-g1a && DMS=()
	# case B
	G1DEVS=()
	if timeout 30 dmsetup create --noudevsync actx-g1b --table "0 $SZ linear $BASE 0" && DMS+=(actx-g1b) &&
	   dmb=$(dmdev actx-g1b) && wait_dev "$dmb"; then
		g1_case 2 "$dmb" dut 5
		g1_case 3 "$dmb" stock 7
		nw0=$(nowait_of "$dmb")
		if [ ${#G1DEVS[@]} -gt 0 ] &&
		   timeout 30 dmsetup suspend --noudevsync actx-g1b &&
		   timeout 30 dmsetup load --noudevsync actx-g1b --table "0 $SZ delay $BASE 0 0" &&
		   timeout 30 dmsetup resume --noudevsync actx-g1b; then
			diag "dm queue nowait: linear $nw0, after the reload to delay $(nowait_of "$dmb")"
			for d in "${G1DEVS[@]}"; do
				case $d in /dev/"$DUT"*) n=2 off=5 ;; *) n=3 off=7 ;; esac
				e=$(g1_io "$d" "$dmb" $off)
				if [ -z "$e" ]; then ok "${G1D[n]}"; else fail "${G1D[n]}" "$e" "$( [ $n = 3 ] || counters "$d")"; fi
			done
		else
			for d in "${G1DEVS[@]}"; do
				case $d in /dev/"$DUT"*) n=2 ;; *) n=3 ;; esac
				fail "${G1D[n]}" "dmsetup reload linear -> delay failed"
			done
			timeout 30 dmsetup resume --noudevsync actx-g1b
		fi
	else
		fail "${G1D[2]}" "dmsetup create (linear) failed"; fail "${G1D[3]}" "dmsetup create (linear) failed"
	fi
	for d in "${G1DEVS[@]}"; do kind_unbind "$d"; done
	sleep 0.5
	timeout 30 dmsetup remove --noudevsync actx-g1b && DMS=()
fi

# ============================================= G7: sysfs during a freeze
d7="G7 $DUT: offset, dio, reqs_dio, backing_file read within 3 s each while LOOP_SET_DIRECT_IO waits for a queue freeze (a write held by a frozen backing fs)"
d7b="G7 $DUT: after the thaw the held write and LOOP_SET_DIRECT_IO complete, data written"
F7=$D/g7.img
fallocate -l 16M "$F7"
if ! dev=$(kind_bind dut "$F7" 1); then
	fail "$d7" "$dev"; fail "$d7b" "$dev"
elif ! mkpattern "$SCRATCH/pat" 65536 132 || ! fsfreeze -f "$BACKING" 2>/dev/null; then
	skip_n 2 "cannot freeze $BACKING" "$d7" "$d7b"
else
	# Nothing of this script may touch $BACKING until the thaw.
	timeout 120 dd if="$SCRATCH/pat" of="$dev" bs=64K seek=3 oflag=direct conv=notrunc status=none &
	pw=$!; BG+=("$pw")
	sleep 1
	timeout 120 "$ALO_IOCTL" set-dio "$dev" 0 >"$SCRATCH/setdio.out" 2>&1 &
	pd=$!; BG+=("$pd")
	sleep 2
	held="write $(kill -0 $pw 2>/dev/null && echo waiting || echo "NOT waiting"), set-dio $(kill -0 $pd 2>/dev/null && echo waiting || echo "NOT waiting")"
	wchan=$(ps -o pid=,stat=,wchan:32=,comm= --ppid "$pw,$pd" 2>/dev/null | tr -s ' ' | paste -sd ';')
	slow=() vals=()
	for a in offset dio reqs_dio backing_file; do
		t0=$(date +%s%N)
		v=$(timeout -k 1 3 cat "/sys/block/$(devname "$dev")/$DUT/$a" 2>&1); rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		vals+=("$a=$v (${ms} ms)")
		[ $rc = 0 ] || slow+=("$a: rc $rc after $ms ms")
	done
	diag "while frozen: $held; $wchan"
	if [ ${#slow[@]} = 0 ]; then
		ok "$d7"
		case $held in *NOT*) diag "the freeze did not last (nothing was waiting): the check proved less than it should" ;; esac
	else
		fail "$d7" "${slow[@]}" "${vals[*]}" "$held"
	fi
	fsfreeze -u "$BACKING"
	left=$(wait_pids 60 $pw $pd)
	wait $pw; rw=$?; wait $pd; rd=$?
	got=$(timeout 60 dd if="$dev" bs=64K skip=3 count=1 iflag=direct status=none | sha256sum | cut -d' ' -f1)
	so=$(cat "$SCRATCH/setdio.out")
	if [ -z "$left" ] && [ $rw = 0 ] && [ $rd = 0 ] && [ "$so" = OK ] && [ "$got" = "$(sha "$SCRATCH/pat")" ]; then
		ok "$d7b"
	else
		fail "$d7b" "still running 60 s after the thaw: '$left'; dd rc $rw; set-dio rc $rd: $so" \
			"data $([ "$got" = "$(sha "$SCRATCH/pat")" ] && echo ok || echo WRONG)"
	fi
	kind_unbind "$dev"
fi

# =========================================== G8: SET_STATUS on a partition
# The backing file: random bytes, one partition at 1-3 MiB.  Pattern A is
# written through the whole disk at 4 MiB (buffered: it stays in the whole
# disk's page cache); LOOP_SET_STATUS64 on the partition node moves the
# offset to 1 MiB; the whole disk at 4 MiB must now read the file at 5 MiB.
F8=$D/g8.img
g8_case() {	# KIND
	local kind=$1 d dev o want got a fd
	d="G8 $(kind_name "$kind"): LOOP_SET_STATUS64 on the partition node moving the offset to 1 MiB: the whole disk reads the file at the new offset (no stale page cache)"
	[ "$kind" = dut ] || d="$d (control)"
	mkrand "$F8" $((8 * MiB))
	if ! printf 'label: dos\nstart=2048, size=4096, type=83\n' | sfdisk -q "$F8" >/dev/null 2>&1; then
		skip "$d" "sfdisk missing or failed"; return
	fi
	dev=$(kind_bind "$kind" "$F8" 0 --flags 8) || { fail "$d" "$dev"; return; }
	wait_dev "${dev}p1" || { fail "$d" "${dev}p1 did not appear"; kind_unbind "$dev"; return; }
	mkpattern "$SCRATCH/patA" "$MiB" 101
	a=$(sha "$SCRATCH/patA")
	# The whole disk stays open meanwhile: its last close would drop its cache.
	exec {fd}<"$dev"
	timeout 60 dd if="$SCRATCH/patA" of="$dev" bs=64k seek=64 conv=notrunc,fsync status=none
	got=$(timeout 60 dd if="$dev" bs=64k skip=64 count=16 status=none | sha256sum | cut -d' ' -f1)
	if [ "$got" != "$a" ]; then
		exec {fd}<&-
		fail "$d" "pattern A not read back before the change"; kind_unbind "$dev"; return
	fi
	o=$(timeout 60 "$ALO_IOCTL" set-status-keep "${dev}p1" --offset "$MiB" 2>&1)
	if [ "$(ioc1_of "$o")" != OK ]; then
		exec {fd}<&-
		fail "$d" "LOOP_SET_STATUS64 on ${dev}p1: $o"; kind_unbind "$dev"; return
	fi
	got=$(timeout 60 dd if="$dev" bs=64k skip=64 count=16 status=none | sha256sum | cut -d' ' -f1)
	exec {fd}<&-
	want=$(sha_range "$F8" $((5 * MiB)) "$MiB")
	kind_unbind "$dev"
	if [ "$got" = "$want" ]; then
		ok "$d"
	elif [ "$got" = "$a" ]; then
		fail "$d" "the whole disk still reads pattern A from its page cache (the file's bytes at the old offset)"
	else
		fail "$d" "read ${got:0:12}, file at the new offset ${want:0:12}, pattern A ${a:0:12}"
	fi
}
g8_case dut
g8_case stock

klog_clean_step "kernel log clean (no WARNING/BUG/lockdep/KASAN/hung task), no task in D state" "$MARK"
finish
