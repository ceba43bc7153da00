#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`: build aloop for the Debian 6.1 kernel, boot it in a QEMU
# guest (virtme-ng) and use it the way a newcomer would:
#
#   insmod aloop.ko -> 256 MiB image file -> aloopctl attach -> mkfs.ext4
#   -> mount -> write a file, read it back (checksums) -> aloopctl list /
#   status -> umount -> detach
#
# and then what aloop is for: the same 64 MiB file read through aloop
# (direct I/O) and through stock loop (buffered, losetup's default), with
# the backing file's page cache afterwards (fincore) side by side, and
# one short fio figure (4k random reads, QD16) of each.
#
# Environment: KVER (kernel to use, anything scripts/lib/kernel.sh finds:
# a release, a series, "trixie"; default: the newest Debian 6.1 with
# headers), ALOOP_KVM=1 (use KVM instead of TCG), ALOOP_SKIP_SETUP=1.
# Inside the guest this same script runs as: demo.sh --guest ALOOP_KO OUTDIR
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)

# ================================================================ guest
if [ "${1:-}" = --guest ]; then
	KO=$2 OUT=$3
	export PATH="$REPO/aloopctl:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if [ "${ALOOP_COLOR:-0}" = 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
	step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
	run() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; return "${PIPESTATUS[0]}"; }
	trap 'echo; echo "demo: FAILED at line $LINENO"; dmesg | tail -n 20' ERR
	# the kernel log and taint flags, for the host's scan
	cat /proc/sys/kernel/tainted >"$OUT/taint-start"
	trap 'cat /proc/sys/kernel/tainted >"$OUT/taint-end"; dmesg >"$OUT/dmesg.txt"' EXIT

	step "Guest kernel $(uname -r); loading the aloop module"
	run insmod "$KO"
	run grep -w aloop /proc/devices
	run ls -l /dev/aloop-control

	step "A backing filesystem: ext4 on the guest's scratch disk /dev/vda"
	mkdir -p /run/demo/back /run/demo/mnt
	run mkfs.ext4 -q -F /dev/vda
	run mount /dev/vda /run/demo/back
	IMG=/run/demo/back/disk.img
	run truncate -s 256M "$IMG"
	run ls -lsh "$IMG"

	step "Attach the image: aloopctl prints the device it picked"
	echo "  \$ aloopctl attach $IMG"
	DEV=$(aloopctl attach "$IMG")
	echo "    $DEV"
	for _ in $(seq 50); do [ -b "$DEV" ] && break; sleep 0.1; done
	run aloopctl list
	run aloopctl status "$DEV"
	NR=${DEV#/dev/aloop}
	echo "  kernel threads serving it: $(grep -lx "aloop$NR-q[0-9]*" /proc/[0-9]*/comm 2>/dev/null | xargs -r cat | tr "\n" " ")"

	step "Make a filesystem on $DEV and mount it"
	run mkfs.ext4 -q "$DEV"
	run mount "$DEV" /run/demo/mnt
	run df -h /run/demo/mnt

	step "Write a 32 MiB file of random data, note its checksum"
	run dd if=/dev/urandom of=/run/demo/mnt/data.bin bs=1M count=32 status=none
	W=$(sha256sum /run/demo/mnt/data.bin | cut -d' ' -f1)
	echo "  written: sha256 $W"

	step "Unmount, drop all caches, mount again and read it back"
	run umount /run/demo/mnt
	sync; echo 3 >/proc/sys/vm/drop_caches
	run mount "$DEV" /run/demo/mnt
	R=$(sha256sum /run/demo/mnt/data.bin | cut -d' ' -f1)
	echo "  read:    sha256 $R"
	if [ "$W" = "$R" ]; then echo "  => identical"; else echo "  => DIFFERENT"; false; fi
	run ls -l /run/demo/mnt

	step "What aloopctl reports while it is in use"
	run aloopctl list
	run aloopctl list --json
	run aloopctl status "$DEV"

	step "Unmount and detach"
	run umount /run/demo/mnt
	run aloopctl detach "$DEV"
	run aloopctl list
	step "The filesystem inside the image is still good (e2fsck on the file)"
	run e2fsck -fn "$IMG"

	# ------------------------------------------------ what aloop is for
	FILE=/run/demo/back/data.img
	step "What aloop is for: one page cache, not two"
	echo "  Reading a loop device fills two page caches: the device's, and the"
	echo "  backing file's (stock loop reads it buffered).  aloop reads the file"
	echo "  with direct I/O: only the device's own cache holds the data."
	run dd if=/dev/urandom of="$FILE" bs=1M count=64 status=none
	run modprobe loop
	mib() { awk '{ printf "%.1f MiB", $1 / 1048576 }'; }
	cached() { fincore --bytes --noheadings --output RES "$FILE" | mib; }
	iops() {	# DEV: 4k random reads, QD16, O_DIRECT, 16 MiB, cold; read IOPS
		sync; echo 3 >/proc/sys/vm/drop_caches
		fio --name=demo --filename="$1" --rw=randread --bs=4k --direct=1 \
			--ioengine=libaio --iodepth=16 --io_size=16M --randrepeat=1 \
			--minimal 2>/dev/null | awk -F';' '{ printf "%d IOPS", $8 }'
	}
	# read DEV through the page cache (dd, buffered), then the file's cache
	readback() {
		sync; echo 3 >/proc/sys/vm/drop_caches
		printf '  $ dd if=%s of=/dev/null bs=1M\n' "$1"
		dd if="$1" of=/dev/null bs=1M status=none
		printf '  $ fincore %s   ->  %s cached\n' "$FILE" "$(cached)"
	}
	echo
	echo "  aloop (direct I/O, the default):"
	echo "  \$ aloopctl attach $FILE"
	ADEV=$(aloopctl attach "$FILE")
	for _ in $(seq 50); do [ -b "$ADEV" ] && break; sleep 0.1; done
	echo "    $ADEV, dio $(cat "/sys/block/${ADEV#/dev/}/aloop/dio")"
	readback "$ADEV"; A_CACHED=$(cached)
	A_IOPS=$(iops "$ADEV")
	run aloopctl detach "$ADEV"
	echo
	echo "  stock loop (buffered, losetup's default):"
	echo "  \$ losetup -f --show $FILE"
	LDEV=$(losetup -f --show "$FILE")
	echo "    $LDEV, dio $(cat "/sys/block/${LDEV#/dev/}/loop/dio")"
	readback "$LDEV"; L_CACHED=$(cached)
	L_IOPS=$(iops "$LDEV")
	run losetup -d "$LDEV"

	step "Side by side (64 MiB read; fio: 4k random reads, QD16, 16 MiB)"
	printf '  %-34s %-20s %s\n' "" "aloop (dio)" "loop (buffered)" \
		"backing file in the page cache" "$A_CACHED" "$L_CACHED" \
		"fio randread 4k QD16" "$A_IOPS" "$L_IOPS"
	echo "  (QEMU without KVM emulates every instruction: the IOPS only compare"
	echo "   the two drivers in this guest, they say nothing about real hardware.)"
	rm -f "$FILE"
	run rmmod aloop
	echo
	echo "demo: all steps succeeded"
	touch "$OUT/demo-ok"
	exit 0
fi

# ================================================================= host
COLOR=0; [ -t 1 ] && COLOR=1
say() { if [ $COLOR = 1 ]; then printf '\033[1mdemo:\033[0m %s\n' "$*"; else printf 'demo: %s\n' "$*"; fi; }

[ "${ALOOP_SKIP_SETUP:-0}" = 1 ] || { say "checking host packages (scripts/setup-host.sh)"; "$REPO/scripts/setup-host.sh"; }

# shellcheck source=lib/aloop.sh
. "$REPO/scripts/lib/aloop.sh"
kernel_find "${KVER:-6.1}" || {
	echo "demo: $K_WHY (set KVER=...; scripts/setup-host.sh installs the Debian 6.1 kernel)" >&2
	exit 1
}
KVER=$K_REL
cd "$REPO"
say "building aloopctl"
make -s aloopctl
say "building aloop.ko for $KVER in build/$KVER"
module_build "$REPO/build/$KVER" "$REPO/build/$KVER/demo-build.log" || {
	tail -n 30 "build/$KVER/demo-build.log"; echo "demo: module build failed" >&2; exit 1; }

TMP=$(mktemp -d "$REPO/build/demo.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/out"
truncate -s 1G "$TMP/disk.img"

say "booting $KVER in QEMU (TCG: about 20 s to boot; waits for $VM_LOCK if another VM runs)"
set +e
vm_boot --results "$TMP/out" --disk "$TMP/disk.img:aloop-demo" --timeout 900 --log "$TMP/vng.log" \
	-- env ALOOP_COLOR=$COLOR "$REPO/scripts/demo.sh" --guest "$REPO/build/$KVER/aloop.ko" "$VM_RESULTS"
set -e
klog_scan "$TMP/out/dmesg.txt" "$(cat "$TMP/out/taint-start" 2>/dev/null || echo 0)" \
	"$(cat "$TMP/out/taint-end" 2>/dev/null || echo 0)" && st=0 || st=$?
if [ "$st" = 1 ]; then
	echo "demo: the guest's kernel log is not clean:" >&2
	echo "$KLOG_REPORT" >&2
	exit 1
fi
if [ -f "$TMP/out/demo-ok" ]; then
	say "done"
else
	echo "demo: the guest did not finish the demo" >&2
	exit 1
fi
