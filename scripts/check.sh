#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The full aloop test suite (what `make check` and .ci/run run):
#
#   1. scripts/setup-host.sh        install whatever is missing
#   2. make aloopctl, the ioctl helper (build/tools/alo-ioctl); host
#      tests: make unit, tests/unit/test_install.sh (make install-user /
#      uninstall), tests/dkms/test_version.sh (one version everywhere),
#      tests/unit/test_checkpatch.sh (checkpatch.pl --no-tree -f),
#      tests/unit/test_compat.sh (probes, #error on unknown shapes, 6.1 floor)
#   3. the kernels: Debian 6.1 and 6.12 from the host, and the newest
#      trixie-backports kernel (7.x) from a debootstrap'd trixie root
#      (scripts/trixie-root.sh, cached in /var/cache/aloop/trixie-root)
#   4. for each kernel:
#      - build aloop.ko in build/<kver>/ (chrooted into the trixie root
#        for its kernel: gcc-14), no warnings, MODULE_VERSION = VERSION
#      - DKMS: `make dkms-install KVER=<kver>` (in the root for 7.x)
#      - boot that kernel once under virtme-ng (QEMU) with three scratch
#        disks and run scripts/guest-run.sh: tests/guest/NN-*.sh, then
#        tests/dkms/guest-dkms.sh (modprobe loads the DKMS build, fio,
#        modprobe -r); scan the guest kernel log
#      - `make dkms-uninstall`: nothing of aloop left in /lib/modules
#      - scripts/durability.sh: two more boots (write + hard power-off,
#        then verify)
#   5. print every KTAP line prefixed per kernel and finish with
#      "N passed, M failed"
#
# Exit status is non-zero when anything failed, or a guest did not report.
# A kernel that cannot be installed is a loud SKIP with the reason.
#
# Environment:
#   KERNELS="k1 k2"       kernels to test: releases (6.1.0-56-amd64),
#                         series (6.1, 6.12, 7.3: the newest installed)
#                         or "trixie" (the newest kernel in the trixie
#                         root).  Default "6.1 6.12 trixie".  Releases
#                         and series not on the host are looked for in
#                         the trixie root.  KERNELS=none: host tests only.
#   ALOOP_TESTS="00-env 30-*"   only these guest tests (default: all);
#                         the names "dkms" and "durability" select those
#                         stages (run when ALOOP_TESTS is empty)
#   ALOOP_DKMS=0 / ALOOP_DURABILITY=0   skip those stages
#   ALOOP_TRIXIE_ROOT=DIR       the trixie root (default
#                               /var/cache/aloop/trixie-root)
#   ALOOP_TEST_TIMEOUT=600      seconds per guest test file
#   ALOOP_VM_TIMEOUT=3000       seconds per guest boot (whole suite)
#   ALOOP_VM_MEM=2G ALOOP_VM_CPUS=2
#   ALOOP_KVM=1                 use KVM (default: TCG, --disable-kvm)
#   ALOOP_SKIP_SETUP=1          do not run scripts/setup-host.sh
#   ALOOP_SKIP_UNIT=1           do not run the host tests (step 2)
#   ALOOP_ALLOW_NO_MODULE=1     boot the guests even when aloop.ko does
#                               not build (harness self-test)
#   DUT=loop                    run the guest tests against stock loop
#                               (harness self-test; implies the above,
#                               no DKMS or durability stage)
#   ALOOP_LOGDIR=DIR            where to keep logs (default build/logs/<time>)
#
# The DKMS stage registers aloop/VERSION with the host's DKMS (and the
# trixie root's) for the length of one boot and removes it again with
# `dkms remove --all`: do not run `make check` on a machine where aloop
# is installed with DKMS for real.  /tmp/aloop-dkms.lock serialises it
# between concurrent runs; /tmp/aloop-vm.lock serialises the VMs.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1

: "${ALOOP_TESTS:=}"
: "${ALOOP_TEST_TIMEOUT:=600}"
: "${ALOOP_VM_TIMEOUT:=3000}"
: "${ALOOP_VM_MEM:=2G}"
: "${ALOOP_VM_CPUS:=2}"
: "${ALOOP_KVM:=0}"
: "${ALOOP_DKMS:=1}"
: "${ALOOP_DURABILITY:=1}"
: "${ALOOP_TRIXIE_ROOT:=/var/cache/aloop/trixie-root}"
: "${KERNELS:=6.1 6.12 trixie}"
: "${DUT:=aloop}"
[ "$DUT" = aloop ] || ALOOP_ALLOW_NO_MODULE=1
: "${ALOOP_ALLOW_NO_MODULE:=0}"
VM_LOCK=/tmp/aloop-vm.lock
DKMS_LOCK=/tmp/aloop-dkms.lock
VERSION=$(cat "$REPO/VERSION" 2>/dev/null)
TROOT=$ALOOP_TRIXIE_ROOT

