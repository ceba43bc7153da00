#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: udev rules with a real udevd: permissions, by-uuid/label/partuuid links, the inotify watch
# aloop-timeout: 300
# aloop-driver: aloop
# aloop-needs: aloopctl unloaded
# udev/60-aloop.rules with a real systemd-udevd: permissions of
# /dev/aloop-control, /dev/aloopN and partitions (root:disk 0660),
# /dev/disk/by-uuid, by-label and by-partuuid links that follow attach
# and detach, and the inotify watch that notices mkfs on a device.
#
# The guest normally runs without udevd (devtmpfs nodes only): this test
# starts its own (the rules go to /etc/udev/rules.d, /etc being a
# writable overlay in the guest) and stops it at the end.  If a udevd is
# already running it is stopped first and started again afterwards the
# way virtme-init starts it.
. "$(dirname "$0")/lib.sh"

plan 12

UDEVD=
for u in /lib/systemd/systemd-udevd /usr/lib/systemd/systemd-udevd; do
	[ -x "$u" ] && { UDEVD=$u; break; }
done
RULES_SRC=$REPO/udev/60-aloop.rules
UUID=5d8a0f5e-1b6c-4c43-9a3e-7f0c2b1d4e01
UUID2=0c9b7a21-6e2f-4d5a-b8c3-91a4e6f7d002
PARTUUID=3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b
LABEL=aloopt

why=
if [ "$DUT" != aloop ]; then
	why="the udev rules are for aloop devices (DUT=$DUT)"
elif [ -z "$UDEVD" ]; then
	why="systemd-udevd is not installed"
elif ! have udevadm; then
	why="udevadm is not installed"
elif [ ! -f "$RULES_SRC" ]; then
	why="$RULES_SRC is missing"
elif ! getent group disk >/dev/null; then
	why="no group 'disk' in this guest"
elif ! have_aloopctl; then
	why="aloopctl is not built"
fi
if [ -n "$why" ]; then
	skip_n 12 "$why" "udevd" control-perms by-uuid by-label dev-perms uuid-gone label-gone \
		unbound-perms partuuid part-perms watch partuuid-gone
	finish
fi
why=$(need_env) || bail "$why"

# ---------------------------------------------------------- udevd
udevd_pids() { pidof systemd-udevd 2>/dev/null; }
udevd_stop() {
	udevadm control --exit >/dev/null 2>&1
	wait_for 10 test -z "$(udevd_pids)"
}
settle() { udevadm settle --timeout=15 >/dev/null 2>&1; }

PREV_UDEVD=
if [ -n "$(udevd_pids)" ]; then
	PREV_UDEVD=$(tr '\0' ' ' </proc/"$(udevd_pids | awk '{print $1}')"/cmdline 2>/dev/null)
	diag "a udevd is already running ($PREV_UDEVD): stopping it for this test"
	udevd_stop || bail "cannot stop the running udevd"
	# shellcheck disable=SC2086
	on_exit "$PREV_UDEVD >/dev/null 2>&1 </dev/null; udevadm settle --timeout=15"
fi

RULES_DIR=/etc/udev/rules.d
mkdir -p "$RULES_DIR" 2>/dev/null && cp "$RULES_SRC" "$RULES_DIR/60-aloop.rules" 2>/dev/null || {
	RULES_DIR=/run/udev/rules.d
	mkdir -p "$RULES_DIR" && cp "$RULES_SRC" "$RULES_DIR/60-aloop.rules"
} || bail "cannot install the rules in /etc/udev/rules.d or /run/udev/rules.d"
on_exit "rm -f $RULES_DIR/60-aloop.rules"
on_exit "udevd_stop"
on_exit "aloopctl detach-all; udevadm settle --timeout=15"

dut_unload_all
out=$("$UDEVD" --daemon 2>&1 </dev/null); rc=$?
if [ $rc = 0 ] && wait_for 10 udevadm control --ping; then
	ok "systemd-udevd started, rules from $RULES_DIR/60-aloop.rules ($(udevadm --version 2>/dev/null))"
else
	fail "systemd-udevd started" "exit $rc: $out"
	skip_n 11 "systemd-udevd cannot run here: $(tail -n 1 <<<"$out")" \
		control-perms by-uuid by-label dev-perms uuid-gone label-gone \
		unbound-perms partuuid part-perms watch partuuid-gone
	finish
fi

# Load aloop only now, so the add events go through udevd.
out=$(mod_load) || bail "cannot load $DUT: $out"
settle
perms() { stat -L -c '%U:%G %a' "$1" 2>&1; }
wait_perms() { local t; for t in $(seq 50); do [ "$(perms "$1")" = "root:disk 660" ] && return 0; sleep 0.2; done; return 1; }
wait_perms "$DUT_CTL"
check_eq "$DUT_CTL is root:disk 0660 after udev processed it" "root:disk 660" "$(perms "$DUT_CTL")"

