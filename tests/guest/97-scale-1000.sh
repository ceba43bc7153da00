#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: stress
# aloop-desc: 1000 devices bound at once, aloop then stock loop in one boot: attach time, kernel memory and threads per idle device, list and find times
# aloop-timeout: 2400
# aloop-driver: aloop
# aloop-needs: aloopctl stock-loop
# Scale (issue 22, item 7): N (1000) devices bound at once, each to its own
# sparse 1 MiB file, read-only and idle; first aloop (aloopctl attach),
# then, detached again, stock loop (losetup -r -f --show) in the same boot.
# Per device: attach time, kernel memory (MemTotal - MemFree - Cached -
# Buffers - AnonPages after drop_caches, before and after; Slab, Percpu
# and VmallocUsed shown beside), threads; then the time of one `aloopctl
# list` / `losetup -a`, and of a lookup by file with 10 and with N devices
# bound (`aloopctl find`, ALOOP_CTL_FIND's hash, against `losetup -j`, a
# scan of every device).  Checks: every attach works; aloop's memory per
# idle device is within 1.5x stock loop's; find with N devices takes no
# longer than with 10 (medians of 21 runs, within 5 ms + 50 %).  The
# figures are printed as a
# table (diagnostics) for docs/aloopctl.md; ~15 min under TCG.
. "$(dirname "$0")/lib.sh"

plan 5

N=${ALOOP_SCALE_N:-1000}
D=$(test_dir scale1000)
scale_cleanup() {
	aloopctl detach-all >/dev/null 2>&1
	losetup -D 2>/dev/null
}
on_exit scale_cleanup
for i in $(seq "$N"); do truncate -s 1M "$D/f$i"; done