LOGDIR=${ALOOP_LOGDIR:-$REPO/build/logs/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$LOGDIR" || exit 1
LOGDIR=$(cd "$LOGDIR" && pwd)
exec > >(tee "$LOGDIR/check.log") 2>&1
TEE_PID=$!

PASS=0 FAIL=0 SKIP=0
declare -A GROUP_N=()
VMDIR=
DKMS_PENDING=	# "ROOT|KVER" while aloop is registered with DKMS
WARNINGS=()	# loud skips, repeated at the end
TIMINGS=()
FAILED=()
T_START=$(date +%s)

say() { echo "check: $*"; }

# Print with the group prefix, e.g. "[6.1.0-56-amd64] ".
pr() { local g=$1; shift; printf '[%s] %s\n' "$g" "$*"; }

# res GROUP pass|fail|skip DESC [REASON-OR-DIAG...]
res() {
	local g=$1 st=$2 d=$3 n; shift 3
	n=$(( ${GROUP_N[$g]:-0} + 1 )); GROUP_N[$g]=$n
	case $st in
	pass) PASS=$((PASS + 1)); pr "$g" "ok $n - $d" ;;
	skip) SKIP=$((SKIP + 1)); pr "$g" "not ok $n - $d # SKIP ${1:-}"; shift $(($# > 0)) ;;
	*)    FAIL=$((FAIL + 1)); pr "$g" "not ok $n - $d"
	      FAILED+=("[$g] not ok $n - $d") ;;
	esac
	local l
	for l in "$@"; do
		[ -n "$l" ] || continue
		while IFS= read -r x; do pr "$g" "# $x"; done <<<"$l"
	done
}

# A skip that must not go unnoticed: reported, warned on stderr and
# repeated in the final summary.
loud_skip() {	# GROUP DESC REASON
	res "$1" skip "$2" "$3"
	WARNINGS+=("$2: SKIPPED: $3")
	echo "check: WARNING: $2 SKIPPED: $3" >&2
}

