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
# Environment: KVER (kernel release to use; default: newest Debian 6.1
# with headers), ALOOP_KVM=1 (use KVM instead of TCG), ALOOP_SKIP_SETUP=1.
# Inside the guest this same script runs as: demo.sh --guest ALOOP_KO OUTDIR
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)

# ================================================================ guest
if [ "${1:-}" = --guest ]; then
	KO=$2 OUT=$3
	export PATH="$REPO/aloopctl:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if [ "${ALOOP_COLOR:-0}" = 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B= N=; fi
	step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
	run() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; return "${PIPESTATUS[0]}"; }
	trap 'echo; echo "demo: FAILED at line $LINENO"; dmesg | tail -n 20' ERR

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
	N=${DEV#/dev/aloop}
	echo "  kernel thread serving it: $(grep -lx "aloop$N" /proc/[0-9]*/comm 2>/dev/null | head -n 1 | xargs -r cat)"

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

KVER=${KVER:-}
if [ -z "$KVER" ]; then
	for k in /boot/vmlinuz-6.1.*; do
		k=${k#/boot/vmlinuz-}
		[[ $k =~ ^6\.1\.[0-9]+.*-amd64$ ]] && [ -e "/lib/modules/$k/build/Makefile" ] && KVER=$k
	done
fi
[ -n "$KVER" ] && [ -f "/boot/vmlinuz-$KVER" ] && [ -e "/lib/modules/$KVER/build/Makefile" ] || {
	echo "demo: no Debian 6.1 kernel with headers (set KVER=...; scripts/setup-host.sh installs it)" >&2
	exit 1
}

cd "$REPO"
say "building aloopctl"
make -s aloopctl
say "building aloop.ko for $KVER in build/$KVER"
mkdir -p "build/$KVER"
(
	flock 9	# check.sh may be building the same tree
	rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude='*.cmd' --exclude='*.symvers' --exclude='modules.order' \
		--exclude='aloop_probes.h' --exclude='*.d' --exclude='*.log' \
		src include Kbuild Makefile VERSION scripts "build/$KVER/"
	make -s -C "build/$KVER" KVER="$KVER" module >"build/$KVER/demo-build.log" 2>&1
) 9>"build/.build-$KVER.lock" || {
	tail -n 30 "build/$KVER/demo-build.log"; echo "demo: module build failed" >&2; exit 1; }

TMP=$(mktemp -d "$REPO/build/demo.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/out"
truncate -s 1G "$TMP/disk.img"
cache=none
dd if=/dev/zero of="$TMP/disk.img" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null || cache=writeback
kvm=(--disable-kvm); [ "${ALOOP_KVM:-0}" != 1 ] || kvm=()

say "booting $KVER in QEMU (TCG: about 20 s to boot; waits for $(basename /tmp/aloop-vm.lock) if another VM runs)"
cmd=$(printf '%q ' env ALOOP_COLOR=$COLOR "$REPO/scripts/demo.sh" --guest "$REPO/build/$KVER/aloop.ko" "$TMP/out")
set +e
(cd / && flock /tmp/aloop-vm.lock timeout -k 30 900 \
	vng --run "/boot/vmlinuz-$KVER" "${kvm[@]}" --user root -m 2G -p 2 --rwdir "$TMP/out" \
	--qemu-opts="-drive file=$TMP/disk.img,format=raw,if=virtio,cache=$cache" \
	--exec "$cmd" </dev/null)
set -e
if [ -f "$TMP/out/demo-ok" ]; then
	say "done"
else
	echo "demo: the guest did not finish the demo" >&2
	exit 1
fi
