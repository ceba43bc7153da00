#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs INSIDE the virtme-ng guest booted by bench/run.sh (`make bench`):
#
#   bench/guest.sh ALOOP_KO ALOOPCTL OUTDIR
#
# One boot, one backing file: ext4 is made on the virtio disk (serial
# aloop-bench, else /dev/vda), a file of BENCH_FILE_MB is pre-filled with
# data by a sequential fio write (no holes, no unwritten extents), and every
# mode runs on that same file:
#
#   raw        fio with O_DIRECT on the backing file itself (the limit)
#   loop-buf   stock loop, losetup --direct-io=off
#   loop-dio   stock loop, losetup --direct-io=on
#   aloop-buf  aloopctl attach, then aloopctl set DEV --direct-io=off
#   aloop-dio  aloopctl attach (direct I/O is aloop's default)
#   aloop-release  (optional) "today's release": the same as aloop-dio with
#              the module and aloopctl of BENCH_RELEASE (bench/run.sh
#              builds them).  Both modules are named aloop, so the mode
#              detaches every aloop device, unloads the current module,
#              loads the release's and attaches with the release's
#              aloopctl; its detach puts the current module back (default
#              parameters, as every other mode's detach leaves them)
#
# Repetition r runs every mode once (ABAB... interleaving; the order is
# rotated by one mode per repetition so no mode is always first after the
# attach or always last).  Per (repetition, mode):
#
#   1. raw-device workloads on DEV (for raw: the backing file), 4k O_DIRECT:
#        dev-randread-qd16   libaio iodepth 16, numjobs = vCPUs
#        dev-randwrite-qd16  libaio iodepth 16, numjobs = vCPUs, end_fsync
#        dev-randread-psync  psync, numjobs = vCPUs
#   2. memory: drop caches, buffered dd of BENCH_MEM_MB from DEV (for raw:
#      from the backing file), then fincore of the backing file and
#      /proc/meminfo
#   3. the seeds' harness: mkfs.ext4 on DEV (nodiscard: the backing file
#      must stay fully written), fio psync, 4 jobs, buffered, 4k:
#        fs-randread fs-read fs-randwrite fs-write (writes with end_fsync)
#      for raw: the same jobs in a directory of the backing ext4 itself
#   4. sparse: a fresh sparse file of BENCH_SPARSE_MB, attached in the same
#      mode, sparse-randwrite-qd16 (libaio iodepth 16, end_fsync)
#
# Then the fast backing, where the driver's own cost shows: ext4 on a RAM
# disk (brd), one fully written file of BENCH_FAST_MB, and per repetition
# the modes of BENCH_FAST_MODES (raw, loop-dio, aloop-dio, aloop-dio1 =
# aloop with one hardware queue, aloop-worker = aloop whose workers submit
# blocking, no IOCB_NOWAIT tries: module parameter nowait=N, aloop-poll =
# workers that spin BENCH_POLL_US for more work before they sleep: module
# parameter poll_us, aloop-nobatch = workers SCHED_NORMAL: module parameter
# sched_batch=N), rotated the same way:
#        fast-randread-qd16 fast-randwrite-qd16 fast-randread-psync
# with BENCH_FAST_IOS per job (the RAM disk is ~10x faster than the virtio
# disk: the same count would be a run of a fraction of a second).  With
# BENCH_PERF=1, after the repetitions, one more fast-randread-qd16 run per
# mode under `perf record -a -g` (cpu-clock): where the time goes.
#
# Every fio run does a fixed amount of work (size/io_size, never time based)
# after `sync; echo 3 >drop_caches`.  For each run OUTDIR/runs/ gets:
#   NNNN.meta        key=value: rep, mode, workload, dev, dio state, rc...
#   NNNN.fio.json    fio's JSON output
#   NNNN.stat0/1     /proc/stat before/after (ctxt and the cpu line)
#   NNNN.mem0/1      /proc/meminfo before/after (memory runs)
#   NNNN.fincore     fincore --bytes of the backing file (memory runs)
#   NNNN.aloop.json  aloopctl status --json after the run (aloop modes;
#                    the meta file gets the device's counters over the
#                    run: aloop_reqs_dio, _reqs_nowait, _reqs_worker, ...;
#                    the release's: _reqs_inline, _reqs_worker, ...; and
#                    which module served it: aloop_module=current|release,
#                    aloop_srcversion)
# and OUTDIR/env.txt (conditions), dmesg.txt, taint-start/end and, last,
# `done`.  bench/report.py turns that into the tables.
#
# Environment (set by bench/run.sh; defaults in bench/defaults.env): BENCH_REPS BENCH_MODES BENCH_FILE_MB
# BENCH_SPARSE_MB BENCH_MEM_MB BENCH_DEV_IOS BENCH_PSYNC_IOS BENCH_FS_MB
# BENCH_FS_RAND_MB BENCH_SPARSE_IOS BENCH_QUICK BENCH_WORKLOADS
# BENCH_FAST_MB BENCH_FAST_MODES BENCH_FAST_IOS BENCH_PERF, and for
# aloop-release BENCH_RELEASE_KO BENCH_RELEASE_CTL BENCH_RELEASE_REV.  A hung run
# is caught by the host's timeout on the whole boot (no timeout(1) here: it
# would be one more process inside the measured window).
set -u

