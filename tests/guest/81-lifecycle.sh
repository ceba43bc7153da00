#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: one-call attach (64 parallel, no EBUSY, an fd returned on 6.9+), owners and orphans, leases (exit, SIGKILL, mounted), find, detach --if-unused/--wait, reap
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: aloopctl
# The device lifecycle of issue 22 on /dev/aloop-control:
#  - ALOOP_CTL_ATTACH (aloopctl attach): 64 attaches from 8 parallel
#    processes each get a distinct device, none fails, and each device
#    node exists the moment aloopctl prints it;
#  - owners: --owner label, pid, cgroup id and time in sysfs and in
#    aloopctl list; a device whose attacher's cgroup was removed is an
#    orphan (list --orphans), reap --orphans --dry-run names it, reap
#    detaches it, and leaves an open one attached;
#  - leases: attach --lease FILE -- CMD detaches when CMD exits, when
#    aloopctl is killed with SIGKILL, and - under a mounted filesystem -
#    only at the unmount;
#  - find: the devices bound to a file, with --offset; as fast with 100
#    devices bound as with 10;
#  - detach --if-unused fails with EBUSY on an open device and changes
#    nothing; detach --wait returns with the device unbound and its
#    partitions gone;
#  - partitions exactly once: attach --partscan of a GPT image, 10 times
#    with udevd running: both partitions there when attach returns (no
#    settle), and exactly 2 partition "add" uevents per attach (stock loop
#    beside it, losetup -P, as information); --no-partscan: none, and
#    BLKRRPART fails.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

plan 21

MNT=
life_cleanup() {
	[ -z "$MNT" ] || umount -l "$MNT" 2>/dev/null
	aloopctl detach-all >/dev/null 2>&1
	cg_remove_all 2>/dev/null
}
on_exit life_cleanup
D=$(test_dir life)
MARK=$(klog_mark)
CGWHY=$(cg_prepare) && CGWHY=
F=$D/life.img
mkrand "$F" $((8 * MiB))
bound() { [ -n "$(dut_attr "$1" backing_file)" ]; }

# ----------------------------------------------- 64 parallel attaches
d="64 attaches from 8 parallel processes: 64 distinct devices, no failure, each node there when printed"
for p in 1 2 3 4 5 6 7 8; do
	(
		for i in 1 2 3 4 5 6 7 8; do
			dev=$(aloopctl attach --read-only --owner "par$p" "$F" 2>&1) || { echo "FAIL $dev"; continue; }
			if [ -b "$dev" ]; then echo "$dev"; else echo "NONODE $dev"; fi
		done
	) >"$SCRATCH/par$p.out" 2>&1 &
done
wait
all=$(cat "$SCRATCH"/par*.out)
n=$(grep -c '^/dev/aloop[0-9]*$' <<<"$all")
u=$(grep '^/dev/aloop[0-9]*$' <<<"$all" | sort -u | wc -l)
bad=$(grep -v '^/dev/aloop[0-9]*$' <<<"$all" | head -n 5)
if [ "$n" = 64 ] && [ "$u" = 64 ] && [ -z "$bad" ]; then
	ok "$d"
else
	fail "$d" "$n attached, $u distinct" "$bad"
fi
o=$(aloopctl list -n -O OWNER 2>&1 | sort | uniq -c | awk '{print $1}' | sort -u)
check_eq "each of the 8 owners has 8 devices (list -O OWNER)" "8" "$o"
aloopctl detach-all >/dev/null 2>&1
sleep 0.5

# ------------------------------------------------- attach returning an fd
# ALOOP_ATTACH_FD: Linux 6.9 lets a driver open its disk as a file;
# before, the flag is refused with nothing attached.
G=$D/fd.img
mkrand "$G" $((4 * MiB))
o=$(ioc ctl-attach-fd "$DUT_CTL" "$G")
if kver_ge 6 9; then
	n=$(sed -n 's/^OK index=//p' <<<"$o")
	if [ -n "$n" ] && [ "$(kv ret "$o")" = "$(kv fd "$o")" ] && [ "$(kv is_device "$o")" = 1 ] &&
	   [ "$(kv cloexec "$o")" = 1 ] && [ "$(kv rw "$o")" = 1 ] &&
	   [ "$(head -c 4096 "$G" | tr -d 'Z' | wc -c)" = 0 ]; then
		ok "ALOOP_ATTACH_FD ($(uname -r)): the returned fd (also the ioctl's value) is /dev/aloop$n, O_CLOEXEC, and a 4 KiB write through it lands in the file"
	else
		fail "ALOOP_ATTACH_FD returns an open fd of the new device" "$o"
	fi
	[ -z "$n" ] || aloopctl detach "/dev/aloop$n" >/dev/null 2>&1
