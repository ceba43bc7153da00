/* SPDX-License-Identifier: GPL-2.0 */
/*
 * aloopctl - control tool for the aloop block driver.
 *
 * Declarations shared by the tool (aloopctl.c), its helpers
 * (aloopctl_util.c) and the host unit tests (tests/unit/test_aloopctl.c).
 * Everything declared here is free of ioctls, so it can be tested without
 * the kernel module.
 */
#ifndef ALOOPCTL_H
#define ALOOPCTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <libsmartcols.h>

#ifndef ALOOP_VERSION
#define ALOOP_VERSION		"unknown"
#endif

#define ALOOP_DEV_PREFIX	"/dev/"
/*
 * The driver's names beside stock loop; in drop-in mode (module
 * parameter loop_compat=Y) stock loop's.  Use aloop_name_prefix() and
 * aloop_control_path(), which know the mode.
 */
#define ALOOP_NAME_PREFIX	"aloop"
#define ALOOP_CONTROL		"/dev/aloop-control"
#define ALOOP_COMPAT_PREFIX	"loop"
#define ALOOP_COMPAT_CONTROL	"/dev/loop-control"
#define ALOOP_SYSFS		"/sys"
#define ALOOP_JSON_NAME		"aloopdevices"

/* Sizes and booleans parsed from the command line. */
/*
 * aloopctl's command-line options: the one table that getopt's long and
 * short options, the usage text, the "option not accepted by this verb"
 * messages and a unit test (every option in the man page and the bash
 * completion) are made from.
 */
/* Options that only some verbs take. */
enum {
	O_READ_ONLY,
	O_OFFSET,
	O_SIZELIMIT,
	O_BLOCK_SIZE,
	O_AUTOCLEAR,
	O_PARTSCAN,
	O_DIRECT_IO,
	O_QUEUES,
	O_DEVICE,
	O_FIND,
	O_SHOW,
	O_JSON,
	O_RAW,
	O_NOHEADINGS,
	O_OUTPUT,
	O_ALL,
	O_OWNER,
	O_LEASE,
	O_WAIT,
	O_IF_UNUSED,
	O_ORPHANS,
	O_OLDER_THAN,
	O_DRY_RUN,
	O_NO_PARTSCAN,
	O_DIO,
	O_NOPTS
};

/* getopt values of the options without a short letter */
enum {
	OPT_SIZELIMIT = 0x100,
	OPT_AUTOCLEAR,
	OPT_DIRECT_IO,
	OPT_SHOW,
	OPT_QUEUES,
	OPT_RAW,
	OPT_OWNER,
	OPT_LEASE,
	OPT_WAIT,
	OPT_IF_UNUSED,
	OPT_ORPHANS,
	OPT_OLDER_THAN,
	OPT_DRY_RUN,
	OPT_NO_PARTSCAN,
	OPT_DIO,
};

enum {
	ALOOP_OPT_ATTACH	= 1 << 0,	/* usage section "Attach options" */
	ALOOP_OPT_SET		= 1 << 1,	/* "Set options" */
	ALOOP_OPT_LIST		= 1 << 2,	/* "List options" */
	ALOOP_OPT_GLOBAL	= 1 << 3,	/* -h, -V */
	ALOOP_OPT_DETACH	= 1 << 4,	/* "Detach options" */
	ALOOP_OPT_REAP		= 1 << 5,	/* "Reap options" */
};

struct aloop_opt {
	int		id;		/* O_*, -1 for -h/-V */
	const char	*name;		/* long name, without "--" */
	int		has_arg;	/* no_argument, required_argument, ... */
	int		val;		/* getopt value: the short letter, or >= 0x100 */
	const char	*arg;		/* usage: " <size>", "[=on|off]" */
	unsigned int	sections;	/* ALOOP_OPT_*; 0: an alias, not in usage */
	const char	*help;
};

extern const struct aloop_opt aloop_opts[];
extern const size_t aloop_nopts;

int aloop_parse_size(const char *str, uint64_t *res);
int aloop_parse_onoff(const char *str, bool *res);

/*
 * The mode's names: aloop_names_init() looks at the loaded module
 * (@sysfs/module/aloop/parameters/loop_compat); until then, and when
 * it is not loaded in drop-in mode, aloop's own.
 */
void aloop_names_init(const char *sysfs);
bool aloop_names_compat(void);
const char *aloop_name_prefix(void);	/* "aloop", or "loop" */
const char *aloop_control_path(void);	/* "/dev/aloop-control", or ... */
/* "/dev/aloopN" (or "/dev/loopN") into @buf */
void aloop_dev_path(char *buf, size_t len, unsigned int nr);

