#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: parity with stock loop: every finding of the correctness review (F1-F19), aloop and stock loop in one boot
# aloop-timeout: 600
# aloop-driver: any
# aloop-needs: aloopctl stock-loop
# Parity with stock loop for the findings of the correctness review
# (/work/shared/reviews/correctness-review.md, F1-F19): each step runs
# one recipe on the device under test and, as the control, on a stock
# loop device in the same boot.  Where stock loop is known to be wrong
# on the running kernel its result is only a diagnostic; where running
# stock's recipe would itself upset the kernel (a WARNING for the log
# scan, a hang) it is not run.  The cycle test (F4) runs last: if it
# fails the way the review found, the I/O it would issue never ends.
. "$(dirname "$0")/lib.sh"

plan 37

MNT=$(mkmnt parity-a)
MNT2=$(mkmnt parity-b)
BRD_LOADED=0 STOCK_RELOADED=0
parity_cleanup() {
	local m d
	awk '$2 ~ "^/run/aloop/mnt/parity" {print $2}' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m"; done
	fsfreeze -u "$BACKING" 2>/dev/null
	for d in /sys/block/"$DUT"[0-9]*; do
		[ -e "$d" ] && timeout 10 "$ALO_IOCTL" clr-fd "/dev/${d##*/}"
	done
	[ "$DUT" = loop ] || timeout 20 losetup -D
	[ "$BRD_LOADED" = 0 ] || { sleep 0.5; rmmod brd; }
	if [ "$STOCK_RELOADED" = 1 ]; then	# F9 left loop with max_part=15
		rmmod loop && modprobe loop
	fi
}
on_exit parity_cleanup
D=$(test_dir parity)

# --------------------------------------------------------------- helpers
KV=$(uname -r)

dmesg_mark() { dmesg 2>/dev/null | wc -l; }
dmesg_new() { dmesg 2>/dev/null | tail -n +"$(($1 + 1))"; }
# dev_errors MARK NAME: kernel log lines since MARK naming NAME with an error
dev_errors() { dmesg_new "$1" | grep -E "$2([^0-9]|\$)" | grep -iE 'error|fail'; }


# sattach [LOSETUP-OPTIONS] FILE: bind a stock loop device that is never
# one the DUT could pick (with DUT=loop: indices 200+)
sattach() {
	local d o file=${*: -1}
	d=$(stock_free) || { echo "no free stock loop device"; return 1; }
	o=$(losetup "${@:1:$#-1}" "$d" "$file" 2>&1) || { echo "losetup $* on $d: $o"; return 1; }
	echo "$d"
}
sattr() { cat "/sys/block/$(devname "$1")/loop/$2" 2>/dev/null; }

# dut_attach_dio FILE: DUT device on FILE with direct I/O (aloop's default)
dut_attach_dio() {
	local d o
	if [ "$DUT" = loop ]; then
		d=$(free_dev) || { echo "$d"; return 1; }
		o=$(ioc1 configure "$d" "$(readlink -f "$1")" --flags 16)
		[ "$o" = OK ] || { echo "configure $d: $o"; return 1; }
		echo "$d"
	else
		attach_dev "$1"
	fi
}
detach() { [ -z "${1:-}" ] || timeout 10 "$ALO_IOCTL" clr-fd "$1" >/dev/null 2>&1; }

