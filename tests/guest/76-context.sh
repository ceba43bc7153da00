#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: quick
# aloop-desc: backing-file I/O never in the submitter's task: ulimit -f writer, unprivileged writer in root's reserve, kprobes on ext4
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: fio stock-loop
# Backing-file I/O never runs in the submitter's task (issue 19, item 3).
# Every ->read_iter/->write_iter/fsync of the backing file must run in
# aloop's kernel threads (aloopN-qM) or kworkers (aloop-io, aloop-cg), as
# stock loop's does, so that nothing of the task that wrote to the device
# (its limits, its credentials, its stack) reaches the backing file system:
#  1. a writer under `ulimit -f 1024` (1 MiB) writes 4 KiB at 8 MiB of the
#     device (O_DIRECT, and buffered + fsync): no SIGXFSZ, data written;
#  2. an unprivileged writer (device node 0666) fills holes of a sparse
#     backing file on an ext4 whose only free space is root's reserve
#     (mkfs -m 50): the write succeeds, the kernel thread is root;
#  3. kprobes on ext4_file_read_iter/ext4_file_write_iter/ext4_sync_file
#     during fio (libaio QD16 randrw + psync, O_DIRECT): every hit is in
#     an aloopN-q* thread or a kworker, none in fio;
#  4. the hazards of the inline era that still apply to the thread path:
#     fio verify with batched libaio submission (a plug), a frozen backing
#     file system (a write waits, completes after the thaw), aloop on a
#     file on ext4 on aloop, and the deep stack mainline's inline
#     submission overflowed: ext4 on aloop on a file on xfs on dm-linear
#     on aloop, fio verify (on the debug kernel VMAP_STACK and KASAN make
#     an overflow a BUG in the log).
# Stock loop on the same kernel is the control for 1 and 2.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

plan 14

rm -f "$SCRATCH/76-devs"
DEVLIST=$SCRATCH/76-devs MNTS=() DMS=() RESDEV='' TR='' KPROBES=()
ctx_cleanup() {
	local i
	fsfreeze -u "$BACKING" 2>/dev/null
	if [ -n "$TR" ]; then
		echo 0 >"$TR/tracing_on"
		echo 0 >"$TR/events/actx/enable"
		for i in "${KPROBES[@]}"; do echo "-:actx/$i" >>"$TR/kprobe_events"; done
	fi
	for ((i = ${#MNTS[@]} - 1; i >= 0; i--)); do umount -l "${MNTS[i]}"; done
	for i in "${DMS[@]}"; do timeout 20 dmsetup remove --noudevsync "$i"; done
	kind_unbind_all
	[ -z "$RESDEV" ] || timeout 20 losetup -d "$RESDEV"
}
on_exit ctx_cleanup
D=$(test_dir context)
MARK=$(klog_mark)
# The root cgroup's I/O is what used to be submitted inline: run from there.
if awk -v d="$CG" '$2 == d && $3 == "cgroup2" {f = 1} END {exit !f}' /proc/mounts &&
   [ "$(cat /proc/self/cgroup)" != "0::/" ]; then
	echo $$ >"$CG/cgroup.procs"
fi

# counters DEV: the dispatch counters that exist (old and new names)
counters() {
	local c s=
	for c in reqs_dio reqs_buffered reqs_worker reqs_nowait nowait_again reqs_helper reqs_inline batches wakeups errors; do
		[ -e "/sys/block/$(devname "$1")/$DUT/$c" ] && s="$s $c=$(timeout 3 cat "/sys/block/$(devname "$1")/$DUT/$c")"
	done
	echo "${s# }"
}
# blk_sha DEV OFFSET LEN: checksum of DEV's bytes, read with O_DIRECT
blk_sha() {
	timeout 60 dd if="$1" bs=4096 iflag=direct,skip_bytes,count_bytes skip="$2" count="$3" status=none |
		sha256sum | cut -d' ' -f1
}
# exit_why RC: words for a writer's exit status
exit_why() {
	case $1 in
	0) echo "exit 0" ;;
	153) echo "exit 153: killed by SIGXFSZ (the backing file system checked the writer's RLIMIT_FSIZE)" ;;
	124) echo "exit 124: timed out" ;;
	*) echo "exit $1" ;;
	esac
}

