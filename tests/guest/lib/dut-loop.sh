# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # the globals of ../lib.sh, and the ones set here for the tests
# SPDX-License-Identifier: GPL-2.0
#
# DUT=loop: the aloopctl CLI emulated on stock loop (harness self-test).
# Sourced by tests/guest/lib.sh (see there for the environment).

# ---------------------------------------------- aloopctl for DUT=loop
# Self-test mode only: emulate the aloopctl CLI on top of the stock loop
# driver and the ioctl helper, so the test logic itself can be validated
# before (or independently of) aloop.  Never used when DUT=aloop.
if [ "$DUT" = loop ]; then
aloopctl() {
	local cmd=${1:-}; shift
	case $cmd in
	attach)
		local ro=0 off=0 lim=0 bs=0 flags=0 dev='' file o n
		while [ $# -gt 0 ]; do
			case $1 in
			--read-only) ro=1 ;;
			--offset) off=$(to_bytes "$2"); shift ;;
			--sizelimit) lim=$(to_bytes "$2"); shift ;;
			--block-size) bs=$(to_bytes "$2"); shift ;;
			--autoclear) flags=$((flags | 4)) ;;
			--partscan) flags=$((flags | 8)) ;;
			--device) dev=$2; shift ;;
			-*) echo "aloopctl: $1: unknown option" >&2; return 1 ;;
			*) file=$1 ;;
			esac
			shift
		done
		[ -e "$file" ] || { echo "aloopctl: $file: No such file or directory" >&2; return 1; }
		if [ -z "$dev" ]; then
			o=$(ioc ctl-get-free "$STOCK_CTL"); n=${o#OK }
			[ "${o%% *}" = OK ] || { echo "aloopctl: $STOCK_CTL: $o" >&2; return 1; }
			dev=/dev/loop$n; wait_dev "$dev"
		fi
		local args=(configure "$dev" "$(readlink -f "$file")" --flags "$flags" --offset "$off" --sizelimit "$lim" --bs "$bs")
		[ $ro = 0 ] || args+=(--ro --open-ro)
		o=$(ioc "${args[@]}")
		[ "$o" = OK ] || { echo "aloopctl: $dev: $o" >&2; return 1; }
		echo "$dev" ;;
	detach)
		local d o rc=0
		for d in "$@"; do
			o=$(ioc clr-fd "$d")
			[ "$o" = OK ] || { echo "aloopctl: $d: $o" >&2; rc=1; }
		done
		return $rc ;;
	detach-all)
		local d
		for d in /sys/block/loop[0-9]*; do
			[ -e "$d/loop/backing_file" ] && ioc clr-fd "/dev/${d##*/}" >/dev/null
		done; return 0 ;;
	list)
		"$PYTHON" - "${1:-}" <<'EOF'
import glob, json, os, sys
rows = []
for d in sorted(glob.glob('/sys/block/loop[0-9]*'), key=lambda p: int(p[15:])):
    if not os.path.exists(d + '/loop/backing_file'):
        continue
    r = lambda n: open(d + '/' + n).read().strip()
    rows.append({"name": "/dev/" + os.path.basename(d), "back-file": r('loop/backing_file'),
                 "offset": int(r('loop/offset')), "sizelimit": int(r('loop/sizelimit')),
                 "autoclear": r('loop/autoclear') == '1', "ro": r('ro') == '1',
                 "dio": r('loop/dio') == '1', "log-sec": int(r('queue/logical_block_size')),
                 "dio-reason": ""})
if sys.argv[1] == '--json':
    print(json.dumps({"aloopdevices": rows}, indent=2))
else:
    print("NAME BACK-FILE OFFSET SIZELIMIT AUTOCLEAR RO DIO LOG-SEC")
    for x in rows:
        print(x["name"], x["back-file"], x["offset"], x["sizelimit"], int(x["autoclear"]),
              int(x["ro"]), int(x["dio"]), x["log-sec"])
EOF
		;;
	status)
		local o; o=$(ioc get-status "$1")
		[ "${o%%$'\n'*}" = OK ] || { echo "aloopctl: $1: $o" >&2; return 1; }
		echo "$o" | tail -n +2 ;;
	*) echo "aloopctl: $cmd: unknown command" >&2; return 1 ;;
	esac
}
export -f aloopctl ioc ioc1_of to_bytes wait_dev wait_for
fi

