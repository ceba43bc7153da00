# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared by the package tests (tests/pkg/*.sh), on the host as root:
#
#   pkg_debs                 DEB_DKMS / DEB_UTILS: the two .debs in
#                            $ALOOP_DEB_DIR (default build/deb), built
#                            with `make deb` first when missing
#                            (ALOOP_DEB_REBUILD=1: always)
#   pkg_mirror               MIRROR / SECURITY: the host's Debian mirror
#                            (/etc/apt/sources.list.d/debian.sources)
#   pkg_bookworm_base        the cached debootstrap'd bookworm root
#                            ($ALOOP_BOOKWORM_ROOT, default
#                            /var/cache/aloop/bookworm-root), made once
#   pkg_overlay BASE NAME    a throwaway root: overlayfs with BASE as its
#                            (never written) lower layer, under $PKG_WORK,
#                            in PKG_ROOT; unmounted at exit
#   pkg_copy BASE NAME       the same as a plain copy (cp -a)
#   pkg_lock_dkms            hold make check's DKMS lock (the trixie root
#   pkg_unlock_dkms          does not change meanwhile)
#   pkg_apt_setup ROOT SUITE apt sources (the host's mirror), no daemons,
#                            no initramfs
#   chr ROOT CMD...          CMD chrooted in ROOT (scripts/lib/aloop.sh's
#                            in_root: /proc, /sys, /dev and the tree
#                            mounted in a private namespace)
#   pkg_newest_612 ROOT      the newest linux-image-6.12.*-amd64 apt offers
#   aloop_files ROOT         every path under /usr, /etc, /lib and
#                            /var/lib/dkms of ROOT whose name has "aloop"
#                            in it (not the kernel's snd-aloop)
#
# Needs tests/lib/ktap.sh sourced first (cleanup through ktap_on_exit).

# shellcheck source=../../scripts/lib/aloop.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/aloop.sh"

: "${ALOOP_DEB_DIR:=$REPO/build/deb}"
: "${ALOOP_BOOKWORM_ROOT:=/var/cache/aloop/bookworm-root}"
VERSION=$(cat "$REPO/VERSION")
PKG_WORK=
# shellcheck disable=SC2034 # the callers' (pkg_overlay, pkg_copy)
PKG_ROOT=