else
	# sysfs files all have a size: the bound ones have a file name in them
	b=0
	for x in /sys/block/aloop*/aloop/backing_file; do
		IFS= read -r n 2>/dev/null <"$x" && [ -n "$n" ] && b=$((b + 1))
	done
	check_eq "ALOOP_ATTACH_FD before Linux 6.9 ($(uname -r)): EOPNOTSUPP, nothing attached" "EOPNOTSUPP 0" "$(ioc1_of "$o") $b"
fi

# ------------------------------------------------------------ owners
dev=$(attach_dev --owner "svc-a" "$F") || bail "attach: $dev"
now=$(date +%s)
t=$(dut_attr "$dev" attach_time)
cgid=$(stat -c %i "$CG$(sed -n 's/^0:://p' /proc/self/cgroup)" 2>/dev/null || echo "?")
got="$(dut_attr "$dev" owner) $(dut_attr "$dev" owner_cgroup) $(( t >= now - 60 && t <= now + 5 ))"
check_eq "owner label, the attacher's cgroup id and the time in sysfs" "svc-a $cgid 1" "$got"
j=$(aloopctl list --json -O NAME,OWNER,OWNER-PID,ORPHAN "$dev" 2>&1)
if grep -q '"owner": *"svc-a"' <<<"$j" && grep -q '"orphan": *false' <<<"$j" &&
   grep -q '"owner-pid": *[1-9]' <<<"$j"; then
	ok "aloopctl list --json: owner, owner-pid, orphan"
else
	fail "aloopctl list --json: owner, owner-pid, orphan" "$j"
fi

# ----------------------------------------------------------------- find
g=$(attach_dev --read-only --offset 4096 "$F") || bail "attach: $g"
got=$(aloopctl find "$F" 2>&1 | sort | tr '\n' ' ')
want=$(printf '%s\n' "$dev" "$g" | sort | tr '\n' ' ')
check_eq "find FILE: both devices bound to it" "$want" "$got"
check_eq "find --offset 4096 FILE: only the one at that offset" "$g" "$(aloopctl find --offset 4096 "$F" 2>&1)"
check_eq "find on a file nothing is bound to: no output, exit 0" "0:" \
	"$(o=$(aloopctl find "$SCRATCH/par1.out" 2>&1); echo "$?:$o")"

# ------------------------------------------------ detach --if-unused/--wait
exec 7<"$g"
o=$(aloopctl detach --if-unused "$g" 2>&1); rc=$?
if [ $rc = 1 ] && grep -q 'in use' <<<"$o" && bound "$g" && [ "$(dut_attr "$g" autoclear)" = 0 ]; then
	ok "detach --if-unused on an open device: exit 1, 'in use', still bound, autoclear unchanged"
else
	fail "detach --if-unused on an open device" "rc $rc: $o" "bound: $(bound "$g" && echo yes || echo no), autoclear $(dut_attr "$g" autoclear)"
fi
exec 7<&-
P=$D/parts.img
truncate -s 16M "$P"
printf 'label: gpt\n,4M\n,4M\n' | sfdisk -q "$P" >/dev/null 2>&1
pd=$(attach_dev --partscan "$P") || bail "attach --partscan: $pd"
np=$(find "/sys/block/$(devname "$pd")/" -maxdepth 1 -name "$(devname "$pd")p*" | wc -l)
o=$(aloopctl detach --wait=10 "$pd" 2>&1); rc=$?
left=$(find "/sys/block/$(devname "$pd")/" -maxdepth 1 -name "$(devname "$pd")p*" 2>/dev/null | wc -l)
if [ "$np" = 2 ] && [ $rc = 0 ] && ! bound "$pd" && [ "$left" = 0 ]; then
	ok "detach --wait: returns unbound with its 2 partitions gone"
