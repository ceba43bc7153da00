#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: NOWAIT tries from the queue workers and the blocking helper; mainline's inline-submission hazards on that path
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: fio
# NOWAIT tries from the queue workers (issue 19): the worker submits
# direct I/O with IOCB_NOWAIT and hands what the backing file refuses to
# the queue's blocking helper.  What it must give: requests submitted
# with NOWAIT (reqs_nowait) in batches (reqs_worker / batches > 1 at
# QD16), data intact (fio verify), and none of the hazards mainline met
# with in-submitter submission, kept here for the thread path:
#  (a) batched io_uring/libaio submission under a plug;
#  (b) writeback throttling (wbt) on aloop's queue with buffered and
#      O_DIRECT writes through a filesystem on aloop;
#  (c) aloop stacked on aloop;
#  and a cgroup's requests stay on its lane; a frozen backing filesystem
#  sends NOWAIT writes to the helper (which waits for the thaw), nothing
#  hangs.  Every step is bounded in time; the kernel log must stay clean.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

plan 14

NW=/sys/module/aloop/parameters/nowait
MNT_UP=; MNT_LOW=; DEVS=()
nowait_cleanup() {
	local d
	[ -w "$NW" ] && echo Y >"$NW"
	fsfreeze -u "$BACKING" 2>/dev/null
	for d in $MNT_UP $MNT_LOW; do umount -l "$d" 2>/dev/null; done
	for ((d = ${#DEVS[@]} - 1; d >= 0; d--)); do
		timeout 10 "$ALO_IOCTL" clr-fd "${DEVS[d]}" >/dev/null 2>&1
	done
	cg_remove_all 2>/dev/null
}
on_exit nowait_cleanup
D=$(test_dir nowait)
MARK=$(klog_mark)
# The worker's NOWAIT path is for the root cgroup's I/O: run from there.
CGOK=$(cg_prepare) && CGOK=
[ -n "$CGOK" ] || [ "$(cat /proc/self/cgroup)" = "0::/" ] || echo $$ >"$CG/cgroup.procs"

# bind FILE [CONFIGURE-OPTS]: a free device on FILE with dio on
bind() {
	local f=$1 dev o; shift
	dev=$(free_dev) || { echo "$dev"; return 1; }
	o=$(ioc configure "$dev" "$f" --set-dio 1 "$@")
	if [ "$(ioc1_of "$o")" != OK ] || [ "$(kv set_dio "$o")" != OK ] ||
	   [ "$(dut_attr "$dev" dio)" != 1 ]; then
		ioc clr-fd "$dev" >/dev/null
		echo "configure $dev $f: $o (dio '$(dut_attr "$dev" dio)')"; return 1
	fi
	DEVS+=("$dev")
	echo "$dev"
}
cnt() { dut_attr "$1" "$2"; }
ctxt() { awk '/^ctxt/ {print $2}' /proc/stat; }
# counters DEV: "nowait=N worker=N batches=N again=N helper=N"
counters() {
	echo "nowait=$(cnt "$1" reqs_nowait) worker=$(cnt "$1" reqs_worker) batches=$(cnt "$1" batches)" \
		"again=$(cnt "$1" nowait_again) helper=$(cnt "$1" reqs_helper)"
}
FIOV=(--ioengine=libaio --direct=1 --bs=4k --iodepth=16 --verify=crc32c --verify_fatal=1 --verify_state_save=0
	--do_verify=1 --randrepeat=0 --output-format=terse)

F=$D/nowait.img
mkrand "$F" $((64 * MiB))

# ----------------------------------------------------------- the knob
check_eq "module parameters nowait (default Y), poll_us (default 0), no nowait_depth; feature bit 'nowait'" \
	"Y 0 gone yes" "$(cat "$NW" 2>/dev/null) $(cat /sys/module/aloop/parameters/poll_us 2>/dev/null) \
$([ -e /sys/module/aloop/parameters/nowait_depth ] || echo gone) $(aloopctl features 2>/dev/null | grep -qx nowait && echo yes)"

# ------------------------------- reads with NOWAIT, in batches, same data
d="randread 4k libaio QD16: submitted by the worker with NOWAIT (reqs_nowait), several per batch, none with nowait=0, same data"
dev=$(bind "$F") || { fail "$d" "$dev"; dev=; }
if [ -n "$dev" ]; then
	want=$(sha "$F")
	rd() { fio --name=r --filename="$dev" --rw=randread --bs=4k --ioengine=libaio --iodepth=16 \
		--iodepth_batch_submit=16 --iodepth_batch_complete_min=8 \
		--direct=1 --size=64M --number_ios=6000 --randrepeat=0 --output-format=terse >/dev/null 2>&1; }
	udev_settle
	echo N >"$NW"; s0=$(cnt "$dev" reqs_nowait); c0=$(ctxt); rd; c1=$(ctxt)
	a0=$(( $(cnt "$dev" reqs_nowait) - s0 ))
	echo Y >"$NW"; w0=$(cnt "$dev" reqs_worker); b0=$(cnt "$dev" batches)
	c2=$(ctxt); rd; c3=$(ctxt); a1=$(( $(cnt "$dev" reqs_nowait) - s0 ))
	dw=$(( $(cnt "$dev" reqs_worker) - w0 )); db=$(( $(cnt "$dev" batches) - b0 ))
	got=$(sha_dev "$dev")
	w=$(awk -v c=$((c1 - c0)) 'BEGIN { printf "%.2f", c / 6000 }')
	i=$(awk -v c=$((c3 - c2)) 'BEGIN { printf "%.2f", c / 6000 }')
	diag "context switches per I/O: nowait=0 $w, nowait=1 $i; $(counters "$dev")"
	if [ "$a0" = 0 ] && [ $((a1 - a0)) -ge 5000 ] && [ "$db" -gt 0 ] && [ $((dw / db)) -ge 2 ] &&
	   [ "$got" = "$want" ]; then
		ok "$d (NOWAIT $((a1 - a0)) of 6000; $dw requests in $db batches; ctx/IO $i)"
	else
		fail "$d" "reqs_nowait with nowait=0: $a0 (want 0), then +$((a1 - a0)) (want >= 5000 of 6000)" \
			"$dw requests in $db batches (want >= 2 per batch)" "device sha ${got:0:12} file ${want:0:12}"
	fi
	d="no backing-file call from the submitter: fio's own context switches are the only ones that wait, the worker's wake-ups stay below its requests"
	wk=$(cnt "$dev" wakeups); w0=$(cnt "$dev" reqs_worker)
	rd
	dk=$(( $(cnt "$dev" wakeups) - wk )); dw=$(( $(cnt "$dev" reqs_worker) - w0 ))
	# 6000 random 4k reads, 16 per submit: the plug may merge two that
	# happen to be adjacent (5999 requests seen on 6.12), so 95 %
	if [ "$dw" -ge 5700 ] && [ "$dk" -lt "$dw" ]; then
		ok "$d ($dk wake-ups for $dw requests)"
	else
		fail "$d" "wake-ups +$dk, reqs_worker +$dw (want >= 5700 of 6000 I/Os, and more than the wake-ups)"
	fi
else
	fail "randread QD16: wake-ups below requests" "no device"
fi

# ---------------------------------------------------- writes and verify
d="fio verify randrw 4k libaio QD16, 2 jobs (crc32c), nowait=1: data intact, writes tried with NOWAIT"
if [ -n "$dev" ]; then
	b=$(cnt "$dev" reqs_nowait); g=$(cnt "$dev" nowait_again)
	o=$(timeout 300 fio --name=v --filename="$dev" --rw=randrw --size=32M --numjobs=2 --offset_increment=32M \
		"${FIOV[@]}" 2>&1)
	rc=$?
	diag "$(counters "$dev") (before: nowait=$b again=$g)"
	result "$d" $rc "$o"
else
	fail "$d" "no device"
fi

# ------------------------------------------------- (a) under a plug
for eng in io_uring libaio; do
	d="(a) $eng, 16 I/Os per submit (a plug): fio verify randrw QD32 intact, requests with NOWAIT"
	if [ -z "$dev" ]; then fail "$d" "no device"; continue; fi
	if ! fio --enghelp 2>/dev/null | grep -qw "$eng"; then skip "$d" "fio has no $eng engine"; continue; fi
	b=$(cnt "$dev" reqs_nowait)
	o=$(timeout 300 fio --name=p --filename="$dev" --rw=randrw --size=48M --ioengine="$eng" --direct=1 \
		--bs=4k --iodepth=32 --iodepth_batch_submit=16 --iodepth_batch_complete_min=8 \
		--verify=crc32c --verify_fatal=1 --verify_state_save=0 --randrepeat=0 --output-format=terse 2>&1)
	rc=$?
	a=$(cnt "$dev" reqs_nowait)
	if [ $rc = 0 ] && [ $((a - b)) -gt 0 ]; then
		ok "$d (+$((a - b)) NOWAIT)"
	else
		fail "$d" "fio rc $rc, reqs_nowait +$((a - b))" "$o"
	fi
done

# --------------------------------------- (c) aloop stacked on aloop
d="(c) aloop on a file on ext4 on aloop, both dio: fio verify randrw QD16 on the upper device intact"
MNT_LOW=$(mkmnt nowait-low)
up=
if [ -n "$dev" ] && mkfs.ext4 -q -F "$dev" && mount "$dev" "$MNT_LOW"; then
	mkrand "$MNT_LOW/up.img" $((24 * MiB)) && sync
	up=$(bind "$MNT_LOW/up.img") || { fail "$d" "$up"; up=; }
	if [ -n "$up" ]; then
		bl=$(cnt "$dev" reqs_nowait)
		o=$(timeout 300 fio --name=s --filename="$up" --rw=randrw --size=24M "${FIOV[@]}" 2>&1)
		rc=$?
		diag "upper: $(counters "$up"); lower: $(counters "$dev") (lower NOWAIT before: $bl)"
		if [ $rc = 0 ] && [ "$(cnt "$up" reqs_nowait)" -gt 0 ]; then
			ok "$d"
		else
			fail "$d" "fio rc $rc, upper reqs_nowait $(cnt "$up" reqs_nowait)" "$o"
		fi
	fi
else
	fail "$d" "cannot make or mount ext4 on $dev"
fi

# -------------------------------------------- (b) wbt on aloop's queue
d="(b) wbt on aloop's queue (wbt_lat_usec 1000): buffered + O_DIRECT 1 MiB writes through ext4 on aloop finish, data intact"
[ -z "$up" ] || { ioc clr-fd "$up" >/dev/null; unset 'DEVS[-1]'; rm -f "$MNT_LOW/up.img"; }
if [ -n "$up" ] && mountpoint -q "$MNT_LOW"; then
	wq=/sys/block/$(devname "$dev")/queue/wbt_lat_usec
	if [ -w "$wq" ] && echo 1000 >"$wq" 2>/dev/null; then
		diag "wbt_lat_usec on $(devname "$dev"): $(cat "$wq")"
		fio --name=bw --directory="$MNT_LOW" --rw=write --bs=64k --size=16M --ioengine=psync \
			--end_fsync=1 --output-format=terse >"$D/bw.out" 2>&1 &
		p1=$!
		fio --name=dw --directory="$MNT_LOW" --rw=randwrite --bs=1M --size=16M --ioengine=libaio \
			--iodepth=8 --direct=1 --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
			--output-format=terse >"$D/dw.out" 2>&1 &
		p2=$!
		left=$(wait_pids 240 $p1 $p2)
		wait $p1; r1=$?; wait $p2; r2=$?
		if [ -z "$left" ] && [ $r1 = 0 ] && [ $r2 = 0 ]; then
			ok "$d"
		else
			fail "$d" "still running after 240 s: '${left}'; buffered rc $r1, O_DIRECT rc $r2" \
				"$(tail -n 5 "$D/bw.out" "$D/dw.out")"
		fi
	else
		skip "$d" "no writable $wq (kernel without CONFIG_BLK_WBT)"
	fi
else
	fail "$d" "no filesystem on aloop (step c)"
fi
if mountpoint -q "$MNT_LOW"; then
	umount "$MNT_LOW" && o=$(fsck.ext4 -fn "$dev" 2>&1)
	result "ext4 on the lower aloop device is clean after (b) and (c) (fsck.ext4 -fn)" $? "$o"
else
	fail "ext4 on the lower aloop device is clean after (b) and (c)" "not mounted"
fi

# -------------------------------------------------- a cgroup's requests
d="a child cgroup's reads take its lane (reqs_cgroup), never the worker's NOWAIT path"
if [ -z "$dev" ]; then
	fail "$d" "no device"
elif [ -n "$CGOK" ]; then
	skip "$d" "$CGOK"
else
	dd if="$F" of="$dev" bs=1M oflag=direct status=none
	cg_new a
	b=$(cnt "$dev" reqs_nowait); c=$(cnt "$dev" reqs_cgroup)
	cg_run a fio --name=c --filename="$dev" --rw=randread --bs=4k --ioengine=libaio --iodepth=16 \
		--direct=1 --size=64M --number_ios=2000 --output-format=terse >/dev/null 2>&1
	rc=$?
	di=$(( $(cnt "$dev" reqs_nowait) - b )); dc=$(( $(cnt "$dev" reqs_cgroup) - c ))
	if [ $rc = 0 ] && [ "$di" = 0 ] && [ "$dc" -ge 2000 ]; then
		ok "$d (+$dc reqs_cgroup, +0 NOWAIT)"
	else
		fail "$d" "fio rc $rc; reqs_nowait +$di (want 0), reqs_cgroup +$dc (want >= 2000)"
	fi
	cg_remove_all
fi

# ---------------------------------------- frozen backing filesystem
d="backing filesystem frozen: an O_DIRECT write waits (in the blocking helper), completes after the thaw, data written"
if [ -z "$dev" ]; then
	fail "$d" "no device"
elif ! mkpattern "$SCRATCH/pat" 65536 132 || ! fsfreeze -f "$BACKING" 2>/dev/null; then
	skip "$d" "cannot freeze $BACKING"
else
	# Nothing of this script may touch $BACKING until the thaw.
	g=$(cnt "$dev" nowait_again)
	dd if="$SCRATCH/pat" of="$dev" bs=64K seek=7 oflag=direct conv=notrunc status=none &
	p=$!
	sleep 3
	kill -0 $p 2>/dev/null; waiting=$?
	ga=$(cnt "$dev" nowait_again)
	fsfreeze -u "$BACKING"
	left=$(wait_pids 60 $p); wait $p; rc=$?
	gotp=$(dd if="$dev" bs=64K skip=7 count=1 iflag=direct status=none | sha256sum | cut -d' ' -f1)
	if [ $waiting = 0 ] && [ -z "$left" ] && [ $rc = 0 ] && [ "$gotp" = "$(sha "$SCRATCH/pat")" ] && [ "$ga" -gt "$g" ]; then
		ok "$d (nowait_again +$((ga - g)))"
	else
		fail "$d" "running while frozen: $([ $waiting = 0 ] && echo yes || echo no); left '$left'; dd rc $rc" \
			"nowait_again +$((ga - g)) (want > 0); data $([ "$gotp" = "$(sha "$SCRATCH/pat")" ] && echo ok || echo WRONG)"
	fi
fi

# ----------------------------------------------------------- nowait=0
d="nowait=0: nothing with NOWAIT, every request by a worker, same data"
if [ -n "$dev" ]; then
	echo N >"$NW"
	dd if="$F" of="$dev" bs=1M oflag=direct status=none
	b=$(cnt "$dev" reqs_nowait); w0=$(cnt "$dev" reqs_worker)
	got=$(sha_dev "$dev")
	di=$(( $(cnt "$dev" reqs_nowait) - b )); dw=$(( $(cnt "$dev" reqs_worker) - w0 ))
	echo Y >"$NW"
	if [ "$di" = 0 ] && [ "$dw" -gt 0 ] && [ "$got" = "$(sha "$F")" ]; then
		ok "$d (+$dw by workers)"
	else
		fail "$d" "reqs_nowait +$di (want 0), reqs_worker +$dw, sha ${got:0:12} vs $(sha "$F" | cut -c1-12)"
	fi
	ia=$(ioc info "$dev")
	check_eq "ALOOP_GET_INFO reqs_nowait/reqs_worker/nowait_again equal sysfs" \
		"$(cnt "$dev" reqs_nowait) $(cnt "$dev" reqs_worker) $(cnt "$dev" nowait_again)" \
		"$(kv reqs_nowait "$ia") $(kv reqs_worker "$ia") $(kv nowait_again "$ia")"
else
	fail "$d" "no device"; fail "ALOOP_GET_INFO counters equal sysfs" "no device"
fi

klog_clean_step "kernel log clean (no WARNING/BUG/lockdep/KASAN/hung task), no task in D state" "$MARK"
finish
