#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The full aloop test suite (what `make check` and .ci/run run):
#
#   1. scripts/setup-host.sh        install whatever is missing
#   2. make aloopctl and make tools (build/tools/alo-ioctl, loopdiff);
#      host tests: make unit, tests/unit/test_install.sh (make install-user
#      / uninstall), tests/unit/test_doctor.sh (aloopctl doctor on
#      fixture trees), tests/unit/test_restore.sh (save/restore,
#      aloop-restore.service), tests/dkms/test_version.sh (one version everywhere),
#      make style (tests/unit/test_checkpatch.sh), tests/unit/test_compat.sh
#      (probes, #error on unknown shapes, 6.1 floor), make lint,
#      tests/pkg/test_deb.sh (make deb, package contents, lintian)
#   3. the kernels: Debian 6.1 and 6.12 from the host, and the newest
#      trixie-backports kernel (7.x) from a debootstrap'd trixie root
#      (scripts/trixie-root.sh, cached in /var/cache/aloop/trixie-root)
#   4. for each kernel (scripts/lib/: kernel.sh, build.sh, vm.sh, klog.sh):
#      - build aloop.ko in build/<kver>/ with W=1 (chrooted in the trixie
#        root for its kernel: gcc-14), no warnings, MODULE_VERSION = VERSION
#      - DKMS: `make dkms-install KVER=<kver>` (in the root for 7.x)
#      - boot that kernel once under virtme-ng (QEMU) with three scratch
#        disks and run tests/guest/run.sh: tests/guest/NN-*.sh, then
#        tests/dkms/guest-dkms.sh (modprobe loads the DKMS build, fio,
#        modprobe -r); scan the guest kernel log
#      - `make dkms-uninstall`: nothing of aloop left in /lib/modules
#      - scripts/durability.sh: two more boots (write + hard power-off,
#        then verify), their kernel logs scanned too
#   5. print every KTAP line prefixed per kernel and finish with
#      "N passed, M failed"
#
# Exit status is non-zero when anything failed, or a guest did not report.
# A kernel that cannot be installed is a loud SKIP with the reason.
#
# Environment:
#   KERNELS="k1 k2"       kernels to test: releases (6.1.0-56-amd64),
#                         series (6.1, 6.12, 7.3: the newest installed),
#                         "trixie" (the newest kernel in the trixie root)
#                         or "debug" (scripts/debug-kernel.sh's tree).
#                         Default "6.1 6.12 trixie" (make check-debug runs
#                         "debug").  Releases and series not on the host
#                         are looked for in the trixie root.  KERNELS=none:
#                         host tests only.
#   ALOOP_LANES="6.1:quick 6.12:quick,long trixie:quick debug:quick,long,stress"
#                         the lane table: which classes of guest test
#                         (each file's "# aloop-class:" line: quick, long,
#                         stress) each kernel (KERNELS token) runs; a token
#                         not in the table runs quick.  A file of another
#                         class is a SKIP line naming its class and lane.
#                         Nothing is ever skipped for time: the table is
#                         reviewed when timings change (docs/testing.md).
#   ALOOP_TESTS="00-env 30-*"   only these guest tests (default: all the
#                         lane's classes); named files run whatever their
#                         class; the names "dkms" and "durability" select
#                         those stages (run when ALOOP_TESTS is empty)
#                         NAME@SCHED runs NAME with the I/O scheduler
#                         SCHED on every aloop disk (tests/guest/run.sh)
#   ALOOP_SCHED_MATRIX="mq-deadline bfq kyber"   on the debug lane (the
#                         default there; empty elsewhere), a whole-suite
#                         run also runs the data tests under each
#                         scheduler (ALOOP_SCHED_TESTS, tests/guest/run.sh)
#   ALOOP_DKMS=0 / ALOOP_DURABILITY=0   skip those stages
#   ALOOP_DURABILITY_KERNELS="6.12"   kernels (KERNELS tokens, or "all")
#                         whose durability stage runs (two boots each)
#   ALOOP_TRIXIE_ROOT=DIR       the trixie root (default
#                               /var/cache/aloop/trixie-root)
#   ALOOP_TEST_TIMEOUT=600      seconds per guest test file (a file may
#                               ask for more: "# aloop-timeout: SECONDS")
#   ALOOP_VM_TIMEOUT=3600       seconds per guest boot (whole suite)
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

# shellcheck source=lib/aloop.sh
. "$(dirname "$0")/lib/aloop.sh"
# shellcheck source=lib/report.sh
. "$ALOOP_LIB/report.sh"
# shellcheck source=lib/dkms.sh
. "$ALOOP_LIB/dkms.sh"
cd "$REPO" || exit 1