# ktap_count GROUP PREFIX FILE: print a KTAP stream with a prefix and add
# its top-level results to the totals.  Sets KT_PASS/KT_FAIL/KT_SKIP/KT_N.
ktap_count() {
	local g=$1 pfx=$2 f=$3 line
	KT_PASS=0 KT_FAIL=0 KT_SKIP=0 KT_N=0 KT_PLAN=
	while IFS= read -r line; do
		pr "$g" "$pfx$line"
		# every failing line, nested ones too, for the recap at the end
		if [[ $line =~ ^[[:space:]]*not\ ok\  ]] &&
		   ! [[ $line =~ \#[[:space:]]*[Ss][Kk][Ii][Pp] ]]; then
			FAILED+=("[$g] $pfx$line")
		fi
		case $line in
		"1.."[0-9]*) [ -n "$KT_PLAN" ] || KT_PLAN=${line#1..} ;;
		"ok "[0-9]*|"not ok "[0-9]*)
			KT_N=$((KT_N + 1))
			if [[ $line =~ \#[[:space:]]*[Ss][Kk][Ii][Pp] ]]; then
				KT_SKIP=$((KT_SKIP + 1))
			elif [[ $line == "ok "* ]]; then
				KT_PASS=$((KT_PASS + 1))
			else
				KT_FAIL=$((KT_FAIL + 1))
			fi ;;
		esac
	done <"$f"
	PASS=$((PASS + KT_PASS)); FAIL=$((FAIL + KT_FAIL)); SKIP=$((SKIP + KT_SKIP))
}

# ktap_check GROUP WHAT RC LOG: after ktap_count, fail when the stream is
# inconsistent with the exit status or its own plan.
ktap_check() {
	local g=$1 what=$2 rc=$3 log=$4
	if [ "$rc" != 0 ] && [ "$KT_FAIL" = 0 ]; then
		res "$g" fail "$what exited $rc without a failing KTAP result" "$(tail_of "$log")"
	elif [ "$KT_N" = 0 ]; then
		res "$g" fail "$what printed no KTAP results" "$(tail_of "$log")"
	elif [ -z "$KT_PLAN" ]; then
		res "$g" fail "$what printed no KTAP plan"
	elif [ "$KT_PLAN" != "$KT_N" ]; then
		res "$g" fail "$what: plan 1..$KT_PLAN but $KT_N results"
	fi
}

tail_of() { [ -f "$1" ] && tail -n "${2:-20}" "$1"; }

# Stage timing: tstart; ...; tend "LABEL"
tstart() { T0=$(date +%s); }
tend() {	# LABEL [NOTE]
	local t=$(( $(date +%s) - T0 ))
	TIMINGS+=("$(printf '%-44s %5ds%s' "$1" "$t" "${2:+  ($2)}")")
	say "$1 took ${t}s${2:+ ($2)}"
}
# After a VM: "Ns waiting for the VM lock" from the stamp flock left.
vm_wait_note() {	# STAMP-FILE
	local s; s=$(cat "$1" 2>/dev/null) || return 0
	echo "$(( s - T0 ))s of it waiting for the VM lock"
}

# Is a stage selected by ALOOP_TESTS?  (everything when it is empty)
wanted() {
	local pat
	[ -n "$ALOOP_TESTS" ] || return 0
	for pat in $ALOOP_TESTS; do
		# shellcheck disable=SC2254
		case $1 in $pat) return 0 ;; esac
	done
	return 1
}

# Run a command chrooted in ROOT, with /proc, /sys, /dev and the tree
# (at the same path) mounted, in a private mount namespace: the mounts
# vanish with it.  objtool needs /proc, DKMS needs /dev/null.
in_root() {
	local root=$1; shift
	mkdir -p "$root$REPO" || return 1
	unshare -m --propagation private -- /bin/sh -c '
		r=$1 repo=$2; shift 2
		mount -t proc proc "$r/proc" && mount -t sysfs sys "$r/sys" &&
		mount --bind /dev "$r/dev" && mount --bind "$repo" "$r$repo" &&
		exec chroot "$r" env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' in_root "$root" "$REPO" "$@"
}

# Run CMD on the host (ROOT "") or chrooted in ROOT.
on() { local root=$1; shift; if [ -z "$root" ]; then "$@"; else in_root "$root" "$@"; fi; }

cleanup() {
	[ -z "$VMDIR" ] || rm -rf "$VMDIR"
	if [ -n "$DKMS_PENDING" ]; then
		echo "check: removing aloop from DKMS after an interruption" >&2
		on "${DKMS_PENDING%%|*}" make -C "$REPO" -s dkms-uninstall >/dev/null 2>&1
	fi
}
trap cleanup EXIT
trap 'echo "check: interrupted"; exit 130' INT TERM

# ------------------------------------------------------------ host side
say "logs: $LOGDIR"
tstart

if [ "${ALOOP_SKIP_SETUP:-0}" = 1 ]; then
	res host skip "host setup (scripts/setup-host.sh)" "ALOOP_SKIP_SETUP=1"
elif scripts/setup-host.sh >"$LOGDIR/setup-host.log" 2>&1; then
	res host pass "host setup (scripts/setup-host.sh)"
else
	res host fail "host setup (scripts/setup-host.sh)" "$(tail_of "$LOGDIR/setup-host.log")"
fi
tend "host setup"
tstart

if make aloopctl >"$LOGDIR/aloopctl-build.log" 2>&1 && [ -x aloopctl/aloopctl ]; then
	res host pass "build aloopctl"
else
	res host fail "build aloopctl" "$(tail_of "$LOGDIR/aloopctl-build.log")"
fi

if make tools >"$LOGDIR/tools-build.log" 2>&1; then
	res host pass "build the test helpers (make tools: build/tools/alo-ioctl, loopdiff)"
else
	res host fail "build the test helpers (make tools: build/tools/alo-ioctl, loopdiff)" "$(tail_of "$LOGDIR/tools-build.log")"
fi

# host_ktap GROUP DESC LOG CMD...: a host test that prints KTAP
host_ktap() {
	local g=$1 d=$2 log=$3 rc; shift 3
	if [ ! -e "$1" ] && [ "$1" != make ]; then
		res host skip "$d" "$1 does not exist"
		return
	fi
	"$@" >"$log" 2>&1
	rc=$?
	ktap_count "$g" "" "$log"
	ktap_check "$g" "$d" "$rc" "$log"
}

if [ "${ALOOP_SKIP_UNIT:-0}" = 1 ]; then
	res host skip "host unit tests (make unit, test_install, test_version)" "ALOOP_SKIP_UNIT=1"
else
	if [ -e tests/unit/run.sh ]; then
		host_ktap unit "make unit" "$LOGDIR/unit.log" make -s unit
	else
		res host skip "host unit tests (make unit)" "tests/unit/run.sh does not exist"
	fi
	host_ktap install "tests/unit/test_install.sh" "$LOGDIR/install.log" tests/unit/test_install.sh
	host_ktap version "tests/dkms/test_version.sh" "$LOGDIR/version.log" tests/dkms/test_version.sh
	host_ktap checkpatch "tests/unit/test_checkpatch.sh" "$LOGDIR/checkpatch.log" tests/unit/test_checkpatch.sh
	host_ktap compat "tests/unit/test_compat.sh" "$LOGDIR/compat.log" tests/unit/test_compat.sh
fi
tend "host build + host tests"

# -------------------------------------------------------------- kernels
# A kernel is "KVER" (host) or "KVER@ROOT" (in a root booted with --root).
kernel_ok() {	# KVER [ROOT]: has an image and a build tree?
	[ -f "${2:-}/boot/vmlinuz-$1" ] && [ -e "${2:-}/lib/modules/$1/build/Makefile" ]
}

# Newest kernel (regex on the release) with image + headers in ROOT ("" = host).
newest_of() {
	local re=$1 root=${2:-} k best=
	for k in "$root"/boot/vmlinuz-*; do
		k=${k##*/vmlinuz-}
		[[ $k =~ $re ]] || continue
		kernel_ok "$k" "$root" || continue
		best=$(printf '%s\n%s\n' "$best" "$k" | sed '/^$/d' | sort -V | tail -n 1)
	done
	echo "$best"
}

TROOT_STATE=	# "", ok, or the reason it is unusable
troot_note() { [ -z "$TROOT_STATE" ] || [ "$TROOT_STATE" = ok ] || echo "; trixie root: $TROOT_STATE"; }
ensure_troot() {
	[ -z "$TROOT_STATE" ] || { [ "$TROOT_STATE" = ok ]; return; }
	say "preparing the trixie root $TROOT (scripts/trixie-root.sh; log trixie-root.log)"
	tstart
	if scripts/trixie-root.sh "$TROOT" >"$LOGDIR/trixie-root.log" 2>&1; then
		TROOT_STATE=ok
		res host pass "trixie root $TROOT with a trixie-backports kernel + headers ($(tail -n 1 "$LOGDIR/trixie-root.log"))"
	else
		TROOT_STATE="scripts/trixie-root.sh failed: $(grep '^trixie-root:' "$LOGDIR/trixie-root.log" | tail -n 1)"
		# Not a failure of aloop: the kernels it was for are loud SKIPs.
		pr host "# trixie root $TROOT could not be prepared ($LOGDIR/trixie-root.log):"
		tail_of "$LOGDIR/trixie-root.log" 15 | sed 's/^/[host] #   /'
	fi
	tend "trixie root"
	[ "$TROOT_STATE" = ok ]
}

KLIST=()
[ "$KERNELS" != none ] || KERNELS=	# host tests only
for tok in $KERNELS; do
	k= root=
	case $tok in
	trixie)
		if ensure_troot; then
			k=$(newest_of '.' "$TROOT"); root=$TROOT
		fi
		why="no trixie-backports kernel with headers in $TROOT$(troot_note)" ;;
	[0-9]*.[0-9]*.*)	# a release
		if kernel_ok "$tok"; then
			k=$tok
		elif ensure_troot && kernel_ok "$tok" "$TROOT"; then
			k=$tok root=$TROOT
		fi
		why="kernel $tok is not installed (need /boot/vmlinuz-$tok and /lib/modules/$tok/build, here or in $TROOT$(troot_note))" ;;
	[0-9]*.[0-9]*)		# a series
		re="^${tok//./\\.}\\.[0-9]+.*-amd64\$"
		k=$(newest_of "$re")
		if [ -z "$k" ] && ensure_troot; then
			k=$(newest_of "$re" "$TROOT"); root=$TROOT
		fi
		why="no Debian $tok kernel with headers installed (need /boot/vmlinuz-X and /lib/modules/X/build; scripts/setup-host.sh installs 6.1 and 6.12, scripts/trixie-root.sh the trixie-backports kernel$(troot_note))" ;;
	*)
		why="'$tok' is not a kernel release, series or 'trixie'" ;;
	esac
	if [ -n "$k" ]; then
		KLIST+=("$k${root:+@$root}")
	else
		loud_skip host "tests on kernel $tok" "$why"
	fi