KO=${1:?usage: bench/guest.sh ALOOP_KO ALOOPCTL OUTDIR}
CTL=${2:?usage: bench/guest.sh ALOOP_KO ALOOPCTL OUTDIR}
OUT=${3:?usage: bench/guest.sh ALOOP_KO ALOOPCTL OUTDIR}
CTLDIR=$(dirname "$CTL")
export PATH="$CTLDIR:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C

# the defaults: bench/defaults.env, the same file the host reads
# shellcheck source=defaults.env
. "$(dirname "$0")/defaults.env"

RUNS=$OUT/runs
BACK=/run/bench/back MNT=/run/bench/mnt
mkdir -p "$RUNS"
log() { echo "[bench $(date +%T)] $*"; }
NCPU=$(nproc)
CTLBIN=$CTL

DMESG_PID=
final() {
	[ -z "$DMESG_PID" ] || kill "$DMESG_PID" 2>/dev/null
	umount "$MNT" 2>/dev/null
	cat /proc/sys/kernel/tainted >"$OUT/taint-end" 2>/dev/null
	dmesg >"$OUT/dmesg.txt" 2>&1
	sync
	echo "done $(date -u +%FT%TZ)" >"$OUT/done"
	sync
}
trap final EXIT

cat /proc/sys/kernel/tainted >"$OUT/taint-start" 2>/dev/null
dmesg -w >"$OUT/dmesg-live.txt" 2>&1 &
DMESG_PID=$!
echo "aloop-bench: start" >/dev/kmsg 2>/dev/null

die() { log "FATAL: $*"; echo "$*" >"$OUT/fatal"; exit 1; }

# ------------------------------------------------------------ modules
modprobe -q virtio_blk 2>/dev/null
modprobe -q ext4 2>/dev/null
modprobe loop 2>/dev/null || log "WARNING: modprobe loop failed"
insmod "$KO" || die "insmod $KO failed"
PARAMS=/sys/module/aloop/parameters
for _ in $(seq 50); do [ -c /dev/aloop-control ] && break; sleep 0.1; done

# Two drivers named aloop: this tree's (current) and, for aloop-release,
# BENCH_RELEASE's, each with its own aloopctl (their UAPIs differ: no
# ALOOP_CTL_ATTACH/FIND/DETACH in the release, other ALOOP_GET_INFO counters).  Which one is loaded is
# read from the kernel (srcversion): attach runs in a subshell.
REL_KO=${BENCH_RELEASE_KO:-} REL_CTL=${BENCH_RELEASE_CTL:-}
CUR_SRCV=$(cat /sys/module/aloop/srcversion 2>/dev/null) REL_SRCV=
case " $BENCH_MODES $BENCH_FAST_MODES " in *" aloop-release "*)
	[ -f "$REL_KO" ] && [ -x "$REL_CTL" ] ||
		die "aloop-release: no release module/aloopctl (BENCH_RELEASE_KO=$REL_KO BENCH_RELEASE_CTL=$REL_CTL)"
	REL_SRCV=$(modinfo -F srcversion "$REL_KO" 2>/dev/null)
	[ -n "$CUR_SRCV" ] && [ -n "$REL_SRCV" ] || die "aloop-release: no srcversion (/sys/module/aloop/srcversion or modinfo $REL_KO)"
	[ "$CUR_SRCV" != "$REL_SRCV" ] ||
		log "WARNING: aloop-release: the release's module has the sources of the current one" ;;
