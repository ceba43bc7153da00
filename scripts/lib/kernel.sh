# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Finding a kernel to build for and boot:
#
#   kernel_find TOKEN     TOKEN is a release (6.1.0-56-amd64), a series
#                         (6.1, 6.12, 7.3: the newest with headers), "trixie"
#                         (the newest kernel of the trixie root) or "debug"
#                         (the tree printed by scripts/debug-kernel.sh
#                         --print).  Releases and series not on the host
#                         are looked for in the trixie root, prepared by
#                         scripts/trixie-root.sh on first use.  Sets
#                           K_REL   the release
#                           K_ROOT  the root to chroot into and boot with
#                                   vng --root ("" = the host's /)
#                           K_IMG   what vng --run boots (an image or a tree)
#                           K_KDIR  the build tree ("" = /lib/modules/K_REL/build
#                                   on the host or in K_ROOT)
#                           K_SPEC  all of it in one word, for kernel_load
#                         Returns 1 with the reason in K_WHY when there is none.
#   kernel_load SPEC      sets K_* again from a K_SPEC
#
# The trixie root is $ALOOP_TRIXIE_ROOT (/var/cache/aloop/trixie-root);
# TROOT_STATE is "" (not tried), ok, or why it cannot be used, and
# kernel_troot_hook, when a caller defines it, is called once after the
# attempt with the log file as argument (TROOT_SECONDS: how long it took).
# troot_start runs scripts/trixie-root.sh in the background, so that a
# fresh machine builds the root while the host tests and the first
# kernels run; troot_ensure then waits for it.

# shellcheck disable=SC2034 # K_* are for the callers
TROOT=$ALOOP_TRIXIE_ROOT
TROOT_STATE=
: "${TROOT_LOG:=$REPO/build/trixie-root.log}"

# kernel_ok REL [ROOT]: has an image and a build tree?
kernel_ok() {
	[ -f "${2:-}/boot/vmlinuz-$1" ] && [ -e "${2:-}/lib/modules/$1/build/Makefile" ]
}

