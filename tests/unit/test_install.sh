#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of "make install-user" and "make uninstall" into a scratch
# DESTDIR: every file lands where it belongs with the right mode and
# content, the man page renders without warnings, the bash completion
# parses and completes, the udev rules look sane, no kernel headers or
# module are needed, and uninstall removes exactly what was installed.
#
# Output is KTAP (tests/lib/ktap.sh); the last line is "# N passed, M failed" and the exit
# status is 1 when anything failed.  Run from anywhere.  MAKE= overrides
# the make command.

set -u
cd "$(dirname "$0")/../.." || exit 1
top=$PWD
MAKE=${MAKE:-make}

. tests/lib/ktap.sh
ktap_defer_plan
tmp=$(mktemp -d /tmp/aloop-install.XXXXXX) || exit 1
ktap_on_exit "rm -rf '$tmp'"
dest=$tmp/dest
mkdir "$dest"

result() { ktap_result "$@"; }	# STATUS DESCRIPTION [DIAGNOSTIC]
skip() { ktap_skip "$@"; }	# DESCRIPTION REASON

# Installed file, mode, source in the tree.  PREFIX=/usr.
files=(
	"usr/sbin/aloopctl 755 aloopctl/aloopctl"
	"usr/share/man/man8/aloopctl.8 644 man/aloopctl.8"
	"usr/share/bash-completion/completions/aloopctl 644 contrib/bash-completion/aloopctl"
	"lib/udev/rules.d/60-aloop.rules 644 udev/60-aloop.rules"
	"lib/systemd/system/aloop-restore.service 644 systemd/aloop-restore.service"
	"usr/include/linux/aloop.h 644 include/uapi/linux/aloop.h"
	"usr/share/aloop/modprobe-compat.conf 644 contrib/modprobe/aloop-loop-compat.conf"
)

# A path to other software's file, which uninstall must leave alone.
mkdir -p "$dest/usr/sbin" "$dest/lib/udev/rules.d"
touch "$dest/usr/sbin/losetup" "$dest/lib/udev/rules.d/60-other.rules"

# ------------------------------------------------------------------
# install-user: no kernel headers needed (KDIR points nowhere)

"$MAKE" -C "$top" --no-print-directory install-user DESTDIR="$dest" \
	PREFIX=/usr KDIR=/nonexistent KVER=0.0-none >"$tmp/make.log" 2>&1
rc=$?
result $rc "make install-user DESTDIR=... PREFIX=/usr (no kernel headers)" \
	"$(tail -n 20 "$tmp/make.log")"

for f in "${files[@]}"; do
	read -r path mode src <<<"$f"
	got=$(stat -c %a "$dest/$path" 2>&1)
	[ -f "$dest/$path" ] && [ "$got" = "$mode" ] &&
		cmp -s "$dest/$path" "$top/$src"
	result $? "installed /$path, mode $mode, same as $src" \
		"mode: $got"
done

[ ! -e "$dest/lib/modules" ]
result $? "install-user installs no kernel module"

# ------------------------------------------------------------------
# man page

man8=$dest/usr/share/man/man8/aloopctl.8
if command -v man >/dev/null 2>&1; then
	out=$(MANWIDTH=80 man --warnings -l "$man8" 2>&1 >/dev/null)
	[ -z "$out" ]
	result $? "man --warnings -l aloopctl.8: no warnings" "$out"
	out=$(MANWIDTH=80 man -l "$man8" 2>/dev/null | col -b 2>/dev/null)
	missing=
	for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS OUTPUT \
		 "DIRECT I/O" "EXIT STATUS" DIAGNOSTICS FILES EXAMPLES \
		 "SEE ALSO"; do
		grep -q "^$s\$" <<<"$out" || missing+=" [$s]"
	done
	for s in 'losetup(8)' 'loop(4)' '"aloopdevices"' dio_reason \
		 /dev/aloop-control /sys/block/aloopN/aloop/; do
		grep -qF -- "$s" <<<"$out" || missing+=" [$s]"
	done
	[ -z "$missing" ]
	result $? "man page renders its sections and key terms" \
		"missing:$missing"