esac
ctl_of() { case $1 in aloop-release) echo "$REL_CTL" ;; *) echo "$CTL" ;; esac; }
# loaded_driver: current, release, none or unknown
loaded_driver() {
	local v
	[ -d /sys/module/aloop ] || { echo none; return; }
	v=$(cat /sys/module/aloop/srcversion 2>/dev/null)
	if [ "$v" = "$CUR_SRCV" ]; then echo current
	elif [ -n "$v" ] && [ "$v" = "$REL_SRCV" ]; then echo release
	else echo unknown
	fi
}
# use_driver current|release: make it the loaded aloop module (logs to
# stderr: attach's output is the device)
use_driver() {
	local want=$1 ko=$KO have d i
	have=$(loaded_driver)
	[ "$have" = "$want" ] && return 0
	[ "$want" = release ] && ko=$REL_KO
	# detach whatever the loaded driver still has bound, then unload it
	for d in /sys/block/aloop*; do
		[ -n "$(cat "$d/aloop/backing_file" 2>/dev/null)" ] || continue
		log "WARNING: ${d##*/} still bound before unloading the $have aloop: detaching it" >&2
		"$(ctl_of "aloop-$have")" detach "/dev/${d##*/}" >&2
	done
	udevadm settle 2>/dev/null
	for i in $(seq 50); do
		[ -d /sys/module/aloop ] || break
		rmmod aloop 2>/dev/null && break
		sleep 0.1
	done
	[ ! -d /sys/module/aloop ] || { log "rmmod aloop ($have) failed" >&2; return 1; }
	insmod "$ko" >&2 || { log "insmod $ko failed" >&2; return 1; }
	for i in $(seq 50); do [ -c /dev/aloop-control ] && break; sleep 0.1; done
	[ -c /dev/aloop-control ] || { log "no /dev/aloop-control after loading the $want aloop" >&2; return 1; }
}

# ------------------------------------------------ fio in a tmpfs
# The guest's root is the host's, over 9p, and `drop_caches` evicts it: a
# fio started after it would page itself and its ~60 libraries back in over
# 9p, ~9000 context switches and seconds per run, all counted as I/O cost.
# A copy in a tmpfs (never dropped) costs ~400 context switches per run.
TOOLS=/run/bench/tools
mkdir -p "$TOOLS"
mountpoint -q "$TOOLS" || mount -t tmpfs -o size=256M bench-tools "$TOOLS" || die "tmpfs on $TOOLS"
mkdir -p "$TOOLS/lib"
cp "$(command -v fio)" "$TOOLS/fio" || die "cannot copy fio"
for l in $(ldd "$(command -v fio)" | grep -o '/[^ ]*'); do
	cp -L "$l" "$TOOLS/lib/" || die "cannot copy $l"
done
LDSO=
for l in "$TOOLS"/lib/ld-linux-x86-64.so.*; do [ -e "$l" ] && LDSO=$l && break; done
[ -n "$LDSO" ] || die "no ld-linux in fio's libraries"
FIO=("$LDSO" --library-path "$TOOLS/lib" "$TOOLS/fio")	# a command, for perf too
fio() { "${FIO[@]}" "$@"; }
fio --version >/dev/null || die "the tmpfs copy of fio does not run"

