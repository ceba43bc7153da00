#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: dio, block size, status and capacity changed under fio verify; CHANGE_FD under readers
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: fio stock-loop
# Stress: reconfiguration under I/O, on aloop and on stock loop as the
# control in the same boot.
#  - fio (libaio, QD32, 4 KiB random writes, verify=crc32c, 64 MiB, runs
#    repeated for ~40 s) while another loop toggles LOOP_SET_DIRECT_IO
#    0/1, LOOP_SET_BLOCK_SIZE 512/4096, LOOP_SET_STATUS64 changing only
#    the name, and LOOP_SET_CAPACITY after growing the backing file.  fio
#    does not open the device O_EXCL, so every call must succeed (block
#    size needs the exclusive claim, which nobody else holds).
#  - LOOP_CHANGE_FD back and forth between two identical copies of a file
#    on a read-only device while fio reads and verifies it.
# Afterwards: fio's verification, the answers, the device's state, tasks
# in D state and the kernel log since the step began.
. "$(dirname "$0")/lib.sh"

plan 12

D=$(test_dir stress-rc)
RCSECS=30
CFSECS=15

rc_cleanup() {
	local p
	for p in ${BG_PIDS:-}; do kill -KILL "$p" 2>/dev/null; done
	[ -z "${DEVS:-}" ] || for p in $DEVS; do timeout 10 "$ALO_IOCTL" clr-fd "$p"; done
}
on_exit rc_cleanup
DEVS=

fio_ok() {	# OUT: fio's output says the job ran without an error
	grep -q 'err= 0' "$1" && ! grep -qiE 'verify failed|bad magic|crc32c: verify|bad header' "$1"
}
first() { local o=${1%%$'\n'*}; echo "${o:-TIMEOUT}"; }

# toggler DEV FILE STOPFILE: reconfigure until STOPFILE exists; one
# "operation answer" line per call
toggler() {
	local dev=$1 f=$2 stop=$3 i=0 bs o
	while [ ! -e "$stop" ]; do
		i=$((i + 1))
		o=$(timeout 30 "$ALO_IOCTL" set-dio "$dev" $((i % 2)) 2>&1); echo "set-dio-$((i % 2)) $(first "$o")"
		bs=$((i % 2 ? 4096 : 512))
		o=$(timeout 30 "$ALO_IOCTL" set-bs "$dev" $bs 2>&1); echo "set-bs-$bs $(first "$o")"
		o=$(timeout 30 "$ALO_IOCTL" set-status-keep "$dev" --name "reconf-$i" 2>&1); echo "set-status-name $(first "$o")"
		truncate -s +1M "$f"
		o=$(timeout 30 "$ALO_IOCTL" set-capacity "$dev" 2>&1); echo "set-capacity $(first "$o")"
		echo "last $i"
		sleep 0.3
	done
}

