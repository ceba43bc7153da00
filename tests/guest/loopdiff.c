// SPDX-License-Identifier: GPL-2.0
/*
 * loopdiff: differential test of the loop ioctl ABI.
 *
 *   loopdiff REF_CTL DUT_CTL DIR [REF_INDEX DUT_INDEX]
 *   loopdiff --record FILE CTL DIR [INDEX [LABEL]]
 *   loopdiff --compare FILE CTL DIR [INDEX [LABEL]]
 *   loopdiff --steps
 *
 * Runs the same sequence of ioctls against two drivers on the same kernel
 * - normally the stock loop driver (REF_CTL=/dev/loop-control, devices
 * /dev/loopN) and aloop (DUT_CTL=/dev/aloop-control, devices /dev/aloopN)
 * - and compares every return value and errno.  The device node prefix is
 * the control node's path without "-control".  Each driver gets its own
 * backing files under DIR/ref and DIR/dut (identical contents) and its own
 * device, index REF_INDEX / DUT_INDEX (default 150 for both), which must
 * not be in use by anyone else: whatever is there is detached and removed
 * first.  DIR should be on a filesystem that supports O_DIRECT.
 *
 * Output is KTAP, one result per step, always all of them:
 *   ok 5 - LOOP_CTL_GET_FREE: loop=OK aloop=OK
 *   not ok 9 - LOOP_CLR_FD on an unbound device: loop=ENXIO aloop=EINVAL
 * A result is "ok" when both drivers gave the same outcome (errno names,
 * plus the state read back after the call: sizes, flags, ...).  When both
 * agree but differ from what the step expects from stock loop, a "# note"
 * line follows (stock loop is the reference, not the expectation).
 * Exit status: 0 when every step agreed, 1 otherwise, 2 on usage errors.
 *
 * --record and --compare split a run in two, for two drivers that cannot
 * be loaded at the same time (aloop with loop_compat=1 takes stock loop's
 * major and /dev/loop-control): --record runs the steps on CTL alone, in
 * DIR/ref, and writes each outcome to FILE ("#" lines on stdout; exit 1
 * when a step could not be set up); --compare, after the drivers were
 * swapped, runs them on CTL in DIR/dut and compares each with FILE, with
 * the output above.  LABEL, one word, names the driver in the output
 * (default: CTL's name without "-control"; the recorded one's is in
 * FILE).  FILE is a line "loopdiff-record STEPS BITS LABEL", then
 * "N OUTCOME" per step; a file of another build (steps, 32/64-bit) is
 * refused.
 *
 * The module under test should be loaded with dio=0 (aloop): stock loop
 * only uses direct I/O when asked, so that LO_FLAGS_DIRECT_IO can be
 * compared exactly.
 *
 * Built by make tools and run in the guest by tests/guest/80-differential.sh
 * (and with --record/--compare by 87-dropin-diff.sh), also as a 32-bit
 * program (gcc -m32) to exercise the compat_ioctl paths, including the
 * old LOOP_SET_STATUS / LOOP_GET_STATUS with struct loop_info.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/loop.h>

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE		0x4C0A
struct loop_config {
	__u32			fd;
	__u32			block_size;
	struct loop_info64	info;
	__u64			__reserved[8];
};
#endif

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define MiB			(1024 * 1024)
#define SIZE_MAIN		(4 * MiB)	/* grown to 8 MiB later */
#define SIZE_GROWN		(8 * MiB)
#define SIZE_DIFF		(2 * MiB)
#define RES_LEN			256

/* Ioctl numbers nobody defines: _IO('L', 0x7F) and _IO('L', 0x83). */
#define UNKNOWN_DEV_IOCTL	0x4C7F
#define UNKNOWN_CTL_IOCTL	0x4C83
/* An unknown number outside the loop magic: _IO('Z', 0x42). */
#define FOREIGN_IOCTL		0x5A42

struct side {
	const char	*label;		/* "loop" / "aloop" in the output */
	const char	*ctl;
	char		prefix[PATH_MAX];	/* "/dev/loop" */
	int		idx;
	char		dev[PATH_MAX + 16];
	char		dir[PATH_MAX];
	char		f_main[PATH_MAX + 16];	/* 4 MiB, grown to 8 MiB */
	char		f_same[PATH_MAX + 16];	/* 8 MiB: LOOP_CHANGE_FD target */
	char		f_diff[PATH_MAX + 16];	/* 2 MiB: wrong size */
	char		d_dir[PATH_MAX + 16];	/* a directory */
	int		ctlfd;
	int		devfd;
	char		setup_err[RES_LEN];
};

/* ---------------------------------------------------------------- */

static const char *ename(int e)
{
	static char buf[16];

	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EOVERFLOW: return "EOVERFLOW";
	}
	snprintf(buf, sizeof(buf), "E#%d", e);
	return buf;
}

/* Append ",fmt" (or "fmt" at the start) to a result. */
__attribute__((format(printf, 2, 3)))
static void add(char *r, const char *fmt, ...)
{
	size_t n = strlen(r);
	va_list ap;

	if (n && n < RES_LEN - 1)
		r[n++] = ',', r[n] = '\0';
	va_start(ap, fmt);
	vsnprintf(r + n, RES_LEN - n, fmt, ap);
	va_end(ap);
}

/* The outcome of a call: "OK" or the errno name. */
static void add_rc(char *r, long ret, int e)
{
	if (ret < 0)
		add(r, "%s", ename(e));
	else if (ret == 0)
		add(r, "OK");
	else
		add(r, "OK=%ld", ret);
}

/* "OK" or the errno name, as a string (for "key=value" parts) */
static const char *rcs(long ret, int e)
{
	return ret < 0 ? ename(e) : "OK";
}

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Wait up to @ms for @path to exist (@want 1) or be gone (@want 0). */
static int wait_node(const char *path, int want, unsigned int ms)
{
	unsigned int t;

	for (t = 0; ; t += 10) {
		if (exists(path) == want)
			return 1;
		if (t >= ms)
			return 0;
		msleep(10);
	}
}

static int open_dev(struct side *s, int flags)
{
	unsigned int t;
	int fd;

	/* A device in rundown may refuse opens for a moment (ENXIO). */
	for (t = 0; ; t += 10) {
		fd = open(s->dev, flags | O_CLOEXEC);
		if (fd >= 0 || (errno != ENXIO && errno != ENOENT) || t >= 3000)
			return fd;
		msleep(10);
	}
}

