#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test: which kernels `make header-matrix` builds.  Feeds `apt-cache
# madison` lines (a fixture below, shaped as bookworm's and trixie's) to
# scripts/header-matrix.sh --select, which needs neither apt nor root,
# and checks the rule: per suite, series and flavour the newest ABI; no
# meta-packages; a kernel in two suites once; ALOOP_HM_ALL,
# ALOOP_HM_FLAVOURS, ALOOP_HM_SUITES and ALOOP_HM_ONLY.
# KTAP on stdout (tests/lib/ktap.sh); exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh

M='http://deb.debian.org/debian'
S='http://deb.debian.org/debian-security'
FIXTURE="linux-headers-6.1.0-47-amd64 |  6.1.170-3 | $M bookworm/main amd64 Packages
linux-headers-6.1.0-50-amd64 |  6.1.176-1 | $M bookworm/main amd64 Packages
linux-headers-6.1.0-50-rt-amd64 |  6.1.176-1 | $M bookworm/main amd64 Packages
linux-headers-6.1.0-50-cloud-amd64 |  6.1.176-1 | $M bookworm/main amd64 Packages
linux-headers-6.1.0-56-amd64 |  6.1.192-2 | $S bookworm-security/main amd64 Packages
linux-headers-6.1.0-57-amd64 |  6.1.192-3 | $S bookworm-security/main amd64 Packages
linux-headers-6.12.9+deb12-amd64 | 6.12.9-1~deb12u1 | $S bookworm-security/main amd64 Packages
linux-headers-6.12.118+deb12-amd64 | 6.12.118-1~deb12u1 | $S bookworm-security/main amd64 Packages
linux-headers-6.12.118+deb12-amd64 | 6.12.118-1~deb12u1 | $M bookworm/main amd64 Packages
linux-headers-6.12-amd64 | 6.12.118-1~deb12u1 | $S bookworm-security/main amd64 Packages
linux-headers-amd64 |  6.1.192-3 | $S bookworm-security/main amd64 Packages
linux-headers-6.12.95+deb12-amd64 | 6.12.95-1~bpo12+1 | $M bookworm-backports/main amd64 Packages
linux-headers-6.12.117+deb13-amd64 | 6.12.117-1 | $M trixie/main amd64 Packages
linux-headers-7.2.6+deb13-amd64 | 7.2.6-1~bpo13+1 | $M trixie-backports/main amd64 Packages
linux-headers-7.2.12+deb13-amd64 | 7.2.12-1~bpo13+1 | $M trixie-backports/main amd64 Packages
linux-headers-7.2.9+deb13-amd64 | 7.2.9-1~bpo13+1 | $M trixie-backports/main amd64 Packages
linux-headers-7.3.4+deb13-amd64 | 7.3.4-1~bpo13+1 | $M trixie-backports/main amd64 Packages
linux-headers-7.3.4+deb13-amd64 | 7.3.4-1~bpo13+1 | $M trixie-backports/main amd64 Packages
linux-headers-6.1.0-57-amd64 |  6.1.192-3 | $M sid/main amd64 Packages"

# sel [VAR=VALUE...]: the selection of the fixture with those settings
sel() {
	env -u ALOOP_HM_ALL -u ALOOP_HM_FLAVOURS -u ALOOP_HM_SUITES -u ALOOP_HM_ONLY "$@" \
		scripts/header-matrix.sh --select <<<"$FIXTURE" 2>&1
}
# check DESC EXPECTED [VAR=VALUE...]
check() {
	local d=$1 want=$2 got
	shift 2
	got=$(sel "$@")
	[ "$got" = "$want" ]
	ktap_result $? "$d" "expected:" "$want" "got:" "$got"
}

ktap_plan 5

check "newest ABI per suite, series and flavour; no meta-packages; one line for two suites; sorted by release" \
"6.1.0-50-amd64 6.1.176-1 bookworm
6.1.0-50-cloud-amd64 6.1.176-1 bookworm
6.1.0-50-rt-amd64 6.1.176-1 bookworm
6.1.0-57-amd64 6.1.192-3 bookworm-security
6.12.95+deb12-amd64 6.12.95-1~bpo12+1 bookworm-backports
6.12.117+deb13-amd64 6.12.117-1 trixie
6.12.118+deb12-amd64 6.12.118-1~deb12u1 bookworm,bookworm-security
7.2.12+deb13-amd64 7.2.12-1~bpo13+1 trixie-backports
7.3.4+deb13-amd64 7.3.4-1~bpo13+1 trixie-backports"

check "ALOOP_HM_ALL=1: every ABI" \
"6.1.0-47-amd64 6.1.170-3 bookworm
6.1.0-50-amd64 6.1.176-1 bookworm
6.1.0-50-cloud-amd64 6.1.176-1 bookworm
6.1.0-50-rt-amd64 6.1.176-1 bookworm
6.1.0-56-amd64 6.1.192-2 bookworm-security
6.1.0-57-amd64 6.1.192-3 bookworm-security
6.12.9+deb12-amd64 6.12.9-1~deb12u1 bookworm-security
6.12.95+deb12-amd64 6.12.95-1~bpo12+1 bookworm-backports
6.12.117+deb13-amd64 6.12.117-1 trixie
6.12.118+deb12-amd64 6.12.118-1~deb12u1 bookworm,bookworm-security
7.2.6+deb13-amd64 7.2.6-1~bpo13+1 trixie-backports
7.2.9+deb13-amd64 7.2.9-1~bpo13+1 trixie-backports
7.2.12+deb13-amd64 7.2.12-1~bpo13+1 trixie-backports
7.3.4+deb13-amd64 7.3.4-1~bpo13+1 trixie-backports" ALOOP_HM_ALL=1

check "ALOOP_HM_FLAVOURS=rt-amd64: that flavour only" \
"6.1.0-50-rt-amd64 6.1.176-1 bookworm" ALOOP_HM_FLAVOURS=rt-amd64

check "ALOOP_HM_SUITES=sid: that suite only" \
"6.1.0-57-amd64 6.1.192-3 sid" ALOOP_HM_SUITES=sid

check "ALOOP_HM_ONLY=REGEX: the releases matching it" \
"7.2.12+deb13-amd64 7.2.12-1~bpo13+1 trixie-backports
7.3.4+deb13-amd64 7.3.4-1~bpo13+1 trixie-backports" 'ALOOP_HM_ONLY=^7\.'

ktap_finish
