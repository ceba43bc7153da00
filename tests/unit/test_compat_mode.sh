#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of drop-in mode's userspace (no module needed):
#  - "aloopctl compat enable|disable|status [--json]" against fixture
#    roots (ALOOP_DOCTOR_ROOT, as tests/unit/test_doctor.sh): the file
#    enable writes is contrib/modprobe/aloop-loop-compat.conf, byte for
#    byte; disable removes it; status reads the file, aloop's loop_compat
#    and stock loop (loaded: /sys/module/loop/initstate, built in: no
#    initstate); enable and disable print the command that switches now;
#  - the modprobe.d file: no "blacklist loop" (modprobe ignores a
#    blacklisted module's aliases), and, where modprobe and a Debian
#    kernel's modules.alias are here, that modprobe -n resolves loop's
#    aliases to its install command (in a mount namespace whose
#    /sys/module is empty, so that a host with loop built in does not
#    answer "builtin");
#  - aloopctl's names in drop-in mode (ALOOPCTL_SYSFS with
#    module/aloop/parameters/loop_compat = Y): list shows /dev/loopN,
#    device arguments are loopN.
# KTAP; the last line is "# N passed, M failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
ALOOPCTL=${ALOOPCTL:-aloopctl/aloopctl}
[[ $ALOOPCTL == /* ]] || ALOOPCTL=$PWD/$ALOOPCTL
CONF=contrib/modprobe/aloop-loop-compat.conf
ETC=etc/modprobe.d/aloop-loop-compat.conf

. tests/lib/ktap.sh
ktap_defer_plan
tmp=$(mktemp -d /tmp/aloop-compat-mode.XXXXXX) || exit 1
ktap_on_exit "rm -rf '$tmp'"

if [ ! -x "$ALOOPCTL" ]; then
	ktap_fail "$ALOOPCTL not built (make aloopctl)"
	ktap_finish
fi

# compat ARGS...: run "aloopctl compat ARGS" on the fixture $fx; $out, $err, $rc
compat() {
	out=$(ALOOP_DOCTOR_ROOT=$fx "$ALOOPCTL" compat "$@" 2>"$tmp/err"); rc=$?
	err=$(cat "$tmp/err")
}
got() { printf 'exit %s\nstdout: %s\nstderr: %s\n' "$rc" "$out" "$err"; }
# machine: a fresh fixture root with nothing in it
n=0
machine() { n=$((n + 1)); fx=$tmp/m$n; mkdir -p "$fx"; }
stock_loaded() { mkdir -p "$fx/sys/module/loop"; echo live >"$fx/sys/module/loop/initstate"; }
stock_builtin() { mkdir -p "$fx/sys/module/loop/parameters"; }
aloop_loaded() {	# Y|N: loop_compat
	mkdir -p "$fx/sys/module/aloop/parameters"
	echo "$1" >"$fx/sys/module/aloop/parameters/loop_compat"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(' '.join(str(d[k]) for k in sys.argv[1:]))" "$@" <<<"$out"; }

# ------------------------------------------------------------- status
machine
compat status
[ "$rc" = 0 ] && [[ $out == *"drop-in mode: disabled (no /$ETC)"* ]] &&
	[[ $out == *"aloop: not loaded"* ]] && [[ $out == *"stock loop: not loaded"* ]]
ktap_result $? "status, empty machine: disabled, nothing loaded" "$(got)"

stock_loaded
compat status --json
if command -v python3 >/dev/null; then
	[ "$rc" = 0 ] && [ "$(json file enabled modified aloop_loaded loop_compat stock_loop)" = \
		"/$ETC False False False False loaded" ]
	ktap_result $? "status --json: the keys and values, stock loop loaded" "$(got)"
else
	ktap_skip "status --json" "no python3"
fi

# ------------------------------------------------------------- enable
compat enable
[ "$rc" = 0 ] && cmp -s "$fx/$ETC" "$CONF" &&
	[ "$(stat -c %a "$fx/$ETC")" = 644 ] && [ ! -e "$fx/$ETC.tmp" ]
ktap_result $? "enable writes $CONF as /$ETC, 0644, nothing else" "$(got)
$(ls -la "$fx/etc/modprobe.d" 2>&1)"
[[ $out == *"wrote /$ETC: drop-in mode is enabled."* ]] &&
	[[ $out == *"At the next load of loop"* ]] &&
	[[ $out == *$'To switch now (no loop or aloop device may be in use):\n    modprobe -r loop && modprobe loop'* ]]
ktap_result $? "enable, stock loop loaded: says what happens and the one command" "$(got)"
[ ! -e "$fx/sys/module/aloop" ] && [ -e "$fx/sys/module/loop/initstate" ]
ktap_result $? "enable loads and unloads nothing (fixture unchanged)" "$(find "$fx" | sort)"

compat status
[ "$rc" = 0 ] && [[ $out == *"drop-in mode: enabled (/$ETC)"* ]] &&
	[[ $out == *"now: stock loop serves loop's users"* ]]
ktap_result $? "status after enable: enabled, stock loop serves now" "$(got)"

compat enable
[ "$rc" = 0 ] && [[ $out == "rewrote /$ETC"* ]] && cmp -s "$fx/$ETC" "$CONF"
ktap_result $? "enable again: rewrites the same file" "$(got)"

echo "# local change" >>"$fx/$ETC"
compat status
[[ $out == *"enabled (/$ETC, changed by hand)"* ]]
ktap_result $? "status: a file changed by hand is still enabled, and said so" "$(got)"

machine
aloop_loaded N
compat enable
[[ $out == *$'\n    modprobe -r aloop && modprobe loop'* ]]
ktap_result $? "enable, aloop loaded beside loop, no stock loop: unload aloop, then modprobe loop" "$(got)"
stock_loaded
compat enable
[[ $out == *$'\n    modprobe -r aloop && modprobe -r loop && modprobe loop'* ]]
ktap_result $? "enable, aloop and stock loop loaded: both unloaded, then modprobe loop" "$(got)"

machine
aloop_loaded Y
compat enable
[ "$rc" = 0 ] && [[ $out == *"aloop already serves loop's users now."* ]] && [[ $out != *"To switch now"* ]]
ktap_result $? "enable while aloop is loaded with loop_compat=Y: nothing to switch" "$(got)"
compat status --json
if command -v python3 >/dev/null; then
	[ "$(json enabled aloop_loaded loop_compat stock_loop)" = "True True True absent" ] &&
		[[ $(json now) == "aloop serves loop's users"* ]]
	ktap_result $? "status --json in drop-in mode" "$(got)"
else
	ktap_skip "status --json in drop-in mode" "no python3"
fi

machine
stock_builtin
compat enable
[ "$rc" = 0 ] && [ -f "$fx/$ETC" ] && [[ $out == *"built in (CONFIG_BLK_DEV_LOOP=y)"* ]] &&
	[[ $out != *"To switch now"* ]]
ktap_result $? "enable with loop built in: writes the file, says it cannot work with this kernel" "$(got)"
compat status
[[ $out == *"stock loop: built into the kernel"* ]] && [[ $out == *"drop-in mode cannot work"* ]]
ktap_result $? "status with loop built in" "$(got)"

# ------------------------------------------------------------ disable
machine
aloop_loaded Y
compat enable
compat disable
[ "$rc" = 0 ] && [ ! -e "$fx/$ETC" ] && [[ $out == "removed /$ETC: drop-in mode is disabled."* ]] &&
	[[ $out == *$'\n    modprobe -r aloop && modprobe loop'* ]]
ktap_result $? "disable removes the file; in drop-in mode says how to switch back now" "$(got)"
[ -d "$fx/sys/module/aloop" ]
ktap_result $? "disable unloads nothing" "$(find "$fx" | sort)"
compat disable
[ "$rc" = 0 ] && [[ $out == "no /$ETC: drop-in mode is disabled."* ]]
ktap_result $? "disable without the file: exit 0, says so" "$(got)"
machine
stock_loaded
compat disable
[ "$rc" = 0 ] && [[ $out != *"To switch now"* ]]
ktap_result $? "disable beside stock loop: nothing to switch" "$(got)"

# ------------------------------------------------------- command line
compat bogus
[ "$rc" = 1 ] && [[ $err == *"compat: 'bogus': enable, disable or status"* ]]
ktap_result $? "compat bogus: usage error, exit 1" "$(got)"
out=$("$ALOOPCTL" compat 2>&1); rc=$?
[ "$rc" = 1 ] && [[ $out == *"compat: missing enable|disable|status"* ]]
ktap_result $? "compat without an action: missing enable|disable|status" "exit $rc: $out"
out=$("$ALOOPCTL" compat status --raw 2>&1); rc=$?
[ "$rc" = 1 ] && [[ $out == *"--raw: not valid with 'compat'"* ]]
ktap_result $? "compat --raw: not valid" "exit $rc: $out"
if [ "$(id -u)" = 0 ] && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null &&
   setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$ALOOPCTL"; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$ALOOPCTL" compat enable 2>&1); rc=$?
	[ "$rc" = 1 ] && [[ $out == *"compat enable: must be root"* ]]
	ktap_result $? "compat enable as nobody: must be root" "exit $rc: $out"
else
	ktap_skip "compat enable as nobody" "needs root and setpriv to become nobody"
fi

# ------------------------------------------------------ the modprobe.d file
# shellcheck disable=SC2016 # $CMDLINE_OPTS is modprobe's, literal here
! grep -q '^[[:space:]]*blacklist' "$CONF" && grep -q '^options aloop loop_compat=1$' "$CONF" &&
	grep -q '^install loop .*/sbin/modprobe --ignore-install aloop loop_compat=1 \$CMDLINE_OPTS || /sbin/modprobe --ignore-install loop \$CMDLINE_OPTS' "$CONF" &&
	grep -q '^remove loop ' "$CONF"
ktap_result $? "$CONF: options, install (falls back to stock loop) and remove rules, no blacklist" "$(cat "$CONF")"

kver=
for k in /lib/modules/*/modules.alias; do
	grep -q ' loop$' "$k" 2>/dev/null && { kver=$(basename "$(dirname "$k")"); break; }
done
if [ -z "$kver" ] || ! command -v modprobe >/dev/null || ! unshare -m -r true 2>/dev/null; then
	ktap_skip_n 4 "needs modprobe, a kernel's modules.alias with loop and unshare -m -r" \
		"modprobe -n resolves loop's aliases to the install command"
else
	mkdir -p "$tmp/conf"
	cp "$CONF" "$tmp/conf/"
	for a in loop block-major-7-0 char-major-10-237 devname:loop-control; do
		# shellcheck disable=SC2016 # the inner shell's $1 $2 $3
		out=$(unshare -m -r sh -c 'mount -t tmpfs none /sys/module && exec modprobe -C "$1" -S "$2" -n -v "$3"' \
			sh "$tmp/conf" "$kver" "$a" 2>&1); rc=$?
		[ "$rc" = 0 ] && [[ $out == "install if grep -qs N /sys/module/aloop/parameters/loop_compat"* ]]
		ktap_result $? "modprobe -n -v $a (kernel $kver): the install command, not loop.ko" "exit $rc: $out"
	done
fi

# ------------------------------------------- aloopctl's names in drop-in mode
sys=$tmp/sys
mkdir -p "$sys/module/aloop/parameters" "$sys/block/loop3/aloop" "$sys/block/loop3/queue"
echo Y >"$sys/module/aloop/parameters/loop_compat"
echo 0.1.0 >"$sys/module/aloop/version"
printf '/srv/img\n' >"$sys/block/loop3/aloop/backing_file"
for a in offset sizelimit autoclear partscan dio; do echo 0 >"$sys/block/loop3/aloop/$a"; done
echo 0 >"$sys/block/loop3/ro"; echo 2048 >"$sys/block/loop3/size"
echo 512 >"$sys/block/loop3/queue/logical_block_size"
out=$(ALOOPCTL_SYSFS=$sys "$ALOOPCTL" list -n -O NAME,BACK-FILE 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$(tr -s ' ' <<<"$out")" = "/dev/loop3 /srv/img" ]
ktap_result $? "list in drop-in mode: /dev/loop3 from /sys/block/loop3/aloop" "exit $rc: $out"
out=$(ALOOPCTL_SYSFS=$sys "$ALOOPCTL" list -n -O NAME loop3 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$out" = /dev/loop3 ]
ktap_result $? "list loop3 in drop-in mode" "exit $rc: $out"
out=$(ALOOPCTL_SYSFS=$sys "$ALOOPCTL" list aloop3 2>&1); rc=$?
[ "$rc" = 1 ] && [[ $out == *"aloop3: not an aloop device"* ]]
ktap_result $? "list aloop3 in drop-in mode: not a device name there" "exit $rc: $out"
echo N >"$sys/module/aloop/parameters/loop_compat"
out=$(ALOOPCTL_SYSFS=$sys "$ALOOPCTL" list loop3 2>&1); rc=$?
[ "$rc" = 1 ] && [[ $out == *"loop3: not an aloop device"* ]]
ktap_result $? "loop_compat=N: loop3 is not aloop's" "exit $rc: $out"

ktap_finish
