#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Durability across a hard power-off, two guest boots:
#   scripts/durability.sh KVER ALOOP_KO [VNG-EXTRA-ARGS...]
# Boot 1 writes through aloop with direct I/O, fsyncs, and powers off
# with sysrq 'o' (no sync); boot 2 mounts the backing ext4 and checks
# that every fsync'd byte is there.  Prints KTAP; exit 1 on failure.
set -u
kver=$1 ko=$2; shift 2
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/aloop-dur.XXXXXX)
[ -n "${ALOOP_DUR_KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/res"
truncate -s 256M "$W/disk.img"
vm() {
	# vng resolves --rwdir relative to the current directory
	cd / || return
	flock /tmp/aloop-vm.lock timeout -k 30 "${ALOOP_DUR_TIMEOUT:-600}" \
		vng --run "/boot/vmlinuz-$kver" --disable-kvm --user root \
		-m 1G -p 2 --rwdir "$W/res" "$@" \
		--qemu-opts="-drive file=$W/disk.img,format=raw,if=virtio,cache=none" \
		--exec "$REPO/tests/durability/guest-phase.sh $PHASE_ARGS" \
		>>"$W/vng.log" 2>&1
}
PHASE_ARGS="write $ko $W/res" vm "$@"
if [ ! -f "$W/res/phase1" ]; then
	echo "KTAP version 1"; echo "1..1"
	echo "not ok 1 - durability: the write phase did not complete"
	sed 's/^/# /' "$W/res/write.log" 2>/dev/null | tail -20
	echo "# 0 passed, 1 failed"
	exit 1
fi
PHASE_ARGS="verify $W/res" vm "$@"
if [ -f "$W/res/verify.ktap" ]; then :; fi
out=$(sed -n '/^KTAP version/,/passed, .* failed$/p' "$W/vng.log" | tr -d '\r')
if [ -z "$out" ]; then
	echo "KTAP version 1"; echo "1..1"
	echo "not ok 1 - durability: the verify phase printed nothing"
	tail -20 "$W/vng.log" | sed 's/^/# /'
	echo "# 0 passed, 1 failed"
	exit 1
fi
echo "$out"
grep -q '^not ok' <<<"$out" && exit 1
exit 0
