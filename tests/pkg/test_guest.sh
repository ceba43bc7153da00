#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test, as root: the Debian packages in booted guests.  For each
# GUEST of ALOOP_PKG_GUESTS (default "trixie bookworm:6.1 bookworm:6.12"):
#
#   trixie     a throwaway copy (cp -a) of the trixie root (7.x kernel with
#              headers) gets `apt-get install ./aloop-dkms_*.deb
#              ./aloop-utils_*.deb`: DKMS builds aloop for 7.x
#   bookworm   a throwaway copy of the cached debootstrap'd bookworm root
#              (tests/pkg/test_chroot.sh makes it) gets linux-image-amd64
#              (6.1) and the tools a guest needs, the .debs (apt pulls dkms
#              and the 6.1 headers; DKMS builds aloop), then the newest 6.12
#              image + headers (DKMS's kernel hook builds aloop for it)
#
# (the cached roots themselves are never written), then the kernel of
# that series boots with the copy as / under virtme-ng (scripts/lib/vm.sh:
# one guest at a time, under /tmp/aloop-vm.lock) and runs
# tests/guest/88-deb.sh: with the module not loaded, aloopctl attach
# loads the DKMS build by itself.  The trixie guest then runs
# tests/guest/88-deb-upgrade.sh: a second, newer pair of .debs, built
# here from a copy of the tree with VERSION+upgradetest1 (VERSION,
# dkms.conf, a debian/changelog entry; one more modinfo tag in
# src/aloop_main.c, so that the srcversion differs too; the tree itself
# is not touched), waits in the root's /root/upgrade; with a device bound
# the guest installs it (DKMS builds the new module under TCG: minutes),
# checks that the device and its data are untouched, the postinst's note
# and aloopctl doctor's "loaded X, installed Y", then reloads aloop and
# checks the new module.  Each guest file's KTAP is a subtest; the
# kernel log is scanned (scripts/lib/kernel-log-patterns).
#
#   tests/pkg/test_guest.sh                     (every guest: 3 boots)
#   ALOOP_PKG_GUESTS=trixie tests/pkg/test_guest.sh
#   ALOOP_PKG_NOBOOT=1 ...     prepare the roots, boot nothing
#   ALOOP_PKG_UPGRADE=0 ...    no upgrade step in the trixie guest
#
# About 3-5 minutes per guest under TCG, plus preparing each root and
# the wait for the VM lock; the trixie guest's upgrade step ~20 more (a
# DKMS build in the guest: its apt-get install took 17.5 minutes on a
# 2-core host beside a niced kernel build, the boot 19.5 minutes).  The .debs: build/deb (ALOOP_DEB_DIR), made
# by `make deb` when missing.  KTAP on stdout, "# N passed, M failed"
# last; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh
ktap_defer_plan
# shellcheck source=lib.sh
. tests/pkg/lib.sh

: "${ALOOP_PKG_GUESTS:=trixie bookworm:6.1 bookworm:6.12}"
: "${ALOOP_PKG_UPGRADE:=1}"
UP_VERSION=$VERSION+upgradetest1
result() { ktap_result "$@"; }	# STATUS DESC [DIAG...]

[ "$(id -u)" = 0 ] || { ktap_skip "package guest tests" "not root"; ktap_finish; }
pkg_init || ktap_bail "cannot make a work directory"
LOG=$PKG_WORK/log
mkdir -p "$LOG"

pkg_debs
result $? "the .debs: $(basename "${DEB_DKMS:-aloop-dkms?}") $(basename "${DEB_UTILS:-aloop-utils?}")" \
	"$(tail_of "$PKG_WORK/make-deb.log" 25)"
[ -n "$DEB_DKMS" ] || ktap_bail "no .debs"

# step DESC LOGNAME CMD...: one result, the log's tail when it fails
step() {
	local d=$1 l=$LOG/$2; shift 2
	"$@" >"$l" 2>&1
	result $? "$d" "$(tail_of "$l" 25)"
}

