#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: >= 100000 random ioctls as root and uid 65534, privilege checks, no kernel bytes in padding
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: stock-loop
# Stress: ioctl fuzz (build/tools/alo-fuzz, tests/guest/ioctl_fuzz.c).
#  - Privileges: uid 65534 with a read-only fd (opened by root, then
#    privileges dropped) tries every state-changing call; the answer must
#    be stock loop's for the same call (EPERM where stock requires write
#    access or CAP_SYS_ADMIN).
#  - Leaks: LOOP_GET_STATUS64, LOOP_GET_STATUS, ALOOP_GET_INFO and
#    ALOOP_GET_FEATURES into buffers pre-filled with 0xA5: padding,
#    reserved fields and the bytes after strings come back zero.
#  - Fuzz: >= 100000 random ioctls on aloop (loop's and aloop's numbers,
#    random commands, sizes, bad pointers, garbage structures) on the
#    control device and on bound and unbound devices, seeded and bounded
#    in time, as root and as uid 65534 (read-only fds); the same fuzz
#    (65000 calls, without aloop's commands) against stock loop as the
#    control.  Afterwards
#    every device detaches, the module unloads, the kernel log is clean.
. "$(dirname "$0")/lib.sh"

plan 20

D=$(test_dir stress-fuzz)
chmod 755 "$D"
SEED=${ALOOP_FUZZ_SEED:-$(date +%s)}
diag "fuzz seed $SEED (ALOOP_FUZZ_SEED=$SEED reproduces the calls)"

ALO_FUZZ=$REPO/build/tools/alo-fuzz
if [ ! -x "$ALO_FUZZ" ] && have gcc; then
	ALO_FUZZ=$SCRATCH/alo-fuzz
	gcc -O2 -std=gnu11 -Wall -Wextra -I"$REPO/include/uapi" -o "$ALO_FUZZ" \
		"$REPO/tests/guest/ioctl_fuzz.c" >"$SCRATCH/fuzz-build.log" 2>&1 ||
		bail "cannot build the fuzzer: $(tail -n 5 "$SCRATCH/fuzz-build.log")"
fi
[ -x "$ALO_FUZZ" ] || bail "no fuzzer: $REPO/build/tools/alo-fuzz is not built and there is no gcc"

fuzz_cleanup() {
	local p
	for p in /sys/block/loop2[5-9][0-9]; do
		[ -e "$p" ] || continue
		timeout 10 "$ALO_IOCTL" clr-fd "/dev/${p##*/}" >/dev/null 2>&1
		timeout 10 "$ALO_IOCTL" ctl-remove "$STOCK_CTL" "${p##*/loop}" >/dev/null 2>&1
	done
}
on_exit fuzz_cleanup

F1=$D/f1.img F2=$D/f2.img F3=$D/f3.img
mkrand "$F1" $((8 * MiB)); cp "$F1" "$F2"; mkrand "$F3" $((4 * MiB))
_unbound() { [ "$(dev_state "$1")" = unbound ]; }
add_pair() {	# N: aloopN and loop(200+N)
	ioc ctl-add "$DUT_CTL" "$1" >/dev/null; ioc ctl-add "$STOCK_CTL" $((200 + $1)) >/dev/null
	wait_dev "$(dutdev "$1")" && wait_dev "$(stockdev $((200 + $1)))"
}

# =============================================== unprivileged callers
AMARK=$(klog_mark)
for n in 60 61 62 64; do add_pair $n || bail "cannot create device pair $n"; done
U=$(dutdev 60) SU=$(stockdev 260) B=$(dutdev 61) SB=$(stockdev 261) R=$(dutdev 62) SR=$(stockdev 262)

