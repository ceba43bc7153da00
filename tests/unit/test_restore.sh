#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of aloopctl save / restore without the module, and of
# systemd/aloop-restore.service:
#
#   - the unit passes `systemd-analyze verify` (SKIP without systemd-analyze)
#     and has the ordering that lets fstab mount an aloop device at boot
#   - restore --dry-run parses the configuration format: good files (a
#     FILE, stdin, the *.conf files of ALOOP_ATTACH_DIR in name order),
#     and every bad line is one "aloopctl: FILE:LINE: reason" line, exit 1,
#     nothing attached
#   - save on a fake sysfs tree (ALOOPCTL_SYSFS) writes what restore reads
#
# The parser's cases one by one are in test_aloopctl.c (test_specs).
# Output is KTAP (tests/lib/ktap.sh); the last line is "# N passed, M
# failed"; exit 1 when anything failed.  ALOOPCTL= overrides the binary.

set -u
cd "$(dirname "$0")/../.." || exit 1
ALOOPCTL=${ALOOPCTL:-aloopctl/aloopctl}
UNIT=systemd/aloop-restore.service

. tests/lib/ktap.sh
ktap_defer_plan
tmp=$(mktemp -d /tmp/aloop-restore.XXXXXX) || exit 1
ktap_on_exit "rm -rf '$tmp'"

if [ ! -x "$ALOOPCTL" ]; then
	ktap_fail "$ALOOPCTL not built (make aloopctl)"
	ktap_finish
fi

# run ARGS...: stdout in $tmp/out, stderr in $tmp/err, status in $rc
run() {
	"$ALOOPCTL" "$@" >"$tmp/out" 2>"$tmp/err" <"${STDIN:-/dev/null}"
	rc=$?
}
got() {
	printf 'exit %s\nstdout:\n%s\nstderr:\n%s\n' "$rc" "$(cat "$tmp/out")" "$(cat "$tmp/err")"
}

# ------------------------------------------------------------------
# the unit

missing=
for l in Type=oneshot RemainAfterExit=yes DefaultDependencies=no \
	 'Before=local-fs-pre.target' Wants=local-fs-pre.target \
	 'After=systemd-modules-load.service systemd-udevd.service' \
	 'ExecStartPre=-/sbin/modprobe aloop' 'ExecStart=/usr/sbin/aloopctl restore' \
	 ConditionDirectoryNotEmpty=/etc/aloop/attach.d; do
	grep -q "^$l" "$UNIT" || missing+=" [$l]"
done
[ -z "$missing" ]
ktap_result $? "$UNIT: oneshot, before local-fs-pre.target, after modules-load and udevd, modprobe first" \
	"missing:$missing"

if command -v systemd-analyze >/dev/null 2>&1; then
	# verify checks that ExecStart's program exists: the built one
	mkdir "$tmp/unit"
	sed "s|/usr/sbin/aloopctl|$PWD/$ALOOPCTL|" "$UNIT" >"$tmp/unit/aloop-restore.service"
	out=$(systemd-analyze verify --man=no "$tmp/unit/aloop-restore.service" 2>&1)
	st=$?
	[ "$st" = 0 ] && [ -z "$out" ]
	ktap_result $? "systemd-analyze verify $UNIT: no error, no warning" "exit $st" "$out"
else
	ktap_skip "systemd-analyze verify $UNIT" "no systemd-analyze (apt-get install systemd)"
fi

# ------------------------------------------------------------------
# restore --dry-run: the format

cat >"$tmp/good.conf" <<'EOF'
# images attached at boot
/srv/disk.img offset=1M sizelimit=512M read-only partscan block-size=4096

/srv/my\040image.img direct-io=off owner=nightly\040backup   # the backup
	/srv/x.img device=aloop5 queues=2
EOF
want="would attach: /srv/disk.img offset=1048576 sizelimit=536870912 read-only partscan block-size=4096
would attach: /srv/my\\040image.img direct-io=off owner=nightly\\040backup
would attach: /srv/x.img queues=2 device=/dev/aloop5"
run restore --dry-run "$tmp/good.conf"
[ "$rc" = 0 ] && [ ! -s "$tmp/err" ] && [ "$(cat "$tmp/out")" = "$want" ]
ktap_result $? "restore --dry-run FILE: each device, normalized, exit 0" "$(got)"

STDIN=$tmp/good.conf run restore --dry-run -
[ "$rc" = 0 ] && [ "$(cat "$tmp/out")" = "$want" ]
ktap_result $? "restore --dry-run -: the same from stdin" "$(got)"

cat >"$tmp/bad.conf" <<'EOF'
/ok.img
/a.img offset=12Q
disk.img
# fine
/b.img frob=1
/c.img read-only=1 partscan
/d\04x.img
/e.img partscan no-partscan
EOF
run restore --dry-run "$tmp/bad.conf"
want_err="aloopctl: $tmp/bad.conf:2: offset: invalid size '12Q'
aloopctl: $tmp/bad.conf:3: disk.img: not an absolute path
aloopctl: $tmp/bad.conf:5: unknown option 'frob'
aloopctl: $tmp/bad.conf:6: read-only takes no value
aloopctl: $tmp/bad.conf:7: bad escape or file name too long
aloopctl: $tmp/bad.conf:8: partscan and no-partscan are mutually exclusive"
[ "$rc" = 1 ] && [ ! -s "$tmp/out" ] && [ "$(cat "$tmp/err")" = "$want_err" ]
ktap_result $? "bad lines: one 'FILE:LINE: reason' line each, exit 1, nothing attached (not even /ok.img)" "$(got)"

