#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make header-matrix`: build aloop.ko with W=1 against the Debian
# linux-headers-*-amd64 packages of bookworm (with bookworm-security and
# -updates, where its kernels are updated), bookworm-backports, trixie
# (with trixie-updates) and trixie-backports, and print a table: kernel,
# package version, suite, gcc, result (ok / warnings / fail / error) and
# the build log.
#
#   scripts/header-matrix.sh            as root (chroot, the apt cache)
#   scripts/header-matrix.sh --list     the kernels it would build, no more
#   scripts/header-matrix.sh --select   madison lines on stdin -> selection
#                                       (no apt, no root: for the tests)
#
# Which kernels: per suite, upstream series (6.1, 6.12, 7.3...) and flavour
# (amd64, cloud-amd64, rt-amd64), the newest ABI (the highest package
# version) that the suite has; a kernel that two suites have is built once.
# The archive keeps many older ABIs of a series (bookworm-security: seven
# of 6.1), which differ from the newest in fixes, not in API.
#
# Where from: the suites as apt has them, without `apt-get update` unless
# ALOOP_HM_UPDATE=1: bookworm's from the host's apt, trixie's from the
# trixie root's (scripts/trixie-root.sh: trixie, trixie-updates,
# trixie-backports; not trixie-security), since a trixie kernel needs
# trixie's gcc-14 and its linux-kbuild programs need trixie's libc.
# Nothing is installed: the packages (headers, their -common and
# linux-kbuild) are fetched with `apt-get download` into
# $ALOOP_HEADERS_CACHE (/var/cache/aloop/headers, kept) and unpacked with
# `dpkg -x` into build/header-matrix/<kver>/tree (deleted after the build
# unless ALOOP_HM_KEEP=1).  Their symlinks are relative; the absolute
# paths of the flavour's Makefile (`include /usr/src/linux-headers-X-
# common/Makefile`, and 7.x's KBUILD_OUTPUT=/usr/src/linux-headers-X-amd64)
# are pointed at the unpacked tree.  A header tree already
# installed (/usr/src/linux-headers-<kver>, on the host or in the root) is
# used as it is.  The build is check.sh's (scripts/lib/build.sh:
# module_build, module_warnings): the sources copied into
# build/header-matrix/<kver>/mod, `make W=1 module` there (the compat
# probes are generated into that directory), chrooted in the trixie root
# for trixie's kernels; any compiler warning is "warnings".
#
# One build at a time, at nice 19 and idle I/O priority.  Exit status 0
# when every kernel is ok.  The table is also written to
# build/header-matrix/results.md.
#
# Environment:
#   ALOOP_HM_SUITES="bookworm bookworm-updates bookworm-security
#       bookworm-backports trixie trixie-updates trixie-security
#       trixie-backports"             the suites (others are ignored)
#   ALOOP_HM_FLAVOURS="amd64 cloud-amd64 rt-amd64"
#   ALOOP_HM_ALL=1        every ABI, not only the newest per series
#   ALOOP_HM_ONLY=REGEX   only the kernels (releases) matching REGEX
#   ALOOP_HM_UPDATE=1     apt-get update on the host and in the root first
#   ALOOP_HM_KEEP=1       keep the unpacked header trees
#   ALOOP_HEADERS_CACHE=DIR   the .deb cache (/var/cache/aloop/headers)
#   ALOOP_TRIXIE_ROOT=DIR     the trixie root (/var/cache/aloop/trixie-root)
set -uo pipefail

# shellcheck source=lib/aloop.sh
. "$(dirname "$0")/lib/aloop.sh"

: "${ALOOP_HM_SUITES:=bookworm bookworm-updates bookworm-security bookworm-backports trixie trixie-updates trixie-security trixie-backports}"
: "${ALOOP_HM_FLAVOURS:=amd64 cloud-amd64 rt-amd64}"
: "${ALOOP_HM_ALL:=0}"
: "${ALOOP_HM_ONLY:=}"
: "${ALOOP_HEADERS_CACHE:=/var/cache/aloop/headers}"
CACHE=$ALOOP_HEADERS_CACHE
W=$REPO/build/header-matrix

say() { echo "header-matrix: $*" >&2; }
die() { say "$*"; exit 2; }

