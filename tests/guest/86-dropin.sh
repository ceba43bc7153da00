#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: drop-in mode (loop_compat=1): util-linux losetup and mount -o loop unchanged, losetup --json like stock loop's, EBUSY next to stock loop
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: unloaded losetup sfdisk mkfs.ext4 findmnt python3
# Drop-in mode, all in one boot:
#  1. stock loop unloaded (SKIP when it is built in: /sys/module/loop
#     without initstate), aloop loaded with loop_compat=1: block major 7
#     named loop, /dev/loop-control (10:237), loop0..7 with aloop/,
#     loop/ only while bound, ALOOP_GET_FEATURES on /dev/loop-control;
#  2. the same losetup steps (steps below) with util-linux unchanged:
#     -f --show, -o/--sizelimit, --direct-io=on|off, -r, -P on a
#     2-partition image, -a, -j, -c, mount -o loop of ext4 and a file read
#     back, -d, -D; each device's losetup --json recorded;
#  3. aloop unloaded, stock loop loaded (modprobe loop): aloop with
#     loop_compat=1 is refused with EBUSY and the kernel log says why,
#     nothing of it is left registered, /dev/loop-control still serves
#     stock loop; then the same steps on stock loop;
#  4. losetup --json has the same keys and types on both, and the values
#     that must match do (sizelimit, offset, ro, autoclear, log-sec,
#     back-file; dio where it was asked for; loop/partscan); dio of a
#     device set up without --direct-io differs on purpose (aloop: on);
#  5. stock loop and aloop both unloaded at the end.
# Images are small (8-16 MiB) so that it stays fast under TCG.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

NSTEPS=14		# results of steps(), per driver
NPLAN=$((5 + NSTEPS + 1 + 4 + NSTEPS + 2 + 1))
plan "$NPLAN"

why=$(need_env) || bail "$why"
if [ -d /sys/module/loop ] && [ ! -e /sys/module/loop/initstate ]; then
	skip_n "$NPLAN" "stock loop is built into this kernel (CONFIG_BLK_DEV_LOOP=y): drop-in mode needs it as a module" \
		"drop-in mode"
	finish
fi

D=$(test_dir dropin)
MNT=$(mkmnt dropin)
REC=$SCRATCH/dropin
mkdir -p "$REC/src"
final_cleanup() {
	umount "$MNT" 2>/dev/null
	losetup -D 2>/dev/null
	sleep 0.2
	if mod_is_loaded aloop; then rmmod aloop 2>/dev/null || { sleep 1; rmmod aloop; }; fi
	if mod_is_loaded loop; then rmmod loop 2>/dev/null || { sleep 1; rmmod loop; }; fi
}
on_exit final_cleanup

# klog_since MARK: the kernel log after the marker line (klog_mark)
klog_since() { dmesg 2>/dev/null | awk -v m="$1" 'f { print } index($0, m) { f = 1 }'; }
# bound DEV: loop/backing_file exists (util-linux's test for a used device)
bound() { [ -e "/sys/block/$(devname "$1")/loop/backing_file" ]; }
unbound() { ! bound "$1"; }
none_bound() { ! compgen -G '/sys/block/loop*/loop/backing_file' >/dev/null; }
lattr() { cat "/sys/block/$(devname "$1")/loop/$2" 2>/dev/null; }

# The images: made once, the same for both drivers.
for f in plain off dio ro; do mkrand "$D/$f.img" $((8 * MiB)); done
truncate -s $((8 * MiB)) "$D/parts.img"
printf 'label: dos\nsize=3MiB, type=83\ntype=83\n' | sfdisk -q "$D/parts.img" >/dev/null 2>&1 ||
	bail "sfdisk on $D/parts.img failed"
echo "hello from drop-in mode" >"$REC/src/hello"
mkrand "$REC/src/data" $((1 * MiB))
truncate -s $((16 * MiB)) "$D/fs.img"
out=$(mkfs.ext4 -q -F -d "$REC/src" "$D/fs.img" 2>&1) || bail "mkfs.ext4 -d: $out"
DATASUM=$(sha "$REC/src/data")

