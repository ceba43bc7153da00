#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A debug kernel for aloop's tests: Debian's linux-source-6.12 (the
# bookworm 6.12 backport, built with the host's gcc-12) with virtme-ng's
# small guest config (`vng --kconfig`) plus KASAN (generic, inline),
# lockdep (PROVE_LOCKING), DEBUG_ATOMIC_SLEEP, DEBUG_LIST, debug objects
# for work and timers, hung-task (120 s) and soft-lockup detectors, fault
# injection (failslab, fail_page_alloc, fail_make_request, debugfs),
# blk-cgroup + throttling, memcg, dm (flakey, delay), loop, null_blk, brd,
# ext4, xfs, btrfs; no DWARF; release suffix -alodbg.
#
#   scripts/debug-kernel.sh            build once (~50 min at nice 19 on
#                                      2 cores), print the tree's path
#   scripts/debug-kernel.sh --print    print the tree's path if it is
#                                      built, else exit 1 (no root needed)
#   scripts/debug-kernel.sh --rebuild  configure and build again (make is
#                                      incremental; the source is kept)
#
# The tree is $ALOOP_DEBUG_KERNEL_CACHE/linux-source-6.12 (default
# /var/cache/aloop/debug-kernel/linux-source-6.12), a configured and
# built kernel tree that serves three ways:
#   boot it:      vng --run TREE --disable-kvm --user root -m 2G -p 2 ...
#                 (virtme-ng boots a build tree directly; its modules are
#                 prepared in TREE/.virtme_mods and appear in the guest
#                 as /lib/modules/$(uname -r), so modprobe works there)
#   build aloop:  make module KDIR=TREE   (or make -C TREE M=$PWD modules)
#   inspect it:   TREE/.config, TREE/include/config/kernel.release
#
# Cached: when TREE carries a complete build (TREE/.aloop-debug-kernel.stamp
# with the hash of this script's config recipe and of TREE/.config) it
# prints TREE at once and exits.  A build interrupted half-way resumes
# (make is incremental).  Installs what it needs with apt-get.  Progress
# on stderr; everything (apt, config, make) in
# /var/cache/aloop/debug-kernel/build.log.  Only TREE goes to stdout.
# Environment: ALOOP_DEBUG_KERNEL_CACHE=DIR, ALOOP_DEBUG_KERNEL_JOBS=N
# (default: the number of CPUs).
set -euo pipefail

CACHE=${ALOOP_DEBUG_KERNEL_CACHE:-/var/cache/aloop/debug-kernel}
SRCPKG=linux-source-6.12
TARBALL=/usr/src/$SRCPKG.tar.xz
TREE=$CACHE/$SRCPKG
STAMP=$TREE/.aloop-debug-kernel.stamp
CFGSTAMP=$TREE/.aloop-debug-kernel.config
SRCSTAMP=$TREE/.aloop-debug-kernel.source
LOG=$CACHE/build.log
JOBS=${ALOOP_DEBUG_KERNEL_JOBS:-$(nproc)}
LOCALVERSION=-alodbg
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

PKGS=("$SRCPKG" make gcc gcc-12 bc bison flex libelf-dev libssl-dev dwarves
      cpio kmod rsync xz-utils)

# Options on top of `vng --kconfig`, set with scripts/config, then checked
# after `make olddefconfig`: NAME=y, NAME=m, NAME=number or NAME=n.
# Dependencies the asked-for options need are listed too (DEBUG_KERNEL,
# DEBUG_OBJECTS, DEBUG_FS, MD), and what the guest suite relies on
# (virtio-blk disks, partition tables, 32-bit ioctl helpers, io_uring,
# bfq: the scheduler matrix of 77/78 and io.weight).
# loop is a module: the tests load it with parameters and unload it.
# Left out of x86_64_defconfig's what a guest never uses and KASAN makes
# slow to build (DRM with i915, KVM, sound).
OPTS=(
	DEBUG_KERNEL=y
	KASAN=y KASAN_GENERIC=y KASAN_INLINE=y KASAN_OUTLINE=n
	PROVE_LOCKING=y
	DEBUG_ATOMIC_SLEEP=y
	DEBUG_LIST=y
	DEBUG_OBJECTS=y DEBUG_OBJECTS_WORK=y DEBUG_OBJECTS_TIMERS=y
	DETECT_HUNG_TASK=y DEFAULT_HUNG_TASK_TIMEOUT=120
	SOFTLOCKUP_DETECTOR=y
	DEBUG_FS=y
	FAULT_INJECTION=y FAILSLAB=y FAIL_PAGE_ALLOC=y FAIL_MAKE_REQUEST=y
	FAULT_INJECTION_DEBUG_FS=y FAULT_INJECTION_STACKTRACE_FILTER=y
	FAULT_INJECTION_CONFIGFS=y
	CGROUPS=y MEMCG=y BLK_CGROUP=y BLK_DEV_THROTTLING=y
	IOSCHED_BFQ=y BFQ_GROUP_IOSCHED=y
	MD=y BLK_DEV_DM=y DM_FLAKEY=m DM_DELAY=m
	BLK_DEV_LOOP=m BLK_DEV_NULL_BLK=m BLK_DEV_NULL_BLK_FAULT_INJECTION=y
	BLK_DEV_RAM=m
	EXT4_FS=y XFS_FS=y BTRFS_FS=y
	DEBUG_INFO_NONE=y DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=n
	DEBUG_INFO_DWARF4=n DEBUG_INFO_DWARF5=n
	MODULES=y MODULE_UNLOAD=y MODULE_SIG_FORCE=n BLOCK_LEGACY_AUTOLOAD=y
	IKCONFIG=y IKCONFIG_PROC=y
	LOCALVERSION_AUTO=n
	VIRTIO_BLK=y MSDOS_PARTITION=y EFI_PARTITION=y IA32_EMULATION=y
	IO_URING=y
	DRM=n KVM=n SOUND=n
)

