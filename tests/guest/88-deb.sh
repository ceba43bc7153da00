#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: quick
# aloop-desc: the Debian packages in a booted root: DKMS build, aloopctl loads the module (SKIP where not installed)
# aloop-timeout: 300
# aloop-driver: aloop
# aloop-needs: unloaded
# The Debian packages at work in a booted guest.  Needs aloop-dkms and
# aloop-utils installed in the root the guest runs: tests/pkg/test_guest.sh
# installs them in a throwaway copy of the trixie root and boots it.  The
# roots make check boots do not have them: there this file SKIPs.
#
#   - DKMS built aloop for the running kernel (dkms status, modinfo -n)
#   - with aloop not loaded and no /dev/aloop-control, the packaged
#     /usr/sbin/aloopctl attach, as root, loads the module by itself
#     (libkmod) and attaches; the module is the DKMS build (srcversion),
#     version VERSION, and the device carries data to the backing file
#   - detach; without the module, aloopctl run as nobody loads nothing
#     and says what it always said
. "$(dirname "$0")/lib.sh"

plan 7

CTL=/usr/sbin/aloopctl
K=$(uname -r)
VERSION=$(cat "$REPO/VERSION")
NOCTL="aloopctl: /dev/aloop-control: No such file or directory (aloop module not loaded?)"
DESCS=("dkms status: aloop/$VERSION installed for $K"
       "modprobe's lookup finds the DKMS build"
       "aloopctl attach (root, module not loaded) loads aloop and attaches"
       "the loaded aloop is the DKMS build, version $VERSION"
       "data written to the device lands in the backing file"
       "aloopctl detach"
       "as nobody without the module: no autoload, the plain error")

why=$(deb_skip_reason)
if [ -n "$why" ]; then
	skip_n 7 "$why" "${DESCS[@]}"
	finish
fi

st=$(dkms status aloop 2>&1)
grep -F "aloop/$VERSION, $K, " <<<"$st" | grep -q ': installed$'
result "${DESCS[0]}" $? "$st"
ko=$(modinfo -n aloop 2>&1)
[[ $ko == */lib/modules/$K/updates/dkms/aloop.ko* ]]
result "${DESCS[1]}" $? "modinfo -n aloop: $ko"

unbound() { [ -z "$(cat "/sys/block/${1#/dev/}/aloop/backing_file" 2>/dev/null)" ]; }

dut_unload_all
img=$(mktemp /tmp/aloop-deb.XXXXXX)
on_exit "rm -f '$img'"
truncate -s 16M "$img"
if dut_loaded || [ -e /dev/aloop-control ]; then
	fail "${DESCS[2]}" "aloop is loaded and cannot be unloaded (or /dev/aloop-control is there)"
	skip_n 4 "no autoload to test" "${DESCS[@]:3}"
	finish
fi
# stdout alone: /tmp may be a tmpfs, and attach warns about that on stderr
dev=$("$CTL" attach "$img" 2>"$img.err")
rc=$?
on_exit "rm -f '$img.err'"
[ $rc = 0 ] && [[ $dev =~ ^/dev/aloop[0-9]+$ ]] && dut_loaded && [ -b "$dev" ]
result "${DESCS[2]}" $? "exit $rc: $dev" "stderr: $(cat "$img.err")" "$(grep aloop /proc/modules)"

src=$(cat /sys/module/aloop/srcversion 2>&1)
want=$(modinfo -F srcversion aloop 2>&1)
ver=$(cat /sys/module/aloop/version 2>&1)
[ -n "$want" ] && [ "$src" = "$want" ] && [ "$ver" = "$VERSION" ]
result "${DESCS[3]}" $? "srcversion loaded $src, DKMS .ko $want; version $ver"

if [ -b "$dev" ]; then
	data=$(mktemp /tmp/aloop-deb-data.XXXXXX)
	on_exit "rm -f '$data'"
	head -c 1M /dev/urandom >"$data"
	dd if="$data" of="$dev" bs=64k seek=16 conv=fsync status=none 2>&1
	cmp -s "$data" <(dd if="$img" bs=64k skip=16 count=16 status=none)
	result "${DESCS[4]}" $?
	out=$("$CTL" detach "$dev" 2>&1)
	rc=$?
	[ $rc = 0 ] && wait_for 10 unbound "$dev"
	result "${DESCS[5]}" $? "exit $rc: $out"
else
	skip_n 2 "no device" "${DESCS[@]:4}"
fi

dut_unload_all
if dut_loaded; then
	skip "${DESCS[6]}" "cannot unload aloop"
else
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" features 2>&1)
	rc=$?
	[ $rc = 1 ] && [ "$out" = "$NOCTL" ] && ! dut_loaded
	result "${DESCS[6]}" $? "exit $rc: $out"
fi
finish
