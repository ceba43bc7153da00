// SPDX-License-Identifier: GPL-2.0
/*
 * alo-fuzz: random loop/aloop ioctls for tests/guest/95-fuzz-ioctl.sh.
 *
 *   alo-fuzz fuzz [options] CTL DEV...
 *	Issues random ioctls - loop's LOOP_* and LOOP_CTL_* numbers, aloop's
 *	own ALOOP_* (unless --no-aloop), random commands under both magics
 *	and entirely random command numbers - with random sizes, NULL,
 *	unaligned, kernel, unmapped, read-only and page-straddling pointers
 *	and garbage or plausible structures, on the control device CTL and
 *	on the devices DEV (bound or not).  A little buffered I/O is mixed
 *	in.  Runs in rounds: each round is a child process that opens CTL
 *	and the devices (as root), drops to uid/gid 65534 with --user, and
 *	issues its share of the calls; the parent stops at --count calls or
 *	after --secs seconds, whichever comes first.
 *	  --seed N       seed (default 1); the run is reproducible per seed
 *	  --count N      total calls (default 100000)
 *	  --secs N       time bound in seconds (default 60)
 *	  --per-round N  calls per child (default 2000)
 *	  --user         drop privileges after opening (uid/gid 65534)
 *	  --ro           open the devices and CTL read-only
 *	  --no-aloop     no ALOOP_* commands (stock loop)
 *	  --file PATH    backing file (repeat; the first two should have the
 *	                 same size, for LOOP_CHANGE_FD)
 *	  --idx-base N   LOOP_CTL_ADD/REMOVE aim at N..N+7 (default 50)
 *	  --prefix NAME  device name prefix (aloop, loop): indices that
 *	                 exist at the start are never removed, new ones
 *	                 outside N..N+7 are removed at once
 *	Output: "key=value" lines (calls, ok, seconds, rounds, leaks,
 *	permviol, strays, hang, errnos) and up to 8 "leak: ..." and
 *	"permviol: ..." lines.  A leak is a byte of a structure copied to
 *	user space (pre-filled with 0xA5) that must be zero and is not; a
 *	permviol is a LOOP_SET_STATUS(64)/SET_CAPACITY/SET_DIRECT_IO/
 *	SET_BLOCK_SIZE that succeeded for uid 65534 on a read-only fd.
 *	Exit status 0, 1 on leaks or permission violations, 2 on usage or
 *	setup errors, 3 when a round did not end (hang).
 *
 *   alo-fuzz leak [--no-aloop] CTL DEV
 *	DEV must be bound with zero-padded names (alo-ioctl configure):
 *	LOOP_GET_STATUS64, LOOP_GET_STATUS, ALOOP_GET_INFO and
 *	ALOOP_GET_FEATURES (on CTL) into buffers pre-filled with 0xA5; one
 *	line per call, "NAME OK" or "NAME LEAK offset=O byte=0xBB field=F".
 *
 * Built on the host by scripts/check.sh into build/tools/alo-fuzz.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/loop.h>

#include "linux/aloop.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
#endif

#define NOBODY		65534
#define MAX_DEVS	16
#define MAX_FILES	8
#define MAX_ERRNO	256
#define MAX_NOTES	8
#define IDX_RANGE	8
#define PG		4096

/* ------------------------------------------------------------ options */
static uint64_t opt_seed = 1;
static long opt_count = 100000;
static long opt_secs = 60;
static long opt_per_round = 2000;
static int opt_user, opt_ro, opt_no_aloop;
static int opt_idx_base = 50;
static const char *opt_prefix;
static const char *ctl_path;
static const char *dev_path[MAX_DEVS];
static int ndev;
static const char *file_path[MAX_FILES];
static int nfile;

/* ------------------------------------------- shared between processes */
struct shared {
	long calls, ok, leaks, permviol, strays, crashes;
	long err[MAX_ERRNO];
	int nleak, nperm;
	char leak[MAX_NOTES][160];
	char perm[MAX_NOTES][160];
	unsigned char preexist[(1 << 20) / 8];	/* index bitmap */
};
static struct shared *sh;

/* ---------------------------------------------------------------- rng */
static uint64_t rs;

static uint64_t rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return rs * 0x2545F4914F6CDD1DULL;
}

