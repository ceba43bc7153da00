#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Inside the guest, for scripts/durability.sh.
#   guest-phase.sh write ALOOP_KO RESULTS   attach a file on ext4 through
#       aloop with dio, write chunks, fsync each, record their checksums,
#       then power off hard (sysrq 'o': no sync, no unmount).
#   guest-phase.sh verify RESULTS           mount the same ext4 again and
#       print KTAP comparing the backing file with the recorded checksums.
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
	sync -f "$RES/phase1" 2>/dev/null
	echo 1 >/proc/sys/kernel/sysrq
	echo o >/proc/sysrq-trigger
	sleep 30
	exit 1
fi

RES=$2
n=0 pass=0 fail=0
out() { echo "$@"; }
out "KTAP version 1"
out "1..3"
mount /dev/vda "$MNT" 2>"$RES/mount.err"; rc=$?
n=$((n + 1))
if [ $rc = 0 ]; then out "ok $n - backing ext4 mounts after the hard power-off"; pass=$((pass + 1))
else out "not ok $n - backing ext4 mounts after the hard power-off"; sed 's/^/# /' "$RES/mount.err"; fail=$((fail + 1)); fi
n=$((n + 1))
if [ "$(cat "$RES/dio" 2>/dev/null)" = 1 ]; then out "ok $n - the writes went through aloop with dio on"; pass=$((pass + 1))
else out "not ok $n - the writes went through aloop with dio on # dio='$(cat "$RES/dio" 2>/dev/null)'"; fail=$((fail + 1)); fi
bad=0 total=0
while read -r i sum; do
	total=$((total + 1))
	got=$(dd if="$MNT/back.img" bs=1M skip=$((i * 3)) count=1 status=none | sha256sum | cut -d' ' -f1)
	[ "$got" = "$sum" ] || { bad=$((bad + 1)); out "# chunk $i: expected $sum got $got"; }
done <"$RES/expected"
n=$((n + 1))
if [ "$total" = "$CHUNKS" ] && [ $bad = 0 ]; then
	out "ok $n - all $total fsync'd 1 MiB chunks are in the backing file after the hard power-off"; pass=$((pass + 1))
else
	out "not ok $n - fsync'd chunks survive the hard power-off ($bad of $total bad, expected $CHUNKS)"; fail=$((fail + 1))
fi
umount "$MNT"
out "# $pass passed, $fail failed"
