#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test: the module parameters are documented where users look.  The
# one source is the module_param*() next to the code that reads them
# (src/*.c); each must have a row in docs/parameters.md, an entry in the
# man page's MODULE PARAMETERS, and nothing documented may be gone from
# the code.  KTAP on stdout; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh

ktap_plan 3
code=$(grep -ho 'module_param[a-z_]*([a-z_0-9]*' src/*.c | sed 's/.*(//' | sort -u)
# shellcheck disable=SC2016 # backquotes of the Markdown table, not the shell's
doc=$(sed -n 's/^| `\([a-z_0-9]*\)` |.*/\1/p' docs/parameters.md | sort -u)
# the tag line after each .TP of the section: ".BI name= n", ".BR name= Y | N"
man=$(awk '/^\.SH MODULE PARAMETERS/ { on = 1; next } /^\.SH/ { on = 0 }
	on && tag { sub(/^\.B[IR]? /, ""); sub(/[= ].*/, ""); print } { tag = on && /^\.TP/ }' man/aloopctl.8 | sort -u)

d=$(diff <(echo "$code") <(echo "$doc"))
if [ -z "$d" ]; then
	ktap_pass "docs/parameters.md has a row for each module parameter (${code//$'\n'/ })"
else
	ktap_fail "docs/parameters.md has a row for each module parameter" "< in src/ only, > documented only:" "$d"
fi
d=$(diff <(echo "$code") <(echo "$man"))
if [ -z "$d" ]; then
	ktap_pass "the man page's MODULE PARAMETERS has each module parameter"
else
	ktap_fail "the man page's MODULE PARAMETERS has each module parameter" "< in src/ only, > documented only:" "$d"
fi
bad=$(grep -n 'nowait_depth\|reqs_inline' docs/parameters.md man/aloopctl.8 README.md)
if [ -z "$bad" ]; then
	ktap_pass "no removed parameter or counter is documented (nowait_depth, reqs_inline)"
else
	ktap_fail "no removed parameter or counter is documented" "$bad"
fi
ktap_finish
