# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the aloop guest tests (tests/guest/NN-topic.sh).
# Sourced by every test; runs inside the virtme-ng guest as root.
#
# Environment (exported by scripts/guest-run.sh, defaults for manual use):
#   REPO       top of the source tree (visible read-only in the guest)
#   ALOOP_KO   the aloop.ko to insmod
#   BACKING    directory on an ext4 fs made on /dev/vda: backing files
#   XFSDIR     directory on an xfs fs on /dev/vdb1 ("" when there is none)
#   RAWDEV     a raw partition (/dev/vdb2) for block-device backing ("" if none)
#   BACK4K     directory on ext4 on a 4096-byte-sector disk ("" if none)
#   SCRATCH    tmpfs scratch directory (reference data, never backing)
#   ALO_IOCTL  the ioctl helper (build/tools/alo-ioctl)
#   DUT        device under test: "aloop" (default) or "loop" (self-test
#              of this harness against the stock loop driver; aloopctl is
#              then emulated by a shell function, see below)
#
# Output is KTAP (tests/lib/ktap.sh): "KTAP version 1", "1..N", one
# "ok/not ok N - desc" per result, "# ..." diagnostics, and a final
# "# P passed, F failed".

: "${REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${DUT:=aloop}"
: "${ALOOP_KO:=$REPO/aloop.ko}"
: "${ALO_IOCTL:=$REPO/build/tools/alo-ioctl}"
: "${BACKING:=/run/aloop/ext4}"
: "${XFSDIR:=}"
: "${RAWDEV:=}"
: "${BACK4K:=}"
: "${SCRATCH:=/run/aloop/scratch}"
export REPO DUT ALOOP_KO ALO_IOCTL BACKING XFSDIR RAWDEV BACK4K SCRATCH
export PATH="$REPO/aloopctl:$REPO/build/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C

DUT_CTL=/dev/$DUT-control
MNTROOT=/run/aloop/mnt
STOCK_CTL=/dev/loop-control
MiB=$((1024 * 1024))

# ---------------------------------------------------------------- KTAP
# tests/lib/ktap.sh under the names the guest tests use.
# shellcheck source=../lib/ktap.sh
. "$REPO/tests/lib/ktap.sh"
plan() { ktap_plan "$@"; }
diag() { ktap_diag "$@"; }
ok() { ktap_pass "$@"; }
fail() { ktap_fail "$@"; }		# fail DESC [diagnostic text...]
skip() { ktap_skip "$@"; }		# skip DESC REASON
skip_n() { ktap_skip_n "$@"; }		# skip_n COUNT REASON DESC...
result() { local d=$1 st=$2; shift 2; ktap_result "$st" "$d" "$@"; }	# result DESC STATUS [diag...]
on_exit() { ktap_on_exit "$@"; }	# cleanup, run (LIFO) at exit
finish() { ktap_finish; }
bail() { ktap_bail "$@"; }		# the remaining planned results fail

# check DESC CMD...: ok when CMD succeeds; its output is the diagnostic
check() {
	local d=$1 out rc; shift
	out=$("$@" 2>&1); rc=$?
	if [ $rc = 0 ]; then ok "$d"; else fail "$d" "command: $*" "exit $rc" "$out"; fi
}

# check_fails DESC CMD...: ok when CMD fails
check_fails() {
	local d=$1 out rc; shift
	out=$("$@" 2>&1); rc=$?
	if [ $rc != 0 ]; then ok "$d"; else fail "$d" "command unexpectedly succeeded: $*" "$out"; fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "expected: '$2'" "actual:   '$3'"; fi
}

# ------------------------------------------------------------ waiting
# wait_for SECONDS CMD...: poll CMD every 0.1 s
wait_for() {
	local t=$(( $1 * 10 )); shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1))
		[ $t -gt 0 ] || return 1
		sleep 0.1
	done
}

# No udevd in the guest: nodes come from devtmpfs; give them a moment.
wait_dev() { wait_for "${2:-10}" test -b "$1"; }
wait_chr() { wait_for "${2:-10}" test -c "$1"; }
_absent() { [ ! -e "$1" ]; }
wait_gone() { wait_for "${2:-10}" _absent "$1"; }

