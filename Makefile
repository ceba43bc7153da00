# SPDX-License-Identifier: GPL-2.0
#
# aloop: out-of-tree alternate loop block driver and its tool aloopctl.
#
#   make                    module for $(KVER) (default: running kernel) + aloopctl
#   make KVER=6.12.1-amd64  module for another installed kernel
#   make KDIR=/path/headers module against a given headers/build tree
#   make check              full test suite (host unit tests + guests)
#   make check-host         the host tests alone: no apt, no guest
#   make check-debug        every guest test on the debug kernel (KASAN,
#                           lockdep; scripts/debug-kernel.sh builds it)
#   make check-list         one line per guest test: class, timeout, what
#   make demo               build, boot a guest, attach an image, use it
#   make install            module, aloopctl, UAPI header (DESTDIR, PREFIX)
#   make style              checkpatch.pl on the kernel code (seconds)
#   make lint               shellcheck on the scripts, pyflakes on the Python
#   make tools              aloopctl and the guest tests' helper programs
#   make deb                aloop-dkms + aloop-utils .debs in build/deb/, lintian
#   make check-deb          the package tests (chroots, guests; ~60 min)
#   make header-matrix      W=1 build against Debian's headers packages (as root)

VERSION   := $(shell cat $(CURDIR)/VERSION 2>/dev/null)
KVER      ?= $(shell uname -r)
KDIR      ?= /lib/modules/$(KVER)/build
PREFIX    ?= /usr/local
DESTDIR   ?=
CC        ?= gcc
CFLAGS    ?= -O2 -g
SC_CFLAGS := $(shell pkg-config --cflags smartcols 2>/dev/null)
SC_LIBS   := $(shell pkg-config --libs smartcols 2>/dev/null || echo -lsmartcols)
# libkmod: aloopctl loads the module when root needs it (aloopctl_kmod.c).
KMOD_CFLAGS := $(shell pkg-config --cflags libkmod 2>/dev/null)
KMOD_LIBS := $(shell pkg-config --libs libkmod 2>/dev/null || echo -lkmod)
USER_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Iinclude/uapi \
	       -DALOOP_VERSION=\"$(VERSION)\" $(SC_CFLAGS)

# The userspace tool lives in aloopctl/ and is built there.
CTL_SRCS  := aloopctl/aloopctl.c aloopctl/aloopctl_util.c aloopctl/aloopctl_kmod.c \
	     aloopctl/aloopctl_doctor.c aloopctl/aloopctl_compat.c
CTL_HDRS  := aloopctl/aloopctl.h include/uapi/linux/aloop.h
CTL_BIN   := aloopctl/aloopctl

# Helper programs of the guest tests, in build/tools (on the guests' PATH):
# alo-ioctl (every ioctl by hand), alo-fuzz (random ioctls, 95-fuzz-ioctl),
# alo-cgdev (a cgroup v2 device program, 83-containers) and loopdiff (the
# same ioctl sequence on loop and aloop), 64-bit and, when $(CC) can build
# 32-bit programs (gcc-multilib), 32-bit for the compat_ioctl paths.
TOOLS_DIR := build/tools
TOOL_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra
HAVE_M32   = $(shell printf 'int main(void) { return 0; }\n' | \
	       $(CC) -m32 -x c -o /dev/null - >/dev/null 2>&1 && echo y)
TOOLS      = $(TOOLS_DIR)/alo-ioctl $(TOOLS_DIR)/alo-fuzz $(TOOLS_DIR)/loopdiff \
	     $(TOOLS_DIR)/alo-cgdev $(if $(HAVE_M32),$(TOOLS_DIR)/loopdiff32)

.PHONY: all module probes aloopctl tools unit check check-host demo install uninstall \
	clean help dkms-install dkms-uninstall style lint check-debug check-list

all: module aloopctl

help:
	@sed -n '3,21p' $(CURDIR)/Makefile | sed 's/^# \{0,1\}//'