# reconf_run NAME DEV FILE
reconf_run() {
	local name=$1 dev=$2 f=$3 mark stop=$SCRATCH/rc-stop-$1 log=$SCRATCH/rc-$1.log
	local t0 runs=0 frc=0 fout p=() tp left n last sz fsz nm
	rm -f "$stop"
	mark=$(klog_mark)
	toggler "$dev" "$f" "$stop" >"$log" 2>&1 &
	tp=$!; BG_PIDS=$tp
	t0=$(date +%s)
	while [ $(($(date +%s) - t0)) -lt $RCSECS ]; do
		runs=$((runs + 1)); fout=$SCRATCH/rc-$name-$runs.fio
		run_bounded 200 "$fout" fio --name=rc --filename="$dev" --rw=randwrite --bs=4k \
			--iodepth=32 --ioengine=libaio --direct=1 --size=64M --verify=crc32c \
			--do_verify=1 --verify_fatal=1 --randrepeat=0
		frc=$?
		if [ $frc != 0 ] || ! fio_ok "$fout"; then
			p+=("fio run $runs: exit $frc: $(grep -iE 'err|verify|fail' "$fout" | head -n 6)")
			break
		fi
	done
	touch "$stop"
	left=$(wait_pids 60 "$tp"); BG_PIDS=
	result "$name: fio QD32 randwrite + verify crc32c ($runs runs, $(($(date +%s) - t0)) s) passes while dio, block size, name and capacity change" \
		${#p[@]} "${p[@]}"

	n=$(grep -vc '^last ' "$log")
	last=$(sed -n 's/^last //p' "$log" | tail -n 1)
	p=()
	[ -z "$left" ] || p+=("the reconfiguration loop did not stop (killed)")
	[ "$n" -gt 0 ] || p+=("no reconfiguration call was made")
	bad=$(grep -v '^last ' "$log" | grep -v ' OK$' | sort | uniq -c)
	[ -z "$bad" ] || p+=("answers other than OK:" "$bad")
	sz=$(devsize "$dev"); fsz=$(stat -c %s "$f")
	bs=$(blk_attr "$dev" queue/logical_block_size)
	[ "$sz" = $((fsz / ${bs:-512} * ${bs:-512})) ] || p+=("device size $sz, file size $fsz (block size $bs): SET_CAPACITY not followed")
	nm=$(kv file "$(ioc get-status "$dev")")
	[ "$nm" = "reconf-$last" ] || p+=("name '$nm', last set 'reconf-$last'")
	result "$name: all $n reconfiguration calls (${last:-0} rounds of set-dio, set-bs, set-status name, grow + set-capacity) returned OK; size and name follow" \
		${#p[@]} "${p[@]}"
	diag "$name: $(grep -v '^last ' "$log" | sort | uniq -c | awk '{ printf "%s %s: %s; ", $2, $3, $1 }')"
	klog_clean_step "$name: no task in D state, kernel log clean since the step began" "$mark"
	timeout 20 "$ALO_IOCTL" clr-fd "$dev" >/dev/null 2>&1
}

F=$D/rc.img; SF=$D/rc-stock.img
truncate -s 72M "$F" "$SF"
o=$(ioc ctl-add "$DUT_CTL" 0); wait_dev "$(dutdev 0)"
DEV=$(dutdev 0); DEVS="$DEV"
ca=$(ioc1 configure "$DEV" "$F" --flags 16)
if [ "$ca" = OK ]; then
	reconf_run "$DUT" "$DEV" "$F"
else
	fail "$DUT: reconfiguration under fio" "configure $DEV: $ca ($o)"; skip_n 2 "no device" "calls" "log"
fi
SDEV=$(stock_free); DEVS="$DEVS $SDEV"
ca=$(ioc1 configure "$SDEV" "$SF" --flags 16)
if [ "$ca" = OK ]; then
	reconf_run "stock loop" "$SDEV" "$SF"
else
	fail "stock loop: reconfiguration under fio" "configure $SDEV: $ca"; skip_n 2 "no device" "calls" "log"
fi

# ------------------------------------- LOOP_CHANGE_FD while reading
A=$D/cf-a.img; B=$D/cf-b.img
FIO_CF=(--name=cf --bs=64k --size=32M --verify=crc32c --ioengine=psync)
if ! fio "${FIO_CF[@]}" --filename="$A" --rw=write --do_verify=0 >"$SCRATCH/cf-make.fio" 2>&1 ||
   ! cp "$A" "$B"; then
	bail "cannot make the change-fd images: $(tail -n 3 "$SCRATCH/cf-make.fio")"
fi

# changefd_run NAME DEV
changefd_run() {
	local name=$1 dev=$2 mark stop=$SCRATCH/cf-stop-$1 log=$SCRATCH/cf-$1.log
	local t0 runs=0 frc fout p=() tp left n bad last bf
	rm -f "$stop"
	mark=$(klog_mark)
	(
		i=0
		while [ ! -e "$stop" ]; do
			i=$((i + 1))
			if [ $((i % 2)) = 1 ]; then to=$B; else to=$A; fi
			o=$(timeout 30 "$ALO_IOCTL" change-fd "$dev" "$to" --open-ro 2>&1)
			echo "change-fd $(first "$o") $to"
			sleep 0.2
		done
	) >"$log" 2>&1 &
	tp=$!; BG_PIDS=$tp
	t0=$(date +%s)
	while [ $(($(date +%s) - t0)) -lt $CFSECS ]; do
		runs=$((runs + 1)); fout=$SCRATCH/cf-$name-$runs.fio
		run_bounded 120 "$fout" fio "${FIO_CF[@]}" --filename="$dev" --rw=read --direct=1 \
			--verify_only=1 --iodepth=1
		frc=$?
		if [ $frc != 0 ] || ! fio_ok "$fout"; then
			p+=("fio run $runs: exit $frc: $(grep -iE 'err|verify|fail' "$fout" | head -n 6)")
			break
		fi
	done
	touch "$stop"
	left=$(wait_pids 40 "$tp"); BG_PIDS=
	n=$(grep -c '^change-fd ' "$log")
	result "$name: fio verify-only reads ($runs runs, $(($(date +%s) - t0)) s) pass while LOOP_CHANGE_FD swaps identical copies ($n calls)" \
		${#p[@]} "${p[@]}"

	p=()
	[ -z "$left" ] || p+=("the change-fd loop did not stop (killed)")
	[ "$n" -gt 0 ] || p+=("no LOOP_CHANGE_FD call was made")
	bad=$(awk '$2 != "OK" { print $2 }' "$log" | sort | uniq -c)
	[ -z "$bad" ] || p+=("answers other than OK:" "$bad")
	last=$(awk '$2 == "OK" { f = $3 } END { print f }' "$log")
	bf=$(cat "/sys/block/$(devname "$dev")/$3/backing_file" 2>/dev/null)
	[ -z "$last" ] || [ "$bf" = "$last" ] || p+=("backing_file '$bf', last changed to '$last'")
	result "$name: every LOOP_CHANGE_FD on the read-only device returned OK; backing_file is the last one set" \
		${#p[@]} "${p[@]}"
	klog_clean_step "$name: no task in D state, kernel log clean since the step began" "$mark"
	timeout 20 "$ALO_IOCTL" clr-fd "$dev" >/dev/null 2>&1
}

wait_dev "$DEV"
ca=$(ioc1 configure "$DEV" "$A" --open-ro)
if [ "$ca" = OK ] && [ "$(blk_attr "$DEV" ro)" = 1 ]; then
	changefd_run "$DUT" "$DEV" aloop
else
	fail "$DUT: LOOP_CHANGE_FD while reading" "configure $DEV read-only: $ca, ro=$(blk_attr "$DEV" ro)"
	skip_n 2 "no device" "calls" "log"
fi
SDEV=$(stock_free); DEVS="$DEVS $SDEV"
ca=$(ioc1 configure "$SDEV" "$A" --open-ro)
if [ "$ca" = OK ] && [ "$(blk_attr "$SDEV" ro)" = 1 ]; then
	changefd_run "stock loop" "$SDEV" loop
else
	fail "stock loop: LOOP_CHANGE_FD while reading" "configure $SDEV read-only: $ca"
	skip_n 2 "no device" "calls" "log"
fi

finish