# -------------------------------------------------------- backing fs
disk=
for d in /sys/block/vd*; do
	[ "$(cat "$d/serial" 2>/dev/null)" = aloop-bench ] && disk=/dev/${d##*/}
done
[ -n "$disk" ] || disk=/dev/vda
[ -b "$disk" ] || die "no virtio disk ($disk)"
mkdir -p "$BACK" "$MNT"
# mke2fs zeroes the inode tables and the journal with fallocate(ZERO_RANGE)
# (BLKZEROOUT on a device) unless told not to: on a loop/aloop device that
# becomes ZERO_RANGE on the backing file = unwritten extents in the very
# file we measure on.  UNIX_IO_NOZEROOUT=1 makes it write real zeros.
export UNIX_IO_NOZEROOUT=1
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard -L aloop-bench "$disk" \
	>"$OUT/mkfs-backing.log" 2>&1 || die "mkfs.ext4 $disk failed"
mount -t ext4 "$disk" "$BACK" || die "mount $disk failed"
FILE=$BACK/main.img SPARSE=$BACK/sparse.img FSRAW=$BACK/fsraw

# ------------------------------------------------------- conditions
{
	echo "kernel=$(uname -r)"
	echo "vcpus=$NCPU"
	echo "mem_total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
	echo "cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "fio_version=$(fio --version)"
	echo "backing_disk=$disk"
	echo "backing_disk_lbs=$(blockdev --getss "$disk")"
	echo "backing_disk_size=$(blockdev --getsize64 "$disk")"
	echo "backing_fs=$(findmnt -no FSTYPE "$BACK") ($(findmnt -no OPTIONS "$BACK"))"
	echo "backing_sched=$(cat "/sys/block/${disk#/dev/}/queue/scheduler" 2>/dev/null)"
	echo "file_mb=$BENCH_FILE_MB"
	echo "sparse_mb=$BENCH_SPARSE_MB"
	echo "mem_mb=$BENCH_MEM_MB"
	echo "dev_ios=$BENCH_DEV_IOS"
	echo "psync_ios=$BENCH_PSYNC_IOS"
	echo "fs_mb=$BENCH_FS_MB"
	echo "fs_rand_mb=$BENCH_FS_RAND_MB"
	echo "sparse_ios=$BENCH_SPARSE_IOS"
	echo "reps=$BENCH_REPS"
	echo "quick=$BENCH_QUICK"
	echo "modes=$BENCH_MODES"
	echo "fast_mb=$BENCH_FAST_MB"
	echo "fast_modes=$BENCH_FAST_MODES"
	echo "fast_ios=$BENCH_FAST_IOS"
	echo "perf=$BENCH_PERF"
	echo "user_hz=$(getconf CLK_TCK)"
	echo "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"
	echo "aloop_dio_param=$(cat /sys/module/aloop/parameters/dio 2>/dev/null)"
	echo "aloop_version=$(cat /sys/module/aloop/version 2>/dev/null)"
	echo "aloop_srcversion=$(cat /sys/module/aloop/srcversion 2>/dev/null)"
	if [ -n "$REL_KO" ]; then
		echo "release_rev=${BENCH_RELEASE_REV:-}"
		echo "release_version=$(modinfo -F version "$REL_KO" 2>/dev/null)"
		echo "release_srcversion=$(modinfo -F srcversion "$REL_KO" 2>/dev/null)"
	fi
	echo "cmdline=$(cat /proc/cmdline)"
} >"$OUT/env.txt"
log "kernel $(uname -r), $NCPU vCPUs, $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) kB, $(fio --version), backing ext4 on $disk"

# ------------------------------------------------------- pre-fill
log "pre-filling $FILE ($BENCH_FILE_MB MiB) with a sequential fio write"
t0=$(date +%s)
fio --name=prefill --filename="$FILE" --rw=write --bs=1M --size="${BENCH_FILE_MB}M" \
	--direct=1 --ioengine=libaio --iodepth=8 --fallocate=none --refill_buffers=1 \
	--end_fsync=1 --output-format=json --output="$OUT/prefill.fio.json" >/dev/null 2>"$OUT/prefill.err" ||
	die "pre-fill failed: $(cat "$OUT/prefill.err")"
sync
{
	echo "prefill_seconds=$(( $(date +%s) - t0 ))"
	echo "prefill_size=$(stat -c %s "$FILE")"
	echo "prefill_blocks_bytes=$(( $(stat -c '%b * %B' "$FILE") ))"
	echo "prefill_extents=$(filefrag "$FILE" | awk '{print $2}')"
	echo "prefill_unwritten_extents=$(filefrag -v "$FILE" | grep -c unwritten)"
} >>"$OUT/env.txt"
log "pre-fill done in $(( $(date +%s) - t0 ))s; $(filefrag "$FILE")"

# ---------------------------------------------------------- helpers
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

wait_blk() { local i; for i in $(seq 100); do [ -b "$1" ] && return 0; sleep 0.05; done; return 1; }

# attach MODE FILE: print the device (for raw: FILE itself)
attach() {
	local mode=$1 f=$2 dev
	case $mode in
	raw)       echo "$f"; return 0 ;;
	loop-buf)  dev=$(losetup --direct-io=off -f --show "$f") || return 1 ;;
	loop-dio)  dev=$(losetup --direct-io=on -f --show "$f") || return 1 ;;
	aloop-*)   use_driver "$([ "$mode" = aloop-release ] && echo release || echo current)" ||
			   return 1 ;;
	*) return 1 ;;
	esac
	case $mode in
	loop-*) ;;
	aloop-buf) dev=$("$CTLBIN" attach "$f") || return 1
		   wait_blk "$dev"
		   "$CTLBIN" set "$dev" --direct-io=off || { "$CTLBIN" detach "$dev"; return 1; } ;;
	aloop-dio) dev=$("$CTLBIN" attach "$f") || return 1 ;;
	aloop-release) dev=$("$REL_CTL" attach "$f") || return 1 ;;
	aloop-dio1) dev=$("$CTLBIN" attach --queues 1 "$f") || return 1 ;;
	aloop-worker) echo N >"$PARAMS/nowait" || return 1
		   dev=$("$CTLBIN" attach "$f") || return 1 ;;
	aloop-poll) echo "$BENCH_POLL_US" >"$PARAMS/poll_us" || return 1
		   dev=$("$CTLBIN" attach "$f") || return 1 ;;
	aloop-nobatch) echo N >"$PARAMS/sched_batch" || return 1
		   dev=$("$CTLBIN" attach "$f") || return 1 ;;
	*) return 1 ;;
	esac
	wait_blk "$dev" || return 1
	echo "$dev"
}

