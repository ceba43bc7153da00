#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs INSIDE the virtme-ng guest booted by scripts/check.sh:
#
#   tests/guest/run.sh ALOOP_KO RESULTS_DIR
#
# Prepares the guest (tmpfs scratch, ext4 on /dev/vda and xfs on /dev/vdb
# as backing filesystems), runs every tests/guest/NN-*.sh in order and
# stores, in RESULTS_DIR (a --rwdir shared with the host):
#   tests.list            the tests that were going to run, in order
#   NAME.ktap/.stderr     each test's KTAP output and stderr
#   NAME.rc / NAME.time   exit status (124 = timeout) and seconds taken
#   NAME.cleanup          problems found while cleaning up after NAME
#   dmesg.txt             the kernel log at the end (dmesg-live.txt is
#                         streamed during the run, for hangs)
#   taint-start/taint-end /proc/sys/kernel/tainted before and after
#   done                  written last, always: the host checks for it
#
# Each file's header says what it needs; this runner acts on it:
#   # aloop-class: quick|long|stress  a class the lane does not run: SKIP
#   # aloop-driver: aloop|any         aloop: SKIP with DUT=loop
#   # aloop-needs: NEED...            a NEED this guest lacks (need_why in
#                                     lib/common.sh): SKIP with the reason;
#                                     before the file, a fresh module under
#                                     test is loaded, unless NEED "unloaded"
#   # aloop-timeout: SECONDS          killed (process group) after that
# A skipped file's result is "1..0 # SKIP reason" (KTAP).
#
# Environment: ALOOP_TESTS (space-separated names/globs, e.g. "00-env
# 30-*"; default all; NAME@SCHED runs NAME with the I/O scheduler SCHED
# on every aloop disk: a udev rule sets it on add and change, and a
# sampler says how many of the bound disks' samples had it; the results
# are NAME@SCHED.ktap, ...: the scheduler matrix, see docs/testing.md),
# ALOOP_CLASSES (the classes this lane runs, e.g.
# "quick long"; default all: a file's "# aloop-class: quick|long|stress"
# line, quick when it has none; a file of another class is a SKIP result
# unless ALOOP_TESTS names it), ALOOP_LANE (the lane's name, for that SKIP
# line), ALOOP_TEST_TIMEOUT (seconds per test, default
# 600; a file's "# aloop-timeout: SECONDS" line wins), ALOOP_TIMEOUT_SCALE
# (every timeout times this; the debug kernel's lane sets 4),
# DUT (aloop, or loop to self-test the tests on stock loop),
# ALOOP_DKMS=1: after the tests, run tests/dkms/guest-dkms.sh as the
# step "dkms" (the host installed aloop with DKMS for this kernel and set
# ALOOP_DKMS_KO, ALOOP_DKMS_BUILDID, ALOOP_BUILD_BUILDID for it).
#
# The tree ($REPO, this script's ../) must be visible in the guest: the
# host's / (vng's default), or bound at the same path in a --root guest.
# The subshells below source lib.sh, which sets REPO and DUT as they are.
# shellcheck disable=SC2031
set -u

KO=${1:-}
RES=${2:?usage: tests/guest/run.sh ALOOP_KO RESULTS_DIR}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export REPO RESULTS_DIR=$RES ALOOP_KO=$KO
export PATH="$REPO/aloopctl:$REPO/build/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C
: "${DUT:=aloop}"
: "${ALOOP_TESTS:=}"
: "${ALOOP_TEST_TIMEOUT:=600}"
: "${ALOOP_CLASSES:=quick long stress}"
: "${ALOOP_LANE:=this}"
: "${ALOOP_TIMEOUT_SCALE:=1}"
export DUT ALOOP_TESTS
export KTAP_TIMES=1	# "# (+Ns)" after each result: where the time goes

mkdir -p "$RES"
log() { echo "[guest $(date +%T)] $*"; }

DMESG_PID=
final() {
	[ -z "$DMESG_PID" ] || kill "$DMESG_PID" 2>/dev/null
	cat /proc/sys/kernel/tainted >"$RES/taint-end" 2>/dev/null
	dmesg >"$RES/dmesg.txt" 2>&1
	sync
	echo "done $(date -u +%FT%TZ)" >"$RES/done"
	sync
}
trap final EXIT

uname -r >"$RES/uname.txt"
cat /proc/sys/kernel/tainted >"$RES/taint-start" 2>/dev/null
dmesg -w >"$RES/dmesg-live.txt" 2>&1 &
DMESG_PID=$!
log "kernel $(uname -r), DUT=$DUT, module '${KO:-none}'"

