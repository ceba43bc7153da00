#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: every bad ioctl input: errno equal to stock loop's, device state and backing file unchanged
# aloop-timeout: 600
# aloop-driver: any
# aloop-needs: stock-loop
# Bad ioctl input: every case is run against an aloop device and a stock
# loop device in the same state on the same kernel; the errno must be the
# same (and, where the brief states one, the expected value - when stock
# loop itself differs from that expectation stock loop wins, with a note).
# Each case also checks that the device state (unbound, or bound to the
# same file/offset/sizelimit) and the backing file are untouched.
# Finally: an unprivileged user cannot use the control device or devices.
. "$(dirname "$0")/lib.sh"

plan 46

D=$(test_dir ioctl)
chmod 755 "$D"

# U/SU: unbound devices; B/SB: bound devices (aloop / stock)
U=$(dutdev 3) SU=$(stockdev 203) B=$(dutdev 4) SB=$(stockdev 204)
for x in "$DUT_CTL 3" "$DUT_CTL 4" "$STOCK_CTL 203" "$STOCK_CTL 204"; do
	# shellcheck disable=SC2086
	ioc ctl-add $x >/dev/null
done
for x in $U $SU $B $SB; do wait_dev "$x" || bail "$x did not appear"; done
on_exit "ioc clr-fd $B; ioc clr-fd $SB; ioc clr-fd $U; ioc clr-fd $SU"

F=$D/file.img;  mkrand "$F" $((4 * MiB));  FSUM=$(sha "$F")
FB=$D/bound.img; mkrand "$FB" $((4 * MiB)); FBSUM=$(sha "$FB")
SFB=$D/sbound.img; cp "$FB" "$SFB"
F2=$D/other.img; mkrand "$F2" $((2 * MiB))
mkdir -p "$D/dir"
mkfifo "$D/fifo"

[ "$(ioc1 configure "$B" "$FB")" = OK ] || bail "cannot bind $B"
[ "$(ioc1 configure "$SB" "$SFB")" = OK ] || bail "cannot bind $SB"
BSTATE=$(dev_state "$B")