# ------------------------------------------------------- ioctl helper
# ioc ARGS...: run the helper, print its whole output
ioc() { "$ALO_IOCTL" "$@" 2>&1; }
# ioc1 ARGS...: only the first word of the first line (OK / errno name)
ioc1() { local o; o=$("$ALO_IOCTL" "$@" 2>&1); o=${o%%$'\n'*}; echo "${o%% *}"; }
# kv KEY TEXT: value of a "key=value" line in helper output
kv() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

ioc1_of() { local o=${1%%$'\n'*}; echo "${o%% *}"; }

# expect_errno DESC EXPECTED HELPER-ARGS...: first word must be EXPECTED
expect_errno() {
	local d=$1 exp=$2 out; shift 2
	out=$(ioc "$@")
	if [ "$(ioc1_of "$out")" = "$exp" ]; then
		ok "$d"
	else
		fail "$d" "alo-ioctl $*" "expected $exp, got: $out"
	fi
}

# like_stock EXPECTED "DUT-HELPER-ARGS" "STOCK-HELPER-ARGS"
# Runs the same operation against the DUT and stock loop; sets
#   LS_DUT, LS_STOCK (first words) and LS_MSG; returns 0 when the DUT
# matches stock loop and (unless EXPECTED is "*") stock matches EXPECTED.
# When stock loop itself differs from EXPECTED, stock is authoritative
# (the ABI is "unchanged"): the result still passes, with a note.
like_stock() {
	local exp=$1 dut_args=$2 stock_args=$3 od os
	# shellcheck disable=SC2086 # the arguments are words on purpose
	od=$(ioc $dut_args)
	# shellcheck disable=SC2086
	os=$(ioc $stock_args)
	LS_DUT=$(ioc1_of "$od"); LS_STOCK=$(ioc1_of "$os")
	LS_MSG="$DUT: $LS_DUT, stock loop: $LS_STOCK, expected: $exp"
	LS_NOTE=
	if [ "$LS_DUT" != "$LS_STOCK" ]; then
		LS_MSG="$LS_MSG"$'\n'"$DUT output: $od"$'\n'"stock output: $os"
		return 1
	fi
	case $LS_DUT in SETUP) LS_MSG="$LS_MSG"$'\n'"$od"; return 1;; esac
	if [ "$exp" != "*" ] && [ "$LS_STOCK" != "$exp" ]; then
		LS_NOTE="note: stock loop returns $LS_STOCK here, not $exp; $DUT matches stock"
	fi
	return 0
}

# expect_like_stock DESC EXPECTED "DUT-ARGS" "STOCK-ARGS"
expect_like_stock() {
	local d=$1
	if like_stock "$2" "$3" "$4"; then
		ok "$d ($LS_DUT, stock loop $LS_STOCK)"
		[ -z "$LS_NOTE" ] || diag "$LS_NOTE"
	else
		fail "$d" "$LS_MSG"
	fi
}

# stock_takes_bs BS FILE: does stock loop on this kernel accept logical
# block size BS (e.g. above PAGE_SIZE: refused before 6.15, accepted
# since)?  Binds FILE read-only for a moment.
stock_takes_bs() {
	local s
	stock_load >/dev/null 2>&1
	s=$(losetup -r -f --show -b "$1" "$2" 2>/dev/null) || return 1
	losetup -d "$s"
}

# udev_settle: wait until udev has handled the queued events - its probe
# (blkid) opens a new device for a moment, and an open device cannot be
# removed (EBUSY), with stock loop as with aloop.
udev_settle() {
	command -v udevadm >/dev/null 2>&1 && udevadm settle -t 10 >/dev/null 2>&1
	return 0
}

# dev_state DEV: "unbound", or "bound <offset> <sizelimit> <file>"
dev_state() {
	local o; o=$(ioc get-status "$1")
	case $(ioc1_of "$o") in
	ENXIO) echo unbound ;;
	OK) echo "bound $(kv offset "$o") $(kv sizelimit "$o") $(kv file "$o")" ;;
	*) echo "error: $o" ;;
	esac
}