# ----------------------------------------------------------- scratch
export SCRATCH=/run/aloop/scratch
mkdir -p "$SCRATCH"
mount -t tmpfs -o size=512M aloop-scratch "$SCRATCH" || log "WARNING: cannot mount tmpfs on $SCRATCH"

# ------------------------------------------------ backing filesystems
# The host gives three virtio disks, told apart by serial (fallback: order):
#   aloop-ext4 (vda)  ext4 at $BACKING              - the main backing fs
#   aloop-xfs  (vdb)  vdb1: xfs at $XFSDIR, vdb2: raw partition $RAWDEV
#   aloop-4k   (vdc)  4096-byte logical sectors, ext4 at $BACK4K
modprobe -q ext4 2>/dev/null
modprobe -q xfs 2>/dev/null
export BACKING=/run/aloop/ext4 XFSDIR='' RAWDEV='' BACK4K=''
disk() {	# SERIAL FALLBACK: the disk with that serial
	local d
	for d in /sys/block/vd*; do
		[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; return; }
	done
	[ -b "$2" ] && echo "$2"
}
wait_blk() { local i; for i in $(seq 50); do [ -b "$1" ] && return 0; sleep 0.1; done; return 1; }

mkdir -p "$BACKING"
d=$(disk aloop-ext4 /dev/vda)
if [ -n "$d" ]; then
	if mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L aloop-back "$d" >"$RES/mkfs-ext4.log" 2>&1 &&
	   mount -t ext4 "$d" "$BACKING"; then
		log "ext4 backing filesystem on $d at $BACKING"
	else
		log "ERROR: could not make/mount ext4 on $d (see mkfs-ext4.log)"
	fi
else
	log "ERROR: no /dev/vda: tests needing a backing filesystem will fail"
fi

d=$(disk aloop-xfs /dev/vdb)
if [ -n "$d" ]; then
	printf 'label: dos\n,1G,83\n,,83\n' | sfdisk -q "$d" >"$RES/sfdisk-xfs.log" 2>&1
	p1=${d}1 p2=${d}2
	if wait_blk "$p1" && mkdir -p /run/aloop/xfs &&
	   mkfs.xfs -q -f -L aloop-xfs "$p1" >"$RES/mkfs-xfs.log" 2>&1 &&
	   mount -t xfs "$p1" /run/aloop/xfs; then
		XFSDIR=/run/aloop/xfs
		log "xfs backing filesystem on $p1 at $XFSDIR"
	else
		log "WARNING: could not make/mount xfs on $p1 (see mkfs-xfs.log, sfdisk-xfs.log)"
	fi
	if wait_blk "$p2"; then
		RAWDEV=$p2
		log "raw partition backing device $RAWDEV"
	fi
fi

d=$(disk aloop-4k /dev/vdc)
if [ -n "$d" ]; then
	mkdir -p /run/aloop/ext4-4k
	if mkfs.ext4 -q -F -L aloop-4k "$d" >"$RES/mkfs-4k.log" 2>&1 &&
	   mount -t ext4 "$d" /run/aloop/ext4-4k; then
		BACK4K=/run/aloop/ext4-4k
		log "ext4 on 4096-byte-sector disk $d (lbs $(blockdev --getss "$d")) at $BACK4K"
	else
		log "WARNING: could not make/mount ext4 on $d (see mkfs-4k.log)"
	fi
fi

# --------------------------------------------------------- the tests
# In the order of ALOOP_TESTS's patterns, or of the file names.
tests=()
declare -A seen=()
read -ra pats <<<"${ALOOP_TESTS:-*}"	# no pathname expansion
for pat in "${pats[@]}"; do
	at=
	case $pat in *@*) at=@${pat##*@} pat=${pat%@*} ;; esac
	for t in "$REPO"/tests/guest/[0-9][0-9]-*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		# shellcheck disable=SC2254
		case $name in $pat|$pat.sh) ;; *) continue ;; esac
		name+=$at
		[ -z "${seen[$name]:-}" ] || continue
		seen[$name]=1
		tests+=("$name")
	done