else
	skip "man --warnings -l aloopctl.8" "no man"
	skip "man page renders its sections" "no man"
fi
if command -v groff >/dev/null 2>&1; then
	out=$(groff -man -ww -z "$man8" 2>&1)
	[ -z "$out" ]
	result $? "groff -man -ww -z aloopctl.8: no warnings" "$out"
else
	skip "groff -man -ww -z aloopctl.8" "no groff"
fi

# Every verb and long option of "aloopctl --help" is in the man page.
help=$("$top/aloopctl/aloopctl" --help 2>/dev/null)
missing=
for w in $(grep -o -- '--[a-z][a-z-]*' <<<"$help" | sort -u) \
	 attach detach detach-all list status resize set features version; do
	# shellcheck disable=SC2001 # sed spells the regex escaping clearer
	grep -q -- "$(sed 's/-/\\\\-/g' <<<"$w")" "$man8" || missing+=" $w"
done
while read -r c; do
	# shellcheck disable=SC2001 # sed spells the regex escaping clearer
	grep -q -- "^\.B $(sed 's/-/\\\\-/g' <<<"$c")\$" "$man8" ||
		missing+=" $c"
done < <(sed -n '/^Available output columns:/,$p' <<<"$help" | awk 'NR > 1 { print $1 }')
[ -n "$help" ] && [ -z "$missing" ]
result $? "man page documents every verb, option and column of --help" \
	"missing:$missing"

# ------------------------------------------------------------------
# bash completion

comp=$dest/usr/share/bash-completion/completions/aloopctl
out=$(bash -n "$comp" 2>&1)
result $? "bash -n completions/aloopctl" "$out"

# Fake sysfs: aloop0 and aloop10 bound, aloop3 unbound.
for d in 0 3 10; do
	mkdir -p "$tmp/sys/block/aloop$d/aloop"
	echo >"$tmp/sys/block/aloop$d/aloop/backing_file"
done
echo /img0 >"$tmp/sys/block/aloop0/aloop/backing_file"
echo /img10 >"$tmp/sys/block/aloop10/aloop/backing_file"
mkdir -p "$tmp/sys/block/loop0" "$tmp/files/dir"
touch "$tmp/files/disk.img" "$tmp/files/disk 2.img"

