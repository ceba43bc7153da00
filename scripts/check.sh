#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The full aloop test suite (what `make check` and .ci/run run):
#
#   1. scripts/setup-host.sh        install whatever is missing
#   2. make aloopctl, the ioctl helper (build/tools/alo-ioctl), make unit
#   3. for each kernel: build aloop.ko in build/<kver>/, boot that kernel
#      once under virtme-ng (QEMU) with two scratch disks and run
#      scripts/guest-run.sh, which runs tests/guest/NN-*.sh
#   4. print every KTAP line prefixed per kernel, scan the guest kernel
#      log, and finish with "N passed, M failed"
#
# Exit status is non-zero when anything failed, or a guest did not report.
#
# Environment:
#   KERNELS="k1 k2"       kernel releases to test (default: the newest
#                         Debian 6.1 and 6.12 kernels that have both
#                         /boot/vmlinuz-X and /lib/modules/X/build)
#   ALOOP_TESTS="00-env 30-*"   only these guest tests (default: all)
#   ALOOP_TEST_TIMEOUT=600      seconds per guest test file
#   ALOOP_VM_TIMEOUT=3000       seconds per guest boot (whole suite)
#   ALOOP_VM_MEM=2G ALOOP_VM_CPUS=2
#   ALOOP_KVM=1                 use KVM (default: TCG, --disable-kvm)
#   ALOOP_SKIP_SETUP=1          do not run scripts/setup-host.sh
#   ALOOP_SKIP_UNIT=1           do not run make unit
#   ALOOP_ALLOW_NO_MODULE=1     boot the guests even when aloop.ko does
#                               not build (harness self-test)
#   DUT=loop                    run the guest tests against stock loop
#                               (harness self-test; implies the above)
#   ALOOP_LOGDIR=DIR            where to keep logs (default build/logs/<time>)
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1

: "${ALOOP_TESTS:=}"
: "${ALOOP_TEST_TIMEOUT:=600}"
: "${ALOOP_VM_TIMEOUT:=3000}"
: "${ALOOP_VM_MEM:=2G}"
: "${ALOOP_VM_CPUS:=2}"
: "${ALOOP_KVM:=0}"
: "${DUT:=aloop}"
[ "$DUT" = aloop ] || ALOOP_ALLOW_NO_MODULE=1
: "${ALOOP_ALLOW_NO_MODULE:=0}"
VM_LOCK=/tmp/aloop-vm.lock

LOGDIR=${ALOOP_LOGDIR:-$REPO/build/logs/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$LOGDIR" || exit 1
LOGDIR=$(cd "$LOGDIR" && pwd)
exec > >(tee "$LOGDIR/check.log") 2>&1
TEE_PID=$!

PASS=0 FAIL=0 SKIP=0
declare -A GROUP_N=()
VMDIR=

cleanup() {
	[ -z "$VMDIR" ] || rm -rf "$VMDIR"
}
trap cleanup EXIT
trap 'echo "check: interrupted"; exit 130' INT TERM

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
	*)    FAIL=$((FAIL + 1)); pr "$g" "not ok $n - $d" ;;
	esac
	local l
	for l in "$@"; do
		[ -n "$l" ] || continue
		while IFS= read -r x; do pr "$g" "# $x"; done <<<"$l"
	done
}

