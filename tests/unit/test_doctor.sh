#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of `aloopctl doctor` against fixture trees: every verdict of
# every check, the exit status (0 only when aloop is usable) and --json.
#
# Each case builds a machine in a temp dir - sys/, proc/, dev/,
# lib/modules/KVER/, etc/, var/lib/dkms/ - and runs aloopctl with
# ALOOP_DOCTOR_ROOT pointing at it, ALOOP_DOCTOR_KVER=$KVER and a PATH
# that holds only fake dkms, modinfo, modprobe, mokutil (and dpkg-query).  A fake
# answers from answers/"CMD ARGS".{out,err,rc} (path arguments reduced
# to their base name); a question it has no answer for is exit 1 with
# "fake: no answer" on stderr.  /dev/aloop-control is a symlink to
# /dev/null (a character device without mknod, so no root needed).
#
# Output is KTAP (tests/lib/ktap.sh); the last line is "# N passed, M
# failed" and the exit status is 1 when anything failed.  ALOOPCTL=
# overrides the binary.

set -u
cd "$(dirname "$0")/../.." || exit 1
ALOOPCTL=${ALOOPCTL:-aloopctl/aloopctl}
[[ $ALOOPCTL == /* ]] || ALOOPCTL=$PWD/$ALOOPCTL

. tests/lib/ktap.sh
ktap_defer_plan
tmp=$(mktemp -d /tmp/aloop-doctor.XXXXXX) || exit 1
ktap_on_exit "rm -rf '$tmp'"

KVER=6.1.0-99-amd64
SKID=1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D
MODDIR=lib/modules/$KVER/updates/dkms
SBVAR=sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
nullnum=$(stat -Lc '%t %T' /dev/null)
read -r nmaj nmin <<<"$nullnum"
NULLDEV=$((16#$nmaj)):$((16#$nmin))

if [ ! -x "$ALOOPCTL" ]; then
	ktap_fail "$ALOOPCTL not built (make aloopctl)"
	ktap_finish
fi

# answer "CMD ARGS" OUT [RC [ERR]]: what a fake says when asked that
answer() {
	printf '%s' "$2${2:+$'\n'}" >"$fx/answers/$1.out"
	echo "${3:-0}" >"$fx/answers/$1.rc"
	[ -z "${4:-}" ] || printf '%s\n' "$4" >"$fx/answers/$1.err"
}

# the fake commands: builtins only, so PATH needs nothing else
fake() {
	cat >"$fx/bin/$1" <<EOF
#!/bin/sh
key=\${0##*/}
for a; do key="\$key \${a##*/}"; done
f="$fx/answers/\$key"
if [ ! -f "\$f.rc" ]; then
	echo "fake: no answer for \$key" >&2
	exit 1
fi
[ ! -f "\$f.out" ] || while IFS= read -r l; do printf '%s\n' "\$l"; done <"\$f.out"
[ ! -f "\$f.err" ] || while IFS= read -r l; do printf '%s\n' "\$l" >&2; done <"\$f.err"
read -r rc <"\$f.rc"
exit "\$rc"
EOF
	chmod +x "$fx/bin/$1"
}

# sb 0|1: the SecureBoot EFI variable (4 bytes of attributes, the value)
sb() {
	mkdir -p "$fx/${SBVAR%/*}"
	if [ "$1" = 1 ]; then
		printf '\x06\x00\x00\x00\x01'
	else
		printf '\x06\x00\x00\x00\x00'
	fi >"$fx/$SBVAR"
}

# modinfo_of VERSION SRCVERSION SIGNER SIG_KEY: the module file's fields
modinfo_of() {
	answer "modinfo -F version aloop.ko.xz" "$1"
	answer "modinfo -F srcversion aloop.ko.xz" "$2"
	answer "modinfo -F signer aloop.ko.xz" "$3"
	answer "modinfo -F sig_key aloop.ko.xz" "$4"
}

