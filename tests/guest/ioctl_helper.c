// SPDX-License-Identifier: GPL-2.0
/*
 * alo-ioctl: perform exactly one loop/aloop ioctl and report the outcome,
 * so that shell tests can compare errno values between the stock loop
 * driver (/dev/loopN, /dev/loop-control) and aloop (/dev/aloopN,
 * /dev/aloop-control) on the same kernel.
 *
 * Output: the first line is "OK" (optionally followed by a value, e.g.
 * "OK 5" for ctl-add/ctl-get-free) or the symbolic errno name of the
 * tested operation ("EEXIST", "ENXIO", ...).  Commands that return data
 * print "key=value" lines after the first line.  Exit status: 0 when the
 * tested operation ran (whatever its errno), 2 on usage errors, 3 when a
 * preparatory step failed (then the first line is "SETUP <step>: ERRNO").
 *
 * Built on the host by scripts/check.sh into build/tools/alo-ioctl.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/blkpg.h>
#include <linux/loop.h>

#include "linux/aloop.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
#endif

#define NOBODY 65534

static int opt_as_user;		/* drop privileges after opening fds */
static int opt_open_as_user;	/* drop privileges before opening the device */
static int opt_dev_ro;		/* open the device / control node O_RDONLY */
static unsigned opt_hold;	/* keep fds open this many seconds after */

static const char *errname(int e)
{
	static char buf[32];
	const char *n = NULL;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	n = strerrorname_np(e);
#endif
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E#%d", e);
	return buf;
}

static void usage(void)
{
	fprintf(stderr,
"usage: alo-ioctl [--as-user|--open-as-user] [--dev-ro] [--hold SECS] CMD ARGS\n"
"  ctl-add CTL N | ctl-remove CTL N | ctl-get-free CTL | ctl-raw CTL CMD ARG\n"
"  ctl-attach-fd CTL FILE  (ALOOP_CTL_ATTACH + ALOOP_ATTACH_FD, the fd checked)\n"
"  configure DEV FILE [--ro] [--flags N] [--bs N] [--offset N] [--sizelimit N]\n"
"                     [--open-ro] [--open-path] [--open-direct] [--name S]\n"
"                     [--set-dio 0|1] [--setfl-append]  (after LOOP_CONFIGURE)\n"
"                     [--queues N]  (ALOOP_CONFIGURE instead of LOOP_CONFIGURE)\n"
"  configure-ext-raw DEV FILE [opts] [--size N] [--reserved-nonzero]\n"
"                     (ALOOP_CONFIGURE, size / reserved[0] as given)\n"
"  configure-self DEV [opts] | configure-badfd DEV [-1|closed] [opts]\n"
"  configure-dir DEV DIR [opts] | configure-as-user DEV FILE [opts]\n"
"  set-fd DEV FILE [--open-ro] | set-fd-self DEV | set-fd-badfd DEV\n"
"  change-fd DEV FILE [--open-ro]\n"
"  set-status DEV [--flags N] [--offset N] [--sizelimit N] [--name S]\n"
"  set-status-keep DEV [--flags N] [--offset N] [--sizelimit N]  (get, modify, set)\n"
"  set-status-old-crypt DEV [TYPE] | set-status64-crypt DEV [TYPE]\n"
"                     (get, lo_encrypt_type = TYPE (default 1), set)\n"
"  get-status DEV | get-status-old DEV | clr-fd DEV | set-capacity DEV\n"
"  set-bs DEV N | set-dio DEV 0|1 | dev-raw DEV CMD ARG\n"
"  open PATH | open-ctl-as-user CTL | open-excl DEV (O_RDONLY|O_EXCL; with --hold)\n"
"  features PATH | info DEV\n"
"  blkpg-add DEV PARTNO START LENGTH | blkpg-del DEV PARTNO  (in 512-byte sectors)\n");
	exit(2);
}

static void setup_fail(const char *step, int e)
{
	printf("SETUP %s: %s\n", step, errname(e));
	exit(3);
}