# dstate: "pid comm" of every task in D state
dstate() {
	local f l c st
	for f in /proc/[0-9]*/stat; do
		IFS= read -r l 2>/dev/null <"$f" || continue
		st=${l##*) }; st=${st%% *}
		[ "$st" = D ] || continue
		c=${l#*(}; c=${c%)*}
		echo "$(basename "$(dirname "$f")") $c"
	done
}

# the block device under directory DIR, whole disk (for queue/ attributes)
backing_disk() {
	local s n
	s=$(awk -v d="$1" '$2 == d {print $1}' /proc/mounts | tail -n 1)
	n=$(basename "$(readlink -f "$s")")
	[ -e "/sys/class/block/$n/partition" ] && n=$(basename "$(dirname "$(readlink -f "/sys/class/block/$n")")")
	echo "$n"
}

PAT=$SCRATCH/pat4k
mkpattern "$PAT" 4096 253	# 0xAB

# ================================================================== F1
# The buffered path must not take the backing file's open flags.
f1a_run() {	# DEV FILE: configure, dio off, O_APPEND, one direct write at 0
	local dev=$1 f=$2 o p=() sz
	o=$(ioc configure "$dev" "$f" --set-dio 0 --setfl-append)
	[ "$(ioc1_of "$o")" = OK ] && [ "$(kv set_dio "$o")" = OK ] && [ "$(kv setfl "$o")" = OK ] ||
		{ echo "setup: $o"; return 1; }
	timeout 20 dd if="$PAT" of="$dev" bs=4k count=1 oflag=direct conv=notrunc status=none 2>&1 ||
		p+=("direct write failed")
	sz=$(stat -c %s "$f")
	[ "$sz" = $((16 * MiB)) ] || p+=("file size $sz, was $((16 * MiB))")
	cmp -s -n 4096 "$PAT" "$f" || p+=("pattern not at file offset 0")
	timeout 20 dd if="$dev" bs=4k count=1 iflag=direct status=none 2>/dev/null | cmp -s - "$PAT" ||
		p+=("device offset 0 does not read back the pattern")
	[ ${#p[@]} = 0 ] || { echo "${p[*]}"; return 1; }
}
desc="F1a: backing fd with O_APPEND, dio off: a 4 KiB O_DIRECT write at 0 lands at file offset 0"
if [ "$DUT" = loop ] && ! kver_ge 6 12; then
	skip "$desc" "stock loop on $KV writes at EOF itself (DUT=loop)"
else
	F=$D/f1a.img; SF=$D/f1a-stock.img
	mkrand "$F" $((16 * MiB)); mkrand "$SF" $((16 * MiB))
	DEV=$(free_dev); av=$(f1a_run "$DEV" "$F"); arc=$?
	adio=$(dut_attr "$DEV" dio); detach "$DEV"
	SDEV=$(stock_free); s=$(f1a_run "$SDEV" "$SF"); src=$?; detach "$SDEV"
	if kver_ge 6 12; then
		result "$desc (stock loop: same)" $((arc + src)) "$DUT (dio=$adio): ${av:-ok}" "stock loop: ${s:-ok}"
	else
		result "$desc" $arc "$DUT (dio=$adio): ${av:-ok}"
		diag "stock loop on $KV (known wrong before 6.12): ${s:-correct}"
	fi
fi

f1b_run() {	# DEV FILE: O_DIRECT fd, offset 256: reads must still work
	local dev=$1 f=$2 o p=() exp
	o=$(ioc1 configure "$dev" "$f" --open-direct --offset 256)
	[ "$o" = OK ] || { echo "configure: $o"; return 1; }
	exp=$(sha_range "$f" 256 16384)
	if timeout 20 dd if="$dev" of="$SCRATCH/f1b.d" bs=4k count=4 iflag=direct status=none 2>"$SCRATCH/f1b.err"; then
		[ "$(sha "$SCRATCH/f1b.d")" = "$exp" ] || p+=("O_DIRECT reader: data differs from the file at 256")
	else
		p+=("O_DIRECT reader: $(cat "$SCRATCH/f1b.err")")
	fi
	if timeout 20 dd if="$dev" of="$SCRATCH/f1b.b" bs=4k count=4 status=none 2>"$SCRATCH/f1b.err"; then
		[ "$(sha "$SCRATCH/f1b.b")" = "$exp" ] || p+=("buffered reader: data differs from the file at 256")
	else
		p+=("buffered reader: $(cat "$SCRATCH/f1b.err")")
	fi
	[ ${#p[@]} = 0 ] || { echo "${p[*]}"; return 1; }
}
desc="F1b: backing fd opened O_DIRECT, offset 256: direct and buffered 16 KiB reads match the file at 256"
F=$D/f1b.img; mkrand "$F" $((16 * MiB))
if [ "$DUT" = loop ] && ! kver_ge 6 12; then
	skip "$desc" "stock loop on $KV fails these reads itself (DUT=loop)"
	skip "F1b: dio off, dio_reason names the offset" "aloop only (DUT=$DUT)"
else
	DEV=$(free_dev); av=$(f1b_run "$DEV" "$F"); arc=$?
	adio=$(dut_attr "$DEV" dio); reason=$(dut_attr "$DEV" dio_reason)
	SDEV=$(stock_free); s=$(f1b_run "$SDEV" "$F"); src=$?; sdio=$(sattr "$SDEV" dio); detach "$SDEV"
	if kver_ge 6 12; then
		result "$desc (stock loop: same)" $((arc + src)) "$DUT: ${av:-ok}" "stock loop (dio=$sdio): ${s:-ok}"
	else
		result "$desc" $arc "$DUT: ${av:-ok}"
		diag "stock loop on $KV (known wrong before 6.12): ${s:-correct}"
	fi
	if [ "$DUT" = loop ]; then
		skip "F1b: dio off, dio_reason names the offset" "aloop only (DUT=$DUT)"
	elif [ "$adio" = 0 ] && [[ $reason == *"offset 256"* ]]; then
		ok "F1b: dio off, dio_reason names the offset ('$reason')"
	else
		fail "F1b: dio off, dio_reason names the offset" "dio=$adio dio_reason='$reason'"
	fi
	detach "$DEV"
fi

# ================================================================== F2
# No change of geometry or backing under an exclusive opener.
mkfs_1k() { truncate -s 64M "$1" && timeout 60 mkfs.ext4 -F -q -b 1024 "$1" >/dev/null 2>&1; }

# Stock first, on its own image and mounted read-only: before 6.19 stock
# accepts a new offset under the mount, and a read-only fs cannot be
# damaged by it (it is put back at once).  Then the DUT's log window
# starts clean.
SIMG=$D/f2-stock.img; s_bs=- s_off=- s_name=- s_ac=-
if mkfs_1k "$SIMG" && SDEV=$(sattach "$SIMG") && timeout 30 mount -o ro -t ext4 "$SDEV" "$MNT2"; then
	s_bs=$(ioc1 set-bs "$SDEV" 4096)
	s_off=$(ioc1 set-status-keep "$SDEV" --offset 4096)
	[ "$s_off" != OK ] || ioc set-status "$SDEV" >/dev/null
	sfl=$(kv flags "$(ioc get-status "$SDEV")")
	s_name=$(ioc1 set-status-keep "$SDEV" --name parity-renamed)
	s_ac="$(ioc1 set-status-keep "$SDEV" --flags $((${sfl:-0} | 4))) $(ioc1 set-status-keep "$SDEV" --flags $((${sfl:-0} & ~4)))"
	timeout 30 umount "$MNT2"
else
	diag "F2: stock control could not be set up: ${SDEV:-}"
fi
detach "${SDEV:-}"

IMG=$D/f2.img
if ! mkfs_1k "$IMG" || ! DEV=$(attach_dev "$IMG") || ! timeout 30 mount -t ext4 "$DEV" "$MNT"; then
	fail "F2: 1K-block ext4 on $DUT mounted" "mkfs/attach/mount failed: ${DEV:-}"
	skip_n 3 "no mounted filesystem" "set-status offset" "harmless set-status" "fs intact"
else
	mkdir -p "$MNT/sub/deeper"
	for i in $(seq 50); do
		head -c $(((i * 997) % 8192 + 1)) /dev/urandom >"$MNT/f$i"
	done
	for i in 1 2 3; do mkrand "$MNT/sub/deeper/g$i" $((i * 3000)); done
	(cd "$MNT" && find . -type f -exec md5sum {} + >"$SCRATCH/f2.md5")
	sync
	mark=$(dmesg_mark)
	a_bs=$(ioc1 set-bs "$DEV" 4096)
	check_eq "F2: LOOP_SET_BLOCK_SIZE 4096 under a mounted 1K-block ext4: EBUSY (stock loop: $s_bs)" \
		"EBUSY EBUSY" "$a_bs $s_bs"

	desc="F2: LOOP_SET_STATUS64 with a new offset under the mount: EBUSY"
	if [ "$DUT" = loop ] && ! kver_ge 6 19; then
		skip "$desc" "stock loop on $KV accepts it (claims only from 6.19; DUT=loop)"
	else
		a_off=$(ioc1 set-status-keep "$DEV" --offset 4096)
		[ "$a_off" != OK ] || ioc set-status "$DEV" --name "$IMG" >/dev/null	# offset back to 0
		check_eq "$desc" EBUSY "$a_off"
	fi
	diag "F2: stock loop answers the new offset under a mount with $s_off (EBUSY expected from 6.19 only)"

	desc="F2: LOOP_SET_STATUS64 changing only the name, then AUTOCLEAR on and off, under the mount: OK"
	if [ "$DUT" = loop ] && kver_ge 6 19; then
		skip "$desc" "stock loop from 6.19 claims the device for every SET_STATUS (DUT=loop)"
	else
		fl=$(kv flags "$(ioc get-status "$DEV")")
		a_name=$(ioc1 set-status-keep "$DEV" --name parity-renamed)
		nm=$(kv file "$(ioc get-status "$DEV")")
		a_ac1=$(ioc1 set-status-keep "$DEV" --flags $((${fl:-0} | 4)))
		ac1=$(dut_attr "$DEV" autoclear)
		a_ac2=$(ioc1 set-status-keep "$DEV" --flags $((${fl:-0} & ~4)))
		ac2=$(dut_attr "$DEV" autoclear)
		check_eq "$desc" "OK parity-renamed OK 1 OK 0" "$a_name $nm $a_ac1 $ac1 $a_ac2 $ac2"
	fi
	diag "F2: stock loop: name-only $s_name, AUTOCLEAR on/off $s_ac"

	p=()
	drop_caches
	timeout 30 ls -R "$MNT" >/dev/null 2>"$SCRATCH/f2.ls" || p+=("ls -R: $(head -n 3 "$SCRATCH/f2.ls")")
	(cd "$MNT" && timeout 30 md5sum -c --quiet "$SCRATCH/f2.md5") >"$SCRATCH/f2.sum" 2>&1 ||
		p+=("files differ: $(head -n 3 "$SCRATCH/f2.sum")")
	timeout 30 umount "$MNT" || p+=("umount failed")
	detach "$DEV"
	o=$(timeout 60 e2fsck -fn "$IMG" 2>&1) || p+=("e2fsck -fn: $(tail -n 3 <<<"$o")")
	bad=$(dmesg_new "$mark" | grep -E 'getblk\(\)|Aborting journal|WARNING:|BUG:|EXT4-fs error|Buffer I/O error')
	[ -z "$bad" ] || p+=("kernel log: $bad")
	result "F2: the filesystem survives (ls -R, md5sums, umount, e2fsck), no getblk()/Aborting journal in dmesg" \
		${#p[@]} "${p[@]}"
fi

# An O_EXCL opener of an unbound node blocks LOOP_CONFIGURE.
IMG2=$D/f2-excl.img; mkrand "$IMG2" $((4 * MiB))
DEV=$(free_dev); SDEV=$(stock_free)
"$ALO_IOCTL" --hold 30 open-excl "$DEV" >"$SCRATCH/f2.h1" 2>&1 & H1=$!
"$ALO_IOCTL" --hold 30 open-excl "$SDEV" >"$SCRATCH/f2.h2" 2>&1 & H2=$!
wait_for 5 grep -q . "$SCRATCH/f2.h1"; wait_for 5 grep -q . "$SCRATCH/f2.h2"
h="$(head -n 1 "$SCRATCH/f2.h1") $(head -n 1 "$SCRATCH/f2.h2")"
av=$(ioc1 configure "$DEV" "$IMG2"); s=$(ioc1 configure "$SDEV" "$IMG2")
check_eq "F2: LOOP_CONFIGURE while another process holds the node O_EXCL: EBUSY (stock loop: $s)" \
	"OK OK EBUSY EBUSY" "$h $av $s"
[ "$av" != OK ] || detach "$DEV"
[ "$s" != OK ] || detach "$SDEV"
kill "$H1" "$H2" 2>/dev/null; wait "$H1" "$H2" 2>/dev/null
av=$(ioc1 configure "$DEV" "$IMG2"); s=$(ioc1 configure "$SDEV" "$IMG2")
check_eq "F2: after the O_EXCL holder exits LOOP_CONFIGURE succeeds (stock loop: $s)" "OK OK" "$av $s"
detach "$DEV"; detach "$SDEV"

# ================================================================== F3
# Direct-I/O writes wait for a frozen backing filesystem.
d1="F3: O_DIRECT write to the device waits while the backing fs is frozen (not done after 4 s)"
d2="F3: after the thaw the write completes within 20 s, data in the file, no new WARNING"
if ! have fsfreeze; then
	skip_n 2 "fsfreeze is not installed" "$d1" "$d2"
elif [ "$DUT" = loop ] && ! kver_ge 6 12; then
	skip_n 2 "stock loop on $KV writes into the frozen fs itself (DUT=loop)" "$d1" "$d2"
else
	F=$D/f3.img; truncate -s 16M "$F"
	mkrand "$SCRATCH/f3.pat" $((64 * 1024))
	DEV=$(dut_attach_dio "$F"); adio=$(dut_attr "$DEV" dio)
	# Stock before 6.12 writes through the freeze too and WARNs: that
	# would fail the kernel-log scan of the whole run, so it is not run.
	SDEV=
	if [ "$DUT" = aloop ] && kver_ge 6 12; then
		SF=$D/f3-stock.img; truncate -s 16M "$SF"
		SDEV=$(sattach --direct-io=on "$SF") || { diag "F3: stock control: $SDEV"; SDEV=; }
	elif [ "$DUT" = aloop ]; then
		diag "F3: stock control not run: stock loop on $KV (before 6.12) writes into a frozen fs and WARNs"
	fi
	rm -f "$SCRATCH"/f3.rc.*
	mark=$(dmesg_mark)
	if [ -b "$DEV" ] && fsfreeze -f "$BACKING"; then
		for d in "$DEV" $SDEV; do
			( timeout 120 dd if="$SCRATCH/f3.pat" of="$d" bs=4k count=16 oflag=direct conv=notrunc status=none \
				2>"$SCRATCH/f3.err.$(devname "$d")"; echo $? >"$SCRATCH/f3.rc.$(devname "$d")" ) &
		done
		sleep 4
		adone=no sdone=no
		[ -e "$SCRATCH/f3.rc.$(devname "$DEV")" ] && adone=yes
		[ -z "$SDEV" ] || { [ -e "$SCRATCH/f3.rc.$(devname "$SDEV")" ] && sdone=yes; }
		fsfreeze -u "$BACKING"
		if [ -n "$SDEV" ]; then
			check_eq "$d1 (stock loop: same)" "dio=1 no no" "dio=$adio $adone $sdone"
		else
			check_eq "$d1" "dio=1 no" "dio=$adio $adone"
		fi
		p=()
		for d in "$DEV" $SDEV; do
			n=$(devname "$d")
			if ! wait_for 20 test -s "$SCRATCH/f3.rc.$n"; then
				p+=("$n: write still not done 20 s after the thaw")
			elif [ "$(cat "$SCRATCH/f3.rc.$n")" != 0 ]; then
				p+=("$n: dd failed: $(cat "$SCRATCH/f3.err.$n")")
			fi
		done
		[ "$(sha_range "$F" 0 $((64 * 1024)))" = "$(sha "$SCRATCH/f3.pat")" ] || p+=("$DUT: data not in the file")
		[ -z "$SDEV" ] || [ "$(sha_range "$SF" 0 $((64 * 1024)))" = "$(sha "$SCRATCH/f3.pat")" ] ||
			p+=("stock loop: data not in the file")
		w=$(dmesg_new "$mark" | grep -E 'WARNING:|BUG:')
		[ -z "$w" ] || p+=("kernel log: $w")
		result "$d2" ${#p[@]} "${p[@]}"
	else
		fail "$d1" "attach: $DEV, or fsfreeze -f $BACKING failed"
		skip "$d2" "no frozen-fs write"
	fi
	detach "$DEV"; detach "$SDEV"
fi

# ================================================================== F5
# Direct I/O hands the upper fs's pages to the backing: stable writes.
d1="F5: dio on: queue/stable_writes is 1"
d2="F5: dio off (LOOP_SET_DIRECT_IO 0): stable_writes stays 1 (a mounted fs reads it only at mount; dio may come back)"
if [ "$DUT" = loop ]; then
	skip_n 2 "stable writes for dio are aloop's (stock loop defaults to buffered; DUT=$DUT)" "$d1" "$d2"
else
	F=$D/f5.img; mkrand "$F" $((16 * MiB))
	if DEV=$(attach_dev "$F"); then
		check_eq "$d1" "dio=1 stable_writes=1" "dio=$(dut_attr "$DEV" dio) stable_writes=$(blk_attr "$DEV" queue/stable_writes)"
		o=$(ioc1 set-dio "$DEV" 0)
		check_eq "$d2" "OK dio=0 stable_writes=1" \
			"$o dio=$(dut_attr "$DEV" dio) stable_writes=$(blk_attr "$DEV" queue/stable_writes)"
		detach "$DEV"
	else
		fail "$d1" "attach: $DEV"; skip "$d2" "attach failed"
	fi
fi

# btrfs (data checksums) under aloop-dio, an ext4 on top redirtying pages
# under writeback (mmap writer + sync loop): no csum errors afterwards.
d3="F5: ext4 on aloop-dio on a btrfs image, mmap randwrite + sync for 20 s: btrfs scrub finds 0 csum errors"
why=
if [ "$DUT" = loop ]; then why="aloop's dio default (stock loop defaults to buffered; DUT=$DUT)"
elif ! have mkfs.btrfs || ! have btrfs; then why="btrfs-progs (mkfs.btrfs, btrfs) not installed"
elif ! modprobe btrfs 2>/dev/null && ! grep -qw btrfs /proc/filesystems; then why="no btrfs module for $KV"
elif ! have fio; then why="fio is not installed"
fi
if [ -n "$why" ]; then
	skip "$d3" "$why"
else
	MB=$(mkmnt parity-btrfs); MU=$(mkmnt parity-upper)
	BB=
	if [ ! -e /sys/module/brd ] && modprobe brd rd_nr=1 rd_size=262144 2>/dev/null; then
		BRD_LOADED=1
		wait_dev /dev/ram0 && BB=/dev/ram0
	fi
	if [ -z "$BB" ]; then
		truncate -s 256M "$D/f5-btrfs.raw"
		BB=$(sattach "$D/f5-btrfs.raw") || { diag "F5: $BB"; BB=; }
	fi
	p=()
	if [ -z "$BB" ] || ! timeout 60 mkfs.btrfs -f -q "$BB" >"$SCRATCH/f5.mkfs" 2>&1 ||
	   ! timeout 30 mount -t btrfs "$BB" "$MB"; then
		fail "$d3" "btrfs on ${BB:-?}: $(cat "$SCRATCH/f5.mkfs" 2>/dev/null)"
	else
		truncate -s 128M "$MB/img"
		if ! DEV=$(attach_dev --direct-io "$MB/img"); then
			p+=("attach --direct-io: $DEV"); DEV=
		else
			diag "F5: $DEV on btrfs: dio=$(dut_attr "$DEV" dio) '$(dut_attr "$DEV" dio_reason)', stable_writes=$(blk_attr "$DEV" queue/stable_writes), block size $(blk_attr "$DEV" queue/logical_block_size)"
		fi
		mark=$(dmesg_mark)
		if [ -n "$DEV" ] && timeout 60 mkfs.ext4 -q -F "$DEV" >/dev/null 2>&1 &&
		   timeout 30 mount -t ext4 "$DEV" "$MU"; then
			timeout 60 fio --name=mm --directory="$MU" --ioengine=mmap --rw=randwrite --bs=4k \
				--size=32M --time_based --runtime=20 >"$SCRATCH/f5.fio" 2>&1 &
			FIO=$!
			end=$((SECONDS + 20))
			while [ $SECONDS -lt $end ]; do timeout 10 sync; done
			wait "$FIO" || p+=("fio: $(tail -n 3 "$SCRATCH/f5.fio")")
			timeout 60 umount "$MU" || p+=("umount of the ext4 failed")
		elif [ -n "$DEV" ]; then
			p+=("mkfs.ext4/mount on $DEV failed")
		fi
		detach "$DEV"
		sync; drop_caches
		o=$(timeout 120 btrfs scrub start -B "$MB" 2>&1); src=$?
		# btrfs-progs 6.2: "Error summary:    no errors found" or
		# "csum=N"; 6.14 the same, and -R raw output "csum_errors: N"
		n=
		if grep -q 'no errors found' <<<"$o"; then n=0
		elif grep -qE 'csum=[0-9]+' <<<"$o"; then n=$(grep -oE 'csum=[0-9]+' <<<"$o" | head -n 1); n=${n#csum=}
		else
			o2=$(timeout 30 btrfs scrub status -R "$MB" 2>&1)
			n=$(grep -oE 'csum_errors: *[0-9]+' <<<"$o2" | head -n 1); n=${n##* }
			o="$o"$'\n'"$o2"
		fi
		[ "$n" = 0 ] || p+=("scrub: csum errors '${n:-unparsed}'" "$o")
		[ "$src" = 0 ] || p+=("btrfs scrub start -B exit $src")
		timeout 60 dd if="$MB/img" of=/dev/null bs=1M status=none 2>"$SCRATCH/f5.rd" ||
			p+=("reading the image back: $(cat "$SCRATCH/f5.rd")")
		c=$(dmesg_new "$mark" | grep -E 'csum failed|checksum error')
		[ -z "$c" ] || p+=("kernel log: $(head -n 5 <<<"$c")")
		result "$d3" ${#p[@]} "${p[@]}"
	fi
	timeout 30 umount "$MB" 2>/dev/null
	case $BB in /dev/loop*) detach "$BB" ;; esac
	if [ "$BRD_LOADED" = 1 ]; then rmmod brd 2>/dev/null && BRD_LOADED=0; fi
fi

# ================================================================== F6
# Default geometry on a 4K-sector backing: 512 as stock loop.
f6=("F6: GPT image (512-byte sectors) on 4K-sector ext4, --partscan: block size 512, p1 p2 (as losetup -P)"
    "F6: defaults on 4K backing: dio off, dio_reason names block size 512 vs dio alignment 4096"
    "F6: --direct-io on 4K backing: dio on, block size 4096"
    "F6: odd-sized image (1024512 bytes) on 4K backing reads whole (as stock loop)"
    "F6: ext4 with 1K blocks on 4K backing, attached with defaults, mounts (as stock loop)")
if [ -z "$BACK4K" ]; then
	skip_n 5 "no 4K-sector scratch disk (BACK4K)" "${f6[@]}"
else
	G=$BACK4K/f6-gpt.img; truncate -s 64M "$G"
	if ! printf 'label: gpt\n,32M\n,\n' | sfdisk -q "$G" >"$SCRATCH/f6.sfdisk" 2>&1; then
		fail "${f6[0]}" "sfdisk: $(cat "$SCRATCH/f6.sfdisk")"
		skip_n 2 "no partitioned image" "${f6[1]}" "${f6[2]}"
	else
		DEV=$(attach_dev --partscan "$G"); SDEV=$(sattach -r -P "$G")
		av="ss=$(blockdev --getss "$DEV" 2>&1) p1=$(wait_dev "${DEV}p1" 5 && echo y) p2=$(wait_dev "${DEV}p2" 2 && echo y)"
		s="ss=$(blockdev --getss "$SDEV" 2>&1) p1=$(wait_dev "${SDEV}p1" 5 && echo y) p2=$(wait_dev "${SDEV}p2" 2 && echo y)"
		check_eq "${f6[0]}" "ss=512 p1=y p2=y ss=512 p1=y p2=y" "$av $s"
		if [ "$DUT" = loop ]; then
			skip "${f6[1]}" "aloop only (DUT=$DUT)"
		else
			r=$(dut_attr "$DEV" dio_reason)
			if [ "$(dut_attr "$DEV" dio)" = 0 ] && [[ $r == *"block size 512"* ]] && [[ $r == *4096* ]]; then
				ok "${f6[1]} ('$r')"
			else
				fail "${f6[1]}" "dio=$(dut_attr "$DEV" dio) dio_reason='$r'"
			fi
		fi
		detach "$DEV"; detach "$SDEV"
		if [ "$DUT" = loop ]; then
			skip "${f6[2]}" "aloopctl --direct-io: aloop only (DUT=$DUT)"
		elif DEV=$(attach_dev --direct-io "$G"); then
			check_eq "${f6[2]}" "dio=1 lbs=4096" "dio=$(dut_attr "$DEV" dio) lbs=$(blk_attr "$DEV" queue/logical_block_size)"
			detach "$DEV"
		else
			fail "${f6[2]}" "attach --direct-io: $DEV"
		fi
	fi

	O=$BACK4K/f6-odd.img; mkrand "$O" 1024512
	head -c $((1024512 / 512 * 512)) "$O" >"$SCRATCH/f6.odd"
	odd_read() {	# DEV: the whole device equals the image rounded to 512
		timeout 20 cat "$1" >"$SCRATCH/f6.rd" 2>"$SCRATCH/f6.err" || { echo "read: $(cat "$SCRATCH/f6.err")"; return 1; }
		cmp "$SCRATCH/f6.rd" "$SCRATCH/f6.odd" 2>&1
	}
	DEV=$(attach_dev "$O"); av=$(odd_read "$DEV"); arc=$?
	SDEV=$(sattach -r "$O"); s=$(odd_read "$SDEV"); src=$?
	result "${f6[3]}" $((arc + src)) "$DUT $DEV (lbs $(blk_attr "$DEV" queue/logical_block_size)): ${av:-ok}" "stock loop: ${s:-ok}"
	detach "$DEV"; detach "$SDEV"

	E=$BACK4K/f6-ext.img; mkfs_1k "$E"
	p=()
	if DEV=$(attach_dev "$E"); then
		timeout 30 mount -t ext4 "$DEV" "$MNT" 2>"$SCRATCH/f6.mnt" && umount "$MNT" ||
			p+=("$DUT (lbs $(blk_attr "$DEV" queue/logical_block_size)): mount: $(cat "$SCRATCH/f6.mnt")")
		detach "$DEV"
	else
		p+=("attach: $DEV")
	fi
	if SDEV=$(sattach -r "$E"); then
		timeout 30 mount -o ro -t ext4 "$SDEV" "$MNT2" 2>"$SCRATCH/f6.mnt" && umount "$MNT2" ||
			p+=("stock loop: mount: $(cat "$SCRATCH/f6.mnt")")
		detach "$SDEV"
	else
		p+=("stock loop: $SDEV")
	fi
	result "${f6[4]}" ${#p[@]} "${p[@]}"
fi

# ================================================================== F8
for where in "$SCRATCH" "$BACKING"; do
	F=$where/f8.img; mkrand "$F" $((4 * MiB))
	DEV=$(attach_dev --read-only "$F"); SDEV=$(sattach -r "$F")
	av=$(blk_attr "$DEV" queue/rotational); s=$(blk_attr "$SDEV" queue/rotational)
	if [ -n "$av" ] && [ "$av" = "$s" ]; then
		ok "F8: queue/rotational for an image on $where is $av, as stock loop's"
	else
		fail "F8: queue/rotational for an image on $where equals stock loop's" "$DUT ($DEV): '$av', stock loop ($SDEV): '$s'"
	fi
	detach "$DEV"; detach "$SDEV"; rm -f "$F"
done

# ================================================================= F10
F=$D/f10.img; mkrand "$F" $((4 * MiB)); cp "$F" "$D/f10b.img"
DEV=$(free_dev); SDEV=$(stock_free)
check_eq "F10: /sys/block/NAME/events is media_change, as stock loop's" "media_change media_change" \
	"$(blk_attr "$DEV" events) $(blk_attr "$SDEV" events)"
# change-fd replaces the medium: aloop says so (DISK_MEDIA_CHANGE=1), where
# stock loop sends it only when its uevents are not suppressed (6.12: none).
d="F10: DISK_MEDIA_CHANGE=1 uevents: at least one on change-fd and on detach; on attach as stock loop"
if ! have udevadm; then
	skip "$d" "udevadm is not installed"
else
	UEV=$SCRATCH/f10.uev
	timeout 60 udevadm monitor --kernel --property --subsystem-match=block >"$UEV" 2>&1 &
	MON=$!
	sleep 1
	# uev_count FROM TO NAME: events of NAME with DISK_MEDIA_CHANGE=1 in lines FROM..TO
	uev_count() {
		sed -n "$1,$2p" "$UEV" | awk -v n="$3" '
			BEGIN { RS = ""; FS = "\n" }
			{	dev = 0; mc = 0
				for (i = 1; i <= NF; i++) {
					if ($i == "DEVNAME=" n || $i == "DEVNAME=/dev/" n) dev = 1
					if ($i == "DISK_MEDIA_CHANGE=1") mc = 1
				}
				if (dev && mc) c++ }
			END { print c + 0 }'
	}
	lines() { wc -l <"$UEV"; }
	phases() {	# DEV: attach (read-only), change-fd to the copy, detach
		local dev=$1 l0 l1 l2 l3 o
		l0=$(lines)
		o=$(ioc1 configure "$dev" "$F" --ro --open-ro); sleep 1; l1=$(lines)
		o="$o $(ioc1 change-fd "$dev" "$D/f10b.img" --open-ro)"; sleep 1; l2=$(lines)
		o="$o $(ioc1 clr-fd "$dev")"; sleep 1; l3=$(lines)
		echo "$o $(uev_count "$l0" "$l1" "$(devname "$dev")") $(uev_count "$l1" "$l2" "$(devname "$dev")") $(uev_count "$l2" "$l3" "$(devname "$dev")")"
	}
	read -r ao1 ao2 ao3 aa ac ad <<<"$(phases "$DEV")"
	read -r so1 so2 so3 sa sc sd <<<"$(phases "$SDEV")"
	kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null
	msg="$DUT: ioctls $ao1 $ao2 $ao3, events attach/change-fd/detach $aa/$ac/$ad; stock loop: $so1 $so2 $so3, $sa/$sc/$sd"
	if [ "$ao1 $ao2 $ao3 $so1 $so2 $so3" = "OK OK OK OK OK OK" ] &&
	   [ "$ad" -ge 1 ] && [ "$sd" -ge 1 ] && { [ "$DUT" = loop ] || [ "$ac" -ge 1 ]; } &&
	   [ "$((aa > 0))" = "$((sa > 0))" ]; then
		ok "$d ($msg)"
	else
		fail "$d" "$msg" "$(tail -n 60 "$UEV")"
	fi
fi
detach "$DEV"; detach "$SDEV"

# ================================================================= F11
# A read beyond the end of a shrunk backing file is an error.
f11_run() {	# DEV FILE: shrink to 8M, read at 12M and at 400K
	local dev=$1 f=$2 rb rl
	truncate -s 8M "$f"
	timeout 20 dd if="$dev" of=/dev/null bs=4k skip=3000 count=1 iflag=direct 2>"$SCRATCH/f11.err"; rb=$?
	timeout 20 dd if="$dev" of=/dev/null bs=4k skip=100 count=1 iflag=direct status=none 2>/dev/null; rl=$?
	if [ $rb != 0 ] && grep -q 'Input/output error' "$SCRATCH/f11.err"; then rb=EIO
	elif [ $rb != 0 ]; then rb="error($(tail -n 1 "$SCRATCH/f11.err"))"
	else rb=success
	fi
	[ $rl = 0 ] && rl=ok || rl=failed
	echo "beyond-EOF:$rb below-EOF:$rl"
}
for mode in on off; do
	d="F11: dio $mode, backing truncated 16M to 8M: a direct read at 12M fails EIO, at 400K succeeds"
	if [ "$mode" = off ] && [ "$DUT" = loop ] && ! kver_ge 6 12; then
		skip "$d" "stock buffered loop on $KV reads zeros there itself (DUT=loop)"
		continue
	fi
	F=$D/f11-$mode.img; SF=$D/f11s-$mode.img
	mkrand "$F" $((16 * MiB)); mkrand "$SF" $((16 * MiB))
	if [ "$mode" = on ]; then
		DEV=$(dut_attach_dio "$F"); SDEV=$(sattach --direct-io=on "$SF")
	else
		DEV=$(free_dev); ioc configure "$DEV" "$F" --set-dio 0 >/dev/null; SDEV=$(sattach "$SF")
	fi
	adio=$(dut_attr "$DEV" dio); sdio=$(sattr "$SDEV" dio)
	av=$(f11_run "$DEV" "$F"); s=$(f11_run "$SDEV" "$SF")
	if [ "$mode" = on ]; then
		check_eq "$d (stock loop --direct-io=on: same)" \
			"dio=1 beyond-EOF:EIO below-EOF:ok dio=1 beyond-EOF:EIO below-EOF:ok" "dio=$adio $av dio=$sdio $s"
	else
		check_eq "$d" "dio=0 beyond-EOF:EIO below-EOF:ok" "dio=$adio $av"
		diag "F11: stock buffered loop (dio=$sdio): $s (EIO from 6.12 with the buffered-kiocb backport; zeros on 6.1)"
	fi
	detach "$DEV"; detach "$SDEV"
done

# ================================================================= F12
F=$D/f12.img; mkrand "$F" $((4 * MiB))
DEV=$(attach_dev "$F"); SDEV=$(sattach "$F")
expect_like_stock "F12: old LOOP_SET_STATUS with lo_encrypt_type=1 is accepted (field ignored)" OK \
	"set-status-old-crypt $DEV" "set-status-old-crypt $SDEV"
expect_like_stock "F12: LOOP_SET_STATUS64 with lo_encrypt_type=1 is refused" EINVAL \
	"set-status64-crypt $DEV" "set-status64-crypt $SDEV"
detach "$DEV"; detach "$SDEV"

# ================================================================= F14
F=$D/f14.img; mkrand "$F" $((4 * MiB))
DEV=$(attach_dev "$F"); SDEV=$(sattach "$F")
check_eq "F14: queue/write_cache for a file on ext4: write back, as stock loop" "write back|write back" \
	"$(blk_attr "$DEV" queue/write_cache)|$(blk_attr "$SDEV" queue/write_cache)"
detach "$DEV"; detach "$SDEV"
DEV=$(attach_dev --read-only "$F"); SDEV=$(sattach -r "$F")
check_eq "F14: queue/write_cache for a read-only device: write through, as stock loop" "write through|write through" \
	"$(blk_attr "$DEV" queue/write_cache)|$(blk_attr "$SDEV" queue/write_cache)"
detach "$DEV"; detach "$SDEV"

# ================================================================= F17
# A 4096-byte-sector block device backing, aloop at 512.
d1="F17: 512-byte discard on a 4K block-device backing: success or EOPNOTSUPP, never EIO"
d2="F17: 512-byte zeroout on a 4K block-device backing: succeeds, those bytes read back as zeros"
if [ "$DUT" = loop ]; then
	skip_n 2 "stock loop fails misaligned ranges on a 4K backing too (review F17; DUT=$DUT)" "$d1" "$d2"
elif ! have blkdiscard; then
	skip_n 2 "blkdiscard is not installed" "$d1" "$d2"
else
	F=$D/f17.img; mkrand "$F" $((16 * MiB))
	S=$(sattach -b 4096 --direct-io=off "$F")
	if [ ! -b "$S" ] || [ "$(blockdev --getss "$S" 2>/dev/null)" != 4096 ]; then
		skip_n 2 "no stock loop device with 4096-byte sectors: $S" "$d1" "$d2"
	elif ! DEV=$(attach_dev --block-size 512 "$S"); then
		fail "$d1" "attach --block-size 512 $S: $DEV"; skip "$d2" "attach failed"
	else
		n=$(devname "$DEV")
		timeout 20 dd if="$DEV" of="$SCRATCH/f17.before" bs=4096 count=1 iflag=direct status=none
		mark=$(dmesg_mark)
		o=$(timeout 20 blkdiscard -o 512 -l 512 "$DEV" 2>&1); rc=$?
		e=$(dev_errors "$mark" "$n")
		if { [ $rc = 0 ] || [[ $o == *"Operation not supported"* ]]; } && [ -z "$e" ]; then
			ok "$d1 (${o:-success})"
		else
			fail "$d1" "blkdiscard exit $rc: $o" "kernel log: $e" "discard_granularity $(blk_attr "$DEV" queue/discard_granularity), max_discard $(blk_attr "$DEV" queue/discard_max_bytes)"
		fi
		{ head -c 512 "$SCRATCH/f17.before"; head -c 512 /dev/zero; tail -c +1025 "$SCRATCH/f17.before"; } >"$SCRATCH/f17.exp"
		mark=$(dmesg_mark)
		o=$(timeout 20 blkdiscard -z -o 512 -l 512 "$DEV" 2>&1); rc=$?
		timeout 20 dd if="$DEV" of="$SCRATCH/f17.after" bs=4096 count=1 iflag=direct status=none
		e=$(dev_errors "$mark" "$n")
		if [ $rc = 0 ] && cmp -s "$SCRATCH/f17.exp" "$SCRATCH/f17.after" && [ -z "$e" ]; then
			ok "$d2"
		else
			fail "$d2" "blkdiscard -z exit $rc: $o" "kernel log: $e" \
				"first 4 KiB as expected: $(cmp -s "$SCRATCH/f17.exp" "$SCRATCH/f17.after" && echo yes || echo no)"
		fi
		detach "$DEV"
		if SDEV=$(sattach -b 512 "$S"); then
			o=$(timeout 20 blkdiscard -o 512 -l 512 "$SDEV" 2>&1); rc=$?
			diag "F17: stock loop on the same 4K loop device, block size 512: blkdiscard exit $rc ${o:-}"
			detach "$SDEV"
		fi
	fi
	detach "$S"
fi

# ================================================================= F18
d="F18: direct writes into a full backing fs fail with ENOSPC, not EIO"
if [ "$DUT" = loop ]; then
	skip "$d" "stock loop reports a short dio write as success (review F18; DUT=$DUT)"
else
	M18=$(mkmnt parity-f18)
	FS=$SCRATCH/f18fs.img; truncate -s 64M "$FS"
	if ! timeout 60 mkfs.ext4 -q -F "$FS" >/dev/null 2>&1 || ! L18=$(sattach "$FS") ||
	   ! timeout 30 mount -t ext4 "$L18" "$M18"; then
		fail "$d" "cannot make the small backing ext4: ${L18:-}"
	else
		fill() {	# DEV: dd until it fails; prints the error
			timeout 60 dd if=/dev/urandom of="$1" bs=1M oflag=direct status=none 2>&1
			echo "exit $?"
		}
		truncate -s 128M "$M18/img"
		if DEV=$(attach_dev "$M18/img"); then
			av=$(fill "$DEV"); adio=$(dut_attr "$DEV" dio)
			detach "$DEV"
			if [[ $av == *"No space left on device"* ]] && [[ $av != *"Input/output error"* ]] && [[ $av != *"exit 0" ]]; then
				ok "$d (dio=$adio)"
			else
				fail "$d" "dio=$adio: $av"
			fi
		else
			fail "$d" "attach: $DEV"
		fi
		rm -f "$M18/img"; truncate -s 128M "$M18/simg"
		if SDEV=$(sattach --direct-io=on "$M18/simg"); then
			sdio=$(sattr "$SDEV" dio); s=$(fill "$SDEV"); detach "$SDEV"
			diag "F18: stock loop --direct-io=on (dio=$sdio): ${s//$'\n'/ }"
		fi
		timeout 30 umount "$M18"
	fi
	detach "${L18:-}"
fi

# ================================================================= F19
# Opening a node of a missing minor creates the device, as loop_probe().
d="F19: opening a mknod'ed /dev/${DUT}N of a missing device creates it, as stock loop"
fls() { local v=$1 n=0; while [ "$v" -gt 0 ]; do v=$((v >> 1)); n=$((n + 1)); done; echo $n; }
dmaj=$(awk -v n="$DUT" '/^Block devices:/ {b = 1; next} /^Character devices:/ {b = 0} b && $2 == n {print $1}' /proc/devices)
dshift=$(fls "$(cat "/sys/module/$DUT/parameters/max_part" 2>/dev/null || echo 0)")
sshift=$(fls "$(cat /sys/module/loop/parameters/max_part 2>/dev/null || echo 0)")
n="" sn=""
for i in $(seq 77 99); do
	si=$i; [ "$DUT" = loop ] && si=$((i + 100))
	[ -e "/sys/block/$DUT$i" ] || [ -e "/sys/block/loop$si" ] || { n=$i sn=$si; break; }
done
autoprobe() {	# NAME MAJOR MINOR: prints "size=... sysfs=yes|no"
	local node=/dev/$1 sz
	[ -e "/sys/block/$1" ] || rm -f "$node"
	[ -e "$node" ] || mknod "$node" b "$2" "$3"
	sz=$(timeout 10 blockdev --getsize64 "$node" 2>&1)
	echo "size=$sz sysfs=$([ -e "/sys/block/$1" ] && echo yes || echo no)"
}
remove_idx() { ctl_remove_settled "$1" "$2" >/dev/null; }	# CTL INDEX
if [ -z "$dmaj" ] || [ -z "$n" ]; then
	fail "$d" "no block major for $DUT in /proc/devices ('$dmaj') or no free index ('$n')"
else
	s=$(autoprobe "loop$sn" 7 $((sn << sshift)))
	remove_idx "$STOCK_CTL" "$sn"; rm -f "/dev/loop$sn"
	if [ "$s" != "size=0 sysfs=yes" ]; then
		skip "$d" "stock loop does not do it either on $KV ($s: CONFIG_BLOCK_LEGACY_AUTOLOAD off?)"
	else
		av=$(autoprobe "$DUT$n" "$dmaj" $((n << dshift)))
		check_eq "$d (/dev/$DUT$n b $dmaj:$((n << dshift)); stock loop: $s)" "size=0 sysfs=yes" "$av"
		remove_idx "$DUT_CTL" "$n"; rm -f "/dev/$DUT$n"
	fi
fi

# ================================================================== F9
# max_part turns partition scanning on, as stock loop.
d="F9: module loaded with max_part=15: a DOS image with 2 partitions, attached without --partscan, gets p1 p2"
F=$D/f9.img; truncate -s 16M "$F"
if ! printf 'label: dos\n,8M\n,\n' | sfdisk -q "$F" >"$SCRATCH/f9.sfdisk" 2>&1; then
	fail "$d" "sfdisk: $(cat "$SCRATCH/f9.sfdisk")"
else
	rmmod_loop() {	# udev may still hold a device for a moment
		local i
		for i in 1 2 3 4 5 6 7 8 9; do rmmod loop 2>/dev/null && return 0; sleep 0.3; done
		rmmod loop
	}
	parts() { echo "p1=$(wait_dev "${1}p1" 5 && echo y) p2=$(wait_dev "${1}p2" 2 && echo y)"; }
	s="not run"
	if [ "$DUT" = aloop ]; then
		timeout 20 losetup -D; udev_settle
		if rmmod_loop 2>"$SCRATCH/f9.rmmod"; then
			STOCK_RELOADED=1
			if modprobe loop max_part=15 && wait_chr "$STOCK_CTL" &&
			   [ "$(cat /sys/module/loop/parameters/max_part)" = 15 ]; then
				SDEV=$(sattach "$F") && s=$(parts "$SDEV")
				detach "$SDEV"; udev_settle
			fi
			rmmod_loop && modprobe loop && STOCK_RELOADED=0
			stock_load || diag "F9: stock loop could not be reloaded with default parameters"
		else
			diag "F9: stock control skipped: rmmod loop: $(cat "$SCRATCH/f9.rmmod") (built in or busy)"
		fi
	else
		timeout 20 losetup -D; udev_settle
	fi
	dut_unload_all
	if ! out=$(mod_load max_part=15) || [ "$(cat "/sys/module/$DUT/parameters/max_part" 2>/dev/null)" != 15 ]; then
		skip "$d" "cannot reload $DUT with max_part=15: $out"
	elif ! DEV=$(attach_dev "$F"); then
		fail "$d" "attach: $DEV"
	else
		av=$(parts "$DEV")
		if [ "$s" = "not run" ] || [ "$DUT" = loop ]; then
			check_eq "$d" "p1=y p2=y" "$av"
		else
			check_eq "$d (stock loop max_part=15: $s)" "p1=y p2=y p1=y p2=y" "$av $s"
		fi
		detach "$DEV"
	fi
	udev_settle
	dut_unload_all
	out=$(mod_load) || bail "cannot reload $DUT without parameters: $out"
	[ "$DUT" = aloop ] || stock_load
fi

# ================================================================== F4
# Backing cycles through LOOP_CHANGE_FD.  Last: if one is closed, any I/O
# on it hangs for good, so nothing reads a device whose change-fd passed.
d1="F4: LOOP_CHANGE_FD of a read-only $DUT device to a stock loop device backed by it: refused"
d2="F4: after the refused change-fd the device still reads (timeout 15), nothing in D state"
d3="F4: LOOP_CHANGE_FD closing a $DUT-on-$DUT cycle: refused like stock loop's loop-on-loop"
F=$D/f4.img; mkrand "$F" $((16 * MiB))
DEV=$(free_dev); o=$(ioc1 configure "$DEV" "$F" --flags 1)
L=
[ "$o" = OK ] && L=$(sattach -r "$DEV")
if [ "$o" != OK ] || [ ! -b "$L" ]; then
	fail "$d1" "read-only configure: $o; stock loop on it: $L"
	skip "$d2" "no setup"
else
	# aloop refuses a stock loop device with EINVAL; with DUT=loop this
	# is stock's own loop-on-loop cycle check (EBADF)
	exp=EINVAL; [ "$DUT" = loop ] && exp=EBADF
	c=$(ioc1 change-fd "$DEV" "$L" --open-ro)
	if [ "$c" = OK ]; then
		fail "$d1" "change-fd returned OK: $DEV -> $L -> $DEV is a cycle; not read (it would hang), detached"
		detach "$DEV"; detach "$L"
		skip "$d2" "not read: change-fd closed a cycle"
	else
		check_eq "$d1" "$exp" "$c"
		timeout 15 dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none 2>"$SCRATCH/f4.err"; rc=$?
		sleep 1
		ds1=$(dstate | grep -E ' (dd|.*loop.*|.*udev.*)$'); sleep 1
		ds2=$(dstate | grep -E ' (dd|.*loop.*|.*udev.*)$')
		stuck=$(comm -12 <(sort <<<"$ds1") <(sort <<<"$ds2"))
		if [ $rc = 0 ] && [ -z "$stuck" ]; then
			ok "$d2"
		else
			fail "$d2" "dd exit $rc: $(cat "$SCRATCH/f4.err")" "in D state: $stuck"
		fi
		detach "$L"; detach "$DEV"
	fi
fi

A=$(free_dev); ao=$(ioc1 configure "$A" "$F" --flags 1)
B=; [ "$ao" = OK ] && B=$(attach_dev --read-only "$A")
X=$(sattach -r "$F"); Y=; [ -b "$X" ] && Y=$(sattach -r "$X")
if [ ! -b "$B" ] || [ ! -b "$Y" ]; then
	fail "$d3" "setup: $DUT $A ($ao) -> ${B:-?}; stock ${X:-?} -> ${Y:-?}"
else
	av=$(ioc1 change-fd "$A" "$B" --open-ro)
	[ "$av" != OK ] || detach "$A"	# a cycle: never read it
	s=$(ioc1 change-fd "$X" "$Y" --open-ro)
	[ "$s" != OK ] || detach "$X"
	if [ "$av" != OK ] && [ "$av" = "$s" ] && { [ "$s" = EINVAL ] || [ "$s" = EBADF ]; }; then
		ok "$d3 ($av)"
	else
		fail "$d3" "$DUT: $av, stock loop: $s (want EINVAL or EBADF, the same)"
	fi
fi
detach "$B"; detach "$A"; detach "$Y"; detach "$X"

finish