done
say "kernels: ${KLIST[*]:-none}"

# Boot KVER (from ROOT if set) with virtme-ng, run guest-run.sh; KO may
# be empty.  Extra environment for the guest in GUEST_ENV.
run_guest() {
	local k=$1 root=$2 ko=$3 kdir=$4 cache=none kvm=(--disable-kvm) cmd img where gres run_in
	VMDIR=$(mktemp -d "$REPO/build/vm.XXXXXX")
	# vda: ext4 backing fs; vdb: xfs (vdb1) + a raw partition (vdb2);
	# vdc: 4096-byte logical sectors, ext4.  Found by serial in the guest.
	truncate -s 2G "$VMDIR/vda.img" && truncate -s 1536M "$VMDIR/vdb.img" &&
		truncate -s 1G "$VMDIR/vdc.img" || return 1
	# cache=none needs O_DIRECT on the host filesystem (not tmpfs)
	dd if=/dev/zero of="$VMDIR/vda.img" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null ||
		cache=writeback
	[ "$ALOOP_KVM" != 1 ] || kvm=()
	qdisk() {	# N NAME SERIAL [EXTRA-DEVICE-PROPS]
		printf -- '-drive file=%s,format=raw,if=none,id=d%s,cache=%s -device virtio-blk-pci,drive=d%s,serial=%s%s' \
			"$VMDIR/$2.img" "$1" "$cache" "$1" "$3" "${4:-}"
	}
	mkdir -p "$kdir/results"
	if [ -n "$root" ]; then
		# The guest sees ROOT as /: share the results at a guest path
		# in its /tmp overlay and the tree read-only at its own path
		# (the mount point must exist in ROOT: the root is read-only).
		img=$root/boot/vmlinuz-$k gres=/tmp/aloop-results run_in=$root
		mkdir -p "$root$REPO" || return 1
		where=(--root "$root" --rwdir "$gres=$kdir/results" --rodir "$REPO=$REPO")
	else
		# vng resolves --rwdir relative to the current directory: run from /
		img=/boot/vmlinuz-$k gres=$kdir/results run_in=/
		where=(--rwdir "$kdir/results")
	fi
	cmd=$(printf '%q ' env DUT="$DUT" ALOOP_TESTS="$ALOOP_TESTS" \
		ALOOP_TEST_TIMEOUT="$ALOOP_TEST_TIMEOUT" "${GUEST_ENV[@]}" \
		"$REPO/scripts/guest-run.sh" "$ko" "$gres")
	say "[$k] waiting for the VM lock $VM_LOCK"
	say "[$k] booting${root:+ from $root} (timeout ${ALOOP_VM_TIMEOUT}s); console log $kdir/vng.log"
	rm -f "$kdir/vm.start"
	(cd "$run_in" && flock "$VM_LOCK" sh -c 'date +%s >"$0"; exec "$@"' "$kdir/vm.start" \
		timeout -k 30 "$ALOOP_VM_TIMEOUT" \
		vng --run "$img" "${kvm[@]}" --user root "${where[@]}" \
		-m "$ALOOP_VM_MEM" -p "$ALOOP_VM_CPUS" \
		--qemu-opts="$(qdisk 0 vda aloop-ext4) $(qdisk 1 vdb aloop-xfs) $(qdisk 2 vdc aloop-4k ,logical_block_size=4096,physical_block_size=4096)" \
		--exec "$cmd" </dev/null 8>&- 2>&1; echo "$?" >"$kdir/vng.rc") |
		tee "$kdir/vng.log" | sed -u "s/^/[$k] | /"
	rm -rf "$VMDIR"; VMDIR=
	return 0
}