# A machine where all is well: aloop 0.1.0 built by DKMS for $KVER,
# loaded, signed by the DKMS key, Secure Boot off, no lockdown, the
# control device and the udev rule in place.
n=0
good() {
	n=$((n + 1))
	fx=$tmp/m$n
	mkdir -p "$fx/bin" "$fx/answers" "$fx/$MODDIR" "$fx/lib/modules/$KVER/build" \
		"$fx/sys/module/aloop" "$fx/sys/class/misc/aloop-control" \
		"$fx/sys/kernel/security" "$fx/proc" "$fx/dev" "$fx/etc/modprobe.d" \
		"$fx/lib/udev/rules.d" "$fx/var/lib/dkms"
	for c in dkms modinfo modprobe mokutil; do fake $c; done
	: >"$fx/$MODDIR/aloop.ko.xz"
	touch "$fx/lib/modules/$KVER/build/Makefile"
	answer "dkms status aloop" "aloop/0.1.0, $KVER, x86_64: installed"
	modinfo_of 0.1.0 0123456789ABCDEF0123456 "DKMS module signing key" "$SKID"
	answer "modprobe -n -v -S $KVER aloop" "insmod /$MODDIR/aloop.ko.xz "
	echo 0.1.0 >"$fx/sys/module/aloop/version"
	echo 0123456789ABCDEF0123456 >"$fx/sys/module/aloop/srcversion"
	echo "$NULLDEV" >"$fx/sys/class/misc/aloop-control/dev"
	ln -s /dev/null "$fx/dev/aloop-control"
	sb 0
	echo "[none] integrity confidentiality" >"$fx/sys/kernel/security/lockdown"
	echo "BOOT_IMAGE=/boot/vmlinuz-$KVER root=/dev/sda1 ro quiet" >"$fx/proc/cmdline"
	printf 'Character devices:\n  1 mem\n 10 misc\n\nBlock devices:\n  7 loop\n  8 sd\n252 aloop\n259 blkext\n' \
		>"$fx/proc/devices"
	: >"$fx/proc/keys"
	cp udev/60-aloop.rules "$fx/lib/udev/rules.d/"
	echo "fake DER" >"$fx/var/lib/dkms/mok.pub"
	answer "mokutil --list-enrolled" "[key 1]
SHA1 Fingerprint: 00:11:22
Certificate:
    Data:
        Serial Number:
            0f:0e:0d
        X509v3 extensions:
            X509v3 Subject Key Identifier:
                AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD"
	answer "mokutil --list-new" "MokNew is empty" 1
}
not_loaded() {
	rm -rf "$fx/sys/module/aloop" "$fx/sys/class/misc/aloop-control" "$fx/dev/aloop-control"
	sed -i '/ aloop$/d' "$fx/proc/devices"
}

# doctor [ARGS]: run it on the current fixture; $out, $rc
doctor() {
	out=$(env -i PATH="$fx/bin" ALOOP_DOCTOR_ROOT="$fx" ALOOP_DOCTOR_KVER="$KVER" \
		"$ALOOPCTL" doctor "$@" 2>"$fx/stderr")
	rc=$?
}
# line NAME: the output line of check NAME
line() { grep -E "^(ok|warn|fail) +$1 " <<<"$out"; }
got() { printf 'exit %s\n%s\nstderr: %s\n' "$rc" "$out" "$(cat "$fx/stderr")"; }

# expect DESC RC NAME STATUS [TEXT...]: exit RC; the line of NAME says
# STATUS and holds every TEXT
expect() {
	local desc=$1 want_rc=$2 name=$3 st=$4 l t ok=0
	shift 4
	l=$(line "$name")
	[ "$rc" = "$want_rc" ] || ok=1
	[[ $l == "$st "* ]] || ok=1
	for t in "$@"; do
		[[ $l == *"$t"* ]] || ok=1
	done
	ktap_result $ok "$desc" "$(got)"
}

# ------------------------------------------------------------------
# all good