done
# A whole-suite run (no ALOOP_TESTS) with ALOOP_SCHED_MATRIX="mq-deadline
# bfq kyber" (the debug lane's default, scripts/check.sh) runs the data
# tests again under each: ALOOP_SCHED_TESTS (default 30-data 70-dio
# 72-queues 68-cgroups), as NAME@SCHED.
if [ -z "$ALOOP_TESTS" ]; then
	for sc in ${ALOOP_SCHED_MATRIX:-}; do
		for t in ${ALOOP_SCHED_TESTS:-30-data 70-dio 72-queues 68-cgroups}; do
			[ -f "$REPO/tests/guest/$t.sh" ] && tests+=("$t@$sc")
		done
	done
fi
# The DKMS step last: it loads the module with modprobe, not insmod.
[ "${ALOOP_DKMS:-0}" != 1 ] || tests+=(dkms)
printf '%s\n' "${tests[@]}" >"$RES/tests.list"

script_of() {	# NAME[@SCHED]: the script of a step
	case $1 in
	dkms) echo "$REPO/tests/dkms/guest-dkms.sh" ;;
	*) echo "$REPO/tests/guest/${1%@*}.sh" ;;
	esac
}

# The scheduler matrix (NAME@SCHED): every aloop disk gets SCHED from udev
# when it appears and when it is bound (change); sched_sample counts, every
# 0.5 s, the bound aloop disks and those under SCHED.
SCHED_RULE=/run/udev/rules.d/60-aloop-test-sched.rules
SCHED_PID=
sched_on() {	# SCHED
	modprobe -q "$1-iosched" 2>/dev/null
	mkdir -p "${SCHED_RULE%/*}"
	printf 'ACTION=="add|change", SUBSYSTEM=="block", KERNEL=="%s[0-9]*", ENV{DEVTYPE}=="disk", ATTR{queue/scheduler}="%s"\n' \
		"$DUT" "$1" >"$SCHED_RULE"
	udevadm control --reload 2>/dev/null
	sched_sample "$1" >"$RES/.sched-samples" 2>/dev/null &
	SCHED_PID=$!
}
sched_sample() {	# SCHED: "bound with-SCHED" lines
	local d b w
	while :; do
		b=0 w=0
		for d in /sys/block/"$DUT"[0-9]*; do
			[ "$(cat "$d/size" 2>/dev/null)" != 0 ] || continue
			b=$((b + 1))
			grep -q "\[$1\]" "$d/queue/scheduler" 2>/dev/null && w=$((w + 1))
		done
		echo "$b $w"
		sleep 0.5
	done
}
sched_off() {	# NAME SCHED: remove the rule, log the samples
	kill "$SCHED_PID" 2>/dev/null; wait "$SCHED_PID" 2>/dev/null
	rm -f "$SCHED_RULE"; udevadm control --reload 2>/dev/null
	awk -v n="$1" -v s="$2" '{b += $1; w += $2} END {
		printf "%s: %d of %d samples of bound %s disks had %s\n", n, w, b, ENVIRON["DUT"], s }' \
		"$RES/.sched-samples" | tee -a "$RES/sched-matrix.txt" | sed "s/^/[guest $(date +%T)] /"
}
log "running ${#tests[@]} test files: ${tests[*]}"
# Mounts over the module tree or modprobe.d (87 and 89 mount views there
# for one file): the ones the boot had, so that one a killed file left is
# found and removed before the next file runs modprobe.
sys_mounts() { awk '$2 ~ "^(/usr)?/lib/modules(/|$)|^/etc/modprobe[.]d(/|$)" {print $2}' /proc/mounts | sort -u; }
sys_mounts >"$RES/.sys-mounts"