LOGPAT='WARNING:|BUG:|Oops|INFO: task .* blocked|general protection fault|KASAN|UBSAN|refcount_t:|kernel BUG at|Kernel panic'

# Report one kernel's guest results.
report_guest() {
	local k=$1 kdir=$2 r=$2/results name f rc t plan n
	if [ ! -f "$r/done" ]; then
		res "$k" fail "guest booted and reported (no done marker; vng exit $(cat "$kdir/vng.rc" 2>/dev/null))" \
			"last console lines:" "$(tail_of "$kdir/vng.log" 30)" \
			"last kernel log lines:" "$(tail_of "$r/dmesg-live.txt" 30)"
	else
		res "$k" pass "guest booted and reported"
	fi
	if [ -f "$r/tests.list" ]; then
		while read -r name; do
			[ -n "$name" ] || continue
			f=$r/$name.ktap
			rc=$(cat "$r/$name.rc" 2>/dev/null || echo none)
			t=$(cat "$r/$name.time" 2>/dev/null || echo '?')
			if [ -f "$f" ]; then
				ktap_count "$k" "$name: " "$f"
			else
				KT_N=0 KT_FAIL=0 KT_PLAN=
			fi
			plan=${KT_PLAN:-}; n=$KT_N
			if [ "$rc" = none ]; then
				res "$k" fail "$name finished (it did not: guest died or hung)" \
					"stderr:" "$(tail_of "$r/$name.stderr")"
			elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
				res "$k" fail "$name finished within ${ALOOP_TEST_TIMEOUT}s (timed out after ${t}s)" \
					"stderr:" "$(tail_of "$r/$name.stderr")"
			elif [ -z "$plan" ]; then
				res "$k" fail "$name printed a KTAP plan (exit $rc)" "stderr:" "$(tail_of "$r/$name.stderr")"
			elif [ "$n" -lt "$plan" ]; then
				res "$k" fail "$name reported all $plan planned results (only $n, exit $rc)" \
					"stderr:" "$(tail_of "$r/$name.stderr")"
			elif [ "$rc" != 0 ] && [ "$KT_FAIL" = 0 ]; then
				res "$k" fail "$name exited $rc without a failing result" "stderr:" "$(tail_of "$r/$name.stderr")"
			elif [ "$rc" != 0 ] && [ -s "$r/$name.stderr" ]; then
				pr "$k" "$name: # stderr (last lines):"
				tail_of "$r/$name.stderr" 10 | sed "s/^/[$k] $name: #   /"
			fi
			[ ! -s "$r/$name.cleanup" ] || { pr "$k" "$name: # cleanup afterwards:"; sed "s/^/[$k] $name: #   /" "$r/$name.cleanup"; }
			pr "$k" "$name: # took ${t}s"
		done <"$r/tests.list"
	fi

	# Kernel log scan
	local log=$r/dmesg.txt hits ts te bad
	[ -s "$log" ] || log=$r/dmesg-live.txt
	if [ ! -s "$log" ]; then
		hits=$(grep -E "$LOGPAT" "$kdir/vng.log" 2>/dev/null | head -n 60)
		if [ -n "$hits" ]; then
			res "$k" fail "kernel log clean ($k)" "offending console lines:" "$hits"
		else
			res "$k" skip "kernel log clean ($k)" "no guest kernel log was collected"
		fi
		return
	fi
	hits=$(grep -E "$LOGPAT" "$log" | head -n 60)
	# Taint flags gained during the run: D (die/oops, 128), W (warning,
	# 512), L (soft lockup, 16384).
	ts=$(cat "$r/taint-start" 2>/dev/null || echo 0); te=$(cat "$r/taint-end" 2>/dev/null || echo "$ts")
	bad=$(( (te & ~ts) & (128 | 512 | 16384) ))
	if [ -n "$hits" ] || [ "$bad" != 0 ]; then
		# Each hit with the test that was running (guest-run.sh writes
		# "aloop-test: === start NAME" to /dev/kmsg) and 20 lines of
		# context (the call trace), at most 120 lines in all.
		hits=$(awk -v pat="$LOGPAT" '
			/aloop-test: === start / { t = $NF }
			$0 ~ pat { if (ctx == 0 || t != lt) print "--- during " (t == "" ? "boot" : t) ":"; lt = t; ctx = 21 }
			ctx > 0 { print; ctx-- }' "$log" | head -n 120)
		res "$k" fail "kernel log clean ($k)" "offending lines in $log:" "$hits" \
			"taint before $ts, after $te"
	else
		res "$k" pass "kernel log clean ($k)"
	fi
}

# GNU build ID of a module file, compressed or not.
buildid_of() {
	local f=$1 t
	t=$(mktemp /tmp/aloop-ko.XXXXXX) || return 1
	case $f in
	*.xz)  xz -dc "$f" ;;
	*.zst) zstd -qdc "$f" ;;
	*.gz)  gzip -dc "$f" ;;
	*)     cat "$f" ;;
	esac >"$t" 2>/dev/null
	readelf -n "$t" 2>/dev/null | awk '/Build ID:/ {print $3; exit}'
	rm -f "$t"
}