# ============================================ 1. the writer's RLIMIT_FSIZE
# ulimit -f counts 1 KiB blocks in bash: 1024 = 1 MiB; the write is at 8 MiB.
for kind in dut stock; do
	for mode in direct buffered; do
		if [ "$mode" = direct ]; then flags=(oflag=direct conv=notrunc); else flags=("conv=notrunc,fsync"); fi
		d="1. ulimit -f 1024 writer, 4 KiB $mode write at 8 MiB of $(kind_name "$kind") (dio on, sparse file on ext4): succeeds, data written"
		[ "$kind" = dut ] || d="$d (control)"
		f=$D/fsize-$kind-$mode.img
		truncate -s 16M "$f"
		mkrand "$SCRATCH/blk" 4096
		dev=$(kind_bind "$kind" "$f" 1) || { fail "$d" "$dev"; continue; }
		# shellcheck disable=SC2016 # expanded by the inner bash
		timeout 60 bash -c 'ulimit -f 1024 && exec dd if="$1" of="$2" bs=4096 seek=2048 count=1 status=none "${@:3}"' \
			_ "$SCRATCH/blk" "$dev" "${flags[@]}" >"$SCRATCH/w.err" 2>&1
		rc=$?
		want=$(sha "$SCRATCH/blk")
		got=$(blk_sha "$dev" $((8 * MiB)) 4096)
		[ "$kind" != dut ] || diag "$mode: $(counters "$dev")"
		kind_unbind "$dev"
		inf=$(sha_range "$f" $((8 * MiB)) 4096)
		if [ $rc = 0 ] && [ "$got" = "$want" ] && [ "$inf" = "$want" ]; then
			ok "$d"
		else
			fail "$d" "writer: $(exit_why $rc) $(head -c 300 "$SCRATCH/w.err")" \
				"read back: device ${got:0:12}, backing file ${inf:0:12}, written ${want:0:12}"
		fi
	done
done

# =========================================== 2. root's reserved blocks
# A 64 MiB ext4 (4 KiB blocks, half of it reserved for root) on a stock
# loop device over a tmpfs file, filled by root until only the reserve
# is free; 'nobody' then writes 4 MiB through the device into holes of a
# sparse backing file: the blocks come out of root's reserve.
RES=$SCRATCH/reserve.fs
RM=$(mkmnt ctx-reserve)
res_ok=
if truncate -s 64M "$RES" && RESDEV=$(losetup -f --show "$RES" 2>&1) &&
   mkfs.ext4 -q -F -b 4096 -m 50 -E lazy_itable_init=0,lazy_journal_init=0 "$RESDEV" >"$SCRATCH/mkfs.err" 2>&1 &&
   mount -t ext4 "$RESDEV" "$RM"; then
	MNTS+=("$RM")
	for kind in dut stock; do
		for mode in direct buffered; do truncate -s 8M "$RM/$kind-$mode.img"; done
	done
	avail=$(df -B1 --output=avail "$RM" | tail -n 1)
	[ "$avail" -le 0 ] || fallocate -l "$avail" "$RM/filler"
	sync
	avail=$(df -B1 --output=avail "$RM" | tail -n 1)
	free=$(( $(stat -f -c '%f' "$RM") * $(stat -f -c '%S' "$RM") ))
	diag "reserve fs: $(df -h --output=size,used,avail "$RM" | tail -n 1 | tr -s ' '); free for root $((free / MiB)) MiB, for others $((avail / 1024)) KiB"
	if [ "$avail" -le $((256 * 1024)) ] && [ "$free" -ge $((20 * MiB)) ]; then
		res_ok=1
		mkdir -m 1777 "$RM/u"
		if timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
			dd if=/dev/zero of="$RM/u/probe" bs=64k count=16 conv=fsync status=none 2>"$SCRATCH/probe.err"; then
			diag "note: nobody could still write 1 MiB to a file of the reserve fs"
		else
			diag "nobody writing a file there: $(head -c 200 "$SCRATCH/probe.err")"
		fi
		rm -rf "$RM/u"
	else
		why="could not leave only root's reserve free (avail $avail bytes, free $free)"
	fi
else
	why="cannot make the reserve fs: $RESDEV $(cat "$SCRATCH/mkfs.err" 2>/dev/null)"