# rec KIND STEP DEV: losetup --json of DEV and its loop/partscan, for the
# comparison at the end: lines "keys ...", "values ...", "dio ...",
# "partscan N" in $REC/KIND.STEP
rec() {
	local j
	j=$(losetup -J -l "$3" 2>&1) || { echo "keys losetup -J -l $3 failed: $j" >"$REC/$1.$2"; return 1; }
	"$PYTHON" - "$j" "$(lattr "$3" partscan)" >"$REC/$1.$2" 2>&1 <<'PY'
import json, sys
d = json.loads(sys.argv[1])["loopdevices"][0]
print("keys " + " ".join(k + ":" + type(v).__name__ for k, v in sorted(d.items())))
print("values " + " ".join("%s=%s" % (k, d.get(k)) for k in
      ("sizelimit", "offset", "ro", "autoclear", "log-sec", "back-file")))
print("dio %s" % d.get("dio"))
print("partscan " + sys.argv[2])
PY
}

# steps KIND: the losetup/mount recipe on whichever driver has major 7;
# NSTEPS results.  KIND is aloop or stock.
steps() {
	local k=$1 dev d2 d3 d4 d5 d6 out got src l f n
	truncate -s $((8 * MiB)) "$D/plain.img"

	dev=$(losetup -f --show "$D/plain.img" 2>&1)
	if [[ $dev =~ ^/dev/loop[0-9]+$ ]] && wait_dev "$dev" && bound "$dev" &&
	   [ "$(lattr "$dev" backing_file)" = "$D/plain.img" ] && [ "$(lattr "$dev" offset)" = 0 ] &&
	   [ "$(devsize "$dev")" = $((8 * MiB)) ]; then
		ok "$k: losetup -f --show: $dev, loop/backing_file and offset, 8 MiB"
	else
		fail "$k: losetup -f --show: a bound /dev/loopN" "$dev" "$(ls "/sys/block/$(devname "$dev")/loop" 2>&1)"
	fi
	rec "$k" plain "$dev"
	if [ "$k" = aloop ]; then
		[ -d "/sys/block/$(devname "$dev")/aloop" ] &&
			[ "$(dut_attr "$dev" backing_file)" = "$D/plain.img" ] &&
			[ "$(dut_attr "$dev" offset)" = "$(lattr "$dev" offset)" ] &&
			[ "$(dut_attr "$dev" dio)" = "$(lattr "$dev" dio)" ]
		result "$k: $dev is served by aloop: aloop/ has the same backing_file, offset and dio as loop/" $? \
			"$(grep . "/sys/block/$(devname "$dev")"/{aloop,loop}/{backing_file,offset,dio} 2>&1)"
	else
		[ ! -e "/sys/block/$(devname "$dev")/aloop" ]
		result "$k: $dev is stock loop's (no aloop/)" $?
	fi

	d2=$(losetup -f --show -o $((1 * MiB)) --sizelimit $((2 * MiB)) "$D/off.img" 2>&1)
	if wait_dev "$d2" && [ "$(lattr "$d2" offset)" = $((1 * MiB)) ] &&
	   [ "$(lattr "$d2" sizelimit)" = $((2 * MiB)) ] && [ "$(devsize "$d2")" = $((2 * MiB)) ] &&
	   [ "$(sha_dev "$d2")" = "$(sha_range "$D/off.img" $((1 * MiB)) $((2 * MiB)))" ]; then
		ok "$k: -o 1M --sizelimit 2M: loop/offset, loop/sizelimit, 2 MiB, the file's bytes at 1 MiB"
	else
		fail "$k: -o 1M --sizelimit 2M" "$d2" "offset $(lattr "$d2" offset) sizelimit $(lattr "$d2" sizelimit) size $(devsize "$d2")"
	fi
	rec "$k" offset "$d2"

	d3=$(losetup -f --show --direct-io=on "$D/dio.img" 2>&1)
	wait_dev "$d3" && [ "$(lattr "$d3" dio)" = 1 ]
	result "$k: --direct-io=on: loop/dio 1" $? "$d3: dio '$(lattr "$d3" dio)'"
	rec "$k" dio-on "$d3"
	# losetup --direct-io=off only leaves LO_FLAGS_DIRECT_IO out: the
	# device gets the driver's default - stock loop's is off, aloop's is
	# its dio parameter (Y: on where the file allows it)
	want=0
	[ "$k" != aloop ] || [ "$(cat /sys/module/aloop/parameters/dio 2>/dev/null)" != Y ] || want=1
	d4=$(losetup -f --show --direct-io=off "$D/dio.img" 2>&1)
	wait_dev "$d4" && [ "$(lattr "$d4" dio)" = "$want" ]
	result "$k: --direct-io=off (nothing asked): loop/dio $want, the driver's default" $? "$d4: dio '$(lattr "$d4" dio)'"
	rec "$k" dio-off "$d4"

	d5=$(losetup -f --show -r "$D/ro.img" 2>&1)
	if wait_dev "$d5" && [ "$(blk_attr "$d5" ro)" = 1 ] &&
	   ! dd if=/dev/zero of="$d5" bs=4k count=1 oflag=direct status=none 2>/dev/null; then
		ok "$k: -r: ro 1, a write fails"
	else
		fail "$k: -r: ro 1, a write fails" "$d5: ro '$(blk_attr "$d5" ro)'"
	fi
	rec "$k" ro "$d5"

	d6=$(losetup -f --show -P "$D/parts.img" 2>&1)
	if wait_dev "$d6" && wait_dev "${d6}p1" && wait_dev "${d6}p2" && [ "$(lattr "$d6" partscan)" = 1 ] &&
	   [ "$(devsize "${d6}p1")" = $((3 * MiB)) ]; then
		ok "$k: -P: ${d6}p1 (3 MiB) and ${d6}p2, loop/partscan 1"
	else
		fail "$k: -P: two partitions" "$d6" "$(compgen -G "${d6}p*")" "partscan '$(lattr "$d6" partscan)'"
	fi
	rec "$k" partscan "$d6"

	# -a: every bound device, "DEV: [DEVNO]:INODE (FILE)", nothing else
	out=$(losetup -a 2>&1)
	got=0
	for l in "$dev plain" "$d2 off" "$d3 dio" "$d4 dio" "$d5 ro" "$d6 parts"; do
		read -r f n <<<"$l"
		grep -qF "$f: " <<<"$out" && grep -q "^$f: .*($D/$n.img)" <<<"$out" || got=1
	done
	[ $got = 0 ] && [ "$(grep -c . <<<"$out")" = 6 ]
	result "$k: -a lists the six devices with their files" $? "$out"

	out=$(losetup -j "$D/dio.img" 2>&1)
	[ "$(grep -c . <<<"$out")" = 2 ] && grep -q "^$d3: " <<<"$out" && grep -q "^$d4: " <<<"$out"
	result "$k: -j dio.img: exactly $d3 and $d4" $? "$out"

	truncate -s $((12 * MiB)) "$D/plain.img"
	out=$(losetup -c "$dev" 2>&1)
	[ "$(devsize "$dev")" = $((12 * MiB)) ]
	result "$k: -c after the file grew to 12 MiB: $dev is 12 MiB" $? "$out" "size $(devsize "$dev")"

	# mount -o loop: libmount's own loop setup (autoclear)
	out=$(mount -o loop "$D/fs.img" "$MNT" 2>&1)
	src=$(findmnt -n -o SOURCE "$MNT" 2>/dev/null)
	if [[ $src =~ ^/dev/loop[0-9]+$ ]] && [ "$(cat "$MNT/hello" 2>/dev/null)" = "hello from drop-in mode" ] &&
	   [ "$(sha "$MNT/data")" = "$DATASUM" ] && [ "$(lattr "$src" autoclear)" = 1 ] &&
	   { [ "$k" = stock ] || [ -d "/sys/block/$(devname "$src")/aloop" ]; }; then
		ok "$k: mount -o loop of ext4: $src, files read back, loop/autoclear 1"
	else
		fail "$k: mount -o loop of ext4: files read back, autoclear" "$out" "source '$src'" \
			"autoclear '$(lattr "$src" autoclear)'"
	fi
	[ -n "$src" ] && rec "$k" mount "$src"
	out=$(umount "$MNT" 2>&1)
	[ -n "$src" ] && wait_for 10 unbound "$src"
	result "$k: umount: the autoclear device $src is detached" $? "$out"

	out=$(losetup -d "$dev" 2>&1)
	wait_for 10 unbound "$dev" && bound "$d2"
	result "$k: -d $dev: detached (loop/ gone), the others stay" $? "$out"

	out=$(losetup -D 2>&1)
	wait_for 10 none_bound
	result "$k: -D: no bound loop device left" $? "$out" "$(compgen -G '/sys/block/loop*/loop/backing_file')"
	for f in "$d6" "$d5" "$d4" "$d3" "$d2"; do [ -z "$f" ] || wait_for 5 unbound "$f"; done
	return 0
}