: "${ALOOP_TESTS:=}"
: "${ALOOP_TEST_TIMEOUT:=600}"
: "${ALOOP_DKMS:=1}"
: "${ALOOP_DURABILITY:=1}"
# Two boots each (~2 min): on one kernel, to keep CI inside 90 minutes.
: "${ALOOP_DURABILITY_KERNELS:=6.12}"
: "${KERNELS:=6.1 6.12 trixie}"
: "${ALOOP_LANES:=6.1:quick 6.12:quick,long trixie:quick debug:quick,long,stress}"
: "${DUT:=aloop}"
[ "$DUT" = aloop ] || ALOOP_ALLOW_NO_MODULE=1
: "${ALOOP_ALLOW_NO_MODULE:=0}"

LOGDIR=${ALOOP_LOGDIR:-$REPO/build/logs/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$LOGDIR" || exit 1
LOGDIR=$(cd "$LOGDIR" && pwd)
# shellcheck disable=SC2034 # read by lib/kernel.sh
TROOT_LOG=$LOGDIR/trixie-root.log
exec > >(tee "$LOGDIR/check.log") 2>&1
TEE_PID=$!

VMDIR=
trap 'dkms_cleanup; [ -z "$VMDIR" ] || rm -rf "$VMDIR"' EXIT
# Killed (CI's limit, ^C): the recap of what finished, then out.
trap 'echo "check: interrupted: the recap of what finished"; report_recap "$LOGDIR"; exit 130' INT TERM

# Is a stage selected by ALOOP_TESTS?  (everything when it is empty)
wanted() {
	local pat
	[ -n "${tests-$ALOOP_TESTS}" ] || return 0
	for pat in ${tests-$ALOOP_TESTS}; do
		# shellcheck disable=SC2254
		case $1 in $pat) return 0 ;; esac
	done
	return 1
}

# step GROUP DESC LOG CMD...: one result for a command, its log's tail on failure
step() {
	local g=$1 d=$2 log=$3; shift 3
	if "$@" >"$log" 2>&1; then res "$g" pass "$d"; else res "$g" fail "$d" "$(tail_of "$log")"; fi
}

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

# ------------------------------------------------------------ host side
say "logs: $LOGDIR"
tstart
if [ "${ALOOP_SKIP_SETUP:-0}" = 1 ]; then
	res host skip "host setup (scripts/setup-host.sh)" "ALOOP_SKIP_SETUP=1"
else
	step host "host setup (scripts/setup-host.sh)" "$LOGDIR/setup-host.log" scripts/setup-host.sh
fi
tend "host setup"
tstart
step host "build aloopctl" "$LOGDIR/aloopctl-build.log" make aloopctl
step host "build the test helpers (make tools: build/tools/alo-ioctl, loopdiff)" "$LOGDIR/tools-build.log" make tools
tend "host build"

# The host tests (make unit, style, lint, the package...; ~4 min) run in
# the background, beside the first kernel's build and boot, and report
# after it: one table, run by host_suite and read by host_report.
HOST_T=(
	"unit|make unit|unit.log|make -s unit"
	"install|tests/unit/test_install.sh|install.log|tests/unit/test_install.sh"
	"version|tests/dkms/test_version.sh|version.log|tests/dkms/test_version.sh"
	"checkpatch|make style (tests/unit/test_checkpatch.sh)|checkpatch.log|tests/unit/test_checkpatch.sh"
	"compat|tests/unit/test_compat.sh|compat.log|tests/unit/test_compat.sh"
	"params|tests/unit/test_params.sh (module parameters documented)|params.log|tests/unit/test_params.sh"
	"dkms-conf|tests/unit/test_dkms_conf.sh (dkms.conf's supported-kernel gate)|dkms-conf.log|tests/unit/test_dkms_conf.sh"
	"header-matrix|tests/unit/test_header_matrix.sh (make header-matrix's choice of kernels)|header-matrix.log|tests/unit/test_header_matrix.sh"
	"doctor|tests/unit/test_doctor.sh (aloopctl doctor on fixture trees)|doctor.log|tests/unit/test_doctor.sh"
	"compat-mode|tests/unit/test_compat_mode.sh (aloopctl compat, drop-in mode's modprobe.d file)|compat-mode.log|tests/unit/test_compat_mode.sh"
	"restore|tests/unit/test_restore.sh (save/restore format, aloop-restore.service)|restore.log|tests/unit/test_restore.sh"
	"lint|make lint (scripts/lint.sh)|lint.log|scripts/lint.sh"
	# make deb + contents + lintian (~2 min); the chroot and guest package
	# tests are make check-deb (~40 min, outside CI's budget)
	"deb|tests/pkg/test_deb.sh (make deb, contents, lintian)|deb.log|tests/pkg/test_deb.sh"
)
host_suite() {
	local e g d log cmd t0
	for e in "${HOST_T[@]}"; do
		IFS='|' read -r g d log cmd <<<"$e"
		t0=$(date +%s)
		# shellcheck disable=SC2086 # cmd is words
		$cmd >"$LOGDIR/$log" 2>&1
		echo "$? $(( $(date +%s) - t0 ))" >"$LOGDIR/$log.rc"
	done
	: >"$LOGDIR/host-tests.done"
}
host_report() {
	local e g d log cmd rc t
	[ -n "$HOST_PID" ] || return 0
	# host_suite's done marker, not wait: its pid may have been reused
	while [ ! -e "$LOGDIR/host-tests.done" ]; do sleep 2; done
	HOST_PID=
	for e in "${HOST_T[@]}"; do
		IFS='|' read -r g d log cmd <<<"$e"
		if [ ! -e "${cmd%% *}" ] && [ "${cmd%% *}" != make ]; then
			res host skip "$d" "${cmd%% *} does not exist"
			continue
		fi
		read -r rc t <"$LOGDIR/$log.rc" 2>/dev/null || rc=none t=0
		ktap_count "$g" "" "$LOGDIR/$log"
		ktap_check "$g" "$d" "$rc" "$LOGDIR/$log"
		TIMINGS+=("$(printf '%-44s %5ds' "  host: $g (in the background)" "$t")")
	done
	tend "host tests (in the background)"
}
HOST_PID=
if [ "${ALOOP_SKIP_UNIT:-0}" = 1 ]; then
	res host skip "host unit tests (make unit, test_install, test_version)" "ALOOP_SKIP_UNIT=1"
