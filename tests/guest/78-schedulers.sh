#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: none, mq-deadline, bfq, kyber x dio on/off: fio verify, the mixed cgroup+root load, ext4 under bfq
# aloop-timeout: 1200
# aloop-driver: any
# aloop-needs: fio
# Every I/O scheduler on the aloop device (issue 20, item 2), the quick
# matrix every kernel runs: none, mq-deadline, bfq and kyber, each with
# direct I/O on and off:
#   - fio verify: randrw 4k, 2 jobs, libaio QD16 with 8 I/Os per submit
#     (a scheduler dispatches batches of several submitters' requests);
#   - the mixed load that once stranded a root request behind a batch
#     that ended on a cgroup's lane: a QD32 randread job in a cgroup and a
#     psync job in the root, both on CPU 0; both must finish in time and
#     nothing may stay in flight;
# stock loop runs the same fio verify under each scheduler as the control;
# ext4 on aloop under bfq (what io.weight on the device needs): files
# written and read back, fsck clean.  The kernel log must stay clean.
# ALOOP_SCHEDS="none bfq" limits the schedulers (by hand).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SCHEDS=${ALOOP_SCHEDS:-none mq-deadline bfq kyber}
NS=$(wc -w <<<"$SCHEDS")
plan $((NS * 5 + 3))

D=$(test_dir sched)
DEVS=()
MNT=
sched_cleanup() {
	local d
	[ -z "$MNT" ] || umount -l "$MNT" 2>/dev/null
	for d in "${DEVS[@]}"; do
		case $d in
		/dev/loop*) stock_detach "$d" ;;
		*) timeout 10 "$ALO_IOCTL" clr-fd "$d" >/dev/null 2>&1 ;;
		esac
	done
	cg_remove_all 2>/dev/null
}
on_exit sched_cleanup
MARK=$(klog_mark)
CGWHY=$(cg_prepare) && CGWHY=
[ -n "$CGWHY" ] || [ "$(cat /proc/self/cgroup)" = "0::/" ] || echo $$ >"$CG/cgroup.procs"

F=$D/sched.img
mkrand "$F" $((64 * MiB))

# set_sched DEV SCHED: the scheduler on DEV, or why not
set_sched() {
	local q m
	q=/sys/block/$(devname "$1")/queue/scheduler
	if ! grep -qw -- "$2" "$q"; then
		case $2 in bfq) m=bfq ;; kyber) m=kyber-iosched ;; mq-deadline) m=mq-deadline ;; *) m= ;; esac
		[ -z "$m" ] || modprobe "$m" 2>/dev/null
	fi
	echo "$2" >"$q" 2>/dev/null
	grep -q "\[$2\]" "$q" || { echo "scheduler $2 not available (have: $(cat "$q"))"; return 1; }
}

# bind_dut FILE DIO: an aloop device on FILE with dio on (1) or off (0)
bind_dut() {
	local dev o
	dev=$(free_dev) || { echo "$dev"; return 1; }
	o=$(ioc configure "$dev" "$1" --set-dio "$2")
	if [ "$(ioc1_of "$o")" != OK ] || [ "$(dut_attr "$dev" dio)" != "$2" ]; then
		ioc clr-fd "$dev" >/dev/null
		echo "configure $dev $1 dio=$2: $o (dio '$(dut_attr "$dev" dio)')"; return 1
	fi
	DEVS+=("$dev")
	echo "$dev"
}
unbind() {
	local d=$1 i
	case $d in /dev/loop*) stock_detach "$d" ;; *) ioc clr-fd "$d" >/dev/null ;; esac
	for i in "${!DEVS[@]}"; do [ "${DEVS[i]}" != "$d" ] || unset 'DEVS[i]'; done
}

FIOV=(--rw=randrw --bs=4k --ioengine=libaio --iodepth=16 --iodepth_batch_submit=8
	--iodepth_batch_complete_min=4 --direct=1 --numjobs=2 --size=12M --offset_increment=12M
	--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --randrepeat=0
	--group_reporting --output-format=terse)

# verify DEV DESC
verify() {
	local o rc
	o=$(timeout 300 fio --name=v --filename="$1" "${FIOV[@]}" 2>&1)
	rc=$?
	result "$2" $rc "$o"
}

