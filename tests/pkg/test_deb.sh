#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test: `make deb` builds aloop-dkms and aloop-utils, and they hold
# what they should (dpkg-deb -c / -f / -e):
#
#   aloop-dkms   Architecture all, depends on dkms; the DKMS tree under
#                /usr/src/aloop-VERSION (dkms.conf naming VERSION, Kbuild,
#                Makefile, the kernel code, the UAPI header, the probes)
#                and no build artifact (.o .ko .cmd .mod aloop_probes.h)
#                nor anything of the test harness; postinst/prerm that
#                call dkms (dh_dkms), then the postinst's upgrade note
#                (loaded module != installed one), which unloads nothing
#   aloop-utils  /usr/sbin/aloopctl (linked against libkmod), its man
#                page, bash completion, the udev rule,
#                aloop-restore.service, <linux/aloop.h>;
#                nothing under /usr/src or /lib/modules
#
# and lintian reports no error and no warning on them.
#
#   tests/pkg/test_deb.sh        (ALOOP_DEB_REBUILD=0: reuse build/deb)
#
# KTAP on stdout, "# N passed, M failed" last; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh
ktap_defer_plan
: "${ALOOP_DEB_REBUILD:=1}"
export ALOOP_DEB_REBUILD
# shellcheck source=lib.sh
. tests/pkg/lib.sh

result() { ktap_result "$@"; }	# STATUS DESC [DIAG...]

pkg_init || ktap_bail "cannot make a work directory"

t0=$(date +%s)
pkg_debs
result $? "make deb ($(( $(date +%s) - t0 ))s): $(basename "${DEB_DKMS:-?}") $(basename "${DEB_UTILS:-?}")" \
	"$(tail_of "$PKG_WORK/make-deb.log" 30)"
[ -n "$DEB_DKMS" ] && [ -n "$DEB_UTILS" ] || ktap_bail "no .debs in $ALOOP_DEB_DIR"

# contents DEB: the paths it holds, without the leading "."
contents() { dpkg-deb -c "$1" | awk '{ sub(/^\./, "", $6); print $6 }' | sed 's|/$||'; }
field() { dpkg-deb -f "$1" "$2"; }

# ------------------------------------------------------------ aloop-dkms
dk=$(contents "$DEB_DKMS")
src=/usr/src/aloop-$VERSION
result "$([ "$(field "$DEB_DKMS" Architecture)" = all ]; echo $?)" \
	"aloop-dkms: Architecture all" "$(field "$DEB_DKMS" Architecture)"
dep=$(field "$DEB_DKMS" Depends)
grep -q '\bdkms\b' <<<"$dep"
result $? "aloop-dkms: Depends on dkms" "Depends: $dep"

missing=
for f in dkms.conf Kbuild Makefile VERSION include/uapi/linux/aloop.h \
	 src/aloop_main.c src/aloop_dev.c src/aloop_io.c src/aloop_sysfs.c \
	 src/aloop.h src/aloop_compat.h scripts/probe.sh scripts/probes/min_kernel.c; do
	grep -qx "$src/$f" <<<"$dk" || missing+=" $f"
done
[ -z "$missing" ]
result $? "aloop-dkms: the DKMS tree under $src (dkms.conf, Kbuild, Makefile, VERSION, src/, the UAPI header, the probes)" \
	"missing:$missing"

bad=$(grep -E '\.(o|ko|ko\.xz|cmd|mod|mod\.c|symvers)$|/modules\.order$|aloop_probes\.h$' <<<"$dk")
[ -z "$bad" ]
result $? "aloop-dkms: no build artifacts (.o .ko .cmd .mod aloop_probes.h)" "$bad"
other=$(grep -v -e "^$src" -e '^/usr/share/doc/aloop-dkms' -e '^/usr/src$' \
	-e '^/usr/share/doc$' -e '^/usr/share$' -e '^/usr$' -e '^$' <<<"$dk")
[ -z "$other" ]
result $? "aloop-dkms: nothing outside $src but its docs" "$other"
harness=$(grep -E "^$src/(tests|bench|aloopctl|debian|scripts/(lib|check|setup-host|trixie-root))" <<<"$dk")
[ -z "$harness" ]
result $? "aloop-dkms: no test harness, tool or packaging in the DKMS tree" "$harness"

dpkg-deb -x "$DEB_DKMS" "$PKG_WORK/dkms" && dpkg-deb -e "$DEB_DKMS" "$PKG_WORK/dkms-ctl"
conf=$(bash -c 'kernelver=K; . "$1" && echo "$PACKAGE_NAME/$PACKAGE_VERSION"' _ \
	"$PKG_WORK/dkms$src/dkms.conf" 2>&1)