else
	tstart
	host_suite &
	HOST_PID=$!
	say "host tests running in the background (logs in $LOGDIR), reported after the first kernel"
fi
HOST_T0=$T0

# -------------------------------------------------------------- kernels
# Reported once, when a kernel first needs the trixie root.
kernel_troot_hook() {
	TIMINGS+=("$(printf '%-44s %5ds' "trixie root" "$TROOT_SECONDS")")
	if [ "$TROOT_STATE" = ok ]; then
		res host pass "trixie root $TROOT with a trixie-backports kernel + headers ($(tail -n 1 "$1"))"
	else	# not a failure of aloop: the kernels it was for are loud SKIPs
		pr host "# trixie root $TROOT could not be prepared ($1):"
		tail_of "$1" 15 | sed 's/^/[host] #   /'
	fi
}

# lane_classes TOKEN: the guest-test classes of TOKEN's lane, space-separated
lane_classes() {
	local l
	for l in $ALOOP_LANES; do
		[ "${l%%:*}" = "$1" ] && { echo "${l#*:}" | tr ',' ' '; return; }
	done
	echo quick
}

# kernel_chosen "LIST" TOKEN: 1 when LIST (KERNELS tokens, or "all") has
# TOKEN, else 0
kernel_chosen() {
	local h
	for h in $1; do
		[ "$h" = all ] || [ "$h" = "$2" ] && { echo 1; return; }
	done
	echo 0
}

