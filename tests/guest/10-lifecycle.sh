#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: insmod/rmmod next to a busy stock loop, LOOP_CTL_ADD/REMOVE/GET_FREE, rmmod refused while bound or open
# aloop-timeout: 600
# aloop-driver: any
# aloop-needs: stock-loop unloaded
# Module lifecycle: insmod/rmmod next to a busy stock loop, the control
# device (LOOP_CTL_ADD/REMOVE/GET_FREE compared with stock loop), rmmod
# refusal while a device is bound or open, load/unload cycles, and that
# nothing named aloop is left behind.
. "$(dirname "$0")/lib.sh"

plan 30

why=$(need_env) || bail "$why"
stock_load || bail "cannot load the stock loop module"
dut_unload_all
D=$(test_dir lifecycle)

# ------------------------------------------------- next to stock loop
SFILE=$D/stock.img
mkrand "$SFILE" $((8 * MiB))
SSUM=$(sha "$SFILE")
SDEV=
if [ "$DUT" = loop ]; then
	skip "stock loop bound and held open while $DUT is loaded" "DUT=loop: same module"
	skip "insmod $DUT while stock loop is in use" "DUT=loop: same module"
	mod_load >/dev/null
else
	SDEV=$(losetup -f --show "$SFILE" 2>&1)
	if [ -b "$SDEV" ] && exec 8<"$SDEV"; then
		on_exit "exec 8<&-; losetup -d $SDEV"
		ok "stock loop bound ($SDEV) and held open"
	else
		fail "stock loop bound and held open" "$SDEV"
		SDEV=
	fi
	out=$(mod_load)
	result "insmod aloop while stock loop is in use" $? "$out"
fi
dut_loaded || bail "$DUT is not loaded"

maj=$(awk '/^Block devices:/ {b=1; next} /^Character devices:/ {b=0} b && $2 == "'"$DUT"'" {print $1}' /proc/devices)
lmaj=$(awk '/^Block devices:/ {b=1; next} b && $2 == "loop" {print $1}' /proc/devices)
if [ -n "$maj" ] && { [ "$DUT" = loop ] || [ "$maj" != "$lmaj" ]; }; then
	ok "/proc/devices lists block major $maj for $DUT (loop has $lmaj)"
else
	fail "/proc/devices lists a block major for $DUT of its own" "$(cat /proc/devices)"
fi

if [ -c "$DUT_CTL" ] && [ -e "/sys/class/misc/$DUT-control" ]; then
	ok "$DUT_CTL is a misc character device"
else
	fail "$DUT_CTL is a misc character device" "$(ls -ld /dev/*loop* 2>&1)"
fi

if [ "$DUT" = loop ]; then
	skip "default max_aloop=0: no devices at load" "DUT=loop creates 8"
else
	n=$(compgen -G '/sys/block/aloop[0-9]*' | wc -l)
	check_eq "default max_aloop=0: no aloop devices right after insmod" 0 "$n"
fi

# ----------------------------------------------- control device ioctls
# DUT indices 40.., stock indices 240.. (never clash, even with DUT=loop)
o=$(ioc ctl-add "$DUT_CTL" 40); os=$(ioc ctl-add "$STOCK_CTL" 240)
check_eq "LOOP_CTL_ADD 40 returns the index (stock: '$os')" "OK 40" "$o"

if wait_dev "$(dutdev 40)" && [ -d "/sys/block/${DUT}40" ] && [ "$(dev_state "$(dutdev 40)")" = unbound ]; then
	ok "LOOP_CTL_ADD: /dev/${DUT}40 appears (devtmpfs), unbound"
else
	fail "LOOP_CTL_ADD: /dev/${DUT}40 appears (devtmpfs), unbound" "state: $(dev_state "$(dutdev 40)")"
fi

expect_like_stock "LOOP_CTL_ADD of a taken index" EEXIST "ctl-add $DUT_CTL 40" "ctl-add $STOCK_CTL 240"
udev_settle
expect_like_stock "LOOP_CTL_REMOVE of an unbound, closed device" OK "ctl-remove $DUT_CTL 40" "ctl-remove $STOCK_CTL 240"
if wait_gone "$(dutdev 40)" && [ ! -e "/sys/block/${DUT}40" ]; then
	ok "LOOP_CTL_REMOVE: /dev/${DUT}40 and /sys/block/${DUT}40 are gone"
