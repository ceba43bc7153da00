# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Building aloop.ko for the kernel of kernel_find / kernel_load:
#
#   module_build BDIR LOG [SRC]
#       copy the module's sources (of the tree SRC, default the repository:
#       bench's aloop-release mode builds an older commit's) into BDIR (build/<kver> for check and
#       demo, a private build/bench/<kver>/mod for bench) and build there
#       from scratch with W=1, so that every warning shows in LOG: on the
#       host, or chrooted in K_ROOT (the trixie root's gcc-14 for 7.x),
#       against K_KDIR when set.  BDIR's lock (build/.build-<name>.lock)
#       is held meanwhile: another make check or make demo may build the
#       same directory.  0 when BDIR/aloop.ko was built.
#   module_warnings LOG   the compiler's warnings in LOG (at most 20 lines)

module_build() {
	local bdir=$1 log=$2 src=${3:-$REPO} lock
	mkdir -p "$bdir" || return 1
	lock=$(dirname "$bdir")/.build-$(basename "$bdir").lock
	(
		flock 9
		cd "$src" &&
		rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
			--exclude='.*.cmd' --exclude='*.cmd' --exclude='*.symvers' --exclude='modules.order' \
			--exclude='aloop_probes.h' --exclude='*.d' --exclude='*.log' \
			src include Kbuild Makefile VERSION scripts "$bdir/" &&
		{ find "$bdir" -name '*.o' -delete; rm -f "$bdir/aloop.ko"; } &&
		on "$K_ROOT" make -C "$bdir" KVER="$K_REL" ${K_KDIR:+KDIR="$K_KDIR"} W=1 module
	) 9>"$lock" >"$log" 2>&1 && [ -f "$bdir/aloop.ko" ]
}

module_warnings() {
	grep -iE 'warning:' "$1" | grep -v -e 'Skipping BTF generation' -e 'the compiler differs' | head -n 20
}
