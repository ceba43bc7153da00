#!/bin/bash
# Install what building and testing aloop needs on a Debian 12 host:
# QEMU, virtme-ng (from trixie, pinned to that one package), the Debian
# 6.1 kernel and the 6.12 kernel from bookworm-backports with headers,
# the userspace tools the guest tests use, shellcheck and pyflakes3
# for `make lint`, libkmod-dev for aloopctl, and debhelper, dh-dkms and
# lintian for `make deb`.  Idempotent; quiet when everything is already there.  The trixie root with the trixie-backports
# kernel (7.x) is scripts/trixie-root.sh's (run by scripts/check.sh).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "setup-host: must run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

src=/etc/apt/sources.list.d/debian.sources
mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src" 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "setup-host: cannot find the Debian mirror in $src" >&2; exit 1; }

changed=0
if [ ! -f /etc/apt/sources.list.d/aloop-extra.sources ]; then
	cat > /etc/apt/sources.list.d/aloop-extra.sources <<EOS
Types: deb
URIs: $mirror
Suites: bookworm-backports trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	changed=1
fi
if [ ! -f /etc/apt/preferences.d/aloop-trixie ]; then
	cat > /etc/apt/preferences.d/aloop-trixie <<'EOS'
# Only packages named explicitly (virtme-ng/trixie) come from trixie.
Package: *
Pin: release n=trixie
Pin-Priority: 100
EOS
	changed=1
fi

need=()
for p in qemu-system-x86 qemu-utils fio e2fsprogs xfsprogs util-linux \
	 libsmartcols-dev pkg-config make gcc bc kmod udev python3 \
	 linux-image-amd64 linux-headers-amd64 busybox-static fdisk \
	 dkms debootstrap rsync libc6-dev linux-libc-dev gnuplot-nox gcc-multilib \
	 binutils xz-utils btrfs-progs shellcheck pyflakes3 libkmod-dev \
	 dpkg-dev debhelper dh-dkms lintian stress-ng dmsetup openssl; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
have_vng=0; command -v vng >/dev/null 2>&1 && have_vng=1
have_612=0; ls /boot/vmlinuz-6.12.*+deb12-amd64 >/dev/null 2>&1 &&
	ls -d /usr/src/linux-headers-6.12.*+deb12-amd64 >/dev/null 2>&1 && have_612=1

if [ ${#need[@]} -eq 0 ] && [ $have_vng = 1 ] && [ $have_612 = 1 ] && [ $changed = 0 ]; then
	exit 0
fi

apt-get update -qq
[ ${#need[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${need[@]}"
[ $have_vng = 1 ] || apt-get install -y -qq --no-install-recommends virtme-ng/trixie
if [ $have_612 = 0 ]; then
	img=$(apt-cache pkgnames linux-image-6.12. | grep -E '^linux-image-6\.12\.[0-9.-]+\+deb12-amd64$' | sort -V | tail -n 1 || true)
	if [ -n "$img" ]; then
		hdr=${img/linux-image/linux-headers}
		apt-get install -y -qq --no-install-recommends "$img" "$hdr" ||
			echo "setup-host: WARNING: could not install $img (6.12 tests will SKIP)" >&2
	else
		echo "setup-host: WARNING: no 6.12 kernel in bookworm-backports (6.12 tests will SKIP)" >&2
	fi
fi
exit 0