# ------------------------------------------------ 1. aloop in loop's place
if mod_is_loaded loop; then
	out=$(rmmod_wait loop) || bail "cannot unload stock loop: $out"
fi
m=$(klog_mark)
out=$(insmod "$ALOOP_KO" loop_compat=1 2>&1)
rc=$?
wait_chr /dev/loop-control && wait_dev /dev/loop7
result "insmod aloop loop_compat=1 with stock loop unloaded: /dev/loop-control, loop0..7" $((rc || $?)) \
	"$out" "$(klog_since "$m")"
mod_is_loaded aloop || bail "aloop is not loaded"

names=$(awk '/^Block devices:/ {b=1; next} b && ($2 == "loop" || $2 == "aloop") {print $1, $2}' /proc/devices)
if [ "$names" = "7 loop" ] && [ "$(cat /sys/class/misc/loop-control/dev 2>/dev/null)" = 10:237 ] &&
   [ "$(stat -c '%F %t:%T' /dev/loop-control 2>/dev/null)" = "character special file a:ed" ] &&
   [ ! -e /sys/class/misc/aloop-control ] && [ -d /sys/block/loop0/aloop ] && [ -d /sys/block/loop7/aloop ] &&
   [ "$(cat /sys/module/aloop/parameters/loop_compat)" = Y ]; then
	ok "names: block major 7 'loop', /dev/loop-control 10:237, loop0..7 with aloop/, no aloop-control"