# ktap_count GROUP PREFIX FILE: print a KTAP stream with a prefix and add
# its top-level results to the totals.  Sets KT_PASS/KT_FAIL/KT_SKIP/KT_N.
ktap_count() {
	local g=$1 pfx=$2 f=$3 line
	KT_PASS=0 KT_FAIL=0 KT_SKIP=0 KT_N=0 KT_PLAN=
	while IFS= read -r line; do
		pr "$g" "$pfx$line"
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

tail_of() { [ -f "$1" ] && tail -n "${2:-20}" "$1"; }

# ------------------------------------------------------------ host side
say "logs: $LOGDIR"

if [ "${ALOOP_SKIP_SETUP:-0}" = 1 ]; then
	res host skip "host setup (scripts/setup-host.sh)" "ALOOP_SKIP_SETUP=1"
elif scripts/setup-host.sh >"$LOGDIR/setup-host.log" 2>&1; then
	res host pass "host setup (scripts/setup-host.sh)"
else
	res host fail "host setup (scripts/setup-host.sh)" "$(tail_of "$LOGDIR/setup-host.log")"
fi

if make aloopctl >"$LOGDIR/aloopctl-build.log" 2>&1 && [ -x aloopctl ]; then
	res host pass "build aloopctl"
else
	res host fail "build aloopctl" "$(tail_of "$LOGDIR/aloopctl-build.log")"
fi

mkdir -p build/tools
if gcc -O2 -g -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Iinclude/uapi \
	-o build/tools/alo-ioctl tests/guest/ioctl_helper.c >"$LOGDIR/ioctl-helper-build.log" 2>&1; then
	res host pass "build ioctl helper (build/tools/alo-ioctl)"
else
	res host fail "build ioctl helper (build/tools/alo-ioctl)" "$(tail_of "$LOGDIR/ioctl-helper-build.log")"
fi

if [ "${ALOOP_SKIP_UNIT:-0}" = 1 ]; then
	res host skip "host unit tests (make unit)" "ALOOP_SKIP_UNIT=1"
elif [ ! -e tests/unit/run.sh ]; then
	res host skip "host unit tests (make unit)" "tests/unit/run.sh does not exist"
else
	make -s unit >"$LOGDIR/unit.log" 2>&1
	urc=$?
	ktap_count unit "" "$LOGDIR/unit.log"
	if [ $urc != 0 ] && [ $KT_FAIL = 0 ]; then
		res host fail "make unit exited $urc without a failing KTAP result" "$(tail_of "$LOGDIR/unit.log")"
	elif [ $KT_N = 0 ]; then
		res host fail "make unit printed no KTAP results" "$(tail_of "$LOGDIR/unit.log")"
	elif [ -n "$KT_PLAN" ] && [ "$KT_PLAN" != "$KT_N" ]; then
		res host fail "make unit: plan 1..$KT_PLAN but $KT_N results"
	fi
fi

# -------------------------------------------------------------- kernels
kernel_ok() {	# KVER: has an image and a build tree?
	[ -f "/boot/vmlinuz-$1" ] && [ -e "/lib/modules/$1/build/Makefile" ]
}

# Newest kernel of a series (regex on the release) with image + headers.
newest_of() {
	local re=$1 k best=
	for k in /boot/vmlinuz-*; do
		k=${k#/boot/vmlinuz-}
		[[ $k =~ $re ]] || continue
		kernel_ok "$k" || continue
		best=$(printf '%s\n%s\n' "$best" "$k" | sed '/^$/d' | sort -V | tail -n 1)
	done
	echo "$best"
}

KLIST=()
if [ -n "${KERNELS:-}" ]; then
	for k in $KERNELS; do
		if kernel_ok "$k"; then
			KLIST+=("$k")
		else
			res host skip "tests on kernel $k" "kernel $k is not installed here (need /boot/vmlinuz-$k and /lib/modules/$k/build)"
			echo "check: WARNING: kernel $k missing, its tests are SKIPPED" >&2
		fi
	done
else
	for series in 6.1 6.12; do
		k=$(newest_of "^${series//./\\.}\\.[0-9]+.*-amd64\$")
		if [ -n "$k" ]; then
			KLIST+=("$k")
		else
			res host skip "tests on a Debian $series kernel" "no Debian $series kernel with headers installed (need /boot/vmlinuz-X and /lib/modules/X/build; scripts/setup-host.sh installs them)"
			echo "check: WARNING: no $series kernel, its tests are SKIPPED" >&2
		fi
	done
fi
say "kernels: ${KLIST[*]:-none}"

# Boot KVER with virtme-ng, run guest-run.sh; KO may be empty.
run_guest() {
	local k=$1 ko=$2 kdir=$3 cache=none kvm=(--disable-kvm) cmd
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
	cmd=$(printf '%q ' env DUT="$DUT" ALOOP_TESTS="$ALOOP_TESTS" \
		ALOOP_TEST_TIMEOUT="$ALOOP_TEST_TIMEOUT" \
		"$REPO/scripts/guest-run.sh" "$ko" "$kdir/results")
	say "[$k] waiting for the VM lock $VM_LOCK"
	say "[$k] booting (timeout ${ALOOP_VM_TIMEOUT}s); console log $kdir/vng.log"
	# vng resolves --rwdir relative to the current directory: run from /
	(cd / && flock "$VM_LOCK" timeout -k 30 "$ALOOP_VM_TIMEOUT" \
		vng --run "/boot/vmlinuz-$k" "${kvm[@]}" --user root \
		-m "$ALOOP_VM_MEM" -p "$ALOOP_VM_CPUS" --rwdir "$kdir/results" \
		--qemu-opts="$(qdisk 0 vda aloop-ext4) $(qdisk 1 vdb aloop-xfs) $(qdisk 2 vdc aloop-4k ,logical_block_size=4096,physical_block_size=4096)" \
		--exec "$cmd" </dev/null 2>&1; echo "$?" >"$kdir/vng.rc") |
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

for k in "${KLIST[@]}"; do
	kdir=$LOGDIR/$k
	mkdir -p "$kdir"
	bdir=$REPO/build/$k
	mkdir -p "$bdir"
	say "[$k] building aloop.ko in $bdir"
	ko=
	if (
		flock 9	# demo.sh or another check may build the same tree
		rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
			--exclude='.*.cmd' --exclude='*.cmd' --exclude='*.symvers' --exclude='modules.order' \
			--exclude='aloop_probes.h' --exclude='*.d' --exclude='*.log' \
			src include Kbuild Makefile VERSION scripts "$bdir/" &&
		{ find "$bdir" -name '*.o' -delete; rm -f "$bdir/aloop.ko"; } &&	# full build: see all warnings
		make -C "$bdir" KVER="$k" module
	   ) 9>"$REPO/build/.build-$k.lock" >"$kdir/build.log" 2>&1 && [ -f "$bdir/aloop.ko" ]; then
		res "$k" pass "build aloop.ko for $k"
		ko=$bdir/aloop.ko
		warn=$(grep -iE 'warning:' "$kdir/build.log" | grep -v -e 'Skipping BTF generation' -e 'the compiler differs' | head -n 20)
		if [ -n "$warn" ]; then
			res "$k" fail "aloop.ko builds without warnings on $k" "$warn"
		else
			res "$k" pass "aloop.ko builds without warnings on $k"
		fi
	else
		res "$k" fail "build aloop.ko for $k" "$(tail_of "$kdir/build.log" 30)"
		if [ "$ALOOP_ALLOW_NO_MODULE" != 1 ]; then
			res "$k" skip "guest tests on $k" "aloop.ko did not build"
			continue
		fi
	fi
	run_guest "$k" "$ko" "$kdir"
	report_guest "$k" "$kdir"
	say "[$k] logs: $kdir (results/, vng.log, build.log)"
done

echo
say "logs saved in $LOGDIR"
[ "$SKIP" = 0 ] || echo "$SKIP skipped"
echo "$PASS passed, $FAIL failed"
if [ "$FAIL" = 0 ] && [ "${#KLIST[@]}" -gt 0 ]; then
	rc=0
else
	rc=1
fi
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit $rc
