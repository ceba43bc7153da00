#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: measure aloop against the stock loop driver and against
# O_DIRECT on the backing file itself, in a QEMU (TCG) guest per kernel.
# See bench/README.md for what is measured and how to read the results.
#
#   1. scripts/setup-host.sh (unless ALOOP_SKIP_SETUP=1), make aloopctl
#   2. for each kernel: build aloop.ko in build/bench/<kver>/mod, boot the
#      kernel once with virtme-ng (scripts/lib/vm.sh, under the VM lock)
#      with one scratch disk and run bench/guest.sh, which writes
#      raw samples to build/bench/<kver>/out (shared with the guest)
#   3. bench/report.py turns them into
#      bench/results/<kver>-<date>.{json,md,png} and latest-<kver>.{md,png}
#      and checks the instrument; the guest kernel log is scanned
#
# Environment:
#   KERNELS="6.1 6.12"   kernels (default 6.1), as for make check: releases,
#                        series (6.1, 6.12, 7.3: the newest with headers,
#                        on the host or in the trixie root), "trixie" or
#                        "debug" (scripts/lib/kernel.sh)
#   QUICK=1              short run: 2 repetitions, less work per run
#   REPS=N               repetitions (default 5, QUICK 2)
#   BENCH_MODES="raw loop-buf loop-dio aloop-buf aloop-dio"
#   BENCH_FAST_MODES="raw loop-dio aloop-dio aloop-dio1 aloop-worker"
#                        the fast backing (ext4 on brd; aloop-dio1: one
#                        hardware queue; aloop-worker: nowait=N, workers
#                        submit blocking; aloop-poll: poll_us=BENCH_POLL_US)
#   BENCH_FAST_MB=512    the fully written file on the RAM disk
#   BENCH_FAST_IOS=65536 4k I/Os per job of a fast-backing run (QUICK 16384)
#   BENCH_PERF=1         one more fast randread QD16 run per fast mode under
#                        perf record -a -g: CPU per I/O by kernel layer
#                        (needs perf in the guest: linux-perf)
#   BENCH_WORKLOADS="dev-* mem-seqread"   only these workloads (globs)
#   BENCH_RELEASE=REV    the commit of the aloop-release mode (in BENCH_MODES
#                        or BENCH_FAST_MODES: "today's release", its module
#                        and aloopctl built from `git archive REV` in
#                        build/bench/<kver>/release); default the parent of
#                        713c59b, the last tree with inline submission
#   BENCH_VM_TIMEOUT=S   seconds per guest boot (default 1500 QUICK, 7200)
#   ALOOP_VM_MEM=2G ALOOP_VM_CPUS=2 ALOOP_KVM=1 ALOOP_SKIP_SETUP=1
#   BENCH_RESULTS=DIR    where the results go (default bench/results)
#   BENCH_CLOCK=tsc      the guest's clocksource: "tsc" boots it with
#                        clocksource=tsc tsc=reliable (default), "kernel"
#                        leaves the kernel's choice.  Under TCG the kernel
#                        distrusts the TSC and falls back to the HPET, whose
#                        every read is an emulated MMIO access: ~1/3 of the
#                        CPU time of a 4k I/O on the RAM disk went to
#                        read_hpet (BENCH_PERF), charged to each block layer
#                        by its time stamps; hardware reads the TSC.
#
# Exit status: 0 when every kernel ran, its instrument self-check passed
# and its kernel log is clean; 1 otherwise.
set -uo pipefail

# shellcheck source=../scripts/lib/aloop.sh
. "$(dirname "$0")/../scripts/lib/aloop.sh"
cd "$REPO" || exit 1

: "${KERNELS:=6.1}"
: "${QUICK:=0}"
: "${BENCH_RESULTS:=$REPO/bench/results}"
BENCH_QUICK=${BENCH_QUICK:-$QUICK}
[ -z "${REPS:-}" ] || BENCH_REPS=$REPS
# shellcheck source=defaults.env
. "$REPO/bench/defaults.env"
QUICK=$BENCH_QUICK REPS=$BENCH_REPS

say() { echo "bench: $*"; }

