#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make lint`: shellcheck on every shell script of the tree (by name *.sh,
# by a #! line naming sh or bash, or a "# shellcheck shell=" directive;
# the bash completion too) and pyflakes on the Python, one KTAP result
# per file (tests/lib/ktap.sh).  The tree's settings are in .shellcheckrc;
# a finding is fixed, or disabled on its line with the reason.  A missing
# tool is a SKIP (scripts/setup-host.sh installs shellcheck and
# pyflakes3).  Exit 1 when anything failed.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=../tests/lib/ktap.sh
. tests/lib/ktap.sh

# The tracked files, and new ones not ignored.
files=$(git ls-files --cached --others --exclude-standard 2>/dev/null ||
	find . -path ./build -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||')
shell=() python=()
while IFS= read -r f; do
	[ -f "$f" ] || continue
	case $f in
	bench/results/*|build/*) continue ;;
	*.sh|contrib/bash-completion/*) shell+=("$f"); continue ;;
	*.py) python+=("$f"); continue ;;
	esac
	l=$(head -n 1 "$f" 2>/dev/null | tr -d '\0')
	case $l in
	'#!'*python*) python+=("$f") ;;
	'#!'*/sh|'#!'*/bash|'#!'*'env bash'|'#!'*'env sh') shell+=("$f") ;;
	*) grep -qm1 '^# shellcheck shell=' "$f" 2>/dev/null && shell+=("$f") ;;
	esac
done < <(sort -u <<<"$files")

ktap_plan $(( ${#shell[@]} + ${#python[@]} ))
for f in "${shell[@]}"; do
	if ! command -v shellcheck >/dev/null; then
		ktap_skip "shellcheck $f" "no shellcheck (apt-get install shellcheck)"
		continue
	fi
	sh=()
	case $f in contrib/bash-completion/*) sh=(--shell=bash) ;; esac
	out=$(shellcheck "${sh[@]}" --format=gcc "$f" 2>&1)
	ktap_result $? "shellcheck $f" "$out"
done
pyflakes=$(command -v pyflakes3 || command -v pyflakes)
for f in "${python[@]}"; do
	if [ -z "$pyflakes" ]; then
		ktap_skip "pyflakes $f" "no pyflakes (apt-get install pyflakes3)"
		continue
	fi
	out=$("$pyflakes" "$f" 2>&1)
	ktap_result $? "pyflakes $f" "$out"
done
ktap_finish
