#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: ext4 round trip (mkfs, copy a tree, e2fsck, re-attach) and xfs on a 4096-byte block device
# aloop-timeout: 300
# aloop-driver: any
# aloop-needs: aloopctl
# Filesystems on aloop: ext4 (mkfs, copy a tree, e2fsck -fn on the
# backing file directly, re-attach and compare) and xfs on a 4096-byte
# logical block device backed by a file on xfs.
. "$(dirname "$0")/lib.sh"

plan 10

MNT=$(mkmnt fs)
on_exit "umount -l $MNT; aloopctl detach-all"
D=$(test_dir fs)

# The tree to copy: a few MiB of real files (from the read-only root)
SRC=$SCRATCH/tree
mkdir -p "$SRC"
for s in /usr/lib/python3*/email /usr/lib/python3*/json /usr/lib/python3*/asyncio \
	 /usr/share/doc/util-linux /usr/share/doc/e2fsprogs /usr/share/doc/bash /usr/share/doc/fio; do
	[ -d "$s" ] && cp -a "$s" "$SRC/$(echo "${s#/usr/}" | tr / _)"
done
head -c $((3 * MiB)) /dev/urandom >"$SRC/random.bin"
SRCSIZE=$(du -sk "$SRC" | cut -f1)
diag "tree to copy: $SRCSIZE KiB, $(find "$SRC" -type f | wc -l) files"

same_tree() { diff -r --no-dereference "$SRC" "$1" 2>&1 | head -n 20; }

# ---------------------------------------------------------------- ext4
F=$D/ext4.img
truncate -s 160M "$F"
DEV=$(attach_dev "$F"); rc=$?
if [ $rc = 0 ] && out=$(mkfs.ext4 -q -F "$DEV" 2>&1); then
	ok "mkfs.ext4 on $DEV"
else
	fail "mkfs.ext4 on an aloop device" "$DEV" "$out"
	bail "no ext4 filesystem"
fi

p=()
mount -t ext4 "$DEV" "$MNT" >&2 || p+=("mount failed")
[ ${#p[@]} != 0 ] || cp -a "$SRC" "$MNT/tree" || p+=("cp failed")
sync; drop_caches
[ ${#p[@]} != 0 ] || { d=$(same_tree "$MNT/tree"); [ -z "$d" ] || p+=("diff: $d"); }
result "mount, copy $SRCSIZE KiB tree, drop caches, diff -r identical" ${#p[@]} "${p[@]}"

p=()
out=$(umount "$MNT" 2>&1) || p+=("umount: $out")
out=$(aloopctl detach "$DEV" 2>&1) || p+=("detach: $out")
[ "$(dev_state "$DEV")" = unbound ] || p+=("still bound")
result "umount and detach" ${#p[@]} "${p[@]}"

out=$(e2fsck -fn "$F" 2>&1); rc=$?
result "e2fsck -fn on the backing file is clean" $rc "exit $rc" "$out"

p=()
DEV=$(attach_dev "$F") || p+=("attach: $DEV")
[ ${#p[@]} != 0 ] || mount -t ext4 "$DEV" "$MNT" || p+=("mount failed")
[ ${#p[@]} != 0 ] || { d=$(same_tree "$MNT/tree"); [ -z "$d" ] || p+=("diff: $d"); }
result "second attach + mount: files identical (diff -r)" ${#p[@]} "${p[@]}"

p=()
# modify a bit, then check again
[ ${#p[@]} != 0 ] || { rm -rf "$MNT/tree/share_doc_bash"; cp "$SRC/random.bin" "$MNT/copy2.bin"; }
umount "$MNT" 2>/dev/null || p+=("umount failed")
aloopctl detach "$DEV" >/dev/null 2>&1 || p+=("detach failed")
out=$(e2fsck -fn "$F" 2>&1) || p+=("e2fsck: $out")
result "changes on the second mount, umount, detach: e2fsck -fn still clean" ${#p[@]} "${p[@]}"

# ----------------------------------------------------------------- xfs
if [ -z "$XFSDIR" ] || ! have mkfs.xfs; then
	skip_n 4 "no xfs backing filesystem (/dev/vdb) or no xfsprogs" \
		"xfs: attach --block-size 4096" "xfs: mkfs.xfs, copy, diff" "xfs: xfs_repair -n clean" "xfs: re-attach identical"
	finish
fi
X=$XFSDIR/fs; rm -rf "$X"; mkdir -p "$X"
F=$X/xfs.img
truncate -s 320M "$F"
DEV=$(attach_dev --block-size 4096 "$F"); rc=$?
if [ $rc = 0 ] && [ "$(blk_attr "$DEV" queue/logical_block_size)" = 4096 ]; then
	ok "attach --block-size 4096 of a file on xfs: logical_block_size 4096"
else
	fail "attach --block-size 4096 of a file on xfs: logical_block_size 4096" "$DEV" "lbs: $(blk_attr "$DEV" queue/logical_block_size)"
fi

p=()
out=$(mkfs.xfs -q -f "$DEV" 2>&1) || p+=("mkfs.xfs: $out")
[ ${#p[@]} != 0 ] || mount -t xfs "$DEV" "$MNT" || p+=("mount failed")
[ ${#p[@]} != 0 ] || cp -a "$SRC" "$MNT/tree" || p+=("cp failed")
sync; drop_caches
[ ${#p[@]} != 0 ] || { d=$(same_tree "$MNT/tree"); [ -z "$d" ] || p+=("diff: $d"); }
umount "$MNT" 2>/dev/null
aloopctl detach "$DEV" >/dev/null 2>&1 || p+=("detach failed")
result "xfs: mkfs.xfs, mount, copy, diff -r identical, umount, detach" ${#p[@]} "${p[@]}"

out=$(xfs_repair -n -f "$F" 2>&1); rc=$?
result "xfs_repair -n on the backing file is clean" $rc "exit $rc" "$(tail -n 20 <<<"$out")"

p=()
DEV=$(attach_dev --block-size 4096 "$F") || p+=("attach: $DEV")
[ ${#p[@]} != 0 ] || mount -t xfs "$DEV" "$MNT" || p+=("mount failed")
[ ${#p[@]} != 0 ] || { d=$(same_tree "$MNT/tree"); [ -z "$d" ] || p+=("diff: $d"); }
umount "$MNT" 2>/dev/null
aloopctl detach "$DEV" >/dev/null 2>&1
result "xfs: second attach + mount: files identical" ${#p[@]} "${p[@]}"

finish