# aloop.ko* files under ROOT/lib/modules/KVER
installed_kos() { find "$1/lib/modules/$2" -name 'aloop.ko*' 2>/dev/null; }

# DKMS before the boot: install aloop for KVER (in ROOT when set) and
# fill GUEST_ENV for tests/dkms/guest-dkms.sh.  Returns non-zero when
# the stage cannot go on (reported).
dkms_install() {
	local k=$1 root=$2 kdir=$3 bdir=$4 kos ko
	exec 8>"$DKMS_LOCK"
	say "[$k] waiting for the DKMS lock $DKMS_LOCK"
	flock 8
	DKMS_PENDING="$root|$k"
	# Leftovers of an interrupted run (ours: we own aloop/VERSION here).
	if on "$root" dkms status aloop 2>/dev/null | grep -q .; then
		pr "$k" "# note: aloop was registered with DKMS before this run ($(on "$root" dkms status aloop 2>&1 | tr '\n' ' ')); removing it"
		on "$root" make -C "$REPO" -s dkms-uninstall >"$kdir/dkms-preclean.log" 2>&1
	fi
	kos=$(installed_kos "$root" "$k")
	if [ -z "$kos" ]; then
		res "$k" pass "no aloop.ko installed for $k before the DKMS stage"
	else
		res "$k" fail "no aloop.ko installed for $k before the DKMS stage" \
			"found (would shadow or be shadowed by the DKMS module):" "$kos"
	fi
	if on "$root" make -C "$REPO" dkms-install KVER="$k" >"$kdir/dkms-install.log" 2>&1; then
		res "$k" pass "make dkms-install KVER=$k${root:+ (chrooted in $root)}"
	else
		res "$k" fail "make dkms-install KVER=$k${root:+ (chrooted in $root)}" "$(tail_of "$kdir/dkms-install.log" 25)"
		return 1
	fi
	kos=$(installed_kos "$root" "$k")
	ko=$(grep '/updates/dkms/' <<<"$kos" | head -n 1)
	if [ -n "$ko" ] && [ "$(wc -l <<<"$kos")" = 1 ]; then
		res "$k" pass "dkms installed ${ko#"$root"}"
	else
		res "$k" fail "dkms installed one aloop.ko under /lib/modules/$k/updates/dkms" "found: ${kos:-nothing}" \
			"$(on "$root" dkms status aloop 2>&1)"
		[ -n "$ko" ] || return 1
	fi
	GUEST_ENV=(ALOOP_DKMS=1 "ALOOP_DKMS_KO=${ko#"$root"}" "ALOOP_DKMS_BUILDID=$(buildid_of "$ko")"
		   "ALOOP_BUILD_BUILDID=$(buildid_of "$bdir/aloop.ko")" "ALOOP_VERSION_WANT=$VERSION")
	return 0
}