say() { echo "debug-kernel: $*" >&2; [ ! -d "$CACHE" ] || echo "debug-kernel: $*" >>"$LOG"; }
die() { say "$*"; exit 1; }
usage() { sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-0}"; }

# Run a step with its output in the log; on failure show the log's tail.
run() {
	echo "+ $*" >>"$LOG"
	"$@" >>"$LOG" 2>&1 && return 0
	local rc=$?
	say "FAILED (exit $rc): $*"
	tail -n 40 "$LOG" | sed 's/^/debug-kernel: | /' >&2
	say "full log: $LOG"
	exit "$rc"
}

# What the config is made of: a change here means configure and build again.
recipe() {
	printf '%s\n' "vng --kconfig" "LOCALVERSION=$LOCALVERSION" "${OPTS[@]}" |
		sha256sum | cut -d' ' -f1
}
config_hash() { sha256sum "$TREE/.config" | cut -d' ' -f1; }

# True when TREE holds a complete build of the current recipe.
built() {
	[ -s "$STAMP" ] && [ -f "$TREE/.config" ] &&
		[ -f "$TREE/arch/x86/boot/bzImage" ] && [ -f "$TREE/Module.symvers" ] &&
		[ -f "$TREE/.virtme_mods/lib/modules/0.0.0/modules.dep" ] &&
		grep -qx "recipe $(recipe)" "$STAMP" &&
		grep -qx "config $(config_hash)" "$STAMP"
}