[ "$conf" = "aloop/$VERSION" ]
result $? "aloop-dkms: dkms.conf is aloop/$VERSION" "$conf"
cmp -s "$PKG_WORK/dkms$src/dkms.conf" dkms.conf
result $? "aloop-dkms: dkms.conf is the tree's"
grep -q 'common.postinst' "$PKG_WORK/dkms-ctl/postinst" 2>/dev/null &&
	grep -q "dkms remove -m \$DKMS_NAME -v \$DKMS_VERSION --all" "$PKG_WORK/dkms-ctl/prerm" 2>/dev/null
result $? "aloop-dkms: postinst builds through dkms, prerm removes every kernel's (dh_dkms)" \
	"$(cat "$PKG_WORK/dkms-ctl/postinst" "$PKG_WORK/dkms-ctl/prerm" 2>&1 | head -n 40)"
# the upgrade note (debian/aloop-dkms.postinst) after dh_dkms's part,
# so that it compares with the module just built; it never unloads
pi=$PKG_WORK/dkms-ctl/postinst
end=$(grep -n '^# End automatically added section' "$pi" 2>/dev/null | head -n 1 | cut -d: -f1)
note=$(grep -n '^	aloop_note || true' "$pi" 2>/dev/null | head -n 1 | cut -d: -f1)
sh -n "$pi" 2>/dev/null && [ -n "$end" ] && [ -n "$note" ] && [ "$note" -gt "$end" ] &&
	! grep -Eq '^[^#"]*\b(rmmod|modprobe +-r)\b' "$pi"
result $? "aloop-dkms: postinst parses, its upgrade note runs after dh_dkms's build and unloads nothing" \
	"sh -n: $(sh -n "$pi" 2>&1)" "end of dh_dkms's part: line ${end:-?}, the note: line ${note:-?}"

# ----------------------------------------------------------- aloop-utils
ut=$(contents "$DEB_UTILS")
arch=$(field "$DEB_UTILS" Architecture)
[ "$arch" = "$(dpkg --print-architecture)" ]
result $? "aloop-utils: Architecture $arch (built for this machine)"
missing=
for f in /usr/sbin/aloopctl /usr/share/man/man8/aloopctl.8.gz \
	 /usr/share/bash-completion/completions/aloopctl \
	 /lib/udev/rules.d/60-aloop.rules /usr/include/linux/aloop.h \
	 /lib/systemd/system/aloop-restore.service \
	 /usr/share/aloop/modprobe-compat.conf \
	 /usr/share/doc/aloop-utils/copyright; do
	grep -qx "$f" <<<"$ut" || missing+=" $f"
done
[ -z "$missing" ]
result $? "aloop-utils: aloopctl in /usr/sbin, man page, completion, udev rule, aloop-restore.service, header, drop-in mode's modprobe.d file (disabled)" "missing:$missing"
other=$(grep -E '^/usr/src|^/lib/modules|^/usr/lib/modules|^/usr/local|^/etc' <<<"$ut")
[ -z "$other" ]
result $? "aloop-utils: nothing under /usr/src, /lib/modules, /usr/local, /etc" "$other"
dpkg-deb -x "$DEB_UTILS" "$PKG_WORK/utils"
dep=$(field "$DEB_UTILS" Depends)
needed=$(objdump -p "$PKG_WORK/utils/usr/sbin/aloopctl" 2>&1 | awk '/NEEDED/ { print $2 }' | paste -sd ' ')
grep -q libkmod <<<"$dep" && grep -q libsmartcols <<<"$dep" && grep -q libkmod <<<"$needed"
result $? "aloop-utils: aloopctl links libkmod and libsmartcols, Depends has both" \
	"NEEDED: $needed" "Depends: $dep"
out=$("$PKG_WORK/utils/usr/sbin/aloopctl" --version 2>&1)
[ "$out" = "aloopctl $VERSION" ]
result $? "aloop-utils: its aloopctl --version is $VERSION" "$out"
cmp -s "$PKG_WORK/utils/lib/udev/rules.d/60-aloop.rules" udev/60-aloop.rules &&
	cmp -s "$PKG_WORK/utils/usr/include/linux/aloop.h" include/uapi/linux/aloop.h &&
	cmp -s "$PKG_WORK/utils/usr/share/aloop/modprobe-compat.conf" contrib/modprobe/aloop-loop-compat.conf
result $? "aloop-utils: udev rule, header and modprobe-compat.conf are the tree's"

# ---------------------------------------------------------------- lintian
if command -v lintian >/dev/null 2>&1; then
	changes=$(find "$ALOOP_DEB_DIR" -maxdepth 1 -name "aloop_${VERSION}_*.changes" | head -n 1)
	out=$(lintian --fail-on error,warning "${changes:-$DEB_DKMS}" 2>&1)
	st=$?
	tags=$(grep -E '^[EW]: ' <<<"$out")
	[ "$st" = 0 ] && [ -z "$tags" ]
	result $? "lintian $(basename "${changes:-$DEB_DKMS}"): no error, no warning" "$out"
else
	ktap_skip "lintian" "no lintian (scripts/setup-host.sh installs it)"
fi

ktap_finish
