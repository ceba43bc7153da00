#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host tests of aloopctl that need no kernel module: the unit test binary
# (reported as subtest 1) and checks of the built aloopctl/aloopctl command line.
#
# Output is KTAP (tests/lib/ktap.sh); the last line is "# N passed, M
# failed" and the exit status is non-zero when anything failed.  Run from anywhere; the
# binaries default to the top of the tree (ALOOPCTL=, UNIT= override).
#
# "list" and "detach-all" run against fake sysfs trees (ALOOPCTL_SYSFS),
# so the results do not depend on whether the aloop module is loaded.
# Without the module "list" fails: "aloopctl: aloop module is not
# loaded", exit 1.

set -u
cd "$(dirname "$0")/../.." || exit 1

ALOOPCTL=${ALOOPCTL:-aloopctl/aloopctl}
UNIT=${UNIT:-tests/unit/test_aloopctl}
VERSION=$(cat VERSION)

. tests/lib/ktap.sh
ktap_defer_plan
tmp=$(mktemp -d /tmp/aloopctl-run.XXXXXX) || exit 1
ktap_on_exit "rm -rf '$tmp'"

result() { ktap_result "$@"; }	# STATUS DESCRIPTION [DIAGNOSTIC]
skip() { ktap_skip "$@"; }	# DESCRIPTION REASON

