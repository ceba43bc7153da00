# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Booting a guest: one QEMU (TCG unless ALOOP_KVM=1) at a time on this
# host, serialised by the VM lock /tmp/aloop-vm.lock.
#
#   vm_boot [OPTIONS] -- COMMAND [ARG...]
#       boot K_IMG (K_ROOT as / when set) with virtme-ng and run COMMAND
#       in it as root; returns vng's exit status (124: timed out).
#     --results DIR   share DIR read-write, at VM_RESULTS in the guest
#     --disk FILE:SERIAL[:PROPS]   a raw virtio-blk disk; PROPS are more
#                     -device properties (",logical_block_size=4096");
#                     cache=none when the host filesystem does O_DIRECT
#     --cache MODE    that disk cache mode instead
#     --timeout S     (ALOOP_VM_TIMEOUT, 3600)
#     --mem M --cpus N   (ALOOP_VM_MEM 2G, ALOOP_VM_CPUS 2)
#     --log FILE      the console log (--append: add to FILE)
#     --prefix STR    print the console on stdout with STR before each line
#     --quiet         do not print the console on stdout
#     --kopt OPT      one more kernel command-line option (repeatable)
#   After it: VM_WAITED (seconds waiting for the lock), VM_SECONDS (the
#   boot itself).
#
# The tree ($REPO) is always shared read-only at its own path: a --root
# guest has its own /, and the host's / as the guest sees it has tmpfs
# over /var/tmp, /var/cache, /var/log and /run (virtme-init), so a
# checkout under /var/tmp would not be there.  The results directory is
# shared at a guest path away from the tree, so that it is never under a
# read-only mount, in the guest's /tmp overlay (vng accepts guest paths
# only inside its overlays).  A debug kernel tree (K_KDIR) is shared too:
# its modules are there.

# shellcheck disable=SC2034 # VM_SECONDS, VM_WAITED: for the callers
VM_LOCK=/tmp/aloop-vm.lock
VM_RESULTS=/tmp/aloop-results
: "${ALOOP_VM_TIMEOUT:=3600}"

vm_boot() {
	local timeout=$ALOOP_VM_TIMEOUT mem=$ALOOP_VM_MEM cpus=$ALOOP_VM_CPUS
	local log=/dev/null append=0 prefix='' quiet=0 cache='' d f serial props
	local disks=() where=() kvm=(--disable-kvm) qopts='' n=0 run_in=/ cmd stamp rc t0 lock
	local kopts=()
	while [ $# -gt 0 ]; do
		case $1 in
		--results) where+=(--rwdir "$VM_RESULTS=$2"); shift ;;
		--disk) disks+=("$2"); shift ;;
		--cache) cache=$2; shift ;;
		--timeout) timeout=$2; shift ;;
		--mem) mem=$2; shift ;;
		--cpus) cpus=$2; shift ;;
		--log) log=$2; shift ;;
		--append) append=1 ;;
		--prefix) prefix=$2; shift ;;
		--quiet) quiet=1 ;;
		--kopt) kopts+=(--append "$2"); shift ;;
		--) shift; break ;;
		*) echo "vm_boot: unknown option $1" >&2; return 2 ;;
		esac
		shift
	done
	[ "$ALOOP_KVM" != 1 ] || kvm=()
	for d in "${disks[@]}"; do
		IFS=: read -r f serial props <<<"$d"
		if [ -z "$cache" ]; then
			cache=none	# needs O_DIRECT on the host filesystem (not tmpfs)
			dd if=/dev/zero of="$f" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null ||
				cache=writeback
		fi
		qopts+="${qopts:+ }-drive file=$f,format=raw,if=none,id=d$n,cache=$cache"
		qopts+=" -device virtio-blk-pci,drive=d$n,serial=$serial${props:-}"
		n=$((n + 1))
	done
	if [ -n "$K_ROOT" ]; then
		# the mount point must exist in the root: it is read-only
		mkdir -p "$K_ROOT$REPO" || return 1
		where+=(--root "$K_ROOT")
		run_in=$K_ROOT	# vng wants the current directory inside the root
	fi
	where+=(--rodir "$REPO=$REPO")
	[ -z "$K_KDIR" ] || where+=(--rodir "$K_KDIR=$K_KDIR")
	cmd=$(printf '%q ' "$@")
	stamp=$(mktemp /tmp/aloop-vm-start.XXXXXX) || return 1
	[ "$append" = 1 ] || : >"$log"
	t0=$(date +%s)
	# fds 8 and 9 (check.sh's DKMS lock, build locks) stay out of the VM
	# shellcheck disable=SC2016 # the inner sh expands them
	(cd "$run_in" && flock "$VM_LOCK" sh -c 'date +%s >"$0"; exec "$@"' "$stamp" \
		timeout -k 30 "$timeout" \
		vng --run "$K_IMG" "${kvm[@]}" --user root "${where[@]}" "${kopts[@]}" -m "$mem" -p "$cpus" \
		${qopts:+--qemu-opts="$qopts"} --exec "$cmd" </dev/null 8>&- 9>&- 2>&1
	 echo "$?" >"$stamp.rc") |
		tee -a "$log" |
		if [ "$quiet" = 1 ]; then cat >/dev/null; else awk -v p="$prefix" '{ print p $0; fflush() }'; fi
	rc=$(cat "$stamp.rc" 2>/dev/null) || rc=
	[ -n "$rc" ] || rc=1	# killed before vng ended
	lock=$(cat "$stamp" 2>/dev/null) || lock=
	[ -n "$lock" ] || lock=$(date +%s)	# never got the lock
	VM_WAITED=$(( lock - t0 ))
	VM_SECONDS=$(( $(date +%s) - t0 - VM_WAITED ))
	rm -f "$stamp" "$stamp.rc"
	return "$rc"
}
