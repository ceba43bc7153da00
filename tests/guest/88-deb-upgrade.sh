#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: quick
# aloop-desc: the Debian packages upgraded with a device bound: the device keeps the loaded module, the postinst says how to switch, doctor shows both (SKIP where not installed)
# aloop-timeout: 2400
# aloop-driver: aloop
# aloop-needs: unloaded
# Upgrading aloop-dkms while an aloop device is bound.  Needs aloop-dkms
# and aloop-utils installed in the root the guest runs and a newer pair
# of them in $ALOOP_UPGRADE_DEBS (default /root/upgrade):
# tests/pkg/test_guest.sh builds that pair from the same tree with a
# bumped version (and one more modinfo tag, so that srcversion differs
# too) and boots the trixie root with both.  Elsewhere this file SKIPs.
#
#   - attach a file with the installed module (version V, srcversion S),
#     write random data through the device
#   - apt-get install the newer .debs with the device bound: exit 0,
#     DKMS builds the new module (V', S') for the running kernel, the
#     postinst's note says "loaded V ... V' is used after ... or after a
#     reboot" and counts the bound device
#   - nothing was unloaded: the loaded module is still V/S, the device is
#     still bound to the file, its data reads back identical (O_DIRECT)
#   - aloopctl doctor: warn "loaded V, installed V'", exit 0 (usable)
#   - switch: aloopctl detach-all, modprobe -r aloop, modprobe aloop
#     loads V'/S'; the file attached again reads back identical; doctor
#     says ok "loaded V', installed V'"
. "$(dirname "$0")/lib.sh"

plan 12

: "${ALOOP_UPGRADE_DEBS:=/root/upgrade}"
CTL=/usr/sbin/aloopctl
K=$(uname -r)
OLD=$(cat "$REPO/VERSION")
DEB_DKMS=$(find "$ALOOP_UPGRADE_DEBS" -maxdepth 1 -name 'aloop-dkms_*_all.deb' 2>/dev/null | head -n 1)
DEB_UTILS=$(find "$ALOOP_UPGRADE_DEBS" -maxdepth 1 -name 'aloop-utils_*.deb' 2>/dev/null | head -n 1)
NEW=
[ -z "$DEB_DKMS" ] || NEW=$(dpkg-deb -f "$DEB_DKMS" Version 2>/dev/null)
DESCS=("before: aloopctl attach binds a file with the installed module, version $OLD"
       "before: 1 MiB of random data written through the device"
       "apt-get install aloop-dkms and aloop-utils ${NEW:-?} with the device bound: exit 0"
       "dkms status: aloop/${NEW:-?} installed for $K, modinfo's aloop is version ${NEW:-?}"
       "the postinst's note: loaded $OLD, new ${NEW:-?}, 1 device bound, how to switch"
       "nothing was unloaded: the loaded module is still $OLD, its srcversion unchanged"
       "the device is still bound to the file, its data reads back identical"
       "aloopctl doctor: warn 'loaded $OLD, installed ${NEW:-?}' with the fix, exit 0"
       "switch: aloopctl detach-all, modprobe -r aloop"
       "modprobe aloop loads the new module: version ${NEW:-?}, the DKMS build's srcversion"
       "the file attached again on the new module reads back identical"
       "aloopctl doctor after the switch: ok 'loaded ${NEW:-?}, installed ${NEW:-?}', exit 0")

why=$(deb_skip_reason)
if [ -n "$why" ]; then
	:
elif [ -z "$DEB_DKMS" ] || [ -z "$DEB_UTILS" ] || [ -z "$NEW" ]; then
	why="no newer aloop-dkms/aloop-utils .debs in $ALOOP_UPGRADE_DEBS (tests/pkg/test_guest.sh puts them in the trixie root)"
elif [ "$NEW" = "$OLD" ]; then
	why="the .debs in $ALOOP_UPGRADE_DEBS are version $NEW, the installed one's"
fi
if [ -n "$why" ]; then
	skip_n 12 "$why" "${DESCS[@]}"
	finish
fi
diag "upgrade $OLD -> $NEW: $(basename "$DEB_DKMS") $(basename "$DEB_UTILS")"

W=$(mktemp -d /tmp/aloop-upgrade.XXXXXX)
on_exit "rm -rf '$W'"
img=$W/backing.img
truncate -s 16M "$img"
mkrand "$W/data" $MiB
OFF=$((4 * MiB))
bound_to() { [ "$(dut_attr "$1" backing_file)" = "$img" ]; }
unbound() { [ -z "$(dut_attr "$1" backing_file)" ]; }
# dev_sum DEV: the 1 MiB at OFF read through DEV with O_DIRECT
dev_sum() {
	dd if="$1" bs=64K iflag=direct,skip_bytes,count_bytes skip=$OFF count=$MiB status=none |
		sha256sum | cut -d' ' -f1
}
loaded() { printf 'loaded: version %s, srcversion %s' "$(cat /sys/module/aloop/version 2>&1)" \
	"$(cat /sys/module/aloop/srcversion 2>&1)"; }

# ----------------------------------------------------- the old module
dut_unload_all
# at exit: no device left bound (aloopctl would load aloop if it was not)
on_exit "! dut_loaded || '$CTL' detach-all >/dev/null 2>&1"
dev=$("$CTL" attach "$img" 2>"$W/attach.err")
rc=$?
oldsrc=$(cat /sys/module/aloop/srcversion 2>/dev/null)
oldver=$(cat /sys/module/aloop/version 2>/dev/null)
[ $rc = 0 ] && [[ $dev =~ ^/dev/aloop[0-9]+$ ]] && [ -b "$dev" ] && bound_to "$dev" &&
	[ "$oldver" = "$OLD" ] && [ -n "$oldsrc" ]