# Unmount whatever is mounted under $PKG_WORK (deepest first), then
# remove it, unless something could not be unmounted: rm -rf through a
# mounted root would walk into it.
pkg_cleanup() {
	local m
	[ -n "$PKG_WORK" ] || return 0
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done < <(awk -v w="$PKG_WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r)
	if awk -v w="$PKG_WORK/" 'index($2, w) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
		echo "pkg: still mounted under $PKG_WORK, not removed" >&2
		return 1
	fi
	[ "${ALOOP_PKG_KEEP:-0}" = 1 ] || rm -rf "$PKG_WORK"
}

# pkg_lock_dkms / pkg_unlock_dkms: make check's DKMS stage registers aloop
# in the trixie root for the length of a boot (scripts/lib/dkms.sh, under
# /tmp/aloop-dkms.lock) and scripts/trixie-root.sh installs into it
# (under ROOT.lock): hold both while the root is the lower layer of an
# overlay, or being copied, so that it does not change meanwhile.  The
# DKMS lock first: trixie-root.sh never takes it, so no deadlock.
pkg_lock_dkms() {
	exec 7>/tmp/aloop-dkms.lock && flock 7 &&
		exec 6>"$ALOOP_TRIXIE_ROOT.lock" && flock 6
}
pkg_unlock_dkms() { exec 6>&- 7>&-; }

pkg_init() {
	PKG_WORK=$(mktemp -d /var/tmp/aloop-pkg.XXXXXX) || return 1
	ktap_on_exit pkg_cleanup
	trap 'exit 130' INT TERM	# the EXIT trap unmounts
}

chr() { in_root "$@"; }

pkg_debs() {
	DEB_DKMS='' DEB_UTILS=''
	if [ "${ALOOP_DEB_REBUILD:-0}" = 1 ] ||
	   ! ls "$ALOOP_DEB_DIR"/aloop-dkms_"$VERSION"_all.deb >/dev/null 2>&1; then
		make -C "$REPO" --no-print-directory deb DEB_DIR="$ALOOP_DEB_DIR" >"$PKG_WORK/make-deb.log" 2>&1 ||
			return 1
	fi
	DEB_DKMS=$(find "$ALOOP_DEB_DIR" -maxdepth 1 -name "aloop-dkms_${VERSION}_all.deb" | head -n 1)
	DEB_UTILS=$(find "$ALOOP_DEB_DIR" -maxdepth 1 -name "aloop-utils_${VERSION}_*.deb" | head -n 1)
	[ -n "$DEB_DKMS" ] && [ -n "$DEB_UTILS" ]
}

pkg_mirror() {
	local src=/etc/apt/sources.list.d/debian.sources
	MIRROR=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src" 2>/dev/null)
	[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	SECURITY=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "$src" 2>/dev/null)
	[ -n "$SECURITY" ] || SECURITY=$(awk '/^deb / && $2 ~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	[ -n "$MIRROR" ]
}

pkg_bookworm_base() {
	local r=$ALOOP_BOOKWORM_ROOT
	[ -x "$r/usr/bin/apt-get" ] && [ -s "$r/var/lib/dpkg/status" ] && return 0
	pkg_mirror || return 1
	rm -rf "$r.new"
	mkdir -p "$(dirname "$r")"
	debootstrap --variant=minbase bookworm "$r.new" "$MIRROR" >"$PKG_WORK/debootstrap.log" 2>&1 &&
		mv "$r.new" "$r"
}

pkg_overlay() {
	local base=$1 d=$PKG_WORK/$2
	PKG_ROOT=
	mkdir -p "$d/upper" "$d/work" "$d/root" || return 1
	mount -t overlay "aloop-pkg-$2" \
		-o "lowerdir=$base,upperdir=$d/upper,workdir=$d/work" "$d/root" || return 1
	PKG_ROOT=$d/root
}

# pkg_copy BASE NAME: a throwaway copy of BASE (cp -a) under $PKG_WORK,
# for a guest to boot from (virtme-ng shares it with virtiofsd/9p, which
# an overlayfs mount may not suit); prints its path.
# shellcheck disable=SC2034 # PKG_ROOT: the callers'
pkg_copy() {
	local d=$PKG_WORK/$2
	PKG_ROOT=
	mkdir -p "$d" && cp -a --reflink=auto "$1" "$d/root" && PKG_ROOT=$d/root
}

pkg_apt_setup() {
	local r=$1 suite=$2
	if [ "$suite" = bookworm ]; then
		pkg_mirror || return 1
		{
			echo "deb $MIRROR $suite main"
			echo "deb $MIRROR $suite-updates main"
			echo "deb $MIRROR $suite-backports main"
			[ -z "$SECURITY" ] || echo "deb $SECURITY $suite-security main"
		} >"$r/etc/apt/sources.list"
	fi	# the trixie root has the host's mirror already
	cat >"$r/etc/apt/apt.conf.d/90aloop-pkg" <<'EOF'
Dpkg::Use-Pty "false";
APT::Install-Suggests "false";
EOF
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod 755 "$r/usr/sbin/policy-rc.d"
	# No initramfs for kernels installed here: the chroot never boots
	# them (the guest test boots with virtme-ng, which needs none), and
	# making one takes minutes on a busy host.
	local f
	for f in /usr/sbin/update-initramfs /usr/bin/dracut; do
		chr "$r" dpkg-divert --local --rename --divert "$f.aloop-pkg" --add "$f" >/dev/null &&
			ln -sf /bin/true "$r$f"
	done
}

# pkg_newest_612 ROOT: the newest Debian 6.12 kernel package apt can install
pkg_newest_612() {
	chr "$1" apt-cache pkgnames linux-image-6.12. 2>/dev/null |
		grep -E '^linux-image-6\.12\.[0-9]+(\+deb1[23])?-amd64$' | sort -V | tail -n 1
}

aloop_files() {
	local r=$1 d
	for d in usr etc lib var/lib/dkms; do
		[ -d "$r/$d" ] && [ ! -L "$r/$d" ] || continue
		(cd "$r" && find "$d" -name '*aloop*' ! -name 'snd-aloop*' 2>/dev/null)
	done | sort
}