# ------------------------------------------------------------ devices
dutdev() { echo "/dev/$DUT$1"; }
stockdev() { echo "/dev/loop$1"; }
devname() { basename "$1"; }
devnum() { local n; n=$(basename "$1"); echo "${n##*[!0-9]}"; }
# dut_attr DEV NAME: /sys/block/aloopN/aloop/NAME (empty if absent)
dut_attr() { cat "/sys/block/$(devname "$1")/$DUT/$2" 2>/dev/null; }
blk_attr() { cat "/sys/block/$(devname "$1")/$2" 2>/dev/null; }
devsize() { blockdev --getsize64 "$1" 2>/dev/null; }

# Kernel thread named aloopN present?
kthread_present() {
	local c
	for c in /proc/[0-9]*/comm; do
		[ "$(cat "$c" 2>/dev/null)" = "$1" ] && return 0
	done
	return 1
}
kthread_absent() { ! kthread_present "$1"; }

# ------------------------------------------------------------ modules
mod_is_loaded() { grep -q "^$1 " /proc/modules; }
dut_loaded() { mod_is_loaded "$DUT"; }

# mod_load [PARAM=VALUE...]: load the module under test
mod_load() {
	local out rc p args=()
	if [ "$DUT" = loop ]; then
		for p in "$@"; do
			case $p in
			max_aloop=*) args+=("max_loop=${p#*=}") ;;
			queue_depth=*) args+=("hw_queue_depth=${p#*=}") ;;
			*) args+=("$p") ;;
			esac
		done
		mod_is_loaded loop && { rmmod loop 2>/dev/null || true; }
		mod_is_loaded loop && return 0
		out=$(modprobe loop "${args[@]}" 2>&1); rc=$?
	else
		out=$(insmod "$ALOOP_KO" "$@" 2>&1); rc=$?
	fi
	[ $rc = 0 ] || { echo "$out"; return $rc; }
	wait_chr "$DUT_CTL" 10 || { echo "$DUT_CTL did not appear"; return 1; }
}

# mod_unload: rmmod the module under test (prints rmmod's message)
mod_unload() { rmmod "$DUT" 2>&1; }

stock_load() {
	mod_is_loaded loop || modprobe loop >/dev/null 2>&1 || return 1
	wait_chr "$STOCK_CTL" 10
}

# Detach every DUT device (unmounting first) - used for cleanup.
dut_detach_all() {
	local d m
	for d in /sys/block/"$DUT"[0-9]*; do
		[ -e "$d" ] || continue
		d=/dev/$(basename "$d")
		while read -r m; do umount -l "$m" 2>/dev/null; done < <(awk -v d="$d" '$1 ~ "^"d {print $2}' /proc/mounts)
		"$ALO_IOCTL" clr-fd "$d" >/dev/null 2>&1
	done
}

# Remove the DUT module if loaded (cleanup); returns rmmod's status.
dut_unload_all() {
	dut_loaded || return 0
	dut_detach_all
	sleep 0.2
	rmmod "$DUT" 2>/dev/null || { sleep 1; rmmod "$DUT" 2>/dev/null; }
}

# stock_free: an unbound stock loop device.  With DUT=loop the DUT and
# the reference share one driver, so hand out indices 200+ created on
# demand instead of "losetup -f" (which could pick the DUT's device).
stock_free() {
	local i
	if [ "$DUT" != loop ]; then
		i=$(losetup -f) && wait_dev "$i" && echo "$i"
		return
	fi
	for ((i = 200; i < 260; i++)); do
		[ -e "/sys/block/loop$i" ] && continue
		[ "$(ioc1 ctl-add "$STOCK_CTL" $i)" = OK ] && wait_dev "/dev/loop$i" && { echo "/dev/loop$i"; return 0; }
	done
	return 1
}

# stock_attach [LOSETUP-OPTIONS] FILE: bind a free stock loop device
stock_attach() {
	local d
	d=$(losetup -f --show "$@" 2>"$SCRATCH/losetup.err") || { echo "losetup: $d $(cat "$SCRATCH/losetup.err")"; return 1; }
	wait_dev "$d" || { echo "$d did not appear"; return 1; }
	echo "$d"
}

