#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Durability across a hard power-off, two guest boots:
#   scripts/durability.sh KERNEL ALOOP_KO
# Boot 1 writes through aloop with direct I/O, fsyncs, and powers off
# with sysrq 'o' (no sync); boot 2 mounts the backing ext4 and checks
# that every fsync'd byte is there (tests/durability/guest-phase.sh).
# The kernel log of each boot is scanned (scripts/lib/klog.sh).  Prints
# KTAP; exit 1 on failure.
#
# KERNEL is anything scripts/lib/kernel.sh finds: a release, a series,
# "trixie" or "debug".
# Environment:
#   ALOOP_ROOT=DIR        boot DIR/boot/vmlinuz-KERNEL with `vng --root DIR`
#                         (e.g. the trixie root of scripts/trixie-root.sh)
#   ALOOP_KERNEL_SPEC     the kernel as scripts/check.sh found it (K_SPEC)
#   ALOOP_DUR_TIMEOUT=600 seconds per boot
#   ALOOP_KVM=1           use KVM (default: TCG)
#   ALOOP_DUR_KEEP=1      keep the work directory (printed on stderr)
#   ALOOP_DUR_LOG=FILE    also copy the console log of both boots there
set -u
# shellcheck source=lib/aloop.sh
. "$(dirname "$0")/lib/aloop.sh"
# shellcheck source=../tests/lib/ktap.sh
. "$REPO/tests/lib/ktap.sh"
kver=${1:?usage: durability.sh KERNEL ALOOP_KO} ko=${2:?usage: durability.sh KERNEL ALOOP_KO}

if [ -n "${ALOOP_KERNEL_SPEC:-}" ]; then
	kernel_load "$ALOOP_KERNEL_SPEC"
elif [ -n "${ALOOP_ROOT:-}" ]; then
	kernel_load "$kver|$ALOOP_ROOT|$ALOOP_ROOT/boot/vmlinuz-$kver|"
elif ! kernel_find "$kver"; then
	echo "durability: $K_WHY" >&2
	exit 1
fi

W=$(mktemp -d /tmp/aloop-dur.XXXXXX)
[ -n "${ALOOP_DUR_KEEP:-}" ] && echo "durability: work directory $W" >&2
cleanup() {
	[ -z "${ALOOP_DUR_LOG:-}" ] || cat "$W"/vng-*.log >"$ALOOP_DUR_LOG" 2>/dev/null
	[ -n "${ALOOP_DUR_KEEP:-}" ] || rm -rf "$W"
}
ktap_on_exit cleanup
ktap_defer_plan
chmod 755 "$W"
mkdir -p "$W/res"
truncate -s 256M "$W/disk.img"
cp "$ko" "$W/res/aloop.ko" || { echo "durability: cannot read $ko" >&2; exit 1; }

vm() {	# PHASE ARGS...
	local phase=$1; shift
	echo "=== durability boot: $phase $*" >"$W/vng-$phase.log"
	vm_boot --results "$W/res" --disk "$W/disk.img:aloop-dur" --cache none \
		--timeout "${ALOOP_DUR_TIMEOUT:-600}" --mem 1G --cpus 2 \
		--log "$W/vng-$phase.log" --append --quiet \
		-- "$REPO/tests/durability/guest-phase.sh" "$phase" "$@"
	echo "durability: waited ${VM_WAITED}s for the VM lock, boot $phase took ${VM_SECONDS}s" >&2
}

# klog PHASE: the kernel log of that boot is clean
klog() {
	local r=$W/res
	klog_scan "$r/dmesg-$1.txt" "$(cat "$r/taint-start-$1" 2>/dev/null || echo 0)" \
		"$(cat "$r/taint-end-$1" 2>/dev/null || echo 0)"
	case $? in
	0) ktap_pass "kernel log clean ($1 boot)" ;;
	1) ktap_fail "kernel log clean ($1 boot)" "$KLOG_REPORT" ;;
	*) if [ -n "$(klog_hits "$W/vng-$1.log")" ]; then
		ktap_fail "kernel log clean ($1 boot)" "offending console lines:" "$(klog_hits "$W/vng-$1.log")"
	   else
		ktap_skip "kernel log clean ($1 boot)" "no kernel log was collected"
	   fi ;;
	esac
}

vm write "$VM_RESULTS/aloop.ko" "$VM_RESULTS"
if [ ! -f "$W/res/phase1" ]; then
	ktap_fail "durability: the write phase did not complete" \
		"$(tail -n 20 "$W/res/write.log" 2>/dev/null || tail -n 20 "$W/vng-write.log")"
	klog write
	ktap_finish
fi
ktap_pass "durability: the write phase completed (dio writes, fsync, hard power-off)"
klog write

vm verify "$VM_RESULTS"
out=$(sed -n '/^KTAP version/,/passed, .* failed$/p' "$W/vng-verify.log" | tr -d '\r')
if [ -z "$out" ]; then
	ktap_fail "durability: the verify phase printed nothing" "$(tail -n 20 "$W/vng-verify.log")"
fi
while IFS= read -r line; do
	if [[ $line =~ ^(not\ )?ok\ [0-9]+\ -\ (.*)$ ]]; then
		if [ -z "${BASH_REMATCH[1]}" ]; then ktap_pass "${BASH_REMATCH[2]}"; else ktap_fail "${BASH_REMATCH[2]}"; fi
	elif [[ $line == "# "* ]] && ! [[ $line =~ ^#\ ([0-9]+\ passed|Totals:) ]]; then
		ktap_diag "${line#\# }"
	fi
done <<<"$out"
klog verify
ktap_finish
