#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# aloop-class: long
# aloop-desc: real machines: aloopctl doctor (not installed, loadable, loaded, other version, rebuilt, signed by a throwaway key), save/restore round trip, --dio require/prefer/off, tmpfs/ramfs warnings
# aloop-timeout: 600
# aloop-driver: aloop
# aloop-needs: aloopctl unloaded
# Issue 23 ("Real machines") in a booted guest, where the host tests only
# have fixture trees.  The file loads the module itself ("unloaded").
#
# The installed module.  aloopctl doctor looks for aloop.ko under
# /lib/modules/$(uname -r) and asks modprobe.  The guest's /lib/modules is
# the host's, seen through virtme-ng's overlay: the file mounts a view of
# its own on /lib/modules/KVER - one more overlay (upper layer on a tmpfs
# of its own), or where overlayfs refuses (stacking depth) a tmpfs with
# links to the real entries - unmounted at the end, and puts aloop.ko in
# updates/dkms/ there, as DKMS does.  depmod over the whole tree takes
# minutes under TCG (5000 xz-compressed modules), so the indexes
# (modules.dep.bin ...) there come from depmod run on a tree holding
# aloop.ko alone (and the kernel's lists of built-in modules): while the
# view is mounted modprobe knows aloop and nothing else.  Without a view
# (both mounts refused) the steps that install a module SKIP with the
# reason.
#  - neither installed nor loaded: doctor exits 1, "aloop is not usable",
#    built and loaded fail with the fix the facts call for (dkms status,
#    headers); --json says the same (every check, status, message, fix)
#  - installed, not loaded: exit 0, loaded says modprobe would load the
#    updates/dkms file; modprobe aloop then loads exactly that file
#  - loaded: exit 0, "aloop V is loaded", /dev/aloop-control with the
#    number of /sys/class/misc/aloop-control/dev, the block major of
#    /proc/devices; --json says the same
#  - other version: a copy of aloop.ko whose .modinfo says version V' (the
#    same length, patched) installed while V is loaded: version warns
#    "loaded V, installed V'" with a fix; the fix's commands, run as
#    printed, load V'; a copy whose srcversion differs (same version):
#    warns that it was rebuilt since it was loaded
#  - Secure Boot as far as a guest can (no key is enrolled): a copy signed
#    by the kernel headers' scripts/sign-file with a throwaway key:
#    modinfo names its signer and key (the certificate's serial); doctor,
#    with it installed, says what holds in this guest (Secure Boot,
#    lockdown, sig_enforce as read from the firmware and sysfs) and that
#    the module is signed by that key; the kernel agrees that nothing
#    enforces signatures: it loads the module, taints it E (not verified)
#    and has no such key.  SKIP without openssl or sign-file, and when
#    this guest enforces signatures or kmod cannot read them.
# save/restore: three devices (offset + sizelimit + dio off + an owner with
# a space; read-only at another offset of the same file; block size 4096 +
# partscan), save to a file (one line each, as expected), detach-all,
# restore the file: each device's attributes in sysfs and the checksum of
# its data as before; restore again: every line "already attached", no
# new device.
# --dio: require on ext4 attaches with dio 1; off gives dio 0, "turned off
# by user"; require on ramfs (no O_DIRECT on any kernel) fails, exit 1,
# one line with the kernel's reason, the device detached again, after
# attach's ramfs warning; require on tmpfs fails the same way before Linux
# 6.6 and attaches with dio 1 from 6.6 (tmpfs has O_DIRECT); prefer on
# tmpfs attaches with the tmpfs warning on stderr and in --json.
# JSON checks and the patched copies need python3 (SKIP without).
. "$(dirname "$0")/lib.sh"

plan 27

why=$(need_env) || bail "$why"
K=$(uname -r)
MODS=/lib/modules/$K
INST=$MODS/updates/dkms/aloop.ko
D=$(test_dir realmach)
V=$(modinfo -F version "$ALOOP_KO" 2>/dev/null)
[ -n "$V" ] || bail "modinfo -F version $ALOOP_KO: no version"
on_exit "aloopctl detach-all"
dut_unload_all

# doctor [ARGS]: aloopctl doctor; DOC (stdout), DOC_RC, DOC_ERR
doctor() {
	DOC=$(aloopctl doctor "$@" 2>"$D/doctor.err"); DOC_RC=$?
	DOC_ERR=$(cat "$D/doctor.err")
}
# dline NAME: doctor's line of check NAME
dline() { grep -E "^(ok|warn|fail) +$1 " <<<"$DOC"; }
# dhas NAME STATUS TEXT...: that line has STATUS and every TEXT
dhas() {
	local l t
	l=$(dline "$1") && [[ $l == "$2 "* ]] || return 1
	shift 2
	for t; do [[ $l == *"$t"* ]] || return 1; done
}
dgot() { printf 'exit %s\n%s\nstderr: %s' "$DOC_RC" "$DOC" "$DOC_ERR"; }
dlast() { tail -n 1 <<<"$DOC"; }

