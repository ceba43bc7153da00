#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test, as root: the Debian packages in a booted guest.  A
# throwaway copy of the trixie root (cp -a: the cached root itself is
# never written) gets `apt-get install ./aloop-dkms_*.deb
# ./aloop-utils_*.deb` (DKMS builds aloop for its 7.x kernel), then that
# kernel boots with it as / under virtme-ng (scripts/lib/vm.sh: one guest
# at a time, under /tmp/aloop-vm.lock) and runs tests/guest/88-deb.sh:
# aloopctl attach with the module not loaded loads the DKMS build by
# itself.  The guest's KTAP is a subtest; its kernel log is scanned
# (scripts/lib/kernel-log-patterns).
#
#   tests/pkg/test_guest.sh          (about 5 minutes under TCG, plus
#                                    the wait for the VM lock)
#
# The .debs: build/deb (ALOOP_DEB_DIR), made by `make deb` when missing.
# KTAP on stdout, "# N passed, M failed" last; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh
ktap_defer_plan
# shellcheck source=lib.sh
. tests/pkg/lib.sh

result() { ktap_result "$@"; }	# STATUS DESC [DIAG...]

[ "$(id -u)" = 0 ] || { ktap_skip "package guest test" "not root"; ktap_finish; }
if [ ! -x "$ALOOP_TRIXIE_ROOT/usr/bin/apt-get" ]; then
	ktap_skip "package guest test" "no trixie root at $ALOOP_TRIXIE_ROOT (make check makes it)"
	ktap_finish
fi
pkg_init || ktap_bail "cannot make a work directory"

pkg_debs
result $? "the .debs: $(basename "${DEB_DKMS:-aloop-dkms?}") $(basename "${DEB_UTILS:-aloop-utils?}")" \
	"$(tail_of "$PKG_WORK/make-deb.log" 25)"
[ -n "$DEB_DKMS" ] || ktap_bail "no .debs"

pkg_lock_dkms
pkg_copy "$ALOOP_TRIXIE_ROOT" guest || ktap_bail "cannot copy $ALOOP_TRIXIE_ROOT"
pkg_unlock_dkms
r=$PKG_ROOT
pkg_apt_setup "$r" trixie
k=$(find "$r/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[ -n "$k" ] && [ -e "$r/lib/modules/$k/build/Makefile" ]
result $? "trixie root kernel $k with headers" || ktap_finish

cp "$DEB_DKMS" "$DEB_UTILS" "$r/tmp/"
chr "$r" apt-get update -q >"$PKG_WORK/apt.log" 2>&1
chr "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	"/tmp/$(basename "$DEB_DKMS")" "/tmp/$(basename "$DEB_UTILS")" >>"$PKG_WORK/apt.log" 2>&1
result $? "apt-get install ./$(basename "$DEB_DKMS") ./$(basename "$DEB_UTILS") in the root" \
	"$(tail_of "$PKG_WORK/apt.log" 25)"
find "$r/lib/modules/$k/updates/dkms" -name 'aloop.ko*' 2>/dev/null | grep -q .
result $? "DKMS installed aloop for $k" "$(chr "$r" dkms status 2>&1)"

# Boot it: K_IMG/K_ROOT as scripts/lib/kernel.sh would set them.
# shellcheck disable=SC2034 # read by vm_boot (scripts/lib/vm.sh)
K_IMG=$r/boot/vmlinuz-$k K_ROOT=$r K_KDIR='' K_REL=$k
res=$PKG_WORK/results
mkdir -p "$res"
vm_boot --results "$res" --timeout 900 --log "$PKG_WORK/console.log" --quiet -- \
	/bin/bash -c "cd '$REPO' && tests/guest/88-deb.sh >'$VM_RESULTS/88-deb.ktap' 2>'$VM_RESULTS/88-deb.stderr'; echo \$? >'$VM_RESULTS/88-deb.rc'; dmesg >'$VM_RESULTS/dmesg.txt' 2>&1; sync"
st=$?
result "$st" "boot $k with the root as / (vng, waited ${VM_WAITED:-?}s for the VM lock, ${VM_SECONDS:-?}s)" \
	"$(tail_of "$PKG_WORK/console.log" 30)"

if [ -s "$res/88-deb.ktap" ]; then
	ktap_print "# Subtest: 88-deb"
	while IFS= read -r l; do
		ktap_print "    $l"
	done <"$res/88-deb.ktap"
	last=$(tail -n 1 "$res/88-deb.ktap")
	skips=$(grep -c '# SKIP' "$res/88-deb.ktap")
	[ "$(cat "$res/88-deb.rc" 2>/dev/null)" = 0 ] && [ "$skips" = 0 ] &&
		[[ $last =~ ^#\ [0-9]+\ passed,\ 0\ failed$ ]]
	result $? "tests/guest/88-deb.sh in the guest (${last#\# }, $skips skipped)" \
		"$(cat "$res/88-deb.stderr" 2>/dev/null)"
else
	ktap_fail "tests/guest/88-deb.sh in the guest" "no output; console:" "$(tail_of "$PKG_WORK/console.log" 30)"
fi
if [ -s "$res/dmesg.txt" ]; then
	klog_scan "$res/dmesg.txt"
	result $? "guest kernel log: no WARNING/BUG/Oops/lockdep/KASAN line" "$KLOG_REPORT"
fi
ktap_finish