static void close_dev(struct side *s)
{
	if (s->devfd >= 0)
		close(s->devfd);
	s->devfd = -1;
}

/* Make sure s->devfd is open (reopen after a step closed it). */
static int ensure_dev(struct side *s)
{
	if (s->devfd < 0)
		s->devfd = open_dev(s, O_RDWR);
	return s->devfd;
}

/*
 * Bound (1), unbound (0) or unknown (-1), through a fresh read-only open
 * (read-only: a udevd watching the device would rescan it after a close
 * of a writable fd).
 */
static int bound_state(struct side *s)
{
	struct loop_info64 info;
	int fd = open_dev(s, O_RDONLY), ret;

	if (fd < 0)
		return -1;
	ret = ioctl(fd, LOOP_GET_STATUS64, &info);
	ret = ret == 0 ? 1 : errno == ENXIO ? 0 : -1;
	close(fd);
	return ret;
}

/* Wait up to 5 s for the device to become unbound; 1 when it did. */
static int wait_unbound(struct side *s)
{
	int t;

	for (t = 0; t < 500; t++) {
		if (bound_state(s) == 0)
			return 1;
		msleep(10);
	}
	return 0;
}

static void add_size(char *r, int fd)
{
	unsigned long long sz = 0;

	if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
		add(r, "size=%s", ename(errno));
	else
		add(r, "size=%llu", sz);
}

static void add_lbs(char *r, int fd)
{
	int ssz = 0;

	if (ioctl(fd, BLKSSZGET, &ssz) < 0)
		add(r, "lbs=%s", ename(errno));
	else
		add(r, "lbs=%d", ssz);
}

static void add_ro(char *r, int fd)
{
	int ro = 0;

	if (ioctl(fd, BLKROGET, &ro) < 0)
		add(r, "ro=%s", ename(errno));
	else
		add(r, "ro=%d", ro);
}

/* offset, sizelimit and flags as GET_STATUS64 reports them */
static void add_status(char *r, int fd)
{
	struct loop_info64 info;

	memset(&info, 0, sizeof(info));
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0) {
		add(r, "status=%s", ename(errno));
		return;
	}
	add(r, "offset=%llu", (unsigned long long)info.lo_offset);
	add(r, "sizelimit=%llu", (unsigned long long)info.lo_sizelimit);
	add(r, "flags=0x%x", info.lo_flags);
}

static int write_file(const char *path, size_t size, unsigned char seed)
{
	static unsigned char buf[65536];
	size_t done = 0, i;
	int fd;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + seed + (i >> 9));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (done < size) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);
		ssize_t w = write(fd, buf, n);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += w;
	}
	if (fsync(fd) || close(fd))
		return -1;
	return 0;
}

/* Detach and remove the device with index @idx, if it exists. */
static void scrub(struct side *s, int idx)
{
	char path[PATH_MAX + 16];
	int fd, t;

	snprintf(path, sizeof(path), "%s%d", s->prefix, idx);
	if (!exists(path))
		return;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		ioctl(fd, LOOP_CLR_FD, 0);
		close(fd);
	}
	for (t = 0; t < 200; t++) {
		if (ioctl(s->ctlfd, LOOP_CTL_REMOVE, (unsigned long)idx) == 0 ||
		    errno == ENODEV)
			break;
		msleep(10);
	}
	wait_node(path, 0, 2000);
}

