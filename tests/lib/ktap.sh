# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# KTAP output for aloop's shell tests: the one emitter every test uses
# (the guest tests through tests/guest/lib.sh, the host tests, the
# durability and DKMS stages).  Modelled on the kernel's
# tools/testing/selftests/kselftest/ktap_helpers.sh.
#
#   . tests/lib/ktap.sh
#   ktap_plan 3                    "KTAP version 1" and "1..3" at once
#   ktap_pass "it works"           ok 1 - it works
#   ktap_fail "it broke" "diag"    not ok 2 - it broke, then "# diag"
#   ktap_skip "later" "no disk"    ok 3 - later # SKIP no disk
#   ktap_finish                    totals, exit 0 (all passed) or 1
#
# When the number of results is not known in advance, ktap_defer_plan
# instead of ktap_plan collects the results and ktap_finish prints the
# header and the plan first, then them.
#
# Other helpers: ktap_result STATUS DESC [DIAG...] (pass when STATUS is
# 0), ktap_skip_n, ktap_diag, ktap_print (a raw line, e.g. a nested
# subtest), ktap_on_exit CMD (cleanup run at exit, last registered
# first), ktap_bail REASON (the rest of the plan fails).  A plan not
# reached by ktap_finish is filled with failures; a script that exits
# early (set -e, exit) still prints its totals.  The last line is always
# "# P passed, F failed"; the exit status is 1 when anything failed.

KTAP_PLAN=0 KTAP_N=0 KTAP_PASS=0 KTAP_FAIL=0 KTAP_SKIP=0
_KTAP_DEFER=0 _KTAP_FINISHED=0
_KTAP_LINES=()
_KTAP_CLEANUP=()

# _ktap_out LINE: print it, or keep it until ktap_finish (deferred plan)
_ktap_out() {
	if [ "$_KTAP_DEFER" = 1 ]; then
		_KTAP_LINES+=("$1")
	else
		printf '%s\n' "$1"
	fi
	# KTAP_TIMES=1 (the guest runner sets it): after each result, the
	# seconds since the previous one, to find where a slow file spends
	# its time
	case ${KTAP_TIMES:-0}:$1 in
	1:ok\ *|1:not\ ok\ *)
		_ktap_out "# (+$((SECONDS - ${_KTAP_T:-0}))s)"
		_KTAP_T=$SECONDS ;;
	esac
}

ktap_print() { _ktap_out "$1"; }

ktap_plan() {
	KTAP_PLAN=$1
	echo "KTAP version 1"
	echo "1..$1"
	trap _ktap_exit EXIT
}

ktap_defer_plan() {
	_KTAP_DEFER=1
	trap _ktap_exit EXIT
}

# ktap_diag TEXT...: every line of every argument becomes a "# " line
ktap_diag() {
	local a l
	for a in "$@"; do
		[ -n "$a" ] || continue
		while IFS= read -r l; do
			_ktap_out "# $l"
		done <<<"$a"
	done
}

_ktap_desc() {	# a '#' in a description would start a KTAP directive
	local d=${1//#/no.}
	printf '%s' "${d//$'\n'/ }"
}

ktap_pass() {
	KTAP_N=$((KTAP_N + 1)); KTAP_PASS=$((KTAP_PASS + 1))
	_ktap_out "ok $KTAP_N - $(_ktap_desc "$1")"
}

# ktap_fail DESC [DIAG...]
ktap_fail() {
	local d=$1; shift
	KTAP_N=$((KTAP_N + 1)); KTAP_FAIL=$((KTAP_FAIL + 1))
	_ktap_out "not ok $KTAP_N - $(_ktap_desc "$d")"
	ktap_diag "$@"
}

# ktap_skip DESC REASON: a result that could not be obtained (never a pass)
ktap_skip() {
	KTAP_N=$((KTAP_N + 1)); KTAP_SKIP=$((KTAP_SKIP + 1))
	_ktap_out "ok $KTAP_N - $(_ktap_desc "$1") # SKIP $(_ktap_desc "${2:-}")"
}

# ktap_skip_n COUNT REASON DESC...: skip several results at once
ktap_skip_n() {
	local n=$1 reason=$2 i; shift 2
	for ((i = 0; i < n; i++)); do
		ktap_skip "${1:-skipped}" "$reason"
		[ $# -eq 0 ] || shift
	done
}

# ktap_result STATUS DESC [DIAG...]: pass when STATUS is 0
ktap_result() {
	local st=$1; shift
	if [ "$st" = 0 ]; then ktap_pass "$1"; else ktap_fail "$@"; fi
}

# Register a cleanup command, run (LIFO) at exit even after a failure.
ktap_on_exit() { _KTAP_CLEANUP+=("$*"); }

_ktap_run_cleanup() {
	local i
	for ((i = ${#_KTAP_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${_KTAP_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	_KTAP_CLEANUP=()
}

ktap_finish() {
	local done_n=$KTAP_N
	_ktap_run_cleanup
	while [ "$KTAP_N" -lt "$KTAP_PLAN" ]; do
		ktap_fail "missing result (test ended after $done_n of $KTAP_PLAN results)"
	done
	[ "$_KTAP_DEFER" = 1 ] || [ "$KTAP_N" -eq "$KTAP_PLAN" ] ||
		ktap_diag "plan mismatch: planned $KTAP_PLAN, reported $KTAP_N"
	_KTAP_FINISHED=1
	if [ "$_KTAP_DEFER" = 1 ]; then
		echo "KTAP version 1"
		echo "1..$KTAP_N"
		[ ${#_KTAP_LINES[@]} -eq 0 ] || printf '%s\n' "${_KTAP_LINES[@]}"
		_KTAP_DEFER=0 KTAP_PLAN=$KTAP_N
	fi
	echo "# Totals: pass:$KTAP_PASS fail:$KTAP_FAIL skip:$KTAP_SKIP"
	echo "# $KTAP_PASS passed, $KTAP_FAIL failed"
	[ "$KTAP_FAIL" -eq 0 ] && [ "$KTAP_N" -eq "$KTAP_PLAN" ] && exit 0
	exit 1
}

_ktap_exit() {
	local rc=$?
	[ "$_KTAP_FINISHED" = 1 ] && return
	ktap_diag "test script exited early (status $rc)"
	ktap_finish
}

# Abort the whole test file: the remaining planned results become failures.
ktap_bail() {
	ktap_diag "bailing out: $*"
	ktap_finish
}