/* "aloopN" or "/dev/aloopN" -> N; anything else is -EINVAL. */
int aloop_parse_devname(const char *str, unsigned int *nr);

/* One aloop device, as read from sysfs. */
/*
 * The device's request counters (sysfs aloop/NAME, ALOOP_GET_INFO), in
 * the order of the COL_REQS_DIO.. columns.
 */
#define ALOOP_NCOUNTERS	11
extern const char *const aloop_counter_names[ALOOP_NCOUNTERS];

struct aloop_dev {
	unsigned int	nr;
	bool		bound;		/* backing_file is not empty */
	char		backing_file[PATH_MAX];
	uint64_t	offset;
	uint64_t	sizelimit;
	uint64_t	size;		/* bytes */
	unsigned int	log_sec;	/* logical block size */
	bool		autoclear;
	bool		ro;
	bool		partscan;
	bool		dio;
	char		dio_reason[256];
	unsigned int	queues;		/* hardware queues (0: unbound or old module) */
	char		owner[64];	/* who attached it (ALOOP_OWNER_SIZE) */
	uint64_t	owner_pid;
	uint64_t	owner_cgroup;	/* cgroup id */
	uint64_t	attach_time;	/* seconds since the epoch */
	bool		orphan;		/* the owner's cgroup is gone */
	uint64_t	counters[ALOOP_NCOUNTERS];	/* aloop_counter_names */
};

/* Columns of "aloopctl list". */
enum {
	COL_NAME = 0,
	COL_BACK_FILE,
	COL_OFFSET,
	COL_SIZELIMIT,
	COL_SIZE,
	COL_AUTOCLEAR,
	COL_RO,
	COL_PARTSCAN,
	COL_DIO,
	COL_LOG_SEC,
	COL_DIO_REASON,
	COL_QUEUES,
	COL_OWNER,
	COL_OWNER_PID,
	COL_OWNER_CGROUP,
	COL_ATTACH_TIME,
	COL_ORPHAN,
	COL_REQS_DIO,		/* the counters, in aloop_counter_names order */
	COL_REQS_BUFFERED,
	COL_REQS_FALLBACK,
	COL_REQS_CGROUP,
	COL_WAKEUPS,
	COL_BATCHES,
	COL_REQS_WORKER,
	COL_REQS_NOWAIT,
	COL_NOWAIT_AGAIN,
	COL_REQS_HELPER,
	COL_ERRORS,
	ALOOP_NCOLUMNS
};

struct aloop_colinfo {
	const char	*name;
	double		whint;		/* width hint, see scols_table_new_column() */
	int		flags;		/* SCOLS_FL_* */
	int		json_type;	/* SCOLS_JSON_* */
	const char	*help;
};

#define ALOOP_MAX_COLS		64

extern const struct aloop_colinfo aloop_columns[ALOOP_NCOLUMNS];
extern const int aloop_default_columns[];
extern const size_t aloop_ndefault_columns;

int aloop_column_by_name(const char *name, size_t len);
int aloop_parse_columns(const char *list, int *cols, size_t max,
			size_t *ncols, char **unknown);

/* Table output. */
#define ALOOP_TB_JSON		(1U << 0)
#define ALOOP_TB_RAW		(1U << 1)
#define ALOOP_TB_NOHEADINGS	(1U << 2)

int aloop_table_fill(struct libscols_table *tb, const struct aloop_dev *devs,
		     size_t ndevs, const int *cols, size_t ncols,
		     unsigned int flags);
int aloop_print_status(FILE *out, const struct aloop_dev *d);
const char *aloop_feature_name(unsigned int bit);
int aloop_print_features(FILE *out, uint32_t version, uint64_t features,
			 bool json);

/* sysfs: @sysfs is normally "/sys"; tests point it at a fake tree. */
bool aloop_module_loaded(const char *sysfs);
/* aloop is loaded with loop_compat=Y (drop-in mode) */
bool aloop_compat_loaded(const char *sysfs);
int aloop_read_module_version(const char *sysfs, char *buf, size_t len);
int aloop_sysfs_read_dev(const char *sysfs, unsigned int nr,
			 struct aloop_dev *d);
int aloop_sysfs_scan(const char *sysfs, bool all, struct aloop_dev **devs,
		     size_t *ndevs);

/*
 * Saved attachments (aloopctl save / restore): one line per device, the
 * backing file then attach's long options without "--":
 *
 *   /srv/disk.img offset=1M sizelimit=512M read-only partscan block-size=4096
 *
 * Blanks separate fields; a blank, tab, newline or backslash in a value
 * is written \040, \011, \012, \134, as in fstab.  '#' starts a comment
 * (a line, or the rest of one); empty lines are skipped.
 */
