#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test: one version everywhere.  The VERSION file is the version;
# dkms.conf's PACKAGE_VERSION, debian/changelog's upstream version,
# `aloopctl --version` / `aloopctl version` and the MODULE_VERSION of
# every aloop.ko given (modinfo -F version) must all say the same.  dkms.conf must also name the module and the
# Makefile targets it and the README rely on must exist.
#
#   tests/dkms/test_version.sh [ALOOP_KO...]
#
# KTAP on stdout (tests/lib/ktap.sh), "# N passed, M failed" last; exit 1
# on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1

. tests/lib/ktap.sh
ktap_defer_plan
result() { ktap_result "$@"; }	# STATUS DESC [DIAG...]
eq() {	# DESC WANT GOT
	[ "$2" = "$3" ]
	result $? "$1" "expected: '$2'" "actual:   '$3'"
}

ver=$(cat VERSION 2>/dev/null)
[[ $ver =~ ^[0-9]+\.[0-9]+\.[0-9]+([~+.-][0-9A-Za-z.~+-]+)?$ ]]
result $? "VERSION holds a version ('$ver')"

# dkms.conf is sourced by dkms as shell: read it the same way.
conf=$(bash -c '
	kernelver=KVER; . ./dkms.conf || exit 1
	printf "%s\n" "$PACKAGE_NAME" "$PACKAGE_VERSION" "${BUILT_MODULE_NAME[0]}" \
		"${DEST_MODULE_LOCATION[0]}" "${MAKE[0]}" "${AUTOINSTALL:-}"' 2>&1)
rc=$?
result $rc "dkms.conf parses as shell" "$conf"
mapfile -t c <<<"$conf"
eq "dkms.conf PACKAGE_VERSION equals VERSION" "$ver" "${c[1]:-}"
eq "dkms.conf PACKAGE_NAME is aloop" aloop "${c[0]:-}"
eq "dkms.conf BUILT_MODULE_NAME[0] is aloop" aloop "${c[2]:-}"
case ${c[3]:-} in /updates*|/extra*) st=0 ;; *) st=1 ;; esac
result $st "dkms.conf DEST_MODULE_LOCATION[0] is under /updates or /extra ('${c[3]:-}')"
[[ ${c[4]:-} == *KVER=KVER* ]]
result $? "dkms.conf MAKE[0] builds for \${kernelver} ('${c[4]:-}')"
eq "dkms.conf AUTOINSTALL=yes (rebuilt for new kernels)" yes "${c[5]:-}"

# debian/changelog: the packages' version; its upstream part (no epoch,
# no Debian revision) is VERSION.
if [ -f debian/changelog ]; then
	dv=$(dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null) ||
		dv=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
	up=${dv#*:}
	up=${up%-*}
	eq "debian/changelog upstream version ('$dv') equals VERSION" "$ver" "$up"
else
	result 1 "debian/changelog upstream version equals VERSION" "no debian/changelog"
fi

missing=
for t in dkms-install dkms-uninstall dkms-src module deb; do
	grep -q "^$t:" Makefile || missing+=" $t"
done
[ -z "$missing" ]
result $? "Makefile has the targets dkms.conf and the README use" "missing:$missing"

if [ -x aloopctl/aloopctl ]; then
	eq "aloopctl --version reports VERSION" "aloopctl $ver" "$(aloopctl/aloopctl --version 2>&1)"
	eq "aloopctl version reports VERSION" "aloopctl $ver" "$(aloopctl/aloopctl version 2>&1)"
else
	result 1 "aloopctl --version reports VERSION" "aloopctl/aloopctl is not built (make aloopctl)"
	result 1 "aloopctl version reports VERSION" "aloopctl/aloopctl is not built (make aloopctl)"
fi

for ko in "$@"; do
	eq "$ko: MODULE_VERSION (modinfo -F version) equals VERSION" "$ver" \
		"$(modinfo -F version "$ko" 2>&1)"
done

ktap_finish
