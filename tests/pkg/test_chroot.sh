#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test, as root: the Debian packages installed, upgraded across a
# kernel install and purged, in throwaway chroots (this host cannot load
# modules; tests/pkg/test_guest.sh boots one):
#
#   bookworm  the cached debootstrap'd root (/var/cache/aloop/bookworm-root,
#             made once) under an overlay: linux-image-amd64 (6.1)
#             first, then `apt-get install ./aloop-dkms_*.deb
#             ./aloop-utils_*.deb` (apt pulls dkms and the headers), then
#             the newest 6.12 bookworm kernel's image + headers
#   trixie    the trixie root of make check (/var/cache/aloop/trixie-root,
#             7.3 with headers) under an overlay, never written: the
#             .debs, then trixie's own 6.12 image + headers
#
# Each: the module is built and installed by DKMS for the kernel there
# (dkms status, the .ko under /lib/modules/K/updates/dkms, its version);
# aloopctl runs; the second kernel gets the module from DKMS's kernel
# hooks; `apt-get purge aloop-dkms aloop-utils` leaves no file with
# "aloop" in its name under /usr, /etc, /lib, /var/lib/dkms that was not
# there before (the kernel's snd-aloop aside), no dpkg entry, and an
# empty `dkms status`.
#
#   tests/pkg/test_chroot.sh [bookworm] [trixie]     (default: both)
#
# The .debs: build/deb (ALOOP_DEB_DIR), made by `make deb` when missing.
# Packages come from the host's Debian mirror.  ALOOP_PKG_KEEP=1 keeps
# the work directory (/var/tmp/aloop-pkg.*).  KTAP on stdout, "# N
# passed, M failed" last; exit 1 on failure.  Takes 10-20 minutes.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh
ktap_defer_plan
# shellcheck source=lib.sh
. tests/pkg/lib.sh

result() { ktap_result "$@"; }	# STATUS DESC [DIAG...]

[ "$(id -u)" = 0 ] || { ktap_skip "package install tests" "not root"; ktap_finish; }
pkg_init || ktap_bail "cannot make a work directory"
LOG=$PKG_WORK/log
mkdir -p "$LOG"

# step DESC LOGNAME CMD...: one result, the log's tail when it fails
step() {
	local d=$1 l=$LOG/$2; shift 2
	"$@" >"$l" 2>&1
	result $? "$d" "$(tail_of "$l" 25)"
}

pkg_debs
result $? "the .debs: $(basename "${DEB_DKMS:-aloop-dkms?}") $(basename "${DEB_UTILS:-aloop-utils?}")" \
	"$(tail_of "$PKG_WORK/make-deb.log" 25)"
[ -n "$DEB_DKMS" ] || ktap_bail "no .debs"

# kernels_with_headers ROOT: releases with /lib/modules/K/build
kernels_with_headers() {
	local d
	for d in "$1"/lib/modules/*/build; do
		[ -e "$d/Makefile" ] || continue
		d=${d%/build}
		echo "${d##*/}"
	done
}

# ko_of ROOT K: the DKMS aloop.ko(.xz...) of kernel K in ROOT
ko_of() {
	find "$1/lib/modules/$2/updates/dkms" -maxdepth 1 -name 'aloop.ko*' 2>/dev/null | head -n 1
}

# dkms_ok ROOT K: aloop/VERSION installed for K, and its .ko is there
dkms_ok() {
	local r=$1 k=$2 st ko
	st=$(chr "$r" dkms status aloop 2>&1)
	ko=$(ko_of "$r" "$k")
	if grep -F "aloop/$VERSION, $k, " <<<"$st" | grep -q ': installed$' && [ -n "$ko" ]; then
		return 0
	fi
	printf 'dkms status aloop:\n%s\nko: %s\n' "$st" "${ko:-none}"
	ls -l "$r/lib/modules/$k/updates/dkms/" 2>&1
	tail -n 20 "$r/var/lib/dkms/aloop/$VERSION/build/make.log" 2>/dev/null
	return 1
}