# free_dev: an unbound DUT device (LOOP_CTL_GET_FREE); prints why not
free_dev() {
	local o; o=$(ioc ctl-get-free "$DUT_CTL")
	[ "${o%% *}" = OK ] || { echo "GET_FREE: $o"; return 1; }
	wait_dev "$(dutdev "${o#OK }")" || { echo "$(dutdev "${o#OK }") did not appear"; return 1; }
	dutdev "${o#OK }"
}

# Detach a stock loop device (cleanup)
stock_detach() { losetup -d "$1" >/dev/null 2>&1 || true; }

# attach_dev ARGS...: aloopctl attach; prints the device, or why it failed
attach_dev() {
	local dev
	dev=$(aloopctl attach "$@" 2>"$SCRATCH/attach.err") || { cat "$SCRATCH/attach.err"; return 1; }
	[[ $dev =~ ^/dev/${DUT}[0-9]+$ ]] || { echo "attach printed '$dev'"; return 1; }
	wait_dev "$dev" || { echo "$dev did not appear"; return 1; }
	echo "$dev"
}

# ------------------------------------- a DUT or a stock loop device, dio
# kind_bind KIND FILE DIO [CONFIGURE-OPTS]: a DUT ("dut") or stock loop
# ("stock") device on FILE with dio DIO (0/1), configured by the ioctl
# helper; prints it, or why not.  Appends it to $DEVLIST (the test's file)
# for kind_unbind_all.
kind_bind() {
	local kind=$1 f=$2 dio=$3 dev o n; shift 3
	if [ "$kind" = dut ]; then dev=$(free_dev); else dev=$(stock_free); fi || { echo "no free $kind device: $dev"; return 1; }
	o=$(timeout 60 "$ALO_IOCTL" configure "$dev" "$f" --set-dio "$dio" "$@" 2>&1)
	n=$(devname "$dev")
	if [ "$(ioc1_of "$o")" != OK ] || [ "$(kv set_dio "$o")" != OK ] ||
	   [ "$(cat "/sys/block/$n/${n%%[0-9]*}/dio" 2>/dev/null)" != "$dio" ]; then
		timeout 20 "$ALO_IOCTL" clr-fd "$dev" >/dev/null 2>&1
		echo "configure $dev $f --set-dio $dio: $o"; return 1
	fi
	echo "$dev" >>"$DEVLIST"
	echo "$dev"
}
kind_unbind() { timeout 20 "$ALO_IOCTL" clr-fd "$1" >/dev/null 2>&1; }
# kind_unbind_all: every device kind_bind made, unless a request is stuck
# in it (a freeze would wait for it forever)
kind_unbind_all() {
	local d
	[ -f "$DEVLIST" ] || return 0
	while read -r d; do
		[ -e "/sys/block/$(devname "$d")/inflight" ] || continue
		if [ "$(awk '{print $1 + $2}' "/sys/block/$(devname "$d")/inflight")" = 0 ]; then
			timeout 20 "$ALO_IOCTL" clr-fd "$d"
		fi
	done < <(sort -u "$DEVLIST")
	rm -f "$DEVLIST"
}
kind_name() { if [ "$1" = dut ]; then echo "$DUT"; else echo "stock loop"; fi; }

# ---------------------------------------------------------- data/sums
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# sha_range FILE OFFSET LEN
sha_range() {
	dd if="$1" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none |
		sha256sum | cut -d' ' -f1
}
# sha_dev DEV [LEN]: checksum of a device read with O_DIRECT
sha_dev() {
	if [ -n "${2:-}" ]; then
		dd if="$1" bs=64K iflag=direct,count_bytes count="$2" status=none | sha256sum | cut -d' ' -f1
	else
		dd if="$1" bs=64K iflag=direct status=none | sha256sum | cut -d' ' -f1
	fi
}
# mkrand FILE BYTES: random content
mkrand() { head -c "$2" /dev/urandom >"$1"; }
# mkpattern FILE BYTES BYTEVALUE(octal, e.g. 125 for 'U')
mkpattern() { head -c "$2" /dev/zero | tr '\0' "\\$3" >"$1"; }
# write_dev SRC DEV [SEEK_BYTES]: write SRC through DEV with O_DIRECT
write_dev() {
	dd if="$1" of="$2" bs=64K oflag=direct,seek_bytes seek="${3:-0}" conv=notrunc,fsync status=none
}
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Sizes: to_bytes 4M -> 4194304
to_bytes() {
	local v=$1 m=1
	case $v in
	*[kK]) m=1024; v=${v%?} ;;
	*[mM]) m=$MiB; v=${v%?} ;;
	*[gG]) m=$((1024 * MiB)); v=${v%?} ;;
	esac
	echo $((v * m))
}