apt_install() {	# ROOT ARGS...: apt-get install -y in ROOT
	local r=$1; shift
	chr "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

install_debs() {	# ROOT SUITE
	cp "$DEB_DKMS" "$DEB_UTILS" "$1/tmp/" &&
	step "$2: apt-get install ./$(basename "$DEB_DKMS") ./$(basename "$DEB_UTILS")" \
		"$2-debs" apt_install "$1" -o APT::Install-Recommends=true \
		"/tmp/$(basename "$DEB_DKMS")" "/tmp/$(basename "$DEB_UTILS")"
}

# upgrade_debs DIR: the newer pair (UP_VERSION) in DIR, made by `make
# deb` in a copy of the tree's files (those make deb takes) under
# $PKG_WORK, with VERSION, dkms.conf and debian/changelog saying
# UP_VERSION and one more modinfo tag (a srcversion of its own: a
# version alone changes no source file); no build-time tests
# (nocheck: the tree's own make deb runs them)
upgrade_debs() {
	local d=$1 src=$PKG_WORK/upgrade-src/aloop-$UP_VERSION who
	rm -rf "$PKG_WORK/upgrade-src" && mkdir -p "$src" "$d" || return 1
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src" || return 1
	echo "$UP_VERSION" >"$src/VERSION"
	sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$UP_VERSION\"/" "$src/dkms.conf"
	who=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$src/debian/changelog" | head -n 1)
	{
		printf 'aloop (%s) unstable; urgency=medium\n\n' "$UP_VERSION"
		printf '  * Upgrade test build (tests/pkg/test_guest.sh), never released.\n\n'
		printf ' -- %s  %s\n\n' "$who" "$(date -R)"
		cat debian/changelog
	} >"$src/debian/changelog"
	printf '\n/* upgrade test build (tests/pkg/test_guest.sh) */\nMODULE_INFO(aloop_upgrade_test, "%s");\n' \
		"$UP_VERSION" >>"$src/src/aloop_main.c"
	grep -qx "$UP_VERSION" "$src/VERSION" && grep -q "^PACKAGE_VERSION=\"$UP_VERSION\"$" "$src/dkms.conf" ||
		return 1
	DEB_BUILD_OPTIONS=nocheck nice -n 10 make -C "$src" --no-print-directory deb \
		DEB_DIR="$PKG_WORK/upgrade-src/deb" || return 1
	cp "$PKG_WORK/upgrade-src/deb/aloop-dkms_${UP_VERSION}_all.deb" \
		"$PKG_WORK/upgrade-src/deb/aloop-utils_${UP_VERSION}"_*.deb "$d/"
}

# prepare SUITE: a root with the packages installed in ROOTS[SUITE]
declare -A ROOTS
prepare() {
	local s=$1 r img
	case $s in
	trixie)
		[ -x "$ALOOP_TRIXIE_ROOT/usr/bin/apt-get" ] || return 2
		pkg_lock_dkms
		pkg_copy "$ALOOP_TRIXIE_ROOT" trixie
		pkg_unlock_dkms
		r=$PKG_ROOT
		[ -n "$r" ] || { ktap_fail "trixie: copy of $ALOOP_TRIXIE_ROOT"; return 1; }
		pkg_apt_setup "$r" trixie
		step "trixie: apt-get update" trixie-update chr "$r" apt-get update -q &&
			install_debs "$r" trixie || return 1
		[ "$ALOOP_PKG_UPGRADE" = 0 ] ||
			step "trixie: newer .debs ($UP_VERSION, from a copy of the tree) in the root's /root/upgrade" \
				upgrade-debs upgrade_debs "$r/root/upgrade"
		;;
	bookworm)
		pkg_bookworm_base || { ktap_fail "bookworm: base root $ALOOP_BOOKWORM_ROOT"; return 1; }
		pkg_copy "$ALOOP_BOOKWORM_ROOT" bookworm
		r=$PKG_ROOT
		[ -n "$r" ] || { ktap_fail "bookworm: copy of $ALOOP_BOOKWORM_ROOT"; return 1; }
		pkg_apt_setup "$r" bookworm
		step "bookworm: apt-get update" bookworm-update chr "$r" apt-get update -q &&
		step "bookworm: linux-image-amd64 (6.1) and what a guest needs" bookworm-base \
			apt_install "$r" --no-install-recommends linux-image-amd64 util-linux \
			kmod udev procps busybox-static xz-utils zstd &&
			install_debs "$r" bookworm || return 1
		img=$(pkg_newest_612 "$r")
		[ -n "$img" ] || { ktap_fail "bookworm: no 6.12 kernel in the archive"; return 1; }
		step "bookworm: then $img and its headers" bookworm-612 \
			apt_install "$r" --no-install-recommends "$img" "${img/linux-image/linux-headers}" ||
			return 1
		;;
	*) return 2 ;;
	esac
	ROOTS[$s]=$r
}