# expect_comp DESCRIPTION "EXPECTED REPLIES" WORDS... (last: being completed)
expect_comp() {
	local desc=$1 want=$2 got

	shift 2
	got=$(cd "$tmp/files" && ALOOPCTL_SYSFS=$tmp/sys bash -c '
		source "$1" || exit 1
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_aloopctl aloopctl "${COMP_WORDS[COMP_CWORD]}" \
			"${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | paste -sd " "
	' _ "$comp" "$@" 2>&1)
	[ "$got" = "$want" ]
	result $? "completion: $desc" "words: $*
want: $want
got:  $got"
}

expect_comp "verbs" \
	"attach compat detach detach-all doctor features find help list reap resize restore save set status version" \
	aloopctl ""
expect_comp "verb prefix" "detach detach-all" aloopctl det
expect_comp "compat's actions" "disable enable status" aloopctl compat ""
expect_comp "options of list" \
	"--all --help --json --noheadings --orphans --output --raw --version" \
	aloopctl list --
expect_comp "options before the verb count for it" "--json" \
	aloopctl -J status --j
expect_comp "--direct-io value after '='" "off on" \
	aloopctl set aloop0 --direct-io =
expect_comp "--output columns, comma separated" "NAME,SIZE, NAME,SIZELIMIT," \
	aloopctl list -O NAME,S
expect_comp "--output=+col in one word" "--output=+DIO, --output=+DIO-REASON," \
	aloopctl list --output=+d
expect_comp "bound devices for detach" "/dev/aloop0 /dev/aloop10" \
	aloopctl detach ""
expect_comp "all devices for list" "/dev/aloop0 /dev/aloop10 /dev/aloop3" \
	aloopctl list ""
expect_comp "aloopN form" "aloop0 aloop10" aloopctl status aloop
expect_comp "bound devices for set" "/dev/aloop0 /dev/aloop10" \
	aloopctl set ""
expect_comp "options of set after DEV" \
	"--autoclear --autoclear=" aloopctl set aloop0 --a
expect_comp "one DEV for status" "" aloopctl status aloop0 ""
expect_comp "files for attach, after options with values" \
	"dir disk 2.img disk.img" aloopctl attach -o 1M --sizelimit=2G ""
expect_comp "no second FILE" "" aloopctl attach disk.img ""
expect_comp "--device" "/dev/aloop0 /dev/aloop10 /dev/aloop3" \
	aloopctl attach --device ""
expect_comp "block sizes" "4096" aloopctl set aloop0 -b 4

# ------------------------------------------------------------------
# udev rules

rules=$dest/lib/udev/rules.d/60-aloop.rules
# shellcheck disable=SC2016 # udev's $env{}, not the shell's
grep -q '^KERNEL=="aloop-control".*GROUP="disk".*MODE="0660"' "$rules" &&
	grep -q 'KERNEL=="aloop\[0-9\]\*".*GROUP="disk".*MODE="0660"' "$rules" &&
	grep -q 'IMPORT{builtin}="blkid"' "$rules" &&
	grep -q 'SYMLINK+="disk/by-uuid/$env{ID_FS_UUID_ENC}"' "$rules" &&
	grep -q 'SYMLINK+="disk/by-label/$env{ID_FS_LABEL_ENC}"' "$rules" &&
	grep -q 'SYMLINK+="disk/by-partuuid/$env{ID_PART_ENTRY_UUID}"' "$rules"
result $? "udev rules: permissions, blkid, by-uuid/by-label/by-partuuid"

# Every GOTO has its LABEL; no line ends in a stray continuation.
bad=$(awk '
	/^[ \t]*#/ { next }
	{ while (match($0, /GOTO="[^"]*"/)) {
		g[substr($0, RSTART + 6, RLENGTH - 7)] = NR
		$0 = substr($0, RSTART + RLENGTH) } }
	/LABEL="[^"]*"/ && !/GOTO/ { match($0, /LABEL="[^"]*"/)
		l[substr($0, RSTART + 7, RLENGTH - 8)] = 1 }
	END { for (x in g) if (!(x in l)) print "GOTO " x " without LABEL" }
' "$rules"; tail -n 1 "$rules" | grep '\\$')
[ -z "$bad" ]
result $? "udev rules: GOTOs have labels" "$bad"

if udevadm verify --help >/dev/null 2>&1; then
	out=$(udevadm verify --no-style "$rules" 2>&1 ||
	      udevadm verify "$rules" 2>&1)
	result $? "udevadm verify 60-aloop.rules" "$out"
else
	skip "udevadm verify 60-aloop.rules" "no udevadm verify (systemd < 253)"
fi

# ------------------------------------------------------------------
# uninstall

"$MAKE" -C "$top" --no-print-directory uninstall DESTDIR="$dest" \
	PREFIX=/usr KDIR=/nonexistent KVER=0.0-none >"$tmp/make.log" 2>&1
rc=$?
result $rc "make uninstall DESTDIR=... PREFIX=/usr" \
	"$(tail -n 20 "$tmp/make.log")"

left=
for f in "${files[@]}"; do
	read -r path _ <<<"$f"
	[ -e "$dest/$path" ] && left+=" /$path"
done
[ -z "$left" ]
result $? "uninstall removes every installed file" "left:$left"

[ -e "$dest/usr/sbin/losetup" ] && [ -e "$dest/lib/udev/rules.d/60-other.rules" ]
result $? "uninstall leaves other files alone"

"$MAKE" -C "$top" --no-print-directory uninstall DESTDIR="$dest" \
	PREFIX=/usr KDIR=/nonexistent KVER=0.0-none >"$tmp/make.log" 2>&1
result $? "uninstall again (nothing installed) succeeds" \
	"$(tail -n 20 "$tmp/make.log")"

# ------------------------------------------------------------------

ktap_finish