good
doctor
bad=$(grep -Ev '^ok ' <<<"$out" | grep -v '^aloop is usable')
[ "$rc" = 0 ] && [ -z "$bad" ] && [ ! -s "$fx/stderr" ] &&
	[ "$(grep -c '^ok ' <<<"$out")" = 11 ] &&
	[ "$(tail -n 1 <<<"$out")" = "aloop is usable on $KVER (0 failed, 0 warnings)" ]
ktap_result $? "all good: eleven ok lines, 'aloop is usable', exit 0" "$(got)"
expect "all good: built names the DKMS module file and its state" 0 built ok \
	"aloop 0.1.0 for $KVER: /$MODDIR/aloop.ko.xz" "(dkms: aloop/0.1.0 installed)"
expect "all good: loaded" 0 loaded ok "aloop 0.1.0 is loaded"
expect "all good: loaded 0.1.0, installed 0.1.0" 0 version ok "loaded 0.1.0, installed 0.1.0"
expect "all good: the control device and its number" 0 control ok \
	"/dev/aloop-control: character device $NULLDEV"
expect "all good: the udev rule" 0 udev-rule ok "/lib/udev/rules.d/60-aloop.rules"
expect "all good: the major number from /proc/devices" 0 major ok "block major 252"
expect "all good: not blocklisted" 0 blocklist ok "not blocklisted"
expect "all good: no lockdown" 0 lockdown ok "lockdown: none"

# dkms 2's format of dkms status
answer "dkms status aloop" "aloop, 0.1.0, $KVER, x86_64: installed"
doctor
expect "dkms 2 status format" 0 built ok "(dkms: aloop/0.1.0 installed)"

# ------------------------------------------------------------------
# the module: built, loaded, loadable

good
rm "$fx/$MODDIR/aloop.ko.xz"
not_loaded
answer "dkms status aloop" "aloop/0.1.0, 6.1.0-98-amd64, x86_64: installed"
answer "modprobe -n -v -S $KVER aloop" "" 1 "modprobe: FATAL: Module aloop not found in directory /lib/modules/$KVER"
doctor
expect "not built for the kernel: fail, dkms install for it" 1 built fail \
	"no aloop.ko for $KVER" "not built for $KVER" "fix: dkms install aloop/0.1.0 -k $KVER"
expect "not built: not loadable either, the same fix" 1 loaded fail \
	"not loadable: modprobe: FATAL: Module aloop not found" "fix: dkms install aloop/0.1.0 -k $KVER"
[[ $(tail -n 1 <<<"$out") == "aloop is not usable on $KVER ("* ]]
ktap_result $? "not built: 'aloop is not usable'" "$(got)"
rm -r "$fx/lib/modules/$KVER/build"
doctor
expect "not built, no headers: install the headers first" 1 built fail \
	"fix: apt-get install linux-headers-$KVER && dkms install aloop/0.1.0 -k $KVER"
answer "dkms status aloop" ""
doctor
expect "not built, unknown to dkms: install aloop-dkms" 1 built fail \
	"fix: apt-get install linux-headers-$KVER aloop-dkms"
rm "$fx/bin/dkms"
doctor
expect "no dkms at all: the same" 1 built fail "fix: apt-get install linux-headers-$KVER aloop-dkms"

good
mkdir -p "$fx/lib/modules/$KVER/extra"
mv "$fx/$MODDIR/aloop.ko.xz" "$fx/lib/modules/$KVER/extra/"
doctor
expect "a module file outside updates/dkms is found too" 0 built ok \
	"/lib/modules/$KVER/extra/aloop.ko.xz"

good
not_loaded
doctor
expect "not loaded but loadable: ok, exit 0" 0 loaded ok "not loaded; loadable" \
	"/$MODDIR/aloop.ko.xz"
expect "not loaded: the control device comes with the load" 0 control ok \
	"absent until the module is loaded"
expect "not loaded: no major yet" 0 major ok "no block major until the module is loaded"
expect "not loaded: version says installed only" 0 version ok "installed 0.1.0, not loaded"

