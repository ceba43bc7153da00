# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# The harness's shared functions, for scripts/check.sh, bench/run.sh, scripts/demo.sh
# and durability.sh:
#
#   kernel.sh   finding a kernel: host /boot, the trixie root, the debug tree
#   build.sh    building aloop.ko for it
#   vm.sh       booting it in a QEMU guest (virtme-ng) under the VM lock
#   klog.sh     scanning the guest's kernel log (kernel-log-patterns)
#   report.sh   check.sh's results: KTAP lines per group, totals, recap
#   dkms.sh     check.sh's DKMS stage
#
#   . "$(dirname "$0")/lib/aloop.sh"      sets REPO, ALOOP_LIB, and these:
#
#   tail_of FILE [N]      the last N (20) lines of FILE, if it exists
#   in_root ROOT CMD...   CMD chrooted in ROOT with /proc, /sys, /dev and
#                         the tree (at its own path) mounted
#   on ROOT CMD...        CMD on the host (ROOT "") or in_root ROOT

ALOOP_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$ALOOP_LIB/../.." && pwd)
: "${ALOOP_TRIXIE_ROOT:=/var/cache/aloop/trixie-root}"
: "${ALOOP_KVM:=0}"
: "${ALOOP_VM_MEM:=2G}"
: "${ALOOP_VM_CPUS:=2}"

tail_of() { [ -f "$1" ] && tail -n "${2:-20}" "$1"; }

# A private mount namespace: the mounts vanish with it.  objtool needs
# /proc, DKMS needs /dev/null.
in_root() {
	local root=$1; shift
	mkdir -p "$root$REPO" || return 1
	# shellcheck disable=SC2016 # the inner sh expands them
	unshare -m --propagation private -- /bin/sh -c '
		r=$1 repo=$2; shift 2
		mount -t proc proc "$r/proc" && mount -t sysfs sys "$r/sys" &&
		mount --bind /dev "$r/dev" && mount --bind "$repo" "$r$repo" &&
		exec chroot "$r" env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' in_root "$root" "$REPO" "$@"
}

on() { local root=$1; shift; if [ -z "$root" ]; then "$@"; else in_root "$root" "$@"; fi; }

# shellcheck source=kernel.sh
. "$ALOOP_LIB/kernel.sh"
# shellcheck source=build.sh
. "$ALOOP_LIB/build.sh"
# shellcheck source=vm.sh
. "$ALOOP_LIB/vm.sh"
# shellcheck source=klog.sh
. "$ALOOP_LIB/klog.sh"
