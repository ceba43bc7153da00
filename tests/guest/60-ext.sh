#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: aloop's own ioctls ALOOP_GET_FEATURES / ALOOP_GET_INFO, and aloopctl features
# aloop-timeout: 120
# aloop-driver: aloop
# aloop's own ioctls (include/uapi/linux/aloop.h): ALOOP_GET_FEATURES on
# the control device, ALOOP_GET_INFO on devices, and aloopctl features.
. "$(dirname "$0")/lib.sh"

plan 7

on_exit "aloopctl detach-all"
D=$(test_dir ext)

o=$(ioc features "$DUT_CTL")
f=$(kv features "$o")
# ALOOP_FEAT_ATTACH_FD (bit 12) needs Linux 6.9: every other bit always
want=$(kv feat_all "$o")
kver_ge 6 9 ||
	want=$(( ${want:-0} & ~(1 << 12) ))
if [ "$(ioc1_of "$o")" = OK ] && [ "$(kv version "$o")" = "$(kv abi_version "$o")" ] &&
   [ "${f:-0}" = "$want" ] && [ "$(kv reserved_zero "$o")" = 1 ]; then
	ok "ALOOP_GET_FEATURES on $DUT_CTL: version $(kv version "$o") as the header, every ALOOP_FEAT_ALL bit this kernel allows set, reserved zeroed (features $f)"
else
	fail "ALOOP_GET_FEATURES on $DUT_CTL: version as the header, features = ALOOP_FEAT_ALL (without attach-fd before 6.9: $want), reserved zeroed" "$o"
fi

ioc ctl-add "$DUT_CTL" 6 >/dev/null; DEV=$(dutdev 6); wait_dev "$DEV"
o=$(ioc info "$DEV")
got="$(ioc1_of "$o") number=$(kv number "$o") state=$(kv state "$o") reserved_zero=$(kv reserved_zero "$o")"
check_eq "ALOOP_GET_INFO on an unbound device" "OK number=6 state=0 reserved_zero=1" "$got"

F=$D/info.img; mkrand "$F" $((8 * MiB))
c=$(ioc1 configure "$DEV" "$F" --offset 4096 --sizelimit $((2 * MiB)))
o=$(ioc info "$DEV")
got="$c $(ioc1_of "$o") number=$(kv number "$o") state=$(kv state "$o") offset=$(kv offset "$o")"
got="$got sizelimit=$(kv sizelimit "$o") size_bytes=$(kv size_bytes "$o") block_size=$(kv block_size "$o")"
got="$got errors=$(kv errors "$o") backing_file=$(kv backing_file "$o") reserved_zero=$(kv reserved_zero "$o")"
check_eq "ALOOP_GET_INFO on a bound device reports its configuration" \
	"OK OK number=6 state=1 offset=4096 sizelimit=$((2 * MiB)) size_bytes=$((2 * MiB)) block_size=512 errors=0 backing_file=$F reserved_zero=1" "$got"

reqs() { echo $(( $(kv reqs_buffered "$1") + $(kv reqs_dio "$1") )); }
before=$(reqs "$o")
sha_dev "$DEV" >/dev/null
o=$(ioc info "$DEV"); after=$(reqs "$o")
if [ "$after" -gt "$before" ] && [ "$(kv errors "$o")" = 0 ] &&
   { [ "$(kv dio "$o")" = 1 ] || [ "$(kv reqs_dio "$o")" = 0 ]; }; then
	ok "ALOOP_GET_INFO counters: reads are counted ($before -> $after requests), no errors"
else
	fail "ALOOP_GET_INFO counters: reads are counted, no errors" "requests before $before, after: $o"
fi
ioc clr-fd "$DEV" >/dev/null

c=$(ioc1 configure "$DEV" "$F" --flags 16)
sha_dev "$DEV" >/dev/null
o=$(ioc info "$DEV")
if [ "$c" = OK ] && [ "$(kv dio "$o")" = 1 ] && [ "$(kv reqs_dio "$o")" -gt 0 ] 2>/dev/null &&
   [ "$(kv dio "$o")" = "$(dut_attr "$DEV" dio)" ]; then
	ok "LO_FLAGS_DIRECT_IO: ALOOP_GET_INFO dio=1, requests served by direct I/O ($(kv reqs_dio "$o"))"
else
	fail "LO_FLAGS_DIRECT_IO: ALOOP_GET_INFO dio=1 and dio requests counted" "configure: $c" "$o"
fi
ioc clr-fd "$DEV" >/dev/null

if have_aloopctl; then
	out=$(aloopctl features 2>&1); rc=$?
	result "aloopctl features: exit 0" $rc "$out"
	out=$(aloopctl features --json 2>&1 | "$PYTHON" -c 'import json,sys; json.load(sys.stdin); print("ok")' 2>&1)
	check_eq "aloopctl features --json is valid JSON" ok "$out"
else
	skip_n 2 "aloopctl not built" "aloopctl features" "aloopctl features --json"
fi

finish