answer "modprobe -n -v -S $KVER aloop" "" 1 "modprobe: FATAL: Module aloop not found in directory /lib/modules/$KVER"
doctor
expect "file there but not loadable (modules.dep): fail, depmod" 1 loaded fail \
	"not loaded and not loadable" "fix: depmod -a $KVER"
rm "$fx/bin/modprobe"
doctor
expect "no modprobe, module file there: warn, exit 0" 0 loaded warn "cannot ask modprobe"

# modprobe -n -v names the file of a stale modules.dep without opening it
good
not_loaded
mkdir -p "$fx/lib/modules/$KVER/extra"
mv "$fx/$MODDIR/aloop.ko.xz" "$fx/lib/modules/$KVER/extra/"
doctor
expect "modules.dep names a file that is gone, the module elsewhere: fail, depmod" 1 loaded fail \
	"modprobe's index (modules.dep) names /$MODDIR/aloop.ko.xz, which is not there" \
	"fix: depmod -a $KVER"
rm "$fx/lib/modules/$KVER/extra/aloop.ko.xz"
doctor
expect "modules.dep names a file that is gone, no module: fail, install it" 1 loaded fail \
	"which is not there" "fix: dkms install aloop/0.1.0 -k $KVER"

# ------------------------------------------------------------------
# Secure Boot and the signing key

good
not_loaded
sb 1
answer "mokutil --list-enrolled" "[key 1]
Certificate:
        X509v3 extensions:
            X509v3 Subject Key Identifier:
                ${SKID,,}"
doctor
expect "SB on: secure-boot says enabled" 0 secure-boot ok "Secure Boot is enabled"
expect "SB on + key enrolled: ok, exit 0" 0 signing-key ok "is enrolled" "$SKID"

answer "mokutil --list-enrolled" "[key 1]
            X509v3 Subject Key Identifier:
                AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD"
echo "1f0a3bc1 I------     1 perm 1f030000     0     0 asymmetri DKMS module signing key: ${SKID//:/} X509.rsa 9a3c11ff []" |
	tr 'A-F' 'a-f' >"$fx/proc/keys"
doctor
expect "SB on + key in the kernel's keyrings (/proc/keys): ok" 0 signing-key ok \
	"trusted by the running kernel"
: >"$fx/proc/keys"

doctor
expect "SB on + key not enrolled: fail, mokutil --import the DKMS key" 1 signing-key fail \
	"Secure Boot is on" "not enrolled" "Key was rejected by service" \
	"fix: mokutil --import /var/lib/dkms/mok.pub && reboot"
rm "$fx/var/lib/dkms/mok.pub"
doctor
expect "SB on + key not enrolled, no DKMS mok.pub: import the signer's certificate" 1 \
	signing-key fail "fix: mokutil --import <the certificate of \"DKMS module signing key\", DER> && reboot"
answer "mokutil --list-new" "[key 1]
            X509v3 Subject Key Identifier:
                $SKID"
doctor
expect "SB on + key queued for enrollment: reboot" 1 signing-key fail \
	"queued for enrollment" "fix: reboot"
rm "$fx/bin/mokutil"
doctor
expect "SB on, no mokutil: cannot tell, warn" 0 signing-key warn "no mokutil" \
	"fix: apt-get install mokutil"

# A module signed as DKMS signs it (sign-file without -k): its sig_key is
# the certificate's serial, while /proc/keys names the key by the
# certificate's subject key identifier.  A real certificate made the way
# dkms makes mok.pub, read by the real openssl.
D_SKID="SB on, DKMS-signed (sig_key = serial), its key in /proc/keys by subject key id"
if ! command -v openssl >/dev/null 2>&1; then
	ktap_skip_n 4 "no openssl" "$D_SKID, no mokutil: trusted" \
		"$D_SKID, not in mokutil --list-enrolled: trusted" "$D_SKID, PEM via framework.conf" \
		"SB on, another key's serial: not trusted"