# mixed DEV DESC: cgroup QD32 + root psync on CPU 0, bounded
mixed() {
	local dev=$1 d=$2 n infl left cgp rp rc1 rc2
	if [ -n "$CGWHY" ]; then skip "$d" "$CGWHY"; return; fi
	n=$(devname "$dev")
	cg_new mix || { fail "$d" "cannot make cgroup mix"; return; }
	cg_run mix taskset -c 0 fio --name=cg --filename="$dev" --rw=randread --bs=4k --direct=1 \
		--ioengine=libaio --iodepth=32 --iodepth_batch_submit=8 --iodepth_batch_complete_min=1 \
		--size=60M --time_based --runtime=5 --output=/dev/null </dev/null >/dev/null 2>&1 &
	cgp=$!
	taskset -c 0 fio --name=root --filename="$dev" --rw=randread --bs=4k --direct=1 \
		--ioengine=psync --size=60M --time_based --runtime=5 --output=/dev/null </dev/null >/dev/null 2>&1 &
	rp=$!
	left=$(wait_pids 60 $cgp $rp)
	wait $cgp; rc1=$?; wait $rp; rc2=$?
	infl=$(tr -s ' ' <"/sys/block/$n/inflight" | sed 's/^ //')
	if [ -n "$left" ]; then
		# Release what a missing wake-up left behind, then report.
		dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none
		fail "$d" "still running 55 s after their 5 s runtime: '$left' (killed); inflight then: $infl"
	elif [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$infl" = "0 0" ]; then
		ok "$d"
	else
		fail "$d" "fio rc cgroup $rc1, root $rc2; inflight '$infl'"
	fi
	cg_del mix
}

for s in $SCHEDS; do
	for dio in 1 0; do
		m=$([ $dio = 1 ] && echo dio || echo buffered)
		d1="$s, aloop $m: fio verify randrw QD16 x 2 jobs, batched submission"
		d2="$s, aloop $m: cgroup QD32 + root psync on one CPU both finish, nothing in flight"
		dev=$(bind_dut "$F" $dio) || { fail "$d1" "$dev"; fail "$d2" "no device"; continue; }
		if ! why=$(set_sched "$dev" "$s"); then
			skip "$d1" "$why"; skip "$d2" "$why"; unbind "$dev"; continue
		fi
		verify "$dev" "$d1"
		mixed "$dev" "$d2"
		unbind "$dev"
	done
	d="$s, stock loop dio (control): fio verify randrw QD16 x 2 jobs"
	if ! mod_is_loaded loop && ! stock_load >/dev/null 2>&1; then
		skip "$d" "stock loop not available"; continue
	fi
	sd=$(stock_attach --direct-io=on "$F") || { fail "$d" "$sd"; continue; }
	DEVS+=("$sd")
	if why=$(set_sched "$sd" "$s"); then verify "$sd" "$d"; else skip "$d" "$why"; fi
	unbind "$sd"
done

# ------------------------------------------------- ext4 on aloop, bfq
d="ext4 on aloop (dio) under bfq: 100 files written with fsync, read back equal"
G=$D/fs.img
truncate -s 256M "$G"
dev=$(bind_dut "$G" 1) || { fail "$d" "$dev"; dev=; }
if [ -n "$dev" ] && why=$(set_sched "$dev" bfq); then
	MNT=$(mkmnt sched-fs)
	if mkfs.ext4 -q -F "$dev" && mount "$dev" "$MNT"; then
		mkrand "$SCRATCH/sched-ref" $((256 * 1024))
		bad=0
		for i in $(seq 1 100); do
			dd if="$SCRATCH/sched-ref" of="$MNT/f$i" bs=64k conv=fsync status=none || bad=$((bad + 1))
		done
		sync; echo 3 >/proc/sys/vm/drop_caches
		want=$(sha "$SCRATCH/sched-ref")
		for i in $(seq 1 100); do
			[ "$(sha "$MNT/f$i")" = "$want" ] || bad=$((bad + 1))
		done
		check_eq "$d" 0 "$bad"
		umount "$MNT"; MNT=
		o=$(fsck.ext4 -fn "$dev" 2>&1)
		result "ext4 on aloop under bfq: fsck.ext4 -fn clean" $? "$o"
	else
		fail "$d" "cannot make or mount ext4 on $dev"; fail "ext4 under bfq: fsck clean" "no filesystem"
	fi
elif [ -n "$dev" ]; then
	skip "$d" "$why"; skip "ext4 under bfq: fsck clean" "$why"
else
	fail "ext4 under bfq: fsck clean" "no device"
fi

klog_clean_step "kernel log clean (no WARNING/BUG/lockdep/KASAN/hung task), no task in D state" "$MARK"
finish
