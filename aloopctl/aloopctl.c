// SPDX-License-Identifier: GPL-2.0
/*
 * aloopctl - set up and control aloop devices.
 *
 * aloop devices speak the loop ioctl ABI of <linux/loop.h>, but live on
 * their own block major, so losetup does not see them; this is their
 * losetup.  Option names follow losetup where the two overlap.
 *
 * Errors are one line on stderr, object first, naming the action that
 * failed as losetup's do ("aloopctl: /x/img: failed to set up aloop
 * device: No such file or directory"); a bad command line adds "Try
 * 'aloopctl --help' for more information.".  The exit status is 0 or 1.
 *
 * Environment: ALOOPCTL_SYSFS replaces "/sys" (for tests against a fake
 * sysfs tree; device nodes are always looked up in /dev).
 */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/aloop.h>

#include "aloopctl.h"

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#define ATTACH_TRIES		5	/* LOOP_CTL_GET_FREE races */
#define NODE_WAIT_TRIES		80	/* x 25 ms for udev to create a node */
#define NODE_WAIT_USEC		25000
#define DEVNAME_LEN		32

#define F(o)			(1U << (o))


struct ctl;

struct verb {
	const char	*name;
	int		(*fn)(struct ctl *ctl);
	unsigned int	opts;		/* F(O_*) accepted */
	int		min_args;
	int		max_args;	/* -1: no limit */
	const char	*args;		/* for "missing ..." */
};

struct ctl {
	const struct verb *verb;
	char		**argv;		/* non-option arguments, verb first */
	char		**args;		/* after the verb */
	int		nargs;
	unsigned int	seen;		/* F(O_*) given */
	const char	*sysfs;

	/* attach, set */
	bool		ro;
	bool		partscan;
	int		autoclear;	/* -1 unset, 0 off, 1 on */
	int		dio;		/* -1 unset, 0 off, 1 on */
	bool		dio_require;	/* attach --dio=require */
	uint64_t	offset;
	uint64_t	sizelimit;
	uint32_t	block_size;
	uint32_t	queues;		/* 0: the module's default */
	const char	*device;
	const char	*owner;		/* attach --owner, reap --owner */
	bool		lease;
	bool		no_partscan;
	char		**cmd;		/* after "--": attach --lease's command */

	/* detach, reap */
	int		wait;		/* --wait seconds, -1: no wait */
	bool		if_unused;
	bool		orphans;	/* list, reap */
	int64_t		older_than;	/* reap: seconds, -1: any age */
	bool		dry_run;	/* reap, restore */

	/* restore: attach prints "FILE: attached to DEV" */
	bool		restoring;

	/* list, status, features */
	bool		all;
	unsigned int	tflags;		/* ALOOP_TB_* */
	int		cols[ALOOP_MAX_COLS];
	size_t		ncols;
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Like util-linux close_stdout(): a failed write to stdout fails us. */
static void close_stdout(void)
{
	bool prev_fail = ferror(stdout);
	bool close_fail;

	errno = 0;
	close_fail = fclose(stdout) != 0;
	if (!prev_fail && !close_fail)
		return;
	if (errno == EPIPE)
		return;
	if (close_fail && errno)
		warn("write error");
	else
		warnx("write error");
	_exit(EXIT_FAILURE);
}

/* A bad command line: the problem, then where to look, as util-linux does. */
static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	fputs("Try 'aloopctl --help' for more information.\n", stderr);
	exit(EXIT_FAILURE);
}

/* attach failed: "NAME: failed to set up aloop device: strerror(errno)" */
static void __attribute__((noreturn)) setup_failed(const char *name)
{
	err(EXIT_FAILURE, "%s: failed to set up aloop device", name);
}

static void dev_name(char *buf, size_t len, unsigned int nr)
{
	aloop_dev_path(buf, len, nr);
}

/* Open read-write, or read-only when that is all we may do. */
static int open_node(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd;
}

/* A device just made by the kernel: udev may still be creating its node. */
static int open_new_node(const char *path)
{
	int i;

	for (i = 0; ; i++) {
		int fd = open_node(path);

		if (fd >= 0 || errno != ENOENT || i == NODE_WAIT_TRIES)
			return fd;
		usleep(NODE_WAIT_USEC);
	}
}

/*
 * /dev/aloop-control, or /dev/loop-control in drop-in mode.  When it
 * does not exist and the module is not loaded, root loads the module
 * (aloop_load_module(): libkmod, as modprobe, with the options of
 * /etc/modprobe.d: "aloopctl compat enable" makes it drop-in mode), then
 * takes the names of the mode it was loaded in and waits for
 * udev/devtmpfs to create the node; any other user gets the error.
 */
static int open_control(const struct ctl *ctl)
{
	int fd = open_node(aloop_control_path());

	if (fd < 0 && errno == ENOENT && geteuid() == 0 &&
	    !aloop_module_loaded(ctl->sysfs)) {
		char msg[PATH_MAX];

		if (aloop_load_module(ALOOP_NAME_PREFIX, msg, sizeof(msg)) < 0)
			errx(EXIT_FAILURE, "%s", msg);
		aloop_names_init(ctl->sysfs);
		fd = open_new_node(aloop_control_path());
	}
	if (fd >= 0)
		return fd;
	if (errno == ENOENT && !aloop_module_loaded(ctl->sysfs))
		errx(EXIT_FAILURE, "%s: %s (aloop module not loaded?)",
		     aloop_control_path(), strerror(ENOENT));
	err(EXIT_FAILURE, "%s", aloop_control_path());
}

static void require_module(const struct ctl *ctl)
{
	if (!aloop_module_loaded(ctl->sysfs))
		errx(EXIT_FAILURE, "aloop module is not loaded");
}

/*
 * Kernel name ("sda", "aloop3") of the block device node @path, found
 * through /sys/dev/block/MAJ:MIN; @buf holds the link target.
 */
static const char *blkdev_kname(const struct ctl *ctl, const char *path,
				char *buf, size_t len)
{
	char link[PATH_MAX];
	struct stat st;
	const char *base;
	ssize_t n;

	if (stat(path, &st) || !S_ISBLK(st.st_mode))
		return NULL;
	snprintf(link, sizeof(link), "%s/dev/block/%u:%u", ctl->sysfs,
		 major(st.st_rdev), minor(st.st_rdev));
	n = readlink(link, buf, len - 1);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	base = strrchr(buf, '/');
	return base ? base + 1 : buf;
}

/*
 * DEV argument to device number: "aloopN", "/dev/aloopN", or another
 * node (e.g. a udev symlink) of an aloop device.  Warns and returns -1
 * for anything else.
 */
static int resolve_dev(const struct ctl *ctl, const char *arg,
		       unsigned int *nr)
{
	char buf[PATH_MAX];
	const char *kname;

	if (!aloop_parse_devname(arg, nr))
		return 0;
	kname = blkdev_kname(ctl, arg, buf, sizeof(buf));
	if (kname && !aloop_parse_devname(kname, nr))
		return 0;
	warnx("%s: not an aloop device", arg);
	return -1;
}

static unsigned int get_dev(const struct ctl *ctl, const char *arg,
			    char *path, size_t len)
{
	unsigned int nr;

	if (resolve_dev(ctl, arg, &nr))
		exit(EXIT_FAILURE);
	dev_name(path, len, nr);
	return nr;
}

static int open_dev_or_die(const char *path)
{
	int fd = open_node(path);

	if (fd < 0)
		err(EXIT_FAILURE, "%s", path);
	return fd;
}

