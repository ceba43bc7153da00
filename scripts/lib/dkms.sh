# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh's DKMS stage, around one kernel's boot:
#
#   dkms_install K ROOT KDIR BDIR   before the boot: `make dkms-install
#       KVER=K` (chrooted in ROOT when set), one aloop.ko where DKMS puts
#       it; fills GUEST_ENV for tests/dkms/guest-dkms.sh.  Non-zero when
#       the stage cannot go on (reported).
#   dkms_remove K ROOT KDIR         after it: `make dkms-uninstall`, and
#       nothing of aloop left behind.
#
# It registers aloop/VERSION with the host's DKMS (or the root's) for the
# length of one boot: /tmp/aloop-dkms.lock (fd 8) serialises it between
# concurrent runs, and DKMS_PENDING ("ROOT|K") tells an interrupted run
# what to remove (dkms_cleanup).

# shellcheck disable=SC2034 # GUEST_ENV is for the caller
DKMS_LOCK=/tmp/aloop-dkms.lock
DKMS_PENDING=
VERSION=$(cat "$REPO/VERSION" 2>/dev/null)

dkms_cleanup() {
	[ -n "$DKMS_PENDING" ] || return 0
	echo "check: removing aloop from DKMS after an interruption" >&2
	on "${DKMS_PENDING%%|*}" make -C "$REPO" -s dkms-uninstall >/dev/null 2>&1
}

# GNU build ID of a module file, compressed or not.
buildid_of() {
	local f=$1 t
	t=$(mktemp /tmp/aloop-ko.XXXXXX) || return 1
	case $f in
	*.xz)  xz -dc "$f" ;;
	*.zst) zstd -qdc "$f" ;;
	*.gz)  gzip -dc "$f" ;;
	*)     cat "$f" ;;
	esac >"$t" 2>/dev/null
	readelf -n "$t" 2>/dev/null | awk '/Build ID:/ {print $3; exit}'
	rm -f "$t"
}

# aloop.ko* files under ROOT/lib/modules/KVER
installed_kos() { find "$1/lib/modules/$2" -name 'aloop.ko*' 2>/dev/null; }

# DKMS before the boot: install aloop for KVER (in ROOT when set) and
# fill GUEST_ENV for tests/dkms/guest-dkms.sh.  Returns non-zero when
# the stage cannot go on (reported).
dkms_install() {
	local k=$1 root=$2 kdir=$3 bdir=$4 kos ko
	exec 8>"$DKMS_LOCK"
	say "[$k] waiting for the DKMS lock $DKMS_LOCK"
	flock 8
	DKMS_PENDING="$root|$k"
	# Leftovers of an interrupted run (ours: we own aloop/VERSION here).
	if on "$root" dkms status aloop 2>/dev/null | grep -q .; then
		pr "$k" "# note: aloop was registered with DKMS before this run ($(on "$root" dkms status aloop 2>&1 | tr '\n' ' ')); removing it"
		on "$root" make -C "$REPO" -s dkms-uninstall >"$kdir/dkms-preclean.log" 2>&1
	fi
	kos=$(installed_kos "$root" "$k")
	if [ -z "$kos" ]; then
		res "$k" pass "no aloop.ko installed for $k before the DKMS stage"
	else
		res "$k" fail "no aloop.ko installed for $k before the DKMS stage" \
			"found (would shadow or be shadowed by the DKMS module):" "$kos"
	fi
	if on "$root" make -C "$REPO" dkms-install KVER="$k" >"$kdir/dkms-install.log" 2>&1; then
		res "$k" pass "make dkms-install KVER=$k${root:+ (chrooted in $root)}"
	else
		res "$k" fail "make dkms-install KVER=$k${root:+ (chrooted in $root)}" "$(tail_of "$kdir/dkms-install.log" 25)"
		return 1
	fi
	kos=$(installed_kos "$root" "$k")
	ko=$(grep '/updates/dkms/' <<<"$kos" | head -n 1)
	if [ -n "$ko" ] && [ "$(wc -l <<<"$kos")" = 1 ]; then
		res "$k" pass "dkms installed ${ko#"$root"}"
	else
		res "$k" fail "dkms installed one aloop.ko under /lib/modules/$k/updates/dkms" "found: ${kos:-nothing}" \
			"$(on "$root" dkms status aloop 2>&1)"
		[ -n "$ko" ] || return 1
	fi
	GUEST_ENV=(ALOOP_DKMS=1 "ALOOP_DKMS_KO=${ko#"$root"}" "ALOOP_DKMS_BUILDID=$(buildid_of "$ko")"
		   "ALOOP_BUILD_BUILDID=$(buildid_of "$bdir/aloop.ko")" "ALOOP_VERSION_WANT=$VERSION")
	return 0
}

# DKMS after the boot: remove it and check nothing is left.
dkms_remove() {
	local k=$1 root=$2 kdir=$3 left st
	if on "$root" make -C "$REPO" dkms-uninstall >"$kdir/dkms-uninstall.log" 2>&1; then
		res "$k" pass "make dkms-uninstall (dkms remove aloop/$VERSION --all)"
	else
		res "$k" fail "make dkms-uninstall (dkms remove aloop/$VERSION --all)" "$(tail_of "$kdir/dkms-uninstall.log" 25)"
	fi
	left=$(installed_kos "$root" "$k"
	       grep -lE '(^|/)aloop\.ko' "$root/lib/modules/$k"/modules.dep 2>/dev/null
	       [ ! -e "$root/usr/src/aloop-$VERSION" ] || echo "$root/usr/src/aloop-$VERSION"
	       [ ! -e "$root/var/lib/dkms/aloop" ] || echo "$root/var/lib/dkms/aloop")
	st=$(on "$root" dkms status aloop 2>&1)
	if [ -z "$left" ] && [ -z "$st" ]; then
		res "$k" pass "nothing of aloop left in ${root}/lib/modules/$k, /usr/src, /var/lib/dkms after dkms remove"
	else
		res "$k" fail "nothing of aloop left after dkms remove" "left: $left" "dkms status: $st"
	fi
	DKMS_PENDING=
	flock -u 8
	exec 8>&-
}