run_root() {	# SUITE BASE
	local suite=$1 base=$2 r k1 k2 img hdr before after files st out ko
	ktap_print "# --- $suite (base $base)"
	pkg_overlay "$base" "$suite" || { ktap_fail "$suite: overlay root on $base"; return; }
	r=$PKG_ROOT
	pkg_apt_setup "$r" "$suite"
	step "$suite: apt-get update" "$suite-update" chr "$r" apt-get update -q || return

	if [ "$suite" = bookworm ]; then
		step "$suite: first kernel: apt-get install linux-image-amd64 (6.1)" "$suite-k1" \
			chr "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends linux-image-amd64 || return
	fi
	k1=$(find "$r/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null |
		sed 's/^vmlinuz-//' | sort -V | tail -n 1)
	[ -n "$k1" ]
	result $? "$suite: first kernel is $k1" || return
	before=$(aloop_files "$r")

	cp "$DEB_DKMS" "$DEB_UTILS" "$r/tmp/" || return
	# as on a default system: with Recommends (dkms recommends the headers)
	step "$suite: apt-get install ./$(basename "$DEB_DKMS") ./$(basename "$DEB_UTILS")" \
		"$suite-install" chr "$r" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q -o APT::Install-Recommends=true \
		"/tmp/$(basename "$DEB_DKMS")" "/tmp/$(basename "$DEB_UTILS")" || return
	# shellcheck disable=SC2016 # dpkg-query's ${fields}
	out=$(chr "$r" dpkg-query -W -f='${Package} ${Status}\n' dkms "linux-headers-$k1" 2>&1)
	[ "$(grep -c ' install ok installed$' <<<"$out")" = 2 ]
	result $? "$suite: dkms and linux-headers-$k1 are installed" "$out"

	out=$(dkms_ok "$r" "$k1")
	result $? "$suite: dkms status: aloop/$VERSION installed for $k1, .ko in updates/dkms" "$out"
	ko=$(ko_of "$r" "$k1")
	out=$(chr "$r" modinfo -F version "${ko#"$r"}" 2>&1; chr "$r" modinfo -F vermagic "${ko#"$r"}" 2>&1)
	[ "$(head -n 1 <<<"$out")" = "$VERSION" ] && [[ "$(tail -n 1 <<<"$out")" == "$k1 "* ]]
	result $? "$suite: the DKMS aloop.ko is version $VERSION, built for $k1" "$out"
	out=$(chr "$r" /sbin/modinfo -k "$k1" -n aloop 2>&1)
	[[ $out == /lib/modules/$k1/updates/dkms/aloop.ko* ]] ||
		[[ $out == /usr/lib/modules/$k1/updates/dkms/aloop.ko* ]]
	result $? "$suite: depmod ran: modinfo -k $k1 aloop finds it" "$out"

	missing=
	for f in /usr/sbin/aloopctl /usr/share/man/man8/aloopctl.8.gz \
		 /usr/share/bash-completion/completions/aloopctl \
		 /lib/udev/rules.d/60-aloop.rules /usr/include/linux/aloop.h \
		 "/usr/src/aloop-$VERSION/dkms.conf"; do
		[ -f "$r$f" ] || missing+=" $f"
	done
	[ -z "$missing" ]
	result $? "$suite: aloopctl, man page, completion, udev rule, header, DKMS tree installed" "missing:$missing"
	out=$(chr "$r" aloopctl --version 2>&1)
	[ "$out" = "aloopctl $VERSION" ]
	result $? "$suite: aloopctl --version" "$out"
	# The chroot's running kernel is the host's, which has no aloop:
	# root's aloopctl looks the module up through libkmod and says so.
	out=$(chr "$r" aloopctl features 2>&1)
	st=$?
	[ "$st" = 1 ] && [ "$out" = "aloopctl: module aloop is not installed for kernel $(uname -r) (install aloop-dkms, or run make install)" ]
	result $? "$suite: aloopctl features as root, no aloop for the running kernel $(uname -r): one line" \
		"exit $st: $out"

	# A second kernel, installed afterwards: DKMS builds aloop for it.
	img=$(pkg_newest_612 "$r")
	k2=${img#linux-image-}
	hdr=linux-headers-$k2
	if [ -z "$img" ] || [ "$k2" = "$k1" ]; then
		ktap_fail "$suite: a second kernel to install" "apt-cache pkgnames linux-image-6.12.: '$img'"
	else
		step "$suite: second kernel: apt-get install $img $hdr" "$suite-k2" \
			chr "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "$img" "$hdr"
		out=$(dkms_ok "$r" "$k2"; tail -n 15 "$LOG/$suite-k2")
		dkms_ok "$r" "$k2" >/dev/null
		result $? "$suite: DKMS built and installed aloop for the new kernel $k2 by itself" "$out"
		out=$(dkms_ok "$r" "$k1")
		result $? "$suite: and aloop for $k1 is still installed" "$out"
	fi
	files=$(aloop_files "$r")

	step "$suite: apt-get purge aloop-dkms aloop-utils" "$suite-purge" \
		chr "$r" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q aloop-dkms aloop-utils
	out=$(chr "$r" dkms status 2>&1)
	[ -z "$out" ]
	result $? "$suite: dkms status is empty after purge" "$out"
	out=$(chr "$r" dpkg -l 'aloop*' 2>&1 | grep '^[a-z][a-z] ')
	[ -z "$out" ]
	result $? "$suite: dpkg knows no aloop package any more" "$out"
	after=$(aloop_files "$r")
	out=$(comm -13 <(echo "$before") <(echo "$after"))
	[ -z "$out" ]
	result $? "$suite: no file of aloop left under /usr /etc /lib /var/lib/dkms" \
		"left:" "$out" "(installed, before purge:)" "$files"
	out=$(grep -lE '(^|/)aloop\.ko' "$r"/lib/modules/*/modules.dep 2>/dev/null)
	[ -z "$out" ]
	result $? "$suite: no modules.dep names aloop.ko" "$out"
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)
for s in "${suites[@]}"; do
	case $s in
	bookworm)
		pkg_bookworm_base
		result $? "bookworm base root $ALOOP_BOOKWORM_ROOT (debootstrap, cached)" \
			"$(tail_of "$PKG_WORK/debootstrap.log")" &&
			run_root bookworm "$ALOOP_BOOKWORM_ROOT"
		;;
	trixie)
		if [ -x "$ALOOP_TRIXIE_ROOT/usr/bin/apt-get" ] &&
		   [ -n "$(kernels_with_headers "$ALOOP_TRIXIE_ROOT")" ]; then
			pkg_lock_dkms
			run_root trixie "$ALOOP_TRIXIE_ROOT"
			umount "$PKG_WORK/trixie/root" 2>/dev/null
			pkg_unlock_dkms
		else
			ktap_skip "trixie: package tests" "no trixie root with kernel headers at $ALOOP_TRIXIE_ROOT (make check makes it)"
		fi
		;;
	*) ktap_fail "unknown root '$s' (bookworm, trixie)" ;;
	esac
done
ktap_finish