# doctor_json: `aloopctl doctor --json` now says what DOC says: the same
# exit status, usable as the status, every check's name, status, message
# and fix in the order of the text lines; prints what differs
doctor_json() {
	local jrc
	aloopctl doctor --json >"$D/doctor.json" 2>"$D/doctor.jerr"; jrc=$?
	printf '%s\n' "$DOC" >"$D/doctor.txt"
	"$PYTHON" - "$D/doctor.txt" "$D/doctor.json" "$DOC_RC" "$jrc" "$K" <<'EOF' 2>&1
import json
import sys
txt, js, rc, jrc, kver = sys.argv[1:]
lines = open(txt).read().splitlines()
try:
    j = json.load(open(js))
except ValueError as e:
    sys.exit("not JSON: %s\n%s" % (e, open(js).read()))
bad = []
if jrc != rc:
    bad.append("exit %s with --json, %s without" % (jrc, rc))
if j.get("usable") is not (rc == "0"):
    bad.append("usable: %r, exit %s" % (j.get("usable"), rc))
if j.get("kernel") != kver:
    bad.append("kernel: %r" % j.get("kernel"))
want = []
for c in j.get("checks") or []:
    w = "%-4s  %-11s  %s" % (c["status"], c["name"], c["message"])
    if c["fix"] is not None:
        w += "; fix: " + c["fix"]
    want.append(w)
if not want or want != lines[:-1]:
    bad.append("the checks differ from the text:")
    bad += ["json: " + w for w in want] + ["text: " + t for t in lines[:-1]]
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
}

# ko_patch SRC DST FIELD OLD NEW: DST is SRC with FIELD=OLD of .modinfo
# made FIELD=NEW (the same length: nothing else moves)
ko_patch() {
	"$PYTHON" - "$@" <<'EOF' 2>&1
import sys
src, dst, field, old, new = sys.argv[1:]
d = open(src, "rb").read()
o = ("\0%s=%s\0" % (field, old)).encode()
n = ("\0%s=%s\0" % (field, new)).encode()
if len(o) != len(n) or d.count(o) != 1:
    sys.exit("%s: %r %d times, or %r not of its length" % (src, o, d.count(o), n))
open(dst, "wb").write(d.replace(o, n))
EOF
}

# bound_to FILE [OFFSET]: the devices bound to FILE (at OFFSET)
bound_to() {
	local s n
	for s in /sys/block/aloop*/aloop/backing_file; do
		[ -r "$s" ] && [ "$(cat "$s")" = "$1" ] || continue
		n=${s%/aloop/backing_file}; n=${n##*/}
		[ -z "${2:-}" ] || [ "$(cat "/sys/block/$n/aloop/offset")" = "$2" ] || continue
		echo "/dev/$n"
	done
}
nbound() { local s c=0; for s in /sys/block/aloop*/aloop/backing_file; do [ -s "$s" ] && [ -n "$(cat "$s")" ] && c=$((c + 1)); done; echo $c; }

# ============================================ the installed module
# This file's own view of $MODS, where it may install and remove modules:
# an overlay (upper layer on a tmpfs), or where overlayfs refuses (the
# guest's /lib may be an overlay on an overlay already: the stacking
# limit is 2) a tmpfs on $MODS with links to the real entries (bound at
# $T/orig), copies of the indexes, and no updates/ (DKMS's place).
T=$(mkmnt realmach-mods)
PRIV='' priv_why=''
if [ ! -d "$MODS" ]; then
	priv_why="no $MODS in this guest"
elif ! out=$(mount -t tmpfs -o size=64M,mode=0700 aloop-realmach-tmp "$T" 2>&1); then
	priv_why="cannot mount a tmpfs on $T: $out"
else
	on_exit "umount -l $T"
	mkdir -p "$T/upper" "$T/work" "$T/orig"
	o="lowerdir=$MODS,upperdir=$T/upper,workdir=$T/work"
	if out=$(mount -t overlay -o "$o" aloop-realmach "$MODS" 2>&1) ||
	   out=$(mount -t overlay -o "xino=off,$o" aloop-realmach "$MODS" 2>&1); then
		PRIV=overlay
	elif o2=$(mount --bind "$MODS" "$T/orig" 2>&1 &&
		  mount -t tmpfs -o size=64M,mode=0755 aloop-realmach "$MODS" 2>&1); then
		PRIV=tmpfs
		for e in "$T/orig"/*; do
			n=${e##*/}
			case $n in
			updates) ;;
			modules.*) cp -a "$e" "$MODS/" ;;
			*) ln -s "$e" "$MODS/$n" ;;
			esac
		done
		diag "overlayfs refused ($out): $MODS is a tmpfs with links to the real entries"
	else
		priv_why="cannot mount an overlay on $MODS ($out) nor a tmpfs (${o2:-})"
	fi