static uint64_t rn(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(int pct) { return (int)rn(100) < pct; }

/* ---------------------------------------------------------- the world */
static int ctl_fd = -1;
static int dev_fd[MAX_DEVS];
static int file_rw[MAX_FILES], file_ro[MAX_FILES];
static int dir_fd = -1, pipe_fd[2] = { -1, -1 };
static unsigned char *arena;	/* 2 rw pages, 1 ro page, 1 PROT_NONE page */
static unsigned char *rw_page, *ro_page, *none_page;

static void note(char (*tab)[160], int *n, long *cnt, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void note(char (*tab)[160], int *n, long *cnt, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(cnt, 1, __ATOMIC_RELAXED);
	if (*n >= MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(tab[*n], sizeof(tab[0]), fmt, ap);
	va_end(ap);
	(*n)++;
}

static void drop_privs(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0 || geteuid() != NOBODY) {
		fprintf(stderr, "alo-fuzz: cannot drop privileges: %s\n", strerror(errno));
		_exit(2);
	}
}

static int open_world(void)
{
	int i, fl = (opt_ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	ctl_fd = open(ctl_path, fl);
	if (ctl_fd < 0) {
		fprintf(stderr, "alo-fuzz: %s: %s\n", ctl_path, strerror(errno));
		return -1;
	}
	for (i = 0; i < ndev; i++)
		dev_fd[i] = open(dev_path[i], fl);	/* may be gone: -1 */
	for (i = 0; i < nfile; i++) {
		file_rw[i] = open(file_path[i], O_RDWR | O_CLOEXEC);
		file_ro[i] = open(file_path[i], O_RDONLY | O_CLOEXEC);
	}
	if (nfile) {
		char d[4096], *s;

		snprintf(d, sizeof(d), "%s", file_path[0]);
		s = strrchr(d, '/');
		if (s && s != d)
			*s = 0;
		dir_fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (pipe(pipe_fd) < 0)
		pipe_fd[0] = pipe_fd[1] = -1;
	return 0;
}

/* A file descriptor argument: valid, invalid, or something odd. */
static int pick_fd(void)
{
	switch (rn(14)) {
	case 0: case 1: case 2:
		return nfile ? file_rw[rn(nfile)] : -1;
	case 3:
		return nfile ? file_ro[rn(nfile)] : -1;
	case 4: case 5:
		return ndev ? dev_fd[rn(ndev)] : -1;	/* stacking, self */
	case 6:
		return ctl_fd;
	case 7:
		return -1;
	case 8:
		return 1000 + (int)rn(1000);		/* not open */
	case 9:
		return dir_fd;
	case 10:
		return pipe_fd[rn(2)];
	case 11:
		return (int)rnd();
	default:
		return 0;				/* /dev/null */
	}
}

static unsigned pick_bs(void)
{
	static const unsigned v[] = { 0, 512, 1024, 2048, 4096, 4096, 8192,
				      65536, 513, 256, 1000, 0xffffffffu };

	return chance(10) ? (unsigned)rnd() : v[rn(sizeof(v) / sizeof(v[0]))];
}

static uint64_t pick_off(void)
{
	switch (rn(6)) {
	case 0: return 0;
	case 1: return rn(64) * 512;
	case 2: return rn(4096);
	case 3: return (uint64_t)1 << rn(64);
	case 4: return ~0ULL - rn(8);
	default: return rnd();
	}
}

static uint32_t pick_flags(void)
{
	uint32_t f = 0;

	if (chance(10))
		return (uint32_t)rnd();
	if (chance(20)) f |= LO_FLAGS_READ_ONLY;
	if (chance(20)) f |= LO_FLAGS_AUTOCLEAR;
	if (chance(15)) f |= LO_FLAGS_PARTSCAN;
	if (chance(30)) f |= LO_FLAGS_DIRECT_IO;
	if (chance(3)) f |= 1u << rn(32);
	return f;
}

static void fill_garbage(void *p, size_t n)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		c[i] = (unsigned char)rnd();
}

static void plausible_info64(struct loop_info64 *i)
{
	if (chance(50))
		memset(i, 0, sizeof(*i));
	i->lo_offset = chance(60) ? 0 : pick_off();
	i->lo_sizelimit = chance(60) ? 0 : pick_off();
	i->lo_flags = pick_flags();
	if (chance(80)) {
		i->lo_encrypt_type = 0;
		i->lo_encrypt_key_size = chance(90) ? 0 : (uint32_t)rn(40);
	}
	if (chance(50))
		snprintf((char *)i->lo_file_name, LO_NAME_SIZE, "fuzz-%u", (unsigned)rn(1000));
}

static void plausible_config(struct loop_config *c)
{
	if (chance(40))
		memset(c, 0, sizeof(*c));
	c->fd = (uint32_t)pick_fd();
	c->block_size = chance(50) ? 0 : pick_bs();
	plausible_info64(&c->info);
	if (chance(70))
		memset(c->__reserved, 0, sizeof(c->__reserved));
}

/*
 * A pointer argument for a structure of SIZE bytes.  *checkable is set
 * when it points to a whole, writable, 0xA5-prefilled buffer, so the
 * result can be checked for leaks.
 */
static void *pick_ptr(size_t size, int *checkable)
{
	unsigned char *p;

	*checkable = 0;
	if (size > PG)
		size = PG;
	switch (rn(20)) {
	case 0:
		return NULL;
	case 1:
		return (void *)0xffffffff81000000UL;	/* kernel text */
	case 2:
		return (void *)0xffff888000000000UL;	/* direct map */
	case 3:
		return (void *)-1L;
	case 4:
		return (void *)(uintptr_t)rn(PG);
	case 5:
		return none_page;
	case 6:
		return ro_page + rn(64);
	case 7:
		/* straddles into the PROT_NONE page */
		return none_page - (size ? 1 + rn(size) : 1);
	case 8:
		return (void *)rnd();
	case 9:
		/* straddles from the rw pages into the read-only one */
		p = rw_page + 2 * PG - (size ? 1 + rn(size) : 1);
		memset(p, 0xA5, (size_t)(ro_page - p));
		return p;
	case 10:
		p = rw_page + 1 + rn(7);		/* unaligned */
		memset(p, 0xA5, size);
		return p;
	default:
		p = rw_page;
		memset(p, 0xA5, size);
		*checkable = size > 0;
		return p;
	}
}

/* ------------------------------------------------------- leak checks */
struct fld { size_t off, len; const char *name; };

static int check_zero(const char *call, const unsigned char *buf,
		      const struct fld *f, int nf, int quiet)
{
	int i, bad = 0;
	size_t j;

	for (i = 0; i < nf; i++)
		for (j = 0; j < f[i].len; j++)
			if (buf[f[i].off + j]) {
				if (!quiet)
					printf("%s LEAK offset=%zu byte=0x%02x field=%s\n", call,
					       f[i].off + j, buf[f[i].off + j], f[i].name);
				else
					note(sh->leak, &sh->nleak, &sh->leaks,
					     "%s offset=%zu byte=0x%02x field=%s", call,
					     f[i].off + j, buf[f[i].off + j], f[i].name);
				bad = 1;
				j = f[i].len;	/* one report per field */
			}
	return bad;
}

/* bytes after the terminating NUL of a string field must be zero */
static int check_str_tail(const char *call, const unsigned char *buf, size_t off,
			  size_t len, const char *name, int quiet)
{
	const unsigned char *s = buf + off;
	struct fld f;
	size_t n = strnlen((const char *)s, len);

	if (n >= len)
		return 0;
	f.off = off + n;
	f.len = len - n;
	f.name = name;
	return check_zero(call, buf, &f, 1, quiet);
}

#define F(type, member, nm) { offsetof(type, member), sizeof(((type *)0)->member), nm }

/*
 * strict: the names were set by us zero-padded (leak mode); otherwise
 * file and crypt names may hold what a garbage LOOP_SET_STATUS stored.
 */
static int check_info64(const unsigned char *b, int strict, int quiet)
{
	static const struct fld f[] = {
		F(struct loop_info64, lo_encrypt_type, "lo_encrypt_type"),
		F(struct loop_info64, lo_encrypt_key_size, "lo_encrypt_key_size"),
		F(struct loop_info64, lo_encrypt_key, "lo_encrypt_key"),
		F(struct loop_info64, lo_init, "lo_init"),
	};
	static const struct fld crypt[] = {
		F(struct loop_info64, lo_crypt_name, "lo_crypt_name"),
	};
	int bad = check_zero("LOOP_GET_STATUS64", b, f, 4, quiet);

	if (strict || !opt_no_aloop)	/* aloop never stores a crypt name */
		bad |= check_zero("LOOP_GET_STATUS64", b, crypt, 1, quiet);
	if (strict)
		bad |= check_str_tail("LOOP_GET_STATUS64", b,
				      offsetof(struct loop_info64, lo_file_name),
				      LO_NAME_SIZE, "lo_file_name", quiet);
	return bad;
}

static int check_info_old(const unsigned char *b, int strict, int quiet)
{
	struct fld f[8];
	int n = 0, bad;
	size_t end;

	/* the hole after lo_number (x86-64: int, then unsigned long) */
	end = offsetof(struct loop_info, lo_number) + sizeof(int);
	if (offsetof(struct loop_info, lo_device) > end)
		f[n++] = (struct fld){ end, offsetof(struct loop_info, lo_device) - end, "padding after lo_number" };
	f[n++] = (struct fld)F(struct loop_info, lo_encrypt_type, "lo_encrypt_type");
	f[n++] = (struct fld)F(struct loop_info, lo_encrypt_key_size, "lo_encrypt_key_size");
	f[n++] = (struct fld)F(struct loop_info, lo_encrypt_key, "lo_encrypt_key");
	f[n++] = (struct fld)F(struct loop_info, lo_init, "lo_init");
	f[n++] = (struct fld)F(struct loop_info, reserved, "reserved");
	end = offsetof(struct loop_info, reserved) + sizeof(((struct loop_info *)0)->reserved);
	if (sizeof(struct loop_info) > end)
		f[n++] = (struct fld){ end, sizeof(struct loop_info) - end, "tail padding" };
	bad = check_zero("LOOP_GET_STATUS", b, f, n, quiet);
	if (strict)
		bad |= check_str_tail("LOOP_GET_STATUS", b, offsetof(struct loop_info, lo_name),
				      LO_NAME_SIZE, "lo_name", quiet);
	return bad;
}

static int check_ainfo(const unsigned char *b, int quiet)
{
	static const struct fld f[] = {
		F(struct aloop_info, reserved32, "reserved32"),
	};
	int bad = check_zero("ALOOP_GET_INFO", b, f, 1, quiet);

	bad |= check_str_tail("ALOOP_GET_INFO", b, offsetof(struct aloop_info, dio_reason),
			      ALOOP_REASON_SIZE, "dio_reason", quiet);
	bad |= check_str_tail("ALOOP_GET_INFO", b, offsetof(struct aloop_info, backing_file),
			      ALOOP_NAME_SIZE, "backing_file", quiet);
	return bad;
}

static int check_features(const unsigned char *b, int quiet)
{
	static const struct fld f[] = {
		F(struct aloop_features, reserved, "reserved"),
	};

	return check_zero("ALOOP_GET_FEATURES", b, f, 1, quiet);
}

/* ------------------------------------------------------------- fuzzing */
static int is_dev_cmd_perm(unsigned long cmd)
{
	return cmd == LOOP_SET_STATUS || cmd == LOOP_SET_STATUS64 ||
	       cmd == LOOP_SET_CAPACITY || cmd == LOOP_SET_DIRECT_IO ||
	       cmd == LOOP_SET_BLOCK_SIZE;
}

static int preexisting(long idx)
{
	return idx >= 0 && idx < (1 << 20) && (sh->preexist[idx / 8] >> (idx % 8) & 1);
}

static void scan_preexisting(void)
{
	struct dirent *de;
	size_t pl;
	DIR *d;

	if (!opt_prefix)
		return;
	pl = strlen(opt_prefix);
	d = opendir("/sys/block");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long v;

		if (strncmp(de->d_name, opt_prefix, pl))
			continue;
		v = strtol(de->d_name + pl, &end, 10);
		if (end == de->d_name + pl || *end || v < 0 || v >= (1 << 20))
			continue;
		sh->preexist[v / 8] |= (unsigned char)(1 << (v % 8));
	}
	closedir(d);
}

/* an index created outside our range: remove it again at once */
static void tidy_index(long r)
{
	if (r < 0 || preexisting(r) || (r >= opt_idx_base && r < opt_idx_base + IDX_RANGE))
		return;
	__atomic_add_fetch(&sh->strays, 1, __ATOMIC_RELAXED);
	ioctl(ctl_fd, LOOP_CTL_REMOVE, r);
}

static long pick_index(void)
{
	switch (rn(10)) {
	case 0:
		return -1;
	case 1:
		return (long)(1 << 20) + (long)rn(1 << 20);	/* beyond minors */
	case 2:
		return (long)rnd() | (1L << 62);		/* huge */
	case 3:
		return INT32_MIN + (long)rn(4);
	default:
		return opt_idx_base + (long)rn(IDX_RANGE);
	}
}

static unsigned long rand_cmd(void)
{
	static const unsigned char avoid[] = { 0x12, 0x58, 0x66, 0x54, 0x22, 0x94, 0x15, 0x00 };
	unsigned long c;
	unsigned i;

	for (;;) {
		if (chance(50)) {
			unsigned magic = opt_no_aloop || chance(50) ? 0x4C : ALOOP_IOC_MAGIC;

			c = _IOC((unsigned)rn(4), magic, (unsigned)(chance(70) ? rn(0x90) : rn(256)),
				 (unsigned)rn(chance(70) ? 512 : 0x4000));
		} else {
			c = (uint32_t)rnd();
		}
		for (i = 0; i < sizeof(avoid); i++)
			if (_IOC_TYPE(c) == avoid[i])
				break;
		if (i == sizeof(avoid))
			return c;
	}
}

/* the size of the structure a known command takes (0: an integer) */
static size_t cmd_size(unsigned long cmd)
{
	switch (cmd) {
	case LOOP_SET_STATUS: case LOOP_GET_STATUS: return sizeof(struct loop_info);
	case LOOP_SET_STATUS64: case LOOP_GET_STATUS64: return sizeof(struct loop_info64);
	case LOOP_CONFIGURE: return sizeof(struct loop_config);
	case ALOOP_CONFIGURE: return sizeof(struct aloop_config);
	case ALOOP_GET_INFO: return sizeof(struct aloop_info);
	case ALOOP_GET_FEATURES: return sizeof(struct aloop_features);
	default: return _IOC_SIZE(cmd);
	}
}

static void fill_arg(unsigned long cmd, void *p, size_t size)
{
	union {
		struct loop_info old;
		struct loop_info64 i64;
		struct loop_config cfg;
		struct aloop_config acfg;
		struct aloop_info ai;
		struct aloop_features af;
		unsigned char b[PG];
	} u;
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)rw_page;

	/* only a whole structure in the writable pages */
	if (!p || size > 2 * PG || a < lo || a > lo + 2 * PG - size)
		return;
	if (chance(30) || size > sizeof(u)) {
		fill_garbage(p, size);
		return;
	}
	/* built aligned, then copied to p (which may be unaligned) */
	memcpy(&u, p, size);
	switch (cmd) {
	case LOOP_SET_STATUS64:
		plausible_info64(&u.i64);
		break;
	case LOOP_SET_STATUS:
		if (chance(50))
			memset(&u.old, 0, sizeof(u.old));
		u.old.lo_offset = (int)(chance(60) ? 0 : pick_off());
		u.old.lo_flags = (int)pick_flags();
		if (chance(80))
			u.old.lo_encrypt_type = 0;
		break;
	case LOOP_CONFIGURE:
		plausible_config(&u.cfg);
		break;
	case ALOOP_CONFIGURE:
		if (chance(40))
			memset(&u.acfg, 0, sizeof(u.acfg));
		u.acfg.size = chance(80) ? sizeof(u.acfg) : (uint32_t)rnd();
		u.acfg.nr_queues = chance(70) ? (uint32_t)rn(4) :
				   chance(50) ? ALOOP_MAX_QUEUES + (uint32_t)rn(2) : (uint32_t)rnd();
		if (chance(80))
			memset(u.acfg.reserved, 0, sizeof(u.acfg.reserved));
		plausible_config(&u.acfg.config);
		break;
	case ALOOP_GET_INFO:
		u.ai.size = chance(80) ? sizeof(u.ai) : (uint32_t)rnd();
		break;
	case ALOOP_GET_FEATURES:
		u.af.size = chance(80) ? sizeof(u.af) : (uint32_t)rnd();
		break;
	default:
		if (chance(50))
			fill_garbage(&u, size);
	}
	memcpy(p, &u, size);
}

static void after_ok(unsigned long cmd, const void *p, int checkable, int on_dev)
{
	if (!checkable)
		return;
	if (on_dev && cmd == LOOP_GET_STATUS64)
		check_info64(p, 0, 1);
	else if (on_dev && cmd == LOOP_GET_STATUS)
		check_info_old(p, 0, 1);
	else if (on_dev && cmd == ALOOP_GET_INFO && !opt_no_aloop)
		check_ainfo(p, 1);
	else if (!on_dev && cmd == ALOOP_GET_FEATURES && !opt_no_aloop)
		check_features(p, 1);
}

static const char *cmd_name(unsigned long cmd)
{
	switch (cmd) {
	case LOOP_SET_STATUS: return "LOOP_SET_STATUS";
	case LOOP_SET_STATUS64: return "LOOP_SET_STATUS64";
	case LOOP_SET_CAPACITY: return "LOOP_SET_CAPACITY";
	case LOOP_SET_DIRECT_IO: return "LOOP_SET_DIRECT_IO";
	case LOOP_SET_BLOCK_SIZE: return "LOOP_SET_BLOCK_SIZE";
	default: return "?";
	}
}

static void one_call(void)
{
	static const unsigned long dev_cmds[] = {
		LOOP_SET_FD, LOOP_CLR_FD, LOOP_SET_STATUS, LOOP_GET_STATUS,
		LOOP_SET_STATUS64, LOOP_GET_STATUS64, LOOP_CHANGE_FD,
		LOOP_SET_CAPACITY, LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE,
		LOOP_CONFIGURE, LOOP_GET_STATUS64, LOOP_GET_STATUS,
	};
	static const unsigned long aloop_cmds[] = {
		ALOOP_GET_INFO, ALOOP_GET_INFO, ALOOP_CONFIGURE, ALOOP_GET_FEATURES,
	};
	static const unsigned long ctl_cmds[] = {
		LOOP_CTL_ADD, LOOP_CTL_REMOVE, LOOP_CTL_GET_FREE,
	};
	int on_dev, fd, di = -1, checkable = 0;
	unsigned long cmd, arg;
	size_t size;
	void *p = NULL;
	long r;

	/* a little I/O in between */
	if (ndev && chance(2)) {
		di = (int)rn(ndev);
		if (dev_fd[di] >= 0) {
			if (chance(70) || opt_ro)
				r = pread(dev_fd[di], rw_page, PG, (off_t)rn(256) * PG);
			else
				r = pwrite(dev_fd[di], rw_page, PG, (off_t)rn(256) * PG);
			(void)r;
		}
		return;
	}

	on_dev = ndev && !chance(20);
	if (on_dev) {
		di = (int)rn(ndev);
		fd = dev_fd[di];
		if (fd < 0)
			fd = ctl_fd, on_dev = 0;
	} else {
		fd = ctl_fd;
	}
	switch (rn(20)) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
		cmd = dev_cmds[rn(sizeof(dev_cmds) / sizeof(dev_cmds[0]))];
		break;
	case 8: case 9: case 10:
		cmd = ctl_cmds[rn(3)];
		break;
	case 11: case 12: case 13:
		if (!opt_no_aloop) {
			cmd = aloop_cmds[rn(sizeof(aloop_cmds) / sizeof(aloop_cmds[0]))];
			if (chance(15))	/* same number, another size or direction */
				cmd = _IOC((unsigned)rn(4), ALOOP_IOC_MAGIC, _IOC_NR(cmd), (unsigned)rn(1024));
			break;
		}
		/* fall through */
	default:
		cmd = rand_cmd();
	}

	/* the argument */
	size = cmd_size(cmd);
	switch (cmd) {
	case LOOP_SET_FD:
	case LOOP_CHANGE_FD:
		arg = (unsigned long)(long)pick_fd();
		break;
	case LOOP_SET_BLOCK_SIZE:
		arg = chance(80) ? pick_bs() : rnd();
		break;
	case LOOP_SET_DIRECT_IO:
		arg = chance(80) ? rn(2) : rnd();
		break;
	case LOOP_CLR_FD:
	case LOOP_SET_CAPACITY:
		arg = chance(80) ? 0 : rnd();
		break;
	case LOOP_CTL_ADD:
	case LOOP_CTL_REMOVE:
		arg = (unsigned long)pick_index();
		break;
	case LOOP_CTL_GET_FREE:
		arg = chance(80) ? 0 : rnd();
		break;
	default:
		if (size || chance(50)) {
			p = pick_ptr(size ? size : rn(PG), &checkable);
			fill_arg(cmd, p, size);
			arg = (unsigned long)p;
		} else {
			arg = chance(50) ? rn(16) : rnd();
		}
	}

	r = ioctl(fd, cmd, arg);
	__atomic_add_fetch(&sh->calls, 1, __ATOMIC_RELAXED);
	if (r < 0) {
		__atomic_add_fetch(&sh->err[errno < MAX_ERRNO ? errno : 0], 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&sh->ok, 1, __ATOMIC_RELAXED);
	if (!on_dev && (cmd == LOOP_CTL_ADD || cmd == LOOP_CTL_GET_FREE))
		tidy_index(r);
	if (on_dev && opt_user && opt_ro && is_dev_cmd_perm(cmd))
		note(sh->perm, &sh->nperm, &sh->permviol,
		     "%s succeeded for uid %u on a read-only fd of %s (arg 0x%lx)",
		     cmd_name(cmd), (unsigned)geteuid(), dev_path[di], arg);
	after_ok(cmd, p, checkable, on_dev);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void setup_arena(void)
{
	arena = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED) {
		perror("alo-fuzz: mmap");
		exit(2);
	}
	rw_page = arena;
	ro_page = arena + 2 * PG;
	none_page = arena + 3 * PG;
	memset(ro_page, 0x5A, PG);
	if (mprotect(ro_page, PG, PROT_READ) || mprotect(none_page, PG, PROT_NONE)) {
		perror("alo-fuzz: mprotect");
		exit(2);
	}
}

static void child_round(uint64_t seed, long calls, double deadline)
{
	long i;

	rs = seed * 0x9E3779B97F4A7C15ULL + 1;
	if (open_world())
		_exit(2);
	if (opt_user)
		drop_privs();
	for (i = 0; i < calls; i++) {
		one_call();
		if ((i & 63) == 0 && now() > deadline)
			break;
	}
	_exit(0);
}

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

static int do_fuzz(void)
{
	double t0 = now(), deadline = t0 + (double)opt_secs;
	long rounds = 0, per;
	int hang = 0, i, first;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("alo-fuzz: mmap");
		return 2;
	}
	memset(sh, 0, sizeof(*sh));
	scan_preexisting();
	setup_arena();
	signal(SIGPIPE, SIG_IGN);

	while (sh->calls < opt_count && now() < deadline) {
		pid_t pid;
		int st;
		double limit;

		per = opt_count - sh->calls;
		if (per > opt_per_round)
			per = opt_per_round;
		pid = fork();
		if (pid < 0) {
			perror("alo-fuzz: fork");
			return 2;
		}
		if (!pid)
			child_round(opt_seed * 100003 + (uint64_t)rounds, per, deadline);
		rounds++;
		/* a round past the deadline by 30 s is hung (in the kernel) */
		limit = deadline + 30;
		for (;;) {
			pid_t w = waitpid(pid, &st, WNOHANG);

			if (w == pid)
				break;
			if (now() > limit) {
				kill(pid, SIGKILL);
				usleep(500000);
				if (waitpid(pid, &st, WNOHANG) != pid) {
					hang = 1;
					fprintf(stderr, "alo-fuzz: round %ld (pid %d) does not end\n",
						rounds, (int)pid);
				}
				break;
			}
			usleep(2000);
		}
		if (hang)
			break;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 2) {
			fprintf(stderr, "alo-fuzz: round %ld could not set up\n", rounds);
			return 2;
		}
		if (WIFSIGNALED(st) && sh->crashes++ < 3)
			fprintf(stderr, "alo-fuzz: round %ld killed by signal %d\n", rounds, WTERMSIG(st));
	}

	printf("calls=%ld\n", sh->calls);
	printf("ok=%ld\n", sh->ok);
	printf("seconds=%.1f\n", now() - t0);
	printf("rounds=%ld\n", rounds);
	printf("leaks=%ld\n", sh->leaks);
	printf("permviol=%ld\n", sh->permviol);
	printf("strays=%ld\n", sh->strays);
	printf("hang=%d\n", hang);
	printf("crashes=%ld\n", sh->crashes);
	printf("errnos=");
	for (i = 0, first = 1; i < MAX_ERRNO; i++)
		if (sh->err[i]) {
			printf("%s%s:%ld", first ? "" : ",", errname(i), sh->err[i]);
			first = 0;
		}
	printf("\n");
	for (i = 0; i < sh->nleak; i++)
		printf("leak: %s\n", sh->leak[i]);
	for (i = 0; i < sh->nperm; i++)
		printf("permviol: %s\n", sh->perm[i]);
	if (hang)
		return 3;
	return sh->leaks || sh->permviol || sh->crashes ? 1 : 0;
}

