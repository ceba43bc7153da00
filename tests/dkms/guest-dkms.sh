#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DKMS end to end, inside the guest (run by tests/guest/run.sh as the
# last step, "dkms", when scripts/check.sh installed aloop with
# `make dkms-install` for this kernel before the boot):
#   modprobe aloop loads the DKMS-built module - not build/<kver>/aloop.ko
#   (same sources, so the same srcversion: the GNU build ID of the loaded
#   module, /sys/module/aloop/notes, tells the two builds apart) - with
#   the version of the VERSION file; a file attached with aloopctl passes
#   fio --verify=crc32c; detach; modprobe -r aloop.
#
# Environment from the host (scripts/check.sh):
#   ALOOP_DKMS_KO        path of the DKMS-installed module in the guest
#   ALOOP_DKMS_BUILDID   its GNU build ID
#   ALOOP_BUILD_BUILDID  build ID of build/<kver>/aloop.ko ("" if unknown)
#   ALOOP_VERSION_WANT   the VERSION file
. "$REPO/tests/guest/lib.sh"

plan 10

KO_WANT=${ALOOP_DKMS_KO:-}
BID_WANT=${ALOOP_DKMS_BUILDID:-}
BID_OTHER=${ALOOP_BUILD_BUILDID:-}
VER_WANT=${ALOOP_VERSION_WANT:-$(cat "$REPO/VERSION" 2>/dev/null)}

[ -n "$KO_WANT" ] || bail "ALOOP_DKMS_KO not set (the host did not install aloop with DKMS)"
[ "$DUT" = aloop ] || bail "DUT=$DUT: the DKMS stage tests aloop only"
dut_unload_all
mod_is_loaded aloop && bail "aloop is still loaded before the DKMS test"

# Build ID of the loaded module: the raw ELF note in sysfs, namesz 4
# ("GNU\0") so the 20-byte descriptor starts at byte 16.
loaded_buildid() {
	local f=/sys/module/aloop/notes/.note.gnu.build-id
	[ -r "$f" ] || return 1
	od -An -v -tx1 -j16 "$f" | tr -d ' \n'
}

# 1. modprobe resolves aloop to the DKMS file
path=$(modinfo -n aloop 2>&1)
check_eq "modinfo -n aloop names the DKMS-installed module" "$KO_WANT" "$path"

# 2. modprobe loads it
out=$(modprobe aloop 2>&1); rc=$?
if [ $rc = 0 ] && wait_chr /dev/aloop-control 10; then
	ok "modprobe aloop loads the module, /dev/aloop-control appears"
else
	fail "modprobe aloop loads the module" "exit $rc: $out" "$(dmesg | tail -n 5)"
	bail "aloop did not load"
fi
on_exit "aloopctl detach-all; rmmod aloop"

# 3. the loaded module is the DKMS build
bid=$(loaded_buildid)
if [ -z "$bid" ]; then
	fail "loaded module is the DKMS build (build ID)" \
		"cannot read /sys/module/aloop/notes/.note.gnu.build-id: $(ls /sys/module/aloop/notes 2>&1)"
elif [ "$bid" != "$BID_WANT" ]; then
	fail "loaded module is the DKMS build (build ID)" "loaded: $bid" "DKMS:   $BID_WANT" \
		"build/<kver>/aloop.ko: ${BID_OTHER:-?}"
elif [ -n "$BID_OTHER" ] && [ "$BID_OTHER" = "$BID_WANT" ]; then
	fail "loaded module is the DKMS build (build ID)" \
		"the DKMS build and build/<kver>/aloop.ko have the same build ID $bid: cannot tell them apart"
else
	ok "loaded module is the DKMS build (build ID $bid, build/<kver>/aloop.ko has ${BID_OTHER:-none})"
fi

# 4. srcversion and version
sv=$(cat /sys/module/aloop/srcversion 2>&1)
check_eq "/sys/module/aloop/srcversion matches the DKMS file" \
	"$(modinfo -F srcversion "$KO_WANT" 2>&1)" "$sv"
check_eq "/sys/module/aloop/version is VERSION" "$VER_WANT" "$(cat /sys/module/aloop/version 2>&1)"

# 5. attach a file
D=$(test_dir dkms)
F=$D/dkms.img
truncate -s 64M "$F"
DEV=$(aloopctl attach "$F" 2>"$SCRATCH/err"); rc=$?
if [ $rc = 0 ] && [[ $DEV =~ ^/dev/aloop[0-9]+$ ]] && wait_dev "$DEV"; then
	ok "aloopctl attach a file on the DKMS module ($DEV, dio=$(dut_attr "$DEV" dio))"
else
	fail "aloopctl attach a file on the DKMS module" "exit $rc, '$DEV'" "$(cat "$SCRATCH/err")"
	bail "cannot attach"
fi

# 6. fio verify, direct and buffered
fio_run() {	# NAME ARGS...
	local n=$1; shift
	fio --name="$n" --filename="$DEV" --size=32M --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output="$SCRATCH/fio-$n.out" "$@" >/dev/null 2>"$SCRATCH/fio-$n.err"
}
if fio_run dio --rw=randwrite --bs=4k --direct=1 --ioengine=libaio --iodepth=16 &&
   fio_run buffered --rw=write --bs=64k --direct=0 --ioengine=psync; then
	ok "fio --verify=crc32c through $DEV (4k random dio, 64k buffered)"
else
	fail "fio --verify=crc32c through $DEV" "$(tail -n 15 "$SCRATCH"/fio-*.err "$SCRATCH"/fio-*.out 2>/dev/null)"
fi

# 7. detach
out=$(aloopctl detach "$DEV" 2>&1); rc=$?
st=$(dev_state "$DEV")
if [ $rc = 0 ] && [ "$st" = unbound ]; then
	ok "aloopctl detach $DEV"
else
	fail "aloopctl detach $DEV" "exit $rc: $out" "state: $st"
fi

# 8. modprobe -r (udev may still hold the device it was told about at
# detach - blkid on the change event - for a moment: settle, and retry
# while the refcount says it is transient)
udevadm settle -t 10 2>/dev/null
for _ in 1 2 3 4 5; do
	out=$(modprobe -r aloop 2>&1); rc=$?
	[ $rc != 0 ] && mod_is_loaded aloop && [ "$(awk '$1 == "aloop" {print $3}' /proc/modules)" = 0 ] || break
	sleep 1
done
if [ $rc = 0 ] && ! mod_is_loaded aloop && [ ! -e /sys/module/aloop ]; then
	ok "modprobe -r aloop unloads it"
else
	fail "modprobe -r aloop unloads it" "exit $rc: $out" "$(grep '^aloop ' /proc/modules)"
fi

# 9. nothing left of it
if [ ! -e /dev/aloop-control ] && ! grep -qw aloop /proc/devices; then
	ok "no /dev/aloop-control and no aloop major after unloading"
else
	fail "no /dev/aloop-control and no aloop major after unloading" \
		"$(ls -l /dev/aloop-control 2>&1)" "$(grep -w aloop /proc/devices)"
fi

finish
