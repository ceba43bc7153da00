#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: cgroups created and removed around dio while the root writes back: no stale memcg, idle cgroups uncharged
# aloop-timeout: 600
# aloop-driver: any
# aloop-needs: fio cgroup2
# cgroup churn: a request's memcg is active on the worker that serves it
# only while it does, and no worker keeps a pointer to a cgroup that is
# gone.  Regression test for a use-after-free: when a direct-I/O request
# completed inside ->read_iter (reads of holes do), the worker undid its
# memcg association from the completed (and maybe reused) request, found
# none, and kept the cgroup's memcg active; the shared unbound kworker
# then charged writeback's page cache to it after the cgroup was removed
# ("page_counter underflow" WARNING, then an oops in shrink_node).
#   1. dio reads of holes from short-lived cgroups, each removed after
#      its run, while the root writes and syncs new files (writeback
#      allocates page cache on the shared kworkers); the kernel log
#      checks of the harness catch the use-after-free;
#   2. a cgroup kept alive after its dio reads is charged nothing for
#      the root's later writeback (its memory.current never grows: the
#      old code charged it ext4's buddy cache pages now and then);
#   3. the data read back through the device is still right.
# SKIPs when cgroup v2 or its io/memory controllers are unavailable.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${ALOOP_CHURN_ROUNDS:-4}
plan 6

DEV=
churn_cleanup() {
	cg_remove_all 2>/dev/null
	[ -z "$DEV" ] || timeout 20 "$ALO_IOCTL" clr-fd "$DEV" >/dev/null 2>&1
}
on_exit churn_cleanup
D=$(test_dir churn)

cg_start

# A sparse image with data in its first 4 MiB, on a device with dio on:
# dio reads of the holes complete inside ->read_iter.
truncate -s 64M "$D/sparse.img"
mkrand "$D/head" $((4 << 20))
dd if="$D/head" of="$D/sparse.img" bs=1M conv=notrunc status=none
o=$(ioc ctl-get-free "$DUT_CTL")
[ "${o%% *}" = OK ] || bail "GET_FREE: $o"
DEV=$(dutdev "${o#OK }")
wait_dev "$DEV" || bail "$DEV did not appear"
o=$(ioc configure "$DEV" "$D/sparse.img" --set-dio 1)
d=$(dut_attr "$DEV" dio)
if [ "$(kv set_dio "$o")" = OK ] && [ "$d" = 1 ]; then
	ok "$DUT device with dio on over a sparse image"
else
	bail "configure $DEV with dio: $o (dio '$d')"
fi

# holes_read CGROUP: 1 s of queued dio reads of the holes, from CGROUP
holes_read() {
	cg_run "$1" timeout 60 fio --name=holes --filename="$DEV" --direct=1 \
		--rw=randread --bs=4k --ioengine=libaio --iodepth=16 --numjobs=2 \
		--offset=8M --size=56M --time_based --runtime=1 \
		--output="$SCRATCH/holes.out" >/dev/null 2>&1
}
# root_writeback N: with the caches dropped (ext4's buddy cache too), N
# new 4 MiB files in a new directory (Orlov spreads those over the block
# groups), written back: the flusher, a kworker of the same unbound pool
# as the lanes, allocates page cache in the memcg active on it
root_writeback() {
	local i d
	drop_caches
	d=$(mktemp -d "$D/wb.XXXXXX") || return 1
	for i in $(seq "$1"); do
		head -c $((4 << 20)) /dev/zero >"$d/$i" || return 1
	done
	sync
}

# 1. short-lived cgroups
bad=''
for r in $(seq "$ROUNDS"); do
	cg_new "churn$r" memory.max=64M || { bad="cannot make cgroup churn$r"; break; }
	holes_read "churn$r" || { bad="fio in churn$r failed: $(tail -3 "$SCRATCH/holes.out")"; break; }
	cg_del "churn$r" || { bad="cannot remove cgroup churn$r"; break; }
	root_writeback 4 || { bad="writeback round $r failed"; break; }
	rm -rf "$D"/wb.*
done
if [ -z "$bad" ]; then
	ok "$ROUNDS cgroups each read holes with dio and were removed while the root wrote back"
else
	fail "$ROUNDS cgroups each read holes with dio and were removed while the root wrote back" "$bad"
fi
reqs=$(dut_attr "$DEV" reqs_cgroup)
if [ "$DUT" = loop ] || [ "${reqs:-0}" -gt 0 ]; then
	ok "the cgroups' requests were served in their cgroups (reqs_cgroup ${reqs:-n/a})"
else
	fail "the cgroups' requests were served in their cgroups" "reqs_cgroup '${reqs}'"
fi

# 2. a live cgroup is charged nothing after its I/O ended
cg_new probe || bail "cannot make cgroup probe"
grew=0 trace=''
for _ in 1 2 3 4; do
	holes_read probe
	drop_caches
	m0=$(cat "$T/probe/memory.current")
	root_writeback 4; rm -rf "$D"/wb.*
	m1=$(cat "$T/probe/memory.current")
	trace+=" $m0->$m1"
	[ "$m1" -le "$m0" ] || grew=$((grew + m1 - m0))
done
if [ "$grew" = 0 ]; then
	ok "a cgroup is charged nothing for writeback after its dio ended (memory.current:$trace)"
else
	fail "a cgroup is charged nothing for writeback after its dio ended" \
		"memory.current:$trace: $grew bytes more; a worker kept its memcg active"
fi
cg_del probe

# 3. data
h=$(sha_range "$DEV" 0 $((4 << 20)))
check_eq "the data through the device is intact after the churn" "$(sha "$D/head")" "$h"
z=$(dd if="$DEV" bs=1M skip=8 count=8 iflag=direct status=none | tr -d '\0' | wc -c)
check_eq "the holes read as zeros" 0 "$z"

finish
