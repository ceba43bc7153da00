#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Durability across a hard power-off, two guest boots:
#   scripts/durability.sh KVER ALOOP_KO [VNG-EXTRA-ARGS...]
# Boot 1 writes through aloop with direct I/O, fsyncs, and powers off
# with sysrq 'o' (no sync); boot 2 mounts the backing ext4 and checks
# that every fsync'd byte is there.  Prints KTAP; exit 1 on failure.
#
# Environment:
#   ALOOP_ROOT=DIR        boot DIR/boot/vmlinuz-KVER with `vng --root DIR`
#                         (e.g. the trixie root of scripts/trixie-root.sh);
#                         default: the host's /boot/vmlinuz-KVER and /
#   ALOOP_DUR_TIMEOUT=600 seconds per boot
#   ALOOP_KVM=1           use KVM (default: TCG)
#   ALOOP_DUR_KEEP=1      keep the work directory (printed on stderr)
#   ALOOP_DUR_LOG=FILE    also copy the console log of both boots there
set -u
kver=$1 ko=$2; shift 2
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${ALOOP_ROOT:-}
W=$(mktemp -d /tmp/aloop-dur.XXXXXX)
[ -n "${ALOOP_DUR_KEEP:-}" ] && echo "durability: work directory $W" >&2
cleanup() {
	[ -z "${ALOOP_DUR_LOG:-}" ] || cp "$W/vng.log" "$ALOOP_DUR_LOG" 2>/dev/null
	[ -n "${ALOOP_DUR_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
chmod 755 "$W"
mkdir -p "$W/res"
truncate -s 256M "$W/disk.img"
cp "$ko" "$W/res/aloop.ko" || { echo "durability: cannot read $ko" >&2; exit 1; }

kvm=(--disable-kvm)
[ "${ALOOP_KVM:-0}" != 1 ] || kvm=()
if [ -n "$ROOT" ]; then
	# The guest sees ROOT as /: the results directory is shared at a
	# guest path inside its /tmp overlay and the tree read-only at the
	# same path as on the host (its mount point must exist in ROOT).
	img=$ROOT/boot/vmlinuz-$kver
	GRES=/tmp/aloop-dur-res
	mkdir -p "$ROOT$REPO" || exit 1
	where=(--root "$ROOT" --rwdir "$GRES=$W/res" --rodir "$REPO=$REPO")
	run_in=$ROOT	# vng wants the current directory inside the root
else
	img=/boot/vmlinuz-$kver
	GRES=$W/res
	where=(--rwdir "$W/res")
	run_in=/	# vng resolves --rwdir relative to the current directory
fi
vm() {
	local t0 t1 t2
	echo "=== durability boot: $PHASE_ARGS" >>"$W/vng.log"
	t0=$(date +%s)
	rm -f "$W/vm.start"
	(cd "$run_in" && flock /tmp/aloop-vm.lock sh -c 'date +%s >"$0"; exec "$@"' "$W/vm.start" \
		timeout -k 30 "${ALOOP_DUR_TIMEOUT:-600}" \
		vng --run "$img" "${kvm[@]}" --user root \
		-m 1G -p 2 "${where[@]}" "$@" \
		--qemu-opts="-drive file=$W/disk.img,format=raw,if=virtio,cache=none" \
		--exec "$REPO/tests/durability/guest-phase.sh $PHASE_ARGS" \
		</dev/null >>"$W/vng.log" 2>&1)
	t2=$(date +%s); t1=$(cat "$W/vm.start" 2>/dev/null || echo "$t0")
	echo "durability: waited $((t1 - t0))s for the VM lock, boot ${PHASE_ARGS%% *} took $((t2 - t1))s" >&2
}
PHASE_ARGS="write $GRES/aloop.ko $GRES" vm "$@"
if [ ! -f "$W/res/phase1" ]; then
	echo "KTAP version 1"; echo "1..1"
	echo "not ok 1 - durability: the write phase did not complete"
	{ sed 's/^/# /' "$W/res/write.log" 2>/dev/null || tail -n 20 "$W/vng.log" | sed 's/^/# /'; } | tail -20
	echo "# 0 passed, 1 failed"
	exit 1
fi
PHASE_ARGS="verify $GRES" vm "$@"
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