# kmem: kernel + anonymous memory in use, in KiB, with the caches dropped
kmem() {
	drop_caches
	sleep 1
	awk '/^(MemTotal|MemFree|Cached|Buffers|AnonPages|Slab|Percpu|VmallocUsed):/ {v[$1]=$2}
	     END {printf "%d %d %d %d\n", v["MemTotal:"] - v["MemFree:"] - v["Cached:"] - v["Buffers:"] - v["AnonPages:"],
		  v["Slab:"], v["Percpu:"], v["VmallocUsed:"]}' /proc/meminfo
}
ntasks() { find /proc -maxdepth 1 -name '[0-9]*' | wc -l; }
# shellcheck disable=SC2009 # the names are wanted
qworkers() { ps -eo comm= | grep -cE '^aloop[0-9]+-q[0-9]+$'; }
no_qworkers() { [ "$(qworkers)" = 0 ]; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# find_ms CMD...: median milliseconds of 21 runs of CMD (one run stalled
# by the host moves a mean by 100 ms under TCG; 6.1 once showed it)
find_ms() {
	local t0 i
	for i in $(seq 21); do
		t0=$(now)
		"$@" >/dev/null 2>&1
		echo $(( ($(now) - t0) / 1000000 ))
	done | sort -n | sed -n 11p
}

# measure KIND: bind N devices with KIND's tool; sets the figures
measure() {
	local kind=$1 i t0 t1 m0 m1 p0 p1 bad=0 s0 s1 c0 c1 v0 v1 f10 fN lst
	read -r m0 s0 c0 v0 <<<"$(kmem)"
	p0=$(ntasks)
	t0=$(now)
	for i in $(seq "$N"); do
		if [ "$kind" = aloop ]; then
			aloopctl attach --read-only "$D/f$i" >/dev/null 2>&1 || bad=$((bad + 1))
		else
			losetup -r -f "$D/f$i" >/dev/null 2>&1 || bad=$((bad + 1))
		fi
		if [ "$i" = 10 ]; then
			if [ "$kind" = aloop ]; then
				f10=$(find_ms aloopctl find "$D/f5")
			else f10=$(find_ms losetup -j "$D/f5"); fi
		fi
	done
	t1=$(now)
	# idle: udev done with every device's events, and aloop's queue
	# workers (started by udev's probe reads) gone after worker_idle_ms
	udevadm settle -t 300 >/dev/null 2>&1
	sleep 2
	[ "$kind" = aloop ] && ! wait_for 60 no_qworkers &&
		diag "aloop queue workers still running after 60 s: $(qworkers)"
	read -r m1 s1 c1 v1 <<<"$(kmem)"
	p1=$(ntasks)
	if [ "$kind" = aloop ]; then
		fN=$(find_ms aloopctl find "$D/f5")
		lst=$(find_ms aloopctl list)
		# what the timed commands did (a failing command is fast)
		diag "aloopctl find $D/f5: $(aloopctl find "$D/f5" 2>&1 | head -n 2 | tr '\n' ' ')(exit ${PIPESTATUS[0]});" \
			"aloopctl list: $(aloopctl list 2>&1 | wc -l) lines, exit ${PIPESTATUS[0]}: $(aloopctl list 2>&1 | tail -n 1)"
	else
		fN=$(find_ms losetup -j "$D/f5")
		lst=$(find_ms losetup -a)
	fi
	eval "${kind}_bad=$bad ${kind}_attach_us=$(( (t1 - t0) / 1000 / N ))"
	eval "${kind}_b=$(( (m1 - m0) * 1024 / N )) ${kind}_slab=$(( (s1 - s0) * 1024 / N ))"
	eval "${kind}_pcpu=$(( (c1 - c0) * 1024 / N )) ${kind}_vmalloc=$(( (v1 - v0) * 1024 / N ))"
	eval "${kind}_threads=$(awk -v d=$((p1 - p0)) -v n="$N" 'BEGIN {printf "%.2f", d / n}')"
	eval "${kind}_find10=$f10 ${kind}_findN=$fN ${kind}_list=$lst"
}

measure aloop
aloopctl detach-all >/dev/null 2>&1
sleep 2
measure loop
losetup -D 2>/dev/null

diag "N=$N idle read-only devices on $(uname -r), per device (bytes, threads), and times:"
diag "  driver  attach(us)  kmem(B)  slab(B)  percpu(B)  vmalloc(B)  threads  list(ms)  find@10(ms)  find@$N(ms)"
for k in aloop loop; do
	eval "diag \"  $(printf '%-6s' $k)  \${${k}_attach_us}  \${${k}_b}  \${${k}_slab}  \${${k}_pcpu}  \${${k}_vmalloc}  \${${k}_threads}  \${${k}_list}  \${${k}_find10}  \${${k}_findN}\""
done

# shellcheck disable=SC2154 # set by measure's eval
{
check_eq "aloop: $N attaches, none failed" 0 "$aloop_bad"
check_eq "stock loop: $N attaches, none failed" 0 "$loop_bad"
if [ "$aloop_b" -le $(( loop_b * 3 / 2 )) ]; then
	ok "kernel memory per idle aloop device ${aloop_b} B is within 1.5x stock loop's ${loop_b} B (threads per device: $aloop_threads, $loop_threads)"
else
	fail "kernel memory per idle aloop device within 1.5x stock loop's" \
		"aloop ${aloop_b} B, stock loop ${loop_b} B per device (threads per device: aloop $aloop_threads, loop $loop_threads)"
fi
# medians, a process start included (~100 ms under TCG)
if [ "$aloop_findN" -le $(( aloop_find10 * 3 / 2 + 5 )) ]; then
	ok "aloopctl find with $N devices ${aloop_findN} ms, with 10 ${aloop_find10} ms (medians; losetup -j: ${loop_findN} / ${loop_find10} ms)"
else
	fail "aloopctl find takes as long with $N devices as with 10" "medians ${aloop_findN} ms vs ${aloop_find10} ms"
fi
result "aloopctl list of $N devices: ${aloop_list} ms (losetup -a: ${loop_list} ms)" 0
}

finish