# kernel_newest REGEX [ROOT]: newest release matching REGEX with image + headers
kernel_newest() {
	local re=$1 root=${2:-} k best=
	for k in "$root"/boot/vmlinuz-*; do
		k=${k##*/vmlinuz-}
		[[ $k =~ $re ]] || continue
		kernel_ok "$k" "$root" || continue
		best=$(printf '%s\n%s\n' "$best" "$k" | sed '/^$/d' | sort -V | tail -n 1)
	done
	echo "$best"
}

troot_note() { [ -z "$TROOT_STATE" ] || [ "$TROOT_STATE" = ok ] || echo "; trixie root: $TROOT_STATE"; }

# troot_ensure: prepare the trixie root once (scripts/trixie-root.sh)
# (or wait for troot_start's background run of it)
TROOT_PID='' TROOT_T0=''
troot_start() {
	[ -z "$TROOT_STATE$TROOT_PID" ] || return 0
	mkdir -p "$(dirname "$TROOT_LOG")"
	echo "preparing the trixie root $TROOT in the background (scripts/trixie-root.sh; log $TROOT_LOG)" >&2
	TROOT_T0=$(date +%s)
	rm -f "$TROOT_LOG.rc"
	# the status in a file: by the time it is needed, the pid may have
	# been reused (a make check forks tens of thousands of processes)
	{ "$REPO/scripts/trixie-root.sh" "$TROOT" >"$TROOT_LOG" 2>&1 </dev/null
	  echo "$? $(date +%s)" >"$TROOT_LOG.rc"; } &
	TROOT_PID=$!
}
troot_ensure() {
	local rc
	[ -z "$TROOT_STATE" ] || { [ "$TROOT_STATE" = ok ]; return; }
	mkdir -p "$(dirname "$TROOT_LOG")"
	if [ -n "$TROOT_PID" ]; then
		echo "waiting for the trixie root (scripts/trixie-root.sh, started $(( $(date +%s) - TROOT_T0 ))s ago; log $TROOT_LOG)" >&2
		while [ ! -s "$TROOT_LOG.rc" ]; do sleep 2; done
		local end
		read -r rc end <"$TROOT_LOG.rc"
		# how long it took, in the background (the subtraction below
		# turns this start time into that duration)
		TROOT_PID='' TROOT_SECONDS=$(( $(date +%s) - (end - TROOT_T0) ))
	else
		echo "preparing the trixie root $TROOT (scripts/trixie-root.sh; log $TROOT_LOG)" >&2
		TROOT_SECONDS=$(date +%s)
		"$REPO/scripts/trixie-root.sh" "$TROOT" >"$TROOT_LOG" 2>&1; rc=$?
	fi
	if [ "$rc" = 0 ]; then
		TROOT_STATE=ok
	else
		TROOT_STATE="scripts/trixie-root.sh failed: $(grep '^trixie-root:' "$TROOT_LOG" | tail -n 1)"
	fi
	TROOT_SECONDS=$(( $(date +%s) - TROOT_SECONDS ))
	! declare -F kernel_troot_hook >/dev/null || kernel_troot_hook "$TROOT_LOG"
	[ "$TROOT_STATE" = ok ]
}

# The tree of the debug kernel, if scripts/debug-kernel.sh has built it.
kernel_debug_tree() {
	[ -x "$REPO/scripts/debug-kernel.sh" ] || return 1
	"$REPO/scripts/debug-kernel.sh" --print 2>/dev/null | tail -n 1
}

kernel_load() {
	IFS='|' read -r K_REL K_ROOT K_IMG K_KDIR <<<"$1"
	K_SPEC=$1
}

kernel_find() {
	local tok=$1 k='' root='' img='' kdir='' re tree
	case $tok in
	debug)
		tree=$(kernel_debug_tree)
		if [ -n "$tree" ] && [ -f "$tree/include/config/kernel.release" ]; then
			k=$(cat "$tree/include/config/kernel.release") img=$tree kdir=$tree
		fi
		K_WHY="no debug kernel: scripts/debug-kernel.sh --print printed no built tree (scripts/debug-kernel.sh builds it, ~50 min)"
		[ -x "$REPO/scripts/debug-kernel.sh" ] ||
			K_WHY="no debug kernel: scripts/debug-kernel.sh does not exist" ;;
	trixie)
		if troot_ensure; then
			k=$(kernel_newest '.' "$TROOT"); root=$TROOT
		fi
		K_WHY="no trixie-backports kernel with headers in $TROOT$(troot_note)" ;;
	[0-9]*.[0-9]*.*)	# a release
		if kernel_ok "$tok"; then
			k=$tok
		elif troot_ensure && kernel_ok "$tok" "$TROOT"; then
			k=$tok root=$TROOT
		fi
		K_WHY="kernel $tok is not installed (need /boot/vmlinuz-$tok and /lib/modules/$tok/build, here or in $TROOT$(troot_note))" ;;
	[0-9]*.[0-9]*)		# a series
		re="^${tok//./\\.}\\.[0-9]+.*-amd64\$"
		k=$(kernel_newest "$re")
		if [ -z "$k" ] && troot_ensure; then
			k=$(kernel_newest "$re" "$TROOT"); root=$TROOT
		fi
		K_WHY="no Debian $tok kernel with headers installed (need /boot/vmlinuz-X and /lib/modules/X/build; scripts/setup-host.sh installs 6.1 and 6.12, scripts/trixie-root.sh the trixie-backports kernel$(troot_note))" ;;
	*)
		K_WHY="'$tok' is not a kernel release, series, 'trixie' or 'debug'" ;;
	esac
	[ -n "$k" ] || return 1
	[ -n "$img" ] || img=$root/boot/vmlinuz-$k
	kernel_load "$k|$root|$img|$kdir"
	K_WHY=
}
