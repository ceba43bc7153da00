#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: drop-in mode in stock loop's place: loopdiff's ioctl steps recorded on stock loop and compared on aloop's /dev/loop-control (64/32-bit); modprobe loop and opening the nodes load aloop through aloopctl compat's rule, stock loop without it
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: stock-loop unloaded aloopctl losetup depmod
# Drop-in mode against stock loop, in one boot; the runner leaves stock
# loop loaded and aloop unloaded.  SKIP when loop is built in.
#
# A. The differential (80-differential's loopdiff): aloop with
#    loop_compat=1 and stock loop cannot be loaded together (major 7,
#    /dev/loop-control), so loopdiff --record runs its ~70 ioctl steps on
#    stock loop (/dev/loop-control, loop150) and writes the outcomes to a
#    file, 64-bit and, with the 32-bit build, 32-bit; stock loop is
#    unloaded, aloop inserted with loop_compat=1 dio=0 (stock loop's dio
#    default), and loopdiff --compare runs the same steps on the same
#    names, now aloop's, one result per step.
#
# B. The auto-load path, as on an installed system.  The guest's
#    /lib/modules and /etc are the host's (or an overlay that lasts the
#    whole boot): a tree on tmpfs with stock loop's module and the
#    aloop.ko under test (depmod -b: modules.dep, loop's aliases,
#    modules.devname) is bound over /lib/modules/$(uname -r), an empty
#    directory over /etc/modprobe.d, for this file only (unbound at exit,
#    also after a timeout's SIGTERM).  Then:
#    - no rule: modprobe loop loads stock loop; with nothing loaded,
#      opening /dev/loop-control (the static node kmod static-nodes lists,
#      as systemd-tmpfiles makes it at boot) loads stock loop through the
#      kernel's char-major-10-237 request.  When it does not, the kernel's
#      module requests do not reach modprobe in this guest: the two
#      node steps below SKIP;
#    - aloopctl compat enable writes contrib/modprobe's file; the command
#      it prints to switch now loads aloop with loop_compat=Y (the module
#      under test) and no stock loop; losetup -f --show gives a loopN that
#      has aloop/; modprobe loop again changes nothing; modprobe -r loop
#      unloads aloop; "options loop max_loop=4" reaches aloop;
#    - with nothing loaded, opening /dev/loop-control loads aloop, and so
#      does opening a missing /dev/loop9 (b 7:9, block-major-7-9; SKIP
#      without CONFIG_BLOCK_LEGACY_AUTOLOAD), which creates loop9;
#    - aloopctl compat disable and the command it prints: stock loop
#      again; everything unloaded, the host's directories back.
# The kernel log is checked from the start of the file.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BIN=$REPO/build/tools/loopdiff
BIN32=$REPO/build/tools/loopdiff32
NB=14		# results of part B
mkdir -p "$SCRATCH"

# ------------------------------------------------------------ the builds
loopdiff_builds

if [ -n "$c64_err" ]; then
	NA=2
elif [ -n "$m32_skip" ]; then
	NA=$((4 + N))
else
	NA=$((4 + 2 * N))
fi
plan $((NA + NB))

why=$(need_env) || bail "$why"
if [ -d /sys/module/loop ] && [ ! -e /sys/module/loop/initstate ]; then
	skip_n $((NA + NB)) "stock loop is built into this kernel (CONFIG_BLK_DEV_LOOP=y): drop-in mode needs it as a module" \
		"drop-in mode against stock loop"
	finish
fi
# A timeout (SIGTERM) still runs the cleanup: the binds below must not
# outlive the file.
trap 'exit 143' TERM
MARK=$(klog_mark)
D=$(test_dir dropin-diff)