detach() {	# MODE DEV
	case $1 in
	raw) ;;
	loop-*) losetup -d "$2" ;;
	aloop-release) local rc=0
		 "$REL_CTL" detach "$2" || rc=$?
		 use_driver current || rc=1
		 return $rc ;;
	aloop-*) "$CTLBIN" detach "$2"
		 echo Y >"$PARAMS/nowait"
		 echo Y >"$PARAMS/sched_batch" 2>/dev/null
		 echo 0 >"$PARAMS/poll_us" ;;
	esac
}

# dio MODE DEV: "dio reason" as the driver reports it
dio_state() {
	local n=${2#/dev/}
	case $1 in
	raw) echo "1 O_DIRECT" ;;
	loop-*) echo "$(cat "/sys/block/$n/loop/dio" 2>/dev/null || echo '?') -" ;;
	aloop-*) echo "$(cat "/sys/block/$n/aloop/dio" 2>/dev/null || echo '?') $(tr ' ' '_' <"/sys/block/$n/aloop/dio_reason" 2>/dev/null)" ;;
	esac
}

# dio state the mode must have; a mismatch is recorded and fails the check
want_dio() { case $1 in *-buf) echo 0 ;; *) echo 1 ;; esac; }

want_workload() {
	[ -z "$BENCH_WORKLOADS" ] && return 0
	local w
	for w in $BENCH_WORKLOADS; do
		# shellcheck disable=SC2254
		case $1 in $w) return 0 ;; esac
	done
	return 1
}

SEQ=0
# (the release has reqs_inline and no reqs_nowait, batches, reqs_helper)
ALO_COUNTERS="reqs_dio reqs_nowait reqs_worker nowait_again wakeups batches reqs_helper reqs_inline"
# counter DEV NAME: an aloop counter of DEV ("" when unreadable)
counter() { cat "/sys/block/${1#/dev/}/aloop/$2" 2>/dev/null; }
# fio options of every run, and the libaio QD16 ones (in AIO) for DEV
FIO_BASE=(--group_reporting --randrepeat=1 --fallocate=none --bs=4k)
aio_args() { AIO=(--filename="$1" --direct=1 --ioengine=libaio --iodepth=16 --numjobs="$NCPU"); }
# meta KEY=VALUE...: append to the current run's meta file
meta() { printf '%s\n' "$@" >>"$RUNS/$ID.meta"; }

new_run() {	# REP POS MODE WORKLOAD DEV KIND
	SEQ=$((SEQ + 1)); ID=$(printf '%04d' "$SEQ")
	: >"$RUNS/$ID.meta"
	local ds; ds=$(dio_state "$3" "$5")
	meta "seq=$SEQ" "rep=$1" "pos=$2" "mode=$3" "workload=$4" "dev=$5" "kind=$6" \
		"dio=${ds%% *}" "dio_reason=${ds#* }" "want_dio=$(want_dio "$3")" \
		"lbs=$(blockdev --getss "$5" 2>/dev/null || echo '-')"
	case $3 in aloop-*)
		meta "aloop_module=$(loaded_driver)" "aloop_srcversion=$(cat /sys/module/aloop/srcversion 2>/dev/null)" ;;
	esac
}

# fio_run REP POS MODE WORKLOAD DEV FIO-ARGS...
fio_run() {
	local rep=$1 pos=$2 mode=$3 wl=$4 dev=$5 rc t0 t1
	shift 5
	want_workload "$wl" || return 0
	drop_caches
	new_run "$rep" "$pos" "$mode" "$wl" "$dev" fio
	# the device's counters live as long as the device, over attaches:
	# the meta file gets this run's share
	local k v
	declare -A C0=()
	case $mode in aloop-*)
		for k in $ALO_COUNTERS; do
			v=$(counter "$dev" "$k") && C0[$k]=$v
		done ;;
	esac
	# snapshots by bash builtins only: nothing but fio runs in the window
	mapfile -t S0 </proc/stat
	t0=$EPOCHREALTIME
	fio --name="$wl" "${FIO_BASE[@]}" "$@" \
		--output-format=json --output="$RUNS/$ID.fio.json" >"$RUNS/$ID.fio.err" 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	mapfile -t S1 </proc/stat
	printf '%s\n' "${S0[@]}" >"$RUNS/$ID.stat0"
	printf '%s\n' "${S1[@]}" >"$RUNS/$ID.stat1"
	meta "rc=$rc" "t0=$t0" "t1=$t1"
	[ -s "$RUNS/$ID.fio.err" ] || rm -f "$RUNS/$ID.fio.err"
	case $mode in aloop-*) "$(ctl_of "$mode")" status --json "$dev" >"$RUNS/$ID.aloop.json" 2>/dev/null
		for k in $ALO_COUNTERS; do
			v=$(counter "$dev" "$k")
			[ -z "$v" ] || [ -z "${C0[$k]:-}" ] || v=$((v - C0[$k]))
			meta "aloop_$k=$v"
		done
		meta "aloop_counters=run" ;;
	esac
	local iops
	# "iops" : N in the read, write and trim sections (one job: group_reporting)
	iops=$(awk -F: '/"iops" :/ {gsub(/[ ,]/, "", $2); s += $2} END {printf "%d", s}' "$RUNS/$ID.fio.json" 2>/dev/null)
	log "  rep $rep $mode $wl: rc $rc, ${iops:-?} IOPS, $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s"
}