static unsigned long long num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s[0] == '-')
		v = (unsigned long long)strtoll(s, &end, 0);
	else
		v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "alo-ioctl: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void drop_privs(void)
{
	if (setgroups(0, NULL) < 0)
		setup_fail("setgroups", errno);
	if (setresgid(NOBODY, NOBODY, NOBODY) < 0)
		setup_fail("setresgid", errno);
	if (setresuid(NOBODY, NOBODY, NOBODY) < 0)
		setup_fail("setresuid", errno);
	if (geteuid() != NOBODY)
		setup_fail("drop privileges", EPERM);
}

/*
 * Open the device/control node.  Failing to open is the tested outcome
 * when privileges were dropped before (open-as-user), otherwise a setup
 * failure.
 */
static int open_node(const char *path)
{
	int fd;

	if (opt_open_as_user)
		drop_privs();
	fd = open(path, (opt_dev_ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		if (opt_open_as_user) {
			printf("%s\n", errname(errno));
			exit(0);
		}
		setup_fail("open device", errno);
	}
	return fd;
}

static void before_ioctl(void)
{
	if (opt_as_user && !opt_open_as_user)
		drop_privs();
}

static void done(void)
{
	if (opt_hold)
		sleep(opt_hold);
}

/* Report the outcome of the tested call: "OK [value]" or the errno name. */
static int report(long ret, int e, int show_value)
{
	if (ret < 0) {
		printf("%s\n", errname(e));
		return 0;
	}
	if (show_value)
		printf("OK %ld\n", ret);
	else
		printf("OK\n");
	return 0;
}

struct cfg_opts {
	int ro, open_ro, open_path, open_direct, have_flags;
	int set_dio;		/* -1: no LOOP_SET_DIRECT_IO after configure */
	int setfl_append;	/* F_SETFL O_APPEND on the backing fd after */
	unsigned long long flags, bs, offset, sizelimit;
	const char *name;
	int ext;		/* ALOOP_CONFIGURE (--queues, configure-ext-raw) */
	int ext_raw;		/* configure-ext-raw: --size, --reserved-nonzero */
	int ext_reserved;	/* set reserved[0] */
	unsigned long long queues, ext_size;
};

static int parse_cfg_opts(int argc, char **argv, int i, struct cfg_opts *o)
{
	o->set_dio = -1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--ro"))
			o->ro = 1;
		else if (!strcmp(argv[i], "--open-ro"))
			o->open_ro = 1;
		else if (!strcmp(argv[i], "--open-path"))
			o->open_path = 1;
		else if (!strcmp(argv[i], "--open-direct"))
			o->open_direct = 1;
		else if (!strcmp(argv[i], "--set-dio") && i + 1 < argc)
			o->set_dio = (int)num(argv[++i]);
		else if (!strcmp(argv[i], "--setfl-append"))
			o->setfl_append = 1;
		else if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			o->flags = num(argv[++i]), o->have_flags = 1;
		else if (!strcmp(argv[i], "--bs") && i + 1 < argc)
			o->bs = num(argv[++i]);
		else if (!strcmp(argv[i], "--offset") && i + 1 < argc)
			o->offset = num(argv[++i]);
		else if (!strcmp(argv[i], "--sizelimit") && i + 1 < argc)
			o->sizelimit = num(argv[++i]);
		else if (!strcmp(argv[i], "--name") && i + 1 < argc)
			o->name = argv[++i];
		else if (!strcmp(argv[i], "--queues") && i + 1 < argc)
			o->queues = num(argv[++i]), o->ext = 1;
		else if (o->ext_raw && !strcmp(argv[i], "--size") && i + 1 < argc)
			o->ext_size = num(argv[++i]);
		else if (o->ext_raw && !strcmp(argv[i], "--reserved-nonzero"))
			o->ext_reserved = 1;
		else
			usage();
	}
	return 0;
}