/* -------------------------------------------------------- leak mode */
static int do_leak(void)
{
	union {
		struct loop_info64 i64;
		struct loop_info old;
		struct aloop_info ai;
		struct aloop_features af;
		unsigned char b[PG];
	} u;
	int cfd, dfd, bad = 0;

	cfd = open(ctl_path, O_RDWR | O_CLOEXEC);
	dfd = open(dev_path[0], O_RDONLY | O_CLOEXEC);
	if (cfd < 0 || dfd < 0) {
		fprintf(stderr, "alo-fuzz: cannot open %s / %s: %s\n", ctl_path, dev_path[0],
			strerror(errno));
		return 2;
	}
	memset(&u, 0xA5, sizeof(u));
	if (ioctl(dfd, LOOP_GET_STATUS64, &u.i64) < 0) {
		printf("LOOP_GET_STATUS64 %s\n", errname(errno));
		bad = 1;
	} else if (!check_info64(u.b, 1, 0)) {
		printf("LOOP_GET_STATUS64 OK\n");
	} else {
		bad = 1;
	}
	memset(&u, 0xA5, sizeof(u));
	if (ioctl(dfd, LOOP_GET_STATUS, &u.old) < 0) {
		printf("LOOP_GET_STATUS %s\n", errname(errno));
		bad = 1;
	} else if (!check_info_old(u.b, 1, 0)) {
		printf("LOOP_GET_STATUS OK\n");
	} else {
		bad = 1;
	}
	if (!opt_no_aloop) {
		memset(&u, 0xA5, sizeof(u));
		u.ai.size = sizeof(u.ai);
		if (ioctl(dfd, ALOOP_GET_INFO, &u.ai) < 0) {
			printf("ALOOP_GET_INFO %s\n", errname(errno));
			bad = 1;
		} else if (!check_ainfo(u.b, 0)) {
			printf("ALOOP_GET_INFO OK\n");
		} else {
			bad = 1;
		}
		memset(&u, 0xA5, sizeof(u));
		u.af.size = sizeof(u.af);
		if (ioctl(cfd, ALOOP_GET_FEATURES, &u.af) < 0) {
			printf("ALOOP_GET_FEATURES %s\n", errname(errno));
			bad = 1;
		} else if (!check_features(u.b, 0)) {
			printf("ALOOP_GET_FEATURES OK\n");
		} else {
			bad = 1;
		}
	}
	return bad;
}