# dev_workloads REP POS MODE DEV [PREFIX]: PREFIX-randread-qd16 ... (dev)
dev_workloads() {
	local r=$1 p=$2 m=$3 d=$4 x=${5:-dev} n=$NCPU ios=$BENCH_DEV_IOS pios=$BENCH_PSYNC_IOS
	[ "$x" != fast ] || ios=$BENCH_FAST_IOS pios=$BENCH_FAST_IOS
	aio_args "$d"
	fio_run "$r" "$p" "$m" "$x-randread-qd16" "$d" "${AIO[@]}" --rw=randread \
		--io_size=$((ios * 4))k
	fio_run "$r" "$p" "$m" "$x-randwrite-qd16" "$d" "${AIO[@]}" --rw=randwrite \
		--io_size=$((ios * 4))k --end_fsync=1
	fio_run "$r" "$p" "$m" "$x-randread-psync" "$d" --filename="$d" --direct=1 \
		--ioengine=psync --numjobs="$n" --rw=randread --io_size=$((pios * 4))k
}

# perf_run MODE DEV: fast-randread-qd16 once more, under perf record -a -g;
# NNNN.perf.txt gets perf report --children by symbol, NNNN.meta the
# sample count (all CPUs, idle included) and perf_hz
PERF_HZ=997
perf_run() {
	local m=$1 d=$2 data=$TOOLS/perf.data rc
	drop_caches
	new_run 0 0 "$m" perf-randread-qd16 "$d" perf
	aio_args "$d"
	perf record -q -a -g -F "$PERF_HZ" -e cpu-clock -o "$data" -- \
		"${FIO[@]}" --name=perf "${FIO_BASE[@]}" "${AIO[@]}" --rw=randread \
		--io_size=$((BENCH_FAST_IOS * 4))k --output-format=json --output="$RUNS/$ID.fio.json" >"$RUNS/$ID.perf.err" 2>&1
	rc=$?
	meta "rc=$rc" "perf_hz=$PERF_HZ"
	meta "perf_samples=$(perf report -i "$data" --stdio --no-children -n --sort sym 2>/dev/null |
		awk '/^ *[0-9.]+%/ {s += $2} END {print s + 0}')"
	perf report -i "$data" --stdio --children --sort sym --percent-limit 0.3 -g none \
		>"$RUNS/$ID.perf.txt" 2>>"$RUNS/$ID.perf.err"
	rm -f "$data"
	log "  perf $m: rc $rc, $(grep -c '%' "$RUNS/$ID.perf.txt") symbols"
}

# mem_run REP POS MODE DEV: buffered sequential read, then page-cache figures
mem_run() {
	local rep=$1 pos=$2 mode=$3 dev=$4 rc
	want_workload mem-seqread || return 0
	drop_caches
	new_run "$rep" "$pos" "$mode" mem-seqread "$dev" mem
	# Hold the device open: the last close of a block device drops its page
	# cache (blkdev_put -> kill_bdev), Buffers would always read 0.
	local hold
	exec {hold}<"$dev"
	mapfile -t M0 </proc/meminfo
	dd if="$dev" of=/dev/null bs=1M count="$BENCH_MEM_MB" status=none
	rc=$?
	mapfile -t M1 </proc/meminfo
	printf '%s\n' "${M0[@]}" >"$RUNS/$ID.mem0"
	printf '%s\n' "${M1[@]}" >"$RUNS/$ID.mem1"
	fincore --bytes --noheadings --raw --output RES,PAGES,SIZE "$FILE" >"$RUNS/$ID.fincore" 2>&1
	exec {hold}<&-
	meta "rc=$rc" "read_mb=$BENCH_MEM_MB"
	case $mode in aloop-*) "$(ctl_of "$mode")" status --json "$dev" >"$RUNS/$ID.aloop.json" 2>/dev/null ;; esac
	log "  rep $rep $mode mem-seqread: backing file resident $(awk '{printf "%.1f MiB", $1/1048576}' "$RUNS/$ID.fincore")"
}