fi
# priv_off: unmount this file's view of $MODS (only it: virtme-ng mounts
# there too) and the binding of the real one
priv_off() {
	if awk '$1 == "aloop-realmach" { f = 1 } END { exit !f }' /proc/mounts; then
		umount "$MODS" || umount -l "$MODS"
	fi
	! mountpoint -q "$T/orig" || umount "$T/orig" || umount -l "$T/orig"
}
on_exit priv_off
if [ -n "$PRIV" ]; then
	diag "$MODS: a private view ($PRIV) for the steps that install a module"
else
	diag "no private view of $MODS, the steps that install a module SKIP: $priv_why"
fi

# mkindex [KO]: depmod on a tree of KO alone (as updates/dkms/aloop.ko)
# and the kernel's lists of built-in modules, its indexes into $MODS (the
# private view; removed first: never written through a link); prints why not
mkindex() {
	local b=$T/depmod m f out
	m=$b/lib/modules/$K
	rm -rf "$b"
	mkdir -p "$m/updates/dkms" "$b/usr/lib" && ln -s ../../lib/modules "$b/usr/lib/modules" ||
		{ echo "cannot make $b"; return 1; }
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		[ ! -f "$MODS/$f" ] || cp "$MODS/$f" "$m/"
	done
	[ -z "${1:-}" ] || cp "$1" "$m/updates/dkms/aloop.ko" || { echo "cannot copy $1"; return 1; }
	out=$(depmod -b "$b" -a "$K" 2>&1) || { echo "depmod -b $b -a $K: $out"; return 1; }
	rm -f "$MODS"/modules.*
	out=$(cp "$m"/modules.* "$MODS/" 2>&1) || { echo "cannot install the indexes: $out"; return 1; }
}
# the aloop.ko files under $MODS (not in build/ or source/)
ko_files() { find -H "$MODS" \( -path "$MODS/build" -o -path "$MODS/source" \) -prune -o -name 'aloop.ko*' -print 2>/dev/null; }

# ------------------------------ neither installed nor loaded
A1="doctor, aloop neither installed nor loaded: exit 1, 'aloop is not usable on $K'"
A2="doctor, neither installed nor loaded: built and loaded fail, with the fix"
A3="doctor --json, neither installed nor loaded: the same verdicts"
# An aloop installed here (the DKMS stage's build, ALOOP_DKMS=1) is
# hidden in the private view: the file removed, indexes without it.
have_ko=$(ko_files)
a_why=
if [ -z "$PRIV" ]; then
	if [ -n "$have_ko" ]; then
		a_why="an aloop.ko is installed ($have_ko) and there is no private view to hide it in: $priv_why"
	elif modprobe -n aloop >/dev/null 2>&1; then
		a_why="modprobe knows an aloop ($(modprobe -n -v aloop 2>&1)) and there is no private view to hide it in: $priv_why"
	fi
else
	while read -r f; do [ -z "$f" ] || rm -f "$f"; done <<<"$have_ko"
	if modprobe -n aloop >/dev/null 2>&1; then
		was=$(modinfo -n aloop 2>&1)
		out=$(mkindex) || a_why="hiding the installed aloop: $out"
		[ -n "$a_why" ] || diag "the installed aloop ($was) hidden for this step"
	fi
fi
if [ -n "$a_why" ]; then
	skip_n 3 "$a_why" "$A1" "$A2" "$A3"
else
	doctor
	[ "$DOC_RC" = 1 ] && [[ $(dlast) == "aloop is not usable on $K ("* ]]
	result "$A1" $? "$(dgot)"

	# the fix check_built gives: dkms's version of aloop, the headers
	dv=$(dkms status aloop 2>/dev/null | sed -n 's#^aloop[/,] *\([^,:]*\).*#\1#p' | tail -n 1)
	hdr=; [ -e "$MODS/build/Makefile" ] && hdr=1
	if [ -n "$dv" ] && [ -n "$hdr" ]; then
		FIX="dkms install aloop/$dv -k $K"
	elif [ -n "$dv" ]; then
		FIX="apt-get install linux-headers-$K && dkms install aloop/$dv -k $K"
	elif [ -n "$hdr" ]; then
		FIX="apt-get install aloop-dkms"
	else
		FIX="apt-get install linux-headers-$K aloop-dkms"
	fi
	dhas built fail "no aloop.ko for $K under $MODS" &&
		[[ $(dline built) == *"; fix: $FIX" ]] &&
		dhas loaded fail "not loaded and not loadable: modprobe: FATAL: Module aloop not found" &&
		[[ $(dline loaded) == *"; fix: $FIX" ]] &&
		dhas control ok "/dev/aloop-control absent until the module is loaded"
	result "$A2: '$FIX'" $? "$(dgot)" "expected fix: $FIX"

	if have "$PYTHON"; then
		out=$(doctor_json); result "$A3" $? "$out"
	else
		skip "$A3" "no python3"
	fi
