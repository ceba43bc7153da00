# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the aloop guest tests (tests/guest/NN-topic.sh).
# Sourced by every test; runs inside the virtme-ng guest as root.
#
# Environment (exported by tests/guest/run.sh, defaults for manual use):
#   REPO       top of the source tree (visible read-only in the guest)
#   ALOOP_KO   the aloop.ko to insmod
#   BACKING    directory on an ext4 fs made on /dev/vda: backing files
#   XFSDIR     directory on an xfs fs on /dev/vdb1 ("" when there is none)
#   RAWDEV     a raw partition (/dev/vdb2) for block-device backing ("" if none)
#   BACK4K     directory on ext4 on a 4096-byte-sector disk ("" if none)
#   SCRATCH    tmpfs scratch directory (reference data, never backing)
#   ALO_IOCTL  the ioctl helper (build/tools/alo-ioctl)
#   DUT        device under test: "aloop" (default) or "loop" (self-test
#              of this harness against the stock loop driver; aloopctl is
#              then emulated by a shell function, see below)
#
# Output is KTAP (tests/lib/ktap.sh): "KTAP version 1", "1..N", one
# "ok/not ok N - desc" per result, "# ..." diagnostics, and a final
# "# P passed, F failed".

: "${REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${DUT:=aloop}"
: "${ALOOP_KO:=$REPO/aloop.ko}"
: "${ALO_IOCTL:=$REPO/build/tools/alo-ioctl}"
: "${BACKING:=/run/aloop/ext4}"
: "${XFSDIR:=}"
: "${RAWDEV:=}"
: "${BACK4K:=}"
: "${SCRATCH:=/run/aloop/scratch}"
export REPO DUT ALOOP_KO ALO_IOCTL BACKING XFSDIR RAWDEV BACK4K SCRATCH
export PATH="$REPO/aloopctl:$REPO/build/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C

DUT_CTL=/dev/$DUT-control
MNTROOT=/run/aloop/mnt
STOCK_CTL=/dev/loop-control
MiB=$((1024 * 1024))

# The helpers, by concern (tests/guest/lib/):
#   common.sh    KTAP names, checks, waiting, devices, modules, data, tools
#   ioctl.sh     the ioctl helper, errno checks, comparison with stock loop
#   dut-loop.sh  DUT=loop: aloopctl emulated on stock loop
#   stress.sh    kernel-log marks, D-state tasks, bounded runs (92-96)
#   cgroup.sh    cgroup v2 helpers
# shellcheck source=lib/common.sh
. "$REPO/tests/guest/lib/common.sh"
# shellcheck source=lib/ioctl.sh
. "$REPO/tests/guest/lib/ioctl.sh"
# shellcheck source=lib/dut-loop.sh
. "$REPO/tests/guest/lib/dut-loop.sh"
# shellcheck source=lib/stress.sh
. "$REPO/tests/guest/lib/stress.sh"
# shellcheck source=lib/cgroup.sh
. "$REPO/tests/guest/lib/cgroup.sh"