static int open_backing(const char *path, const struct cfg_opts *o)
{
	struct stat st;
	int flags = O_CLOEXEC;
	int fd;

	if (o->open_path)
		flags |= O_PATH;
	else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		flags |= O_RDONLY | O_DIRECTORY;
	else if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		flags |= O_RDWR | O_NONBLOCK;
	else
		flags |= o->open_ro ? O_RDONLY : O_RDWR;
	if (o->open_direct)
		flags |= O_DIRECT;
	fd = open(path, flags);
	if (fd < 0)
		setup_fail("open backing file", errno);
	return fd;
}

static void fill_info(struct loop_info64 *info, const struct cfg_opts *o,
		      const char *fallback_name)
{
	const char *name = o->name ? o->name : fallback_name;

	info->lo_offset = o->offset;
	info->lo_sizelimit = o->sizelimit;
	info->lo_flags = (unsigned)o->flags | (o->ro ? LO_FLAGS_READ_ONLY : 0);
	if (name)
		strncpy((char *)info->lo_file_name, name, LO_NAME_SIZE - 1);
}

/*
 * Steps after a successful LOOP_CONFIGURE, each reported on a line of its
 * own ("set_dio=OK", "setfl=EINVAL"): LOOP_SET_DIRECT_IO, then O_APPEND
 * on the backing fd.  F_SETFL changes the open file description, which
 * the driver shares, so it stays in effect after this process exits.
 */
static void after_configure(int dfd, int bfd, const struct cfg_opts *o)
{
	int fl;

	if (o->set_dio >= 0)
		printf("set_dio=%s\n",
		       ioctl(dfd, LOOP_SET_DIRECT_IO, (unsigned long)o->set_dio) < 0 ?
		       errname(errno) : "OK");
	if (o->setfl_append) {
		fl = fcntl(bfd, F_GETFL);
		printf("setfl=%s\n",
		       fl < 0 || fcntl(bfd, F_SETFL, fl | O_APPEND) < 0 ?
		       errname(errno) : "OK");
	}
}

static int do_configure(const char *dev, int backing_fd, const struct cfg_opts *o,
			const char *name)
{
	struct aloop_config ext;
	struct loop_config cfg;
	int dfd;
	long r;

	dfd = open_node(dev);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (__u32)backing_fd;
	cfg.block_size = (__u32)o->bs;
	fill_info(&cfg.info, o, name);
	if (o->ext) {
		memset(&ext, 0, sizeof(ext));
		ext.size = o->ext_size ? (__u32)o->ext_size : (__u32)sizeof(ext);
		ext.nr_queues = (__u32)o->queues;
		if (o->ext_reserved)
			ext.reserved[0] = 1;
		ext.config = cfg;
	}
	before_ioctl();
	if (o->ext)
		r = ioctl(dfd, ALOOP_CONFIGURE, &ext);
	else
		r = ioctl(dfd, LOOP_CONFIGURE, &cfg);
	report(r, errno, 0);
	if (r >= 0)
		after_configure(dfd, backing_fd, o);
	done();
	return 0;
}