fi

# ------------------------------ installed, not loaded: loadable
B1="doctor, aloop installed in updates/dkms, not loaded: exit 0, loadable by modprobe"
B2="modprobe aloop loads the file doctor named"
out=
if [ -z "$PRIV" ]; then
	skip_n 2 "$priv_why" "$B1" "$B2"
elif ! mkdir -p "${INST%/*}" || ! cp "$ALOOP_KO" "$INST" || ! out=$(mkindex "$ALOOP_KO"); then
	fail "$B1" "installing $ALOOP_KO as $INST: ${out:-cp failed}"
	skip "$B2" "not installed"
else
	doctor
	[ "$DOC_RC" = 0 ] && [[ $(dlast) == "aloop is usable on $K ("* ]] &&
		dhas built ok "aloop $V for $K: $INST" &&
		dhas loaded ok "not loaded; loadable: modprobe -n -v aloop would load $INST" &&
		dhas version ok "installed $V, not loaded" &&
		! grep -q '^fail' <<<"$DOC"
	result "$B1" $? "$(dgot)"

	out=$(modprobe aloop 2>&1); rc=$?
	wait_chr /dev/aloop-control
	got="exit $rc${out:+ $out}; path $(modinfo -n aloop 2>&1); version $(cat /sys/module/aloop/version 2>&1)"
	got+="; srcversion $(cat /sys/module/aloop/srcversion 2>&1)"
	check_eq "$B2" "exit 0; path $INST; version $V; srcversion $(modinfo -F srcversion "$ALOOP_KO")" "$got"
fi

# ------------------------------------------------------ loaded
dut_loaded || { out=$(mod_load) || bail "insmod $ALOOP_KO: $out"; }
doctor
[ "$DOC_RC" = 0 ] && [[ $(dlast) == "aloop is usable on $K ("* ]] && ! grep -q '^fail' <<<"$DOC" &&
	dhas loaded ok "aloop $V is loaded"
result "doctor, aloop loaded: exit 0, 'aloop $V is loaded', no failed check, 'aloop is usable'" $? "$(dgot)"

num=$(cat /sys/class/misc/aloop-control/dev 2>&1)
ftype=$(stat -c %F /dev/aloop-control 2>&1)
nnum=$(stat -c '%t %T' /dev/aloop-control 2>/dev/null | { read -r a b && echo "$((16#$a)):$((16#$b))"; })
[ "$nnum" = "$num" ] && [ "$ftype" = "character special file" ] &&
	dhas control ok "/dev/aloop-control: character device $num"
result "doctor, loaded: control names /dev/aloop-control, char $num as the node and sysfs" $? \
	"node: $ftype $nnum" "sysfs: $num" "$(dline control)"

maj=$(awk '/^Block devices:/ { b = 1; next } /^$/ { b = 0 } b && $2 == "aloop" { print $1 }' /proc/devices)
[ -n "$maj" ] && dhas major ok "block major $maj "
result "doctor, loaded: major is /proc/devices' aloop block major (${maj:-none})" $? \
	"$(sed -n '/^Block/,$p' /proc/devices)" "$(dline major)"

if have "$PYTHON"; then
	out=$(doctor_json); result "doctor --json, loaded: the same verdicts" $? "$out"
else
	skip "doctor --json, loaded: the same verdicts" "no python3"
fi

# ----------------------------------------------- other version
V2=${V%?}; if [ "${V: -1}" = 9 ]; then V2+=8; else V2+=9; fi
D1="doctor, installed $V2 while $V is loaded: version warns with the fix, still usable"
D2="the fix's commands, as doctor prints them, load $V2: version ok"
D3="doctor, installed $V2 rebuilt (srcversion differs) while loaded: version warns"
if [ -z "$PRIV" ]; then
	skip_n 3 "$priv_why" "$D1" "$D2" "$D3"
elif ! have "$PYTHON"; then
	skip_n 3 "no python3 to patch a copy of aloop.ko" "$D1" "$D2" "$D3"
elif ! modinfo -n aloop >/dev/null 2>&1 || ! out=$(ko_patch "$ALOOP_KO" "$D/v2.ko" version "$V" "$V2"); then
	fail "$D1" "modinfo -n aloop: $(modinfo -n aloop 2>&1)" "${out:-}"
	skip_n 2 "no other version" "$D2" "$D3"