REBUILD=0
case ${1:-} in
'') ;;
--print) built && { echo "$TREE"; exit 0; }; exit 1 ;;
--rebuild) REBUILD=1 ;;
-h|--help) usage 0 ;;
*) echo "debug-kernel: unknown argument '$1'" >&2; usage 1 ;;
esac
[ $# -le 1 ] || usage 1

if [ $REBUILD = 0 ] && built; then
	echo "$TREE"
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "debug-kernel: must run as root" >&2; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -n 9 || { echo "debug-kernel: waiting for another build ($CACHE/lock)" >&2; flock 9; }
# Built by the run we waited for?
if [ $REBUILD = 0 ] && built; then
	echo "$TREE"
	exit 0
fi

[ ! -f "$LOG" ] || mv -f "$LOG" "$LOG.old"
: >"$LOG"
T0=$(date +%s)
elapsed() { local s=$(( $(date +%s) - T0 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
say "log: $LOG"
avail=$(df -Pk "$CACHE" | awk 'NR == 2 {print int($4 / 1048576)}')
[ "$avail" -ge 10 ] || die "only ${avail} GiB free under $CACHE (a build needs about 10)"

# 1. Packages.
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	apt_opts=(-o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
	run apt-get -o DPkg::Lock::Timeout=600 update -q
	run apt-get "${apt_opts[@]}" install "${missing[@]}"
fi
[ -f "$TARBALL" ] || die "$TARBALL is missing after installing $SRCPKG"
srcver=$(dpkg-query -W -f='${Version}' "$SRCPKG")
command -v vng >/dev/null 2>&1 || die "vng (virtme-ng) is not installed (scripts/setup-host.sh installs it)"
command -v virtme-prep-kdir-mods >/dev/null 2>&1 || die "virtme-prep-kdir-mods (virtme-ng) is missing"
say "source $SRCPKG $srcver; $(gcc --version | head -n 1); $(vng --version)"

# 2. Source: unpack once per source package version.
if [ ! -f "$TREE/Makefile" ] || [ "$(cat "$SRCSTAMP" 2>/dev/null)" != "$srcver" ]; then
	say "unpacking $TARBALL into $TREE"
	rm -rf "$TREE" "$CACHE/unpack.tmp"
	mkdir -p "$CACHE/unpack.tmp"
	run nice -n 19 tar -xaf "$TARBALL" -C "$CACHE/unpack.tmp"
	[ -f "$CACHE/unpack.tmp/$SRCPKG/Makefile" ] ||
		die "$TARBALL has no $SRCPKG/Makefile: $(ls "$CACHE/unpack.tmp")"
	mv "$CACHE/unpack.tmp/$SRCPKG" "$TREE"
	rmdir "$CACHE/unpack.tmp"
	echo "$srcver" >"$SRCSTAMP"
	say "unpacked ($(elapsed))"
fi
cd "$TREE"
rm -f "$STAMP"

# 3. Config: virtme-ng's, our options, olddefconfig, then check every one.
want=$(recipe)
if [ $REBUILD = 1 ] || [ ! -f .config ] ||
   [ "$(cat "$CFGSTAMP" 2>/dev/null)" != "$want $(config_hash)" ]; then
	say "configuring: vng --kconfig + ${#OPTS[@]} options"
	rm -f "$CFGSTAMP"
	run vng --kconfig
	sc=(--set-str LOCALVERSION "$LOCALVERSION")
	for o in "${OPTS[@]}"; do
		n=${o%%=*} v=${o#*=}
		case $v in
		y) sc+=(--enable "$n") ;;
		m) sc+=(--module "$n") ;;
		n) sc+=(--disable "$n") ;;
		*) sc+=(--set-val "$n" "$v") ;;
		esac
	done
	run scripts/config "${sc[@]}"
	run make olddefconfig
	bad=()
	for o in "${OPTS[@]}"; do
		n=${o%%=*} v=${o#*=}
		case $v in
		n) grep -q "^CONFIG_$n=" .config && bad+=("$n (wanted n, got $(grep "^CONFIG_$n=" .config))") ;;
		*) grep -qx "CONFIG_$n=$v" .config ||
			bad+=("$n (wanted $v, got $(grep -E "^(# )?CONFIG_${n}[= ]" .config || echo absent))") ;;
		esac
	done
	grep -qx "CONFIG_LOCALVERSION=\"$LOCALVERSION\"" .config ||
		bad+=("LOCALVERSION (wanted \"$LOCALVERSION\", got $(grep '^CONFIG_LOCALVERSION=' .config || echo absent))")
	if [ ${#bad[@]} -gt 0 ]; then
		say "config check FAILED: ${#bad[@]} option(s) did not stick after make olddefconfig:"
		printf 'debug-kernel:   %s\n' "${bad[@]}" | tee -a "$LOG" >&2
		exit 1
	fi
	echo "$want $(config_hash)" >"$CFGSTAMP"
	say "config check ok: all ${#OPTS[@]} options and LOCALVERSION as asked ($(elapsed))"
else
	say "config unchanged since the last run (recipe $want)"
fi

# 4. Build: kernel, modules, what external modules need, vng's module dir.
say "building: nice -n 19 make -j$JOBS bzImage modules (about 50 min on 2 cores)"
run nice -n 19 make -j"$JOBS" bzImage modules
release=$(cat include/config/kernel.release)
case $release in *"$LOCALVERSION") ;; *) die "kernel release '$release' lacks $LOCALVERSION" ;; esac
say "kernel and modules $release built ($(elapsed))"
run nice -n 19 make -j"$JOBS" modules_prepare
# Symlinks to the built .ko files + depmod in TREE/.virtme_mods, which
# `vng --run TREE` links to /lib/modules/$(uname -r) in the guest (vng
# would do it on first boot; done here so the tree is ready, read-only).
run virtme-prep-kdir-mods
[ -f .virtme_mods/lib/modules/0.0.0/modules.dep ] || die "virtme-prep-kdir-mods made no modules.dep"
for m in loop dm-flakey dm-delay null_blk brd; do
	grep -q "/$m\.ko:" .virtme_mods/lib/modules/0.0.0/modules.dep ||
		die "module $m.ko is not in .virtme_mods/lib/modules/0.0.0/modules.dep"
done

{
	echo "recipe $want"
	echo "config $(config_hash)"
	echo "release $release"
	echo "source $SRCPKG $srcver"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(elapsed)"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
say "done: $release in $TREE, built in $(elapsed)"
say "boot: vng --run $TREE --disable-kvm --user root ...; build aloop: make module KDIR=$TREE"
echo "$TREE"