static void print_status64(const struct loop_info64 *i)
{
	printf("number=%u\n", i->lo_number);
	printf("offset=%" PRIu64 "\n", (uint64_t)i->lo_offset);
	printf("sizelimit=%" PRIu64 "\n", (uint64_t)i->lo_sizelimit);
	printf("flags=%u\n", i->lo_flags);
	printf("device=%" PRIu64 "\n", (uint64_t)i->lo_device);
	printf("inode=%" PRIu64 "\n", (uint64_t)i->lo_inode);
	printf("rdevice=%" PRIu64 "\n", (uint64_t)i->lo_rdevice);
	printf("file=%.*s\n", LO_NAME_SIZE, (const char *)i->lo_file_name);
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		if (*c++)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--as-user"))
			opt_as_user = 1;
		else if (!strcmp(argv[i], "--open-as-user"))
			opt_open_as_user = 1;
		else if (!strcmp(argv[i], "--dev-ro"))
			opt_dev_ro = 1;
		else if (!strcmp(argv[i], "--hold") && i + 1 < argc)
			opt_hold = (unsigned)num(argv[++i]);
		else
			usage();
	}
	if (i >= argc)
		usage();
	cmd = argv[i++];
	argc -= i;
	argv += i;

	if (!strcmp(cmd, "ctl-add") || !strcmp(cmd, "ctl-remove")) {
		int fd;
		long r;

		if (argc != 2)
			usage();
		fd = open_node(argv[0]);
		before_ioctl();
		r = ioctl(fd, !strcmp(cmd, "ctl-add") ? LOOP_CTL_ADD : LOOP_CTL_REMOVE,
			  (long)num(argv[1]));
		report(r, errno, 1);
		done();
		return 0;
	}
	if (!strcmp(cmd, "ctl-get-free")) {
		int fd;
		long r;

		if (argc != 1)
			usage();
		fd = open_node(argv[0]);
		before_ioctl();
		r = ioctl(fd, LOOP_CTL_GET_FREE);
		report(r, errno, 1);
		done();
		return 0;
	}
	if (!strcmp(cmd, "ctl-attach-fd")) {
		/*
		 * ALOOP_CTL_ATTACH with ALOOP_ATTACH_FD: "OK index=N" and,
		 * on the returned fd, whether it is the device (rdev of
		 * /dev/aloopN), and a 4 KiB write + read back at 0 through it.
		 */
		struct aloop_attach a;
		struct stat st, sn;
		char node[64], buf[4096], back[4096];
		int ctl, bfd;
		long r;

		if (argc != 2)
			usage();
		ctl = open_node(argv[0]);
		bfd = open(argv[1], O_RDWR | O_CLOEXEC);
		if (bfd < 0)
			setup_fail("open backing file", errno);
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.flags = ALOOP_ATTACH_FD;
		a.fd = -1;
		a.config.fd = (unsigned int)bfd;
		before_ioctl();
		r = ioctl(ctl, ALOOP_CTL_ATTACH, &a);
		if (r < 0) {
			report(r, errno, 0);
			return 0;
		}
		printf("OK index=%u\nret=%ld\nfd=%d\n", a.index, r, a.fd);
		snprintf(node, sizeof(node), "/dev/aloop%u", a.index);
		printf("is_device=%d\n", fstat(a.fd, &st) == 0 &&
		       S_ISBLK(st.st_mode) && stat(node, &sn) == 0 &&
		       st.st_rdev == sn.st_rdev);
		printf("cloexec=%d\n", (fcntl(a.fd, F_GETFD) & FD_CLOEXEC) != 0);
		memset(buf, 0x5a, sizeof(buf));
		printf("fd_flags=0x%x\n", fcntl(a.fd, F_GETFL));
		if (pwrite(a.fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			printf("rw=0\nrw_err=pwrite %s\n", errname(errno));
		else if (fsync(a.fd))
			printf("rw=0\nrw_err=fsync %s\n", errname(errno));
		else if (pread(a.fd, back, sizeof(back), 0) != (ssize_t)sizeof(back))
			printf("rw=0\nrw_err=pread %s\n", errname(errno));
		else
			printf("rw=%d\n", !memcmp(buf, back, sizeof(buf)));
		done();
		return 0;
	}
	if (!strcmp(cmd, "ctl-raw") || !strcmp(cmd, "dev-raw")) {
		int fd;
		long r;

		if (argc != 3)
			usage();
		fd = open_node(argv[0]);
		before_ioctl();
		r = ioctl(fd, (unsigned long)num(argv[1]), (unsigned long)num(argv[2]));
		report(r, errno, 1);
		done();
		return 0;
	}
	if (!strcmp(cmd, "blkpg-add") || !strcmp(cmd, "blkpg-del")) {
		/* what addpart/delpart do (trixie's util-linux dropped them) */
		struct blkpg_partition part;
		struct blkpg_ioctl_arg arg;
		int add = !strcmp(cmd, "blkpg-add");
		int fd;
		long r;

		if (argc != (add ? 4 : 2))
			usage();
		memset(&part, 0, sizeof(part));
		part.pno = (int)num(argv[1]);
		if (add) {
			part.start = num(argv[2]) * 512;
			part.length = num(argv[3]) * 512;
		}
		memset(&arg, 0, sizeof(arg));
		arg.op = add ? BLKPG_ADD_PARTITION : BLKPG_DEL_PARTITION;
		arg.datalen = sizeof(part);
		arg.data = &part;
		fd = open_node(argv[0]);
		before_ioctl();
		r = ioctl(fd, BLKPG, &arg);
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "open-excl")) {
		/* an exclusive opener, as a mounted filesystem; --hold keeps it */
		int fd;

		if (argc != 1)
			usage();
		fd = open(argv[0], O_RDONLY | O_EXCL | O_CLOEXEC);
		report(fd, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "open") || !strcmp(cmd, "open-ctl-as-user")) {
		int fd;

		if (argc != 1)
			usage();
		if (!strcmp(cmd, "open-ctl-as-user") || opt_open_as_user)
			drop_privs();
		fd = open(argv[0], (opt_dev_ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		report(fd, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "configure") || !strcmp(cmd, "configure-dir") ||
	    !strcmp(cmd, "configure-as-user") || !strcmp(cmd, "configure-ext-raw")) {
		struct cfg_opts o = { 0 };
		int bfd;

		if (argc < 2)
			usage();
		if (!strcmp(cmd, "configure-ext-raw"))
			o.ext = o.ext_raw = 1;
		parse_cfg_opts(argc, argv, 2, &o);
		bfd = open_backing(argv[1], &o);
		if (!strcmp(cmd, "configure-as-user"))
			opt_open_as_user = 1;
		return do_configure(argv[0], bfd, &o, argv[1]);
	}
	if (!strcmp(cmd, "configure-self")) {
		struct cfg_opts o = { 0 };
		struct loop_config cfg;
		int dfd;
		long r;

		if (argc < 1)
			usage();
		parse_cfg_opts(argc, argv, 1, &o);
		dfd = open_node(argv[0]);
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (__u32)dfd;
		cfg.block_size = (__u32)o.bs;
		fill_info(&cfg.info, &o, argv[0]);
		before_ioctl();
		r = ioctl(dfd, LOOP_CONFIGURE, &cfg);
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "configure-badfd")) {
		struct cfg_opts o = { 0 };
		int bad = -1, j = 1;

		if (argc < 1)
			usage();
		if (argc >= 2 && argv[1][0] != '-' ) {
			if (strcmp(argv[1], "closed"))
				usage();
			bad = open("/dev/null", O_RDONLY);
			if (bad < 0)
				setup_fail("open /dev/null", errno);
			close(bad);	/* now certainly a closed descriptor */
			j = 2;
		} else if (argc >= 2 && !strcmp(argv[1], "-1")) {
			j = 2;
		}
		parse_cfg_opts(argc, argv, j, &o);
		return do_configure(argv[0], bad, &o, "badfd");
	}
	if (!strcmp(cmd, "set-fd") || !strcmp(cmd, "change-fd") ||
	    !strcmp(cmd, "set-fd-self") || !strcmp(cmd, "set-fd-badfd")) {
		struct cfg_opts o = { 0 };
		int dfd, bfd;
		long r;

		if (argc < 1)
			usage();
		if (!strcmp(cmd, "set-fd") || !strcmp(cmd, "change-fd")) {
			if (argc < 2)
				usage();
			parse_cfg_opts(argc, argv, 2, &o);
			bfd = open_backing(argv[1], &o);
			dfd = open_node(argv[0]);
		} else {
			dfd = open_node(argv[0]);
			bfd = !strcmp(cmd, "set-fd-self") ? dfd : -1;
		}
		before_ioctl();
		r = ioctl(dfd, !strcmp(cmd, "change-fd") ? LOOP_CHANGE_FD : LOOP_SET_FD,
			  (long)bfd);
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "set-status") || !strcmp(cmd, "set-status-keep")) {
		struct cfg_opts o = { 0 };
		struct loop_info64 info;
		int dfd;
		long r;

		if (argc < 1)
			usage();
		parse_cfg_opts(argc, argv, 1, &o);
		dfd = open_node(argv[0]);
		memset(&info, 0, sizeof(info));
		if (!strcmp(cmd, "set-status-keep")) {
			struct cfg_opts cur = { 0 };

			if (ioctl(dfd, LOOP_GET_STATUS64, &info) < 0)
				setup_fail("LOOP_GET_STATUS64", errno);
			cur.offset = o.offset ? o.offset : info.lo_offset;
			cur.sizelimit = o.sizelimit ? o.sizelimit : info.lo_sizelimit;
			cur.flags = o.have_flags ? o.flags : info.lo_flags;
			cur.name = o.name;
			o = cur;
			info.lo_offset = o.offset;
			info.lo_sizelimit = o.sizelimit;
			info.lo_flags = (unsigned)o.flags;
			if (o.name)
				strncpy((char *)info.lo_file_name, o.name, LO_NAME_SIZE - 1);
		} else {
			fill_info(&info, &o, NULL);
		}
		before_ioctl();
		r = ioctl(dfd, LOOP_SET_STATUS64, &info);
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "set-status-old-crypt")) {
		/* old LOOP_SET_STATUS ignores the encryption fields (as loop) */
		struct loop_info info;
		int dfd;
		long r;

		if (argc < 1 || argc > 2)
			usage();
		dfd = open_node(argv[0]);
		memset(&info, 0, sizeof(info));
		if (ioctl(dfd, LOOP_GET_STATUS, &info) < 0)
			setup_fail("LOOP_GET_STATUS", errno);
		info.lo_encrypt_type = argc == 2 ? (int)num(argv[1]) : 1;
		before_ioctl();
		r = ioctl(dfd, LOOP_SET_STATUS, &info);
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "set-status64-crypt")) {
		struct loop_info64 info;
		int dfd;
		long r;

		if (argc < 1 || argc > 2)
			usage();
		dfd = open_node(argv[0]);
		memset(&info, 0, sizeof(info));
		if (ioctl(dfd, LOOP_GET_STATUS64, &info) < 0)
			setup_fail("LOOP_GET_STATUS64", errno);
		info.lo_encrypt_type = argc == 2 ? (unsigned)num(argv[1]) : 1;
		before_ioctl();
		r = ioctl(dfd, LOOP_SET_STATUS64, &info);
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "get-status")) {
		struct loop_info64 info;
		int dfd;
		long r;

		if (argc != 1)
			usage();
		dfd = open_node(argv[0]);
		memset(&info, 0, sizeof(info));
		before_ioctl();
		r = ioctl(dfd, LOOP_GET_STATUS64, &info);
		report(r, errno, 0);
		if (r >= 0)
			print_status64(&info);
		done();
		return 0;
	}
	if (!strcmp(cmd, "get-status-old")) {
		struct loop_info info;
		int dfd;
		long r;

		if (argc != 1)
			usage();
		dfd = open_node(argv[0]);
		memset(&info, 0, sizeof(info));
		before_ioctl();
		r = ioctl(dfd, LOOP_GET_STATUS, &info);
		report(r, errno, 0);
		if (r >= 0) {
			printf("number=%d\n", info.lo_number);
			printf("offset=%d\n", info.lo_offset);
			printf("flags=%d\n", info.lo_flags);
			printf("file=%.*s\n", LO_NAME_SIZE, info.lo_name);
		}
		done();
		return 0;
	}
	if (!strcmp(cmd, "clr-fd") || !strcmp(cmd, "set-capacity")) {
		int dfd;
		long r;

		if (argc != 1)
			usage();
		dfd = open_node(argv[0]);
		before_ioctl();
		r = ioctl(dfd, !strcmp(cmd, "clr-fd") ? LOOP_CLR_FD : LOOP_SET_CAPACITY, 0);
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "set-bs") || !strcmp(cmd, "set-dio")) {
		int dfd;
		long r;

		if (argc != 2)
			usage();
		dfd = open_node(argv[0]);
		before_ioctl();
		r = ioctl(dfd, !strcmp(cmd, "set-bs") ? LOOP_SET_BLOCK_SIZE : LOOP_SET_DIRECT_IO,
			  (unsigned long)num(argv[1]));
		report(r, errno, 0);
		done();
		return 0;
	}
	if (!strcmp(cmd, "features")) {
		struct aloop_features f;
		int fd;
		long r;

		if (argc != 1)
			usage();
		fd = open_node(argv[0]);
		memset(&f, 0, sizeof(f));
		f.size = sizeof(f);
		before_ioctl();
		r = ioctl(fd, ALOOP_GET_FEATURES, &f);
		report(r, errno, 0);
		if (r >= 0) {
			printf("size=%u\n", f.size);
			printf("version=%u\n", f.version);
			printf("features=%" PRIu64 "\n", (uint64_t)f.features);
			printf("feat_all=%" PRIu64 "\n", (uint64_t)ALOOP_FEAT_ALL);
			printf("abi_version=%u\n", (unsigned)ALOOP_ABI_VERSION);
			printf("reserved_zero=%d\n", all_zero(f.reserved, sizeof(f.reserved)));
		}
		done();
		return 0;
	}
	if (!strcmp(cmd, "info")) {
		struct aloop_info in;
		int fd;
		long r;

		if (argc != 1)
			usage();
		fd = open_node(argv[0]);
		memset(&in, 0, sizeof(in));
		in.size = sizeof(in);
		before_ioctl();
		r = ioctl(fd, ALOOP_GET_INFO, &in);
		report(r, errno, 0);
		if (r >= 0) {
			printf("size=%u\n", in.size);
			printf("number=%u\n", in.number);
			printf("state=%u\n", in.state);
			printf("flags=%u\n", in.flags);
			printf("offset=%" PRIu64 "\n", (uint64_t)in.offset);
			printf("sizelimit=%" PRIu64 "\n", (uint64_t)in.sizelimit);
			printf("size_bytes=%" PRIu64 "\n", (uint64_t)in.size_bytes);
			printf("block_size=%u\n", in.block_size);
			printf("dio=%u\n", in.dio);
			printf("reqs_dio=%" PRIu64 "\n", (uint64_t)in.reqs_dio);
			printf("reqs_buffered=%" PRIu64 "\n", (uint64_t)in.reqs_buffered);
			printf("reqs_fallback=%" PRIu64 "\n", (uint64_t)in.reqs_fallback);
			printf("errors=%" PRIu64 "\n", (uint64_t)in.errors);
			printf("nr_queues=%u\n", in.nr_queues);
			printf("reqs_cgroup=%" PRIu64 "\n", (uint64_t)in.reqs_cgroup);
			printf("wakeups=%" PRIu64 "\n", (uint64_t)in.wakeups);
			printf("reqs_nowait=%" PRIu64 "\n", (uint64_t)in.reqs_nowait);
			printf("reqs_worker=%" PRIu64 "\n", (uint64_t)in.reqs_worker);
			printf("nowait_again=%" PRIu64 "\n", (uint64_t)in.nowait_again);
			printf("batches=%" PRIu64 "\n", (uint64_t)in.batches);
			printf("reqs_helper=%" PRIu64 "\n", (uint64_t)in.reqs_helper);
			printf("reserved_zero=%d\n", in.reserved32 == 0);
			printf("dio_reason=%.*s\n", ALOOP_REASON_SIZE, in.dio_reason);
			printf("backing_file=%.*s\n", ALOOP_NAME_SIZE, in.backing_file);
		}
		done();
		return 0;
	}
	usage();
	return 2;
}
