#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: measure aloop against the stock loop driver and against
# O_DIRECT on the backing file itself, in a QEMU (TCG) guest per kernel.
# See bench/README.md for what is measured and how to read the results.
#
#   1. scripts/setup-host.sh (unless ALOOP_SKIP_SETUP=1), make aloopctl
#   2. for each kernel: build aloop.ko in build/bench/<kver>/mod, boot the
#      kernel once with virtme-ng (under the VM lock) with one scratch disk
#      and run scripts/bench-guest.sh, which writes raw samples to
#      build/bench/<kver>/out (a --rwdir)
#   3. scripts/bench-report.py turns them into
#      bench/results/<kver>-<date>.{json,md,png} and latest-<kver>.{md,png}
#      and checks the instrument; the guest kernel log is scanned
#
# Environment:
#   KERNELS="6.1 6.12"   kernels (default 6.1); "6.1" is the newest installed
#                        6.1.*-amd64, "6.12" the newest 6.12.*+deb12-amd64;
#                        a full release string is taken as is
#   QUICK=1              short run: 2 repetitions, less work per run
#   REPS=N               repetitions (default 5, QUICK 2)
#   BENCH_MODES="raw loop-buf loop-dio aloop-buf aloop-dio"
#   BENCH_WORKLOADS="dev-* mem-seqread"   only these workloads (globs)
#   BENCH_VM_TIMEOUT=S   seconds per guest boot (default 1500 QUICK, 7200)
#   ALOOP_VM_MEM=2G ALOOP_VM_CPUS=2 ALOOP_KVM=1 ALOOP_SKIP_SETUP=1
#   BENCH_RESULTS=DIR    where the results go (default bench/results)
#
# Exit status: 0 when every kernel ran, its instrument self-check passed
# and its kernel log is clean; 1 otherwise.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1

: "${KERNELS:=6.1}"
: "${QUICK:=0}"
: "${ALOOP_VM_MEM:=2G}"
: "${ALOOP_VM_CPUS:=2}"
: "${ALOOP_KVM:=0}"
: "${BENCH_RESULTS:=$REPO/bench/results}"
VM_LOCK=/tmp/aloop-vm.lock

say() { echo "bench: $*"; }

if [ "$QUICK" = 1 ]; then
	: "${REPS:=2}"
	: "${BENCH_VM_TIMEOUT:=1500}"
	# less work per run; the same file and the same memory test
	: "${BENCH_DEV_IOS:=4096}" "${BENCH_PSYNC_IOS:=1024}" "${BENCH_FS_MB:=32}"
	: "${BENCH_FS_RAND_MB:=4}" "${BENCH_SPARSE_IOS:=1024}"
else
	: "${REPS:=5}"
	: "${BENCH_VM_TIMEOUT:=7200}"
	: "${BENCH_DEV_IOS:=16384}" "${BENCH_PSYNC_IOS:=4096}" "${BENCH_FS_MB:=128}"
	: "${BENCH_FS_RAND_MB:=16}" "${BENCH_SPARSE_IOS:=4096}"
fi
: "${BENCH_FILE_MB:=1024}" "${BENCH_SPARSE_MB:=1024}" "${BENCH_MEM_MB:=256}"
: "${BENCH_MODES:=raw loop-buf loop-dio aloop-buf aloop-dio}"
: "${BENCH_WORKLOADS:=}"

# ------------------------------------------------------------ kernels
kernel_ok() { [ -f "/boot/vmlinuz-$1" ] && [ -e "/lib/modules/$1/build/Makefile" ]; }

newest_of() {	# REGEX: newest installed release matching it, with headers
	local k best=
	for k in /boot/vmlinuz-*; do
		k=${k#/boot/vmlinuz-}
		[[ $k =~ $1 ]] && kernel_ok "$k" || continue
		best=$(printf '%s\n%s\n' "$best" "$k" | sed '/^$/d' | sort -V | tail -n 1)
	done
	echo "$best"
}

resolve_kernel() {
	case $1 in
	6.1)  newest_of '^6\.1\.[0-9]+-[0-9]+-amd64$' ;;
	6.12) newest_of '^6\.12\.[0-9]+\+deb12-amd64$' ;;
	*)    kernel_ok "$1" && echo "$1" ;;
	esac
}

[ "$(id -u)" = 0 ] || { echo "bench: must run as root (host setup, module build)" >&2; exit 1; }

if [ "${ALOOP_SKIP_SETUP:-0}" != 1 ]; then
	say "checking host packages (scripts/setup-host.sh)"
	scripts/setup-host.sh || { echo "bench: scripts/setup-host.sh failed" >&2; exit 1; }
fi
command -v gnuplot >/dev/null || say "WARNING: no gnuplot (apt-get install gnuplot-nox): no PNG chart"

KLIST=()
for k in $KERNELS; do
	r=$(resolve_kernel "$k")
	if [ -z "$r" ]; then
		echo "bench: kernel '$k' is not installed here (need /boot/vmlinuz-X and /lib/modules/X/build)" >&2
		exit 1
	fi
	KLIST+=("$r")
done
say "kernels: ${KLIST[*]}; QUICK=$QUICK, $REPS repetitions"

make -s aloopctl >/dev/null || { echo "bench: make aloopctl failed" >&2; exit 1; }