else
	# aloop was loaded by modprobe from $INST (the step before)
	cp "$D/v2.ko" "$INST"
	doctor
	fix=$(dline version); fix=${fix#*; fix: }
	[ "$DOC_RC" = 0 ] && [[ $(dlast) == "aloop is usable on $K ("* ]] &&
		dhas version warn "loaded $V, installed $V2: the new module is used after a reload or reboot" &&
		[ "$fix" = "aloopctl detach-all && modprobe -r aloop && modprobe aloop (or reboot)" ]
	result "$D1" $? "$(dgot)"

	out=$(bash -c "${fix% (or reboot)}" 2>&1); rc=$?
	wait_chr /dev/aloop-control
	lv=$(cat /sys/module/aloop/version 2>&1)
	doctor
	[ "$rc" = 0 ] && [ "$lv" = "$V2" ] && dhas version ok "loaded $V2, installed $V2"
	result "$D2" $? "'${fix% (or reboot)}': exit $rc $out" "/sys/module/aloop/version: $lv" "$(dgot)"

	sv=$(modinfo -F srcversion "$D/v2.ko")
	sv2=$(tr 0-9A-F 1-9A-F0 <<<"${sv:0:1}")${sv:1}
	if out=$(ko_patch "$D/v2.ko" "$D/v2r.ko" srcversion "$sv" "$sv2"); then
		cp "$D/v2r.ko" "$INST"
		doctor
		[ "$DOC_RC" = 0 ] &&
			dhas version warn "loaded $V2, installed $V2 (rebuilt since it was loaded: srcversion differs)" \
				"fix: aloopctl detach-all && modprobe -r aloop && modprobe aloop"
		result "$D3" $? "$(dgot)"
	else
		fail "$D3" "$out"
	fi
fi
dut_unload_all

# --------------------------------- a module signed with a throwaway key
E1="sign-file signs a copy of aloop.ko: modinfo signer is the key's CN, sig_key its serial, sha256"
E2="doctor, the signed module installed: secure-boot, lockdown and signing-key say what holds here"
E3="the kernel agrees nothing enforces signatures: it loads the signed module, tainted E, without the key"
SIGNF=
for s in "$MODS/build/scripts/sign-file" "/usr/src/linux-headers-$K/scripts/sign-file" \
	 /usr/lib/linux-kbuild-*/scripts/sign-file; do
	[ -x "$s" ] && { SIGNF=$s; break; }
done
# what enforces module signatures in this guest (doctor's rules), or ""
SBVAR=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
if ! mountpoint -q /sys/kernel/security && mount -t securityfs securityfs /sys/kernel/security 2>/dev/null; then
	on_exit "umount /sys/kernel/security"
fi
LD=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/security/lockdown 2>/dev/null)
SE=$(cat /sys/module/module/parameters/sig_enforce 2>/dev/null)
SB='' enforcer='' want_sb=''
if [ -d /sys/firmware/efi ] && [ -r "$SBVAR" ]; then
	SB=$(od -An -tu1 -j4 -N1 "$SBVAR" | tr -d ' ')
	if [ "$SB" = 1 ]; then want_sb="Secure Boot is enabled"; else want_sb="Secure Boot is disabled"; fi
elif [ ! -d /sys/firmware/efi ]; then
	SB=0 want_sb="not booted with EFI: no Secure Boot"
fi
[ "$SB" != 1 ] || enforcer="Secure Boot"
[ -z "$LD" ] || [ "$LD" = none ] || enforcer+=" lockdown=$LD"
[ "$SE" != Y ] || enforcer+=" sig_enforce=Y"
diag "this guest: EFI $([ -d /sys/firmware/efi ] && echo yes || echo no), SecureBoot '${SB:-unknown}', lockdown '${LD:-no file}', sig_enforce '${SE:-no parameter}'"

if [ -z "$SIGNF" ]; then
	skip_n 3 "no scripts/sign-file for $K (linux-headers-$K)" "$E1" "$E2" "$E3"
elif ! have openssl; then
	skip_n 3 "openssl is not installed" "$E1" "$E2" "$E3"
elif kmod --version 2>/dev/null | grep -q -e '-LIBCRYPTO'; then
	skip_n 3 "kmod is built without libcrypto: modinfo cannot read a signature" "$E1" "$E2" "$E3"
elif [ -n "$enforcer" ]; then
	skip_n 3 "this guest enforces module signatures ($enforcer): the unsigned aloop.ko of the other tests could not load" \
		"$E1" "$E2" "$E3"