else
	fail "detach --wait" "partitions before $np (want 2), rc $rc: $o, bound: $(bound "$pd" && echo yes || echo no), partitions left $left"
fi

# ------------------------------------------------ partitions exactly once
# kernel uevents of DEV's partitions while CMD runs: "add" lines
part_adds() {
	local n=$1; shift
	udevadm monitor --kernel --subsystem-match=block >"$SCRATCH/uev" 2>&1 &
	local mp=$!
	sleep 0.5
	"$@" >/dev/null 2>&1
	sleep 1
	kill $mp 2>/dev/null; wait $mp 2>/dev/null
	grep -c "add .*/${n}p[0-9]* (block)" "$SCRATCH/uev"
}
if have udevadm; then
	G=$D/gpt.img
	truncate -s 16M "$G"
	printf 'label: gpt\n,4M\n,4M\n' | sfdisk -q "$G" >/dev/null 2>&1
	bad=''
	for r in $(seq 10); do
		out=$(aloopctl attach --partscan "$G" 2>&1) || { bad+=" attach: $out"; break; }
		n=$(devname "$out")
		[ -b "${out}p1" ] && [ -b "${out}p2" ] || bad+=" round $r: ${n}p1/p2 missing at return;"
		aloopctl detach --wait=10 "$out" >/dev/null 2>&1 || bad+=" round $r: detach --wait failed;"
	done
	check_eq "attach --partscan x10: both partitions there when attach returns (no settle)" "" "$bad"
	a=$(part_adds "aloop[0-9]*" sh -c "d=\$(aloopctl attach --partscan $G) && sleep 1 && echo \$d >$SCRATCH/pd")
	mod_is_loaded loop || stock_load >/dev/null 2>&1
	diag "stock loop on this kernel: $(part_adds "loop[0-9]*" sh -c "d=\$(losetup -fP --show $G) && sleep 1 && losetup -d \$d") partition add uevents for losetup -P"
	check_eq "attach --partscan: exactly 2 partition add uevents (one scan)" 2 "$a"
	aloopctl detach --wait=10 "$(cat "$SCRATCH/pd" 2>/dev/null)" >/dev/null 2>&1
	npd=$(aloopctl attach --no-partscan "$G" 2>&1)
	o=$(blockdev --rereadpt "$npd" 2>&1); rc=$?
	if [ -n "$npd" ] && [ $rc != 0 ] && [ ! -e "${npd}p1" ] && [ "$(dut_attr "$npd" partscan)" = 0 ]; then
		ok "attach --no-partscan: no partitions, BLKRRPART refused ($o)"
	else
		fail "attach --no-partscan" "$npd; rereadpt rc $rc: $o; p1 $([ -e "${npd}p1" ] && echo present || echo absent)"
	fi
	aloopctl detach "$npd" >/dev/null 2>&1
else
	skip_n 3 "udevadm not installed" "partitions at return" "2 add uevents" "--no-partscan"
fi

# --------------------------------------------------------------- leases
d="attach --lease FILE -- CMD: bound while CMD runs (ALOOP_DEVICE set), detached when it exits, CMD's status"
# shellcheck disable=SC2016 # expanded by the command's shell
o=$(aloopctl attach --lease "$F" -- sh -c 'test -b "$ALOOP_DEVICE" && cat "/sys/block/${ALOOP_DEVICE#/dev/}/aloop/backing_file" && exit 3' 2>&1)
rc=$?
ld=$(head -n 1 <<<"$o")
if [ $rc = 1 ] && [ "$(sed -n 2p <<<"$o")" = "$F" ] && ! bound "$ld"; then
	ok "$d"
else
	fail "$d" "rc $rc (want 1: CMD exited 3)" "$o" "bound after: $(bound "$ld" && echo yes || echo no)"