# state: what serves loop's names - "aloop:Y|N|- loop:yes|- ctl:MAJ:MIN|-"
state() {
	local a=- l=- c=-
	if mod_is_loaded aloop; then
		a=$(cat /sys/module/aloop/parameters/loop_compat 2>/dev/null)
		case $a in 1) a=Y ;; 0) a=N ;; '') a='?' ;; esac
	fi
	mod_is_loaded loop && l=yes
	[ -r /sys/class/misc/loop-control/dev ] && c=$(cat /sys/class/misc/loop-control/dev)
	echo "aloop:$a loop:$l ctl:$c"
}
ST_ALOOP="aloop:Y loop:- ctl:10:237"
ST_STOCK="aloop:- loop:yes ctl:10:237"
ST_NONE="aloop:- loop:- ctl:-"
state_is() { [ "$(state)" = "$1" ]; }
unload_all() { rmmod_wait aloop >/dev/null; rmmod_wait loop >/dev/null; wait_for 5 state_is "$ST_NONE"; }

# ====================================================== A. the differential
# compare_run TAG BIN FILE: loopdiff --compare on aloop, its N results as ours
compare_run() {
	local tag=$1 bin=$2 rec=$3 rc
	local out=$SCRATCH/loopdiff-cmp-$tag.out
	"$bin" --compare "$rec" "$STOCK_CTL" "$D/$tag" 150 aloop >"$out" 2>&1
	rc=$?
	loopdiff_relay "$tag" "$out" $rc "loopdiff --compare"
}
# record_run TAG BIN FILE: loopdiff --record on stock loop; one result
record_run() {
	local tag=$1 bin=$2 rec=$3 out rc
	out=$SCRATCH/loopdiff-rec-$tag.out
	"$bin" --record "$rec" "$STOCK_CTL" "$D/$tag" 150 stock >"$out" 2>&1
	rc=$?
	[ $rc = 0 ] && [ "$(grep -c '^[0-9]' "$rec" 2>/dev/null)" = "$N" ]
	result "$tag-bit: loopdiff --record, $N steps on stock loop (/dev/loop-control, loop150)" $? \
		"exit $rc; last lines:" "$(tail -n 5 "$out")"
}

part_a() {
	local out rc names
	if [ -n "$c64_err" ]; then
		fail "build loopdiff (64-bit)" "$c64_err"
		skip "the differential on drop-in mode" "no loopdiff"
		return
	fi
	ok "loopdiff built by make tools (64-bit, $N steps)"
	mkdir -p "$D/64" "$D/32"
	on_exit "[ ! -e /sys/block/loop150 ] || { ioc clr-fd /dev/loop150; ioc ctl-remove $STOCK_CTL 150; }"
	if ! state_is "$ST_STOCK"; then
		out=$(stock_load 2>&1)
		diag "stock loop was not loaded by the runner: modprobe loop: $out"
	fi
	record_run 64 "$BIN" "$SCRATCH/rec64"
	if [ -n "$m32_skip" ]; then
		skip "32-bit: loopdiff --record on stock loop" "$m32_skip"
	elif [ -n "$c32_err" ]; then
		fail "32-bit: loopdiff --record on stock loop" "$c32_err"
	else
		record_run 32 "$BIN32" "$SCRATCH/rec32"
	fi

	out=$(rmmod_wait loop)
	rc=$?
	if [ $rc = 0 ]; then
		out=$(insmod "$ALOOP_KO" loop_compat=1 dio=0 2>&1)
		rc=$?
	fi
	names=$(awk '/^Block devices:/ {b=1; next} b && $1 == 7 {print $1, $2}' /proc/devices)
	[ $rc = 0 ] && state_is "$ST_ALOOP" && [ "$(cat /sys/module/aloop/parameters/dio 2>/dev/null)" = N ] &&
		[ "$names" = "7 loop" ] && wait_chr /dev/loop-control && [ -d /sys/block/loop0/aloop ]
	rc=$?
	result "stock loop unloaded, aloop inserted with loop_compat=1 dio=0: major 7 and /dev/loop-control are aloop's" $rc \
		"$out" "$(state)" "/proc/devices: $names"
	if [ $rc != 0 ]; then
		skip_n "$N" "aloop does not serve /dev/loop-control (above)" "64-bit steps on aloop"
		[ -n "$m32_skip" ] || skip_n "$N" "aloop does not serve /dev/loop-control (above)" "32-bit steps on aloop"
		return
	fi
	diag "reference: stock loop's outcomes recorded in this boot; under test: aloop, loop_compat=1 dio=0"
	compare_run 64 "$BIN" "$SCRATCH/rec64"
	if [ -z "$m32_skip" ] && [ -n "$c32_err" ]; then
		skip_n "$N" "the 32-bit build failed" "32-bit steps on aloop"
	elif [ -z "$m32_skip" ]; then
		compare_run 32 "$BIN32" "$SCRATCH/rec32"
	fi
}

