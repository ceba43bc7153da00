#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: every aloopctl verb and option, every error message and exit status, concurrent attaches
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: aloopctl
# aloopctl against the real module: every verb and option (attach with
# --read-only, --offset/--sizelimit with suffixes, --block-size and
# --sector-size, --autoclear, --partscan, --direct-io, --device, --find
# --show; detach of several devices, detach-all; list in its formats;
# status; resize; set; features; version; help), every error message with
# its exit status, a write error on stdout, and concurrent attaches.
. "$(dirname "$0")/lib.sh"

plan 96

on_exit "exec 7<&- 8<&-; aloopctl detach-all"
D=$(test_dir ctl)
VERSION=$(cat "$REPO/VERSION" 2>/dev/null)

# actl ARGS...: run aloopctl; AO stdout, AE stderr, AR exit status
actl() {
	AO=$(aloopctl "$@" 2>"$SCRATCH/actl.err"); AR=$?
	AE=$(cat "$SCRATCH/actl.err")
}
# what a run looked like, for diagnostics
ran() { printf 'aloopctl %s\nexit %s\nstdout: %s\nstderr: %s' "$*" "$AR" "$AO" "$AE"; }

# expect_err DESC EXPECTED-STDERR ARGS...: exit 1, no stdout, exactly
# that one line on stderr (EXPECTED may be a bash regex when it starts
# with '~').
expect_err() {
	local d=$1 exp=$2 match=0; shift 2
	actl "$@"
	if [[ $exp == "~"* ]]; then
		[[ $AE =~ ${exp#\~} ]] && match=1
	else
		[ "$AE" = "$exp" ] && match=1
	fi
	if [ "$AR" = 1 ] && [ -z "$AO" ] && [ $match = 1 ] && [ "$(grep -c '' <<<"$AE")" = 1 ]; then
		ok "$d: exit 1, '$AE'"
	else
		fail "$d" "$(ran "$@")"$'\n'"expected: exit 1, stderr: ${exp#\~}"
	fi
}

# expect_usage DESC EXPECTED-STDERR ARGS...: a bad command line: exit 1,
# no stdout, that line then "Try 'aloopctl --help' for more information."
expect_usage() {
	local d=$1 exp=$2; shift 2
	actl "$@"
	if [ "$AR" = 1 ] && [ -z "$AO" ] && [ "$AE" = "$exp"$'\n'"Try 'aloopctl --help' for more information." ]; then
		ok "$d: exit 1, '$exp' and the hint"
	else
		fail "$d" "$(ran "$@")"$'\n'"expected: exit 1, stderr: $exp, then the --help hint"
	fi
}

# attach_ok VAR ARGS...: aloopctl attach ARGS, the device in VAR; the
# problems (if any) in ATT_ERR
attach_ok() {
	local var=$1 dev; shift
	ATT_ERR=
	actl attach "$@"
	dev=$AO
	if [ "$AR" != 0 ] || [ -n "$AE" ] || ! [[ $dev =~ ^/dev/aloop[0-9]+$ ]]; then
		ATT_ERR=$(ran attach "$@")
		printf -v "$var" '%s' ""
		return 1
	fi
	wait_dev "$dev" || { ATT_ERR="$dev did not appear"; return 1; }
	printf -v "$var" '%s' "$dev"
}

attr() { dut_attr "$1" "$2"; }
lbs() { blk_attr "$1" queue/logical_block_size; }
unbound() { [ "$(dev_state "$1")" = unbound ]; }
free_dev() {	# an unbound existing device
	local o; o=$(ioc ctl-get-free "$DUT_CTL")
	[ "${o%% *}" = OK ] || return 1
	wait_dev "$(dutdev "${o#OK }")" && dutdev "${o#OK }"
}
# json_check PY-EXPR-FILE: stdin is aloopctl JSON; prints "ok" or why not
json_py() { "$PYTHON" -c "$1" "${@:2}" 2>&1; }

JSON_TYPES='
import json, sys
TYPES = {"name": str, "sizelimit": int, "offset": int, "autoclear": bool,
         "ro": bool, "back-file": str, "dio": bool, "log-sec": int,
         "dio-reason": (str, type(None)), "size": int, "partscan": bool,
         "queues": int, "owner": (str, type(None)), "owner-pid": int, "owner-cgroup": int,
         "attach-time": int, "orphan": bool}
for k in ("reqs-dio", "reqs-buffered", "reqs-fallback", "reqs-cgroup", "wakeups", "batches",
          "reqs-worker", "reqs-nowait", "nowait-again", "reqs-helper", "errors"):
    TYPES[k] = int
def typed(dev, keys):
    if list(dev) != keys:
        return "keys %s, expected %s" % (list(dev), keys)
    for k in keys:
        v, t = dev[k], TYPES[k]
        if t is int and (isinstance(v, bool) or not isinstance(v, int)):
            return "%s=%r is not an integer" % (k, v)
        if not isinstance(v, t):
            return "%s=%r is not %s" % (k, v, t)
    return None
'

F=$D/a.img;  mkrand "$F" $((8 * MiB))
# Block sizes above PAGE_SIZE: refused before 6.15, accepted since.
# Stock loop on this kernel tells which.
BIG_BS=refused
stock_takes_bs 8192 "$F" && BIG_BS=accepted
F2=$D/b.img; mkrand "$F2" $((8 * MiB))
F3=$D/c.img; mkrand "$F3" $((8 * MiB))

# ============================================================ attach
attach_ok DEV "$F"
if [ -n "$DEV" ] && [ "$(attr "$DEV" backing_file)" = "$F" ] && [ "$(devsize "$DEV")" = $((8 * MiB)) ] &&
   [ "$(blk_attr "$DEV" ro)" = 0 ] && [ "$(sha_dev "$DEV")" = "$(sha "$F")" ]; then
	ok "attach FILE: prints $DEV only, bound read-write to FILE, 8 MiB, reads the file"
else
	fail "attach FILE" "$ATT_ERR" "backing_file '$(attr "$DEV" backing_file)' size $(devsize "$DEV")"
fi
A1=$DEV

attach_ok DEV --read-only "$F2"
if [ -n "$DEV" ] && [ "$(blk_attr "$DEV" ro)" = 1 ] && [ $(( $(kv flags "$(ioc get-status "$DEV")") & 1 )) = 1 ] &&
   ! dd if=/dev/zero of="$DEV" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null; then
	ok "attach --read-only: ro=1, LO_FLAGS_READ_ONLY, writes refused"
else
	fail "attach --read-only" "$ATT_ERR" "ro=$(blk_attr "$DEV" ro)"
fi
RO=$DEV

attach_ok DEV -r "$F2"
check_eq "attach -r: read-only device" "1" "$(blk_attr "$DEV" ro)"
aloopctl detach "$DEV" >/dev/null 2>&1

attach_ok DEV --offset 1M --sizelimit 2M "$F"
got="$(attr "$DEV" offset) $(attr "$DEV" sizelimit) $(devsize "$DEV")"
if [ -n "$DEV" ] && [ "$got" = "$MiB $((2 * MiB)) $((2 * MiB))" ] &&
   [ "$(sha_dev "$DEV")" = "$(sha_range "$F" $MiB $((2 * MiB)))" ]; then
	ok "attach --offset 1M --sizelimit 2M: offset 1048576, sizelimit 2097152, 2 MiB of the file from 1 MiB on"
else
	fail "attach --offset 1M --sizelimit 2M" "$ATT_ERR" "offset sizelimit size: $got"
fi
OFFDEV=$DEV

attach_ok DEV -o 64K --sizelimit 1024KiB "$F"
got="$(attr "$DEV" offset) $(attr "$DEV" sizelimit) $(devsize "$DEV")"
check_eq "attach -o 64K --sizelimit 1024KiB: offset 65536, sizelimit 1 MiB" "65536 $MiB $MiB" "$got"
aloopctl detach "$DEV" >/dev/null 2>&1

attach_ok DEV --block-size 4096 "$F"
check_eq "attach --block-size 4096: logical block size 4096" "4096" "$(lbs "$DEV")"
aloopctl detach "$DEV" >/dev/null 2>&1
attach_ok DEV --sector-size 4K "$F"
check_eq "attach --sector-size 4K: logical block size 4096" "4096" "$(lbs "$DEV")"
aloopctl detach "$DEV" >/dev/null 2>&1
attach_ok DEV -b 1024 "$F"
check_eq "attach -b 1024: logical block size 1024" "1024" "$(lbs "$DEV")"
aloopctl detach "$DEV" >/dev/null 2>&1

# --autoclear: aloopctl's own close detaches unless someone holds it
attach_ok DEV --autoclear "$F3"
inlist=$(aloopctl list --noheadings -O NAME 2>&1 | grep -cx "${DEV:-none}")
if [ -n "$DEV" ] && wait_for 5 unbound "$DEV" && [ "$inlist" = 0 ]; then
	ok "attach --autoclear: prints $DEV, which is detached at aloopctl's close and not listed"
else
	fail "attach --autoclear: detached at close, not listed" "$ATT_ERR" "state $(dev_state "$DEV"), listed $inlist"
fi
DEV=$(free_dev)
exec 7<"$DEV"
actl attach --autoclear --device "$DEV" "$F3"
row=$(aloopctl list --raw --noheadings -O NAME,AUTOCLEAR 2>&1)
if [ "$AR" = 0 ] && [ "$AO" = "$DEV" ] && grep -qx "$DEV 1" <<<"$row"; then
	ok "attach --autoclear --device while held: listed with AUTOCLEAR 1"
else
	fail "attach --autoclear --device while held: listed with AUTOCLEAR 1" "$(ran attach --autoclear --device "$DEV" "$F3")" "list: $row"
fi
exec 7<&-
wait_for 5 unbound "$DEV"
inlist=$(aloopctl list --noheadings -O NAME 2>&1 | grep -cx "$DEV")
if unbound "$DEV" && [ "$inlist" = 0 ]; then
	ok "autoclear: after the last close $DEV is unbound and gone from the list"
else
	fail "autoclear: after the last close $DEV is unbound and gone from the list" "state $(dev_state "$DEV"), listed $inlist"
fi

# --partscan
P=$D/parts.img; truncate -s 16M "$P"
if printf 'label: dos\nstart=2048, size=8192, type=83\n' | sfdisk -q "$P" >/dev/null 2>&1; then
	attach_ok DEV --partscan "$P"
	if [ -n "$DEV" ] && wait_dev "${DEV}p1" && [ "$(attr "$DEV" partscan)" = 1 ] &&
	   [ "$(aloopctl list --raw --noheadings -O PARTSCAN "$DEV" 2>&1)" = 1 ]; then
		ok "attach --partscan: ${DEV}p1 appears, partscan 1 in sysfs and list"
	else
		fail "attach --partscan" "$ATT_ERR" "$(ls "${DEV:-/none}"* 2>&1)"
	fi
	aloopctl detach "$DEV" >/dev/null 2>&1
	attach_ok DEV -P "$P"
	if [ -n "$DEV" ] && wait_dev "${DEV}p1"; then ok "attach -P: ${DEV}p1 appears"
	else fail "attach -P: partition appears" "$ATT_ERR"; fi
	aloopctl detach "$DEV" >/dev/null 2>&1
else
	skip_n 2 "sfdisk failed" "--partscan" "-P"
fi

# --direct-io
attach_ok DEV --direct-io=on "$F3"
check_eq "attach --direct-io=on: dio 1, no reason" "1 ''" "$(attr "$DEV" dio) '$(attr "$DEV" dio_reason)'"
aloopctl detach "$DEV" >/dev/null 2>&1
attach_ok DEV --direct-io=off "$F3"
check_eq "attach --direct-io=off: dio 0, reason 'turned off by user'" "0 'turned off by user'" \
	"$(attr "$DEV" dio) '$(attr "$DEV" dio_reason)'"
DIOOFF=$DEV
attach_ok DEV --direct-io "$F3"
check_eq "attach --direct-io (no value means on): dio 1" "1" "$(attr "$DEV" dio)"
aloopctl detach "$DEV" >/dev/null 2>&1

# --device
DEV=$(free_dev)
actl attach --device "$DEV" "$F3"
if [ "$AR" = 0 ] && [ "$AO" = "$DEV" ] && [ "$(attr "$DEV" backing_file)" = "$F3" ]; then
	ok "attach --device $DEV (existing, unbound): that device is bound"
else
	fail "attach --device $DEV (existing, unbound)" "$(ran attach --device "$DEV" "$F3")"
fi
BUSY=$DEV
expect_err "attach --device on a bound device" "aloopctl: $F2: failed to set up aloop device: Device or resource busy" attach --device "$BUSY" "$F2"
N=77
while [ -e "/sys/block/aloop$N" ]; do N=$((N + 1)); done
actl attach --device "/dev/aloop$N" "$F3"
if [ "$AR" = 0 ] && [ "$AO" = "/dev/aloop$N" ] && [ "$(attr "/dev/aloop$N" backing_file)" = "$F3" ]; then
	ok "attach --device /dev/aloop$N (did not exist): created and bound"
else
	fail "attach --device /dev/aloop$N (did not exist): created and bound" "$(ran attach --device "/dev/aloop$N" "$F3")"
fi
NEWDEV=/dev/aloop$N
N=$((N + 1)); while [ -e "/sys/block/aloop$N" ]; do N=$((N + 1)); done
actl attach -d "aloop$N" "$F3"
if [ "$AR" = 0 ] && [ "$AO" = "/dev/aloop$N" ] && [ "$(attr "/dev/aloop$N" backing_file)" = "$F3" ]; then
	ok "attach -d aloop$N (bare name, did not exist): created and bound"
else
	fail "attach -d aloop$N (bare name, did not exist): created and bound" "$(ran attach -d "aloop$N" "$F3")"
fi
BARE=/dev/aloop$N

actl attach --find --show "$F3"
if [ "$AR" = 0 ] && [[ $AO =~ ^/dev/aloop[0-9]+$ ]] && [ "$(attr "$AO" backing_file)" = "$F3" ]; then
	ok "attach --find --show: prints the device ($AO)"
else
	fail "attach --find --show" "$(ran attach --find --show "$F3")"
fi
FOUND=$AO
actl attach -f "$F3"
if [ "$AR" = 0 ] && [[ $AO =~ ^/dev/aloop[0-9]+$ ]] && [ "$AO" != "$FOUND" ]; then
	ok "attach -f: another free device ($AO)"
else
	fail "attach -f" "$(ran attach -f "$F3")"
fi
FOUND2=$AO

# ============================================================ detach
actl detach "$NEWDEV" "$BARE" "$FOUND"
if [ "$AR" = 0 ] && [ -z "$AO$AE" ] && unbound "$NEWDEV" && unbound "$BARE" && unbound "$FOUND"; then
	ok "detach of three devices in one call: exit 0, all unbound"
else
	fail "detach of three devices in one call" "$(ran detach "$NEWDEV" "$BARE" "$FOUND")" \
		"states: $(dev_state "$NEWDEV") / $(dev_state "$BARE") / $(dev_state "$FOUND")"
fi
expect_err "detach of an unbound device" "aloopctl: $NEWDEV: detach failed: No such device or address" detach "$NEWDEV"
actl detach "$NEWDEV" "$FOUND2"
if [ "$AR" = 1 ] && [ "$AE" = "aloopctl: $NEWDEV: detach failed: No such device or address" ] && unbound "$FOUND2"; then
	ok "detach UNBOUND BOUND: exit 1, one message, the bound one is still detached"
else
	fail "detach UNBOUND BOUND: exit 1, the bound one still detached" "$(ran detach "$NEWDEV" "$FOUND2")" "$FOUND2: $(dev_state "$FOUND2")"
fi
expect_err "detach /dev/loop0 (another driver)" "aloopctl: /dev/loop0: not an aloop device" detach /dev/loop0
expect_err "detach aloop03 (leading zero)" "aloopctl: aloop03: not an aloop device" detach aloop03
expect_err "detach /dev/aloop1p1 (a partition name)" "aloopctl: /dev/aloop1p1: not an aloop device" detach /dev/aloop1p1

# ============================================================== list
# Bound now: A1 (F), RO (F2, read-only), OFFDEV (F, 1M/2M), DIOOFF, BUSY
actl list
hdr=$(head -n 1 <<<"$AO" | awk '{$1 = $1} 1')
check_eq "list: default columns" "NAME SIZELIMIT OFFSET AUTOCLEAR RO BACK-FILE DIO LOG-SEC DIO-REASON" "$hdr"
row=$(awk -v d="$OFFDEV" '$1 == d {$1 = $1; print}' <<<"$AO")
check_eq "list: row of $OFFDEV" "$OFFDEV 2097152 1048576 0 0 $F 1 512" "$row"
n=$(grep -c '^/dev/aloop' <<<"$AO")
check_eq "list: one row per bound device (exit $AR)" "5 0" "$n $AR"

actl list --raw
row=$(grep "^$DIOOFF " <<<"$AO")
check_eq "list --raw: header and the row of $DIOOFF (single spaces, escaped blanks)" \
	"NAME SIZELIMIT OFFSET AUTOCLEAR RO BACK-FILE DIO LOG-SEC DIO-REASON|$DIOOFF 0 0 0 0 $F3 0 512 turned\\x20off\\x20by\\x20user" \
	"$(head -n 1 <<<"$AO")|$row"

actl list --noheadings
if [ "$AR" = 0 ] && [ "$(grep -c '' <<<"$AO")" = 5 ] && ! grep -q NAME <<<"$AO"; then
	ok "list --noheadings: 5 rows, no header"
else
	fail "list --noheadings: 5 rows, no header" "$(ran list --noheadings)"
fi
actl list -n --raw --output NAME,SIZE,RO,LOG-SEC "$RO"
check_eq "list --output NAME,SIZE,RO,LOG-SEC DEV" "$RO $((8 * MiB)) 1 512" "$AO"
actl list -O +SIZE,partscan --raw
check_eq "list -O +SIZE,partscan: added to the default columns (case-insensitive)" \
	"NAME SIZELIMIT OFFSET AUTOCLEAR RO BACK-FILE DIO LOG-SEC DIO-REASON SIZE PARTSCAN" "$(head -n 1 <<<"$AO")"

actl list --json
js=$(json_py "$JSON_TYPES"'
d = json.loads(sys.argv[1])
assert list(d) == ["aloopdevices"], "top keys %s" % list(d)
keys = ["name", "sizelimit", "offset", "autoclear", "ro", "back-file", "dio", "log-sec", "dio-reason"]
devs = d["aloopdevices"]
for dev in devs:
    e = typed(dev, keys)
    if e: print(dev.get("name"), e); sys.exit()
x = [v for v in devs if v["name"] == sys.argv[2]]
assert len(devs) == 5, "%d devices" % len(devs)
assert x and x[0]["offset"] == 1048576 and x[0]["sizelimit"] == 2097152 and x[0]["ro"] is False and x[0]["dio"] is True and x[0]["dio-reason"] is None, x
print("ok")' "$AO" "$OFFDEV")
check_eq "list --json: top key aloopdevices, 5 devices, numbers are ints, flags booleans, empty reason null" ok "$js"
if [ "$js" != ok ]; then diag "$AO"; fi
actl list -J -O NAME,RO
js=$(json_py 'import json,sys; d=json.loads(sys.argv[1]); print("ok" if all(list(v)==["name","ro"] and isinstance(v["ro"],bool) for v in d["aloopdevices"]) else d)' "$AO")
check_eq "list -J -O NAME,RO: only those keys" ok "$js"

actl list --all --raw --noheadings -O NAME,BACK-FILE
if [ "$AR" = 0 ] && grep -qx "$NEWDEV " <<<"$AO" && grep -qx "$A1 $F" <<<"$AO"; then
	ok "list --all: unbound devices too ($NEWDEV with an empty BACK-FILE)"
else
	fail "list --all: unbound devices too" "$(ran list --all --raw --noheadings -O NAME,BACK-FILE)"
fi
actl list --raw --noheadings -O NAME "$NEWDEV" /dev/aloop999 "$A1"
if [ "$AR" = 1 ] && [ "$AE" = "aloopctl: /dev/aloop999: No such device" ] && [ "$AO" = "$NEWDEV"$'\n'"$A1" ]; then
	ok "list DEV...: named devices in argument order, a missing one reported, exit 1"
else
	fail "list DEV...: named devices in argument order, a missing one reported, exit 1" "$(ran list --raw --noheadings -O NAME "$NEWDEV" /dev/aloop999 "$A1")"
fi
expect_err "list --output FOO" "aloopctl: --output: unknown column 'FOO'" list --output FOO
expect_usage "list --json --raw" "aloopctl: --json and --raw are mutually exclusive" list --json --raw

# ============================================================ status
actl status "$OFFDEV"
exp="device: $OFFDEV
backing file: $F
size: 2097152
offset: 1048576
sizelimit: 2097152
read-only: no
autoclear: no
partscan: no
block size: 512
dio: on
dio reason:
queues: $(dut_attr "$OFFDEV" queues)"
for c in reqs_dio reqs_buffered reqs_fallback reqs_cgroup wakeups batches reqs_worker \
	 reqs_nowait nowait_again reqs_helper errors; do
	exp+=$'\n'"$c: $(dut_attr "$OFFDEV" "$c")"
done
check_eq "status DEV: key: value lines, queues and the request counters (exit $AR)" "$exp" "$AO"
actl status "aloop${RO#/dev/aloop}"
if [ "$AR" = 0 ] && grep -qx "read-only: yes" <<<"$AO" && grep -qx "device: $RO" <<<"$AO"; then
	ok "status aloopN (bare name) of the read-only device: read-only: yes"
else
	fail "status aloopN (bare name) of the read-only device" "$(ran status "aloop${RO#/dev/aloop}")"
fi
actl status --json "$DIOOFF"
js=$(json_py "$JSON_TYPES"'
d = json.loads(sys.argv[1])
assert list(d) == ["aloopdevices"] and len(d["aloopdevices"]) == 1, d
v = d["aloopdevices"][0]
e = typed(v, ["name", "back-file", "size", "offset", "sizelimit", "ro", "autoclear", "partscan", "log-sec", "dio",
             "dio-reason", "queues", "owner", "owner-pid", "owner-cgroup", "attach-time", "orphan", "reqs-dio",
             "reqs-buffered", "reqs-fallback", "reqs-cgroup", "wakeups", "batches", "reqs-worker", "reqs-nowait",
             "nowait-again", "reqs-helper", "errors"])
if e: print(e); sys.exit()
assert v["name"] == sys.argv[2] and v["dio"] is False and v["dio-reason"] == "turned off by user" and v["size"] == 8388608, v
print("ok")' "$AO" "$DIOOFF")
check_eq "status --json: one device, every column, typed" ok "$js"
expect_err "status of an unbound device" "aloopctl: $NEWDEV: No such device or address" status "$NEWDEV"
expect_err "status of a device that does not exist" "aloopctl: /dev/aloop999: No such file or directory" status /dev/aloop999
expect_usage "status DEV extra" "aloopctl: status: unexpected argument 'extra'" status "$A1" extra

# ============================================================ resize
G=$D/grow.img; mkrand "$G" $((4 * MiB))
attach_ok GDEV "$G"
truncate -s $((12 * MiB)) "$G"
before=$(devsize "$GDEV")
actl resize "$GDEV"
after=$(devsize "$GDEV")
lsz=$(aloopctl list --raw --noheadings -O SIZE "$GDEV" 2>&1)
check_eq "resize after growing the file 4 -> 12 MiB: exit 0, device and list SIZE follow" \
	"0 $((4 * MiB)) $((12 * MiB)) $((12 * MiB))" "$AR $before $after $lsz"
expect_err "resize of an unbound device" "aloopctl: $NEWDEV: resize failed: No such device or address" resize "$NEWDEV"

# =============================================================== set
actl set "$GDEV" --direct-io=off
check_eq "set --direct-io=off: dio 0, 'turned off by user'" "0 0 'turned off by user'" \
	"$AR $(attr "$GDEV" dio) '$(attr "$GDEV" dio_reason)'"
actl set "$GDEV" --direct-io=on
check_eq "set --direct-io=on: dio 1, no reason" "0 1 ''" "$AR $(attr "$GDEV" dio) '$(attr "$GDEV" dio_reason)'"
mkrand "$SCRATCH/g" $MiB; write_dev "$SCRATCH/g" "$GDEV" $MiB
actl set --block-size 4096 "$GDEV"
check_eq "set --block-size 4096: logical block size 4096, data intact" "0 4096 $(sha "$SCRATCH/g")" \
	"$AR $(lbs "$GDEV") $(sha_range "$GDEV" $MiB $MiB)"
exec 8<"$GDEV"
actl set "$GDEV" --autoclear=on
check_eq "set --autoclear=on (device held open): autoclear 1" "0 1" "$AR $(attr "$GDEV" autoclear)"
actl set "$GDEV" --autoclear=off
check_eq "set --autoclear=off: autoclear 0" "0 0" "$AR $(attr "$GDEV" autoclear)"
exec 8<&-
sleep 0.2
if ! unbound "$GDEV"; then ok "after --autoclear=off the last close leaves $GDEV bound"
else fail "after --autoclear=off the last close leaves $GDEV bound"; fi
actl set "$GDEV" --autoclear
if [ "$AR" = 0 ] && wait_for 5 unbound "$GDEV"; then
	ok "set --autoclear on an idle device: detached when aloopctl closes it"
else
	fail "set --autoclear on an idle device: detached when aloopctl closes it" "$(ran set "$GDEV" --autoclear)" "$(dev_state "$GDEV")"
fi
expect_usage "set without a change" "aloopctl: set: nothing to change (use --direct-io, --block-size or --autoclear)" set "$A1"
attach_ok UDEV --offset 256 "$F"
expect_err "set --direct-io=on on a device that cannot (offset 256)" \
	"aloopctl: $UDEV: set direct I/O failed: offset 256 not aligned to 512" set "$UDEV" --direct-io=on
if [ $BIG_BS = refused ]; then
	expect_err "set --block-size 8192 (kernel refuses, as for stock loop)" "aloopctl: $A1: set block size failed: Invalid argument" set "$A1" -b 8192
else
	actl set "$A1" -b 8192
	check_eq "set --block-size 8192 (kernel accepts, as for stock loop): logical block size 8192" \
		"0 8192" "$AR $(lbs "$A1")"
	aloopctl set "$A1" -b 512 >/dev/null 2>&1
fi
expect_err "set on an unbound device" "aloopctl: $NEWDEV: set direct I/O failed: No such device or address" set "$NEWDEV" --direct-io=off

# ===================================================== features/version
actl features
# attach-fd: Linux 6.9 and later (bdev_file_open_by_dev)
feats="loop-abi control buffered dio dio-reason dev-info queues cgroup nowait attach find detach"
! kver_ge 6 9 || feats="$feats attach-fd"
check_eq "features: one name per line" "0|$feats" "$AR|$(tr '\n' ' ' <<<"$AO" | sed 's/ $//')"
actl features --json
js=$(json_py 'import json,sys; d=json.loads(sys.argv[1]); print("ok" if d["abi_version"] == 2 and d["features"][:2] == ["loop-abi", "control"] and list(d) == ["abi_version", "features"] else d)' "$AO")
check_eq "features --json: abi_version 2 and the list" ok "$js"
actl version
mver=$(cat /sys/module/aloop/version 2>/dev/null)
check_eq "version: tool and module versions, both the VERSION file's" \
	"0|aloopctl $VERSION|aloop module $VERSION|$VERSION" "$AR|$(head -n 1 <<<"$AO")|$(sed -n 2p <<<"$AO")|$mver"
actl -V
check_eq "-V prints the same as version" "0|aloopctl $VERSION"$'\n'"aloop module $VERSION" "$AR|$AO"
actl --help
h1=$AO; r1=$AR
actl help
if [ "$r1" = 0 ] && [ "$AR" = 0 ] && [[ $h1 == Usage:* ]] && [ "$h1" = "$AO" ] && grep -q DIO-REASON <<<"$AO"; then
	ok "--help and help: exit 0, usage with the column list"
else
	fail "--help and help: exit 0, usage with the column list" "exit $r1/$AR" "$(head -n 3 <<<"$h1")"
fi

# ====================================================== bad arguments
expect_err "attach --offset 12X" "aloopctl: --offset: invalid size '12X'" attach --offset 12X "$F"
expect_err "attach --offset -1" "aloopctl: --offset: invalid size '-1'" attach --offset -1 "$F"
expect_err "attach --sizelimit 1.5M" "aloopctl: --sizelimit: invalid size '1.5M'" attach --sizelimit 1.5M "$F"
expect_err "attach --sizelimit 1MB" "aloopctl: --sizelimit: invalid size '1MB'" attach --sizelimit 1MB "$F"
expect_err "attach --sizelimit 99999999999999999999 (too large)" \
	"aloopctl: --sizelimit: invalid size '99999999999999999999' (too large)" attach --sizelimit 99999999999999999999 "$F"
expect_err "attach --offset 17179869184T (too large)" \
	"aloopctl: --offset: invalid size '17179869184T' (too large)" attach --offset 17179869184T "$F"
expect_err "attach --offset 8E (2^63, kernel EOVERFLOW)" \
	"aloopctl: $F: failed to set up aloop device: Value too large for defined data type" attach --offset 9223372036854775808 "$F"
expect_err "attach --block-size 1000" \
	"aloopctl: --block-size: invalid block size '1000' (a power of 2 from 512 to 64K)" attach --block-size 1000 "$F"
expect_err "attach --block-size 128K" \
	"aloopctl: --block-size: invalid block size '128K' (a power of 2 from 512 to 64K)" attach --block-size 128K "$F"
if [ $BIG_BS = refused ]; then
	expect_err "attach --block-size 8192 (kernel refuses, as for stock loop)" "aloopctl: $F: failed to set up aloop device: Invalid argument" attach --block-size 8192 "$F"
else
	attach_ok DEV --block-size 8192 "$F"
	check_eq "attach --block-size 8192 (kernel accepts, as for stock loop): logical block size 8192" "8192" "$(lbs "$DEV")"
	aloopctl detach "$DEV" >/dev/null 2>&1
fi
expect_err "attach of a missing file" "aloopctl: $D/missing.img: failed to set up aloop device: No such file or directory" attach "$D/missing.img"
expect_err "attach of a directory" "aloopctl: $D: failed to set up aloop device: Is a directory" attach "$D"
mkfifo "$D/fifo"
expect_err "attach of a FIFO" "aloopctl: $D/fifo: failed to set up aloop device: not a regular file or block device" attach "$D/fifo"
expect_usage "attach without FILE" "aloopctl: attach: missing FILE" attach
expect_err "attach --device /dev/loop0" "aloopctl: /dev/loop0: not an aloop device" attach --device /dev/loop0 "$F"
expect_usage "attach --device and --find" "aloopctl: --device and --find are mutually exclusive" attach --device "$NEWDEV" --find "$F"
expect_err "attach --direct-io=maybe" "aloopctl: --direct-io: invalid value 'maybe' (use on or off)" attach --direct-io=maybe "$F"
expect_usage "attach --offset without a value" "aloopctl: option '--offset' requires an argument" attach "$F" --offset
expect_usage "attach --read-only=yes" "aloopctl: option '--read-only' doesn't allow an argument" attach --read-only=yes "$F"
expect_usage "unknown long option" "aloopctl: unrecognized option '--frobnicate'" list --frobnicate
expect_usage "unknown short option" "aloopctl: invalid option -- 'x'" list -x
expect_usage "list --read-only (not an option of list)" "aloopctl: --read-only: not valid with 'list'" list --read-only
expect_usage "unknown command" "aloopctl: unknown command 'frobnicate'" frobnicate
expect_usage "no command" "aloopctl: no command given"

actl list
AO2=$AO
out=$(aloopctl list 2>&1 >/dev/full); rc=$?
if [ $rc = 1 ] && [ "$out" = "aloopctl: write error: No space left on device" ] && [ -n "$AO2" ]; then
	ok "list > /dev/full: exit 1, '$out'"
else
	fail "list > /dev/full: exit 1 with a write error" "exit $rc: $out"
fi
out=$(aloopctl version 2>&1 >/dev/full); rc=$?
check_eq "version > /dev/full: exit 1" "1" "$rc"

# ============================================================== race
p=()
for round in $(seq 10); do
	fa=$D/race-a$round.img fb=$D/race-b$round.img
	truncate -s 4M "$fa" "$fb"
	aloopctl attach "$fa" >"$SCRATCH/ra" 2>"$SCRATCH/rae" & pa=$!
	aloopctl attach "$fb" >"$SCRATCH/rb" 2>"$SCRATCH/rbe" & pb=$!
	wait $pa; ra=$?; wait $pb; rb=$?
	da=$(cat "$SCRATCH/ra"); db=$(cat "$SCRATCH/rb")
	if [ $ra != 0 ] || [ $rb != 0 ]; then
		p+=("round $round: exit $ra/$rb: $(cat "$SCRATCH/rae" "$SCRATCH/rbe")")
	elif [ "$da" = "$db" ]; then
		p+=("round $round: both got $da")
	elif [ "$(attr "$da" backing_file)" != "$fa" ] || [ "$(attr "$db" backing_file)" != "$fb" ]; then
		p+=("round $round: $da -> '$(attr "$da" backing_file)', $db -> '$(attr "$db" backing_file)'")
	fi
	[ -z "$da" ] || aloopctl detach "$da" >/dev/null 2>&1
	[ -z "$db" ] || aloopctl detach "$db" >/dev/null 2>&1
done
result "two concurrent attaches, 10 rounds: both succeed on different devices" ${#p[@]} "${p[@]}"

# ======================================================== detach-all
actl detach-all
left=$(aloopctl list --noheadings 2>&1)
if [ "$AR" = 0 ] && [ -z "$AO$AE" ] && [ -z "$left" ] && unbound "$A1" && unbound "$RO" && unbound "$OFFDEV"; then
	ok "detach-all: exit 0, nothing left in the list"
else
	fail "detach-all: exit 0, nothing left in the list" "$(ran detach-all)" "left: $left"
fi
actl detach-all
check_eq "detach-all with nothing bound: exit 0, silent" "0|" "$AR|$AO$AE"

# ================================================= module not loaded
dut_unload_all
if dut_loaded; then
	skip_n 2 "cannot unload aloop" "list without module" "attach without module"
else
	expect_err "list without the module" "aloopctl: aloop module is not loaded" list
	# attach, as root, loads the module itself (libkmod) when one is
	# installed for this kernel (check.sh's DKMS stage installs it for
	# the length of this boot), and otherwise says that none is.  Other
	# users get the plain error (88-deb.sh, tests/unit/run.sh).
	if modinfo -n aloop >/dev/null 2>&1; then
		actl attach "$F"
		if [ "$AR" = 0 ] && [[ $AO =~ ^/dev/aloop[0-9]+$ ]] && dut_loaded; then
			ok "attach without the module: aloopctl loads the installed aloop"
		else
			fail "attach without the module: aloopctl loads the installed aloop" \
				"$(ran attach "$F")" "modinfo -n aloop: $(modinfo -n aloop 2>&1)"
		fi
		dut_unload_all
	else
		expect_err "attach without the module, none installed: aloopctl says so" \
			"aloopctl: module aloop is not installed for kernel $(uname -r) (install aloop-dkms, or run make install)" \
			attach "$F"
	fi
fi

finish
