#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Inside the guest, for scripts/durability.sh.
#   guest-phase.sh write ALOOP_KO RESULTS   attach a file on ext4 through
#       aloop with dio, write chunks, fsync each, record their checksums,
#       then power off hard (sysrq 'o': no sync, no unmount).
#   guest-phase.sh verify RESULTS           mount the same ext4 again and
#       print KTAP comparing the backing file with the recorded checksums.
# Each phase leaves its kernel log (dmesg-PHASE.txt) and taint flags
# (taint-start-PHASE, taint-end-PHASE) in RESULTS for the host's scan.
set -u
phase=$1
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$REPO/aloopctl:/usr/sbin:/usr/bin:/sbin:/bin"
MNT=/run/dur
mkdir -p "$MNT"
CHUNKS=16
MiB=$((1024 * 1024))

if [ "$phase" = write ]; then
	KO=$2 RES=$3
	exec >"$RES/write.log" 2>&1
	cat /proc/sys/kernel/tainted >"$RES/taint-start-write"
	set -x
	insmod "$KO" || exit 1
	mkfs.ext4 -q -F /dev/vda && mount /dev/vda "$MNT" || exit 1
	# Sparse: each dio write allocates blocks, so only a working flush
	# (REQ_PREFLUSH -> vfs_fsync on the backing file) commits the extents
	# before ext4's periodic journal commit.
	truncate -s 64M "$MNT/back.img"
	sync
	dev=$(aloopctl attach "$MNT/back.img") || exit 1
	cat "/sys/block/${dev#/dev/}/aloop/dio" >"$RES/dio"
	: >"$RES/expected"
	for i in $(seq 0 $((CHUNKS - 1))); do
		head -c $MiB /dev/urandom >/run/chunk
		# O_DIRECT write through aloop, then fsync of the device:
		# REQ_PREFLUSH reaches the backing file as vfs_fsync().
		dd if=/run/chunk of="$dev" bs=1M seek=$((i * 3)) oflag=direct conv=notrunc,fsync status=none || exit 1
		echo "$i $(sha256sum </run/chunk | cut -d' ' -f1)" >>"$RES/expected"
	done
	# Unsynced tail: allowed to be lost, must not corrupt the rest.
	head -c $MiB /dev/urandom | dd of="$dev" bs=1M seek=60 oflag=direct status=none
	echo written >"$RES/phase1"
	# the kernel log of this boot, for the host's scan: no later chance
	cat /proc/sys/kernel/tainted >"$RES/taint-end-write"
	dmesg >"$RES/dmesg-write.txt"
	sync -f "$RES/phase1" 2>/dev/null
	echo 1 >/proc/sys/kernel/sysrq
	echo o >/proc/sysrq-trigger
	sleep 30
	exit 1
fi

RES=$2
# shellcheck source=../lib/ktap.sh
. "$REPO/tests/lib/ktap.sh"
cat /proc/sys/kernel/tainted >"$RES/taint-start-verify"
ktap_on_exit "cat /proc/sys/kernel/tainted >'$RES/taint-end-verify'; dmesg >'$RES/dmesg-verify.txt'"
ktap_plan 3
mount /dev/vda "$MNT" 2>"$RES/mount.err"
ktap_result $? "backing ext4 mounts after the hard power-off" "$(cat "$RES/mount.err")"
dio=$(cat "$RES/dio" 2>/dev/null)
[ "$dio" = 1 ]
ktap_result $? "the writes went through aloop with dio on" "dio='$dio'"
bad=0 total=0
while read -r i sum; do
	total=$((total + 1))
	got=$(dd if="$MNT/back.img" bs=1M skip=$((i * 3)) count=1 status=none | sha256sum | cut -d' ' -f1)
	[ "$got" = "$sum" ] || { bad=$((bad + 1)); ktap_diag "chunk $i: expected $sum got $got"; }
done <"$RES/expected"
if [ "$total" = "$CHUNKS" ] && [ $bad = 0 ]; then
	ktap_pass "all $total fsync'd 1 MiB chunks are in the backing file after the hard power-off"
else
	ktap_fail "fsync'd chunks survive the hard power-off ($bad of $total bad, expected $CHUNKS)"
fi
ktap_on_exit "umount '$MNT'"
ktap_finish
