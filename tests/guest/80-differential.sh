#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: one program runs the same ~70 ioctl steps on stock loop and aloop and compares them, 64- and 32-bit
# aloop-timeout: 600
# aloop-driver: any
# aloop-needs: stock-loop unloaded
# Differential ioctl test: tests/guest/loopdiff.c runs one fixed sequence
# of loop ioctls (control device, unbound and bound devices, bad input,
# status, resize, block size, direct I/O, change-fd, read-only, removal
# rules, unknown ioctls) against stock loop and against aloop on this
# kernel and compares every return value and errno, plus the state read
# back after each call.  One result per step.
#
# aloop is loaded with dio=0 for this test: stock loop uses direct I/O
# only when asked, so with dio=0 LO_FLAGS_DIRECT_IO must match exactly.
#
# The program is built on the host by `make tools` (build/tools/loopdiff,
# and build/tools/loopdiff32 when gcc can build 32-bit programs:
# gcc-multilib) and run twice here: as a 64-bit program and, when the
# 32-bit build exists and the kernel runs it, as a 32-bit one, which goes
# through the drivers' compat_ioctl paths (old LOOP_SET_STATUS/
# LOOP_GET_STATUS with the 32-bit struct loop_info).
. "$(dirname "$0")/lib.sh"

BIN=$REPO/build/tools/loopdiff
BIN32=$REPO/build/tools/loopdiff32
mkdir -p "$SCRATCH"

# ------------------------------------------------------------ the builds
loopdiff_builds

if [ -n "$c64_err" ]; then
	plan 2
	fail "build loopdiff (64-bit)" "$c64_err"
	skip "32-bit differential run" "$m32_skip"
	finish
fi
if [ -n "$m32_skip" ]; then
	plan $((1 + N + 1))
else
	plan $((1 + N + 1 + N))
fi
ok "loopdiff built by make tools (64-bit, $N steps)"

# -------------------------------------------------------------- setup
# run_diff TAG BIN: run BIN, report its N results as ours ("TAG: step")
run_diff() {
	local tag=$1 bin=$2 rc
	local out=$SCRATCH/loopdiff-$tag.out
	"$bin" "$STOCK_CTL" "$DUT_CTL" "$DIR/$tag" $REF_IDX $DUT_IDX >"$out" 2>&1
	rc=$?
	loopdiff_relay "$tag" "$out" $rc "loopdiff"
}

why=$(need_env) || bail "$why"
stock_load || bail "cannot load the stock loop module"
dut_unload_all
if [ "$DUT" = loop ]; then
	# harness self-test: loop against itself, two different indices
	stock_load || bail "cannot reload loop"
	REF_IDX=150 DUT_IDX=170
else
	out=$(mod_load dio=0) || bail "cannot load $DUT with dio=0: $out"
	[ "$(cat /sys/module/aloop/parameters/dio 2>/dev/null)" = N ] ||
		bail "aloop parameter dio is not N after loading with dio=0"
	REF_IDX=150 DUT_IDX=150
fi
diag "stock loop and $DUT, devices loop$REF_IDX and $DUT$DUT_IDX; $DUT loaded with dio=0"
pidof systemd-udevd >/dev/null 2>&1 && diag "note: systemd-udevd is running in this guest"
DIR=$(test_dir diff)
mkdir -p "$DIR/64" "$DIR/32"
on_exit "ioc clr-fd /dev/loop$REF_IDX; ioc ctl-remove $STOCK_CTL $REF_IDX; ioc clr-fd $(dutdev $DUT_IDX); ioc ctl-remove $DUT_CTL $DUT_IDX"

# ---------------------------------------------------------------- run
run_diff 64 "$BIN"

if [ -n "$m32_skip" ]; then
	skip "32-bit differential run" "$m32_skip"
elif [ -n "$c32_err" ]; then
	fail "32-bit loopdiff (make tools, gcc -m32) runs" "$c32_err"
	skip_n "$N" "the 32-bit build failed" "32-bit steps"
else
	ok "32-bit loopdiff (make tools, gcc -m32) runs"
	run_diff 32 "$BIN32"
fi

finish