else
	fail "names: block major 7 'loop', /dev/loop-control 10:237, loop0..7 with aloop/" \
		"/proc/devices: $names" "$(ls -l /dev/loop-control 2>&1)" "$(ls -d /sys/block/*loop* 2>&1)"
fi
[ -d /sys/block/loop0/aloop ] && [ ! -e /sys/block/loop0/loop ]
result "an unbound device has no loop/ (as stock loop): util-linux takes loop/backing_file for 'used'" $? \
	"$(ls /sys/block/loop0 2>&1)"
o=$(ioc features /dev/loop-control)
[ "$(ioc1_of "$o")" = OK ] && [ "$(kv version "$o")" = "$(kv abi_version "$o")" ]
result "ALOOP_GET_FEATURES on /dev/loop-control" $? "$o"
if have aloopctl; then
	dev=$(losetup -f --show "$D/plain.img" 2>&1)
	out=$(aloopctl list -n -O NAME,BACK-FILE 2>&1)
	losetup -d "$dev" 2>/dev/null
	wait_for 10 unbound "$dev"
	[ "$(tr -s ' ' <<<"$out")" = "$dev $D/plain.img" ]
	result "aloopctl list in drop-in mode: $dev and its file" $? "$out"
else
	skip "aloopctl list in drop-in mode" "aloopctl is not built"
fi

steps aloop

out=$(rmmod_wait aloop)
[ -z "$out" ] && ! mod_is_loaded aloop && wait_gone /dev/loop-control &&
	! grep -q '^ *7 ' <(awk '/^Block devices:/ {b=1; next} b' /proc/devices)
result "rmmod aloop: /dev/loop-control gone, block major 7 free" $? "$out" "$(cat /proc/devices)"