static void print_table(const struct aloop_dev *devs, size_t ndevs,
			const int *cols, size_t ncols, unsigned int flags)
{
	struct libscols_table *tb;
	int rc;

	tb = scols_new_table();
	if (!tb)
		err(EXIT_FAILURE, "cannot create output table");
	rc = aloop_table_fill(tb, devs, ndevs, cols, ncols, flags);
	if (rc) {
		errno = -rc;
		err(EXIT_FAILURE, "cannot fill output table");
	}
	scols_print_table(tb);
	scols_unref_table(tb);
}

/* ------------------------------------------------------------------ */
/* attach                                                              */
/* ------------------------------------------------------------------ */

/* Open FILE read-write, falling back to read-only like losetup does. */
static int open_backing(const char *file, bool *ro)
{
	struct stat st;
	int fd = -1;

	if (!*ro) {
		fd = open(file, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno != EROFS && errno != EACCES)
			setup_failed(file);
		if (fd < 0)
			*ro = true;
	}
	if (fd < 0)
		fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		setup_failed(file);

	if (fstat(fd, &st))
		setup_failed(file);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		errx(EXIT_FAILURE, "%s: failed to set up aloop device: "
		     "not a regular file or block device", file);
	return fd;
}

static void build_config(const struct ctl *ctl, const char *file, int fd,
			 bool ro, struct loop_config *cfg)
{
	char *path = realpath(file, NULL);
	const char *name = path ? path : file;
	size_t len = strnlen(name, LO_NAME_SIZE - 1);

	memset(cfg, 0, sizeof(*cfg));
	cfg->fd = fd;
	cfg->block_size = ctl->block_size;
	cfg->info.lo_offset = ctl->offset;
	cfg->info.lo_sizelimit = ctl->sizelimit;
	if (ro)
		cfg->info.lo_flags |= LO_FLAGS_READ_ONLY;
	if (ctl->autoclear > 0)
		cfg->info.lo_flags |= LO_FLAGS_AUTOCLEAR;
	if (ctl->partscan)
		cfg->info.lo_flags |= LO_FLAGS_PARTSCAN;
	if (ctl->dio > 0)
		cfg->info.lo_flags |= LO_FLAGS_DIRECT_IO;
	memcpy(cfg->info.lo_file_name, name, len);
	free(path);
}

/*
 * LOOP_CONFIGURE, or aloop's ALOOP_CONFIGURE when aloop's own settings
 * (--queues) are asked for.
 */
static int configure(const struct ctl *ctl, int fd,
		     const struct loop_config *cfg)
{
	struct aloop_config acfg;

	if (!ctl->queues)
		return ioctl(fd, LOOP_CONFIGURE, cfg);
	memset(&acfg, 0, sizeof(acfg));
	acfg.size = sizeof(acfg);
	acfg.nr_queues = ctl->queues;
	acfg.config = *cfg;
	return ioctl(fd, ALOOP_CONFIGURE, &acfg);
}

/*
 * --device: like losetup, create the device if it does not exist yet.
 * Errors name the device while it cannot be used, then the file.
 */
static int attach_given(const struct ctl *ctl, const struct loop_config *cfg,
			const char *file, char *path, size_t len)
{
	unsigned int nr = get_dev(ctl, ctl->device, path, len);
	int fd = open_node(path);

	if (fd < 0 && errno == ENOENT) {
		int cfd = open_control(ctl);

		if (ioctl(cfd, LOOP_CTL_ADD, (unsigned long)nr) < 0 &&
		    errno != EEXIST)
			setup_failed(path);
		close(cfd);
		fd = open_new_node(path);
	}
	if (fd < 0)
		setup_failed(path);
	if (configure(ctl, fd, cfg) < 0)
		setup_failed(file);
	return fd;
}

/* Take a free device; retry when another process configures it first. */
static int attach_free(const struct ctl *ctl, const struct loop_config *cfg,
		       const char *file, char *path, size_t len)
{
	int cfd = open_control(ctl);
	int try, fd;

	for (try = 1; ; try++) {
		int nr = ioctl(cfd, LOOP_CTL_GET_FREE);

		if (nr < 0)
			err(EXIT_FAILURE, "%s: cannot find an unused aloop device",
			    aloop_control_path());
		dev_name(path, len, nr);
		fd = open_new_node(path);
		if (fd < 0)
			setup_failed(path);
		if (!configure(ctl, fd, cfg))
			break;
		if (errno != EBUSY || try == ATTACH_TRIES)
			setup_failed(file);
		close(fd);
	}
	close(cfd);
	return fd;
}

/*
 * ALOOP_CTL_ATTACH: a free device (or --device's) taken and configured in
 * one call on the control device - no LOOP_CTL_GET_FREE race, no retry,
 * no wait for a node (it exists when the call returns).  -1 with errno
 * ENOTTY/ENOSYS when the module predates it.
 */
static int attach_one_call(const struct ctl *ctl, const struct loop_config *cfg,
			   int cfd, unsigned int *nr)
{
	struct aloop_attach a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.nr_queues = ctl->queues;
	a.config = *cfg;
	if (ctl->owner)
		snprintf(a.owner, sizeof(a.owner), "%s", ctl->owner);
	if (ctl->lease)
		a.flags |= ALOOP_ATTACH_LEASE;
	if (ctl->no_partscan)
		a.flags |= ALOOP_ATTACH_NO_PARTSCAN;
	if (ctl->device) {
		char path[DEVNAME_LEN];

		a.flags |= ALOOP_ATTACH_INDEX;
		a.index = get_dev(ctl, ctl->device, path, sizeof(path));
	}
	if (ioctl(cfd, ALOOP_CTL_ATTACH, &a) < 0)
		return -1;
	*nr = a.index;
	return 0;
}

/* attach --lease FILE -- CMD: run CMD; the lease ends when we do. */
static int run_leased(const struct ctl *ctl, const char *path)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		err(EXIT_FAILURE, "fork");
	if (!pid) {
		setenv("ALOOP_DEVICE", path, 1);
		execvp(ctl->cmd[0], ctl->cmd);
		warn("%s", ctl->cmd[0]);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			err(EXIT_FAILURE, "waitpid");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*
 * What attach says of the backing file's file system: at most one
 * warning (ALOOP_FIT_*), "" when it is a good fit or not a regular file
 * (a block device node's statfs is devtmpfs's).
 */
static void judge_backing(const char *file, int fd, bool ro, char *msg,
			  size_t len)
{
	struct aloop_backing_fs fs = { .ro = ro };
	char type[64];
	struct statfs sfs;
	struct stat st;
	FILE *mi;
	int flags = 0;

	msg[0] = '\0';
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || fstatfs(fd, &sfs))
		return;
	fs.magic = (uint32_t)sfs.f_type;
	if (!aloop_fs_name(fs.magic))
		return;
	/* FS_IOC_GETFLAGS takes an int, whatever its definition says. */
	if (!ioctl(fd, FS_IOC_GETFLAGS, &flags))
		fs.nocow = flags & FS_NOCOW_FL;
	mi = fopen("/proc/self/mountinfo", "re");
	if (mi) {
		if (!aloop_mountinfo_type(mi, major(st.st_dev), minor(st.st_dev),
					  type, sizeof(type)))
			fs.type = type;
		fclose(mi);
	}
	aloop_backing_fit(file, &fs, msg, len);
}

/*
 * --dio=require: the device must be using direct I/O now; if not, it is
 * detached again and attach fails with the kernel's reason (sysfs
 * aloop/dio_reason).
 */