case $BENCH_CLOCK in
tsc) CLOCK_OPTS=(--kopt clocksource=tsc --kopt tsc=reliable) ;;
kernel) CLOCK_OPTS=() ;;
*) echo "bench: BENCH_CLOCK must be tsc or kernel" >&2; exit 1 ;;
esac

[ "$(id -u)" = 0 ] || { echo "bench: must run as root (host setup, module build)" >&2; exit 1; }

if [ "${ALOOP_SKIP_SETUP:-0}" != 1 ]; then
	say "checking host packages (scripts/setup-host.sh)"
	scripts/setup-host.sh || { echo "bench: scripts/setup-host.sh failed" >&2; exit 1; }
fi
command -v gnuplot >/dev/null || say "WARNING: no gnuplot (apt-get install gnuplot-nox): no PNG chart"

KLIST=()
for k in $KERNELS; do
	kernel_find "$k" || { echo "bench: $K_WHY" >&2; exit 1; }
	KLIST+=("$K_SPEC")
done
say "kernels: $(for s in "${KLIST[@]}"; do kernel_load "$s"; printf '%s ' "$K_REL"; done); QUICK=$QUICK, $REPS repetitions"

make -s aloopctl >/dev/null || { echo "bench: make aloopctl failed" >&2; exit 1; }

# without_mode MODE WORDS...: WORDS without MODE
without_mode() { local m=$1 w o=(); shift; for w in "$@"; do [ "$w" = "$m" ] || o+=("$w"); done; echo "${o[*]}"; }
# The aloop-release mode: the driver of BENCH_RELEASE, another module also
# named aloop (bench/guest.sh swaps the two).  Only when a mode asks for it.
REL_SHA=
case " $BENCH_MODES $BENCH_FAST_MODES " in
*" aloop-release "*)
	if REL_SHA=$(git -C "$REPO" rev-parse -q --verify "$BENCH_RELEASE^{commit}" 2>/dev/null); then
		say "aloop-release: $BENCH_RELEASE = $REL_SHA ($(git -C "$REPO" log -1 --format=%s "$REL_SHA" | cut -c1-60))"
	else
		REL_SHA=
		say "SKIP aloop-release: BENCH_RELEASE=$BENCH_RELEASE is no commit of this repository (a shallow clone?); the other modes run"
		# shellcheck disable=SC2086 # word lists
		BENCH_MODES=$(without_mode aloop-release $BENCH_MODES)
		# shellcheck disable=SC2086
		BENCH_FAST_MODES=$(without_mode aloop-release $BENCH_FAST_MODES)
	fi ;;
esac

mkdir -p "$BENCH_RESULTS"
VMDIR=
MON=
trap '[ -z "$MON" ] || kill "$MON" 2>/dev/null; [ -z "$VMDIR" ] || rm -rf "$VMDIR"' EXIT
trap 'echo "bench: interrupted"; exit 130' INT TERM