static void usage(void)
{
	fprintf(stderr,
"usage: alo-fuzz fuzz [--seed N] [--count N] [--secs N] [--per-round N] [--user]\n"
"                     [--ro] [--no-aloop] [--file PATH]... [--idx-base N]\n"
"                     [--prefix NAME] CTL DEV...\n"
"       alo-fuzz leak [--no-aloop] CTL DEV\n");
	exit(2);
}

static long num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	const char *mode;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* fd 0 may be handed to LOOP_CONFIGURE: make it harmless */
	i = open("/dev/null", O_RDONLY);
	if (i > 0) {
		dup2(i, 0);
		close(i);
	}
	if (argc < 2)
		usage();
	mode = argv[1];
	for (i = 2; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *o = argv[i];
		int more = i + 1 < argc;

		if (!strcmp(o, "--seed") && more)
			opt_seed = (uint64_t)num(argv[++i]);
		else if (!strcmp(o, "--count") && more)
			opt_count = num(argv[++i]);
		else if (!strcmp(o, "--secs") && more)
			opt_secs = num(argv[++i]);
		else if (!strcmp(o, "--per-round") && more)
			opt_per_round = num(argv[++i]);
		else if (!strcmp(o, "--user"))
			opt_user = 1;
		else if (!strcmp(o, "--ro"))
			opt_ro = 1;
		else if (!strcmp(o, "--no-aloop"))
			opt_no_aloop = 1;
		else if (!strcmp(o, "--file") && more && nfile < MAX_FILES)
			file_path[nfile++] = argv[++i];
		else if (!strcmp(o, "--idx-base") && more)
			opt_idx_base = (int)num(argv[++i]);
		else if (!strcmp(o, "--prefix") && more)
			opt_prefix = argv[++i];
		else
			usage();
	}
	if (i >= argc)
		usage();
	ctl_path = argv[i++];
	for (; i < argc && ndev < MAX_DEVS; i++)
		dev_path[ndev++] = argv[i];
	if (opt_per_round < 1 || opt_count < 0 || opt_secs < 1)
		usage();
	if (!strcmp(mode, "fuzz"))
		return do_fuzz();
	if (!strcmp(mode, "leak")) {
		if (ndev != 1)
			usage();
		return do_leak();
	}
	usage();
	return 2;
}