# DKMS after the boot: remove it and check nothing is left.
dkms_remove() {
	local k=$1 root=$2 kdir=$3 left st
	if on "$root" make -C "$REPO" dkms-uninstall >"$kdir/dkms-uninstall.log" 2>&1; then
		res "$k" pass "make dkms-uninstall (dkms remove aloop/$VERSION --all)"
	else
		res "$k" fail "make dkms-uninstall (dkms remove aloop/$VERSION --all)" "$(tail_of "$kdir/dkms-uninstall.log" 25)"
	fi
	left=$(installed_kos "$root" "$k"
	       grep -lE '(^|/)aloop\.ko' "$root/lib/modules/$k"/modules.dep 2>/dev/null
	       [ ! -e "$root/usr/src/aloop-$VERSION" ] || echo "$root/usr/src/aloop-$VERSION"
	       [ ! -e "$root/var/lib/dkms/aloop" ] || echo "$root/var/lib/dkms/aloop")
	st=$(on "$root" dkms status aloop 2>&1)
	if [ -z "$left" ] && [ -z "$st" ]; then
		res "$k" pass "nothing of aloop left in ${root}/lib/modules/$k, /usr/src, /var/lib/dkms after dkms remove"
	else
		res "$k" fail "nothing of aloop left after dkms remove" "left: $left" "dkms status: $st"
	fi
	DKMS_PENDING=
	flock -u 8
	exec 8>&-
}

