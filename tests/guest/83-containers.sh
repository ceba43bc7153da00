#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: major= (fixed block major, /proc/devices, device numbers, EBUSY/EINVAL), cgroup v2 device programs deny/allow aloop's major
# aloop-timeout: 120
# aloop-driver: aloop
# aloop-needs: stock-loop unloaded
# For containers (docs/containers.md): a runtime or a device cgroup
# allows block devices by major number, so aloop can be loaded with a
# fixed one.  The file loads the module itself ("unloaded"):
#  - without parameters the major is a free one (parameter reads 0);
#  - with major=240 (or the first free of 240-250 if another driver has
#    240) /proc/devices lists it, /dev/aloop0 and its sysfs dev carry it,
#    and data goes through the device; after rmmod it is gone again;
#  - a major that is taken (7: stock loop's, loaded for this file) fails
#    the load with EBUSY and a kernel line naming the major; one beyond
#    the block layer's 511 fails with EINVAL and says the range;
#  - cgroup v2 has no devices.allow file: a device cgroup is a BPF program
#    (BPF_PROG_TYPE_CGROUP_DEVICE) on the cgroup, as systemd's DeviceAllow=
#    and runc/crun attach.  alo-cgdev (tests/guest/cgdev.c, make tools)
#    attaches a hand-written one: in a cgroup that denies aloop's major,
#    opening /dev/aloop0 is EPERM (stock loop still opens); in one that
#    allows only aloop's major of the block devices, data goes through
#    /dev/aloop0 while another block device is EPERM.  SKIP (those two)
#    without cgroup v2 at /sys/fs/cgroup or when the kernel has no
#    cgroup-device BPF (alo-cgdev exits 2, with the reason).
. "$(dirname "$0")/lib.sh"

plan 10

why=$(need_env) || bail "$why"
CG=/sys/fs/cgroup
DENY=$CG/aloop-devcg-deny ALLOW=$CG/aloop-devcg-allow
on_exit "aloopctl detach-all"
on_exit "rmdir $DENY $ALLOW"
D=$(test_dir containers)