else
	fail "LOOP_CTL_REMOVE: /dev/${DUT}40 and /sys/block/${DUT}40 are gone" "$(ls -l "$(dutdev 40)" 2>&1)"
fi
expect_like_stock "LOOP_CTL_REMOVE of a removed index" ENODEV "ctl-remove $DUT_CTL 40" "ctl-remove $STOCK_CTL 240"
expect_like_stock "LOOP_CTL_REMOVE of a never created index" ENODEV "ctl-remove $DUT_CTL 77" "ctl-remove $STOCK_CTL 277"

# REMOVE of an open (unbound) device
ioc ctl-add "$DUT_CTL" 41 >/dev/null; ioc ctl-add "$STOCK_CTL" 241 >/dev/null
wait_dev "$(dutdev 41)"; wait_dev "$(stockdev 241)"
exec 5<"$(dutdev 41)" 6<"$(stockdev 241)"
expect_like_stock "LOOP_CTL_REMOVE of an open device" EBUSY "ctl-remove $DUT_CTL 41" "ctl-remove $STOCK_CTL 241"
exec 5<&- 6<&-
udev_settle
r1=$(ioc1 ctl-remove "$DUT_CTL" 41); r2=$(ioc1 ctl-remove "$STOCK_CTL" 241)
check_eq "LOOP_CTL_REMOVE succeeds once the device is closed (stock: $r2)" OK "$r1"

# REMOVE of a bound device
BFILE=$D/bound.img
mkrand "$BFILE" $((4 * MiB))
ioc ctl-add "$DUT_CTL" 42 >/dev/null; ioc ctl-add "$STOCK_CTL" 242 >/dev/null
wait_dev "$(dutdev 42)"; wait_dev "$(stockdev 242)"
c1=$(ioc1 configure "$(dutdev 42)" "$BFILE"); c2=$(ioc1 configure "$(stockdev 242)" "$BFILE")
if [ "$c1 $c2" = "OK OK" ]; then
	expect_like_stock "LOOP_CTL_REMOVE of a bound device" EBUSY "ctl-remove $DUT_CTL 42" "ctl-remove $STOCK_CTL 242"
else
	fail "LOOP_CTL_REMOVE of a bound device" "could not bind: $DUT $c1, stock $c2"
fi
st=$(dev_state "$(dutdev 42)")
ioc clr-fd "$(dutdev 42)" >/dev/null; ioc clr-fd "$(stockdev 242)" >/dev/null
# The clear emits a change uevent and udev's probe opens the device for a moment; REMOVE of an
# open device is EBUSY on both drivers (CI, 6.12: one EBUSY here).
r1=$(ctl_remove_settled "$DUT_CTL" 42); r2=$(ctl_remove_settled "$STOCK_CTL" 242)
if [ "${st%% *}" = bound ] && [ "$r1" = OK ]; then
	ok "bound device survives the refused REMOVE; REMOVE works after LOOP_CLR_FD"
else
	fail "bound device survives the refused REMOVE; REMOVE works after LOOP_CLR_FD" "state after refused remove: $st" "remove after clear: $r1 (stock: $r2)"
fi