else
	good
	not_loaded
	sb 1
	openssl req -new -x509 -nodes -days 1 -subj "/CN=DKMS module signing key" \
		-newkey rsa:2048 -keyout "$fx/mok.key" -outform DER -out "$fx/var/lib/dkms/mok.pub" \
		>/dev/null 2>&1
	ser=$(openssl x509 -inform DER -in "$fx/var/lib/dkms/mok.pub" -noout -serial)
	ser=$(sed 's/../&:/g; s/:$//' <<<"${ser#serial=}")	# as modinfo prints it
	cskid=$(openssl x509 -inform DER -in "$fx/var/lib/dkms/mok.pub" -noout -ext subjectKeyIdentifier |
		sed -n 2p | tr -d ' :' | tr 'A-F' 'a-f')
	ln -s "$(command -v openssl)" "$fx/bin/openssl"
	modinfo_of 0.1.0 0123456789ABCDEF0123456 "DKMS module signing key" "$ser"
	echo "2c3b1e0a I------     1 perm 1f030000     0     0 asymmetri DKMS module signing key: $cskid X509.rsa 5e8c0a77 []" \
		>"$fx/proc/keys"
	rm "$fx/bin/mokutil"
	doctor
	expect "$D_SKID, no mokutil: trusted (was: cannot tell)" 0 signing-key ok \
		"the module's key $ser (\"DKMS module signing key\") is trusted by the running kernel"
	fake mokutil
	answer "mokutil --list-enrolled" "[key 1]
SHA1 Fingerprint: 00:11:22
        X509v3 extensions:
            X509v3 Subject Key Identifier:
                AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD"
	answer "mokutil --list-new" "MokNew is empty" 1
	doctor
	expect "$D_SKID, not in mokutil --list-enrolled: trusted, exit 0 (was: not enrolled, exit 1)" 0 \
		signing-key ok "trusted by the running kernel"
	mkdir -p "$fx/etc/dkms/framework.conf.d"
	openssl x509 -inform DER -in "$fx/var/lib/dkms/mok.pub" -out "$fx/db.pem"
	rm "$fx/var/lib/dkms/mok.pub"
	printf '# sign with the db key\nmok_certificate="%s"\n' "/db.pem" >"$fx/etc/dkms/framework.conf.d/sb.conf"
	doctor
	expect "$D_SKID, PEM via framework.conf.d's mok_certificate: trusted" 0 signing-key ok \
		"trusted by the running kernel"
	modinfo_of 0.1.0 0123456789ABCDEF0123456 "DKMS module signing key" "0F:0E:0D"
	doctor
	expect "SB on, a module signed by another key (serial not the certificate's): not trusted" 1 \
		signing-key fail "not enrolled"
fi

good
not_loaded
sb 1
modinfo_of 0.1.0 0123456789ABCDEF0123456 "" ""
doctor
expect "SB on + unsigned module: fail, have dkms sign it" 1 signing-key fail \
	"is unsigned" "fix: dkms install --force aloop/0.1.0 -k $KVER && mokutil --import /var/lib/dkms/mok.pub && reboot"

good
rm "$fx/$SBVAR"
answer "mokutil --sb-state" "SecureBoot enabled"
doctor
expect "SB state from mokutil --sb-state when efivars has none" 0 secure-boot ok "Secure Boot is enabled"
expect "SB on, key not enrolled, module loaded: warn for the next load, usable" 0 \
	signing-key warn "not enrolled" "at the next load" "fix: mokutil --import"

good
doctor
expect "SB off (efivars): disabled" 0 secure-boot ok "Secure Boot is disabled"
expect "SB off: signatures not enforced" 0 signing-key ok "signatures not enforced" \
	"signed by \"DKMS module signing key\""
rm -r "$fx/sys/firmware"
rm "$fx/bin/mokutil"
doctor
expect "no EFI: no Secure Boot" 0 secure-boot ok "not booted with EFI"
mkdir -p "$fx/sys/firmware/efi"
doctor
expect "EFI, no SecureBoot variable, no mokutil: unknown, warn" 0 secure-boot warn "unknown"