static void require_dio(const struct ctl *ctl, const char *file,
			const char *path, int dfd)
{
	struct aloop_dev d;
	unsigned int nr;
	char why[300];
	int rc = -ENODEV, fd = dfd;

	if (!aloop_parse_devname(path, &nr))
		rc = aloop_sysfs_read_dev(ctl->sysfs, nr, &d);
	if (!rc && d.dio)
		return;
	if (rc)
		snprintf(why, sizeof(why), "cannot tell whether %s uses it: %s",
			 path, strerror(-rc));
	else
		snprintf(why, sizeof(why), "%s", *d.dio_reason ? d.dio_reason :
			 "the kernel gives no reason");
	if (fd < 0)
		fd = open_node(path);
	if (fd < 0 || ioctl(fd, LOOP_CLR_FD, 0) < 0)
		errx(EXIT_FAILURE, "%s: direct I/O required but not in use: %s (%s left attached: %s)",
		     file, why, path, strerror(errno));
	errx(EXIT_FAILURE, "%s: direct I/O required but not possible: %s (%s detached again)",
	     file, why, path);
}

/* attach --json: the device, the file, its direct I/O and the warnings */
static void print_attach_json(const struct ctl *ctl, const char *file,
			      const char *path, const char *warning)
{
	char *abs = realpath(file, NULL);	/* as list --json has it */
	struct aloop_dev d;
	unsigned int nr;
	bool known;

	known = !aloop_parse_devname(path, &nr) &&
		!aloop_sysfs_read_dev(ctl->sysfs, nr, &d);
	fputs("{\n   \"device\": ", stdout);
	aloop_json_str(stdout, path);
	fputs(",\n   \"back-file\": ", stdout);
	aloop_json_str(stdout, abs ? abs : file);
	free(abs);
	fputs(",\n   \"dio\": ", stdout);
	fputs(!known ? "null" : d.dio ? "true" : "false", stdout);
	fputs(",\n   \"dio-reason\": ", stdout);
	if (known && *d.dio_reason)	/* empty is null, as in list --json */
		aloop_json_str(stdout, d.dio_reason);
	else
		fputs("null", stdout);
	fputs(",\n   \"warnings\": [", stdout);
	if (*warning) {
		fputs("\n      ", stdout);
		aloop_json_str(stdout, warning);
		fputs("\n   ", stdout);
	}
	fputs("]\n}\n", stdout);
}

static int do_attach(struct ctl *ctl)
{
	const char *file = ctl->args[0];
	char path[DEVNAME_LEN], warning[512];
	struct loop_config cfg;
	bool ro = ctl->ro;
	unsigned int nr;
	int ffd, dfd = -1, cfd, rc = 0;

	if (ctl->lease && !ctl->cmd)
		usage_error("--lease: a command to run is missing (attach --lease FILE -- CMD...)");
	if (ctl->cmd && !ctl->lease)
		usage_error("attach: a command after '--' needs --lease");
	if (ctl->owner && strlen(ctl->owner) >= ALOOP_OWNER_SIZE)
		usage_error("--owner: label longer than %d bytes", ALOOP_OWNER_SIZE - 1);
	if (ctl->device)	/* not an aloop device: say so first */
		get_dev(ctl, ctl->device, path, sizeof(path));

	ffd = open_backing(file, &ro);
	judge_backing(file, ffd, ro, warning, sizeof(warning));
	build_config(ctl, file, ffd, ro, &cfg);
	cfd = open_control(ctl);
	if (!attach_one_call(ctl, &cfg, cfd, &nr)) {
		dev_name(path, sizeof(path), nr);
	} else if ((errno == ENOTTY || errno == ENOSYS) &&
		   !ctl->lease && !ctl->owner && !ctl->no_partscan) {
		/* An older module: the loop way. */
		if (ctl->device)
			dfd = attach_given(ctl, &cfg, file, path, sizeof(path));
		else
			dfd = attach_free(ctl, &cfg, file, path, sizeof(path));
	} else if (errno == ENOTTY || errno == ENOSYS) {
		errx(EXIT_FAILURE, "%s: failed to set up aloop device: "
		     "the loaded aloop module has no ALOOP_CTL_ATTACH (--lease, --owner, --no-partscan)",
		     file);
	} else {
		setup_failed(file);
	}
	close(ffd);
	/* dio=Y makes direct I/O the default: --direct-io=off turns it off;
	 * --autoclear detaches at the close that ends this open. */
	if (dfd < 0 && (ctl->dio == 0 || ctl->autoclear > 0)) {
		dfd = open_node(path);
		if (dfd < 0)
			err(EXIT_FAILURE, "%s", path);
	}
	if (ctl->dio == 0 && ioctl(dfd, LOOP_SET_DIRECT_IO, 0UL) < 0)
		err(EXIT_FAILURE, "%s: set direct I/O failed", path);

	/* A poor fit still works: warn, on stderr and in --json. */
	if (*warning)
		warnx("warning: %s", warning);
	if (ctl->dio_require)
		require_dio(ctl, file, path, dfd);

	if (ctl->restoring)
		printf("%s: attached to %s\n", file, path);
	else if (ctl->tflags & ALOOP_TB_JSON)
		print_attach_json(ctl, file, path, warning);
	else
		printf("%s\n", path);
	fflush(stdout);
	if (dfd >= 0)
		close(dfd);	/* with --autoclear this detaches */
	if (ctl->lease)
		rc = run_leased(ctl, path);
	close(cfd);		/* the lease, if any, ends here */
	return rc;
}

/* ------------------------------------------------------------------ */
/* detach, detach-all                                                  */
/* ------------------------------------------------------------------ */