result "${DESCS[0]}" $? "exit $rc: $dev" "stderr: $(cat "$W/attach.err")" "$(loaded)"
if [ $rc != 0 ] || [ ! -b "$dev" ]; then
	skip_n 11 "no device bound" "${DESCS[@]:1}"
	finish
fi
want=$(sha "$W/data")
write_dev "$W/data" "$dev" $OFF
rc=$?
got=$(dev_sum "$dev")
[ $rc = 0 ] && [ "$got" = "$want" ] && [ "$(sha_range "$img" $OFF $MiB)" = "$want" ]
result "${DESCS[1]}" $? "dd exit $rc; sha256 written $want, read $got, in the file $(sha_range "$img" $OFF $MiB)"

# ------------------------------------------------------- the upgrade
t0=$(date +%s)
timeout 1800 env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	-o Dpkg::Use-Pty=false "$DEB_DKMS" "$DEB_UTILS" >"$W/apt.log" 2>&1
rc=$?
diag "apt-get install took $(( $(date +%s) - t0 )) s"
result "${DESCS[2]}" $rc "exit $rc; apt's output:" "$(tail -n 40 "$W/apt.log")"

st=$(dkms status aloop 2>&1)
newver=$(modinfo -F version aloop 2>&1)
newsrc=$(modinfo -F srcversion aloop 2>&1)
grep -F "aloop/$NEW, $K, " <<<"$st" | grep -q ': installed$' && [ "$newver" = "$NEW" ] &&
	[ -n "$newsrc" ]
result "${DESCS[3]}" $? "dkms status: $st" "modinfo aloop: version $newver, srcversion $newsrc, $(modinfo -n aloop 2>&1)"

# the note, its lines joined again (fold -s keeps the space at each break)
note=$(tr -d '\n' <"$W/apt.log")
frags=("aloop: the loaded aloop module is version $OLD (srcversion $oldsrc); 1 aloop device is bound and keeps running on it."
       "The module just installed for $K, version $NEW (srcversion $newsrc), is used after 'aloopctl detach-all && modprobe -r aloop && modprobe aloop' or after a reboot.")
missing=
for f in "${frags[@]}"; do
	[[ $note == *"$f"* ]] || missing+=$'\n'"  $f"
done
[ -z "$missing" ]
result "${DESCS[4]}" $? "not in apt's output:$missing" "apt's output, the note's lines:" \
	"$(grep -A6 '^aloop: ' "$W/apt.log" || echo '(no line starting "aloop: ")')"

ver=$(cat /sys/module/aloop/version 2>&1)
src=$(cat /sys/module/aloop/srcversion 2>&1)
[ "$ver" = "$OLD" ] && [ "$src" = "$oldsrc" ] && [ "$src" != "$newsrc" ]
result "${DESCS[5]}" $? "$(loaded); before the upgrade: $OLD, $oldsrc; the new .ko: $newver, $newsrc"

got=$(dev_sum "$dev")
bound_to "$dev" && [ "$got" = "$want" ]
result "${DESCS[6]}" $? "$dev backing_file: '$(dut_attr "$dev" backing_file)' (want $img)" \
	"sha256 read $got, written $want"

doc=$("$CTL" doctor 2>&1)
rc=$?
l=$(grep -E '^(ok|warn|fail) +version ' <<<"$doc")
[ $rc = 0 ] && [[ $l == "warn "* ]] &&
	[[ $l == *"loaded $OLD, installed $NEW: the new module is used after a reload or reboot"* ]] &&
	[[ $l == *"fix: aloopctl detach-all && modprobe -r aloop && modprobe aloop (or reboot)"* ]]
result "${DESCS[7]}" $? "exit $rc; version line: ${l:-none}" "$doc"

# -------------------------------------------------------- the switch
out=$("$CTL" detach-all 2>&1)
rc=$?
wait_for 10 unbound "$dev"
ub=$?
wait_for 10 modprobe -r aloop
mr=$?
[ $rc = 0 ] && [ $ub = 0 ] && [ $mr = 0 ] && ! dut_loaded
result "${DESCS[8]}" $? "detach-all exit $rc: $out; unbound: $([ $ub = 0 ] && echo yes || echo no)" \
	"modprobe -r: $(modprobe -r aloop 2>&1)" "$(grep '^aloop ' /proc/modules)"

out=$(modprobe aloop 2>&1)
rc=$?
ver=$(cat /sys/module/aloop/version 2>&1)
src=$(cat /sys/module/aloop/srcversion 2>&1)
[ $rc = 0 ] && [ "$ver" = "$NEW" ] && [ "$src" = "$newsrc" ]
result "${DESCS[9]}" $? "modprobe exit $rc: $out" "$(loaded); the DKMS .ko: $newver, $newsrc"

dev=$("$CTL" attach "$img" 2>"$W/attach2.err")
rc=$?
got=
[ $rc != 0 ] || got=$(dev_sum "$dev")
[ $rc = 0 ] && bound_to "$dev" && [ "$got" = "$want" ]
result "${DESCS[10]}" $? "attach exit $rc: $dev; stderr: $(cat "$W/attach2.err")" \
	"sha256 read ${got:-none}, written $want"

doc=$("$CTL" doctor 2>&1)
rc=$?
l=$(grep -E '^(ok|warn|fail) +version ' <<<"$doc")
[ $rc = 0 ] && [[ $l == "ok "* ]] && [[ $l == *"loaded $NEW, installed $NEW;"* ]]
result "${DESCS[11]}" $? "exit $rc; version line: ${l:-none}" "$doc"

[ ! -b "${dev:-}" ] || "$CTL" detach "$dev" >/dev/null 2>&1
finish