cleanup_after() {	# NAME: leave a clean slate for the next test
	local name=$1 msgs=
	(
		# shellcheck source=lib.sh
		. "$REPO/tests/guest/lib.sh"
		trap - EXIT
		awk '$2 ~ "^/run/aloop/mnt/" {print $2}' /proc/mounts | sort -r |
			while read -r m; do umount -l "$m"; done
		sys_mounts | comm -13 "$RES/.sys-mounts" - | sort -r |
			while read -r m; do echo "left mounted on $m, removed"; umount -l "$m"; done
		dut_unload_all || echo "could not unload $DUT after $name"
		if [ "$DUT" = aloop ]; then
			losetup -D 2>/dev/null
		fi
		rm -rf "${BACKING:?}"/* "${XFSDIR:-/nonexistent}"/* "${BACK4K:-/nonexistent}"/* "${SCRATCH:?}"/* 2>/dev/null
		true
	) >"$RES/$name.cleanup" 2>&1
	msgs=$(cat "$RES/$name.cleanup")
	[ -n "$msgs" ] || rm -f "$RES/$name.cleanup"
	[ -z "$msgs" ] || log "cleanup after $name: $msgs"
}

# header FILE KEY: the value of the file's first "# aloop-KEY: VALUE" line
header() { sed -n "s/^# aloop-$2: \(.*[^ ]\) *$/\1/p" "$1" 2>/dev/null | head -n 1; }

# skip_file NAME WHY: the file's result is a KTAP skip, it does not run
skip_file() {
	log "$1: SKIP ($2)"
	printf 'KTAP version 1\n1..0 # SKIP %s\n# 0 passed, 0 failed\n' "$2" >"$RES/$1.ktap"
	echo 0 >"$RES/$1.rc"; echo 0 >"$RES/$1.time"
}

# prepare NEEDS: the environment the file's header asks for; prints
# "skip REASON" or "fail REASON" when it cannot be had
prepare() {
	(
		# shellcheck source=lib.sh
		. "$REPO/tests/guest/lib.sh"
		trap - EXIT
		exec 3>&1 >/dev/null 2>&1
		why=$(need_env) || { echo "fail $why" >&3; exit 0; }
		for n in $1; do
			why=$(need_why "$n")
			[ -z "$why" ] || { echo "skip needs $n: $why" >&3; exit 0; }
		done
		dut_unload_all
		[[ " $1 " = *" unloaded "* ]] && exit 0
		[ "$DUT" != loop ] || [[ " $1 " != *" stock-loop "* ]] || stock_load
		out=$(mod_load) || echo "fail cannot load $DUT: $out" >&3
	)
}

for name in "${tests[@]}"; do
	f=$(script_of "$name")
	cls=$(header "$f" class); cls=${cls:-quick}
	if [ "$name" != dkms ] && [ -z "$ALOOP_TESTS" ] && [[ " $ALOOP_CLASSES " != *" $cls "* ]]; then
		skip_file "$name" "class $cls: lane $ALOOP_LANE runs $ALOOP_CLASSES (ALOOP_LANES in scripts/check.sh)"
		continue
	fi
	drv=$(header "$f" driver)
	if [ "$name" != dkms ] && [ "${drv:-aloop}" = aloop ] && [ "$DUT" != aloop ]; then
		skip_file "$name" "driver aloop: tests what only aloop has (DUT=$DUT)"
		continue
	fi
	if [ "$name" != dkms ]; then
		p=$(prepare "$(header "$f" needs)")
		case $p in
		skip\ *) skip_file "$name" "${p#skip }"; continue ;;
		fail\ *)
			log "$name: cannot prepare: ${p#fail }"
			printf 'KTAP version 1\n1..1\nnot ok 1 - %s: prepare the guest # %s\n# 0 passed, 1 failed\n' \
				"$name" "${p#fail }" >"$RES/$name.ktap"
			echo 1 >"$RES/$name.rc"; echo 0 >"$RES/$name.time"
			continue ;;
		esac
	fi
	tmo=$(header "$f" timeout)
	[[ $tmo =~ ^[0-9]+$ ]] || tmo=$ALOOP_TEST_TIMEOUT
	tmo=$((tmo * ALOOP_TIMEOUT_SCALE))
	echo "$tmo" >"$RES/$name.timeout"
	log "=== $name"
	echo "aloop-test: === start $name" >/dev/kmsg 2>/dev/null
	sched=
	[[ $name != *@* ]] || { sched=${name##*@}; sched_on "$sched"; }
	start=$(date +%s)
	# Each test runs in its own process group so timeout kills it all.
	timeout -k 20 "$tmo" bash "$f" \
		>"$RES/$name.ktap" 2>"$RES/$name.stderr" </dev/null
	rc=$?
	end=$(date +%s)
	[ -z "$sched" ] || sched_off "$name" "$sched"
	echo "aloop-test: === end $name (exit $rc)" >/dev/kmsg 2>/dev/null
	echo "$rc" >"$RES/$name.rc"
	echo "$((end - start))" >"$RES/$name.time"
	summary=$(grep -E '^# [0-9]+ passed, [0-9]+ failed' "$RES/$name.ktap" | tail -n 1)
	case $rc in
	124|137) log "$name: TIMEOUT after $((end - start))s ${summary#\# }" ;;
	*) log "$name: exit $rc in $((end - start))s: ${summary#\# }" ;;
	esac
	grep -E '^not ok' "$RES/$name.ktap" | sed 's/^/    /'
	cleanup_after "$name"
	sync
done
log "all tests finished"
exit 0