fi
d="lease: aloopctl killed with SIGKILL while CMD runs: the device detaches"
aloopctl attach --lease "$F" -- sleep 60 >"$SCRATCH/lease.out" 2>&1 &
lp=$!
wait_for 10 test -s "$SCRATCH/lease.out"
ld=$(head -n 1 "$SCRATCH/lease.out")
b1=$(bound "$ld" && echo yes || echo no)
kill -KILL $lp; wait $lp 2>/dev/null
wait_for 10 sh -c "[ -z \"\$(cat /sys/block/$(devname "$ld")/aloop/backing_file)\" ]"
b2=$(bound "$ld" && echo yes || echo no)
pkill -f 'sleep 60' 2>/dev/null
check_eq "$d" "yes no" "$b1 $b2"
d="lease under a mounted filesystem: bound after CMD and aloopctl end, detached at the unmount"
E=$D/ext4.img
truncate -s 64M "$E"
mkfs.ext4 -q -F "$E"
MNT=$(mkmnt life)
o=$(aloopctl attach --lease "$E" -- sh -c "mount \"\$ALOOP_DEVICE\" $MNT && echo data >$MNT/f" 2>&1); rc=$?
ld=$(head -n 1 <<<"$o")
b1=$(bound "$ld" && echo yes || echo no)
umount "$MNT"; MNT=
wait_for 10 sh -c "[ -z \"\$(cat /sys/block/$(devname "$ld")/aloop/backing_file)\" ]"
b2=$(bound "$ld" && echo yes || echo no)
check_eq "$d" "0 yes no" "$rc $b1 $b2"

# ------------------------------------------------------ orphans, reap
if [ -z "$CGWHY" ]; then
	cg_new orph || bail "cannot make cgroup orph"
	od=$(cg_run orph aloopctl attach --owner orphan-test "$F" 2>&1)
	cg_new busy || bail "cannot make cgroup busy"
	bd=$(cg_run busy aloopctl attach --owner orphan-test "$F" 2>&1)
	o1=$(dut_attr "$od" orphan)
	cg_del orph; cg_del busy
	got="$o1 $(dut_attr "$od" orphan) $(aloopctl list -n -O NAME --orphans | sort | tr '\n' ' ')"
	want="0 1 $(printf '%s\n' "$od" "$bd" | sort | tr '\n' ' ')"
	check_eq "the attacher's cgroup removed: orphan 0 -> 1, list --orphans shows both" "$want" "$got"
	o=$(aloopctl reap --orphans --dry-run 2>&1)
	if grep -q "$od: would be detached" <<<"$o" && bound "$od"; then
		ok "reap --orphans --dry-run: names it, detaches nothing"
	else
		fail "reap --orphans --dry-run" "$o"
	fi
	exec 7<"$bd"
	o=$(aloopctl reap --orphans 2>&1); rc=$?
	exec 7<&-
	if [ $rc = 1 ] && grep -q "$od: detached" <<<"$o" && grep -q "$bd: in use, left attached" <<<"$o" &&
	   ! bound "$od" && bound "$bd"; then
		ok "reap --orphans: the unused orphan detached, the open one left attached (exit 1)"
	else
		fail "reap --orphans" "rc $rc" "$o"
	fi
	aloopctl detach "$bd" >/dev/null 2>&1
else
	skip_n 3 "$CGWHY" "orphan" "reap --dry-run" "reap"
fi

# -------------------------------------------- find with 10 and 100 devices
d="find: the same time with 100 devices bound as with 10 (within 2x)"
aloopctl detach-all >/dev/null 2>&1
tfind() {	# 100 finds, milliseconds
	local s e i
	s=$(date +%s%N)
	for i in $(seq 100); do aloopctl find "$F" >/dev/null; done
	e=$(date +%s%N)
	echo $(( (e - s) / 1000000 ))
}
for i in $(seq 10); do aloopctl attach --read-only "$D/parts.img" >/dev/null 2>&1; done
aloopctl attach --read-only "$F" >/dev/null
t10=$(tfind)
for i in $(seq 90); do aloopctl attach --read-only "$D/parts.img" >/dev/null 2>&1; done
t100=$(tfind)
nb=$(aloopctl list -n -O NAME | wc -l)
diag "100 finds: ${t10} ms with 11 devices bound, ${t100} ms with $nb"
if [ "$nb" -ge 100 ] && [ "$t100" -le $((t10 * 2 + 100)) ]; then
	ok "$d (${t10} ms vs ${t100} ms for 100 finds)"
else
	fail "$d" "${t10} ms with 11, ${t100} ms with $nb bound"
fi
aloopctl detach-all >/dev/null 2>&1

klog_clean_step "kernel log clean (no WARNING/BUG/lockdep/KASAN/hung task), no task in D state" "$MARK"
finish