# ------------------------------------------------------------------
# lockdown

good
not_loaded
echo "none [integrity] confidentiality" >"$fx/sys/kernel/security/lockdown"
doctor
expect "lockdown integrity + key not enrolled: warn, signing-key fails" 1 lockdown warn \
	"kernel lockdown: integrity" "fix: mokutil --import /var/lib/dkms/mok.pub && reboot"
expect "lockdown integrity enforces signatures" 1 signing-key fail "lockdown is on"
answer "mokutil --list-enrolled" "            X509v3 Subject Key Identifier:
                $SKID"
doctor
expect "lockdown integrity + key enrolled: ok" 0 lockdown ok "kernel lockdown: integrity"
echo "none integrity [confidentiality]" >"$fx/sys/kernel/security/lockdown"
doctor
expect "lockdown confidentiality + key enrolled: ok, says confidentiality" 0 lockdown ok \
	"kernel lockdown: confidentiality" "kprobes"
answer "mokutil --list-enrolled" ""
doctor
expect "lockdown confidentiality + key not enrolled: warn" 1 lockdown warn \
	"kernel lockdown: confidentiality"
rm "$fx/sys/kernel/security/lockdown"
doctor
expect "no lockdown file: ok" 0 lockdown ok "no kernel lockdown"

# ------------------------------------------------------------------
# blocklist

good
printf '# keep it off the boot\nblacklist aloop\n' >"$fx/etc/modprobe.d/aloop-off.conf"
doctor
expect "blacklist aloop in modprobe.d: warn with the line to delete, still usable" 0 \
	blocklist warn "/etc/modprobe.d/aloop-off.conf:2" "fix: sed -i '2d' /etc/modprobe.d/aloop-off.conf"
mkdir -p "$fx/lib/modprobe.d"
echo "blacklist aloop" >"$fx/lib/modprobe.d/aloop-off.conf"
rm "$fx/etc/modprobe.d/aloop-off.conf"
doctor
expect "blacklist in /lib/modprobe.d" 0 blocklist warn "/lib/modprobe.d/aloop-off.conf:1"
: >"$fx/etc/modprobe.d/aloop-off.conf"
doctor
expect "an /etc file of the same name hides it" 0 blocklist ok "not blocklisted"

good
not_loaded
echo "install aloop /bin/false" >"$fx/etc/modprobe.d/no-aloop.conf"
answer "modprobe -n -v -S $KVER aloop" "install /bin/false "
doctor
expect "install aloop /bin/false: fail" 1 blocklist fail \
	"install aloop /bin/false\" in /etc/modprobe.d/no-aloop.conf:1" \
	"fix: sed -i '1d' /etc/modprobe.d/no-aloop.conf"
expect "install aloop /bin/false: not loadable, the same fix" 1 loaded fail \
	"install /bin/false" "fix: sed -i '1d' /etc/modprobe.d/no-aloop.conf"

good
not_loaded
echo "BOOT_IMAGE=/vmlinuz ro module_blacklist=foo,aloop quiet" >"$fx/proc/cmdline"
doctor
expect "module_blacklist=aloop on the command line: fail" 1 blocklist fail \
	"module_blacklist=aloop" "GRUB_CMDLINE_LINUX"
echo "BOOT_IMAGE=/vmlinuz ro modprobe.blacklist=aloop" >"$fx/proc/cmdline"
doctor
expect "modprobe.blacklist=aloop on the command line: warn" 0 blocklist warn \
	"modprobe.blacklist=aloop"
echo "BOOT_IMAGE=/vmlinuz ro modprobe.blacklist=aloopx,xaloop" >"$fx/proc/cmdline"
doctor
expect "other modules' names are not aloop" 0 blocklist ok "not blocklisted"

# ------------------------------------------------------------------
# versions

