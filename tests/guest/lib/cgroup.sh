# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # the globals of ../lib.sh, and the ones set here for the tests
# SPDX-License-Identifier: GPL-2.0
#
# cgroup v2: the tests' cgroups, io.max on the backing disk, running in a cgroup.
# Sourced by tests/guest/lib.sh (see there for the environment).

# ------------------------------------------------------------ cgroup v2
# The tests' cgroups are children of $T; io.max lines name $BDEV_MM.
CG=/sys/fs/cgroup
T=$CG/aloop-test
BDEV_MM=
# backing_disk: MAJ:MIN of the whole disk under $BACKING (for io.max)
backing_disk() {
	local mm; mm=$(mountpoint -d "$BACKING")
	[ ! -e "/sys/dev/block/$mm/partition" ] || mm=$(cat "/sys/dev/block/$mm/../dev")
	echo "$mm"
}
# cg_prepare: cgroup v2 at $CG with io and memory for $T's children
cg_prepare() {
	local c
	if ! awk -v d="$CG" '$2 == d && $3 == "cgroup2" {f = 1} END {exit !f}' /proc/mounts; then
		if mountpoint -q "$CG"; then
			echo "$CG is a $(awk -v d="$CG" '$2 == d {print $3}' /proc/mounts) mount, not cgroup2"; return 1
		fi
		mount -t cgroup2 none "$CG" 2>/dev/null || { echo "cannot mount cgroup2 on $CG"; return 1; }
	fi
	for c in io memory; do
		grep -qw "$c" "$CG/cgroup.controllers" ||
			{ echo "cgroup2 controller '$c' unavailable (controllers: $(cat "$CG/cgroup.controllers"))"; return 1; }
	done
	echo "+io +memory" >"$CG/cgroup.subtree_control" 2>/dev/null ||
		{ echo "cannot enable +io +memory in $CG/cgroup.subtree_control"; return 1; }
	mkdir -p "$T" && echo "+io +memory" >"$T/cgroup.subtree_control" 2>/dev/null ||
		{ echo "cannot enable +io +memory in $T"; return 1; }
}
# cg_new NAME [FILE=VALUE...]: a fresh child of $T
cg_new() {
	local c=$T/$1 kv; shift
	[ ! -d "$c" ] || cg_del "${c##*/}"
	mkdir "$c" || return 1
	for kv in "$@"; do
		echo "${kv#*=}" >"$c/${kv%%=*}" || { echo "cannot write '${kv#*=}' to $c/${kv%%=*}"; return 1; }
	done
}
# cg_del NAME: lift its io limits, move its tasks out, remove it
cg_del() {
	local c=$T/$1 p
	[ -d "$c" ] || return 0
	echo "$BDEV_MM rbps=max wbps=max" >"$c/io.max" 2>/dev/null
	while read -r p; do echo "$p" >"$CG/cgroup.procs" 2>/dev/null; done <"$c/cgroup.procs"
	rmdir "$c" 2>/dev/null || { sleep 0.5; rmdir "$c"; }
}
# cg_run NAME CMD...: run CMD inside the cgroup
cg_run() {
	local c=$T/$1; shift
	( echo "$BASHPID" >"$c/cgroup.procs" || exit 125; exec "$@" )
}
# cg_remove_all: every child of $T (cg_del) and $T itself removed
cg_remove_all() {
	local c
	for c in "$T"/*/; do
		[ -d "$c" ] && cg_del "$(basename "$c")"
	done
	[ ! -d "$T" ] || rmdir "$T"
}
# cg_start: cgroup v2 ready (cg_prepare), this test in the root cgroup
# (the reference "unlimited" I/O) and BDEV_MM set; when cgroup v2 cannot
# be had, every result still planned is a SKIP with the reason, and the
# test ends here
cg_start() {
	local why c
	if ! why=$(cg_prepare); then
		skip_n "$((KTAP_PLAN - KTAP_N))" "$why"
		finish
	fi
	c=$(cat /proc/self/cgroup)
	[ "$c" = "0::/" ] || { diag "test started in cgroup '$c': moving to the root"; echo $$ >"$CG/cgroup.procs"; }
	BDEV_MM=$(backing_disk)
}