# ------------------------------------------------------------ tools
have() { command -v "$1" >/dev/null 2>&1; }
have_aloopctl() { [ "$DUT" = loop ] || have aloopctl; }
PYTHON=$(command -v python3 || echo /usr/bin/python3)

# Require environment pieces; prints why not.
need_env() {
	local m
	[ -x "$ALO_IOCTL" ] || { echo "ioctl helper $ALO_IOCTL not built"; return 1; }
	m=$(awk -v d="$BACKING" '$2 == d {print $3}' /proc/mounts)
	case $m in ext4|xfs) ;; *) echo "backing dir $BACKING is not an ext4/xfs mount"; return 1 ;; esac
	if [ "$DUT" = aloop ] && [ ! -f "$ALOOP_KO" ]; then
		echo "module $ALOOP_KO not found"; return 1
	fi
	return 0
}

# mkmnt NAME: a mount point (the guest's /mnt is read-only)
mkmnt() { mkdir -p "$MNTROOT/$1" && echo "$MNTROOT/$1"; }

# Make a per-test directory on the backing filesystem.
test_dir() {
	local d=$BACKING/$1
	rm -rf "$d"; mkdir -p "$d"; echo "$d"
}

# ---------------------------------------------- aloopctl for DUT=loop
# Self-test mode only: emulate the aloopctl CLI on top of the stock loop
# driver and the ioctl helper, so the test logic itself can be validated
# before (or independently of) aloop.  Never used when DUT=aloop.
if [ "$DUT" = loop ]; then
aloopctl() {
	local cmd=${1:-}; shift
	case $cmd in
	attach)
		local ro=0 off=0 lim=0 bs=0 flags=0 dev='' file o n
		while [ $# -gt 0 ]; do
			case $1 in
			--read-only) ro=1 ;;
			--offset) off=$(to_bytes "$2"); shift ;;
			--sizelimit) lim=$(to_bytes "$2"); shift ;;
			--block-size) bs=$(to_bytes "$2"); shift ;;
			--autoclear) flags=$((flags | 4)) ;;
			--partscan) flags=$((flags | 8)) ;;
			--device) dev=$2; shift ;;
			-*) echo "aloopctl: $1: unknown option" >&2; return 1 ;;
			*) file=$1 ;;
			esac
			shift
		done
		[ -e "$file" ] || { echo "aloopctl: $file: No such file or directory" >&2; return 1; }
		if [ -z "$dev" ]; then
			o=$(ioc ctl-get-free "$STOCK_CTL"); n=${o#OK }
			[ "${o%% *}" = OK ] || { echo "aloopctl: $STOCK_CTL: $o" >&2; return 1; }
			dev=/dev/loop$n; wait_dev "$dev"
		fi
		local args=(configure "$dev" "$(readlink -f "$file")" --flags "$flags" --offset "$off" --sizelimit "$lim" --bs "$bs")
		[ $ro = 0 ] || args+=(--ro --open-ro)
		o=$(ioc "${args[@]}")
		[ "$o" = OK ] || { echo "aloopctl: $dev: $o" >&2; return 1; }
		echo "$dev" ;;
	detach)
		local d o rc=0
		for d in "$@"; do
			o=$(ioc clr-fd "$d")
			[ "$o" = OK ] || { echo "aloopctl: $d: $o" >&2; rc=1; }
		done
		return $rc ;;
	detach-all)
		local d
		for d in /sys/block/loop[0-9]*; do
			[ -e "$d/loop/backing_file" ] && ioc clr-fd "/dev/${d##*/}" >/dev/null
		done; return 0 ;;
	list)
		"$PYTHON" - "${1:-}" <<'EOF'
import glob, json, os, sys
rows = []
for d in sorted(glob.glob('/sys/block/loop[0-9]*'), key=lambda p: int(p[15:])):
    if not os.path.exists(d + '/loop/backing_file'):
        continue
    r = lambda n: open(d + '/' + n).read().strip()
    rows.append({"name": "/dev/" + os.path.basename(d), "back-file": r('loop/backing_file'),
                 "offset": int(r('loop/offset')), "sizelimit": int(r('loop/sizelimit')),
                 "autoclear": r('loop/autoclear') == '1', "ro": r('ro') == '1',
                 "dio": r('loop/dio') == '1', "log-sec": int(r('queue/logical_block_size')),
                 "dio-reason": ""})