# case_u DESC EXPECTED HELPER-ARGS (with @DEV@): on unbound U and SU
case_u() {
	local d=$1 exp=$2 p=() st sst sum; shift 2
	like_stock "$exp" "${*//@DEV@/$U}" "${*//@DEV@/$SU}" || p+=("$LS_MSG")
	st=$(dev_state "$U"); sst=$(dev_state "$SU"); sum=$(sha "$F")
	if [ "$LS_DUT" = OK ] && [ "$LS_STOCK" = OK ]; then
		# This kernel accepts it (both drivers do, e.g. block sizes
		# above PAGE_SIZE since 6.15): the same binding as stock's.
		[ "$st" = "$sst" ] && [ "$st" != unbound ] ||
			p+=("$DUT: '$st', stock loop: '$sst'")
		ioc clr-fd "$U" >/dev/null; ioc clr-fd "$SU" >/dev/null
	else
		[ "$st" = unbound ] || { p+=("$DUT device is no longer unbound: $st"); ioc clr-fd "$U" >/dev/null; }
		[ "$sst" = unbound ] || { p+=("(stock device got bound: $sst)"); ioc clr-fd "$SU" >/dev/null; }
	fi
	[ "$sum" = "$FSUM" ] || p+=("backing file $F changed")
	if [ ${#p[@]} = 0 ]; then
		if [ "$LS_DUT" = OK ]; then
			ok "unbound: $d -> OK (stock loop OK, same binding), file untouched"
		else
			ok "unbound: $d -> $LS_DUT (stock loop $LS_STOCK), device and file untouched"
		fi
		[ -z "$LS_NOTE" ] || diag "$LS_NOTE"
	else
		fail "unbound: $d" "${p[@]}"
	fi
}

# case_b DESC EXPECTED HELPER-ARGS (with @DEV@): on bound B and SB
case_b() {
	local d=$1 exp=$2 p=() st sum; shift 2
	like_stock "$exp" "${*//@DEV@/$B}" "${*//@DEV@/$SB}" || p+=("$LS_MSG")
	st=$(dev_state "$B"); sum=$(sha "$FB")
	[ "$st" = "$BSTATE" ] || p+=("$DUT device state changed: '$BSTATE' -> '$st'")
	[ "$sum" = "$FBSUM" ] || p+=("backing file $FB changed")
	[ "$(sha "$F")" = "$FSUM" ] || p+=("file $F changed")
	if [ ${#p[@]} = 0 ]; then
		ok "bound: $d -> $LS_DUT (stock loop $LS_STOCK), device and files untouched"
		[ -z "$LS_NOTE" ] || diag "$LS_NOTE"
	else
		fail "bound: $d" "${p[@]}"
	fi
}

# ------------------------------------------------------------ unbound
case_u "LOOP_CONFIGURE unknown flag 0x100" EINVAL configure @DEV@ "$F" --flags 0x100
case_u "LOOP_CONFIGURE unknown flag 0x80000000" EINVAL configure @DEV@ "$F" --flags 0x80000000
case_u "LOOP_CONFIGURE flag 2 (old LO_FLAGS_USE_AOPS, not settable)" EINVAL configure @DEV@ "$F" --flags 2
case_u "LOOP_CONFIGURE block size 1000 (not a power of two)" EINVAL configure @DEV@ "$F" --bs 1000
case_u "LOOP_CONFIGURE block size 256 (below 512)" EINVAL configure @DEV@ "$F" --bs 256
case_u "LOOP_CONFIGURE block size 8192 (above 4096)" EINVAL configure @DEV@ "$F" --bs 8192
case_u "LOOP_CONFIGURE block size 513" EINVAL configure @DEV@ "$F" --bs 513
case_u "LOOP_CONFIGURE backing fd is a directory" EINVAL configure-dir @DEV@ "$D/dir"
case_u "LOOP_CONFIGURE backing fd is a character device (/dev/null)" EINVAL configure @DEV@ /dev/null
case_u "LOOP_CONFIGURE backing fd is a FIFO" EINVAL configure @DEV@ "$D/fifo"
case_u "LOOP_CONFIGURE backing fd is the device itself" EINVAL configure-self @DEV@
case_u "LOOP_CONFIGURE backing fd -1" EBADF configure-badfd @DEV@ -1
case_u "LOOP_CONFIGURE backing fd closed" EBADF configure-badfd @DEV@ closed
case_u "LOOP_CONFIGURE backing fd opened O_PATH" EBADF configure @DEV@ "$F" --open-path
case_u "LOOP_SET_FD backing fd is the device itself" EINVAL set-fd-self @DEV@
case_u "LOOP_SET_FD backing fd -1" EBADF set-fd-badfd @DEV@
case_u "LOOP_SET_FD backing fd is a directory" EINVAL set-fd @DEV@ "$D/dir"
case_u "LOOP_GET_STATUS64" ENXIO get-status @DEV@
case_u "LOOP_GET_STATUS (old)" ENXIO get-status-old @DEV@
case_u "LOOP_SET_STATUS64" ENXIO set-status @DEV@ --offset 4096
case_u "LOOP_CLR_FD" ENXIO clr-fd @DEV@
case_u "LOOP_SET_CAPACITY" ENXIO set-capacity @DEV@
case_u "LOOP_SET_BLOCK_SIZE 4096" ENXIO set-bs @DEV@ 4096
case_u "LOOP_SET_DIRECT_IO 1" ENXIO set-dio @DEV@ 1
case_u "LOOP_CHANGE_FD" ENXIO change-fd @DEV@ "$F"
case_u "unknown loop-magic ioctl 0x4C7F" "*" dev-raw @DEV@ 0x4C7F 0

# -------------------------------------------------------------- bound
case_b "LOOP_CONFIGURE on a bound device" EBUSY configure @DEV@ "$F"
case_b "LOOP_SET_FD on a bound device" EBUSY set-fd @DEV@ "$F"
case_b "LOOP_CONFIGURE itself on a bound device" EBUSY configure-self @DEV@
case_b "LOOP_CONFIGURE bad fd on a bound device" EBADF configure-badfd @DEV@ -1
case_b "LOOP_CONFIGURE bad flags on a bound device" EBUSY configure @DEV@ "$F" --flags 0x100
case_b "LOOP_SET_BLOCK_SIZE 1000" EINVAL set-bs @DEV@ 1000
case_b "LOOP_SET_BLOCK_SIZE 256" EINVAL set-bs @DEV@ 256
case_b "LOOP_SET_BLOCK_SIZE 8192" EINVAL set-bs @DEV@ 8192
case_b "LOOP_SET_STATUS64 with an unknown flag 0x100 (others kept)" "*" set-status-keep @DEV@ --flags 0x100
case_b "LOOP_CHANGE_FD on a read-write device" EINVAL change-fd @DEV@ "$F"

s1=$(sha_dev "$B"); s2=$(sha_dev "$SB")
if [ "$s1" = "$FBSUM" ] && [ "$s2" = "$FBSUM" ]; then
	ok "bound devices still read their backing files after all the bad calls"
else
	fail "bound devices still read their backing files after all the bad calls" "$DUT: $s1, stock: $s2, file: $FBSUM"
fi

# --------------------------------------------------------- privileges
UF=$D/user.img; cp "$F" "$UF"; chmod 666 "$UF"
expect_like_stock "uid 65534 opens the control device" EACCES \
	"open-ctl-as-user $DUT_CTL" "open-ctl-as-user $STOCK_CTL"
expect_like_stock "uid 65534 opens the device read-only" EACCES \
	"--dev-ro --open-as-user open $U" "--dev-ro --open-as-user open $SU"
case_u "uid 65534 configures a device (open as that user)" EACCES configure-as-user @DEV@ "$UF"
case_b "uid 65534 LOOP_SET_STATUS64 on a read-only fd" EPERM --as-user --dev-ro set-status-keep @DEV@ --offset 512
case_b "uid 65534 LOOP_SET_BLOCK_SIZE on a read-only fd" EPERM --as-user --dev-ro set-bs @DEV@ 4096
case_b "uid 65534 LOOP_SET_CAPACITY on a read-only fd" EPERM --as-user --dev-ro set-capacity @DEV@
case_b "uid 65534 LOOP_SET_DIRECT_IO on a read-only fd" EPERM --as-user --dev-ro set-dio @DEV@ 1

# Privilege drop after opening: must behave exactly like stock loop
o1=$(ioc --as-user ctl-add "$DUT_CTL" 45); o2=$(ioc --as-user ctl-add "$STOCK_CTL" 245)
[ "${o1%% *}" != OK ] || ioc ctl-remove "$DUT_CTL" 45 >/dev/null
[ "${o2%% *}" != OK ] || ioc ctl-remove "$STOCK_CTL" 245 >/dev/null
check_eq "LOOP_CTL_ADD on a control fd opened by root, then uid 65534: like stock ($o2)" \
	"${o2/245/45}" "$o1"

# aloopctl run as uid 65534
if ! have_aloopctl; then
	skip "aloopctl attach as uid 65534 fails cleanly" "aloopctl not built"
elif ! have setpriv; then
	skip "aloopctl attach as uid 65534 fails cleanly" "no setpriv"
else
	if [ "$DUT" = loop ]; then
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c "$(declare -f aloopctl ioc ioc1_of to_bytes wait_dev wait_for); ALO_IOCTL=$ALO_IOCTL STOCK_CTL=$STOCK_CTL; aloopctl attach $UF" 2>"$SCRATCH/err"); rc=$?
	else
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- aloopctl attach "$UF" 2>"$SCRATCH/err"); rc=$?
	fi
	err=$(cat "$SCRATCH/err"); nl=$(grep -c . "$SCRATCH/err")
	bound=$(grep -l "^$UF\$" /sys/block/"$DUT"*/"$DUT"/backing_file 2>/dev/null)
	if [ $rc = 1 ] && [ -z "$out" ] && [ "$nl" = 1 ] && [[ $err == "aloopctl: "* ]] && [ -z "$bound" ]; then
		ok "aloopctl attach as uid 65534 fails: exit 1, one line: $err"
	else
		fail "aloopctl attach as uid 65534 fails cleanly" "exit $rc, stdout '$out'" "stderr: $err" "bound: $bound"
	fi
fi

finish