# run ARGS...: stdout in $tmp/out, stderr in $tmp/err, status in $rc
AS=()	# a command to run aloopctl through (setpriv ...)
run() {
	"${AS[@]}" "$ALOOPCTL" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

got() {
	printf 'exit %s\nstdout: %s\nstderr: %s\n' "$rc" \
		"$(head -c 300 "$tmp/out")" "$(cat "$tmp/err")"
}

# expect_error DESCRIPTION EXPECTED-STDERR-LINE ARGS...
# Exit 1, nothing on stdout, exactly one stderr line starting with
# "aloopctl: ", equal to EXPECTED-STDERR-LINE unless that is empty.
expect_error() {
	local desc=$1 want=$2 ok=1

	shift 2
	run "$@"
	if [ "$rc" = 1 ] && [ ! -s "$tmp/out" ] &&
	   [ "$(wc -l <"$tmp/err")" = 1 ] &&
	   grep -q '^aloopctl: ' "$tmp/err" &&
	   { [ -z "$want" ] || [ "$(cat "$tmp/err")" = "$want" ]; }; then
		ok=0
	fi
	result $ok "$desc" "$(got)"
}

# expect_usage DESCRIPTION EXPECTED-STDERR-LINE ARGS...: a bad command
# line: as expect_error, then "Try 'aloopctl --help' for more information."
expect_usage() {
	local desc=$1 want=$2 ok=1

	shift 2
	run "$@"
	if [ "$rc" = 1 ] && [ ! -s "$tmp/out" ] &&
	   [ "$(cat "$tmp/err")" = "$want"$'\n'"$TRY" ]; then
		ok=0
	fi
	result $ok "$desc" "$(got)"
}
TRY="Try 'aloopctl --help' for more information."

# expect_output DESCRIPTION EXPECTED-STDOUT ARGS...: exit 0, exact stdout
expect_output() {
	local desc=$1 want=$2 ok=1

	shift 2
	run "$@"
	if [ "$rc" = 0 ] && [ ! -s "$tmp/err" ] &&
	   [ "$(cat "$tmp/out")" = "$want" ]; then
		ok=0
	fi
	result $ok "$desc" "$(got)"
}

# ------------------------------------------------------------------
# unit tests, as a subtest

if [ -x "$UNIT" ]; then
	out=$("$UNIT" 2>&1)
	urc=$?
	ktap_print "# Subtest: test_aloopctl"
	while IFS= read -r l; do
		ktap_print "    $l"
	done <<<"$out"
	last=$(tail -n 1 <<<"$out")
	[ "$urc" = 0 ] && [[ "$last" =~ ^#\ [0-9]+\ passed,\ 0\ failed$ ]]
	result $? "test_aloopctl (${last#\# })"
else
	result 1 "test_aloopctl: $UNIT not built"
fi

if [ ! -x "$ALOOPCTL" ]; then
	result 1 "$ALOOPCTL not built"
else

# ------------------------------------------------------------------
# help, version

for opt in --help -h help; do
	run $opt
	[ "$rc" = 0 ] && [ ! -s "$tmp/err" ] && grep -q '^Usage:' "$tmp/out" &&
		grep -q 'DIO-REASON' "$tmp/out"
	result $? "'aloopctl $opt' prints usage on stdout, exit 0" "$(got)"
done

run list --offset 1 --help
[ "$rc" = 0 ] && grep -q '^Usage:' "$tmp/out"
result $? "--help wins over other options" "$(got)"

if [ -w /dev/full ]; then
	"$ALOOPCTL" --help >/dev/full 2>"$tmp/err"
	rc=$?
	[ "$rc" = 1 ] && [ "$(cat "$tmp/err")" = \
		"aloopctl: write error: No space left on device" ]
	result $? "--help > /dev/full: write error, exit 1" "$(got)"
else
	skip "--help > /dev/full" "no /dev/full"
fi

mkdir -p "$tmp/nomod/block" "$tmp/mod/module/aloop" "$tmp/mod/block"
echo 9.8.7 >"$tmp/mod/module/aloop/version"

for v in version --version -V; do
	ALOOPCTL_SYSFS=$tmp/nomod expect_output \
		"'aloopctl $v' without module" "aloopctl $VERSION" $v
done
ALOOPCTL_SYSFS=$tmp/mod expect_output "version with module loaded" \
	"aloopctl $VERSION
aloop module 9.8.7" version

# ------------------------------------------------------------------
# usage errors

expect_usage "no command" \
	"aloopctl: no command given"
expect_usage "unknown command" "aloopctl: unknown command 'frob'" frob
expect_usage "unknown long option" \
	"aloopctl: unrecognized option '--frob'" list --frob
expect_usage "unknown short option" "aloopctl: invalid option -- 'x'" \
	list -x
expect_usage "missing option argument" \
	"aloopctl: option '--offset' requires an argument" attach x --offset
expect_usage "argument to a flag" \
	"aloopctl: option '--read-only' doesn't allow an argument" \
	attach --read-only=yes x
expect_usage "option not valid for the verb" \
	"aloopctl: --offset: not valid with 'list'" list --offset 1
expect_usage "attach without FILE" "aloopctl: attach: missing FILE" attach
expect_usage "attach with two files" \
	"aloopctl: attach: unexpected argument 'b'" attach a b
expect_usage "detach without DEV" "aloopctl: detach: missing DEV" detach
expect_usage "set without a change" \
	"aloopctl: set: nothing to change (use --direct-io, --block-size or --autoclear)" \
	set aloop0
expect_usage "--json with --raw" \
	"aloopctl: --json and --raw are mutually exclusive" list --json --raw
expect_usage "--device with --find" \
	"aloopctl: --device and --find are mutually exclusive" \
	attach -d aloop0 -f x
expect_error "--output unknown column" \
	"aloopctl: --output: unknown column 'FOO'" list -O NAME,FOO
expect_error "--direct-io bad value" \
	"aloopctl: --direct-io: invalid value 'maybe' (use on or off)" \
	attach --direct-io=maybe x
expect_error "--dio bad value" \
	"aloopctl: --dio: invalid value 'maybe' (use require, prefer or off)" \
	attach --dio=maybe x
expect_usage "--dio with --direct-io" \
	"aloopctl: --dio and --direct-io are mutually exclusive" \
	attach --dio=require --direct-io=on x
expect_usage "--dio is attach's alone" \
	"aloopctl: --dio: not valid with 'set'" set --dio=off aloop0
expect_error "attach --json --dio=require of a missing file: the error, no JSON" \
	"aloopctl: /nonexistent/img: failed to set up aloop device: No such file or directory" \
	attach --json --dio=require /nonexistent/img
run --help
grep -q -- '--dio <mode> *direct I/O: require (fail without), prefer (default), off' "$tmp/out"
result $? "--help lists --dio and its modes" "$(got)"
expect_error "--block-size not a power of 2" \
	"aloopctl: --block-size: invalid block size '1000' (a power of 2 from 512 to 64K)" \
	attach -b 1000 x

# ------------------------------------------------------------------
# sizes

expect_error "--offset 12Q" "aloopctl: --offset: invalid size '12Q'" \
	attach --offset 12Q x
expect_error "--offset -5" "aloopctl: --offset: invalid size '-5'" \
	attach --offset -5 x
expect_error "--sizelimit overflow" \
	"aloopctl: --sizelimit: invalid size '99999999999999999999999' (too large)" \
	attach --sizelimit 99999999999999999999999 x
expect_error "--offset empty" "aloopctl: --offset: invalid size ''" \
	attach --offset= x
expect_error "options before the verb" \
	"aloopctl: --offset: invalid size '1KB'" -o 1KB attach x
expect_error "good sizes, then the missing file" \
	"aloopctl: /nonexistent/img: failed to set up aloop device: No such file or directory" \
	-o 1M attach --sizelimit 2GiB -b 4K /nonexistent/img

# ------------------------------------------------------------------
# files and devices

expect_error "attach a missing file" \
	"aloopctl: /nonexistent/img: failed to set up aloop device: No such file or directory" \
	attach /nonexistent/img
expect_error "attach a directory" \
	"aloopctl: $tmp: failed to set up aloop device: not a regular file or block device" attach -r "$tmp"
expect_error "detach /dev/loop0" "aloopctl: /dev/loop0: not an aloop device" \
	detach /dev/loop0
expect_error "status /dev/sda" "aloopctl: /dev/sda: not an aloop device" \
	status /dev/sda
expect_error "bare number is not a device" \
	"aloopctl: 3: not an aloop device" resize 3
expect_error "attach --device /dev/loop0" \
	"aloopctl: /dev/loop0: not an aloop device" \
	attach -d /dev/loop0 VERSION

# ------------------------------------------------------------------
# list and detach-all against fake sysfs trees

ALOOPCTL_SYSFS=$tmp/nomod expect_error "list without the module" \
	"aloopctl: aloop module is not loaded" list
ALOOPCTL_SYSFS=$tmp/nomod expect_error "detach-all without the module" \
	"aloopctl: aloop module is not loaded" detach-all

if [ ! -e /sys/module/aloop ]; then
	expect_error "list on this host (no module)" \
		"aloopctl: aloop module is not loaded" list
else
	skip "list on this host (no module)" "aloop is loaded"
fi
# Without /dev/aloop-control, root's aloopctl loads the module through
# libkmod (aloopctl_kmod.c).  This host cannot load modules (the suite's
# modules live in guests) and has no aloop for its running kernel, so the
# lookup finds none: one line naming the kernel and what to install.
# Anyone else gets the plain error (run as nobody through setpriv).
noctl="aloopctl: /dev/aloop-control: No such file or directory (aloop module not loaded?)"
kver=$(uname -r)
notinst="aloopctl: module aloop is not installed for kernel $kver (install aloop-dkms, or run make install)"
if [ -e /dev/aloop-control ] || [ -e /sys/module/aloop ]; then
	ktap_skip_n 4 "aloop is loaded" "features on this host (no module)"
elif [ "$(id -u)" != 0 ]; then
	expect_error "features on this host (no module), not root" "$noctl" features
	ktap_skip_n 3 "not root" "features as root: autoload"
else
	if modinfo -k "$kver" aloop >/dev/null 2>&1; then
		ktap_skip_n 2 "aloop is installed for $kver" \
			"features as root: module not installed"
	else
		expect_error "features as root, aloop not installed for $kver: autoload says so" \
			"$notinst" features
		expect_error "attach as root, aloop not installed: autoload says so" \
			"$notinst" attach VERSION
	fi
	if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null &&
	   setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$ALOOPCTL"; then
		AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		expect_error "features as nobody (no module): no autoload, plain error" \
			"$noctl" features
		expect_error "attach as nobody (no module): no autoload, plain error" \
			"$noctl" attach VERSION
		AS=()
	else
		ktap_skip_n 2 "cannot run $ALOOPCTL as nobody (setpriv)" \
			"features as nobody"
	fi
fi

ALOOPCTL_SYSFS=$tmp/mod expect_output "list, module loaded, no devices" \
	"" list
ALOOPCTL_SYSFS=$tmp/mod expect_output "list --json, no devices" '{
   "aloopdevices": [

   ]
}' list --json
ALOOPCTL_SYSFS=$tmp/mod expect_output "detach-all with nothing bound" \
	"" detach-all

fake_dev() {	# nr backing-file ro offset
	local d=$tmp/mod/block/aloop$1

	mkdir -p "$d/aloop" "$d/queue"
	echo "$2" >"$d/aloop/backing_file"
	echo "$4" >"$d/aloop/offset"
	echo 0 >"$d/aloop/sizelimit"
	echo 0 >"$d/aloop/autoclear"
	echo 0 >"$d/aloop/partscan"
	echo 0 >"$d/aloop/dio"
	echo "page cache only" >"$d/aloop/dio_reason"
	echo "$3" >"$d/ro"
	echo 2048 >"$d/size"
	echo 512 >"$d/queue/logical_block_size"
}
fake_dev 10 /img/ten.img 1 512
fake_dev 2 "" 0 0
fake_dev 0 /img/zero.img 0 0
mkdir -p "$tmp/mod/block/loop0"

export ALOOPCTL_SYSFS=$tmp/mod
expect_output "list: bound devices, by number" \
"/dev/aloop0 0 /img/zero.img 0
/dev/aloop10 1 /img/ten.img 512" list --raw -n -O name,ro,back-file,offset
expect_output "list --all adds unbound devices" \
"/dev/aloop0
/dev/aloop2
/dev/aloop10" list -a --raw -n -O NAME
expect_output "list DEV shows an unbound device" \
"NAME BACK-FILE
/dev/aloop2 " list aloop2 --raw -O NAME,BACK-FILE
expect_output "list --output +SIZE" \
"/dev/aloop0 0 0 0 0 /img/zero.img 0 512 page\\x20cache\\x20only 1048576" \
	list /dev/aloop0 --raw -n -O +SIZE

run list --json
grep -q '"name": "/dev/aloop10"' "$tmp/out" &&
	grep -q '"ro": true' "$tmp/out" && grep -q '"offset": 512' "$tmp/out" &&
	grep -q '"log-sec": 512' "$tmp/out" &&
	grep -q '"dio-reason": "page cache only"' "$tmp/out" &&
	[ "$rc" = 0 ] && [ "$(head -2 "$tmp/out" | tail -1)" = '   "aloopdevices": [' ]
result $? "list --json: typed values" "$(got)"

run list
[ "$rc" = 0 ] && head -1 "$tmp/out" | grep -q \
	'^NAME *SIZELIMIT *OFFSET *AUTOCLEAR *RO *BACK-FILE *DIO *LOG-SEC *DIO-REASON$'
result $? "list: default columns" "$(got)"

run list aloop0 aloop4
[ "$rc" = 1 ] && [ "$(cat "$tmp/err")" = \
	"aloopctl: /dev/aloop4: No such device" ] &&
	grep -q '^/dev/aloop0 ' "$tmp/out"
result $? "list of a missing device: error, others still listed" "$(got)"

if [ -w /dev/full ]; then
	"$ALOOPCTL" list >/dev/full 2>"$tmp/err"
	rc=$?
	[ "$rc" = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ]
	result $? "list > /dev/full: exit 1" "$(got)"
else
	skip "list > /dev/full" "no /dev/full"
fi
unset ALOOPCTL_SYSFS

fi

# ------------------------------------------------------------------

ktap_finish