# GET_FREE: returns an unbound device, the same one until it is bound
g1=$(ioc ctl-get-free "$DUT_CTL"); n1=${g1#OK }
g2=$(ioc ctl-get-free "$DUT_CTL"); n2=${g2#OK }
if [ "${g1%% *}" = OK ] && [ "$n1" = "$n2" ] && wait_dev "$(dutdev "$n1")" &&
   [ "$(dev_state "$(dutdev "$n1")")" = unbound ]; then
	ok "LOOP_CTL_GET_FREE returns an existing unbound device, twice the same ($n1)"
else
	fail "LOOP_CTL_GET_FREE returns an existing unbound device, twice the same" "first: $g1, second: $g2"
fi
c1=$(ioc1 configure "$(dutdev "$n1")" "$BFILE")
g3=$(ioc ctl-get-free "$DUT_CTL"); n3=${g3#OK }
if [ "$c1" = OK ] && [ "${g3%% *}" = OK ] && [ "$n3" != "$n1" ] && wait_dev "$(dutdev "$n3")" &&
   [ "$(dev_state "$(dutdev "$n3")")" = unbound ]; then
	ok "LOOP_CTL_GET_FREE skips a bound device (got $n3 after binding $n1)"
else
	fail "LOOP_CTL_GET_FREE skips a bound device" "bind $n1: $c1; then GET_FREE: $g3"
fi
ioc clr-fd "$(dutdev "$n1")" >/dev/null
ioc ctl-remove "$DUT_CTL" "$n1" >/dev/null; ioc ctl-remove "$DUT_CTL" "$n3" >/dev/null

expect_like_stock "LOOP_CTL_REMOVE with a negative index" EINVAL "ctl-remove $DUT_CTL -1" "ctl-remove $STOCK_CTL -1"
o=$(ioc ctl-add "$DUT_CTL" -1); os=$(ioc ctl-add "$STOCK_CTL" -1)
if [ "${o%% *}" = OK ] && [ "${os%% *}" = OK ] && [ "${o#OK }" -ge 0 ] 2>/dev/null; then
	ok "LOOP_CTL_ADD -1 allocates a free index like stock loop ($o; stock $os)"
else
	fail "LOOP_CTL_ADD -1 allocates a free index like stock loop" "$DUT: $o, stock: $os"
fi
[ "${o%% *}" != OK ] || ioc ctl-remove "$DUT_CTL" "${o#OK }" >/dev/null
[ "${os%% *}" != OK ] || ioc ctl-remove "$STOCK_CTL" "${os#OK }" >/dev/null
expect_like_stock "unknown ioctl on the control device" "*" "ctl-raw $DUT_CTL 0x4C8F 0" "ctl-raw $STOCK_CTL 0x4C8F 0"

# ------------------------------------------------------ rmmod refusal
ioc ctl-add "$DUT_CTL" 43 >/dev/null; wait_dev "$(dutdev 43)"
c1=$(ioc1 configure "$(dutdev 43)" "$BFILE")
out=$(mod_unload); rc=$?
if [ "$c1" = OK ] && [ $rc != 0 ] && dut_loaded && [ "$(dev_state "$(dutdev 43)")" != unbound ]; then
	ok "rmmod refused while a device is bound; device still bound"
else
	fail "rmmod refused while a device is bound; device still bound" "bind: $c1, rmmod exit $rc: $out" "state: $(dev_state "$(dutdev 43)" 2>&1)"
fi
ioc clr-fd "$(dutdev 43)" >/dev/null
if exec 5<"$(dutdev 43)"; then
	out=$(mod_unload); rc=$?
	exec 5<&-
	if [ $rc != 0 ] && dut_loaded; then
		ok "rmmod refused while an unbound device is open"
	else
		fail "rmmod refused while an unbound device is open" "rmmod exit $rc: $out"
	fi
else
	fail "rmmod refused while an unbound device is open" "cannot open $(dutdev 43)"
fi
ioc ctl-add "$DUT_CTL" 44 >/dev/null	# an extra, unbound, closed device
sleep 0.2
out=$(mod_unload); rc=$?
if [ $rc = 0 ] && ! dut_loaded; then
	ok "rmmod succeeds once devices are detached and closed"
else
	fail "rmmod succeeds once devices are detached and closed" "exit $rc: $out"
fi

leftovers() {	# anything named $DUT left behind after rmmod
	local l='' c n
	grep -qw "$DUT" /proc/devices && l="$l /proc/devices"
	ls -d /sys/block/"$DUT"* >/dev/null 2>&1 && l="$l $(echo /sys/block/"$DUT"*)"
	ls -d /dev/"$DUT"[0-9]* "/dev/$DUT-control" >/dev/null 2>&1 && l="$l $(compgen -G "/dev/${DUT}[0-9]*" | tr '\n' ' ')$(compgen -G "/dev/$DUT-control")"
	[ ! -e "/sys/class/misc/$DUT-control" ] || l="$l /sys/class/misc/$DUT-control"
	[ ! -e "/sys/module/$DUT" ] || l="$l /sys/module/$DUT"
	for c in /proc/[0-9]*/comm; do
		IFS= read -r n 2>/dev/null <"$c" || continue
		case $n in "$DUT"[0-9]*) l="$l kthread:$n" ;; esac
	done
	echo "$l"
}
wait_for 5 test ! -e "/dev/$DUT-control"
l=$(leftovers)
check_eq "after rmmod nothing named $DUT remains (/proc/devices, /sys/block, /dev, /sys/module, kthreads)" "" "$l"

if [ -n "$SDEV" ]; then
	s=$(sha_dev "$SDEV")
	check_eq "stock loop device still reads its data after aloop came and went" "$SSUM" "$s"
else
	skip "stock loop device still reads its data after aloop came and went" "no stock device (DUT=loop or setup failed)"
fi

# ------------------------------------------------------------ cycles
CFILE=$D/cycle.img
mkrand "$CFILE" $((4 * MiB))
cycle() {	# N PARAMS...: load with PARAMS expecting N devices, use one, unload
	local want=$1 n dev data sum got out; shift
	out=$(mod_load "$@") || { echo "insmod $*: $out"; return 1; }
	for ((n = 0; n < want; n++)); do
		wait_dev "$(dutdev $n)" || { echo "$(dutdev $n) missing after insmod $*"; return 1; }
	done
	n=$(compgen -G "/sys/block/${DUT}[0-9]*" | wc -l)
	[ "$DUT" = loop ] || [ "$n" = "$want" ] || { echo "$n devices after insmod $*, want $want"; return 1; }
	dev=$(dutdev $((want - 1)))
	if have_aloopctl; then
		out=$(aloopctl attach --device "$dev" "$CFILE" 2>&1) || { echo "attach: $out"; return 1; }
		[ "$out" = "$dev" ] || { echo "attach printed '$out', want $dev"; return 1; }
	else
		out=$(ioc1 configure "$dev" "$CFILE"); [ "$out" = OK ] || { echo "configure: $out"; return 1; }
	fi
	data=$SCRATCH/cycle.data; mkrand "$data" $MiB; sum=$(sha "$data")
	write_dev "$data" "$dev" $MiB || { echo "write failed"; return 1; }
	got=$(sha_dev "$dev" $((2 * MiB)) )
	[ "$(sha_range "$CFILE" $MiB $MiB)" = "$sum" ] || { echo "data not in the backing file"; return 1; }
	[ "$got" = "$(sha_range "$CFILE" 0 $((2 * MiB)))" ] || { echo "device read differs from the file"; return 1; }
	out=$(ioc1 clr-fd "$dev"); [ "$out" = OK ] || { echo "clr-fd: $out"; return 1; }
	sleep 0.2
	out=$(mod_unload) || { echo "rmmod: $out"; return 1; }
	wait_for 5 test ! -e "/dev/$DUT-control"
	out=$(leftovers); [ -z "$out" ] || { echo "leftovers: $out"; return 1; }
	return 0
}
i=0
for params in "max_aloop=2" "max_aloop=4 queue_depth=64" "max_aloop=1 max_part=4"; do
	i=$((i + 1))
	if [ "$DUT" = loop ]; then
		want=${params#max_aloop=}; want=${want%% *}
		[ "$want" -ge 1 ] || want=1
	else
		want=${params#max_aloop=}; want=${want%% *}
	fi
	# shellcheck disable=SC2086
	out=$(cycle "$want" $params 2>&1)
	result "load/use/unload cycle $i ($params)" $? "$out"
	dut_unload_all
done

if [ "$DUT" = loop ]; then
	skip "module parameters visible in /sys/module/aloop/parameters" "DUT=loop"
else
	mod_load max_aloop=3 max_part=2 queue_depth=32 >/dev/null
	p=/sys/module/aloop/parameters
	if [ -d $p ]; then
		got=$(for x in max_aloop max_part queue_depth; do printf '%s=%s ' $x "$(cat $p/$x 2>/dev/null)"; done)
		check_eq "module parameters visible in $p" "max_aloop=3 max_part=2 queue_depth=32 " "$got"
	else
		skip "module parameters visible in $p" "parameters are not exported in sysfs"
	fi
	mod_unload >/dev/null
fi

finish