# -------------------------------------- 2. stock loop; aloop refused by it
out=$(modprobe loop 2>&1) && wait_chr /dev/loop-control && wait_dev /dev/loop0
result "modprobe loop: stock loop back on major 7" $? "$out"
mod_is_loaded loop || bail "stock loop is not loaded"

m=$(klog_mark)
out=$(insmod "$ALOOP_KO" loop_compat=1 2>&1)
rc=$?
log=$(klog_since "$m")
[ $rc != 0 ] && [[ $out == *"Device or resource busy"* ]] &&
	grep -q "aloop: loop_compat: block major 7 is stock loop's; unload it (modprobe -r loop) or load aloop without loop_compat" <<<"$log"
result "insmod aloop loop_compat=1 while stock loop is loaded: EBUSY, the kernel log says why" $? \
	"insmod: $out" "$log"
names=$(awk '/^Block devices:/ {b=1; next} b && ($2 == "loop" || $2 == "aloop") {print $1, $2}' /proc/devices)
! mod_is_loaded aloop && [ "$names" = "7 loop" ] && [ ! -e /sys/class/misc/aloop-control ] &&
	[ "$(cat /sys/class/misc/loop-control/dev 2>/dev/null)" = 10:237 ] && [ ! -e /sys/block/loop0/aloop ]
result "nothing of aloop left registered: no module, /proc/devices '7 loop' only, loop-control stock loop's" $? \
	"/proc/devices: $names" "$(ls /sys/class/misc 2>&1)"
dev=$(losetup -f --show "$D/plain.img" 2>&1)
wait_dev "$dev" && bound "$dev" && [ ! -e "/sys/block/$(devname "$dev")/aloop" ] && losetup -d "$dev" &&
	wait_for 10 unbound "$dev"
result "/dev/loop-control still serves stock loop: losetup -f --show, -d" $? "$dev"

steps stock

# ------------------------------------------- 3. losetup --json: aloop = stock
keys_bad='' vals_bad='' dio_bad=
for s in plain offset dio-on dio-off ro partscan mount; do
	a=$REC/aloop.$s b=$REC/stock.$s
	if [ ! -s "$a" ] || [ ! -s "$b" ]; then
		keys_bad+=" $s: not recorded ($(cat "$a" "$b" 2>&1))"
		continue
	fi
	[ "$(grep '^keys ' "$a")" = "$(grep '^keys ' "$b")" ] ||
		keys_bad+=$'\n'"$s: aloop $(grep '^keys ' "$a")"$'\n'"$s: stock $(grep '^keys ' "$b")"
	[ "$(grep -E '^(values|partscan) ' "$a")" = "$(grep -E '^(values|partscan) ' "$b")" ] ||
		vals_bad+=$'\n'"$s: aloop $(grep -E '^(values|partscan) ' "$a" | paste -sd ' ')"$'\n'"$s: stock $(grep -E '^(values|partscan) ' "$b" | paste -sd ' ')"
	case $s in dio-on)	# dio-off is the driver's default (above)
		[ "$(grep '^dio ' "$a")" = "$(grep '^dio ' "$b")" ] ||
			dio_bad+=" $s: aloop '$(grep '^dio ' "$a")' stock '$(grep '^dio ' "$b")'" ;;
	esac
done
[ -z "$keys_bad" ]
result "losetup --json: the same keys and value types on aloop and stock loop, every step" $? \
	"$keys_bad" "$(grep -h '^keys ' "$REC"/aloop.plain)"
[ -z "$vals_bad$dio_bad" ]
result "losetup --json: sizelimit, offset, ro, autoclear, log-sec, back-file, loop/partscan and asked-for dio equal" $? \
	"$vals_bad" "$dio_bad"
diag "dio without --direct-io: aloop '$(grep '^dio ' "$REC/aloop.plain")', stock loop '$(grep '^dio ' "$REC/stock.plain")' (aloop's default is on where the file allows it)"

# ------------------------------------------------------------ 4. clean slate
final_cleanup
! mod_is_loaded loop && ! mod_is_loaded aloop
result "stock loop and aloop both unloaded at the end" $? "$(grep -E '^a?loop ' /proc/modules)"

finish