#define ALOOP_ATTACH_DIR	"/etc/aloop/attach.d"

struct aloop_spec {
	char		file[PATH_MAX];	/* absolute */
	uint64_t	offset;
	uint64_t	sizelimit;
	uint32_t	block_size;	/* 0: the default */
	uint32_t	queues;		/* 0: the module's default */
	int		dio;		/* -1: the default, 0 off, 1 on */
	bool		ro;
	bool		partscan;
	bool		no_partscan;
	char		owner[64];	/* ALOOP_OWNER_SIZE */
	char		device[32];	/* "/dev/aloopN", "": a free one */
};

/*
 * Parse one line into @s.  Returns 1 for a device, 0 for a blank or
 * comment line, -EINVAL with a one-line reason in @err.
 */
int aloop_parse_spec(const char *line, struct aloop_spec *s, char *err,
		     size_t errlen);
/* The line of @s, without newline, into @buf; -ENAMETOOLONG if too long. */
int aloop_format_spec(const struct aloop_spec *s, char *buf, size_t len);
/* What restore needs to attach @d again (save). */
void aloop_spec_from_dev(const struct aloop_dev *d, struct aloop_spec *s);

/* @s as a JSON string, quoted and escaped. */
void aloop_json_str(FILE *out, const char *s);

/*
 * attach's judgement of the backing file's file system (attach warns
 * about a poor fit; the device works all the same).
 */
enum {
	ALOOP_FIT_OK,
	ALOOP_FIT_COW,		/* btrfs without nodatacow */
	ALOOP_FIT_MEMORY,	/* tmpfs, ramfs */
	ALOOP_FIT_NETWORK,	/* nfs, cifs/smb, ceph, 9p, afs, ... */
	ALOOP_FIT_FUSE,
};

struct aloop_backing_fs {
	uint32_t	magic;		/* statfs f_type */
	const char	*type;		/* mountinfo's type, NULL: unknown */
	bool		nocow;		/* FS_NOCOW_FL (chattr +C) */
	bool		ro;		/* attached read-only */
};

/* The name of file system @magic among those judged, else NULL. */
const char *aloop_fs_name(uint32_t magic);
/* ALOOP_FIT_*, and in @msg the one-line warning ("" for ALOOP_FIT_OK). */
int aloop_backing_fit(const char *file, const struct aloop_backing_fs *fs,
		      char *msg, size_t len);
/* The type of mount MAJOR:MINOR in a mountinfo file: 0, or -ENOENT. */
int aloop_mountinfo_type(FILE *f, unsigned int major, unsigned int minor,
			 char *buf, size_t len);

/*
 * Load module @name as modprobe would (aloopctl_kmod.c, libkmod).  0 when
 * it is loaded (or was already); otherwise a negative errno and, in @msg,
 * the one-line reason: "module aloop is not installed for kernel X (...)"
 * or "cannot load module aloop for kernel X: strerror".
 */
int aloop_load_module(const char *name, char *msg, size_t len);

/*
 * "aloopctl doctor" (aloopctl_doctor.c): check what aloop needs on this
 * machine, one line per check (or a JSON object) on @out.  Returns 0
 * when aloop is usable, 1 when not, or a negative errno.
 */
int aloop_doctor(FILE *out, bool json);

/* aloopctl_compat.c: drop-in mode (module parameter loop_compat) */
#define ALOOP_COMPAT_CONF	"/etc/modprobe.d/aloop-loop-compat.conf"
enum { ALOOP_STOCK_ABSENT, ALOOP_STOCK_LOADED, ALOOP_STOCK_BUILTIN };
struct aloop_compat_state {
	bool	enabled;	/* ALOOP_COMPAT_CONF exists */
	bool	modified;	/* ... and is not what compat enable writes */
	bool	aloop_loaded;
	bool	loop_compat;	/* aloop is loaded in drop-in mode */
	int	stock;		/* ALOOP_STOCK_*: stock loop */
};
/* @root: "" or a test's prefix of /etc and /sys */
void aloop_compat_read(const char *root, struct aloop_compat_state *s);
const char *aloop_compat_now(const struct aloop_compat_state *s);
/* compat enable|disable|status; 0, or -errno after a message */
int aloop_compat(FILE *out, const char *action, bool json);

void aloop_sfmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

ssize_t aloop_slurp(const char *path, char *buf, size_t len);

#endif /* ALOOPCTL_H */