# perm_reset: U unbound, B bound (F1), R bound read-only (F1), 63 absent, 64 present
_bound() { local z; read -r z 2>/dev/null <"/sys/block/${1##*/}/size" && [ "${z:-0}" != 0 ]; }
_absent_dev() { ! _bound "$1"; }
perm_reset() {
	local d
	for d in "$U" "$SU"; do
		_bound "$d" || continue
		ioc clr-fd "$d" >/dev/null; wait_for 10 _absent_dev "$d"
	done
	for d in "$B" "$SB"; do
		_bound "$d" || { wait_dev "$d"; ioc configure "$d" "$F1" >/dev/null; }
	done
	for d in "$R" "$SR"; do
		_bound "$d" || { wait_dev "$d"; ioc configure "$d" "$F1" --open-ro >/dev/null; }
	done
	[ ! -e "/sys/block/${DUT}63" ] || { udev_settle; ioc ctl-remove "$DUT_CTL" 63 >/dev/null; }
	[ ! -e /sys/block/loop263 ] || { udev_settle; ioc ctl-remove "$STOCK_CTL" 263 >/dev/null; }
	[ -e "/sys/block/${DUT}64" ] || { ioc ctl-add "$DUT_CTL" 64 >/dev/null; wait_dev "$(dutdev 64)"; }
	[ -e /sys/block/loop264 ] || { ioc ctl-add "$STOCK_CTL" 264 >/dev/null; wait_dev "$(stockdev 264)"; }
	[ "$1" != remove ] || udev_settle
	return 0
}
# perm DESC DUT-ARGS STOCK-ARGS: uid 65534 on a read-only fd, like stock
perm() {
	perm_reset "${4:-}"
	# shellcheck disable=SC2086
	expect_like_stock "uid 65534, read-only fd: $1" EPERM "--as-user --dev-ro $2" "--as-user --dev-ro $3"
}
perm_reset
st=$(dev_state "$B"); sst=$(dev_state "$SB")
[ "${st%% *} ${sst%% *}" = "bound bound" ] || bail "cannot bind $B / $SB: $st / $sst"
perm "LOOP_CONFIGURE of an unbound device" "configure $U $F3" "configure $SU $F3"
perm "LOOP_SET_FD on an unbound device" "set-fd $U $F3" "set-fd $SU $F3"
perm "LOOP_SET_STATUS64 changing only the name" "set-status-keep $B --name perm" "set-status-keep $SB --name perm"
perm "LOOP_SET_CAPACITY" "set-capacity $B" "set-capacity $SB"
perm "LOOP_SET_DIRECT_IO 1" "set-dio $B 1" "set-dio $SB 1"
perm "LOOP_SET_BLOCK_SIZE 4096" "set-bs $B 4096" "set-bs $SB 4096"
perm "LOOP_CLR_FD of a bound device" "clr-fd $B" "clr-fd $SB"
perm "LOOP_CHANGE_FD of a read-only device" "change-fd $R $F2 --open-ro" "change-fd $SR $F2 --open-ro"
perm "LOOP_CTL_ADD (control opened read-only)" "ctl-add $DUT_CTL 63" "ctl-add $STOCK_CTL 263"
perm "LOOP_CTL_REMOVE of an unbound device (control opened read-only)" "ctl-remove $DUT_CTL 64" "ctl-remove $STOCK_CTL 264" remove
perm_reset

# ================================================================ leaks
o=$("$ALO_FUZZ" leak "$DUT_CTL" "$B" 2>&1); rc=$?
if [ $rc = 0 ] && [ "$(grep -c ' OK$' <<<"$o")" = 4 ]; then
	ok "$DUT: GET_STATUS64/GET_STATUS/ALOOP_GET_INFO/ALOOP_GET_FEATURES into 0xA5-filled buffers: padding, reserved fields, string tails zero"
else
	fail "$DUT: status and info copied to user space leak no kernel bytes" "exit $rc" "$o"
fi
o=$("$ALO_FUZZ" leak --no-aloop "$STOCK_CTL" "$SB" 2>&1); rc=$?
if [ $rc = 0 ] && [ "$(grep -c ' OK$' <<<"$o")" = 2 ]; then
	ok "stock loop: GET_STATUS64/GET_STATUS into 0xA5-filled buffers: padding, reserved fields, string tails zero"
else
	fail "stock loop: status copied to user space leaks no kernel bytes" "exit $rc" "$o"
fi