printf '/a.img\n/b.img offset=x\n' >"$tmp/one-bad.conf"
run restore "$tmp/one-bad.conf"
[ "$rc" = 1 ] && [ ! -s "$tmp/out" ] &&
	[ "$(cat "$tmp/err")" = "aloopctl: $tmp/one-bad.conf:2: offset: invalid size 'x'" ]
ktap_result $? "restore (not a dry run) with a bad line: one line, exit 1, before any attach" "$(got)"

run restore --dry-run "$tmp/nonexistent.conf"
[ "$rc" = 1 ] && [ "$(cat "$tmp/err")" = "aloopctl: $tmp/nonexistent.conf: No such file or directory" ]
ktap_result $? "restore of a missing FILE: the error, exit 1" "$(got)"

mkdir "$tmp/attach.d"
echo "/srv/b.img" >"$tmp/attach.d/20-b.conf"
echo "/srv/a.img read-only" >"$tmp/attach.d/10-a.conf"
echo "/srv/ignored.img" >"$tmp/attach.d/README"
echo "/srv/hidden.img" >"$tmp/attach.d/.hidden.conf"
ALOOP_ATTACH_DIR=$tmp/attach.d run restore --dry-run
[ "$rc" = 0 ] && [ "$(cat "$tmp/out")" = "would attach: /srv/a.img read-only
would attach: /srv/b.img" ]
ktap_result $? "restore without FILE: the directory's *.conf files in name order" "$(got)"

echo "/srv/c.img offset=" >"$tmp/attach.d/30-c.conf"
ALOOP_ATTACH_DIR=$tmp/attach.d run restore --dry-run
[ "$rc" = 1 ] && [ ! -s "$tmp/out" ] &&
	[ "$(cat "$tmp/err")" = "aloopctl: $tmp/attach.d/30-c.conf:1: offset: invalid size ''" ]
ktap_result $? "a bad line in one *.conf file: named by path and line, nothing attached" "$(got)"

ALOOP_ATTACH_DIR=$tmp/none run restore
[ "$rc" = 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ]
ktap_result $? "no configuration directory: nothing to do, exit 0" "$(got)"

run restore a b
[ "$rc" = 1 ] && grep -q "^aloopctl: restore: unexpected argument 'b'" "$tmp/err"
ktap_result $? "restore takes one FILE at most" "$(got)"

# ------------------------------------------------------------------
# save on fake sysfs trees, read back by restore

mkdir -p "$tmp/nomod/block" "$tmp/mod/module/aloop" "$tmp/mod/block"
ALOOPCTL_SYSFS=$tmp/nomod run save
[ "$rc" = 1 ] && [ "$(cat "$tmp/err")" = "aloopctl: aloop module is not loaded" ]
ktap_result $? "save without the module: the error, exit 1" "$(got)"

fake_dev() {	# nr backing-file offset sizelimit ro partscan dio dio_reason log_sec owner autoclear
	local d=$tmp/mod/block/aloop$1

	mkdir -p "$d/aloop" "$d/queue"
	echo "$2" >"$d/aloop/backing_file"
	echo "$3" >"$d/aloop/offset"
	echo "$4" >"$d/aloop/sizelimit"
	echo "$5" >"$d/ro"
	echo "$6" >"$d/aloop/partscan"
	echo "$7" >"$d/aloop/dio"
	echo "$8" >"$d/aloop/dio_reason"
	echo "$9" >"$d/queue/logical_block_size"
	echo "${10}" >"$d/aloop/owner"
	echo "${11}" >"$d/aloop/autoclear"
	echo 4 >"$d/aloop/queues"
	echo 2048 >"$d/size"
}
fake_dev 0 /srv/disk.img 1048576 0 1 1 1 "" 4096 "" 0
fake_dev 1 "/srv/my image.img" 0 0 0 0 0 "turned off by user" 512 nightly 0
fake_dev 2 "" 0 0 0 0 0 "" 512 "" 0
fake_dev 3 /tmp/scratch.img 0 0 0 0 1 "" 512 "" 1
ALOOPCTL_SYSFS=$tmp/mod run save
cp "$tmp/out" "$tmp/saved.conf"
want_save="# /dev/aloop0
/srv/disk.img offset=1048576 read-only partscan direct-io=on block-size=4096
# /dev/aloop1
/srv/my\\040image.img direct-io=off owner=nightly
# /dev/aloop3 has autoclear, not saved: /tmp/scratch.img direct-io=on"
[ "$rc" = 0 ] && [ ! -s "$tmp/err" ] && [ "$(grep -v '^# [a-zA-Z]' "$tmp/out" | grep -v '^#      ')" = "$want_save" ]
ktap_result $? "save: the bound devices, one line each; unbound left out; autoclear as a comment" "$(got)"

run restore --dry-run "$tmp/saved.conf"
[ "$rc" = 0 ] && [ "$(cat "$tmp/out")" = "would attach: /srv/disk.img offset=1048576 read-only partscan direct-io=on block-size=4096
would attach: /srv/my\\040image.img direct-io=off owner=nightly" ]
ktap_result $? "restore reads what save wrote (round trip)" "$(got)"

ktap_finish