rc=0
for spec in "${KLIST[@]}"; do
	kernel_load "$spec"
	k=$K_REL
	B=$REPO/build/bench/$k
	rm -rf "$B/out"
	mkdir -p "$B/out" "$B/bin"
	say "[$k] building aloop.ko in $B/mod${K_ROOT:+ (chrooted in $K_ROOT)}"
	# a private copy: check or demo may be rebuilding build/<kver> meanwhile
	if ! module_build "$B/mod" "$B/build.log"; then
		tail -n 30 "$B/build.log"
		echo "bench: [$k] aloop.ko did not build (log: $B/build.log)" >&2
		rc=1; continue
	fi
	cp aloopctl/aloopctl "$B/bin/aloopctl"
	git -C "$REPO" describe --always --dirty >"$B/out/git.txt" 2>/dev/null || true
	modes=$BENCH_MODES fast_modes=$BENCH_FAST_MODES R=$B/release
	if [ -n "$REL_SHA" ]; then
		say "[$k] building the release's aloop.ko and aloopctl ($REL_SHA) in $R"
		rm -rf "$R"
		mkdir -p "$R/src" "$R/bin"
		if git -C "$REPO" archive "$REL_SHA" | tar -x -C "$R/src" &&
		   module_build "$R/mod" "$R/build.log" "$R/src" &&
		   make -s -C "$R/src" aloopctl >>"$R/build.log" 2>&1 &&
		   cp "$R/src/aloopctl/aloopctl" "$R/bin/aloopctl"; then
			echo "$REL_SHA (BENCH_RELEASE=$BENCH_RELEASE)" >"$B/out/release.txt"
		else
			tail -n 30 "$R/build.log"
			echo "bench: [$k] the release ($REL_SHA) did not build (log: $R/build.log): no aloop-release on $k" >&2
			rc=1
			# shellcheck disable=SC2086
			modes=$(without_mode aloop-release $modes)
			# shellcheck disable=SC2086
			fast_modes=$(without_mode aloop-release $fast_modes)
		fi
	fi

	VMDIR=$(mktemp -d "$REPO/build/bench/vm.XXXXXX")
	# backing file + sparse file + fs harness files + ext4 overhead
	truncate -s $(( (BENCH_FILE_MB + BENCH_SPARSE_MB + 4 * BENCH_FS_MB) * 3 / 2 + 512 ))M "$VMDIR/disk.img"
	cache=none	# as vm_boot decides: needs O_DIRECT on the host filesystem
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
	say "[$k] booting${K_ROOT:+ from $K_ROOT} (timeout ${BENCH_VM_TIMEOUT}s; waits for the VM lock $VM_LOCK); console log $B/vng.log"
	# Other VMs on this host during the run skew every number: sample the
	# number of QEMU processes (ours included) and the load every 15 s;
	# the report counts the samples after our VM got the lock (vm.start).
	( while :; do
		echo "$(date +%s) $(pgrep -c qemu-system || true) $(cut -d' ' -f1-3 /proc/loadavg)"
		sleep 15
	  done ) >"$B/out/host-load.txt" 2>/dev/null &
	MON=$!
	t0=$(date +%s)
	vm_boot --results "$B/out" --disk "$VMDIR/disk.img:aloop-bench" --cache "$cache" \
		--timeout "$BENCH_VM_TIMEOUT" --log "$B/vng.log" --prefix "[$k] | " "${CLOCK_OPTS[@]}" \
		-- env BENCH_QUICK="$QUICK" BENCH_REPS="$REPS" BENCH_MODES="$modes" \
		BENCH_WORKLOADS="$BENCH_WORKLOADS" BENCH_FILE_MB="$BENCH_FILE_MB" \
		BENCH_SPARSE_MB="$BENCH_SPARSE_MB" BENCH_MEM_MB="$BENCH_MEM_MB" \
		BENCH_DEV_IOS="$BENCH_DEV_IOS" BENCH_PSYNC_IOS="$BENCH_PSYNC_IOS" \
		BENCH_FS_MB="$BENCH_FS_MB" BENCH_FS_RAND_MB="$BENCH_FS_RAND_MB" \
		BENCH_SPARSE_IOS="$BENCH_SPARSE_IOS" BENCH_FAST_MODES="$fast_modes" \
		BENCH_FAST_MB="$BENCH_FAST_MB" BENCH_FAST_IOS="$BENCH_FAST_IOS" BENCH_PERF="$BENCH_PERF" \
		BENCH_POLL_US="$BENCH_POLL_US" BENCH_RELEASE_KO="${REL_SHA:+$R/mod/aloop.ko}" \
		BENCH_RELEASE_CTL="${REL_SHA:+$R/bin/aloopctl}" BENCH_RELEASE_REV="$REL_SHA" \
		"$REPO/bench/guest.sh" "$B/mod/aloop.ko" "$B/bin/aloopctl" "$VM_RESULTS"
	echo $? >"$B/vng.rc"
	echo $((t0 + VM_WAITED)) >"$B/out/vm.start"
	kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null
	rm -rf "$VMDIR"; VMDIR=
	say "[$k] guest finished in ${VM_SECONDS}s after ${VM_WAITED}s waiting for the VM lock (vng exit $(cat "$B/vng.rc"))"
	if [ ! -f "$B/out/done" ]; then
		echo "bench: [$k] the guest did not finish (see $B/vng.log, $B/out/dmesg-live.txt)" >&2
		rc=1; continue
	fi
	python3 "$REPO/bench/report.py" --kernel "$k" --results "$BENCH_RESULTS" "$B/out" || rc=1
done
exit $rc