else
	CN="aloop 89-realmach throwaway key"
	out=$(openssl req -new -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$CN" \
		-keyout "$D/key.pem" -out "$D/cert.pem" 2>&1) || diag "openssl req: $out"
	serial=$(openssl x509 -in "$D/cert.pem" -noout -serial 2>&1)
	skid=$(openssl x509 -in "$D/cert.pem" -noout -ext subjectKeyIdentifier 2>/dev/null | sed -n 2p)
	hexid() { tr -d ' :\n' <<<"${1#serial=}" | tr a-f A-F | sed 's/^0*//'; }
	cp "$ALOOP_KO" "$D/signed.ko"
	out=$("$SIGNF" sha256 "$D/key.pem" "$D/cert.pem" "$D/signed.ko" 2>&1); rc=$?
	tailm=$(tail -c 28 "$D/signed.ko" | tr '\n' '|')
	got="exit $rc; signer $(modinfo -F signer "$D/signed.ko" 2>&1); sig_key $(hexid "$(modinfo -F sig_key "$D/signed.ko" 2>&1)")"
	got+="; $(modinfo -F sig_hashalgo "$D/signed.ko" 2>&1); $tailm"
	check_eq "$E1" "exit 0; signer $CN; sig_key $(hexid "$serial"); sha256; ~Module signature appended~|" "$got"
	[ "$rc" = 0 ] || diag "$SIGNF: $out"

	if [ -z "$PRIV" ]; then
		skip "$E2" "$priv_why"
	elif [ -z "$want_sb" ]; then
		skip "$E2" "EFI without a readable SecureBoot variable: cannot tell what doctor should say"
	else
		cp "$D/signed.ko" "$INST"
		doctor
		if [ -z "$LD" ]; then
			want_ld="no kernel lockdown (no /sys/kernel/security/lockdown)"
		else
			want_ld="kernel lockdown: none"
		fi
		dhas secure-boot ok "$want_sb" && dhas lockdown ok "$want_ld" &&
			dhas signing-key ok "signatures not enforced (no Secure Boot, no lockdown); module signed by \"$CN\"" &&
			[ "$DOC_RC" = 0 ]
		result "$E2" $? "$(dgot)" "expected: secure-boot '$want_sb', lockdown '$want_ld', signed by \"$CN\""
	fi

	dut_unload_all
	out=$(insmod "$D/signed.ko" 2>&1); rc=$?
	wait_chr /dev/aloop-control
	taint=$(cat /sys/module/aloop/taint 2>&1)
	inkeys=
	[ ! -r /proc/keys ] || inkeys=$(grep -i -e "$(hexid "$serial")" ${skid:+-e "$(hexid "$skid")"} /proc/keys 2>&1)
	if [ -z "$SE" ]; then
		taint_ok=1	# no CONFIG_MODULE_SIG: the kernel does not look
		diag "no module.sig_enforce: this kernel does not check signatures"
	else
		[[ $taint == *E* ]] && taint_ok=1 || taint_ok=
	fi
	[ "$rc" = 0 ] && [ -n "$taint_ok" ] && [ -z "$inkeys" ] &&
		[ "$(cat /sys/module/aloop/srcversion)" = "$(modinfo -F srcversion "$D/signed.ko")" ]
	result "$E3" $? "insmod: exit $rc $out" "taint: $taint" "the key in /proc/keys: ${inkeys:-no}"
	dut_unload_all
fi
priv_off

# ================================================ save / restore
out=$(mod_load) || bail "insmod $ALOOP_KO: $out"
I1=$D/one.img I2=$D/two.img
mkrand "$I1" $((32 * MiB))
mkrand "$I2" $((16 * MiB))
dd if=/dev/zero of="$I2" bs=4096 count=1 conv=notrunc status=none	# no partition table by chance
OWNER="realmach one"
d1=$(attach_dev --offset 1M --sizelimit 8M --dio=off --owner "$OWNER" "$I1") || bail "attach 1: $d1"
d2=$(attach_dev --offset 16M --read-only "$I1") || bail "attach 2: $d2"
d3=$(attach_dev --block-size 4096 --partscan "$I2") || bail "attach 3: $d3"

# attrs DEV: what restore must give back, from sysfs
attrs() {
	local n; n=$(devname "$1")
	printf 'file=%s offset=%s sizelimit=%s ro=%s lbs=%s dio=%s reason=%s partscan=%s autoclear=%s owner=%s size=%s' \
		"$(dut_attr "$1" backing_file)" "$(dut_attr "$1" offset)" "$(dut_attr "$1" sizelimit)" \
		"$(blk_attr "$1" ro)" "$(cat "/sys/block/$n/queue/logical_block_size")" "$(dut_attr "$1" dio)" \
		"$(dut_attr "$1" dio_reason)" "$(dut_attr "$1" partscan)" "$(dut_attr "$1" autoclear)" \
		"$(dut_attr "$1" owner)" "$(devsize "$1")"
}
# dioword DEV: the direct-io= of save's line
dioword() {
	if [ "$(dut_attr "$1" dio)" = 1 ]; then echo " direct-io=on"
	elif [ "$(dut_attr "$1" dio_reason)" = "turned off by user" ]; then echo " direct-io=off"
	fi
}
declare -A BEFORE=() KEYS=()
KEYS[$d1]="$I1@1048576" KEYS[$d2]="$I1@16777216" KEYS[$d3]="$I2@0"
for d in "$d1" "$d2" "$d3"; do
	BEFORE[${KEYS[$d]}]="$(attrs "$d") sha=$(sha_dev "$d")"
done
want_save=$(printf '%s\n' \
	"$I1 offset=1048576 sizelimit=8388608$(dioword "$d1") owner=realmach\\040one" \
	"$I1 offset=16777216 read-only$(dioword "$d2")" \
	"$I2 partscan$(dioword "$d3") block-size=4096" | sort)
aloopctl save >"$D/saved.conf" 2>"$D/save.err"; rc=$?
got_save=$(grep -v -e '^#' -e '^$' "$D/saved.conf" | sort)
[ "$rc" = 0 ] && [ "$got_save" = "$want_save" ] && [ ! -s "$D/save.err" ]
result "aloopctl save: exit 0, one line per device with its options" $? \
	"exit $rc, stderr: $(cat "$D/save.err")" "got:" "$got_save" "expected:" "$want_save"

aloopctl detach-all >/dev/null 2>&1
n0=$(nbound)
out=$(aloopctl restore "$D/saved.conf" 2>&1); rc=$?
[ "$n0" = 0 ] && [ "$rc" = 0 ] && [ "$(grep -c ': attached to /dev/aloop[0-9]*$' <<<"$out")" = 3 ] && [ "$(nbound)" = 3 ]
result "detach-all, then aloopctl restore FILE: exit 0, three devices attached" $? \
	"bound after detach-all: $n0" "exit $rc: $out" "bound now: $(nbound)"

for k in "$I1@1048576" "$I1@16777216" "$I2@0"; do
	dev=$(bound_to "${k%@*}" "${k##*@}")
	if [ "$(wc -w <<<"$dev")" != 1 ]; then
		fail "restored $k: its attributes and data as before" "devices bound there: '$dev'"
		continue
	fi
	check_eq "restored ${k##*/} ($dev): its attributes in sysfs and its data as before" \
		"${BEFORE[$k]}" "$(attrs "$dev") sha=$(sha_dev "$dev")"
done

alldevs() { local s; for s in /sys/block/aloop*; do [ -e "$s" ] && printf '%s ' "${s##*/}"; done; }
devs_before=$(alldevs)
map_before=$(for k in "$I1@1048576" "$I1@16777216" "$I2@0"; do echo "${k%@*}: already attached to $(bound_to "${k%@*}" "${k##*@}")"; done | sort)
out=$(aloopctl restore "$D/saved.conf" 2>&1); rc=$?
devs_after=$(alldevs)
[ "$rc" = 0 ] && [ "$(sort <<<"$out")" = "$map_before" ] && [ "$devs_after" = "$devs_before" ] && [ "$(nbound)" = 3 ]
result "aloopctl restore again: exit 0, each line 'already attached' to its device, no new device" $? \
	"exit $rc: $out" "expected:" "$map_before" "devices before: $devs_before" "after: $devs_after"
aloopctl detach-all >/dev/null 2>&1

# ========================================================= --dio
# attach_run ARGS...: aloopctl attach; AO, AE, AR
attach_run() { AO=$(aloopctl attach "$@" 2>"$D/attach.err"); AR=$?; AE=$(cat "$D/attach.err"); }
ran() { printf 'exit %s\nstdout: %s\nstderr: %s' "$AR" "$AO" "$AE"; }

DIOIMG=$D/dio.img
mkrand "$DIOIMG" $((8 * MiB))
attach_run --dio=require "$DIOIMG"
[ "$AR" = 0 ] && [ -z "$AE" ] && [[ $AO =~ ^/dev/aloop[0-9]+$ ]] &&
	[ "$(dut_attr "$AO" dio):$(dut_attr "$AO" dio_reason)" = "1:" ]
result "--dio=require on ext4: attached, dio 1 in sysfs" $? "$(ran)" "dio $(dut_attr "$AO" dio), reason '$(dut_attr "$AO" dio_reason)'"
[[ $AO =~ ^/dev/aloop ]] && aloopctl detach "$AO"
attach_run --dio=off "$DIOIMG"
[ "$AR" = 0 ] && [ -z "$AE" ] && [[ $AO =~ ^/dev/aloop[0-9]+$ ]] &&
	[ "$(dut_attr "$AO" dio):$(dut_attr "$AO" dio_reason)" = "0:turned off by user" ]
result "--dio=off on ext4: dio 0, reason 'turned off by user'" $? "$(ran)" "dio $(dut_attr "$AO" dio), reason '$(dut_attr "$AO" dio_reason)'"
[[ $AO =~ ^/dev/aloop ]] && aloopctl detach "$AO"

# require_fails FILE FSNAME: exit 1, attach's warning, then one line
# with the kernel's reason, and nothing left bound to FILE
require_fails() {
	local w=$1
	attach_run --dio=require "$1"
	[ "$AR" = 1 ] && [ -z "$AO" ] && [ "$(grep -c '' <<<"$AE")" = 2 ] &&
		[[ $(head -n 1 <<<"$AE") == "aloopctl: warning: $w: on $2: "* ]] &&
		[[ $(tail -n 1 <<<"$AE") == "aloopctl: $w: direct I/O required but not possible: backing filesystem has no O_DIRECT (/dev/aloop"[0-9]*" detached again)" ]] &&
		[ -z "$(bound_to "$1")" ]
}
RAMFS=$(mkmnt realmach-ramfs)
TMPFS=$(mkmnt realmach-tmpfs)
if mount -t ramfs aloop-realmach-ramfs "$RAMFS"; then
	on_exit "aloopctl detach-all; umount $RAMFS"
	mkrand "$RAMFS/r.img" $((8 * MiB))
	require_fails "$RAMFS/r.img" ramfs
	result "--dio=require on ramfs: exit 1, the ramfs warning, then the reason 'backing filesystem has no O_DIRECT', detached again" $? \
		"$(ran)" "still bound: $(bound_to "$RAMFS/r.img")"
else
	fail "--dio=require on ramfs fails with the reason" "cannot mount ramfs on $RAMFS"
fi

mount -t tmpfs -o size=64M aloop-realmach-tmpfs "$TMPFS" || bail "cannot mount tmpfs on $TMPFS"
on_exit "aloopctl detach-all; umount $TMPFS"
F=$TMPFS/t.img
mkrand "$F" $((8 * MiB))
TW="aloopctl: warning: $F: on tmpfs: the image lives in RAM and swap, and tmpfs before Linux 6.6 has no O_DIRECT: buffered I/O, the data cached twice"
if kver_ge 6 6; then
	attach_run --dio=require "$F"
	[ "$AR" = 0 ] && [ "$AE" = "$TW" ] && [[ $AO =~ ^/dev/aloop[0-9]+$ ]] && [ "$(dut_attr "$AO" dio)" = 1 ]
	result "--dio=require on tmpfs (Linux 6.6+: O_DIRECT): attached with dio 1, the tmpfs warning" $? \
		"$(ran)" "dio $(dut_attr "$AO" dio), reason '$(dut_attr "$AO" dio_reason)'"
	[[ $AO =~ ^/dev/aloop ]] && aloopctl detach "$AO"
else
	require_fails "$F" tmpfs
	result "--dio=require on tmpfs (before Linux 6.6: no O_DIRECT): exit 1, the reason, detached again" $? \
		"$(ran)" "still bound: $(bound_to "$F")"
fi

attach_run --dio=prefer "$F"
[ "$AR" = 0 ] && [ "$AE" = "$TW" ] && [[ $AO =~ ^/dev/aloop[0-9]+$ ]] && [ "$(bound_to "$F")" = "$AO" ]
result "--dio=prefer on tmpfs: attached, the tmpfs warning (one line) on stderr" $? "$(ran)" "expected stderr: $TW"
[[ $AO =~ ^/dev/aloop ]] && aloopctl detach "$AO"

if have "$PYTHON"; then
	attach_run --json --dio=prefer "$F"
	printf '%s\n' "$AO" >"$D/attach.json"
	out=$("$PYTHON" - "$D/attach.json" "$F" "${TW#aloopctl: warning: }" 2>&1 <<'EOF'
import json
import os
import sys
js, back, warning = sys.argv[1:]
j = json.load(open(js))
n = j["device"].rsplit("/", 1)[-1]
dio = open("/sys/block/%s/aloop/dio" % n).read().strip() == "1"
assert j["back-file"] == back, j
assert j["warnings"] == [warning], j
assert j["dio"] is dio, (j, dio)
assert os.path.exists(j["device"]), j
print(n)
EOF
	)
	rc=$?
	[ "$AR" = 0 ] && [ "$rc" = 0 ] && [ "$AE" = "$TW" ]
	result "attach --json --dio=prefer on tmpfs: warnings holds the tmpfs warning, dio as in sysfs" $? "$(ran)" "$out"
	aloopctl detach-all >/dev/null 2>&1
else
	skip "attach --json --dio=prefer on tmpfs: the warning in warnings" "no python3"
fi

finish