[ "$KERNELS" != none ] || KERNELS=	# host tests only
# A kernel from the trixie root: the root builds in the background (a
# fresh machine: debootstrap + kernel, minutes) while the others run.
case " $KERNELS " in *" trixie "*|*" 7."*) troot_start ;; esac
say "kernels: $KERNELS (each resolved when its turn comes)"
NKERNELS=0
for tok in $KERNELS; do
	if ! kernel_find "$tok"; then
		loud_skip host "tests on kernel $tok" "$K_WHY"
		continue
	fi
	spec=$K_SPEC NKERNELS=$((NKERNELS + 1))
	kernel_load "$spec"
	k=$K_REL root=$K_ROOT
	classes=$(lane_classes "$tok")
	dur=$(kernel_chosen "$ALOOP_DURABILITY_KERNELS" "$tok")
	tests=$ALOOP_TESTS
	vm_timeout=$ALOOP_VM_TIMEOUT
	# The debug kernel (KASAN, lockdep) runs a few times slower: every
	# file's timeout times 4 there.
	tscale=1 smatrix=
	[ "$tok" != debug ] || tscale=4 smatrix=${ALOOP_SCHED_MATRIX-mq-deadline bfq kyber}
	say "[$K_REL] lane $tok: guest test classes $classes (ALOOP_LANES)"
	kdir=$LOGDIR/$k bdir=$REPO/build/$k
	mkdir -p "$kdir/results"
	GUEST_ENV=() ko=
	say "[$k] building aloop.ko in $bdir with W=1${root:+ (chrooted in $root)}"
	tstart
	if module_build "$bdir" "$kdir/build.log"; then
		res "$k" pass "build aloop.ko for $k${root:+ (in the trixie root, $(chroot "$root" gcc --version 2>/dev/null | head -n 1))}"
		ko=$bdir/aloop.ko
		warn=$(module_warnings "$kdir/build.log")
		if [ -n "$warn" ]; then
			res "$k" fail "aloop.ko builds without warnings (W=1) on $k" "$warn"
		else
			res "$k" pass "aloop.ko builds without warnings (W=1) on $k"
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
	elif [ -n "$K_KDIR" ]; then
		res "$k" skip "DKMS stage" "$k is a kernel tree ($K_KDIR), not installed in /lib/modules"
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
	say "[$k] booting${root:+ from $root} (timeout ${vm_timeout}s; waits for the VM lock $VM_LOCK); console log $kdir/vng.log"
	# vda: ext4 backing fs; vdb: xfs (vdb1) + a raw partition (vdb2);
	# vdc: 4096-byte logical sectors, ext4.  Found by serial in the guest.
	VMDIR=$(mktemp -d "$REPO/build/vm.XXXXXX")
	truncate -s 2G "$VMDIR/vda.img"; truncate -s 1536M "$VMDIR/vdb.img"; truncate -s 1G "$VMDIR/vdc.img"
	vm_boot --timeout "$vm_timeout" --results "$kdir/results" --log "$kdir/vng.log" --prefix "[$k] | " \
		--disk "$VMDIR/vda.img:aloop-ext4" --disk "$VMDIR/vdb.img:aloop-xfs" \
		--disk "$VMDIR/vdc.img:aloop-4k:,logical_block_size=4096,physical_block_size=4096" \
		-- env DUT="$DUT" ALOOP_TESTS="$tests" ALOOP_CLASSES="$classes" ALOOP_LANE="$tok" \
		ALOOP_TEST_TIMEOUT="$ALOOP_TEST_TIMEOUT" ALOOP_TIMEOUT_SCALE="$tscale" ALOOP_SCHED_MATRIX="$smatrix" "${GUEST_ENV[@]}" "$REPO/tests/guest/run.sh" "$ko" "$VM_RESULTS"
	echo $? >"$kdir/vng.rc"
	rm -rf "$VMDIR"; VMDIR=
	report_guest "$k" "$kdir"
	if [ $dkms = 1 ] && ! grep -qx dkms "$kdir/results/tests.list" 2>/dev/null; then
		res "$k" fail "the guest ran the DKMS step (tests/dkms/guest-dkms.sh)" "tests.list: $(tr '\n' ' ' <"$kdir/results/tests.list" 2>&1)"
	fi
	tend "[$k] guest boot (suite${GUEST_ENV[*]:+ + dkms})" "${VM_WAITED}s of it waiting for the VM lock"

	if [ $dkms = 1 ]; then
		tstart
		dkms_remove "$k" "$root" "$kdir"
		tend "[$k] dkms remove"
	fi

	if [ "$DUT" = aloop ] && [ "$ALOOP_DURABILITY" = 1 ] && [ "$dur" = 0 ] && [ -z "${tests-$ALOOP_TESTS}" ]; then
		res "$k" skip "durability (scripts/durability.sh)" "runs on ALOOP_DURABILITY_KERNELS ($ALOOP_DURABILITY_KERNELS) to stay inside CI's 90 minutes"
	elif [ "$DUT" = aloop ] && [ "$ALOOP_DURABILITY" = 1 ] && wanted durability && [ -n "$ko" ]; then
		say "[$k] durability: two boots (write + hard power-off, verify); log $kdir/durability.vng.log"
		tstart
		ALOOP_KERNEL_SPEC=$spec ALOOP_DUR_LOG=$kdir/durability.vng.log scripts/durability.sh "$k" "$ko" \
			>"$kdir/durability.ktap" 2>"$kdir/durability.stderr"
		rc=$?
		ktap_count "$k" "durability: " "$kdir/durability.ktap"
		ktap_check "$k" "durability (scripts/durability.sh)" "$rc" "$kdir/durability.stderr"
		tend "[$k] durability (2 boots)" "$(sed -n 's/^durability: waited \([0-9]*\)s for the VM lock.*/\1/p' "$kdir/durability.stderr" |
			awk '{ w += $1 } END { if (NR) print w "s of it waiting for the VM lock" }')"
	elif [ "$DUT" = aloop ] && [ "$ALOOP_DURABILITY" != 1 ]; then
		res "$k" skip "durability (scripts/durability.sh)" "ALOOP_DURABILITY=$ALOOP_DURABILITY"
	fi
	say "[$k] logs: $kdir (results/, vng.log, build.log, dkms-*.log, durability.*)"
	T0=$HOST_T0 host_report
done
T0=$HOST_T0 host_report

report_recap "$LOGDIR"
if [ "$FAIL" = 0 ] && { [ "$NKERNELS" -gt 0 ] || [ -z "$KERNELS" ]; }; then
	rc=0
else
	rc=1
fi
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit $rc