static int detach_one(const char *path, bool ignore_unbound)
{
	int fd = open_node(path);

	if (fd < 0) {
		warn("%s: detach failed", path);
		return -1;
	}
	if (ioctl(fd, LOOP_CLR_FD, 0) < 0 &&
	    !(ignore_unbound && errno == ENXIO)) {
		warn("%s: detach failed", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ALOOP_CTL_DETACH: without opening the device. */
static int detach_ctl(int cfd, unsigned int nr, bool if_unused)
{
	struct aloop_detach d;

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.index = nr;
	if (if_unused)
		d.flags |= ALOOP_DETACH_IF_UNUSED;
	return ioctl(cfd, ALOOP_CTL_DETACH, &d);
}

/* aloopN is unbound and has no partition left in sysfs */
static bool detached(const struct ctl *ctl, unsigned int nr)
{
	char p[PATH_MAX], name[64];
	struct aloop_dev d;
	DIR *dir;
	struct dirent *e;
	bool parts = false;

	if (aloop_sysfs_read_dev(ctl->sysfs, nr, &d) == 0 && d.bound)
		return false;
	snprintf(name, sizeof(name), "%s%up", aloop_name_prefix(), nr);
	snprintf(p, sizeof(p), "%s/block/%s%u", ctl->sysfs,
		 aloop_name_prefix(), nr);
	dir = opendir(p);
	if (!dir)
		return true;
	while ((e = readdir(dir)))
		if (!strncmp(e->d_name, name, strlen(name)))
			parts = true;
	closedir(dir);
	return !parts;
}

static int wait_detached(const struct ctl *ctl, unsigned int nr,
			 const char *path)
{
	int i;

	for (i = 0; i <= ctl->wait * 20; i++) {
		if (detached(ctl, nr))
			return 0;
		usleep(50000);
	}
	warnx("%s: still bound (or its partitions still there) after %d s",
	      path, ctl->wait);
	return -1;
}

static int do_detach(struct ctl *ctl)
{
	bool by_ctl = ctl->if_unused || ctl->wait >= 0;
	char path[DEVNAME_LEN];
	unsigned int nr;
	int i, rc = 0, cfd = -1;

	if (by_ctl)
		cfd = open_control(ctl);
	for (i = 0; i < ctl->nargs; i++) {
		if (resolve_dev(ctl, ctl->args[i], &nr)) {
			rc = -1;
			continue;
		}
		dev_name(path, sizeof(path), nr);
		if (!by_ctl) {
			if (detach_one(path, false))
				rc = -1;
			continue;
		}
		if (detach_ctl(cfd, nr, ctl->if_unused) < 0) {
			if (errno == EBUSY && ctl->if_unused)
				warnx("%s: detach failed: in use (--if-unused)", path);
			else
				warn("%s: detach failed", path);
			rc = -1;
			continue;
		}
		if (ctl->wait >= 0 && wait_detached(ctl, nr, path))
			rc = -1;
	}
	if (cfd >= 0)
		close(cfd);
	return rc;
}

/* find FILE: the devices bound to FILE (losetup -j), one per line. */
static int do_find(struct ctl *ctl)
{
	const char *file = ctl->args[0];
	struct aloop_find f;
	char path[DEVNAME_LEN];
	unsigned int i;
	int cfd, ffd;

	ffd = open(file, O_RDONLY | O_CLOEXEC);
	if (ffd < 0)
		err(EXIT_FAILURE, "%s", file);
	cfd = open_control(ctl);
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.fd = ffd;
	if (ctl->seen & F(O_OFFSET)) {
		f.flags |= ALOOP_FIND_OFFSET;
		f.offset = ctl->offset;
	}
	if (ioctl(cfd, ALOOP_CTL_FIND, &f) < 0)
		err(EXIT_FAILURE, "%s: find failed", file);
	close(cfd);
	close(ffd);
	for (i = 0; i < f.count && i < ALOOP_FIND_MAX; i++) {
		dev_name(path, sizeof(path), f.index[i]);
		printf("%s\n", path);
	}
	if (f.count > ALOOP_FIND_MAX)
		warnx("%s: %u more devices not shown", file,
		      f.count - ALOOP_FIND_MAX);
	return 0;
}

/* reap's choice: bound, and every filter given matches */
static bool reap_match(const struct ctl *ctl, const struct aloop_dev *d,
		       time_t now)
{
	if (!d->bound)
		return false;
	if (ctl->orphans && !d->orphan)
		return false;
	if (ctl->owner && strcmp(ctl->owner, d->owner))
		return false;
	if (ctl->older_than >= 0 &&
	    (!d->attach_time || now - (time_t)d->attach_time < ctl->older_than))
		return false;
	return true;
}

static void scan_or_die(const struct ctl *ctl, bool all,
			struct aloop_dev **devs, size_t *ndevs);

/*
 * reap: detach the devices the filters choose that nobody has open; the
 * rest are reported, left alone.  Exit 1 when some were left.
 */
static int do_reap(struct ctl *ctl)
{
	struct aloop_dev *devs;
	char path[DEVNAME_LEN];
	time_t now = time(NULL);
	size_t i, ndevs;
	int rc = 0, cfd = -1;

	if (!ctl->orphans && !ctl->owner && ctl->older_than < 0)
		usage_error("reap: say which devices: --orphans, --owner or --older-than");
	scan_or_die(ctl, false, &devs, &ndevs);
	if (!ctl->dry_run)
		cfd = open_control(ctl);
	for (i = 0; i < ndevs; i++) {
		if (!reap_match(ctl, &devs[i], now))
			continue;
		dev_name(path, sizeof(path), devs[i].nr);
		if (ctl->dry_run) {
			printf("%s: would be detached (%s)\n", path,
			       devs[i].backing_file);
		} else if (detach_ctl(cfd, devs[i].nr, true) < 0) {
			if (errno == EBUSY)
				printf("%s: in use, left attached (%s)\n", path,
				       devs[i].backing_file);
			else
				warn("%s: detach failed", path);
			rc = -1;
		} else {
			printf("%s: detached (%s)\n", path, devs[i].backing_file);
		}
	}
	if (cfd >= 0)
		close(cfd);
	free(devs);
	return rc;
}

static void scan_or_die(const struct ctl *ctl, bool all,
			struct aloop_dev **devs, size_t *ndevs)
{
	int rc;

	require_module(ctl);
	rc = aloop_sysfs_scan(ctl->sysfs, all, devs, ndevs);
	if (rc) {
		errno = -rc;
		err(EXIT_FAILURE, "%s/block", ctl->sysfs);
	}
}

static int do_detach_all(struct ctl *ctl)
{
	struct aloop_dev *devs;
	char path[DEVNAME_LEN];
	size_t i, ndevs;
	int rc = 0;

	scan_or_die(ctl, false, &devs, &ndevs);
	for (i = 0; i < ndevs; i++) {
		dev_name(path, sizeof(path), devs[i].nr);
		if (detach_one(path, true))
			rc = -1;
	}
	free(devs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* save, restore                                                       */
/* ------------------------------------------------------------------ */

/*
 * save: the bound devices as restore reads them.  Devices with autoclear
 * go away at their last close and are left out, as a comment.
 */
static int do_save(struct ctl *ctl)
{
	struct aloop_dev *devs;
	struct aloop_spec s;
	char line[PATH_MAX * 2];
	char path[DEVNAME_LEN];
	size_t i, ndevs;
	int rc = 0;

	scan_or_die(ctl, false, &devs, &ndevs);
	printf("# aloop devices (aloopctl save); aloopctl restore attaches them again:\n"
	       "# FILE [offset=N] [sizelimit=N] [read-only] [partscan] [direct-io=on|off]\n"
	       "#      [block-size=N] [queues=N] [owner=LABEL] [device=/dev/aloopN]\n");
	for (i = 0; i < ndevs; i++) {
		dev_name(path, sizeof(path), devs[i].nr);
		aloop_spec_from_dev(&devs[i], &s);
		if (aloop_format_spec(&s, line, sizeof(line))) {
			warnx("%s: %s: cannot save: line too long", path,
			      devs[i].backing_file);
			rc = -1;
			continue;
		}
		if (devs[i].autoclear)
			printf("# %s has autoclear, not saved: %s\n", path, line);
		else
			printf("# %s\n%s\n", path, line);
	}
	free(devs);
	return rc;
}

struct spec_list {
	struct aloop_spec	*v;
	size_t			n;
	size_t			alloc;
};

/* Every line of @f; each bad one is a "NAME:LINE: reason" warning. */
static int read_specs(FILE *f, const char *name, struct spec_list *l)
{
	char *line = NULL, msg[256];
	size_t cap = 0;
	int lineno = 0, rc = 0;

	while (getline(&line, &cap, f) >= 0) {
		struct aloop_spec s;
		int ret;

		lineno++;
		ret = aloop_parse_spec(line, &s, msg, sizeof(msg));
		if (ret < 0) {
			warnx("%s:%d: %s", name, lineno, msg);
			rc = -1;
			continue;
		}
		if (!ret)
			continue;
		if (l->n == l->alloc) {
			struct aloop_spec *v;

			l->alloc = l->alloc ? l->alloc * 2 : 8;
			v = realloc(l->v, l->alloc * sizeof(*v));
			if (!v)
				err(EXIT_FAILURE, "cannot allocate memory");
			l->v = v;
		}
		l->v[l->n++] = s;
	}
	if (ferror(f)) {
		warn("%s", name);
		rc = -1;
	}
	free(line);
	return rc;
}

static int conf_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return e->d_name[0] != '.' && n > 5 &&
		!strcmp(e->d_name + n - 5, ".conf");
}

/* The configuration: DIR/ *.conf in name order; no directory, nothing. */
static int read_spec_dir(const char *dir, struct spec_list *l)
{
	struct dirent **ents;
	int n, i, rc = 0;

	n = scandir(dir, &ents, conf_filter, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		warn("%s", dir);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char p[PATH_MAX];
		FILE *f;

		snprintf(p, sizeof(p), "%s/%s", dir, ents[i]->d_name);
		f = fopen(p, "re");
		if (!f) {
			warn("%s", p);
			rc = -1;
		} else {
			if (read_specs(f, p, l))
				rc = -1;
			fclose(f);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

/*
 * The device @s's file is bound to with @s's offset and sizelimit, if
 * any: ALOOP_CTL_FIND, or with a module that predates it, sysfs.  -1
 * when there is none; exits when the control device cannot be opened.
 */
static int find_bound(const struct ctl *ctl, const struct aloop_spec *s,
		      int ffd)
{
	struct aloop_find f;
	struct aloop_dev d;
	unsigned int i;
	int cfd = open_control(ctl);

	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.fd = ffd;
	f.flags = ALOOP_FIND_OFFSET;
	f.offset = s->offset;
	if (ioctl(cfd, ALOOP_CTL_FIND, &f) == 0) {
		close(cfd);
		for (i = 0; i < f.count && i < ALOOP_FIND_MAX; i++)
			if (!aloop_sysfs_read_dev(ctl->sysfs, f.index[i], &d) &&
			    d.bound && d.sizelimit == s->sizelimit)
				return f.index[i];
		return -1;
	}
	close(cfd);
	if (errno == ENOTTY || errno == ENOSYS) {
		struct aloop_dev *devs;
		char *real = realpath(s->file, NULL);
		size_t n;
		int nr = -1;

		if (real && !aloop_sysfs_scan(ctl->sysfs, false, &devs, &n)) {
			for (i = 0; i < n && nr < 0; i++)
				if (!strcmp(devs[i].backing_file, real) &&
				    devs[i].offset == s->offset &&
				    devs[i].sizelimit == s->sizelimit)
					nr = devs[i].nr;
			free(devs);
		}
		free(real);
		return nr;
	}
	err(EXIT_FAILURE, "%s: find failed", s->file);
}

/* attach @s in a child, through do_attach: its errors, its exit status */
static int restore_one(struct ctl *ctl, const struct aloop_spec *s)
{
	char path[DEVNAME_LEN], *file = (char *)s->file;
	int ffd, nr, status;
	pid_t pid;

	ffd = open(s->file, O_RDONLY | O_CLOEXEC);
	if (ffd < 0) {
		warn("%s: failed to set up aloop device", s->file);
		return -1;
	}
	nr = find_bound(ctl, s, ffd);
	close(ffd);
	if (nr >= 0) {
		dev_name(path, sizeof(path), nr);
		printf("%s: already attached to %s\n", s->file, path);
		return 0;
	}

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		err(EXIT_FAILURE, "fork");
	if (!pid) {
		ctl->restoring = true;
		ctl->args = &file;
		ctl->nargs = 1;
		ctl->ro = s->ro;
		ctl->partscan = s->partscan;
		ctl->no_partscan = s->no_partscan;
		ctl->dio = s->dio;
		ctl->offset = s->offset;
		ctl->sizelimit = s->sizelimit;
		ctl->block_size = s->block_size;
		ctl->queues = s->queues;
		ctl->owner = s->owner[0] ? s->owner : NULL;
		ctl->device = s->device[0] ? s->device : NULL;
		exit(do_attach(ctl) ? EXIT_FAILURE : EXIT_SUCCESS);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			err(EXIT_FAILURE, "waitpid");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*
 * restore [FILE|-]: attach what FILE, stdin or (default) the *.conf
 * files of ALOOP_ATTACH_DIR describe, skipping what is attached already.
 * A bad line anywhere: nothing is attached.
 */
static int do_restore(struct ctl *ctl)
{
	const char *dir = secure_getenv("ALOOP_ATTACH_DIR");
	struct spec_list l = { NULL, 0, 0 };
	char line[PATH_MAX * 2];
	size_t i;
	int rc = 0;

	if (!dir || !*dir)
		dir = ALOOP_ATTACH_DIR;
	if (!ctl->nargs) {
		rc = read_spec_dir(dir, &l);
	} else if (!strcmp(ctl->args[0], "-")) {
		rc = read_specs(stdin, "<stdin>", &l);
	} else {
		FILE *f = fopen(ctl->args[0], "re");

		if (!f)
			err(EXIT_FAILURE, "%s", ctl->args[0]);
		rc = read_specs(f, ctl->args[0], &l);
		fclose(f);
	}
	if (rc) {		/* each bad line said so; attach nothing */
		free(l.v);
		return -1;
	}
	for (i = 0; i < l.n; i++) {
		if (ctl->dry_run) {
			aloop_format_spec(&l.v[i], line, sizeof(line));
			printf("would attach: %s\n", line);
		} else if (restore_one(ctl, &l.v[i])) {
			rc = -1;
		}
	}
	free(l.v);
	return rc;
}

/* ------------------------------------------------------------------ */
/* list, status                                                        */
/* ------------------------------------------------------------------ */

/* list DEV...: the named devices, bound or not, in argument order. */
static int read_named(const struct ctl *ctl, struct aloop_dev **devs,
		      size_t *ndevs)
{
	struct aloop_dev *arr;
	char path[DEVNAME_LEN];
	size_t n = 0;
	int i, rc = 0;

	arr = calloc(ctl->nargs, sizeof(*arr));
	if (!arr)
		err(EXIT_FAILURE, "cannot allocate memory");
	for (i = 0; i < ctl->nargs; i++) {
		unsigned int nr;
		int ret;

		if (resolve_dev(ctl, ctl->args[i], &nr)) {
			rc = -1;
			continue;
		}
		ret = aloop_sysfs_read_dev(ctl->sysfs, nr, &arr[n]);
		if (ret) {
			dev_name(path, sizeof(path), nr);
			warnx("%s: %s", path, strerror(-ret));
			rc = -1;
			continue;
		}
		n++;
	}
	*devs = arr;
	*ndevs = n;
	return rc;
}

static int do_list(struct ctl *ctl)
{
	struct aloop_dev *devs;
	size_t ndevs;
	int rc = 0;

	if (ctl->nargs) {
		require_module(ctl);
		rc = read_named(ctl, &devs, &ndevs);
	} else {
		scan_or_die(ctl, ctl->all, &devs, &ndevs);
	}
	if (ctl->orphans) {
		size_t i, n = 0;

		for (i = 0; i < ndevs; i++)
			if (devs[i].orphan)
				devs[n++] = devs[i];
		ndevs = n;
	}
	print_table(devs, ndevs, ctl->cols, ctl->ncols, ctl->tflags);
	free(devs);
	return rc;
}

/* What the loop ABI tells about a bound device; sysfs knows more. */
static void dev_from_ioctl(int fd, unsigned int nr,
			   const struct loop_info64 *info, struct aloop_dev *d)
{
	uint64_t size = 0;
	int ssz = 0;

	memset(d, 0, sizeof(*d));
	d->nr = nr;
	d->bound = true;
	snprintf(d->backing_file, sizeof(d->backing_file), "%.*s",
		 LO_NAME_SIZE, (const char *)info->lo_file_name);
	d->offset = info->lo_offset;
	d->sizelimit = info->lo_sizelimit;
	d->ro = info->lo_flags & LO_FLAGS_READ_ONLY;
	d->autoclear = info->lo_flags & LO_FLAGS_AUTOCLEAR;
	d->partscan = info->lo_flags & LO_FLAGS_PARTSCAN;
	d->dio = info->lo_flags & LO_FLAGS_DIRECT_IO;
	if (!ioctl(fd, BLKGETSIZE64, &size))
		d->size = size;
	if (!ioctl(fd, BLKSSZGET, &ssz) && ssz > 0)
		d->log_sec = ssz;
}

static int do_status(struct ctl *ctl)
{
	static const int all_cols[] = {
		COL_NAME, COL_BACK_FILE, COL_SIZE, COL_OFFSET, COL_SIZELIMIT,
		COL_RO, COL_AUTOCLEAR, COL_PARTSCAN, COL_LOG_SEC, COL_DIO,
		COL_DIO_REASON, COL_QUEUES, COL_OWNER, COL_OWNER_PID,
		COL_OWNER_CGROUP, COL_ATTACH_TIME, COL_ORPHAN, COL_REQS_DIO,
		COL_REQS_BUFFERED,
		COL_REQS_FALLBACK, COL_REQS_CGROUP, COL_WAKEUPS, COL_BATCHES,
		COL_REQS_WORKER, COL_REQS_NOWAIT, COL_NOWAIT_AGAIN,
		COL_REQS_HELPER, COL_ERRORS,
	};
	struct loop_info64 info;
	struct aloop_dev d, sys;
	char path[DEVNAME_LEN];
	unsigned int nr;
	int fd;

	nr = get_dev(ctl, ctl->args[0], path, sizeof(path));
	fd = open_dev_or_die(path);
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		err(EXIT_FAILURE, "%s", path);
	dev_from_ioctl(fd, nr, &info, &d);
	close(fd);

	if (!aloop_sysfs_read_dev(ctl->sysfs, nr, &sys) && sys.bound)
		d = sys;

	if (ctl->tflags & ALOOP_TB_JSON)
		print_table(&d, 1, all_cols, ARRAY_SIZE(all_cols),
			    ALOOP_TB_JSON);
	else
		aloop_print_status(stdout, &d);
	return 0;
}

/* ------------------------------------------------------------------ */
/* resize, set, features, version                                      */
/* ------------------------------------------------------------------ */

static int do_resize(struct ctl *ctl)
{
	char path[DEVNAME_LEN];
	int fd;

	get_dev(ctl, ctl->args[0], path, sizeof(path));
	fd = open_dev_or_die(path);
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
		err(EXIT_FAILURE, "%s: resize failed", path);
	close(fd);
	return 0;
}

static void set_autoclear(int fd, const char *path, bool on)
{
	struct loop_info64 info;

	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		err(EXIT_FAILURE, "%s", path);
	if (on)
		info.lo_flags |= LO_FLAGS_AUTOCLEAR;
	else
		info.lo_flags &= ~LO_FLAGS_AUTOCLEAR;
	if (ioctl(fd, LOOP_SET_STATUS64, &info) < 0)
		err(EXIT_FAILURE, "%s: set autoclear failed", path);
}

/* The kernel says EINVAL when direct I/O cannot be used; sysfs says why. */
static void __attribute__((noreturn))
dio_failed(const struct ctl *ctl, unsigned int nr, const char *path)
{
	struct aloop_dev d;
	int e = errno;

	if (e == EINVAL && ctl->dio > 0 &&
	    !aloop_sysfs_read_dev(ctl->sysfs, nr, &d) && *d.dio_reason)
		errx(EXIT_FAILURE, "%s: set direct I/O failed: %s", path,
		     d.dio_reason);
	errno = e;
	err(EXIT_FAILURE, "%s: set direct I/O failed", path);
}

static int do_set(struct ctl *ctl)
{
	char path[DEVNAME_LEN];
	unsigned int nr;
	int fd;

	if (!(ctl->seen & (F(O_BLOCK_SIZE) | F(O_DIRECT_IO) | F(O_AUTOCLEAR))))
		usage_error("set: nothing to change "
			    "(use --direct-io, --block-size or --autoclear)");

	nr = get_dev(ctl, ctl->args[0], path, sizeof(path));
	fd = open_dev_or_die(path);
	if (ctl->block_size &&
	    ioctl(fd, LOOP_SET_BLOCK_SIZE, (unsigned long)ctl->block_size) < 0)
		err(EXIT_FAILURE, "%s: set block size failed", path);
	if (ctl->dio >= 0 &&
	    ioctl(fd, LOOP_SET_DIRECT_IO, (unsigned long)ctl->dio) < 0)
		dio_failed(ctl, nr, path);
	if (ctl->autoclear >= 0)
		set_autoclear(fd, path, ctl->autoclear);
	close(fd);
	return 0;
}

static int do_features(struct ctl *ctl)
{
	struct aloop_features f;
	int fd;

	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	fd = open_control(ctl);
	if (ioctl(fd, ALOOP_GET_FEATURES, &f) < 0)
		err(EXIT_FAILURE, "%s", aloop_control_path());
	close(fd);
	aloop_print_features(stdout, f.version, f.features,
			     ctl->tflags & ALOOP_TB_JSON);
	return 0;
}

static int do_doctor(struct ctl *ctl)
{
	int rc = aloop_doctor(stdout, ctl->tflags & ALOOP_TB_JSON);

	if (rc < 0) {
		errno = -rc;
		err(EXIT_FAILURE, "doctor");
	}
	return rc;
}

static int do_compat(struct ctl *ctl)
{
	return aloop_compat(stdout, ctl->args[0],
			    ctl->tflags & ALOOP_TB_JSON) ? 1 : 0;
}

static int do_version(struct ctl *ctl)
{
	char buf[64];

	printf("aloopctl %s\n", ALOOP_VERSION);
	if (!aloop_read_module_version(ctl->sysfs, buf, sizeof(buf)) && *buf)
		printf("aloop module %s\n", buf);
	return 0;
}

/* The options of usage section @section, one line each */
static void usage_options(FILE *out, unsigned int section, const char *title)
{
	size_t i;

	if (title)
		fprintf(out, "\n%s:\n", title);
	for (i = 0; i < aloop_nopts; i++) {
		const struct aloop_opt *o = &aloop_opts[i];
		char buf[64];

		if (!(o->sections & section))
			continue;
		if (o->val < 0x100)
			snprintf(buf, sizeof(buf), " -%c, --%s%s", o->val,
				 o->name, o->arg);
		else
			snprintf(buf, sizeof(buf), "     --%s%s", o->name, o->arg);
		fprintf(out, "%-30s %s\n", buf, o->help);
	}
}

static void __attribute__((noreturn)) usage(void)
{
	FILE *out = stdout;
	int i;

	fputs("Usage:\n"
	      " aloopctl attach [options] FILE     attach FILE to a free (or the given) device\n"
	      " aloopctl attach --lease FILE -- CMD...  attached while CMD runs\n"
	      " aloopctl detach [options] DEV...   detach devices\n"
	      " aloopctl detach-all                detach all bound aloop devices\n"
	      " aloopctl find [--offset N] FILE    the devices bound to FILE\n"
	      " aloopctl list [options] [DEV...]   list bound devices, or the given ones\n"
	      " aloopctl reap [options]            detach unused orphans, an owner's, old ones\n"
	      " aloopctl status [--json] DEV       show one bound device\n"
	      " aloopctl resize DEV                re-read the size of the backing file\n"
	      " aloopctl set DEV [options]         change a bound device\n"
	      " aloopctl features [--json]         features of the loaded aloop module\n"
	      " aloopctl doctor [--json]           check what aloop needs here, say how to fix it\n"
	      " aloopctl compat enable|disable|status [--json]\n"
	      "                                    drop-in mode: aloop in stock loop's place\n"
	      " aloopctl save                      print the bound devices as restore reads them\n"
	      " aloopctl restore [FILE|-]          attach what FILE (default " ALOOP_ATTACH_DIR "/*.conf) describes\n"
	      " aloopctl version                   print the tool and module versions\n"
	      "\nSet up and control aloop devices (/dev/aloopN).\n", out);

	usage_options(out, ALOOP_OPT_ATTACH, "Attach options");
	usage_options(out, ALOOP_OPT_SET, "Set options");
	usage_options(out, ALOOP_OPT_DETACH, "Detach options");
	usage_options(out, ALOOP_OPT_LIST, "List options");
	usage_options(out, ALOOP_OPT_REAP, "Reap options");
	fputc('\n', out);
	usage_options(out, ALOOP_OPT_GLOBAL, NULL);
	fputs("\nSizes are bytes, or take a K, M, G or T suffix (also KiB, MiB, GiB, TiB;\n"
	      "powers of 1024).  DEV is /dev/aloopN or aloopN.\n"
	      "\nAvailable output columns:\n", out);
	for (i = 0; i < ALOOP_NCOLUMNS; i++)
		fprintf(out, " %11s  %s\n", aloop_columns[i].name,
			aloop_columns[i].help);
	exit(EXIT_SUCCESS);
}

static int do_help(struct ctl *ctl)
{
	(void)ctl;
	usage();
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static const struct verb verbs[] = {
	{ "attach", do_attach,
	  F(O_READ_ONLY) | F(O_OFFSET) | F(O_SIZELIMIT) | F(O_BLOCK_SIZE) |
	  F(O_AUTOCLEAR) | F(O_PARTSCAN) | F(O_DIRECT_IO) | F(O_QUEUES) |
	  F(O_DEVICE) | F(O_FIND) | F(O_SHOW) | F(O_OWNER) | F(O_LEASE) |
	  F(O_NO_PARTSCAN) | F(O_DIO) | F(O_JSON),
	  1, 1, "FILE" },
	{ "detach", do_detach, F(O_WAIT) | F(O_IF_UNUSED), 1, -1, "DEV" },
	{ "find", do_find, F(O_OFFSET), 1, 1, "FILE" },
	{ "reap", do_reap, F(O_ORPHANS) | F(O_OWNER) | F(O_OLDER_THAN) |
	  F(O_DRY_RUN), 0, 0, NULL },
	{ "detach-all", do_detach_all, 0, 0, 0, NULL },
	{ "list", do_list,
	  F(O_JSON) | F(O_RAW) | F(O_NOHEADINGS) | F(O_OUTPUT) | F(O_ALL) |
	  F(O_ORPHANS), 0, -1, NULL },
	{ "status", do_status, F(O_JSON), 1, 1, "DEV" },
	{ "resize", do_resize, 0, 1, 1, "DEV" },
	{ "set", do_set, F(O_DIRECT_IO) | F(O_BLOCK_SIZE) | F(O_AUTOCLEAR),
	  1, 1, "DEV" },
	{ "features", do_features, F(O_JSON), 0, 0, NULL },
	{ "doctor", do_doctor, F(O_JSON), 0, 0, NULL },
	{ "compat", do_compat, F(O_JSON), 1, 1, "enable|disable|status" },
	{ "save", do_save, 0, 0, 0, NULL },
	{ "restore", do_restore, F(O_DRY_RUN), 0, 1, NULL },
	{ "version", do_version, 0, 0, 0, NULL },
	{ "help", do_help, 0, 0, 0, NULL },
};

/* getopt's tables, made from aloop_opts[] (aloopctl_util.c) */
static struct option longopts[32];
static char shortopts[64];

static void make_getopt_tables(void)
{
	size_t i, n = 0, k;

	/* '-': non-options come back in order as 1; ':': missing argument */
	k = (size_t)snprintf(shortopts, sizeof(shortopts), "-:");
	for (i = 0; i < aloop_nopts && n < ARRAY_SIZE(longopts) - 1; i++) {
		const struct aloop_opt *o = &aloop_opts[i];

		longopts[n].name = o->name;
		longopts[n].has_arg = o->has_arg;
		longopts[n].val = o->val;
		n++;
		if (o->val >= 0x100 || strchr(shortopts, o->val) ||
		    k + 3 > sizeof(shortopts))
			continue;
		shortopts[k++] = (char)o->val;
		if (o->has_arg == required_argument)
			shortopts[k++] = ':';
		shortopts[k] = '\0';
	}
}

/* "--name" of the option whose O_* id is @id */
static const char *opt_name(int id)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < aloop_nopts; i++) {
		if (aloop_opts[i].id == id) {
			snprintf(buf, sizeof(buf), "--%s", aloop_opts[i].name);
			return buf;
		}
	}
	return "?";
}

static uint64_t size_arg(const char *opt, const char *arg)
{
	uint64_t val;
	int rc = aloop_parse_size(arg, &val);

	if (rc == -ERANGE)
		errx(EXIT_FAILURE, "%s: invalid size '%s' (too large)", opt, arg);
	if (rc)
		errx(EXIT_FAILURE, "%s: invalid size '%s'", opt, arg);
	return val;
}

static uint32_t block_size_arg(const char *arg)
{
	uint64_t val = size_arg("--block-size", arg);

	if (val < 512 || val > 65536 || (val & (val - 1)))
		errx(EXIT_FAILURE, "--block-size: invalid block size '%s' "
		     "(a power of 2 from 512 to 64K)", arg);
	return val;
}

static uint32_t queues_arg(const char *arg)
{
	char *end;
	unsigned long val;

	errno = 0;
	val = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || val < 1 || val > ALOOP_MAX_QUEUES)
		errx(EXIT_FAILURE, "--queues: invalid count '%s' (1 to %d)",
		     arg, ALOOP_MAX_QUEUES);
	return val;
}

/* Seconds, or with an s, m, h or d suffix; at most a year. */
static int64_t duration_arg(const char *opt, const char *arg)
{
	unsigned long long val;
	char *end;
	int mul = 1;

	errno = 0;
	val = strtoull(arg, &end, 10);
	if (!errno && end != arg && *end && !end[1]) {
		switch (*end) {
		case 's': mul = 1; end++; break;
		case 'm': mul = 60; end++; break;
		case 'h': mul = 3600; end++; break;
		case 'd': mul = 86400; end++; break;
		}
	}
	if (errno || end == arg || *end || arg[0] == '-' ||
	    val * mul > 366ULL * 86400)
		errx(EXIT_FAILURE, "%s: invalid duration '%s' "
		     "(seconds, or with s, m, h or d; at most 366d)", opt, arg);
	return (int64_t)(val * mul);
}

/* Optional on/off argument; a bare option means on. */
static int onoff_arg(const char *opt, const char *arg)
{
	bool on = true;

	if (arg && aloop_parse_onoff(arg, &on))
		errx(EXIT_FAILURE, "%s: invalid value '%s' (use on or off)",
		     opt, arg);
	return on;
}

/*
 * --dio=require|prefer|off.  prefer is the default (the module's dio
 * parameter decides, Y: direct I/O where the backing file allows it);
 * off is --direct-io=off; require asks for it as --direct-io=on does,
 * then fails unless the device uses it.
 */
static void dio_arg(struct ctl *ctl, const char *arg)
{
	ctl->dio = -1;
	ctl->dio_require = false;
	if (!strcmp(arg, "require")) {
		ctl->dio = 1;
		ctl->dio_require = true;
	} else if (!strcmp(arg, "off")) {
		ctl->dio = 0;
	} else if (strcmp(arg, "prefer")) {
		errx(EXIT_FAILURE, "--dio: invalid value '%s' (use require, prefer or off)",
		     arg);
	}
}

static void output_arg(struct ctl *ctl, const char *arg)
{
	char *bad = NULL;
	int rc;

	rc = aloop_parse_columns(arg, ctl->cols, ALOOP_MAX_COLS, &ctl->ncols,
				 &bad);
	if (rc == -E2BIG)
		errx(EXIT_FAILURE, "--output: too many columns");
	if (rc)
		errx(EXIT_FAILURE, "--output: unknown column '%s'",
		     bad ? bad : arg);
}

static void __attribute__((noreturn)) bad_option(int c, char *const *argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':') {
		if (!strncmp(arg, "--", 2))
			usage_error("option '%s' requires an argument", arg);
		usage_error("option requires an argument -- '%c'", optopt);
	}
	if (!strncmp(arg, "--", 2) && optopt)
		usage_error("option '%.*s' doesn't allow an argument",
			    (int)strcspn(arg, "="), arg);
	if (optopt)
		usage_error("invalid option -- '%c'", optopt);
	usage_error("unrecognized option '%s'", arg);
}

static void handle_option(struct ctl *ctl, int c, char *const *argv)
{
	switch (c) {
	case 'r':
		ctl->seen |= F(O_READ_ONLY);
		ctl->ro = true;
		break;
	case 'o':
		ctl->seen |= F(O_OFFSET);
		ctl->offset = size_arg("--offset", optarg);
		break;
	case OPT_SIZELIMIT:
		ctl->seen |= F(O_SIZELIMIT);
		ctl->sizelimit = size_arg("--sizelimit", optarg);
		break;
	case 'b':
		ctl->seen |= F(O_BLOCK_SIZE);
		ctl->block_size = block_size_arg(optarg);
		break;
	case OPT_AUTOCLEAR:
		ctl->seen |= F(O_AUTOCLEAR);
		ctl->autoclear = onoff_arg("--autoclear", optarg);
		break;
	case 'P':
		ctl->seen |= F(O_PARTSCAN);
		ctl->partscan = true;
		break;
	case OPT_DIRECT_IO:
		ctl->seen |= F(O_DIRECT_IO);
		ctl->dio = onoff_arg("--direct-io", optarg);
		break;
	case OPT_DIO:
		ctl->seen |= F(O_DIO);
		dio_arg(ctl, optarg);
		break;
	case 'd':
		ctl->seen |= F(O_DEVICE);
		ctl->device = optarg;
		break;
	case 'f':
		ctl->seen |= F(O_FIND);
		break;
	case OPT_QUEUES:
		ctl->seen |= F(O_QUEUES);
		ctl->queues = queues_arg(optarg);
		break;
	case OPT_SHOW:
		ctl->seen |= F(O_SHOW);
		break;
	case 'J':
		ctl->seen |= F(O_JSON);
		ctl->tflags |= ALOOP_TB_JSON;
		break;
	case OPT_RAW:
		ctl->seen |= F(O_RAW);
		ctl->tflags |= ALOOP_TB_RAW;
		break;
	case 'n':
		ctl->seen |= F(O_NOHEADINGS);
		ctl->tflags |= ALOOP_TB_NOHEADINGS;
		break;
	case 'O':
		ctl->seen |= F(O_OUTPUT);
		output_arg(ctl, optarg);
		break;
	case 'a':
		ctl->seen |= F(O_ALL);
		ctl->all = true;
		break;
	case OPT_OWNER:
		ctl->seen |= F(O_OWNER);
		ctl->owner = optarg;
		break;
	case OPT_NO_PARTSCAN:
		ctl->seen |= F(O_NO_PARTSCAN);
		ctl->no_partscan = true;
		break;
	case OPT_LEASE:
		ctl->seen |= F(O_LEASE);
		ctl->lease = true;
		break;
	case OPT_WAIT:
		ctl->seen |= F(O_WAIT);
		ctl->wait = optarg ? (int)duration_arg("--wait", optarg) : 30;
		break;
	case OPT_IF_UNUSED:
		ctl->seen |= F(O_IF_UNUSED);
		ctl->if_unused = true;
		break;
	case OPT_ORPHANS:
		ctl->seen |= F(O_ORPHANS);
		ctl->orphans = true;
		break;
	case OPT_OLDER_THAN:
		ctl->seen |= F(O_OLDER_THAN);
		ctl->older_than = duration_arg("--older-than", optarg);
		break;
	case OPT_DRY_RUN:
		ctl->seen |= F(O_DRY_RUN);
		ctl->dry_run = true;
		break;
	case 'h':
		usage();
	case 'V':
		exit(do_version(ctl) ? EXIT_FAILURE : EXIT_SUCCESS);
	default:
		bad_option(c, argv);
	}
}

static const struct verb *find_verb(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(name, verbs[i].name))
			return &verbs[i];
	usage_error("unknown command '%s'", name);
}

/*
 * Options may come before or after the verb: collect every non-option
 * argument in order; the first one is the verb.
 */
static void parse_args(struct ctl *ctl, int argc, char **argv)
{
	char **pos;
	int c, npos = 0;

	pos = calloc(argc, sizeof(*pos));
	if (!pos)
		err(EXIT_FAILURE, "cannot allocate memory");

	opterr = 0;
	make_getopt_tables();
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == 1)
			pos[npos++] = optarg;
		else
			handle_option(ctl, c, argv);
	}
	/* attach --lease FILE -- CMD...: what follows "--" is the command */
	if (optind > 1 && optind <= argc && !strcmp(argv[optind - 1], "--") &&
	    optind < argc) {
		ctl->cmd = &argv[optind];
		optind = argc;
	}
	while (optind < argc)
		pos[npos++] = argv[optind++];

	if (!npos)
		usage_error("no command given");
	ctl->verb = find_verb(pos[0]);
	ctl->argv = pos;
	ctl->args = pos + 1;
	ctl->nargs = npos - 1;
}

static void check_args(const struct ctl *ctl)
{
	const struct verb *v = ctl->verb;
	unsigned int bad = ctl->seen & ~v->opts;

	if (bad)
		usage_error("%s: not valid with '%s'",
			    opt_name(ffs(bad) - 1), v->name);
	if ((ctl->seen & F(O_JSON)) && (ctl->seen & F(O_RAW)))
		usage_error("--json and --raw are mutually exclusive");
	if ((ctl->seen & F(O_DEVICE)) && (ctl->seen & F(O_FIND)))
		usage_error("--device and --find are mutually exclusive");
	if ((ctl->seen & F(O_PARTSCAN)) && (ctl->seen & F(O_NO_PARTSCAN)))
		usage_error("--partscan and --no-partscan are mutually exclusive");
	if ((ctl->seen & F(O_DIO)) && (ctl->seen & F(O_DIRECT_IO)))
		usage_error("--dio and --direct-io are mutually exclusive");
	if (ctl->nargs < v->min_args)
		usage_error("%s: missing %s", v->name, v->args);
	if (v->max_args >= 0 && ctl->nargs > v->max_args)
		usage_error("%s: unexpected argument '%s'", v->name,
			    ctl->args[v->max_args]);
}

static void init_ctl(struct ctl *ctl)
{
	const char *sysfs = secure_getenv("ALOOPCTL_SYSFS");

	memset(ctl, 0, sizeof(*ctl));
	ctl->sysfs = sysfs && *sysfs ? sysfs : ALOOP_SYSFS;
	aloop_names_init(ctl->sysfs);
	ctl->autoclear = -1;
	ctl->dio = -1;
	ctl->wait = -1;
	ctl->older_than = -1;
	memcpy(ctl->cols, aloop_default_columns,
	       aloop_ndefault_columns * sizeof(*ctl->cols));
	ctl->ncols = aloop_ndefault_columns;
}

int main(int argc, char **argv)
{
	struct ctl ctl;
	int rc;

	atexit(close_stdout);
	init_ctl(&ctl);
	scols_init_debug(0);

	parse_args(&ctl, argc, argv);
	check_args(&ctl);
	rc = ctl.verb->fn(&ctl);
	free(ctl.argv);
	return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}
