# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # the globals of ../lib.sh, and the ones set here for the tests
# SPDX-License-Identifier: GPL-2.0
#
# Stress tests (92-96-*.sh): kernel-log marks, D-state tasks, bounded runs.
# Sourced by tests/guest/lib.sh (see there for the environment).

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