have-kdir:
	@if [ ! -e "$(KDIR)/Makefile" ]; then \
		echo "aloop: no kernel headers for $(KVER) at $(KDIR)." >&2; \
		echo "aloop: kernels with headers installed here:" >&2; \
		found=0; for d in /lib/modules/*/build; do \
			[ -e "$$d/Makefile" ] || continue; found=1; \
			v=$${d#/lib/modules/}; echo "    make KVER=$${v%/build}" >&2; \
		done; \
		[ $$found = 1 ] || echo "    (none: apt-get install linux-headers-amd64)" >&2; \
		exit 1; \
	fi
.PHONY: have-kdir

# Kbuild-time probes: compile small snippets against the target headers
# and record what compiled in src/aloop_probes.h (see scripts/probe.sh).
probes: have-kdir
	@scripts/probe.sh "$(KDIR)" src/aloop_probes.h

# The probes are Kbuild's own (see Kbuild): plain
# `make -C $(KDIR) M=$(CURDIR)` builds the module too.
module: have-kdir
	$(MAKE) -C $(KDIR) M=$(CURDIR) ALOOP_VERSION=$(VERSION) modules

aloopctl: $(CTL_BIN)

$(CTL_BIN): $(CTL_SRCS) $(CTL_HDRS)
	$(CC) $(USER_CFLAGS) $(KMOD_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) \
		-o $@ $(CTL_SRCS) $(SC_LIBS) $(KMOD_LIBS)

tests/unit/test_aloopctl: tests/unit/test_aloopctl.c aloopctl/aloopctl_util.c $(CTL_HDRS)
	$(CC) $(USER_CFLAGS) $(CFLAGS) -Ialoopctl -o $@ tests/unit/test_aloopctl.c aloopctl/aloopctl_util.c $(SC_LIBS)

tools: $(CTL_BIN) $(TOOLS)

$(TOOLS_DIR)/alo-ioctl: tests/guest/ioctl_helper.c include/uapi/linux/aloop.h
	@mkdir -p $(@D)
	$(CC) $(TOOL_CFLAGS) -Wno-unused-parameter -Iinclude/uapi -o $@ $<

$(TOOLS_DIR)/alo-fuzz: tests/guest/ioctl_fuzz.c include/uapi/linux/aloop.h
	@mkdir -p $(@D)
	$(CC) $(TOOL_CFLAGS) -Werror -Iinclude/uapi -o $@ $<

$(TOOLS_DIR)/loopdiff: tests/guest/loopdiff.c
	@mkdir -p $(@D)
	$(CC) $(TOOL_CFLAGS) -Werror -o $@ $<

$(TOOLS_DIR)/alo-cgdev: tests/guest/cgdev.c
	@mkdir -p $(@D)
	$(CC) $(TOOL_CFLAGS) -Werror -o $@ $<

$(TOOLS_DIR)/loopdiff32: tests/guest/loopdiff.c
	@mkdir -p $(@D)
	$(CC) -m32 $(TOOL_CFLAGS) -Werror -o $@ $<

unit: aloopctl tests/unit/test_aloopctl
	tests/unit/run.sh

# checkpatch.pl --no-tree -f on the kernel code (scripts/checkpatch.sh
# finds it, or fetches it from Debian's linux-source once).
style:
	tests/unit/test_checkpatch.sh

# shellcheck on every shell script, pyflakes on the Python.
lint:
	scripts/lint.sh

check:
	scripts/check.sh

# The host tests of make check alone (unit, install, version, checkpatch,
# compat, parameters, dkms.conf's kernel gate, header-matrix's choice of
# kernels, doctor, restore, lint, deb): no apt, no guest.
check-host:
	KERNELS=none ALOOP_SKIP_SETUP=1 scripts/check.sh

# The full debug lane: all guest files on the debug kernel, no time limit
# (~1-2 hours under TCG); not part of make check.
check-debug:
	scripts/debug-kernel.sh
	KERNELS=debug ALOOP_VM_TIMEOUT=9000 scripts/check.sh

# One line per guest test, from its header lines (# aloop-class:,
# # aloop-timeout:, # aloop-desc:); docs/testing.md shows it.
check-list:
	@tests/list.sh

demo:
	scripts/demo.sh

# Benchmark: raw / loop / aloop in a guest per kernel (bench/README.md).
#   KERNELS="6.1 6.12" (default 6.1), QUICK=1 for a short run.
bench:
	bench/run.sh
.PHONY: bench

# install = the module + install-user.  install-user is everything that
# needs no kernel headers: aloopctl, its man page and bash completion, the
# udev rules, the aloop-restore.service unit and the UAPI header.  udev
# rules go to /lib/udev/rules.d and the unit to /lib/systemd/system
# whatever PREFIX is, as udev and systemd read no other place of a
# package's files; the unit's ExecStart names $(PREFIX)/sbin/aloopctl.
MODDIR     = $(DESTDIR)/lib/modules/$(KVER)/updates
MANDIR     = $(DESTDIR)$(PREFIX)/share/man/man8
COMPDIR    = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
UDEVDIR    = $(DESTDIR)/lib/udev/rules.d
UNITDIR    = $(DESTDIR)/lib/systemd/system
# drop-in mode's modprobe.d file, shipped disabled: "aloopctl compat
# enable" writes the same text to /etc/modprobe.d/aloop-loop-compat.conf
SHAREDIR   = $(DESTDIR)$(PREFIX)/share/aloop
UDEV_RELOAD = if [ -z "$(DESTDIR)" ] && command -v udevadm >/dev/null 2>&1; \
	then udevadm control --reload 2>/dev/null || true; fi

install: all install-user
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) \
		INSTALL_MOD_DIR=updates modules_install
	[ -n "$(DESTDIR)" ] || depmod -a $(KVER)

install-user: aloopctl
	install -D -m 0755 $(CTL_BIN) $(DESTDIR)$(PREFIX)/sbin/aloopctl
	install -D -m 0644 man/aloopctl.8 $(MANDIR)/aloopctl.8
	install -D -m 0644 contrib/bash-completion/aloopctl $(COMPDIR)/aloopctl
	install -D -m 0644 udev/60-aloop.rules $(UDEVDIR)/60-aloop.rules
	mkdir -p $(UNITDIR)
	sed 's|/usr/sbin/aloopctl|$(PREFIX)/sbin/aloopctl|' \
		systemd/aloop-restore.service >$(UNITDIR)/aloop-restore.service
	chmod 0644 $(UNITDIR)/aloop-restore.service
	install -D -m 0644 include/uapi/linux/aloop.h \
		$(DESTDIR)$(PREFIX)/include/linux/aloop.h
	install -D -m 0644 contrib/modprobe/aloop-loop-compat.conf \
		$(SHAREDIR)/modprobe-compat.conf
	@$(UDEV_RELOAD)
.PHONY: install-user

# The module may have been installed compressed (CONFIG_MODULE_COMPRESS_*).
uninstall:
	rm -f $(MODDIR)/aloop.ko $(MODDIR)/aloop.ko.xz $(MODDIR)/aloop.ko.gz \
		$(MODDIR)/aloop.ko.zst
	[ -n "$(DESTDIR)" ] || depmod -a $(KVER)
	rm -f $(DESTDIR)$(PREFIX)/sbin/aloopctl $(DESTDIR)$(PREFIX)/include/linux/aloop.h
	rm -f $(MANDIR)/aloopctl.8 $(COMPDIR)/aloopctl $(UDEVDIR)/60-aloop.rules
	rm -f $(UNITDIR)/aloop-restore.service
	rm -f $(SHAREDIR)/modprobe-compat.conf
	-rmdir $(SHAREDIR) 2>/dev/null
	@$(UDEV_RELOAD)

# DKMS: the sources go to /usr/src/aloop-VERSION (dkms.conf's
# PACKAGE_VERSION is VERSION), then dkms add/build/install for $(KVER).
# Run again it refreshes the sources and rebuilds; dkms-uninstall removes
# aloop/VERSION from every kernel and fails when dkms cannot.
DKMS_SRC := /usr/src/aloop-$(VERSION)
DKMS_REGISTERED = dkms status aloop/$(VERSION) 2>/dev/null | grep -q .
# What `make module` needs: the kernel code, the UAPI header, the probes.
DKMS_FILES := Kbuild Makefile VERSION dkms.conf LICENSE src include \
	      scripts/probe.sh scripts/probes

# dkms-src: those sources alone, no build artifacts, in
# $(DESTDIR)$(DKMS_SRC) (debian/rules packages them in aloop-dkms).
dkms-src:
	rm -rf $(DESTDIR)$(DKMS_SRC)
	mkdir -p $(DESTDIR)$(DKMS_SRC)
	cp -r --parents $(DKMS_FILES) $(DESTDIR)$(DKMS_SRC)/
	find $(DESTDIR)$(DKMS_SRC) \( -name '*.o' -o -name '.*.cmd' -o -name '*.ko' \
		-o -name '*.mod' -o -name '*.mod.c' -o -name '*.symvers' \
		-o -name modules.order -o -name aloop_probes.h \) -type f -delete
	find $(DESTDIR)$(DKMS_SRC) -name __pycache__ -type d -prune -exec rm -rf {} +
.PHONY: dkms-src

dkms-install:
	$(MAKE) --no-print-directory dkms-src DESTDIR=
	$(DKMS_REGISTERED) || dkms add aloop/$(VERSION)
	dkms build --force aloop/$(VERSION) -k $(KVER)
	dkms install --force aloop/$(VERSION) -k $(KVER)

dkms-uninstall:
	if $(DKMS_REGISTERED); then dkms remove aloop/$(VERSION) --all; fi
	rm -rf $(DKMS_SRC)

# Debian packages (debian/): aloop-dkms and aloop-utils in build/deb/,
# then lintian on them (an error fails; warnings are printed).  They are
# built from a copy of the tree's files (git ls-files: tracked and new,
# not ignored) in build/deb/src/, as dpkg-buildpackage writes to ../.
# Needs dpkg-dev, debhelper, dh-dkms, lintian (scripts/setup-host.sh).
DEB_DIR := build/deb
DEB_SRC := $(DEB_DIR)/src/aloop-$(VERSION)
deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard | \
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null; \
	else \
		tar --exclude=./build --exclude-vcs --exclude='*.o' --exclude='*.ko' \
			--exclude='.*.cmd' --exclude='*.mod' --exclude='*.mod.c' \
			--exclude=aloop_probes.h --exclude=./aloopctl/aloopctl -cf - .; \
	fi | tar -xf - -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b
	mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/src/*.changes $(DEB_DIR)/src/*.buildinfo $(DEB_DIR)/
	rm -rf $(DEB_DIR)/src
	lintian --fail-on error --info $(DEB_DIR)/*.changes
	@ls -1 $(DEB_DIR)/*.deb
.PHONY: deb

# The package tests (tests/pkg/, as root): make deb, the packages'
# contents and lintian; install, a second kernel and purge in bookworm
# and trixie chroots; a guest booted from the trixie root with the
# packages installed, which then upgrades them with a device bound (a
# DKMS build under TCG; waits for the VM lock).  About an hour.
check-deb:
	@rc=0; for t in test_deb test_chroot test_guest; do \
		ALOOP_DEB_REBUILD=0 tests/pkg/$$t.sh || rc=1; \
	done; exit $$rc
.PHONY: check-deb

# The module built (W=1, no warnings) against the newest headers package
# per kernel series, flavour and suite of bookworm, bookworm-backports,
# trixie and trixie-backports (scripts/header-matrix.sh: downloaded, not
# installed; a table in build/header-matrix/results.md), as root.
header-matrix:
	scripts/header-matrix.sh
.PHONY: header-matrix

clean:
	[ ! -e "$(KDIR)/Makefile" ] || $(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -f $(CTL_BIN) tests/unit/test_aloopctl src/aloop_probes.h
	rm -rf build