# fs_workloads REP POS MODE DEV: the seeds' harness
fs_workloads() {
	local r=$1 p=$2 m=$3 d=$4 dir w any=0
	for w in fs-randread fs-read fs-randwrite fs-write; do want_workload "$w" && any=1; done
	[ $any = 1 ] || return 0
	if [ "$m" = raw ]; then
		dir=$FSRAW; mkdir -p "$dir"
	else
		mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$d" \
			>"$RUNS/mkfs-$r-$m.log" 2>&1 || { log "mkfs.ext4 on $d failed"; return 1; }
		mount -t ext4 -o nodiscard "$d" "$MNT" || { log "mount $d failed"; return 1; }
		dir=$MNT
		rm -f "$RUNS/mkfs-$r-$m.log"
	fi
	# shellcheck disable=SC2016 # $jobnum is fio's, not the shell's
	local job=(--directory="$dir" --filename_format='h.$jobnum' --numjobs=4 --ioengine=psync
		--size="${BENCH_FS_MB}M")
	# lay the files out with data (not measured), then the four runs
	fio --name=layout --rw=write --bs=1M --fallocate=none --end_fsync=1 "${job[@]}" \
		--output-format=json --output=/dev/null >/dev/null 2>&1 || log "fs layout failed"
	fio_run "$r" "$p" "$m" fs-randread "$d" "${job[@]}" --rw=randread --io_size="${BENCH_FS_RAND_MB}M"
	fio_run "$r" "$p" "$m" fs-read "$d" "${job[@]}" --rw=read
	fio_run "$r" "$p" "$m" fs-randwrite "$d" "${job[@]}" --rw=randwrite --io_size="${BENCH_FS_RAND_MB}M" --end_fsync=1
	fio_run "$r" "$p" "$m" fs-write "$d" "${job[@]}" --rw=write --end_fsync=1
	if [ "$m" = raw ]; then
		rm -rf "$FSRAW"
	else
		umount "$MNT" || { sleep 1; umount "$MNT"; }
	fi
}

sparse_workload() {	# REP POS MODE
	local r=$1 p=$2 m=$3 d
	want_workload sparse-randwrite-qd16 || return 0
	rm -f "$SPARSE"
	truncate -s "${BENCH_SPARSE_MB}M" "$SPARSE"
	d=$(attach "$m" "$SPARSE") || { log "attach $m $SPARSE failed"; return 1; }
	fio_run "$r" "$p" "$m" sparse-randwrite-qd16 "$d" --filename="$d" --direct=1 \
		--ioengine=libaio --iodepth=16 --numjobs="$NCPU" --rw=randwrite \
		--io_size=$((BENCH_SPARSE_IOS * 4))k --end_fsync=1
	meta "sparse_allocated_after=$(( $(stat -c '%b * %B' "$SPARSE") ))"
	detach "$m" "$d" || log "detach $d failed"
	rm -f "$SPARSE"
}

