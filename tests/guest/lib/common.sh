# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # the globals of ../lib.sh, and the ones set here for the tests
# SPDX-License-Identifier: GPL-2.0
#
# Common helpers of the guest tests: KTAP names, checks, waiting, devices, modules, data and sums, tools.
# Sourced by tests/guest/lib.sh (see there for the environment).

# ---------------------------------------------------------------- KTAP
# tests/lib/ktap.sh under the names the guest tests use.
# shellcheck source=../../lib/ktap.sh
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

# kver_ge MAJOR MINOR: the running kernel is MAJOR.MINOR or later
kver_ge() {
	local v=${KV:-$(uname -r)} maj min
	maj=${v%%.*} min=${v#*.}; min=${min%%[!0-9]*}
	[ "$maj" -gt "$1" ] || { [ "$maj" -eq "$1" ] && [ "$min" -ge "$2" ]; }
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

# Kernel thread named aloopN present?  (read, not cat: a fork per task
# cost 130 s for 8 devices under TCG)
kthread_present() {
	local c n
	for c in /proc/[0-9]*/comm; do
		IFS= read -r n 2>/dev/null <"$c" && [ "$n" = "$1" ] && return 0
	done
	return 1
}
kthread_absent() { ! kthread_present "$1"; }

# deb_skip_reason: why this root cannot run the Debian package tests
# (88-deb*), empty when aloop-dkms and aloop-utils are installed
deb_skip_reason() {
	local n
	# shellcheck disable=SC2016 # dpkg-query's ${Status}
	n=$(dpkg-query -W -f='${Status}\n' aloop-dkms aloop-utils 2>/dev/null |
		grep -c '^install ok installed$')
	if [ "$DUT" != aloop ]; then
		echo "the packages are aloop's (DUT=$DUT)"
	elif [ "$n" != 2 ]; then
		echo "aloop-dkms and aloop-utils are not installed in this root (tests/pkg/test_guest.sh boots one that has them)"
	fi
}
# dut_wake_workers DEV: one 4 KiB direct read from every online CPU, so
# that every hardware queue's worker runs: aloop starts a queue's worker
# at its first request and stops it after worker_idle_ms (module
# parameter, 10 s) without any.  No-op for stock loop's devices.
dut_wake_workers() {
	local c n
	[ "$DUT" = aloop ] || return 0
	n=$(getconf _NPROCESSORS_ONLN)
	for ((c = 0; c < n; c++)); do
		taskset -c "$c" dd if="$1" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null
	done
	return 0
}

# debugfs_dir: debugfs's mount point, mounted if it was not
debugfs_dir() {
	local d=/sys/kernel/debug
	mountpoint -q "$d" || mount -t debugfs debugfs "$d" 2>/dev/null
	echo "$d"
}

# ------------------------------------------------------------ modules
mod_is_loaded() { grep -q "^$1 " /proc/modules; }
dut_loaded() { mod_is_loaded "$DUT"; }
# rmmod_wait MOD: unload it, retrying while the last closes finish
rmmod_wait() {
	local i
	for i in 1 2 3 4 5; do
		mod_is_loaded "$1" || return 0
		rmmod "$1" 2>/dev/null && return 0
		sleep 1
	done
	rmmod "$1" 2>&1
}

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

# need_why NEED: empty when this guest has NEED (a word of a test's
# "# aloop-needs:" line), else why not.  The runner (tests/guest/run.sh)
# skips the file with that reason; "unloaded" is not checked here: it
# tells the runner not to load the module under test for the file.
need_why() {
	case $1 in
	unloaded) ;;
	stock-loop) stock_load || echo "the stock loop module does not load" ;;
	aloopctl) have_aloopctl || echo "aloopctl is not built (make aloopctl)" ;;
	cgroup2) [ -f /sys/fs/cgroup/cgroup.controllers ] || echo "no cgroup v2 at /sys/fs/cgroup" ;;
	xfs) [ -n "$XFSDIR" ] || echo "no xfs backing filesystem in this guest" ;;
	rawdev) [ -n "$RAWDEV" ] || echo "no raw partition in this guest" ;;
	4k) [ -n "$BACK4K" ] || echo "no 4096-byte-sector disk in this guest" ;;
	udevd) [ -x /lib/systemd/systemd-udevd ] || [ -x /usr/lib/systemd/systemd-udevd ] ||
		echo "systemd-udevd is not installed" ;;
	*) have "$1" || echo "$1 is not installed" ;;
	esac
}

# mkmnt NAME: a mount point (the guest's /mnt is read-only)
mkmnt() { mkdir -p "$MNTROOT/$1" && echo "$MNTROOT/$1"; }

# Make a per-test directory on the backing filesystem.
test_dir() {
	local d=$BACKING/$1
	rm -rf "$d"; mkdir -p "$d"; echo "$d"
}

