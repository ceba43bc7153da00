#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
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
# The program is compiled here, in the guest, with the host's gcc (the
# host root is visible), and run twice: as a 64-bit program and, when
# gcc can build 32-bit programs (gcc-multilib) and the kernel runs them,
# as a 32-bit one, which goes through the drivers' compat_ioctl paths
# (old LOOP_SET_STATUS/LOOP_GET_STATUS with the 32-bit struct loop_info).
. "$(dirname "$0")/lib.sh"

SRC=$REPO/tests/guest/loopdiff.c
BIN=$SCRATCH/loopdiff
BIN32=$SCRATCH/loopdiff32
CFLAGS=(-O2 -g -std=gnu11 -Wall -Wextra -Werror)
mkdir -p "$SCRATCH"

# ------------------------------------------------------------ compile
c64_err=
if ! have gcc; then
	c64_err="no gcc in the guest"
elif ! gcc "${CFLAGS[@]}" -o "$BIN" "$SRC" >"$SCRATCH/gcc64.log" 2>&1; then
	c64_err="gcc failed: $(cat "$SCRATCH/gcc64.log")"
fi
N=
[ -n "$c64_err" ] || N=$("$BIN" --steps 2>&1)
case $N in
[1-9]*) ;;
*) [ -n "$c64_err" ] || c64_err="loopdiff --steps printed '$N'"; N= ;;
esac

# 32-bit: a trivial program must build and run first
m32_skip='' c32_err=''
M32=(-m32)
if [ -n "$c64_err" ]; then
	m32_skip="the 64-bit build failed"
else
	printf 'int main(void) { return 0; }\n' >"$SCRATCH/m32.c"
	if ! gcc "${M32[@]}" -o "$SCRATCH/m32" "$SCRATCH/m32.c" >"$SCRATCH/m32.log" 2>&1; then
		m32_skip="no 32-bit toolchain (install gcc-multilib)"
	elif ! "$SCRATCH/m32" 2>>"$SCRATCH/m32.log"; then
		m32_skip="the kernel does not run 32-bit programs (IA32 emulation off?)"
	elif ! gcc "${M32[@]}" "${CFLAGS[@]}" -o "$BIN32" "$SRC" >"$SCRATCH/gcc32.log" 2>&1; then
		c32_err="gcc -m32 failed: $(cat "$SCRATCH/gcc32.log")"
	fi
fi

if [ -n "$c64_err" ]; then
	plan 2
	fail "compile loopdiff.c (64-bit)" "$c64_err"
	skip "32-bit differential run" "$m32_skip"
	finish
fi
if [ -n "$m32_skip" ]; then
	plan $((1 + N + 1))
else
	plan $((1 + N + 1 + N))
fi
ok "compile loopdiff.c (64-bit, $N steps)"

# -------------------------------------------------------------- setup
# run_diff TAG BIN: run BIN, report its N results as ours ("TAG: step")
run_diff() {
	local tag=$1 bin=$2 line n=0 d rc
	local out=$SCRATCH/loopdiff-$tag.out
	"$bin" "$STOCK_CTL" "$DUT_CTL" "$DIR/$tag" $REF_IDX $DUT_IDX >"$out" 2>&1
	rc=$?
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ )?ok\ [0-9]+\ -\ (.*)$ ]]; then
			[ "$n" -lt "$N" ] || { diag "extra result: $line"; continue; }
			n=$((n + 1))
			d=${BASH_REMATCH[2]}
			if [ -z "${BASH_REMATCH[1]}" ]; then ok "$tag: $d"; else fail "$tag: $d"; fi
		elif [[ $line == "# "* ]]; then
			echo "$line"
		elif [[ -n $line && $line != "KTAP version 1" && $line != 1..* ]]; then
			diag "$tag: $line"
		fi
	done <"$out"
	while [ "$n" -lt "$N" ]; do
		n=$((n + 1))
		fail "$tag: step $n of $N" "loopdiff stopped early (exit $rc); last lines:" "$(tail -n 5 "$out")"
	done
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
	fail "compile loopdiff.c (32-bit, gcc -m32)" "$c32_err"
	skip_n "$N" "the 32-bit build failed" "32-bit steps"
else
	ok "compile loopdiff.c (32-bit, gcc -m32)"
	run_diff 32 "$BIN32"
fi

finish