fi
mkrand "$SCRATCH/user.dat" $((4 * MiB))
chmod 0644 "$SCRATCH/user.dat"
for kind in dut stock; do
	for mode in direct buffered; do
		if [ "$mode" = direct ]; then flags=(oflag=direct "conv=notrunc,fsync"); else flags=("conv=notrunc,fsync"); fi
		d="2. user nobody, node 0666: 4 MiB $mode write through $(kind_name "$kind") (dio on) into holes of a file on ext4 with only root's reserve free: succeeds, data written"
		[ "$kind" = dut ] || d="$d (control)"
		[ -n "$res_ok" ] || { fail "$d" "$why"; continue; }
		f=$RM/$kind-$mode.img
		dev=$(kind_bind "$kind" "$f" 1) || { fail "$d" "$dev"; continue; }
		chmod 0666 "$dev"
		timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups \
			dd if="$SCRATCH/user.dat" of="$dev" bs=64k "${flags[@]}" status=none >"$SCRATCH/w.err" 2>&1
		rc=$?
		c=$(counters "$dev")
		got=$(blk_sha "$dev" 0 $((4 * MiB)))
		kind_unbind "$dev"
		want=$(sha "$SCRATCH/user.dat")
		alloc=$(($(stat -c '%b * %B' "$f")))
		if [ $rc = 0 ] && [ "$got" = "$want" ] && [ "$alloc" -ge $((4 * MiB)) ]; then
			ok "$d"
		else
			fail "$d" "writer: $(exit_why $rc) $(head -c 300 "$SCRATCH/w.err")" \
				"read back ${got:0:12}, written ${want:0:12}; backing file allocated $alloc bytes" \
				"free on the fs now: $(df -B1 --output=avail "$RM" | tail -n 1) for others; $c"
		fi
	done
done

# ======================================= 3. who runs the backing file's code
d="3. kprobes on ext4_file_read_iter/ext4_file_write_iter/ext4_sync_file during fio (libaio QD16 randrw + psync with fsync, O_DIRECT): hits only in aloopN-q* threads or kworkers"
for TR in /sys/kernel/tracing /sys/kernel/debug/tracing; do
	[ -e "$TR/kprobe_events" ] && break
	mountpoint -q "$TR" || mount -t tracefs nodev "$TR" 2>/dev/null
	[ -e "$TR/kprobe_events" ] && break
done
[ -e "$TR/kprobe_events" ] || TR=
kwhy=
if [ -z "$TR" ]; then
	kwhy="no tracefs with kprobe_events (CONFIG_KPROBE_EVENTS)"