# hm_select: `apt-cache madison` lines on stdin ("PKG | VERSION | URI
# SUITE/COMPONENT ARCH Packages"); prints "KVER VERSION SUITE[,SUITE]"
# per kernel to build, by release: the rule above.
hm_select() {
	local re pkg ver src suite series flavour
	re='^linux-headers-(([0-9]+)\.([0-9]+)\.[0-9]+([-+][0-9a-z.~]+)?)-(([a-z]+-)*amd64)$'
	while IFS='|' read -r pkg ver src; do
		pkg=${pkg// /} ver=${ver// /}
		read -r _ suite _ <<<"$src"
		suite=${suite%%/*}
		[[ $pkg =~ $re ]] || continue
		series=${BASH_REMATCH[2]}.${BASH_REMATCH[3]} flavour=${BASH_REMATCH[5]}
		case " $ALOOP_HM_FLAVOURS " in *" $flavour "*) ;; *) continue ;; esac
		case " $ALOOP_HM_SUITES " in *" $suite "*) ;; *) continue ;; esac
		[ -z "$ALOOP_HM_ONLY" ] || [[ ${pkg#linux-headers-} =~ $ALOOP_HM_ONLY ]] || continue
		# group (suite, series, flavour), version, release
		echo "$suite:$series:$flavour $ver ${pkg#linux-headers-}"
	done | sort -u | sort -k1,1 -k2,2V |
	awk -v all="$ALOOP_HM_ALL" '
		# the newest of each group (input sorted by version within it)
		all == 1 { print; next }
		$1 != g && g != "" { print last }
		{ g = $1; last = $0 }
		END { if (all != 1 && g != "") print last }' |
	# one line per release, its suites in ALOOP_HM_SUITES's order
	awk -v suites="$ALOOP_HM_SUITES" '
		{ split($1, k, ":"); v[$3] = $2; in_[$3 " " k[1]] = 1 }
		END { ns = split(suites, s, " ")
		      for (r in v) {
			l = ""
			for (i = 1; i <= ns; i++) if ((r " " s[i]) in in_) l = l (l == "" ? "" : ",") s[i]
			print r, v[r], l } }' |
	sort -V
}

case ${1:-} in
--select) hm_select; exit ;;
--list|"") ;;
*) die "usage: $0 [--list|--select]" ;;
esac

[ "$(id -u)" = 0 ] || die "must run as root (apt-get download into $CACHE, chroot into the trixie root)"
renice -n 19 -p $$ >/dev/null 2>&1 || true
ionice -c 3 -p $$ 2>/dev/null || true
mkdir -p "$W" "$CACHE" || exit 2
exec 8>"$W/.lock"
flock -n 8 || die "another header matrix is running ($W/.lock)"

# shellcheck disable=SC2034 # read by lib/kernel.sh
TROOT_LOG=$W/trixie-root.log
HAVE_ROOT=0
if troot_ensure; then
	HAVE_ROOT=1
else
	say "WARNING: no trixie root ($TROOT_STATE): trixie's kernels are not built"
fi

if [ "${ALOOP_HM_UPDATE:-0}" = 1 ]; then
	apt-get update -qq >&2 || die "apt-get update failed"
	[ "$HAVE_ROOT" = 0 ] || in_root "$TROOT" apt-get update -qq >&2 || die "apt-get update in $TROOT failed"
fi

# madison ROOT SUITE-PREFIX: the madison lines of every headers package
# ROOT's apt knows, of the suites named SUITE-PREFIX*
madison() {
	local names
	names=$(on "$1" apt-cache search --names-only '^linux-headers-.*-amd64$' | awk '{ print $1 }')
	[ -n "$names" ] || return 0
	# shellcheck disable=SC2086 # names are words
	on "$1" apt-cache madison $names | grep -E "^[^|]*\|[^|]*\| *[^ ]+ $2(-[a-z]+)?/"
}
lists_date() {
	# shellcheck disable=SC2012 # names are apt's, no odd characters
	date -r "$(ls -t "$1"/var/lib/apt/lists/*_Packages* 2>/dev/null | head -n 1)" '+%Y-%m-%d %H:%M' 2>/dev/null || echo "?"
}

SEL=$W/selection
{
	madison "" bookworm
	[ "$HAVE_ROOT" = 0 ] || madison "$TROOT" trixie
} | hm_select >"$SEL"
say "package lists: the host's of $(lists_date ""), the trixie root's of $(lists_date "$TROOT")"
if [ "${1:-}" = --list ]; then
	cat "$SEL"
	exit 0
fi
[ -s "$SEL" ] || die "no linux-headers-*-amd64 package found (apt-get update?)"

avail=$(df --output=avail -k "$CACHE" | tail -n 1)
[ "${avail:-0}" -gt $((2 * 1024 * 1024)) ] || die "less than 2 GB free in $CACHE"

# fetch ROOT PKG VERSION: the .deb of PKG (VERSION, or the newest there is)
# in $CACHE, downloaded if it is not there; prints its path
fetch() {
	local root=$1 p=$2 v=$3 f stage
	on "$root" apt-cache madison "$p" | awk -F'|' -v v="$v" '{ gsub(/ /, "", $2) } $2 == v { f = 1 } END { exit !f }' ||
		v=$(on "$root" apt-cache madison "$p" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -V | tail -n 1)
	[ -n "$v" ] || { echo "no package $p" >&2; return 1; }
	f=$(find "$CACHE" -maxdepth 1 -name "${p}_${v//:/%3a}_*.deb" | head -n 1)
	if [ -z "$f" ]; then
		stage=/var/tmp/aloop-header-matrix
		rm -rf "${root:-}$stage"
		# shellcheck disable=SC2016 # the inner sh expands them
		on "$root" sh -c 'mkdir -p "$1" && chown _apt "$1" && cd "$1" &&
			apt-get download -q "$2"' sh "$stage" "$p=$v" >&2 || return 1
		f=$(find "${root:-}$stage" -maxdepth 1 -name "${p}_*.deb" | head -n 1)
		[ -n "$f" ] || { echo "apt-get download $p=$v left no .deb" >&2; return 1; }
		mv "$f" "$CACHE/" || return 1
		rm -rf "${root:-}$stage"
		f=$CACHE/${f##*/}
	fi
	echo "$f"
}

# hm_tree ROOT KVER VERSION TREE: the headers of KVER unpacked in TREE;
# prints the build directory (KDIR)
hm_tree() {
	local root=$1 k=$2 v=$3 t=$4 deps d f debs=() mk
	if [ -e "$root/usr/src/linux-headers-$k/Makefile" ]; then
		echo "installed: $root/usr/src/linux-headers-$k" >&2
		echo "/usr/src/linux-headers-$k"
		return
	fi
	# its -common(-rt) and linux-kbuild, from its Depends
	deps=$(on "$root" apt-cache show "linux-headers-$k=$v" | sed -n 's/^Depends: //p' | head -n 1 |
		tr ',' '\n' | sed 's/^ *//; s/[ |(].*//' | grep -E '^linux-(headers|kbuild)-')
	[ -n "$deps" ] || { echo "linux-headers-$k=$v: no -common/linux-kbuild in its Depends" >&2; return 1; }
	for d in "linux-headers-$k" $deps; do
		f=$(fetch "$root" "$d" "$v") || return 1
		debs+=("$f")
	done
	rm -rf "$t" && mkdir -p "$t" || return 1
	for d in "${debs[@]}"; do
		echo "dpkg -x $d" >&2
		dpkg -x "$d" "$t" || return 1
	done
	mk=$t/usr/src/linux-headers-$k/Makefile
	[ -f "$mk" ] || { echo "no $mk" >&2; return 1; }
	sed -i "s#\(^\|[ =]\)/usr/src/linux-headers-#\1$t/usr/src/linux-headers-#g" "$mk" || return 1
	echo "${mk%/Makefile}"
}

gcc_of() { on "$1" gcc -dumpfullversion 2>/dev/null || echo "?"; }
GCC_HOST=$(gcc_of "")
GCC_ROOT=
[ "$HAVE_ROOT" = 0 ] || GCC_ROOT=$(gcc_of "$TROOT")

ROWS=() OK=0 FAILED=0 T0=$(date +%s)
if [ "$HAVE_ROOT" = 0 ]; then	# not a silent gap: a row, and a failure
	ROWS+=("| (trixie's kernels) | | trixie, trixie-backports | | error: no trixie root | ${TROOT_LOG#"$REPO"/} |")
	FAILED=1
fi
n=$(wc -l <"$SEL") i=0
say "$n kernels (selection in $SEL); logs in $W/<kver>/"
while read -r k v suites; do
	i=$((i + 1))
	root='' g=$GCC_HOST
	case $suites in trixie*) root=$TROOT g=$GCC_ROOT ;; esac
	d=$W/$k log=$W/$k/build.log
	rm -rf "$d/tree" && mkdir -p "$d"
	t1=$(date +%s)
	say "[$i/$n] $k ($v, $suites)${root:+ in the trixie root}"
	if ! kdir=$(hm_tree "$root" "$k" "$v" "$d/tree" 2>"$d/fetch.log"); then
		res=error log=$d/fetch.log
	elif K_REL=$k K_ROOT=$root K_KDIR=$kdir module_build "$d/mod" "$log"; then
		res=ok
		[ -z "$(module_warnings "$log")" ] || res=warnings
	else
		res=fail
	fi
	[ "${ALOOP_HM_KEEP:-0}" = 1 ] || rm -rf "$d/tree"
	if [ "$res" = ok ]; then OK=$((OK + 1)); else FAILED=$((FAILED + 1)); fi
	say "[$i/$n] $k: $res ($(( $(date +%s) - t1 ))s)"
	[ "$res" = ok ] || { module_warnings "$log"; tail_of "$log" 5; } 2>/dev/null | sed 's/^/    /' >&2
	ROWS+=("| $k | $v | $suites | $g | $res | ${log#"$REPO"/} |")
done <"$SEL"

{
	echo "aloop $(cat "$REPO/VERSION") ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')), $(date '+%Y-%m-%d'), W=1: $OK of $n ok, $(( $(date +%s) - T0 ))s"
	echo
	echo "| kernel | package version | suite | gcc | result | log |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS[@]}"
} | tee "$W/results.md"
[ "$FAILED" = 0 ]