# subtest SUITE K RES NAME: guest file NAME's KTAP (RES/NAME.ktap) as a
# subtest, then one result for it: exit 0, no failure, no SKIP
subtest() {
	local s=$1 k=$2 res=$3 f=$4 last skips l
	if [ -s "$res/$f.ktap" ]; then
		ktap_print "# Subtest: $f ($s/$k)"
		while IFS= read -r l; do
			ktap_print "    $l"
		done <"$res/$f.ktap"
		last=$(tail -n 1 "$res/$f.ktap")
		skips=$(grep -c '# SKIP' "$res/$f.ktap")
		[ "$(cat "$res/$f.rc" 2>/dev/null)" = 0 ] && [ "$skips" = 0 ] &&
			[[ $last =~ ^#\ [0-9]+\ passed,\ 0\ failed$ ]]
		result $? "$s/$k: tests/guest/$f.sh (${last#\# }, $skips skipped)" \
			"$(cat "$res/$f.stderr" 2>/dev/null)"
	else
		ktap_fail "$s/$k: tests/guest/$f.sh" "no output; console:" \
			"$(tail_of "$LOG/console-$s-$k.log" 30)"
	fi
}

# boot SUITE ROOT K FILE...: boot K with ROOT as /, run the guest files
# (tests/guest/FILE.sh) in it, one after the other
boot() {
	local s=$1 r=$2 k=$3 res=$PKG_WORK/results-$1-$3 st f cmd timeout=900
	shift 3
	mkdir -p "$res"
	cmd="cd '$REPO'"
	for f; do
		cmd+="; tests/guest/$f.sh >'$VM_RESULTS/$f.ktap' 2>'$VM_RESULTS/$f.stderr'; echo \$? >'$VM_RESULTS/$f.rc'"
		[ "$f" != 88-deb-upgrade ] || timeout=2700	# a DKMS build under TCG
	done
	cmd+="; dmesg >'$VM_RESULTS/dmesg.txt' 2>&1; sync"
	# shellcheck disable=SC2034 # read by vm_boot (scripts/lib/vm.sh)
	K_IMG=$r/boot/vmlinuz-$k K_ROOT=$r K_KDIR='' K_REL=$k
	vm_boot --results "$res" --timeout "$timeout" --log "$LOG/console-$s-$k.log" --quiet -- \
		/bin/bash -c "$cmd"
	st=$?
	result "$st" "$s/$k: boot with the root as / (vng; waited ${VM_WAITED:-?}s for the VM lock, ran ${VM_SECONDS:-?}s)" \
		"$(tail_of "$LOG/console-$s-$k.log" 30)"
	for f; do
		subtest "$s" "$k" "$res" "$f"
	done
	klog_scan "$res/dmesg.txt"
	result $? "$s/$k: guest kernel log: no WARNING/BUG/Oops/lockdep/KASAN line" \
		"${KLOG_REPORT:-no kernel log}"
}

for g in $ALOOP_PKG_GUESTS; do
	s=${g%%:*} series=
	[ "$s" = "$g" ] || series=${g#*:}
	if [ -z "${ROOTS[$s]:-}" ]; then
		prepare "$s"
		case $? in
		0) ;;
		2) ktap_skip "$g: package guest test" "no $s root (unknown, or make check has not made it)"; continue ;;
		*) continue ;;
		esac
	fi
	r=${ROOTS[$s]}
	pat='vmlinuz-*'
	[ -z "$series" ] || pat="vmlinuz-$series.*"	# 6.1.* is not 6.12.*
	k=$(find "$r/boot" -maxdepth 1 -name "$pat" -printf '%f\n' |
		sed 's/^vmlinuz-//' | sort -V | tail -n 1)
	if [ -z "$k" ]; then
		ktap_fail "$g: a kernel of that series in the root" "$(ls "$r/boot")"
		continue
	fi
	find "$r/lib/modules/$k/updates/dkms" -name 'aloop.ko*' 2>/dev/null | grep -q .
	result $? "$g: DKMS installed aloop for $k" "$(chr "$r" dkms status 2>&1)" || continue
	files=(88-deb)
	[ "$s" != trixie ] || [ "$ALOOP_PKG_UPGRADE" = 0 ] || files+=(88-deb-upgrade)
	if [ "${ALOOP_PKG_NOBOOT:-0}" = 1 ]; then
		ktap_skip "$g: boot $k, tests/guest/{$(IFS=,; echo "${files[*]}")}.sh" "ALOOP_PKG_NOBOOT=1"
	else
		boot "$s" "$r" "$k" "${files[@]}"
	fi
done
ktap_finish