for kr in "${KLIST[@]}"; do
	k=${kr%%@*} root=
	[ "$kr" = "$k" ] || root=${kr#*@}
	kdir=$LOGDIR/$k
	mkdir -p "$kdir"
	bdir=$REPO/build/$k
	mkdir -p "$bdir"
	GUEST_ENV=()
	say "[$k] building aloop.ko in $bdir${root:+ (chrooted in $root)}"
	tstart
	ko=
	if (
		flock 9	# demo.sh or another check may build the same tree
		rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
			--exclude='.*.cmd' --exclude='*.cmd' --exclude='*.symvers' --exclude='modules.order' \
			--exclude='aloop_probes.h' --exclude='*.d' --exclude='*.log' \
			src include Kbuild Makefile VERSION scripts "$bdir/" &&
		{ find "$bdir" -name '*.o' -delete; rm -f "$bdir/aloop.ko"; } &&	# full build: see all warnings
		on "$root" make -C "$bdir" KVER="$k" module
	   ) 9>"$REPO/build/.build-$k.lock" >"$kdir/build.log" 2>&1 && [ -f "$bdir/aloop.ko" ]; then
		res "$k" pass "build aloop.ko for $k${root:+ (in the trixie root, $(chroot "$root" gcc --version 2>/dev/null | head -n 1))}"
		ko=$bdir/aloop.ko
		warn=$(grep -iE 'warning:' "$kdir/build.log" | grep -v -e 'Skipping BTF generation' -e 'the compiler differs' | head -n 20)
		if [ -n "$warn" ]; then
			res "$k" fail "aloop.ko builds without warnings on $k" "$warn"
		else
			res "$k" pass "aloop.ko builds without warnings on $k"
		fi
		mv=$(modinfo -F version "$ko" 2>&1)
		if [ "$mv" = "$VERSION" ]; then
			res "$k" pass "aloop.ko MODULE_VERSION is VERSION ($VERSION)"
		else
			res "$k" fail "aloop.ko MODULE_VERSION is VERSION" "VERSION: '$VERSION'" "modinfo -F version: '$mv'"
		fi
	else
		res "$k" fail "build aloop.ko for $k" "$(tail_of "$kdir/build.log" 30)"
		if [ "$ALOOP_ALLOW_NO_MODULE" != 1 ]; then
			res "$k" skip "guest tests on $k" "aloop.ko did not build"
			tend "[$k] build"
			continue
		fi
	fi
	tend "[$k] build"

	dkms=0
	if [ "$DUT" != aloop ]; then
		:
	elif [ "$ALOOP_DKMS" != 1 ]; then
		res "$k" skip "DKMS stage" "ALOOP_DKMS=$ALOOP_DKMS"
	elif ! wanted dkms; then
		:	# not selected by ALOOP_TESTS
	elif [ -z "$ko" ]; then
		res "$k" skip "DKMS stage" "aloop.ko did not build"
	else
		tstart
		if dkms_install "$k" "$root" "$kdir" "$bdir"; then
			dkms=1
		else
			dkms_remove "$k" "$root" "$kdir"
		fi
		tend "[$k] dkms install"
	fi

	tstart
	run_guest "$k" "$root" "$ko" "$kdir"
	report_guest "$k" "$kdir"
	if [ $dkms = 1 ] && ! grep -qx dkms "$kdir/results/tests.list" 2>/dev/null; then
		res "$k" fail "the guest ran the DKMS step (tests/dkms/guest-dkms.sh)" "tests.list: $(cat "$kdir/results/tests.list" 2>&1 | tr '\n' ' ')"
	fi
	tend "[$k] guest boot (suite${GUEST_ENV[*]:+ + dkms})" "$(vm_wait_note "$kdir/vm.start")"

	if [ $dkms = 1 ]; then
		tstart
		dkms_remove "$k" "$root" "$kdir"
		tend "[$k] dkms remove"
	fi

	if [ "$DUT" = aloop ] && [ "$ALOOP_DURABILITY" = 1 ] && wanted durability && [ -n "$ko" ]; then
		say "[$k] durability: two boots (write + hard power-off, verify); log $kdir/durability.vng.log"
		tstart
		ALOOP_ROOT=$root ALOOP_DUR_LOG=$kdir/durability.vng.log ALOOP_KVM=$ALOOP_KVM \
			scripts/durability.sh "$k" "$ko" >"$kdir/durability.ktap" 2>"$kdir/durability.stderr"
		rc=$?
		ktap_count "$k" "durability: " "$kdir/durability.ktap"
		ktap_check "$k" "durability (scripts/durability.sh)" "$rc" "$kdir/durability.stderr"
		tend "[$k] durability (2 boots)" "$(sed -n 's/^durability: waited \([0-9]*\)s for the VM lock.*/\1/p' "$kdir/durability.stderr" |
			awk '{ w += $1 } END { if (NR) print w "s of it waiting for the VM lock" }')"
	elif [ "$DUT" = aloop ] && [ "$ALOOP_DURABILITY" != 1 ]; then
		res "$k" skip "durability (scripts/durability.sh)" "ALOOP_DURABILITY=$ALOOP_DURABILITY"
	fi
	say "[$k] logs: $kdir (results/, vng.log, build.log, dkms-*.log, durability.*)"
done

echo
say "logs saved in $LOGDIR"
TIMINGS+=("$(printf '%-40s %5ds' total $(( $(date +%s) - T_START )))")
say "timings:"
printf '  %s\n' "${TIMINGS[@]}" | tee "$LOGDIR/timings.txt"
for w in "${WARNINGS[@]}"; do
	echo "check: WARNING: $w"
done
if [ "${#FAILED[@]}" -gt 0 ]; then
	say "failures (nested lines are the failing checks inside a test file):"
	printf '  %s\n' "${FAILED[@]}" | head -n 40
fi
[ "$SKIP" = 0 ] || echo "$SKIP skipped"
echo "$PASS passed, $FAIL failed"
if [ "$FAIL" = 0 ] && { [ "${#KLIST[@]}" -gt 0 ] || [ -z "$KERNELS" ]; }; then
	rc=0
else
	rc=1
fi
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit $rc