good
modinfo_of 0.2.0 FEDCBA9876543210FEDCBA9 "DKMS module signing key" "$SKID"
doctor
expect "loaded version != installed: warn 'loaded X, installed Y', still usable" 0 \
	version warn "loaded 0.1.0, installed 0.2.0" \
	"fix: aloopctl detach-all && modprobe -r aloop && modprobe aloop"
modinfo_of 0.1.0 FEDCBA9876543210FEDCBA9 "DKMS module signing key" "$SKID"
doctor
expect "same version, rebuilt (srcversion differs): warn" 0 version warn \
	"loaded 0.1.0, installed 0.1.0" "srcversion differs"

# ------------------------------------------------------------------
# control device

good
rm "$fx/dev/aloop-control"
doctor
expect "control device missing, module loaded: fail, mknod with its number" 1 control fail \
	"missing though the module is loaded" \
	"fix: mknod -m 0660 /dev/aloop-control c ${NULLDEV/:/ } && chgrp disk /dev/aloop-control"
[[ $(tail -n 1 <<<"$out") == "aloop is not usable on $KVER (1 failed, 0 warnings)" ]]
ktap_result $? "control device missing: not usable" "$(got)"
echo junk >"$fx/dev/aloop-control"
doctor
expect "control device a regular file: fail" 1 control fail "not a character device" \
	"fix: rm /dev/aloop-control && mknod"
rm "$fx/dev/aloop-control"
ln -s /dev/zero "$fx/dev/aloop-control"
doctor
expect "control device of another number: stale, fail" 1 control fail "a stale node"

# ------------------------------------------------------------------
# udev rule

good
rm "$fx/lib/udev/rules.d/60-aloop.rules"
doctor
expect "udev rule missing: warn, still usable" 0 udev-rule warn \
	"no 60-aloop.rules" "fix: make install-user"
fake dpkg-query
answer "dpkg-query -W -f=\${Status} aloop-utils" "install ok installed"
doctor
expect "udev rule missing, aloop-utils installed: reinstall it" 0 udev-rule warn \
	"fix: apt-get install --reinstall aloop-utils"
mkdir -p "$fx/usr/lib/udev/rules.d"
cp udev/60-aloop.rules "$fx/usr/lib/udev/rules.d/"
mkdir -p "$fx/etc/udev/rules.d"
ln -s /dev/null "$fx/etc/udev/rules.d/60-aloop.rules"
doctor
expect "udev rule masked by /etc -> /dev/null: warn" 0 udev-rule warn "masks the udev rule" \
	"fix: rm /etc/udev/rules.d/60-aloop.rules"
rm "$fx/etc/udev/rules.d/60-aloop.rules"
doctor
expect "udev rule in /usr/lib/udev/rules.d" 0 udev-rule ok "/usr/lib/udev/rules.d/60-aloop.rules"

# ------------------------------------------------------------------
# drop-in mode (aloopctl compat, module parameter loop_compat)

COMPAT_CONF=etc/modprobe.d/aloop-loop-compat.conf
good
doctor
expect "mode: beside stock loop, drop-in mode off" 0 mode ok "beside stock loop" "aloopctl compat enable"
cp contrib/modprobe/aloop-loop-compat.conf "$fx/$COMPAT_CONF"
doctor
expect "mode: enabled, aloop loaded beside stock loop: warn, the reload as fix" 0 mode warn \
	"drop-in mode enabled (/$COMPAT_CONF), but aloop beside stock loop is loaded" \
	"fix: modprobe -r aloop && modprobe loop (or reboot)"
not_loaded
mkdir -p "$fx/sys/module/loop"
echo live >"$fx/sys/module/loop/initstate"
doctor
expect "mode: enabled, stock loop loaded: warn, reload loop" 0 mode warn "but stock loop is loaded" \
	"fix: modprobe -r loop && modprobe loop (or reboot)"