# ================================================================= fuzz
# fuzz_run NAME EXPECTED-CALLS SECS OUT ARGS...: one result
fuzz_run() {
	local name=$1 want=$2 secs=$3 out=$4 rc p=() calls; shift 4
	run_bounded $((secs + 90)) "$out" "$ALO_FUZZ" fuzz --count "$want" --secs "$secs" "$@"
	rc=$?
	calls=$(kv calls "$(cat "$out")")
	case $rc in
	0) ;;
	124|125) p+=("the fuzzer did not end within $((secs + 90)) s (exit $rc)") ;;
	3) p+=("a round hung in the kernel") ;;
	*) p+=("exit $rc") ;;
	esac
	for k in leaks permviol crashes hang; do
		[ "$(kv $k "$(cat "$out")")" = 0 ] || p+=("$k=$(kv $k "$(cat "$out")")")
	done
	grep -q '^calls=' "$out" || p+=("no summary: $(tail -n 5 "$out")")
	[ ${#p[@]} = 0 ] || p+=("$(grep -E '^(leak|permviol): ' "$out" | head -n 8)" "$(grep -v -E '^(leak|permviol|errnos)' "$out" | tail -n 12)")
	result "$name: ${calls:-?} random ioctls in $(kv seconds "$(cat "$out")") s: no crash, hang, leak or permission violation" \
		${#p[@]} "${p[@]}"
	diag "$name: ok=$(kv ok "$(cat "$out")") strays=$(kv strays "$(cat "$out")") errnos $(kv errnos "$(cat "$out")")"
	FUZZ_CALLS=${calls:-0}
}

# aloop: devices 50-53 (51, 53 bound), LOOP_CTL_ADD/REMOVE aim at 50-57
for n in 50 51 52 53; do add_pair $n || bail "cannot create device pair $n"; done
ioc configure "$(dutdev 51)" "$F1" >/dev/null; ioc configure "$(dutdev 53)" "$F3" --flags 16 >/dev/null
ioc configure "$(stockdev 251)" "$F1" >/dev/null; ioc configure "$(stockdev 253)" "$F3" --flags 16 >/dev/null
FILES=(--file "$F1" --file "$F2" --file "$F3")
ADEVS=("$(dutdev 50)" "$(dutdev 51)" "$(dutdev 52)" "$(dutdev 53)" "$B" "$R")
SDEVS=("$(stockdev 250)" "$(stockdev 251)" "$(stockdev 252)" "$(stockdev 253)" "$SB" "$SR")

fuzz_run "$DUT as root" 60000 75 "$SCRATCH/fz-a-root" --seed "$SEED" "${FILES[@]}" \
	--idx-base 50 --prefix "$DUT" "$DUT_CTL" "${ADEVS[@]}"
n1=$FUZZ_CALLS
fuzz_run "$DUT as uid 65534 (read-only fds)" 40000 50 "$SCRATCH/fz-a-user" --seed $((SEED + 1)) \
	--user --ro "${FILES[@]}" --idx-base 50 --prefix "$DUT" "$DUT_CTL" "${ADEVS[@]}"
n2=$FUZZ_CALLS
if [ $((n1 + n2)) -ge 100000 ]; then
	ok "$DUT: $((n1 + n2)) random ioctls in all (root $n1, uid 65534 $n2)"
else
	fail "$DUT: at least 100000 random ioctls in all" "root $n1, uid 65534 $n2 within the time bounds"
fi

# afterwards: every device detaches and goes, the module unloads
p=()
for _ in 1 2 3 4 5; do
	left=
	for s in /sys/block/"$DUT"[0-9]*; do
		[ -e "$s" ] || continue
		d=/dev/${s##*/}
		_unbound "$d" && continue
		timeout 20 "$ALO_IOCTL" clr-fd "$d" >/dev/null 2>&1
		left="$left $d"
	done
	[ -n "$left" ] || break
	sleep 1
done
for s in /sys/block/"$DUT"[0-9]*; do
	[ -e "$s" ] || continue
	_unbound "/dev/${s##*/}" || p+=("/dev/${s##*/} still bound: $(dev_state "/dev/${s##*/}")")
done
udev_settle
for s in /sys/block/"$DUT"[0-9]*; do
	[ -e "$s" ] || continue
	n=${s##*/"$DUT"}
	for i in 1 2 3 4 5; do
		o=$(ioc1 ctl-remove "$DUT_CTL" "$n"); [ "$o" = EBUSY ] || break; sleep 0.5
	done
	[ "$o" = OK ] || p+=("ctl-remove $n: $o")
done
o=$(mod_unload) || p+=("rmmod: $o")
result "$DUT: after the fuzz every device detaches and is removed, rmmod $DUT succeeds" ${#p[@]} "${p[@]}"
klog_clean_step "$DUT: no task in D state, kernel log clean since the privilege checks began" "$AMARK"

# ======================================================= stock control
SMARK=$(klog_mark)
fuzz_run "stock loop as root" 40000 45 "$SCRATCH/fz-s-root" --seed "$SEED" --no-aloop "${FILES[@]}" \
	--idx-base 250 --prefix loop "$STOCK_CTL" "${SDEVS[@]}"
fuzz_run "stock loop as uid 65534 (read-only fds)" 25000 30 "$SCRATCH/fz-s-user" --seed $((SEED + 1)) \
	--no-aloop --user --ro "${FILES[@]}" --idx-base 250 --prefix loop "$STOCK_CTL" "${SDEVS[@]}"
for _ in 1 2 3 4 5; do
	left=
	for s in /sys/block/loop2[5-6][0-9]; do
		[ -e "$s" ] || continue
		_unbound "/dev/${s##*/}" && continue
		timeout 20 "$ALO_IOCTL" clr-fd "/dev/${s##*/}" >/dev/null 2>&1; left=1
	done
	[ -n "$left" ] || break
	sleep 1
done
udev_settle
fuzz_cleanup
klog_clean_step "stock loop: no task in D state, kernel log clean since its fuzz began" "$SMARK"
mod_load >/dev/null

finish