D=$(test_dir udev)
link_of() { readlink -f "$1" 2>/dev/null; }
# shellcheck disable=SC2317  # called through wait_for
_link_is() { [ "$(link_of "$1")" = "$2" ]; }

# ------------------------------------------------------ attach/detach
F=$D/fs.img
truncate -s 32M "$F"
mkfs.ext4 -q -F -L "$LABEL" -U "$UUID" "$F" >/dev/null 2>&1 || bail "mkfs.ext4 on $F failed"
DEV=$(aloopctl attach "$F" 2>&1) || bail "aloopctl attach: $DEV"
settle
wait_for 10 _link_is "/dev/disk/by-uuid/$UUID" "$DEV"
check_eq "/dev/disk/by-uuid/$UUID points at $DEV" "$DEV" "$(link_of "/dev/disk/by-uuid/$UUID")"
wait_for 5 _link_is "/dev/disk/by-label/$LABEL" "$DEV"
check_eq "/dev/disk/by-label/$LABEL points at $DEV" "$DEV" "$(link_of "/dev/disk/by-label/$LABEL")"
wait_perms "$DEV"
check_eq "$DEV is root:disk 0660" "root:disk 660" "$(perms "$DEV")"

out=$(aloopctl detach "$DEV" 2>&1) || diag "aloopctl detach $DEV: $out"
settle
if wait_gone "/dev/disk/by-uuid/$UUID" 10; then
	ok "after detach /dev/disk/by-uuid/$UUID is gone"
else
	fail "after detach /dev/disk/by-uuid/$UUID is gone" "still -> $(link_of "/dev/disk/by-uuid/$UUID"), device state $(dev_state "$DEV")"
fi
if wait_gone "/dev/disk/by-label/$LABEL" 5; then
	ok "after detach /dev/disk/by-label/$LABEL is gone"
else
	fail "after detach /dev/disk/by-label/$LABEL is gone" "still -> $(link_of "/dev/disk/by-label/$LABEL")"
fi
check_eq "the unbound $DEV is still root:disk 0660" "root:disk 660" "$(perms "$DEV")"

# --------------------------------------------------------- partitions
P=$D/parts.img
truncate -s 32M "$P"
if printf 'label: gpt\nstart=2048, size=16384, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=%s\n' "$PARTUUID" |
	sfdisk -q "$P" >"$SCRATCH/sfdisk.log" 2>&1; then
	PDEV=$(aloopctl attach --partscan "$P" 2>&1) || bail "aloopctl attach --partscan: $PDEV"
	settle
	wait_dev "${PDEV}p1" 10
	wait_for 10 _link_is "/dev/disk/by-partuuid/$PARTUUID" "${PDEV}p1"
	check_eq "/dev/disk/by-partuuid/$PARTUUID points at ${PDEV}p1" "${PDEV}p1" "$(link_of "/dev/disk/by-partuuid/$PARTUUID")"
	wait_perms "${PDEV}p1"
	check_eq "partition ${PDEV}p1 is root:disk 0660" "root:disk 660" "$(perms "${PDEV}p1")"
else
	skip_n 2 "sfdisk failed: $(cat "$SCRATCH/sfdisk.log")" "by-partuuid" "partition perms"
	PDEV=
fi

# ------------------------------------------------------- inotify watch
W=$D/blank.img
truncate -s 32M "$W"
WDEV=$(aloopctl attach "$W" 2>&1) || bail "aloopctl attach: $WDEV"
settle
if [ -e "/dev/disk/by-uuid/$UUID2" ]; then
	fail "mkfs on $WDEV is noticed: by-uuid link appears" "link already there before mkfs"
elif ! mkfs.ext4 -q -F -L aloopw -U "$UUID2" "$WDEV" >"$SCRATCH/mkfs.log" 2>&1; then
	fail "mkfs on $WDEV is noticed: by-uuid link appears" "mkfs.ext4 failed: $(cat "$SCRATCH/mkfs.log")"
else
	settle
	if wait_for 10 _link_is "/dev/disk/by-uuid/$UUID2" "$WDEV"; then
		ok "mkfs.ext4 on $WDEV is noticed (inotify watch): by-uuid link appears"
	else
		fail "mkfs.ext4 on $WDEV is noticed (inotify watch): by-uuid link appears" \
			"link: '$(link_of "/dev/disk/by-uuid/$UUID2")'" "$(udevadm info --query=property "$WDEV" 2>&1 | grep -E 'ID_FS|DEVNAME')"
	fi
fi

if [ -n "$PDEV" ]; then
	aloopctl detach "$PDEV" >/dev/null 2>&1
	settle
	if wait_gone "/dev/disk/by-partuuid/$PARTUUID" 10 && wait_gone "${PDEV}p1" 5; then
		ok "after detach the partition and its by-partuuid link are gone"
	else
		fail "after detach the partition and its by-partuuid link are gone" "$(ls -l "${PDEV}p1" "/dev/disk/by-partuuid/$PARTUUID" 2>&1)"
	fi
else
	skip "after detach the partition and its by-partuuid link are gone" "no partitioned image"
fi

finish