mkdir -p "$BENCH_RESULTS"
VMDIR=
MON=
trap '[ -z "$MON" ] || kill "$MON" 2>/dev/null; [ -z "$VMDIR" ] || rm -rf "$VMDIR"' EXIT
trap 'echo "bench: interrupted"; exit 130' INT TERM

rc=0
for k in "${KLIST[@]}"; do
	B=$REPO/build/bench/$k
	rm -rf "$B/out" "$B/mod"
	mkdir -p "$B/mod" "$B/out" "$B/bin"
	say "[$k] building aloop.ko in $B/mod"
	# a private copy: others may be building in build/<kver> at the same time
	if ! rsync -a --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude='*.cmd' --exclude='*.symvers' --exclude='modules.order' \
		--exclude='aloop_probes.h' --exclude='*.d' \
		src include Kbuild Makefile VERSION scripts "$B/mod/" >"$B/build.log" 2>&1 ||
	   ! make -C "$B/mod" KVER="$k" module >>"$B/build.log" 2>&1 || [ ! -f "$B/mod/aloop.ko" ]; then
		tail -n 30 "$B/build.log"
		echo "bench: [$k] aloop.ko did not build (log: $B/build.log)" >&2
		rc=1; continue
	fi
	cp aloopctl "$B/bin/aloopctl"
	git -C "$REPO" describe --always --dirty >"$B/out/git.txt" 2>/dev/null || true

	VMDIR=$(mktemp -d "$REPO/build/bench/vm.XXXXXX")
	# backing file + sparse file + fs harness files + ext4 overhead
	truncate -s $(( (BENCH_FILE_MB + BENCH_SPARSE_MB + 4 * BENCH_FS_MB) * 3 / 2 + 512 ))M "$VMDIR/disk.img"
	cache=none	# needs O_DIRECT on the host filesystem
	dd if=/dev/zero of="$VMDIR/disk.img" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null ||
		cache=writeback
	echo "host_cache=$cache" >"$B/out/host.txt"
	{
		echo "host_cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
		echo "host_cpus=$(nproc)"
		echo "qemu=$(qemu-system-x86_64 --version | head -n 1)"
		echo "accel=$([ "$ALOOP_KVM" = 1 ] && echo KVM || echo TCG)"
		echo "vm_mem=$ALOOP_VM_MEM"
		echo "vm_cpus=$ALOOP_VM_CPUS"
	} >>"$B/out/host.txt"
	kvm=(--disable-kvm); [ "$ALOOP_KVM" != 1 ] || kvm=()
	cmd=$(printf '%q ' env BENCH_QUICK="$QUICK" BENCH_REPS="$REPS" BENCH_MODES="$BENCH_MODES" \
		BENCH_WORKLOADS="$BENCH_WORKLOADS" BENCH_FILE_MB="$BENCH_FILE_MB" \
		BENCH_SPARSE_MB="$BENCH_SPARSE_MB" BENCH_MEM_MB="$BENCH_MEM_MB" \
		BENCH_DEV_IOS="$BENCH_DEV_IOS" BENCH_PSYNC_IOS="$BENCH_PSYNC_IOS" \
		BENCH_FS_MB="$BENCH_FS_MB" BENCH_FS_RAND_MB="$BENCH_FS_RAND_MB" \
		BENCH_SPARSE_IOS="$BENCH_SPARSE_IOS" \
		"$REPO/scripts/bench-guest.sh" "$B/mod/aloop.ko" "$B/bin/aloopctl" "$B/out")
	say "[$k] waiting for the VM lock $VM_LOCK"
	say "[$k] booting (timeout ${BENCH_VM_TIMEOUT}s); console log $B/vng.log"
	t0=$(date +%s)
	# Other VMs on this host during the run skew every number: sample the
	# number of QEMU processes (ours included) and the load every 15 s;
	# the report counts the samples after our VM got the lock (vm.start).
	( while :; do
		echo "$(date +%s) $(pgrep -c qemu-system || true) $(cut -d' ' -f1-3 /proc/loadavg)"
		sleep 15
	  done ) >"$B/out/host-load.txt" 2>/dev/null &
	MON=$!
	(cd / && flock "$VM_LOCK" sh -c 'date +%s >"$0"; exec "$@"' "$B/out/vm.start" \
		timeout -k 30 "$BENCH_VM_TIMEOUT" vng --run "/boot/vmlinuz-$k" "${kvm[@]}" --user root \
		-m "$ALOOP_VM_MEM" -p "$ALOOP_VM_CPUS" --rwdir "$B/out" \
		--qemu-opts="-drive file=$VMDIR/disk.img,format=raw,if=none,id=d0,cache=$cache -device virtio-blk-pci,drive=d0,serial=aloop-bench" \
		--exec "$cmd" </dev/null 2>&1; echo "$?" >"$B/vng.rc") |
		tee "$B/vng.log" | sed -u "s/^/[$k] | /"
	kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null
	rm -rf "$VMDIR"; VMDIR=
	say "[$k] guest finished in $(( $(date +%s) - t0 ))s (vng exit $(cat "$B/vng.rc" 2>/dev/null))"
	if [ ! -f "$B/out/done" ]; then
		echo "bench: [$k] the guest did not finish (see $B/vng.log, $B/out/dmesg-live.txt)" >&2
		rc=1; continue
	fi
	python3 "$REPO/scripts/bench-report.py" --kernel "$k" --results "$BENCH_RESULTS" "$B/out" || rc=1
done
exit $rc