else
	echo 0 >"$TR/tracing_on"
	for p in rd:ext4_file_read_iter wr:ext4_file_write_iter fs:ext4_sync_file; do
		if echo "p:actx/${p%%:*} ${p#*:} comm=\$comm" >>"$TR/kprobe_events" 2>/dev/null; then
			KPROBES+=("${p%%:*}")
		else
			kwhy="cannot add a kprobe on ${p#*:}"
		fi
	done
	[ ${#KPROBES[@]} = 3 ] || { [ -n "$kwhy" ] || kwhy="kprobes missing"; }
fi
if [ -n "$kwhy" ]; then
	skip "$d" "$kwhy"
else
	F3=$D/trace.img
	fallocate -l 64M "$F3"
	if ! dev=$(kind_bind dut "$F3" 1); then
		fail "$d" "$dev"
	else
		udev_settle
		echo 8192 >"$TR/buffer_size_kb" 2>/dev/null
		echo >"$TR/trace"
		echo 1 >"$TR/events/actx/enable"
		echo 1 >"$TR/tracing_on"
		o=$(timeout 120 fio --filename="$dev" --direct=1 --bs=4k --size=64M --time_based --runtime=5 \
			--randrepeat=0 --output-format=terse \
			--name=aio --rw=randrw --ioengine=libaio --iodepth=16 \
			--name=sync --rw=randrw --ioengine=psync --fsync=16 2>&1)
		rc=$?
		echo 0 >"$TR/tracing_on"
		echo 0 >"$TR/events/actx/enable"
		# "  comm-pid [cpu] flags time: rd: (ext4_file_read_iter+0x0/...) comm="fio""
		sed -nE 's/.* (rd|wr|fs): \(.* comm="(.*)"$/\2/p' "$TR/trace" | sort | uniq -c | sort -rn >"$SCRATCH/comms"
		total=$(awk '{s += $1} END {print s + 0}' "$SCRATCH/comms")
		bad=$(awk '$2 !~ /^aloop[0-9]+-q/ && $2 !~ /^kworker/' "$SCRATCH/comms")
		per=$(for p in "${KPROBES[@]}"; do printf '%s=%s ' "$p" "$(grep -c " $p: " "$TR/trace")"; done)
		diag "hits by task: $(awk '{printf "%s %s; ", $2, $1}' "$SCRATCH/comms" | head -c 600)" "hits by probe: $per; $(counters "$dev")"
		if [ $rc = 0 ] && [ "$total" -gt 0 ] && [ -z "$bad" ]; then
			ok "$d ($total hits)"
		else
			fail "$d" "fio rc $rc; $total hits; outside aloop's threads:" "${bad:-none}" \
				"$([ $rc = 0 ] || echo "$o" | tail -n 5)"
		fi
		kind_unbind "$dev"
	fi
fi

# ================================ 4. hazards kept for the thread path
F=$D/hz.img
mkrand "$F" $((32 * MiB))
dev=$(kind_bind dut "$F" 1) || { nodev=$dev; dev=; }
d="4a. fio verify randrw 4k libaio QD32, 16 I/Os per submit (a plug), 2 jobs: data intact"
if [ -z "$dev" ]; then
	fail "$d" "no device: $nodev"
else
	o=$(timeout 240 fio --name=p --filename="$dev" --rw=randrw --size=16M --numjobs=2 --offset_increment=16M \
		--ioengine=libaio --direct=1 --bs=4k --iodepth=32 --iodepth_batch_submit=16 \
		--iodepth_batch_complete_min=8 --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
		--randrepeat=0 --output-format=terse 2>&1)
	result "$d" $? "$(tail -n 5 <<<"$o")" "$(counters "$dev")"
fi

d="4b. backing file system frozen: an O_DIRECT write through $DUT waits, completes after the thaw, data written"
if [ -z "$dev" ]; then
	fail "$d" "no device"
elif ! mkpattern "$SCRATCH/pat" 65536 132 || ! fsfreeze -f "$BACKING" 2>/dev/null; then
	skip "$d" "cannot freeze $BACKING"
else
	# Nothing of this script may touch $BACKING until the thaw.
	timeout 120 dd if="$SCRATCH/pat" of="$dev" bs=64K seek=7 oflag=direct conv=notrunc status=none &
	p=$!
	sleep 3
	kill -0 $p 2>/dev/null; waiting=$?
	fsfreeze -u "$BACKING"
	left=$(wait_pids 60 $p); wait $p; rc=$?
	got=$(blk_sha "$dev" $((7 * 65536)) 65536)
	if [ $waiting = 0 ] && [ -z "$left" ] && [ $rc = 0 ] && [ "$got" = "$(sha "$SCRATCH/pat")" ]; then
		ok "$d"
	else
		fail "$d" "waiting while frozen: $([ $waiting = 0 ] && echo yes || echo no); left '$left'; dd rc $rc" \
			"data $([ "$got" = "$(sha "$SCRATCH/pat")" ] && echo ok || echo WRONG)"
	fi
fi

d="4c. $DUT on a file on ext4 on $DUT, both dio: fio verify randrw QD16 on the upper device intact, fsck clean"
LM=$(mkmnt ctx-low)
if [ -z "$dev" ]; then
	fail "$d" "no device"
elif timeout 120 mkfs.ext4 -q -F "$dev" && mount "$dev" "$LM"; then
	MNTS+=("$LM")
	fallocate -l 16M "$LM/up.img"
	if ! up=$(kind_bind dut "$LM/up.img" 1); then
		fail "$d" "$up"
	else
		o=$(timeout 240 fio --name=s --filename="$up" --rw=randrw --size=16M --ioengine=libaio --direct=1 \
			--bs=4k --iodepth=16 --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
			--randrepeat=0 --output-format=terse 2>&1)
		rc=$?
		kind_unbind "$up"
		fo=$(umount "$LM" 2>&1 && timeout 120 fsck.ext4 -fn "$dev" 2>&1)
		frc=$?
		if [ $rc = 0 ] && [ $frc = 0 ]; then
			ok "$d"
		else
			fail "$d" "fio rc $rc: $(tail -n 5 <<<"$o")" "fsck rc $frc: $(tail -n 5 <<<"$fo")"
		fi
	fi
else
	fail "$d" "cannot make or mount ext4 on $dev"
fi
[ -z "$dev" ] || kind_unbind "$dev"

# 4d. The stack of mainline's inline submission, now on the thread path:
# fio -> ext4 -> upper aloop -> (its thread) xfs -> dm-linear -> lower
# aloop -> (its thread) ext4 of $BACKING.  Each aloop thread starts a new
# stack, so no chain of file systems grows the submitter's.
d="4d. ext4 on $DUT on a file on xfs on dm-linear on $DUT (dio everywhere): fio verify randrw QD16 intact, fsck.ext4 and xfs_repair -n clean"
swhy=
for c in mkfs.xfs xfs_repair dmsetup; do have $c || swhy="${swhy:+$swhy, }$c not installed"; done
[ -n "$swhy" ] || timeout 20 dmsetup targets 2>/dev/null | grep -q '^linear' || swhy="no dm-linear target (dm-mod)"
if [ -n "$swhy" ]; then
	skip "$d" "$swhy"
else
	stk() {
		local low xm um up dm=actx-stk
		truncate -s 320M "$D/stk-low.img"
		low=$(kind_bind dut "$D/stk-low.img" 1) || { echo "lower: $low"; return 1; }
		timeout 30 dmsetup create --noudevsync $dm --table "0 $((320 * 2048)) linear $low 0" ||
			{ echo "dmsetup create linear on $low failed"; return 1; }
		DMS=("$dm")
		# udev makes the node; --noudevsync does not wait for it
		wait_dev /dev/mapper/$dm 60 || { echo "/dev/mapper/$dm did not appear in 60 s"; return 1; }
		xm=$(mkmnt ctx-stk-xfs); um=$(mkmnt ctx-stk-ext4)
		timeout 120 mkfs.xfs -q -f /dev/mapper/$dm >"$SCRATCH/mkfs.err" 2>&1 &&
			mount -t xfs /dev/mapper/$dm "$xm" || { echo "mkfs.xfs/mount: $(head -c 300 "$SCRATCH/mkfs.err")"; return 1; }
		MNTS+=("$xm")
		fallocate -l 96M "$xm/up.img"
		up=$(kind_bind dut "$xm/up.img" 1) || { echo "upper: $up"; return 1; }
		timeout 120 mkfs.ext4 -q -F "$up" && mount -t ext4 "$up" "$um" || { echo "mkfs.ext4/mount on $up failed"; return 1; }
		MNTS+=("$um")
		o=$(timeout 300 fio --name=stk --directory="$um" --rw=randrw --size=32M --ioengine=libaio \
			--direct=1 --bs=4k --iodepth=16 --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
			--randrepeat=0 --fsync_on_close=1 --output-format=terse 2>&1) ||
			{ echo "fio: $(tail -n 5 <<<"$o")"; return 1; }
		umount "$um" && unset 'MNTS[-1]' || { echo "umount ext4 failed"; return 1; }
		o=$(timeout 120 fsck.ext4 -fn "$up" 2>&1) || { echo "fsck.ext4: $(tail -n 5 <<<"$o")"; return 1; }
		kind_unbind "$up"
		umount "$xm" && unset 'MNTS[-1]' || { echo "umount xfs failed"; return 1; }
		o=$(timeout 120 xfs_repair -n /dev/mapper/$dm 2>&1) || { echo "xfs_repair -n: $(tail -n 5 <<<"$o")"; return 1; }
		timeout 30 dmsetup remove --noudevsync $dm && DMS=()
		kind_unbind "$low"
	}
	# not in $(...): MNTS and DMS must reach ctx_cleanup if a step fails
	if stk >"$SCRATCH/stk.out" 2>&1; then ok "$d"; else fail "$d" "$(tail -c 600 "$SCRATCH/stk.out")"; fi
fi

klog_clean_step "kernel log clean (no WARNING/BUG/lockdep/KASAN/hung task), no task in D state" "$MARK"
finish