# ================================================== B. the auto-load path
K=$(uname -r)
MODDIR=/lib/modules/$K
TREE=$SCRATCH/modroot/lib/modules/$K
ETCDIR=$SCRATCH/modprobe.d
CONF=/etc/modprobe.d/aloop-loop-compat.conf
BOUND_MOD=0 BOUND_ETC=0 NODES=()

# undo_b: unload, remove the nodes made here, unbind; says what failed
undo_b() {
	local n
	losetup -D 2>/dev/null
	unload_all || echo "still loaded: $(state)"
	for n in "${NODES[@]}"; do rm -f "$n"; done
	NODES=()
	if [ $BOUND_ETC = 1 ]; then umount_view /etc/modprobe.d && BOUND_ETC=0 || echo "umount /etc/modprobe.d failed"; fi
	if [ $BOUND_MOD = 1 ]; then umount_view "$MODDIR" && BOUND_MOD=0 || echo "umount $MODDIR failed"; fi
}
# umount_view DIR: unmount our view of DIR; a modprobe the kernel started
# may still hold it (6.12 guest: "target is busy" once): retry, then detach
# it lazily, so that the real directory is what every later lookup sees
umount_view() {
	local i
	for i in 1 2 3 4 5; do
		umount "$1" 2>/dev/null && return 0
		sleep 1
	done
	umount -l "$1"
}
# static_node NAME: make /dev/NAME as kmod static-nodes lists it (what
# systemd-tmpfiles-setup-dev makes at boot); SN_WHY says why not
static_node() {
	local l t mm
	l=$(kmod static-nodes --format=tmpfiles 2>&1 | awk -v n="/dev/$1" '$2 == n')
	read -r t _ _ _ _ _ mm <<<"$l"
	[ "$t" = "c!" ] && [[ $mm =~ ^[0-9]+:[0-9]+$ ]] || { SN_WHY="kmod static-nodes lists no /dev/$1: '$l'"; return 1; }
	[ -c "/dev/$1" ] && return 0
	mknod -m 0600 "/dev/$1" c "${mm%:*}" "${mm#*:}" || { SN_WHY="mknod /dev/$1 failed"; return 1; }
	NODES+=("/dev/$1")
}
# switch_cmd OUTPUT: the command aloopctl compat printed under "To switch now"
switch_cmd() { sed -n '/^To switch now/{n;s/^ *//;p;q}' <<<"$1"; }