if sys.argv[1] == '--json':
    print(json.dumps({"aloopdevices": rows}, indent=2))
else:
    print("NAME BACK-FILE OFFSET SIZELIMIT AUTOCLEAR RO DIO LOG-SEC")
    for x in rows:
        print(x["name"], x["back-file"], x["offset"], x["sizelimit"], int(x["autoclear"]),
              int(x["ro"]), int(x["dio"]), x["log-sec"])
EOF
		;;
	status)
		local o; o=$(ioc get-status "$1")
		[ "${o%%$'\n'*}" = OK ] || { echo "aloopctl: $1: $o" >&2; return 1; }
		echo "$o" | tail -n +2 ;;
	*) echo "aloopctl: $cmd: unknown command" >&2; return 1 ;;
	esac
}
export -f aloopctl ioc ioc1_of to_bytes wait_dev wait_for
fi

# ------------------------------------------- stress tests (92-96-*.sh)
# klog_mark: put a unique marker line into the kernel log and print it;
# klog_bad MARK: the offending lines logged since (with their context;
# the whole buffer when the marker has been rotated out).
# the patterns of scripts/lib/kernel-log-patterns: the one kernel-log policy
KLOG_BAD=$(sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$REPO/scripts/lib/kernel-log-patterns" | paste -sd '|')
_KLOG_N=0
klog_mark() {
	_KLOG_N=$((_KLOG_N + 1))
	local m="aloop-stress-mark $$-$_KLOG_N-$RANDOM"
	echo "$m" >/dev/kmsg 2>/dev/null
	echo "$m"
}
klog_bad() {
	dmesg 2>/dev/null | awk -v m="$1" '
		{ l[NR] = $0 } index($0, m) { s = NR }
		END { for (i = s + 1; i <= NR; i++) print l[i] }' |
		grep -E -A 8 "$KLOG_BAD" | head -n 40
}

# dstate_tasks: "pid comm" of the tasks in uninterruptible sleep (D) in
# three samples 0.5 s apart (a task waiting a moment for I/O is not hung)
dstate_tasks() {
	local f l st c i all=
	for i in 1 2 3; do
		c=
		for f in /proc/[0-9]*/stat; do
			IFS= read -r l 2>/dev/null <"$f" || continue
			st=${l##*) }; st=${st%% *}
			[ "$st" = D ] || continue
			l=${l#*(}; l=${l%%)*}; c="$c ${f//[!0-9]/}:${l// /_}"
		done
		if [ $i = 1 ]; then all=$c; else
			local keep='' x
			for x in $all; do [[ " $c " == *" $x "* ]] && keep="$keep $x"; done
			all=$keep
		fi
		[ -n "$all" ] || return 0
		[ $i = 3 ] || sleep 0.5
	done
	echo "${all# }"
}

# klog_clean_step DESC MARK: one result - no offending kernel log lines
# since MARK and no task stuck in D state
klog_clean_step() {
	local bad d
	bad=$(klog_bad "$2"); d=$(dstate_tasks)
	if [ -z "$bad" ] && [ -z "$d" ]; then
		ok "$1"
	else
		fail "$1" ${d:+"tasks in D state: $d"} ${bad:+"kernel log:"} ${bad:+"$bad"}
	fi
}

# run_bounded SECS OUT CMD...: run CMD (output to OUT) for at most SECS
# seconds; its exit status, 124 when it had to be killed, 125 when it
# could not even be killed (stuck in the kernel: left behind)
run_bounded() {
	local secs=$1 out=$2 pid t; shift 2
	"$@" >"$out" 2>&1 &
	pid=$!
	t=$((secs * 10))
	while kill -0 "$pid" 2>/dev/null; do
		t=$((t - 1))
		if [ $t -le 0 ]; then
			kill -TERM "$pid" 2>/dev/null; sleep 2; kill -KILL "$pid" 2>/dev/null
			for t in 1 2 3 4 5 6 7 8 9 10; do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.5
			done
			kill -0 "$pid" 2>/dev/null && return 125
			wait "$pid" 2>/dev/null
			return 124
		fi
		sleep 0.1
	done
	wait "$pid"
}

# wait_pids SECS PID...: wait for background jobs for at most SECS
# seconds in all; prints the pids still running at the end (killed)
wait_pids() {
	local t=$(($1 * 10)) p left; shift
	while :; do
		left=
		for p in "$@"; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
		[ -n "$left" ] && [ $t -gt 0 ] || break
		t=$((t - 1)); sleep 0.1
	done
	for p in $left; do kill -KILL "$p" 2>/dev/null; done
	echo "${left# }"
}


# ------------------------------------------------------------ cgroup v2
# The tests' cgroups are children of $T; io.max lines name $BDEV_MM.
CG=/sys/fs/cgroup
T=$CG/aloop-test
BDEV_MM=
# backing_disk: MAJ:MIN of the whole disk under $BACKING (for io.max)
backing_disk() {
	local mm; mm=$(mountpoint -d "$BACKING")
	[ ! -e "/sys/dev/block/$mm/partition" ] || mm=$(cat "/sys/dev/block/$mm/../dev")
	echo "$mm"
}
# cg_prepare: cgroup v2 at $CG with io and memory for $T's children
cg_prepare() {
	local c
	if ! awk -v d="$CG" '$2 == d && $3 == "cgroup2" {f = 1} END {exit !f}' /proc/mounts; then
		if mountpoint -q "$CG"; then
			echo "$CG is a $(awk -v d="$CG" '$2 == d {print $3}' /proc/mounts) mount, not cgroup2"; return 1
		fi
		mount -t cgroup2 none "$CG" 2>/dev/null || { echo "cannot mount cgroup2 on $CG"; return 1; }
	fi
	for c in io memory; do
		grep -qw "$c" "$CG/cgroup.controllers" ||
			{ echo "cgroup2 controller '$c' unavailable (controllers: $(cat "$CG/cgroup.controllers"))"; return 1; }
	done
	echo "+io +memory" >"$CG/cgroup.subtree_control" 2>/dev/null ||
		{ echo "cannot enable +io +memory in $CG/cgroup.subtree_control"; return 1; }
	mkdir -p "$T" && echo "+io +memory" >"$T/cgroup.subtree_control" 2>/dev/null ||
		{ echo "cannot enable +io +memory in $T"; return 1; }
}
# cg_new NAME [FILE=VALUE...]: a fresh child of $T
cg_new() {
	local c=$T/$1 kv; shift
	[ ! -d "$c" ] || cg_del "${c##*/}"
	mkdir "$c" || return 1
	for kv in "$@"; do
		echo "${kv#*=}" >"$c/${kv%%=*}" || { echo "cannot write '${kv#*=}' to $c/${kv%%=*}"; return 1; }
	done
}
# cg_del NAME: lift its io limits, move its tasks out, remove it
cg_del() {
	local c=$T/$1 p
	[ -d "$c" ] || return 0
	echo "$BDEV_MM rbps=max wbps=max" >"$c/io.max" 2>/dev/null
	while read -r p; do echo "$p" >"$CG/cgroup.procs" 2>/dev/null; done <"$c/cgroup.procs"
	rmdir "$c" 2>/dev/null || { sleep 0.5; rmdir "$c"; }
}
# cg_run NAME CMD...: run CMD inside the cgroup
cg_run() {
	local c=$T/$1; shift
	( echo "$BASHPID" >"$c/cgroup.procs" || exit 125; exec "$@" )
}
# cg_remove_all: every child of $T (cg_del) and $T itself removed
cg_remove_all() {
	local c
	for c in "$T"/*/; do
		[ -d "$c" ] && cg_del "$(basename "$c")"
	done
	[ ! -d "$T" ] || rmdir "$T"
}
# cg_start: cgroup v2 ready (cg_prepare), this test in the root cgroup
# (the reference "unlimited" I/O) and BDEV_MM set; when cgroup v2 cannot
# be had, every result still planned is a SKIP with the reason, and the
# test ends here
cg_start() {
	local why c
	if ! why=$(cg_prepare); then
		skip_n "$((KTAP_PLAN - KTAP_N))" "$why"
		finish
	fi
	c=$(cat /proc/self/cgroup)
	[ "$c" = "0::/" ] || { diag "test started in cgroup '$c': moving to the root"; echo $$ >"$CG/cgroup.procs"; }
	BDEV_MM=$(backing_disk)
}
