# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # the globals of ../lib.sh, and the ones set here for the tests
# SPDX-License-Identifier: GPL-2.0
#
# The ioctl helper (build/tools/alo-ioctl): raw calls, errno checks, comparisons with stock loop.
# Sourced by tests/guest/lib.sh (see there for the environment).

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

# ctl_remove_settled CTL N: LOOP_CTL_REMOVE of index N, retried while
# udev's probe still holds the device open (EBUSY on both drivers; 10
# tries 0.3 s apart); prints the helper's first word
ctl_remove_settled() {
	local r _
	udev_settle
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		r=$(ioc1 ctl-remove "$1" "$2")
		[ "$r" = EBUSY ] || break
		sleep 0.3
	done
	echo "$r"
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


# ------------------------------------------------------- loopdiff
# loopdiff_builds: BIN and BIN32 (loopdiff's 64- and 32-bit builds) are
# there and agree; sets N (its step count), c64_err (the 64-bit build is
# unusable: why), m32_skip (no 32-bit run: why), c32_err (it disagrees)
loopdiff_builds() {
	c64_err='' N='' m32_skip='' c32_err=''
	[ -x "$BIN" ] || c64_err="$BIN is not built (make tools)"
	[ -n "$c64_err" ] || N=$("$BIN" --steps 2>&1)
	case $N in
	[1-9]*) ;;
	*) [ -n "$c64_err" ] || c64_err="loopdiff --steps printed '$N'"; N= ;;
	esac
	if [ -n "$c64_err" ]; then
		m32_skip="the 64-bit build failed"
	elif [ ! -x "$BIN32" ]; then
		m32_skip="no 32-bit build (make tools builds it when gcc-multilib is installed)"
	else
		local n32 rc
		n32=$("$BIN32" --steps 2>&1); rc=$?
		if [ $rc = 126 ] || [ $rc = 127 ]; then
			m32_skip="the kernel does not run 32-bit programs (IA32 emulation off?)"
		elif [ "$n32" != "$N" ]; then
			c32_err="loopdiff32 --steps printed '$n32' (exit $rc), the 64-bit build $N"
		fi
	fi
}

# loopdiff_relay TAG OUT RC WHAT: loopdiff's KTAP output in OUT (its exit
# status RC) reported as our N results ("TAG: step"); a step it did not
# report fails, saying WHAT stopped early
loopdiff_relay() {
	local tag=$1 out=$2 rc=$3 what=$4 line n=0 d
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
		fail "$tag: step $n of $N" "$what stopped early (exit $rc); last lines:" "$(tail -n 5 "$out")"
	done
}
