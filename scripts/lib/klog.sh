# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Scanning a guest's kernel log: the one policy of make check, bench,
# demo and durability.  The patterns are scripts/lib/kernel-log-patterns
# (bench/report.py reads the same file); the taint flags a boot must not
# gain are D (oops, 128), W (warning, 512) and L (soft lockup, 16384).
#
#   klog_scan LOG [TAINT-BEFORE TAINT-AFTER]
#       0: clean; 1: not clean, KLOG_REPORT holds each offending line with
#       the test that was running (the guest scripts write "aloop-test:
#       === start NAME" or "aloop-bench: ..." to /dev/kmsg) and 20 lines
#       of context, at most 120 lines; 2: LOG is missing or empty.

KLOG_PATTERNS=${KLOG_PATTERNS:-$ALOOP_LIB/kernel-log-patterns}
KLOG_TAINT_BAD=$(( 128 | 512 | 16384 ))
KLOG_REPORT=

# The patterns as one extended regular expression.
klog_pattern() {
	sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$KLOG_PATTERNS" | paste -sd '|'
}

# klog_hits FILE: the offending lines of any text (e.g. a console log)
klog_hits() { grep -E "$(klog_pattern)" "$1" 2>/dev/null | head -n "${2:-60}"; }

klog_scan() {
	local log=$1 ts=${2:-0} te=${3:-${2:-0}} pat bad
	KLOG_REPORT=
	[ -s "$log" ] || return 2
	pat=$(klog_pattern)
	bad=$(( (te & ~ts) & KLOG_TAINT_BAD ))
	if ! grep -qE "$pat" "$log" && [ "$bad" = 0 ]; then
		return 0
	fi
	KLOG_REPORT=$(awk -v pat="$pat" '
		/aloop-test: === start / { t = $NF }
		/aloop-bench: / { t = $0; sub(/.*aloop-bench: /, "", t) }
		$0 ~ pat { if (ctx == 0 || t != lt) print "--- during " (t == "" ? "boot" : t) ":"; lt = t; ctx = 21 }
		ctx > 0 { print; ctx-- }' "$log" | head -n 120)
	[ "$bad" = 0 ] || KLOG_REPORT+=$'\n'"taint before $ts, after $te: new flags $bad (D=128 W=512 L=16384)"
	return 1
}
