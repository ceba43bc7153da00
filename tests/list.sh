#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check-list`: one line per guest test (tests/guest/NN-*.sh), read
# from the header lines of each file, the same lines the runner
# (tests/guest/run.sh) reads:
#
#   # aloop-class: quick|long|stress    none: quick
#   # aloop-timeout: SECONDS            none: 600 (ALOOP_TEST_TIMEOUT's default)
#   # aloop-driver: aloop|any           aloop: skipped with DUT=loop
#   # aloop-needs: NEED...              see need_why in tests/guest/lib/common.sh
#   # aloop-desc: ONE LINE              none: "-"
#
#   tests/list.sh          NN-name  class  timeout  driver  description (aligned)
#   tests/list.sh --md     the same as a Markdown table (docs/testing.md)
#   tests/list.sh --md RESULTS...   with a column of the seconds each file
#                          took in those runs (check's results/ folders:
#                          build/logs/<time>/<kernel>/results; per kernel
#                          the first folder that ran the file), "-" if not run
set -u
cd "$(dirname "$0")/.." || exit 1

md=0
case ${1:-} in
--md) md=1; shift ;;
'') ;;
*) echo "usage: tests/list.sh [--md [RESULTS...]]" >&2; exit 2 ;;
esac
RESDIRS=("$@")

# took NAME: "6.1: 12 s, 6.12: 30 s" from the results folders given
took() {
	local r out='' t k
	for r in "${RESDIRS[@]}"; do
		t=$(cat "$r/$1.time" 2>/dev/null)
		# a file skipped by its class or needs took 0 s: not a run
		grep -q '^1\.\.0' "$r/$1.ktap" 2>/dev/null && t=
		[ -n "$t" ] || continue
		k=$(cat "$r/uname.txt" 2>/dev/null); k=${k%%-*}; k=${k%.*}
		# the first folder given for a kernel wins (the newest run first)
		case ", $out" in *", $k: "*) continue ;; esac
		out="$out${out:+, }$k: $t"
	done
	echo "${out:--}"
}

# header FILE KEY RE: the value of the first "# aloop-KEY: VALUE" line
# whose VALUE matches the sed RE (for class and timeout, the runner's)
header() {
	sed -n "s/^# aloop-$2: \($3\)\$/\1/p" "$1" 2>/dev/null | head -n 1
}

names=() classes=() timeouts=() descs=() drivers=() needs=()
wn=4 wc=5	# widths: at least those of "name" and "class"
for f in tests/guest/[0-9][0-9]-*.sh; do
	[ -f "$f" ] || continue
	n=$(basename "$f" .sh)
	c=$(header "$f" class '[a-z]*')
	t=$(header "$f" timeout '[0-9][0-9]*')
	d=$(header "$f" desc '.*[^ ]')
	v=$(header "$f" driver '[a-z]*')
	w=$(header "$f" needs '.*[^ ]')
	names+=("$n") classes+=("${c:-quick}") timeouts+=("${t:-600}") descs+=("${d:--}")
	drivers+=("${v:-aloop}") needs+=("${w:--}")
	[ "${#n}" -le "$wn" ] || wn=${#n}
	[ "${#c}" -le "$wc" ] || wc=${#c}
done

if [ $md = 1 ] && [ ${#RESDIRS[@]} -gt 0 ]; then
	echo "| test | class | timeout (s) | took (s) | driver | needs | what it checks |"
	echo "|---|---|---|---|---|---|---|"
elif [ $md = 1 ]; then
	echo "| test | class | timeout (s) | driver | needs | what it checks |"
	echo "|---|---|---|---|---|---|"
fi
for i in "${!names[@]}"; do
	if [ $md = 1 ]; then
		# shellcheck disable=SC2016 # the backquotes are Markdown's
		if [ ${#RESDIRS[@]} -gt 0 ]; then
			printf '| `%s` | %s | %s | %s | %s | %s | %s |\n' "${names[i]}" "${classes[i]}" \
				"${timeouts[i]}" "$(took "${names[i]}")" "${drivers[i]}" "${needs[i]}" "${descs[i]//|/\\|}"
		else
			printf '| `%s` | %s | %s | %s | %s | %s |\n' "${names[i]}" "${classes[i]}" \
				"${timeouts[i]}" "${drivers[i]}" "${needs[i]}" "${descs[i]//|/\\|}"
		fi
	else
		printf "%-${wn}s  %-${wc}s  %7s  %-5s  %s\n" "${names[i]}" "${classes[i]}" \
			"${timeouts[i]}" "${drivers[i]}" "${descs[i]}"
	fi
done