/* Set up side @s: @ctl, its device @idx, backing files in @dir/@sub. */
static int setup_side(struct side *s, const char *ctl, const char *label,
		      const char *dir, const char *sub, int idx)
{
	const char *base;
	size_t n;

	s->label = label;
	s->ctl = ctl;
	s->idx = idx;
	s->devfd = -1;
	base = strrchr(ctl, '/');
	base = base ? base + 1 : ctl;
	n = strlen(ctl);
	if (n < 8 || strcmp(ctl + n - 8, "-control")) {
		snprintf(s->setup_err, RES_LEN, "%s: does not end in -control", ctl);
		return -1;
	}
	snprintf(s->prefix, sizeof(s->prefix), "%.*s", (int)(n - 8), ctl);
	if (!s->label)
		s->label = strndup(base, strlen(base) - 8);
	snprintf(s->dev, sizeof(s->dev), "%s%d", s->prefix, idx);
	snprintf(s->dir, sizeof(s->dir), "%s/%s", dir, sub);
	snprintf(s->f_main, sizeof(s->f_main), "%s/main.img", s->dir);
	snprintf(s->f_same, sizeof(s->f_same), "%s/same.img", s->dir);
	snprintf(s->f_diff, sizeof(s->f_diff), "%s/diff.img", s->dir);
	snprintf(s->d_dir, sizeof(s->d_dir), "%s/dir", s->dir);

	s->ctlfd = open(ctl, O_RDWR | O_CLOEXEC);
	if (s->ctlfd < 0) {
		snprintf(s->setup_err, RES_LEN, "open %s: %s", ctl, strerror(errno));
		return -1;
	}
	if ((mkdir(s->dir, 0755) && errno != EEXIST) ||
	    (mkdir(s->d_dir, 0755) && errno != EEXIST) ||
	    write_file(s->f_main, SIZE_MAIN, 1) ||
	    write_file(s->f_same, SIZE_GROWN, 2) ||
	    write_file(s->f_diff, SIZE_DIFF, 3)) {
		snprintf(s->setup_err, RES_LEN, "backing files in %.160s: %s",
			 s->dir, strerror(errno));
		return -1;
	}
	scrub(s, idx);
	scrub(s, idx + 1);
	if (exists(s->dev)) {
		snprintf(s->setup_err, RES_LEN, "%.160s exists and cannot be removed", s->dev);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- */

static int open_file(const char *path, int flags)
{
	return open(path, flags | O_CLOEXEC);
}

static void cfg_init(struct loop_config *c, int fd, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->fd = (__u32)fd;
	if (name)
		snprintf((char *)c->info.lo_file_name, LO_NAME_SIZE, "%s", name);
}

/* LOOP_CONFIGURE with @c (its fd set by the caller), result into @r. */
static void configure(char *r, struct side *s, struct loop_config *c)
{
	long ret = ioctl(s->devfd, LOOP_CONFIGURE, c);

	add_rc(r, ret, errno);
}

/* LOOP_CONFIGURE with a fresh fd of @path (opened @flags) and @bs, @lo_flags. */
static void configure_file(char *r, struct side *s, const char *path,
			   int flags, unsigned int bs, unsigned int lo_flags,
			   unsigned long long offset, unsigned int crypt)
{
	struct loop_config c;
	int fd = open_file(path, flags);

	if (fd < 0) {
		add(r, "SETUP-open:%s", ename(errno));
		return;
	}
	cfg_init(&c, fd, "loopdiff");
	c.block_size = bs;
	c.info.lo_flags = lo_flags;
	c.info.lo_offset = offset;
	c.info.lo_encrypt_type = crypt;
	configure(r, s, &c);
	close(fd);
}

#define KEEP	(~0ULL)

/*
 * LOOP_GET_STATUS64, change what is asked (@off/@lim unless KEEP, @crypt
 * and @keysize unless 0, @flags unless -1), LOOP_SET_STATUS64.
 */
static void set_status_mod(char *r, struct side *s, unsigned long long off,
			   unsigned long long lim, unsigned int crypt,
			   unsigned int keysize, int flags)
{
	struct loop_info64 info;
	long ret;

	memset(&info, 0, sizeof(info));
	if (ioctl(s->devfd, LOOP_GET_STATUS64, &info) < 0) {
		add(r, "SETUP-get:%s", ename(errno));
		return;
	}
	if (off != ~0ULL)
		info.lo_offset = off;
	if (lim != ~0ULL)
		info.lo_sizelimit = lim;
	if (crypt)
		info.lo_encrypt_type = crypt;
	if (keysize)
		info.lo_encrypt_key_size = keysize;
	if (flags >= 0)
		info.lo_flags = flags;
	ret = ioctl(s->devfd, LOOP_SET_STATUS64, &info);
	add_rc(r, ret, errno);
}

enum {
	S_CTL_ADD, S_CTL_ADD_AGAIN, S_CTL_REMOVE_ABSENT, S_CTL_REMOVE_NEG,
	S_CTL_GET_FREE, S_CTL_UNKNOWN, S_OPEN,
	S_U_GET64, S_U_GET, S_U_CLR, S_U_SET64, S_U_CAP, S_U_BS, S_U_DIO,
	S_U_CHANGE,
	S_C_BADFD, S_C_DIR, S_C_SELF, S_C_FLAGS, S_C_BS1000, S_C_BS256,
	S_C_BS8192, S_C_OVERFLOW, S_C_CRYPT, S_C_NULL, S_C_STILL_UNBOUND,
	S_C_OK, S_C_BUSY, S_SETFD_BUSY, S_GET64, S_GET64_NULL,
	S_SET64_RESIZE, S_SET64_OFF_OVF, S_SET64_LIM_OVF, S_SET64_CRYPT,
	S_SET64_KEYSIZE, S_SET64_FLAGS, S_SET64_UNFLAG, S_SET64_PARTSCAN,
	S_SET64_UNPARTSCAN, S_SET_OLD, S_GET_OLD, S_GET_OLD_OVF,
	S_SET64_RESET, S_CAPACITY, S_BS4096, S_ODD_LIMIT, S_BS1000, S_BS256,
	S_BS8192, S_BS512, S_DIO_ON, S_DIO_OFF, S_DIO_UNALIGNED, S_CHANGE_RW, S_DEV_UNKNOWN,
	S_DEV_FOREIGN, S_DATA, S_REMOVE_BOUND, S_CLR, S_REMOVE_OPEN,
	S_AUTOCLEAR, S_C_RO, S_WRITE_RO, S_CHANGE_SAME, S_CHANGE_DIFF,
	S_CHANGE_SELF, S_CHANGE_BADFD, S_CLR_REMOVE, S_REMOVE_GONE,
	S_COUNT
};

static const struct {
	const char *desc;
	const char *expect;	/* what stock loop is expected to answer */
} steps[S_COUNT] = {
	[S_CTL_ADD] = { "LOOP_CTL_ADD n", "OK" },
	[S_CTL_ADD_AGAIN] = { "LOOP_CTL_ADD n again", "EEXIST" },
	[S_CTL_REMOVE_ABSENT] = { "LOOP_CTL_REMOVE of an absent index", "ENODEV" },
	[S_CTL_REMOVE_NEG] = { "LOOP_CTL_REMOVE -1", "EINVAL" },
	[S_CTL_GET_FREE] = { "LOOP_CTL_GET_FREE", "OK" },
	[S_CTL_UNKNOWN] = { "unknown ioctl 0x4C83 on the control device", "ENOSYS" },
	[S_OPEN] = { "open device n read-write", "OK" },
	[S_U_GET64] = { "unbound: LOOP_GET_STATUS64", "ENXIO" },
	[S_U_GET] = { "unbound: LOOP_GET_STATUS (old)", "ENXIO" },
	[S_U_CLR] = { "unbound: LOOP_CLR_FD", "ENXIO" },
	[S_U_SET64] = { "unbound: LOOP_SET_STATUS64", "ENXIO" },
	[S_U_CAP] = { "unbound: LOOP_SET_CAPACITY", "ENXIO" },
	[S_U_BS] = { "unbound: LOOP_SET_BLOCK_SIZE 4096", "ENXIO" },
	[S_U_DIO] = { "unbound: LOOP_SET_DIRECT_IO 1", "ENXIO" },
	[S_U_CHANGE] = { "unbound: LOOP_CHANGE_FD", "ENXIO" },
	[S_C_BADFD] = { "LOOP_CONFIGURE with fd -1", "EBADF" },
	[S_C_DIR] = { "LOOP_CONFIGURE with the fd of a directory", "EINVAL" },
	[S_C_SELF] = { "LOOP_CONFIGURE with the fd of the device itself", "EBADF" },
	[S_C_FLAGS] = { "LOOP_CONFIGURE with unknown lo_flags 0x100", "EINVAL" },
	[S_C_BS1000] = { "LOOP_CONFIGURE block size 1000", "EINVAL" },
	[S_C_BS256] = { "LOOP_CONFIGURE block size 256", "EINVAL" },
	[S_C_BS8192] = { "LOOP_CONFIGURE block size 8192 (above PAGE_SIZE)", "EINVAL" },
	[S_C_OVERFLOW] = { "LOOP_CONFIGURE lo_offset above LLONG_MAX", "EOVERFLOW" },
	[S_C_CRYPT] = { "LOOP_CONFIGURE lo_encrypt_type LO_CRYPT_XOR", "EINVAL" },
	[S_C_NULL] = { "LOOP_CONFIGURE with a NULL pointer", "EFAULT" },
	[S_C_STILL_UNBOUND] = { "device still unbound after the failed LOOP_CONFIGUREs", "ENXIO" },
	[S_C_OK] = { "LOOP_CONFIGURE a 4 MiB file read-write", "OK" },
	[S_C_BUSY] = { "LOOP_CONFIGURE on a bound device", "EBUSY" },
	[S_SETFD_BUSY] = { "LOOP_SET_FD on a bound device", "EBUSY" },
	[S_GET64] = { "LOOP_GET_STATUS64 fields (flags exact: aloop has dio=0)", "OK" },
	[S_GET64_NULL] = { "LOOP_GET_STATUS64 with a NULL pointer", "EINVAL" },
	[S_SET64_RESIZE] = { "LOOP_SET_STATUS64 offset 4096 sizelimit 1 MiB (resize)", "OK" },
	[S_SET64_OFF_OVF] = { "LOOP_SET_STATUS64 lo_offset above LLONG_MAX", "EOVERFLOW" },
	[S_SET64_LIM_OVF] = { "LOOP_SET_STATUS64 lo_sizelimit above LLONG_MAX", "EOVERFLOW" },
	[S_SET64_CRYPT] = { "LOOP_SET_STATUS64 lo_encrypt_type LO_CRYPT_XOR", "EINVAL" },
	[S_SET64_KEYSIZE] = { "LOOP_SET_STATUS64 lo_encrypt_key_size 33", "EINVAL" },
	[S_SET64_FLAGS] = { "LOOP_SET_STATUS64 flags AUTOCLEAR|READ_ONLY (only AUTOCLEAR settable)", "OK" },
	[S_SET64_UNFLAG] = { "LOOP_SET_STATUS64 flags 0 (AUTOCLEAR cleared)", "OK" },
	[S_SET64_PARTSCAN] = { "LOOP_SET_STATUS64 flags PARTSCAN (settable)", "OK" },
	[S_SET64_UNPARTSCAN] = { "LOOP_SET_STATUS64 flags 0 (PARTSCAN not clearable)", "OK" },
	[S_SET_OLD] = { "LOOP_SET_STATUS (old struct loop_info) offset 8192", "OK" },
	[S_GET_OLD] = { "LOOP_GET_STATUS (old struct loop_info) fields", "OK" },
	[S_GET_OLD_OVF] = { "LOOP_GET_STATUS (old) with lo_offset 3 GiB (does not fit an int)", "set=OK,get=EOVERFLOW" },
	[S_SET64_RESET] = { "LOOP_SET_STATUS64 offset 0 sizelimit 0", "OK" },
	[S_CAPACITY] = { "LOOP_SET_CAPACITY after growing the file to 8 MiB", "before" },
	[S_BS4096] = { "LOOP_SET_BLOCK_SIZE 4096", "OK" },
	[S_ODD_LIMIT] = { "LOOP_SET_STATUS64 sizelimit 5000 with block size 4096, then 0", "OK" },
	[S_BS1000] = { "LOOP_SET_BLOCK_SIZE 1000", "EINVAL" },
	[S_BS256] = { "LOOP_SET_BLOCK_SIZE 256", "EINVAL" },
	[S_BS8192] = { "LOOP_SET_BLOCK_SIZE 8192 (above PAGE_SIZE)", "EINVAL" },
	[S_BS512] = { "LOOP_SET_BLOCK_SIZE 512", "OK" },
	[S_DIO_ON] = { "LOOP_SET_DIRECT_IO 1", "OK" },
	[S_DIO_OFF] = { "LOOP_SET_DIRECT_IO 0", "OK" },
	[S_DIO_UNALIGNED] = { "LOOP_SET_DIRECT_IO 1 with lo_offset 256 (unaligned), then offset 0", "set=OK,dio=EINVAL" },
	[S_CHANGE_RW] = { "LOOP_CHANGE_FD on a read-write device", "EINVAL" },
	[S_DEV_UNKNOWN] = { "unknown ioctl 0x4C7F on the device", NULL },
	[S_DEV_FOREIGN] = { "unknown ioctl 0x5A42 on the device", NULL },
	[S_DATA] = { "write 4 KiB through the device, read it back and from the file", "OK" },
	[S_REMOVE_BOUND] = { "LOOP_CTL_REMOVE of a bound device (closed)", "EBUSY" },
	[S_CLR] = { "LOOP_CLR_FD, close: device unbound", "OK" },
	[S_REMOVE_OPEN] = { "LOOP_CTL_REMOVE of an unbound but open device", "EBUSY" },
	[S_AUTOCLEAR] = { "LOOP_CONFIGURE LO_FLAGS_AUTOCLEAR, last close detaches", "OK" },
	[S_C_RO] = { "LOOP_CONFIGURE with a read-only fd, block size 4096", "OK" },
	[S_WRITE_RO] = { "write to the read-only device", "EPERM" },
	[S_CHANGE_SAME] = { "LOOP_CHANGE_FD on a read-only device, same-size file", "OK" },
	[S_CHANGE_DIFF] = { "LOOP_CHANGE_FD to a file of another size", "EINVAL" },
	[S_CHANGE_SELF] = { "LOOP_CHANGE_FD to the device itself", "EBADF" },
	[S_CHANGE_BADFD] = { "LOOP_CHANGE_FD with fd -1", "EBADF" },
	[S_CLR_REMOVE] = { "LOOP_CLR_FD, close, LOOP_CTL_REMOVE: node gone", "clr=OK,unbound,remove=OK,node=gone" },
	[S_REMOVE_GONE] = { "LOOP_CTL_REMOVE of the removed device", "ENODEV" },
};

/* Run step @id on side @s; the outcome goes to @r. */
static void run_step(int id, struct side *s, char *r)
{
	struct loop_config c;
	struct loop_info64 i64;
	struct loop_info old;
	struct stat st;
	char buf[4096], back[4096], tmp[RES_LEN];
	long ret;
	int fd, e, i;

	r[0] = '\0';
	if (id >= S_OPEN && id != S_REMOVE_BOUND && id != S_CLR_REMOVE &&
	    id != S_REMOVE_GONE && ensure_dev(s) < 0) {
		add(r, "SETUP-open-dev:%s", ename(errno));
		return;
	}

	switch (id) {
	case S_CTL_ADD:
		ret = ioctl(s->ctlfd, LOOP_CTL_ADD, (unsigned long)s->idx);
		e = errno;
		if (ret == s->idx)
			add(r, "OK");
		else
			add_rc(r, ret < 0 ? ret : 1000000 + ret, e);
		if (ret >= 0 && !wait_node(s->dev, 1, 5000))
			add(r, "no-node");
		break;
	case S_CTL_ADD_AGAIN:
		ret = ioctl(s->ctlfd, LOOP_CTL_ADD, (unsigned long)s->idx);
		add_rc(r, ret, errno);
		break;
	case S_CTL_REMOVE_ABSENT:
		ret = ioctl(s->ctlfd, LOOP_CTL_REMOVE, (unsigned long)(s->idx + 1));
		add_rc(r, ret, errno);
		break;
	case S_CTL_REMOVE_NEG:
		ret = ioctl(s->ctlfd, LOOP_CTL_REMOVE, -1L);
		add_rc(r, ret, errno);
		break;
	case S_CTL_GET_FREE:
		ret = ioctl(s->ctlfd, LOOP_CTL_GET_FREE);
		add_rc(r, ret < 0 ? ret : 0, errno);
		break;
	case S_CTL_UNKNOWN:
		ret = ioctl(s->ctlfd, UNKNOWN_CTL_IOCTL, 0);
		add_rc(r, ret, errno);
		break;
	case S_OPEN:
		add(r, "OK");
		break;

	/* ---------------------------------------------------- unbound */
	case S_U_GET64:
		ret = ioctl(s->devfd, LOOP_GET_STATUS64, &i64);
		add_rc(r, ret, errno);
		break;
	case S_U_GET:
		ret = ioctl(s->devfd, LOOP_GET_STATUS, &old);
		add_rc(r, ret, errno);
		break;
	case S_U_CLR:
		ret = ioctl(s->devfd, LOOP_CLR_FD, 0);
		add_rc(r, ret, errno);
		break;
	case S_U_SET64:
		memset(&i64, 0, sizeof(i64));
		i64.lo_offset = 4096;
		ret = ioctl(s->devfd, LOOP_SET_STATUS64, &i64);
		add_rc(r, ret, errno);
		break;
	case S_U_CAP:
		ret = ioctl(s->devfd, LOOP_SET_CAPACITY, 0);
		add_rc(r, ret, errno);
		break;
	case S_U_BS:
		ret = ioctl(s->devfd, LOOP_SET_BLOCK_SIZE, 4096UL);
		add_rc(r, ret, errno);
		break;
	case S_U_DIO:
		ret = ioctl(s->devfd, LOOP_SET_DIRECT_IO, 1UL);
		add_rc(r, ret, errno);
		break;
	case S_U_CHANGE:
		fd = open_file(s->f_main, O_RDONLY);
		ret = ioctl(s->devfd, LOOP_CHANGE_FD, (unsigned long)fd);
		add_rc(r, ret, errno);
		close(fd);
		break;

	/* ------------------------------------------- bad configures */
	case S_C_BADFD:
		cfg_init(&c, -1, "loopdiff");
		configure(r, s, &c);
		break;
	case S_C_DIR:
		fd = open_file(s->d_dir, O_RDONLY | O_DIRECTORY);
		cfg_init(&c, fd, "loopdiff");
		configure(r, s, &c);
		close(fd);
		break;
	case S_C_SELF:
		cfg_init(&c, s->devfd, "loopdiff");
		configure(r, s, &c);
		break;
	case S_C_FLAGS:
		configure_file(r, s, s->f_main, O_RDWR, 0, 0x100, 0, 0);
		break;
	case S_C_BS1000:
		configure_file(r, s, s->f_main, O_RDWR, 1000, 0, 0, 0);
		break;
	case S_C_BS256:
		configure_file(r, s, s->f_main, O_RDWR, 256, 0, 0, 0);
		break;
	case S_C_BS8192:
		configure_file(r, s, s->f_main, O_RDWR, 8192, 0, 0, 0);
		break;
	case S_C_OVERFLOW:
		configure_file(r, s, s->f_main, O_RDWR, 0, 0,
			       (unsigned long long)LLONG_MAX + 1, 0);
		break;
	case S_C_CRYPT:
		configure_file(r, s, s->f_main, O_RDWR, 0, 0, 0, LO_CRYPT_XOR);
		break;
	case S_C_NULL:
		ret = ioctl(s->devfd, LOOP_CONFIGURE, NULL);
		add_rc(r, ret, errno);
		break;
	case S_C_STILL_UNBOUND:
		ret = ioctl(s->devfd, LOOP_GET_STATUS64, &i64);
		add_rc(r, ret, errno);
		add_size(r, s->devfd);
		break;

	/* ---------------------------------------------------- bound */
	case S_C_OK:
		configure_file(r, s, s->f_main, O_RDWR, 0, 0, 0, 0);
		add_size(r, s->devfd);
		add_ro(r, s->devfd);
		add_lbs(r, s->devfd);
		break;
	case S_C_BUSY:
		configure_file(r, s, s->f_diff, O_RDWR, 0, 0, 0, 0);
		break;
	case S_SETFD_BUSY:
		fd = open_file(s->f_diff, O_RDWR);
		ret = ioctl(s->devfd, LOOP_SET_FD, (unsigned long)fd);
		add_rc(r, ret, errno);
		close(fd);
		break;
	case S_GET64:
		memset(&i64, 0, sizeof(i64));
		ret = ioctl(s->devfd, LOOP_GET_STATUS64, &i64);
		add_rc(r, ret, errno);
		if (ret < 0)
			break;
		add(r, "offset=%llu", (unsigned long long)i64.lo_offset);
		add(r, "sizelimit=%llu", (unsigned long long)i64.lo_sizelimit);
		add(r, "flags=0x%x", i64.lo_flags);
		add(r, "name=%.*s", LO_NAME_SIZE, (char *)i64.lo_file_name);
		add(r, "crypt=%u", i64.lo_encrypt_type);
		add(r, "keysize=%u", i64.lo_encrypt_key_size);
		add(r, "rdevice=%llu", (unsigned long long)i64.lo_rdevice);
		if (stat(s->f_main, &st) == 0) {
			add(r, "device=%s", i64.lo_device == (__u64)st.st_dev ? "file's" : "other");
			add(r, "inode=%s", i64.lo_inode == (__u64)st.st_ino ? "file's" : "other");
		}
		add(r, "number=%s", (int)i64.lo_number == s->idx ? "n" : "other");
		break;
	case S_GET64_NULL:
		ret = ioctl(s->devfd, LOOP_GET_STATUS64, NULL);
		add_rc(r, ret, errno);
		break;
	case S_SET64_RESIZE:
		set_status_mod(r, s, 4096, MiB, 0, 0, -1);
		add_size(r, s->devfd);
		add_status(r, s->devfd);
		break;
	case S_SET64_OFF_OVF:
		set_status_mod(r, s, (unsigned long long)LLONG_MAX + 1, KEEP, 0, 0, -1);
		add_size(r, s->devfd);
		add_status(r, s->devfd);
		break;
	case S_SET64_LIM_OVF:
		set_status_mod(r, s, KEEP, (unsigned long long)LLONG_MAX + 1, 0, 0, -1);
		add_size(r, s->devfd);
		add_status(r, s->devfd);
		break;
	case S_SET64_CRYPT:
		set_status_mod(r, s, KEEP, KEEP, LO_CRYPT_XOR, 0, -1);
		add_status(r, s->devfd);
		break;
	case S_SET64_KEYSIZE:
		set_status_mod(r, s, KEEP, KEEP, 0, LO_KEY_SIZE + 1, -1);
		add_status(r, s->devfd);
		break;
	case S_SET64_FLAGS:
		set_status_mod(r, s, KEEP, KEEP, 0, 0,
			       LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY);
		add_status(r, s->devfd);
		add_ro(r, s->devfd);
		break;
	case S_SET64_UNFLAG:
		set_status_mod(r, s, KEEP, KEEP, 0, 0, 0);
		add_status(r, s->devfd);
		break;
	case S_SET64_PARTSCAN:
		set_status_mod(r, s, KEEP, KEEP, 0, 0, LO_FLAGS_PARTSCAN);
		add_status(r, s->devfd);
		break;
	case S_SET64_UNPARTSCAN:
		set_status_mod(r, s, KEEP, KEEP, 0, 0, 0);
		add_status(r, s->devfd);
		break;
	case S_SET_OLD:
		memset(&old, 0, sizeof(old));
		old.lo_offset = 8192;
		snprintf(old.lo_name, LO_NAME_SIZE, "loopdiff-old");
		ret = ioctl(s->devfd, LOOP_SET_STATUS, &old);
		add_rc(r, ret, errno);
		add_size(r, s->devfd);
		add_status(r, s->devfd);
		break;
	case S_GET_OLD:
		memset(&old, 0, sizeof(old));
		ret = ioctl(s->devfd, LOOP_GET_STATUS, &old);
		add_rc(r, ret, errno);
		if (ret < 0)
			break;
		add(r, "offset=%d", old.lo_offset);
		add(r, "flags=0x%x", old.lo_flags);
		add(r, "name=%.*s", LO_NAME_SIZE, old.lo_name);
		add(r, "crypt=%d", old.lo_encrypt_type);
		if (stat(s->f_main, &st) == 0) {
			add(r, "device=%s", (unsigned long long)old.lo_device ==
			    (unsigned long long)st.st_dev ? "file's" : "other");
			add(r, "inode=%s", (unsigned long long)old.lo_inode ==
			    (unsigned long long)st.st_ino ? "file's" : "other");
		}
		break;
	case S_GET_OLD_OVF:
		tmp[0] = '\0';
		set_status_mod(tmp, s, 3ULL << 30, KEEP, 0, 0, -1);
		add(r, "set=%s", tmp);
		memset(&old, 0, sizeof(old));
		ret = ioctl(s->devfd, LOOP_GET_STATUS, &old);
		add(r, "get=%s", rcs(ret, errno));
		add_size(r, s->devfd);
		break;
	case S_SET64_RESET:
		set_status_mod(r, s, 0, 0, 0, 0, -1);
		add_size(r, s->devfd);
		add_status(r, s->devfd);
		break;
	case S_CAPACITY:
		if (truncate(s->f_main, SIZE_GROWN)) {
			add(r, "SETUP-truncate:%s", ename(errno));
			break;
		}
		tmp[0] = '\0';
		add_size(tmp, s->devfd);
		add(r, "before-%s", tmp);
		ret = ioctl(s->devfd, LOOP_SET_CAPACITY, 0);
		add_rc(r, ret, errno);
		add_size(r, s->devfd);
		break;
	case S_ODD_LIMIT:
		set_status_mod(r, s, KEEP, 5000, 0, 0, -1);
		add_size(r, s->devfd);
		tmp[0] = '\0';
		set_status_mod(tmp, s, KEEP, 0, 0, 0, -1);
		add(r, "reset=%s", tmp);
		add_size(r, s->devfd);
		break;
	case S_BS4096:
	case S_BS1000:
	case S_BS256:
	case S_BS8192:
	case S_BS512:
		ret = ioctl(s->devfd, LOOP_SET_BLOCK_SIZE,
			    id == S_BS4096 ? 4096UL : id == S_BS1000 ? 1000UL :
			    id == S_BS256 ? 256UL : id == S_BS8192 ? 8192UL : 512UL);
		add_rc(r, ret, errno);
		add_lbs(r, s->devfd);
		add_size(r, s->devfd);
		break;
	case S_DIO_ON:
	case S_DIO_OFF:
		ret = ioctl(s->devfd, LOOP_SET_DIRECT_IO, id == S_DIO_ON ? 1UL : 0UL);
		add_rc(r, ret, errno);
		add_status(r, s->devfd);
		break;
	case S_DIO_UNALIGNED:
		tmp[0] = '\0';
		set_status_mod(tmp, s, 256, KEEP, 0, 0, -1);
		add(r, "set=%s", tmp);
		ret = ioctl(s->devfd, LOOP_SET_DIRECT_IO, 1UL);
		add(r, "dio=%s", rcs(ret, errno));
		add_status(r, s->devfd);
		tmp[0] = '\0';
		set_status_mod(tmp, s, 0, KEEP, 0, 0, -1);
		add(r, "reset=%s", tmp);
		add_status(r, s->devfd);
		break;
	case S_CHANGE_RW:
		fd = open_file(s->f_same, O_RDONLY);
		ret = ioctl(s->devfd, LOOP_CHANGE_FD, (unsigned long)fd);
		add_rc(r, ret, errno);
		close(fd);
		break;
	case S_DEV_UNKNOWN:
		ret = ioctl(s->devfd, UNKNOWN_DEV_IOCTL, 0);
		add_rc(r, ret, errno);
		break;
	case S_DEV_FOREIGN:
		ret = ioctl(s->devfd, FOREIGN_IOCTL, 0);
		add_rc(r, ret, errno);
		break;
	case S_DATA:
		memset(buf, 0xA5, sizeof(buf));
		snprintf(buf, 64, "loopdiff data for %s", s->label);
		ret = pwrite(s->devfd, buf, sizeof(buf), 8192);
		e = errno;
		if (ret != (long)sizeof(buf)) {
			add_rc(r, ret < 0 ? ret : -1, ret < 0 ? e : EIO);
			break;
		}
		if (fsync(s->devfd)) {
			add(r, "fsync=%s", ename(errno));
			break;
		}
		ret = pread(s->devfd, back, sizeof(back), 8192);
		add(r, "OK");
		add(r, "dev=%s", ret == (long)sizeof(back) && !memcmp(buf, back, sizeof(buf)) ? "same" : "differs");
		fd = open_file(s->f_main, O_RDONLY);
		ret = fd < 0 ? -1 : pread(fd, back, sizeof(back), 8192);
		add(r, "file=%s", ret == (long)sizeof(back) && !memcmp(buf, back, sizeof(buf)) ? "same" : "differs");
		if (fd >= 0)
			close(fd);
		break;

	/* --------------------------------------------- removal rules */
	case S_REMOVE_BOUND:
		close_dev(s);
		ret = ioctl(s->ctlfd, LOOP_CTL_REMOVE, (unsigned long)s->idx);
		add_rc(r, ret, errno);
		add(r, "state=%s", bound_state(s) == 1 ? "bound" : "not-bound");
		break;
	case S_CLR:
		ret = ioctl(s->devfd, LOOP_CLR_FD, 0);
		add_rc(r, ret, errno);
		close_dev(s);
		add(r, "%s", wait_unbound(s) ? "unbound" : "still-bound");
		break;
	case S_REMOVE_OPEN:
		ret = ioctl(s->ctlfd, LOOP_CTL_REMOVE, (unsigned long)s->idx);
		add_rc(r, ret, errno);
		add(r, "node=%s", exists(s->dev) ? "present" : "gone");
		break;
	case S_AUTOCLEAR:
		configure_file(r, s, s->f_main, O_RDWR, 0, LO_FLAGS_AUTOCLEAR, 0, 0);
		add_status(r, s->devfd);
		close_dev(s);
		add(r, "after-close=%s", wait_unbound(s) ? "unbound" : "still-bound");
		break;
	case S_C_RO:
		configure_file(r, s, s->f_main, O_RDONLY, 4096, 0, 0, 0);
		add_status(r, s->devfd);
		add_ro(r, s->devfd);
		add_lbs(r, s->devfd);
		add_size(r, s->devfd);
		break;
	case S_WRITE_RO:
		memset(buf, 0x5A, sizeof(buf));
		ret = pwrite(s->devfd, buf, sizeof(buf), 0);
		add_rc(r, ret < 0 ? ret : 0, errno);
		break;
	case S_CHANGE_SAME:
	case S_CHANGE_DIFF:
		fd = open_file(id == S_CHANGE_SAME ? s->f_same : s->f_diff, O_RDONLY);
		ret = ioctl(s->devfd, LOOP_CHANGE_FD, (unsigned long)fd);
		add_rc(r, ret, errno);
		close(fd);
		memset(&i64, 0, sizeof(i64));
		if (ioctl(s->devfd, LOOP_GET_STATUS64, &i64) == 0 &&
		    stat(s->f_same, &st) == 0)
			add(r, "backing=%s", i64.lo_inode == (__u64)st.st_ino ?
			    "same.img" : "other");
		add_size(r, s->devfd);
		break;
	case S_CHANGE_SELF:
		ret = ioctl(s->devfd, LOOP_CHANGE_FD, (unsigned long)s->devfd);
		add_rc(r, ret, errno);
		break;
	case S_CHANGE_BADFD:
		ret = ioctl(s->devfd, LOOP_CHANGE_FD, -1L);
		add_rc(r, ret, errno);
		break;
	case S_CLR_REMOVE:
		if (ensure_dev(s) < 0) {
			add(r, "SETUP-open-dev:%s", ename(errno));
			break;
		}
		ret = ioctl(s->devfd, LOOP_CLR_FD, 0);
		add(r, "clr=%s", rcs(ret, errno));
		close_dev(s);
		add(r, "%s", wait_unbound(s) ? "unbound" : "still-bound");
		/*
		 * EBUSY for a moment is legitimate when something else
		 * (udev's blkid) has the device open: retry for 3 s.
		 */
		for (i = 0; ; i++) {
			ret = ioctl(s->ctlfd, LOOP_CTL_REMOVE, (unsigned long)s->idx);
			if (ret == 0 || errno != EBUSY || i == 300)
				break;
			msleep(10);
		}
		add(r, "remove=%s", rcs(ret, errno));
		add(r, "node=%s", wait_node(s->dev, 0, 5000) ? "gone" : "present");
		break;
	case S_REMOVE_GONE:
		ret = ioctl(s->ctlfd, LOOP_CTL_REMOVE, (unsigned long)s->idx);
		add_rc(r, ret, errno);
		break;
	}
}

/*
 * Print step @id's result line: the outcomes @r0 of @l0 (the reference)
 * and @r1 of @l1; 1 when they agree.
 */
static int report(int id, const char *l0, const char *r0, const char *l1,
		  const char *r1)
{
	const char *exp = steps[id].expect;
	int same = !strcmp(r0, r1) && !strstr(r0, "SETUP-");

	printf("%sok %d - %s: %s=%s %s=%s\n", same ? "" : "not ", id + 1,
	       steps[id].desc, l0, r0, l1, r1);
	if (same && exp && strncmp(r0, exp, strlen(exp)))
		printf("# note: %s answers %s here, the step expected %s; "
		       "%s matches it\n", l0, r0, exp, l1);
	return same;
}

/* Leave nothing behind, whatever happened. */
static void teardown(struct side *s)
{
	close_dev(s);
	scrub(s, s->idx);
}

/* REF_CTL DUT_CTL DIR [REF_INDEX DUT_INDEX]: both drivers, step by step */
static int run_pair(int argc, char **argv)
{
	struct side sides[2];
	char res[2][RES_LEN];
	int id, failed = 0, setup_failed = 0, i;

	memset(sides, 0, sizeof(sides));
	for (i = 0; i < 2; i++) {
		int idx = argc == 6 ? atoi(argv[4 + i]) : 150;

		if (setup_side(&sides[i], argv[1 + i], NULL, argv[3],
			       i ? "dut" : "ref", idx)) {
			printf("# setup failed: %s\n", sides[i].setup_err);
			setup_failed = 1;
		}
	}

	printf("KTAP version 1\n1..%d\n", S_COUNT);
	printf("# reference %s (%s%d), under test %s (%s%d), %zu-bit\n",
	       sides[0].ctl, sides[0].prefix, sides[0].idx, sides[1].ctl,
	       sides[1].prefix, sides[1].idx, sizeof(long) * 8);
	for (id = 0; id < S_COUNT; id++) {
		if (setup_failed) {
			printf("not ok %d - %s: setup failed\n", id + 1, steps[id].desc);
			failed++;
			continue;
		}
		run_step(id, &sides[0], res[0]);
		run_step(id, &sides[1], res[1]);
		if (!report(id, sides[0].label, res[0], sides[1].label, res[1]))
			failed++;
	}
	for (i = 0; i < 2 && !setup_failed; i++)
		teardown(&sides[i]);
	printf("# %d of %d steps differ\n", failed, S_COUNT);
	return failed ? 1 : 0;
}

/* --record FILE CTL DIR [INDEX [LABEL]]: one driver's outcomes to FILE */
static int run_record(int argc, char **argv)
{
	const char *file = argv[2];
	struct side s;
	char res[RES_LEN];
	int id, unset = 0, err = 0;
	FILE *f;

	memset(&s, 0, sizeof(s));
	if (setup_side(&s, argv[3], argc > 6 ? argv[6] : NULL, argv[4], "ref",
		       argc > 5 ? atoi(argv[5]) : 150)) {
		printf("# setup failed: %s\n", s.setup_err);
		return 1;
	}
	f = fopen(file, "we");
	if (!f) {
		printf("# %s: %s\n", file, strerror(errno));
		teardown(&s);
		return 1;
	}
	fprintf(f, "loopdiff-record %d %zu %s\n", S_COUNT, sizeof(long) * 8,
		s.label);
	printf("# recording %s (%s%d) as %s, %zu-bit, to %s\n", s.ctl,
	       s.prefix, s.idx, s.label, sizeof(long) * 8, file);
	for (id = 0; id < S_COUNT; id++) {
		run_step(id, &s, res);
		fprintf(f, "%d %s\n", id + 1, res);
		printf("# %d - %s: %s=%s\n", id + 1, steps[id].desc, s.label, res);
		if (strstr(res, "SETUP-"))
			unset++;
	}
	teardown(&s);
	if (fclose(f)) {
		printf("# %s: %s\n", file, strerror(errno));
		err = 1;
	}
	printf("# %d steps recorded, %d could not be set up\n", S_COUNT, unset);
	return err || unset ? 1 : 0;
}

/*
 * Read a record of this build (@S_COUNT steps, this word size) into
 * @rec; its label into @label.  Steps it lacks stay "".  Says why not.
 */
static int read_record(const char *file, char rec[][RES_LEN], char *label,
		       size_t label_len, char *err)
{
	char line[RES_LEN + 32], lab[64];
	unsigned int bits;
	int n, id;
	FILE *f;

	f = fopen(file, "re");
	if (!f) {
		snprintf(err, RES_LEN, "%s: %s", file, strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "loopdiff-record %d %u %63s", &n, &bits, lab) != 3) {
		snprintf(err, RES_LEN, "%s: not a loopdiff record", file);
		fclose(f);
		return -1;
	}
	if (n != S_COUNT || bits != sizeof(long) * 8) {
		snprintf(err, RES_LEN, "%s: %d steps %u-bit, this build has %d %zu-bit",
			 file, n, bits, S_COUNT, sizeof(long) * 8);
		fclose(f);
		return -1;
	}
	snprintf(label, label_len, "%s", lab);
	while (fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');

		line[strcspn(line, "\n")] = '\0';
		id = atoi(line);
		if (sp && id >= 1 && id <= S_COUNT)
			snprintf(rec[id - 1], RES_LEN, "%s", sp + 1);
	}
	fclose(f);
	return 0;
}

/* --compare FILE CTL DIR [INDEX [LABEL]]: one driver against FILE */
static int run_compare(int argc, char **argv)
{
	static char rec[S_COUNT][RES_LEN];
	const char *file = argv[2];
	char res[RES_LEN], ref[64] = "recorded", err[RES_LEN];
	int id, failed = 0, setup_failed = 0, side_failed;
	struct side s;

	memset(&s, 0, sizeof(s));
	side_failed = setup_side(&s, argv[3], argc > 6 ? argv[6] : NULL,
				 argv[4], "dut", argc > 5 ? atoi(argv[5]) : 150);
	if (side_failed) {
		printf("# setup failed: %s\n", s.setup_err);
		setup_failed = 1;
	}
	if (read_record(file, rec, ref, sizeof(ref), err)) {
		printf("# setup failed: %s\n", err);
		setup_failed = 1;
	}

	printf("KTAP version 1\n1..%d\n", S_COUNT);
	printf("# reference %s (recorded in %s), under test %s (%s%d), %zu-bit\n",
	       ref, file, s.ctl, s.prefix, s.idx, sizeof(long) * 8);
	for (id = 0; id < S_COUNT; id++) {
		if (setup_failed) {
			printf("not ok %d - %s: setup failed\n", id + 1, steps[id].desc);
			failed++;
			continue;
		}
		run_step(id, &s, res);
		if (!report(id, ref, rec[id][0] ? rec[id] : "(not recorded)",
			    s.label, res))
			failed++;
	}
	if (!side_failed)
		teardown(&s);
	printf("# %d of %d steps differ\n", failed, S_COUNT);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--steps")) {
		printf("%d\n", S_COUNT);
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 5 && argc <= 7 && !strcmp(argv[1], "--record"))
		return run_record(argc, argv);
	if (argc >= 5 && argc <= 7 && !strcmp(argv[1], "--compare"))
		return run_compare(argc, argv);
	if ((argc == 4 || argc == 6) && argv[1][0] != '-')
		return run_pair(argc, argv);
	fprintf(stderr, "usage: loopdiff REF_CTL DUT_CTL DIR [REF_INDEX DUT_INDEX]\n"
		"       loopdiff --record FILE CTL DIR [INDEX [LABEL]]\n"
		"       loopdiff --compare FILE CTL DIR [INDEX [LABEL]]\n"
		"       loopdiff --steps\n");
	return 2;
}