rm "$fx/sys/module/loop/initstate"
doctor
expect "mode: enabled, loop built into the kernel: warn, disable" 0 mode warn "this kernel has loop built in" \
	"fix: aloopctl compat disable"
rm -r "$fx/sys/module/loop"
doctor
expect "mode: enabled, nothing loaded: the next load of loop gives aloop" 0 mode ok \
	"the next load of loop loads aloop with loop_compat=1"
# loaded in drop-in mode: control and major under stock loop's names
good
mkdir -p "$fx/sys/module/aloop/parameters" "$fx/sys/class/misc/loop-control"
echo Y >"$fx/sys/module/aloop/parameters/loop_compat"
rm -r "$fx/sys/class/misc/aloop-control" "$fx/dev/aloop-control"
echo "$NULLDEV" >"$fx/sys/class/misc/loop-control/dev"
ln -s /dev/null "$fx/dev/loop-control"
sed -i '/ aloop$/d' "$fx/proc/devices"
doctor
expect "drop-in mode loaded, no file: mode ok, says the next load gives stock loop" 0 mode ok \
	"drop-in mode: aloop serves loop's users" "the next load of loop gives stock loop"
expect "drop-in mode: control is /dev/loop-control" 0 control ok "/dev/loop-control: character device $NULLDEV"
expect "drop-in mode: major is loop's 7" 0 major ok "block major 7, loop's (drop-in mode"
cp contrib/modprobe/aloop-loop-compat.conf "$fx/$COMPAT_CONF"
doctor
[ "$rc" = 0 ] && [ "$(grep -c '^ok ' <<<"$out")" = 11 ] && [[ $(line mode) != *"next load"* ]]
ktap_result $? "drop-in mode loaded and enabled: eleven ok lines" "$(got)"

# ------------------------------------------------------------------
# --json

json_check='
import json, sys
d = json.load(sys.stdin)
assert d["usable"] is (sys.argv[1] == "true"), d["usable"]
assert isinstance(d["kernel"], str)
c = d["checks"]
assert len(c) == 11, len(c)
for x in c:
	assert set(x) == {"name", "status", "message", "fix"}, x
	assert x["status"] in ("ok", "warn", "fail"), x
	assert x["fix"] is None or x["fix"], x
	assert (x["fix"] is None) == (x["status"] == "ok"), x
'
json_ok() { python3 -c "$json_check" "$1"; }	# usable as expected, 11 checks
if command -v python3 >/dev/null; then
	good
	doctor --json
	[ "$rc" = 0 ] && python3 -m json.tool <<<"$out" >/dev/null && json_ok true <<<"$out"
	ktap_result $? "--json, all good: valid (python3 -m json.tool), usable, 11 checks" "$(got)"
	not_loaded
	sb 1
	rm "$fx/lib/udev/rules.d/60-aloop.rules"
	printf 'blacklist aloop\n' >"$fx/etc/modprobe.d/a\"b.conf"
	doctor --json
	[ "$rc" = 1 ] && python3 -m json.tool <<<"$out" >/dev/null && json_ok false <<<"$out" &&
		python3 -c 'import json,sys; c={x["name"]: x for x in json.load(sys.stdin)["checks"]}
assert c["signing-key"]["fix"] == "mokutil --import /var/lib/dkms/mok.pub && reboot"
assert "a\"b.conf" in c["blocklist"]["message"]' <<<"$out"
	ktap_result $? "--json, SB key not enrolled: valid, not usable, exit 1, the fix, quotes escaped" "$(got)"
else
	ktap_skip_n 2 "no python3" "--json valid"
fi

# ------------------------------------------------------------------
# command line

good
doctor extra
[ "$rc" = 1 ] && grep -q "doctor: unexpected argument 'extra'" "$fx/stderr"
ktap_result $? "doctor takes no argument" "$(got)"
doctor --raw
[ "$rc" = 1 ] && grep -q -- "--raw: not valid with 'doctor'" "$fx/stderr"
ktap_result $? "doctor --raw: not valid" "$(got)"

ktap_finish