part_b() {
	local out rc why='' dev ko st cmd m f d orig auto_why='' legacy
	# ------------------------------------------------------ 1. the tree
	on_exit undo_b
	unload_all
	ko=$(modinfo -n loop 2>&1)
	if [ ! -f "$ko" ] || [ ! -d /etc/modprobe.d ] || [ ! -d "$MODDIR" ]; then
		why="stock loop's module '$ko', /etc/modprobe.d or $MODDIR is missing"
	elif ! { mkdir -p "$TREE/kernel/drivers/block" "$TREE/updates" "$ETCDIR" &&
		 cp "$ko" "$TREE/kernel/drivers/block/" && cp "$ALOOP_KO" "$TREE/updates/aloop.ko"; }; then
		why="cannot copy the modules to $TREE"
	else
		for f in modules.builtin modules.builtin.modinfo modules.order; do
			[ ! -f "$MODDIR/$f" ] || cp "$MODDIR/$f" "$TREE/"
		done
		out=$(depmod -b "$SCRATCH/modroot" "$K" 2>&1) || why="depmod -b: $out"
	fi
	orig=$(stat -L -c %d:%i "$MODDIR" /etc/modprobe.d 2>&1)
	if [ -z "$why" ] && mount --bind "$TREE" "$MODDIR" && BOUND_MOD=1 &&
	   mount --bind "$ETCDIR" /etc/modprobe.d && BOUND_ETC=1; then
		[ "$(modinfo -n aloop 2>&1)" = "$MODDIR/updates/aloop.ko" ] &&
			[ "$(modinfo -n loop 2>&1)" = "$MODDIR/kernel/drivers/block/${ko##*/}" ] &&
			[ -z "$(ls -A /etc/modprobe.d)" ] && state_is "$ST_NONE" ||
			why="modinfo -n aloop: $(modinfo -n aloop 2>&1), loop: $(modinfo -n loop 2>&1); /etc/modprobe.d: $(ls -A /etc/modprobe.d); $(state)"
	elif [ -z "$why" ]; then
		why="mount --bind over $MODDIR or /etc/modprobe.d failed"
	fi
	if [ -n "$why" ]; then
		fail "a modules tree (stock loop, the aloop.ko under test) bound over $MODDIR, an empty /etc/modprobe.d" "$why"
		skip_n $((NB - 2)) "no modules tree (above)" "auto-load path"
		return
	fi
	ok "a modules tree (stock loop's ${ko##*/}, the aloop.ko under test; depmod) bound over $MODDIR, an empty /etc/modprobe.d"

	# -------------------------------------------------- 2. without the rule
	out=$(modprobe loop 2>&1) && wait_for 5 state_is "$ST_STOCK" && [ ! -e /sys/block/loop0/aloop ] &&
		out+=$(modprobe -r loop 2>&1) && wait_for 5 state_is "$ST_NONE"
	result "no rule: modprobe loop loads stock loop, modprobe -r loop unloads it" $? "$out" "$(state)"

	# the control: does opening a node load a module in this guest?
	d="no rule, nothing loaded: losetup -f opens /dev/loop-control (10:237 from kmod static-nodes), the kernel's char-major-10-237 request loads stock loop"
	if ! have kmod; then
		skip "$d" "no kmod command (kmod static-nodes)"; auto_why="no kmod command"
	elif ! static_node loop-control; then
		skip "$d" "$SN_WHY"; auto_why=$SN_WHY
	elif ! unload_all; then
		fail "$d" "cannot unload first: $(state)"; auto_why="the drivers could not be unloaded"
	else
		m=$(klog_mark)
		out=$(losetup -f 2>&1)
		if [[ $out =~ ^/dev/loop[0-9]+$ ]] && state_is "$ST_STOCK"; then
			ok "$d"
		else
			auto_why="opening /dev/loop-control with nothing loaded loads no loop driver here (losetup -f: $out; $(state)): the kernel's module requests do not reach modprobe (/proc/sys/kernel/modprobe: $(cat /proc/sys/kernel/modprobe 2>&1))"
			skip "$d" "$auto_why"
			diag "$(klog_since "$m" | tail -n 5)"
		fi
	fi

	# --------------------------------------------------- 3. with the rule
	state_is "$ST_STOCK" || { unload_all; modprobe loop >/dev/null 2>&1; }
	out=$(aloopctl compat enable 2>&1)
	rc=$?
	cmd=$(switch_cmd "$out")
	st=$(aloopctl compat status 2>&1)
	[ $rc = 0 ] && cmp -s "$CONF" "$REPO/contrib/modprobe/aloop-loop-compat.conf" &&
		[ "$cmd" = "modprobe -r loop && modprobe loop" ] &&
		[[ $st == *"drop-in mode: enabled ($CONF)"* ]] && [[ $st == *"now: stock loop serves loop's users"* ]]
	result "aloopctl compat enable (stock loop loaded): writes contrib/modprobe/aloop-loop-compat.conf, prints 'modprobe -r loop && modprobe loop'" $? \
		"exit $rc: $out" "$st" "$(ls -l /etc/modprobe.d 2>&1)"

	m=$(klog_mark)
	out=$(sh -c "${cmd:-modprobe -r loop && modprobe loop}" 2>&1)
	rc=$?
	wait_for 5 state_is "$ST_ALOOP"
	[ $rc = 0 ] && state_is "$ST_ALOOP" && [ -d /sys/block/loop0/aloop ] &&
		[ "$(cat /sys/module/aloop/srcversion 2>&1)" = "$(modinfo -F srcversion "$ALOOP_KO" 2>&1)" ]
	result "the command it printed: aloop (the module under test) loaded with loop_compat=Y, stock loop unloaded" $? \
		"exit $rc: $out" "$(state)" \
		"srcversion: loaded $(cat /sys/module/aloop/srcversion 2>&1), $ALOOP_KO $(modinfo -F srcversion "$ALOOP_KO" 2>&1)" \
		"$(klog_since "$m" | tail -n 5)"

	truncate -s $((8 * MiB)) "$D/b.img"
	dev=$(losetup -f --show "$D/b.img" 2>&1)
	if [[ $dev =~ ^/dev/loop[0-9]+$ ]]; then
		wait_dev "$dev" && [ -d "/sys/block/$(devname "$dev")/aloop" ] &&
			[ "$(dut_attr "$dev" backing_file)" = "$D/b.img" ]
		rc=$?
		out=$(ls "/sys/block/$(devname "$dev")" 2>&1)
		losetup -d "$dev" 2>/dev/null
		wait_for 10 test ! -e "/sys/block/$(devname "$dev")/loop/backing_file"
	else
		rc=1 out=
	fi
	result "losetup -f --show FILE: a /dev/loopN whose aloop/ has the backing file" $rc "losetup: $dev" "$out"

	out=$(modprobe loop 2>&1)
	rc=$?
	[ $rc = 0 ] && state_is "$ST_ALOOP"
	result "modprobe loop again: nothing changes (aloop stays, no stock loop)" $? "exit $rc: $out" "$(state)"

	out=$(modprobe -r loop 2>&1)
	rc=$?
	wait_for 5 state_is "$ST_NONE"
	[ $rc = 0 ] && state_is "$ST_NONE"
	result "modprobe -r loop: unloads aloop, nothing serves loop's names" $? "exit $rc: $out" "$(state)"

	echo "options loop max_loop=4" >/etc/modprobe.d/loop-local.conf
	out=$(modprobe loop 2>&1)
	rc=$?
	[ $rc = 0 ] && state_is "$ST_ALOOP" && [ "$(cat /sys/module/aloop/parameters/max_aloop 2>&1)" = 4 ] &&
		wait_dev /dev/loop3 && [ ! -e /sys/block/loop4 ]
	result "'options loop max_loop=4': modprobe loop gives aloop with loop0..loop3" $? \
		"exit $rc: $out" "$(state)" "max_aloop $(cat /sys/module/aloop/parameters/max_aloop 2>&1)" \
		"$(ls -d /sys/block/loop* 2>&1)"
	rm -f /etc/modprobe.d/loop-local.conf
	modprobe -r loop >/dev/null 2>&1
	unload_all

	# -------------------------------------- 4. the kernel's requests, rule on
	d="rule on, nothing loaded: losetup -f opens /dev/loop-control, the kernel's char-major-10-237 request loads aloop"
	if [ -n "$auto_why" ]; then
		skip "$d" "$auto_why"
	elif ! unload_all; then
		fail "$d" "cannot unload first: $(state)"
	else
		m=$(klog_mark)
		out=$(losetup -f 2>&1)
		[[ $out =~ ^/dev/loop[0-9]+$ ]] && state_is "$ST_ALOOP" && [ -d /sys/block/loop0/aloop ]
		result "$d" $? "losetup -f: $out" "$(state)" "$(klog_since "$m" | tail -n 5)"
		modprobe -r loop >/dev/null 2>&1
	fi

	d="rule on, nothing loaded: opening /dev/loop9 (b 7:9), the kernel's block-major-7-9 request loads aloop, which creates loop9"
	legacy=$(grep -s 'BLOCK_LEGACY_AUTOLOAD' "/boot/config-$K")
	if [ -n "$auto_why" ]; then
		skip "$d" "$auto_why"
	elif [[ $legacy == "# CONFIG_BLOCK_LEGACY_AUTOLOAD is not set" ]]; then
		skip "$d" "CONFIG_BLOCK_LEGACY_AUTOLOAD is off: opening a block node loads nothing"
	elif ! unload_all; then
		fail "$d" "cannot unload first: $(state)"
	else
		[ -n "$legacy" ] || diag "no /boot/config-$K: CONFIG_BLOCK_LEGACY_AUTOLOAD taken for the default (y)"
		if [ ! -e /dev/loop9 ] && mknod -m 0660 /dev/loop9 b 7 9; then NODES+=(/dev/loop9); fi
		m=$(klog_mark)
		out=$(blockdev --getsize64 /dev/loop9 2>&1)
		rc=$?
		[ $rc = 0 ] && [ "$out" = 0 ] && state_is "$ST_ALOOP" && [ -d /sys/block/loop9/aloop ]
		result "$d" $? \
			"blockdev --getsize64: exit $rc: $out" "$(state)" "$(ls -d /sys/block/loop* 2>&1)" \
			"$(klog_since "$m" | tail -n 5)"
	fi

	# ----------------------------------------------------- 5. switch back
	state_is "$ST_ALOOP" || { unload_all; modprobe loop >/dev/null 2>&1; }
	out=$(aloopctl compat disable 2>&1)
	rc=$?
	cmd=$(switch_cmd "$out")
	m=$(klog_mark)
	out+=$'\n'$(sh -c "${cmd:-modprobe -r aloop && modprobe loop}" 2>&1)
	wait_for 5 state_is "$ST_STOCK"
	st=$(aloopctl compat status 2>&1)
	[ $rc = 0 ] && [ ! -e "$CONF" ] && [ "$cmd" = "modprobe -r aloop && modprobe loop" ] &&
		state_is "$ST_STOCK" && [ ! -e /sys/block/loop0/aloop ] && wait_dev /dev/loop0 &&
		[[ $st == *"drop-in mode: disabled"* ]] && [[ $st == *"now: stock loop serves loop's users"* ]]
	result "aloopctl compat disable and the command it printed ('modprobe -r aloop && modprobe loop'): stock loop again" $? \
		"exit $rc: $out" "$(state)" "$st" "$(klog_since "$m" | tail -n 5)"

	out=$(modprobe -r loop 2>&1)
	undo_b >"$SCRATCH/undo.out" 2>&1	# not in $(): it clears the flags
	out+=$(cat "$SCRATCH/undo.out")
	[ -z "$out" ] && state_is "$ST_NONE" && [ "$(stat -L -c %d:%i "$MODDIR" /etc/modprobe.d 2>&1)" = "$orig" ] &&
		[ "$(modinfo -n loop 2>&1)" = "$ko" ]
	result "modprobe -r loop: nothing loaded; the host's $MODDIR and /etc/modprobe.d back" $? \
		"$out" "$(state)" "modinfo -n loop: $(modinfo -n loop 2>&1)"
}

# klog_since MARK: the kernel log after the marker line (klog_mark)
klog_since() { dmesg 2>/dev/null | awk -v m="$1" 'f { print } index($0, m) { f = 1 }'; }

part_a
part_b
klog_clean_step "kernel log clean from the start of the file, no task in D state" "$MARK"
finish
