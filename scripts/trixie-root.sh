#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A Debian 13 (trixie) root with the trixie-backports kernel (7.x) and its
# headers, for testing aloop on a kernel that needs gcc-14 and a trixie
# userland.  scripts/check.sh builds the module in it (chroot) and boots
# its kernel with `vng --root ROOT`; scripts/durability.sh boots it too.
#
#   scripts/trixie-root.sh [ROOT]      (default $ALOOP_TRIXIE_ROOT or
#                                       /var/cache/aloop/trixie-root)
#
# Cached between runs: when ROOT has every package below it only checks
# (no network).  Otherwise it debootstraps ROOT (minbase) when missing and
# installs what is missing; the mirror is the host's (taken from
# /etc/apt/sources.list.d/debian.sources, as scripts/setup-host.sh does).
# ALOOP_ROOT_UPGRADE=1 also upgrades an existing root (newer backports
# kernel).  Prints the kernel releases with image + headers in ROOT, one
# per line, on stdout; exits non-zero (reason on stderr) when ROOT has no
# usable kernel.
set -euo pipefail

ROOT=${1:-${ALOOP_TRIXIE_ROOT:-/var/cache/aloop/trixie-root}}
SUITE=trixie
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# What the guest tests use (tests/guest/*.sh, lib.sh, tests/dkms/,
# tests/durability/): keep in step with scripts/setup-host.sh.
PKGS=(fio e2fsprogs xfsprogs util-linux util-linux-extra mount fdisk kmod
      make gcc gcc-multilib libc6-dev binutils python3 libsmartcols1 procps
      udev dkms busybox-static xz-utils zstd coreutils diffutils btrfs-progs
      stress-ng dmsetup openssl)
# from -backports, in step with the kernel: linux-perf for `make bench
# BENCH_PERF=1` (perf there is perf_<kernel series>)
KPKGS=(linux-image-amd64 linux-headers-amd64 linux-perf)

say() { echo "trixie-root: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9 || die "cannot lock $ROOT.lock"

# Kernel releases in ROOT with an image and a headers tree.
kernels() {
	local f k
	for f in "$ROOT"/boot/vmlinuz-*; do
		[ -f "$f" ] || continue
		k=${f##*/vmlinuz-}
		[ -e "$ROOT/lib/modules/$k/build/Makefile" ] && echo "$k"
	done | sort -V
}

missing_pkgs() {
	local p
	for p in "${KPKGS[@]}" "${PKGS[@]}"; do
		# shellcheck disable=SC2016 # dpkg-query's ${Status}, not the shell's
		chroot "$ROOT" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || echo "$p"
	done
}

# Run a command chrooted in ROOT with /proc, /sys and /dev mounted, in a
# private mount namespace (the mounts vanish with it).
in_root() {
	# shellcheck disable=SC2016 # the inner sh expands them
	unshare -m --propagation private -- /bin/sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc" && mount -t sysfs sys "$r/sys" &&
		mount --bind /dev "$r/dev" && mount --bind /dev/pts "$r/dev/pts" &&
		exec chroot "$r" "$@"' in_root "$ROOT" "$@"
}

have_root() { [ -x "$ROOT/usr/bin/apt-get" ] && [ -s "$ROOT/var/lib/dpkg/status" ]; }

if have_root && [ "${ALOOP_ROOT_UPGRADE:-0}" != 1 ] && [ -z "$(missing_pkgs)" ] &&
   [ -n "$(kernels)" ]; then
	kernels
	exit 0
fi

src=/etc/apt/sources.list.d/debian.sources
mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src" 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || die "cannot find the Debian mirror in $src"

if ! have_root; then
	command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (scripts/setup-host.sh installs it)"
	say "debootstrap $SUITE into $ROOT (mirror $mirror)"
	rm -rf "$ROOT.new"
	t0=$(date +%s)
	debootstrap --variant=minbase "$SUITE" "$ROOT.new" "$mirror" >&2 ||
		die "debootstrap $SUITE $ROOT.new $mirror failed"
	rm -rf "$ROOT"
	mv "$ROOT.new" "$ROOT"
	say "debootstrap took $(( $(date +%s) - t0 ))s"
fi

cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $mirror $SUITE-backports main
EOF
rm -f "$ROOT"/etc/apt/sources.list.d/*.list "$ROOT"/etc/apt/sources.list.d/*.sources
cat >"$ROOT/etc/apt/apt.conf.d/90aloop" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dpkg::Use-Pty "false";
EOF
# No daemons started by maintainer scripts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

t0=$(date +%s)
in_root apt-get update -qq >&2 || die "apt-get update in $ROOT failed"
if [ "${ALOOP_ROOT_UPGRADE:-0}" = 1 ]; then
	in_root apt-get -y -qq -t "$SUITE-backports" upgrade >&2 || say "WARNING: upgrade in $ROOT failed"
fi
say "installing ${KPKGS[*]} from $SUITE-backports"
in_root apt-get install -y -qq -t "$SUITE-backports" "${KPKGS[@]}" >&2 ||
	die "cannot install ${KPKGS[*]} from $SUITE-backports in $ROOT"
say "installing ${PKGS[*]}"
in_root apt-get install -y -qq "${PKGS[@]}" >&2 ||
	die "cannot install the guest tools in $ROOT"
in_root apt-get clean >&2 || true
say "package installation took $(( $(date +%s) - t0 ))s"

left=$(missing_pkgs | tr '\n' ' ')
[ -z "$left" ] || die "still missing in $ROOT: $left"
[ -n "$(kernels)" ] || die "no kernel with headers in $ROOT (in $ROOT/boot: $(cd "$ROOT/boot" && echo *))"
kernels