# ------------------------------------------------------------ the runs
# rotated REP MODE...: the modes rotated by REP - 1 (repetition REP's order)
rotated() {
	local r=$1 i; shift
	local m=("$@")
	for i in "${!m[@]}"; do
		printf '%s ' "${m[$(( (i + r - 1) % ${#m[@]} ))]}"
	done
}
read -r -a MODES <<<"$BENCH_MODES"
NM=${#MODES[@]}
log "$BENCH_REPS repetitions x ${NM} modes (${MODES[*]}), order rotated per repetition"
start_all=$(date +%s)
for rep in $(seq 1 "$BENCH_REPS"); do
	read -r -a order <<<"$(rotated "$rep" "${MODES[@]}")"
	log "repetition $rep/$BENCH_REPS: ${order[*]}"
	echo "rep$rep=${order[*]}" >>"$OUT/order.txt"
	pos=0
	for mode in "${order[@]}"; do
		pos=$((pos + 1))
		echo "aloop-bench: rep $rep mode $mode" >/dev/kmsg 2>/dev/null
		dev=$(attach "$mode" "$FILE") || { log "attach $mode failed"; echo "rep=$rep mode=$mode attach" >>"$OUT/errors.txt"; continue; }
		log " rep $rep: $mode on $dev (dio $(dio_state "$mode" "$dev"))"
		dev_workloads "$rep" "$pos" "$mode" "$dev"
		mem_run "$rep" "$pos" "$mode" "$dev"
		fs_workloads "$rep" "$pos" "$mode" "$dev" || echo "rep=$rep mode=$mode fs" >>"$OUT/errors.txt"
		detach "$mode" "$dev" || { log "detach $dev failed"; echo "rep=$rep mode=$mode detach" >>"$OUT/errors.txt"; }
		echo "rep=$rep mode=$mode unwritten=$(filefrag -v "$FILE" | grep -c unwritten) size=$(stat -c %s "$FILE")" >>"$OUT/extents.txt"
		sparse_workload "$rep" "$pos" "$mode" || echo "rep=$rep mode=$mode sparse" >>"$OUT/errors.txt"
	done
done

# ------------------------------------------------- the fast backing
fast_case() {
	local fast=/run/bench/fast f rep pos mode dev order any=0 w
	for w in fast-randread-qd16 fast-randwrite-qd16 fast-randread-psync; do
		want_workload "$w" && any=1
	done
	[ $any = 1 ] || return 0
	read -r -a FM <<<"$BENCH_FAST_MODES"
	modprobe brd rd_nr=1 rd_size=$(((BENCH_FAST_MB + 128) * 1024)) max_part=0 ||
		{ log "modprobe brd failed: no fast backing case"; echo "fast brd" >>"$OUT/errors.txt"; return 1; }
	wait_blk /dev/ram0 || { echo "fast ram0" >>"$OUT/errors.txt"; return 1; }
	mkdir -p "$fast"
	mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 /dev/ram0 >"$OUT/mkfs-fast.log" 2>&1 &&
		mount -t ext4 /dev/ram0 "$fast" || { echo "fast mkfs" >>"$OUT/errors.txt"; rmmod brd; return 1; }
	f=$fast/fast.img
	fio --name=prefill-fast --filename="$f" --rw=write --bs=1M --size="${BENCH_FAST_MB}M" \
		--direct=1 --ioengine=libaio --iodepth=8 --fallocate=none --refill_buffers=1 \
		--end_fsync=1 --output-format=json --output=/dev/null >/dev/null 2>&1 ||
		{ echo "fast prefill" >>"$OUT/errors.txt"; umount "$fast"; rmmod brd; return 1; }
	echo "fast_unwritten_extents=$(filefrag -v "$f" | grep -c unwritten)" >>"$OUT/env.txt"
	log "fast backing: $f ($BENCH_FAST_MB MiB) on ext4 on /dev/ram0; modes ${FM[*]}"
	for rep in $(seq 1 "$BENCH_REPS"); do
		read -r -a order <<<"$(rotated "$rep" "${FM[@]}")"
		echo "fast-rep$rep=${order[*]}" >>"$OUT/order.txt"
		pos=0
		for mode in "${order[@]}"; do
			pos=$((pos + 1))
			dev=$(attach "$mode" "$f") || { echo "rep=$rep mode=$mode fast attach" >>"$OUT/errors.txt"; continue; }
			log " rep $rep: $mode on $dev, fast backing (dio $(dio_state "$mode" "$dev"))"
			dev_workloads "$rep" "$pos" "$mode" "$dev" fast
			detach "$mode" "$dev" || echo "rep=$rep mode=$mode fast detach" >>"$OUT/errors.txt"
		done
	done
	if [ "$BENCH_PERF" = 1 ] && ! command -v perf >/dev/null; then
		log "BENCH_PERF=1: SKIP, no perf in the guest (linux-perf)"
		echo "perf_skip=no perf command in the guest" >>"$OUT/env.txt"
	elif [ "$BENCH_PERF" = 1 ]; then
		for mode in "${FM[@]}"; do
			dev=$(attach "$mode" "$f") || { echo "perf mode=$mode attach" >>"$OUT/errors.txt"; continue; }
			perf_run "$mode" "$dev"
			detach "$mode" "$dev" || echo "perf mode=$mode detach" >>"$OUT/errors.txt"
		done
	fi
	umount "$fast"
	rmmod brd || log "WARNING: rmmod brd failed"
}
fast_case

echo "bench_seconds=$(( $(date +%s) - start_all ))" >>"$OUT/env.txt"
echo "unwritten_extents_end=$(filefrag -v "$FILE" | grep -c unwritten)" >>"$OUT/env.txt"
log "all runs finished in $(( $(date +%s) - start_all ))s"
rmmod aloop 2>/dev/null || log "WARNING: rmmod aloop failed"
exit 0
