# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/check.sh's results: every result is a KTAP line prefixed with
# its group ("[host] ok 3 - build aloopctl", "[6.1.0-56-amd64] 30-data:
# not ok 7 - ..."), numbered per group; the totals, the failures, the
# loud skips and the stage timings are repeated at the end by
# report_recap, whose last line is "N passed, M failed".
#
#   res GROUP pass|fail|skip DESC [REASON-OR-DIAG...]
#   loud_skip GROUP DESC REASON    a skip also warned about on stderr and
#                                  repeated in the recap
#   ktap_count GROUP PREFIX FILE   print a test's KTAP with the prefix and
#                                  add its top-level results to the totals
#   ktap_check GROUP WHAT RC LOG   fail when that stream does not agree
#                                  with the exit status or its own plan
#   report_guest K KDIR            the results of tests/guest/run.sh in
#                                  KDIR/results, and the kernel log scan
#   tstart; tend LABEL [NOTE]      stage timing

PASS=0 FAIL=0 SKIP=0
declare -A GROUP_N=()
WARNINGS=() TIMINGS=() FAILED=()
T_START=$(date +%s) T0=$T_START

say() { echo "check: $*"; }

# Print with the group prefix, e.g. "[6.1.0-56-amd64] ".
pr() { local g=$1; shift; printf '[%s] %s\n' "$g" "$*"; }

res() {
	local g=$1 st=$2 d=$3 n l x; shift 3
	n=$(( ${GROUP_N[$g]:-0} + 1 )); GROUP_N[$g]=$n
	case $st in
	pass) PASS=$((PASS + 1)); pr "$g" "ok $n - $d" ;;
	skip) SKIP=$((SKIP + 1)); pr "$g" "not ok $n - $d # SKIP ${1:-}"; shift $(($# > 0)) ;;
	*)    FAIL=$((FAIL + 1)); pr "$g" "not ok $n - $d"
	      FAILED+=("[$g] not ok $n - $d") ;;
	esac
	for l in "$@"; do
		[ -n "$l" ] || continue
		while IFS= read -r x; do pr "$g" "# $x"; done <<<"$l"
	done
}

loud_skip() {
	res "$1" skip "$2" "$3"
	WARNINGS+=("$2: SKIPPED: $3")
	echo "check: WARNING: $2 SKIPPED: $3" >&2
}

# Sets KT_PASS/KT_FAIL/KT_SKIP/KT_N and KT_PLAN.
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
		"1..0 "*"# SKIP"*|"1..0 "*"# skip"*)	# the whole file skipped
			KT_PLAN=0 KT_SKIP=$((KT_SKIP + 1))
			# by the lane's classes: by design; anything else is loud
			case ${line#*# [Ss][Kk][Ii][Pp] } in
			"class "*) ;;
			*) WARNINGS+=("$g: ${pfx}SKIPPED: ${line#*# [Ss][Kk][Ii][Pp] }") ;;
			esac ;;
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

tstart() { T0=$(date +%s); }
tend() {
	local t=$(( $(date +%s) - T0 ))
	TIMINGS+=("$(printf '%-44s %5ds%s' "$1" "$t" "${2:+  ($2)}")")
	say "$1 took ${t}s${2:+ ($2)}"
}

# One kernel's tests/guest/run.sh results: every test file's KTAP, checked
# against its exit status and plan, then the kernel log.
report_guest() {
	local k=$1 kdir=$2 r=$2/results name f rc t log
	if [ ! -f "$r/done" ]; then
		res "$k" fail "guest booted and reported (no done marker; vng exit $(cat "$kdir/vng.rc" 2>/dev/null))" \
			"last console lines:" "$(tail_of "$kdir/vng.log" 30)" \
			"last kernel log lines:" "$(tail_of "$r/dmesg-live.txt" 30)"
	else
		res "$k" pass "guest booted and reported"
	fi
	while read -r name; do
		[ -n "$name" ] || continue
		f=$r/$name.ktap
		rc=$(cat "$r/$name.rc" 2>/dev/null || echo none)
		t=$(cat "$r/$name.time" 2>/dev/null || echo '?')
		KT_N=0 KT_FAIL=0 KT_PLAN=
		[ ! -f "$f" ] || ktap_count "$k" "$name: " "$f"
		if [ "$rc" = none ]; then
			res "$k" fail "$name finished (it did not: guest died or hung)" \
				"stderr:" "$(tail_of "$r/$name.stderr")"
		elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			res "$k" fail "$name finished within $(cat "$r/$name.timeout" 2>/dev/null || echo "$ALOOP_TEST_TIMEOUT")s (timed out after ${t}s)" \
				"stderr:" "$(tail_of "$r/$name.stderr")"
		elif [ -z "$KT_PLAN" ]; then
			res "$k" fail "$name printed a KTAP plan (exit $rc)" "stderr:" "$(tail_of "$r/$name.stderr")"
		elif [ "$KT_N" -lt "$KT_PLAN" ]; then
			res "$k" fail "$name reported all $KT_PLAN planned results (only $KT_N, exit $rc)" \
				"stderr:" "$(tail_of "$r/$name.stderr")"
		elif [ "$rc" != 0 ] && [ "$KT_FAIL" = 0 ]; then
			res "$k" fail "$name exited $rc without a failing result" "stderr:" "$(tail_of "$r/$name.stderr")"
		elif [ "$rc" != 0 ] && [ -s "$r/$name.stderr" ]; then
			pr "$k" "$name: # stderr (last lines):"
			tail_of "$r/$name.stderr" 10 | sed "s/^/[$k] $name: #   /"
		fi
		[ ! -s "$r/$name.cleanup" ] || { pr "$k" "$name: # cleanup afterwards:"; sed "s/^/[$k] $name: #   /" "$r/$name.cleanup"; }
		pr "$k" "$name: # took ${t}s"
	done < <(cat "$r/tests.list" 2>/dev/null)

	log=$r/dmesg.txt
	[ -s "$log" ] || log=$r/dmesg-live.txt
	klog_scan "$log" "$(cat "$r/taint-start" 2>/dev/null || echo 0)" \
		"$(cat "$r/taint-end" 2>/dev/null || cat "$r/taint-start" 2>/dev/null || echo 0)"
	case $? in
	0) res "$k" pass "kernel log clean ($k)" ;;
	1) res "$k" fail "kernel log clean ($k)" "offending lines in $log:" "$KLOG_REPORT" ;;
	*) if [ -n "$(klog_hits "$kdir/vng.log")" ]; then
		res "$k" fail "kernel log clean ($k)" "offending console lines:" "$(klog_hits "$kdir/vng.log")"
	   else
		res "$k" skip "kernel log clean ($k)" "no guest kernel log was collected"
	   fi ;;
	esac
}

# The end of a run: timings, loud skips, failures, totals.
report_recap() {
	local logdir=$1 w
	echo
	say "logs saved in $logdir"
	TIMINGS+=("$(printf '%-44s %5ds' total $(( $(date +%s) - T_START )))")
	say "timings:"
	printf '  %s\n' "${TIMINGS[@]}" | tee "$logdir/timings.txt"
	for w in "${WARNINGS[@]}"; do
		echo "check: WARNING: $w"
	done
	if [ "${#FAILED[@]}" -gt 0 ]; then
		say "failures (nested lines are the failing checks inside a test file):"
		printf '  %s\n' "${FAILED[@]}" | head -n 40
	fi
	[ "$SKIP" = 0 ] || echo "$SKIP skipped"
	echo "$PASS passed, $FAIL failed"
}