# blk_major NAME: the block major /proc/devices lists for NAME ("" if none)
blk_major() {
	awk -v n="$1" '/^Block devices:/ { b = 1; next } /^$/ { b = 0 }
		b && $2 == n { print $1 }' /proc/devices
}
blk_taken() {
	awk -v m="$1" '/^Block devices:/ { b = 1; next } /^$/ { b = 0 }
		b && $1 == m { f = 1 } END { exit !f }' /proc/devices
}
# klog_since MARK: the kernel log after the marker line
klog_since() { dmesg 2>/dev/null | awk -v m="$1" 'f { print } index($0, m) { f = 1 }'; }
# dev_major DEV: the major of a device node, decimal
dev_major() { local h; h=$(stat -c %t "$1" 2>/dev/null) && echo $((16#$h)); }

dut_unload_all

# ------------------------------------------------- default: a free major
out=$(mod_load) || bail "insmod without parameters: $out"
p=$(cat /sys/module/aloop/parameters/major 2>/dev/null)
m=$(blk_major aloop)
if [ "$p" = 0 ] && [ -n "$m" ] && [ "$m" != 0 ]; then
	ok "no major=: a free block major ($m in /proc/devices), parameter major reads 0"
else
	fail "no major=: a free block major, parameter major reads 0" "parameter: '$p', /proc/devices: '$m'"
fi
dut_unload_all || bail "rmmod aloop: $(mod_unload)"

# ------------------------------------------------------------ major=240
MAJ=
for n in 240 241 242 243 244 245 246 247 248 249 250; do
	blk_taken "$n" || { MAJ=$n; break; }
done
[ -n "$MAJ" ] || bail "block majors 240-250 are all taken: $(sed -n '/^Block/,$p' /proc/devices | tr '\n' ' ')"
[ "$MAJ" = 240 ] || diag "240 is taken here: major=$MAJ instead"
out=$(mod_load major="$MAJ") || bail "insmod major=$MAJ: $out"
p=$(cat /sys/module/aloop/parameters/major 2>/dev/null)
m=$(blk_major aloop)
if [ "$p" = "$MAJ" ] && [ "$m" = "$MAJ" ]; then
	ok "major=$MAJ: /proc/devices lists '$MAJ aloop', the parameter reads $MAJ"
else
	fail "major=$MAJ: /proc/devices lists '$MAJ aloop', the parameter reads $MAJ" \
		"parameter: '$p', /proc/devices: '$m'" "$(sed -n '/^Block/,$p' /proc/devices)"
fi

F=$D/img
mkrand "$F" $((8 * MiB))
DEV=$(attach_dev "$F") || bail "attach with major=$MAJ: $DEV"
sysdev=$(blk_attr "$DEV" dev)
nm=$(dev_major "$DEV")
if [ "$nm" = "$MAJ" ] && [ "$sysdev" = "$MAJ:0" ] && [ "$DEV" = /dev/aloop0 ]; then
	ok "attach: $DEV is block device $MAJ:0 (node and sysfs dev)"
else
	fail "attach: /dev/aloop0 is block device $MAJ:0 (node and sysfs dev)" \
		"device $DEV, node major '$nm', sysfs dev '$sysdev'"
fi

mkrand "$SCRATCH/pat" $((1 * MiB))
want=$(sha "$SCRATCH/pat")
write_dev "$SCRATCH/pat" "$DEV" $((2 * MiB))
got=$(drop_caches; sha_range "$F" $((2 * MiB)) $((1 * MiB)))
check_eq "data through $DEV (major $MAJ) lands in the backing file" "$want" "$got"

# ------------------------------------------- cgroup v2 device programs
cg_is2() { awk -v d="$CG" '$2 == d && $3 == "cgroup2" { f = 1 } END { exit !f }' /proc/mounts; }
cg_why=
if ! cg_is2; then
	if mountpoint -q "$CG"; then
		cg_why="$CG is a $(awk -v d="$CG" '$2 == d { print $3 }' /proc/mounts) mount, not cgroup2"
	elif ! mount -t cgroup2 none "$CG" 2>/dev/null; then
		cg_why="no cgroup v2: cannot mount cgroup2 on $CG"
	fi
fi
D_DENY="cgroup denying major $MAJ: opening $DEV is EPERM, another block device still opens"
D_ALLOW="cgroup allowing major $MAJ only: I/O through $DEV, another block device EPERM"
if [ -n "$cg_why" ]; then
	skip_n 2 "$cg_why" "$D_DENY" "$D_ALLOW"
elif ! have alo-cgdev; then
	fail "$D_DENY" "alo-cgdev is not built (make tools)"
	fail "$D_ALLOW" "alo-cgdev is not built (make tools)"
else
	rmdir "$DENY" "$ALLOW" 2>/dev/null
	mkdir "$DENY" "$ALLOW" || bail "mkdir $DENY $ALLOW"
	out=$(alo-cgdev "$DENY" deny "$MAJ" 2>&1 && alo-cgdev "$ALLOW" allow "$MAJ" 2>&1); rc=$?
	if [ $rc = 2 ]; then
		skip_n 2 "this kernel has no cgroup-device BPF: $out" "$D_DENY" "$D_ALLOW"
	elif [ $rc != 0 ]; then
		fail "$D_DENY" "alo-cgdev: $out"
		fail "$D_ALLOW" "alo-cgdev: $out"
	else
		# the control: another block major, stock loop's (or a disk)
		OTHER=
		for o in "$(stockdev 0)" "$RAWDEV" /dev/vda; do
			[ -b "$o" ] && [ "$(dev_major "$o")" != "$MAJ" ] && { OTHER=$o; break; }
		done
		d_aloop=$( (echo "$BASHPID" >"$DENY/cgroup.procs" || exit 125
			exec dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none) 2>&1); rc1=$?
		d_other=$( (echo "$BASHPID" >"$DENY/cgroup.procs" || exit 125
			exec dd if="$OTHER" of=/dev/null count=0 status=none) 2>&1); rc2=$?
		if [ "$rc1" = 1 ] && [[ $d_aloop == *"Operation not permitted"* ]] &&
		   [ -n "$OTHER" ] && [ "$rc2" = 0 ]; then
			ok "cgroup denying major $MAJ: opening $DEV is EPERM, $OTHER (major $(dev_major "$OTHER")) still opens"
		else
			fail "$D_DENY" \
				"$DEV: exit $rc1: $d_aloop" "${OTHER:-no other block device}: exit $rc2: $d_other"
		fi

		mkrand "$SCRATCH/pat2" $((1 * MiB))
		want=$(sha "$SCRATCH/pat2")
		a_io=$( (echo "$BASHPID" >"$ALLOW/cgroup.procs" || exit 125
			write_dev "$SCRATCH/pat2" "$DEV" && sha_dev "$DEV" $((1 * MiB))) 2>&1); rc1=$?
		a_other=$( (echo "$BASHPID" >"$ALLOW/cgroup.procs" || exit 125
			exec dd if="$OTHER" of=/dev/null count=0 status=none) 2>&1); rc2=$?
		if [ "$rc1" = 0 ] && [ "$a_io" = "$want" ] && [ "$rc2" = 1 ] &&
		   [[ $a_other == *"Operation not permitted"* ]]; then
			ok "cgroup allowing major $MAJ only: data written and read back through $DEV; $OTHER is EPERM there"
		else
			fail "$D_ALLOW" \
				"$DEV: exit $rc1: ${a_io:0:300} (want $want)" "${OTHER:-no other block device}: exit $rc2: $a_other"
		fi
	fi
	rmdir "$DENY" "$ALLOW" 2>/dev/null
fi

aloopctl detach "$DEV" >/dev/null 2>&1
dut_unload_all
if ! dut_loaded && [ -z "$(blk_major aloop)" ] && ! blk_taken "$MAJ"; then
	ok "rmmod: major $MAJ is free again (/proc/devices)"
else
	fail "rmmod: major $MAJ is free again" "loaded: $(dut_loaded && echo yes || echo no)" \
		"$(sed -n '/^Block/,$p' /proc/devices)"
fi

# ------------------------------------------------ a major that is taken
stock_load >/dev/null 2>&1
lm=$(blk_major loop)
if [ "$lm" != 7 ]; then
	skip_n 2 "stock loop does not hold block major 7 here (/proc/devices: '$lm')" \
		"insmod major=7 while stock loop has it: EBUSY" "the kernel log names major 7 and EBUSY"
else
	mark=$(klog_mark)
	out=$(mod_load major=7); rc=$?
	if [ "$rc" != 0 ] && [[ $out == *"Device or resource busy"* ]] && ! dut_loaded; then
		ok "insmod major=7 while stock loop has it: fails with EBUSY, aloop not loaded"
	else
		fail "insmod major=7 while stock loop has it: fails with EBUSY" "exit $rc: $out" \
			"loaded: $(dut_loaded && echo yes || echo no)"
	fi
	log=$(klog_since "$mark")
	grep -E -q 'aloop: cannot register block major 7 \(major=\): (-EBUSY|-16): another driver has it, see /proc/devices' <<<"$log"
	result "the kernel log says: aloop: cannot register block major 7 (major=): -EBUSY: another driver has it" $? "$log"
fi
dut_unload_all

# ------------------------------------------------ a major out of range
mark=$(klog_mark)
out=$(mod_load major=512); rc=$?
log=$(klog_since "$mark")
if [ "$rc" != 0 ] && ! dut_loaded &&
   grep -q 'aloop: major must be 0 (a free one) or 1\.\.511, not 512' <<<"$log"; then
	ok "insmod major=512: refused (EINVAL), the kernel log gives the range 1..511"
else
	fail "insmod major=512: refused (EINVAL), the kernel log gives the range" "exit $rc: $out" "$log"
fi
dut_unload_all

finish
