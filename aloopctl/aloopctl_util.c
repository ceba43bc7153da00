// SPDX-License-Identifier: GPL-2.0
/*
 * aloopctl - helpers without ioctls: parsing, sysfs reading and output
 * formatting.  Linked into aloopctl and into the host unit tests.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/aloop.h>

#include "aloopctl.h"

/* snprintf into @buf, for messages built in one place, shown in another */
void aloop_sfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------ */
/* Command line values                                                 */
/* ------------------------------------------------------------------ */

static const struct {
	const char	*suffix;
	unsigned int	shift;
} size_units[] = {
	{ "",	 0 },
	{ "K",	10 }, { "KiB", 10 },
	{ "M",	20 }, { "MiB", 20 },
	{ "G",	30 }, { "GiB", 30 },
	{ "T",	40 }, { "TiB", 40 },
};

static int size_shift(const char *suffix)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(size_units); i++)
		if (!strcasecmp(suffix, size_units[i].suffix))
			return size_units[i].shift;
	return -1;
}

/*
 * Decimal digits with an optional binary suffix: K, M, G, T or KiB, MiB,
 * GiB, TiB, in any case.  No sign, no blanks, no fractions.  Returns 0,
 * -EINVAL for malformed input or -ERANGE when the value exceeds 64 bits.
 */
int aloop_parse_size(const char *str, uint64_t *res)
{
	const char *p = str;
	uint64_t val = 0;
	bool overflow = false;
	int shift;

	if (!str || !is_digit(*p))
		return -EINVAL;

	for (; is_digit(*p); p++) {
		unsigned int digit = *p - '0';

		if (val > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			val = val * 10 + digit;
	}

	shift = size_shift(p);
	if (shift < 0)
		return -EINVAL;
	if (overflow || val > (UINT64_MAX >> shift))
		return -ERANGE;

	*res = val << shift;
	return 0;
}

/* on/off, yes/no, 1/0 in any case. */
int aloop_parse_onoff(const char *str, bool *res)
{
	static const char *const on[] = { "on", "yes", "1" };
	static const char *const off[] = { "off", "no", "0" };
	size_t i;

	if (!str)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(on); i++) {
		if (!strcasecmp(str, on[i])) {
			*res = true;
			return 0;
		}
		if (!strcasecmp(str, off[i])) {
			*res = false;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * The names of the driver's files.  Every device name and path aloopctl
 * makes or parses comes from here.
 */
static bool names_compat;

void aloop_names_init(const char *sysfs)
{
	names_compat = aloop_compat_loaded(sysfs);
}

bool aloop_names_compat(void)
{
	return names_compat;
}

const char *aloop_name_prefix(void)
{
	return names_compat ? ALOOP_COMPAT_PREFIX : ALOOP_NAME_PREFIX;
}

const char *aloop_control_path(void)
{
	return names_compat ? ALOOP_COMPAT_CONTROL : ALOOP_CONTROL;
}

void aloop_dev_path(char *buf, size_t len, unsigned int nr)
{
	snprintf(buf, len, ALOOP_DEV_PREFIX "%s%u", aloop_name_prefix(), nr);
}

/*
 * "aloopN" or "/dev/aloopN" ("loopN" in drop-in mode), N without leading zeros (the kernel never
 * names a device "aloop03").  Bare numbers are refused: "3" could just
 * as well be a file name.
 */
int aloop_parse_devname(const char *str, unsigned int *nr)
{
	const char *p = str;
	unsigned long val = 0;

	if (!str)
		return -EINVAL;
	if (!strncmp(p, ALOOP_DEV_PREFIX, strlen(ALOOP_DEV_PREFIX)))
		p += strlen(ALOOP_DEV_PREFIX);
	if (strncmp(p, aloop_name_prefix(), strlen(aloop_name_prefix())))
		return -EINVAL;
	p += strlen(aloop_name_prefix());

	if (!is_digit(*p) || (p[0] == '0' && p[1]))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		val = val * 10 + (*p - '0');
		if (val > INT_MAX)
			return -EINVAL;
	}
	if (*p)
		return -EINVAL;

	*nr = val;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Columns                                                             */
/* ------------------------------------------------------------------ */

const struct aloop_colinfo aloop_columns[ALOOP_NCOLUMNS] = {
	[COL_NAME]	 = { "NAME",	   0.25, 0,
			     SCOLS_JSON_STRING,  "aloop device name" },
	[COL_BACK_FILE]	 = { "BACK-FILE",  0.3,	 SCOLS_FL_NOEXTREMES,
			     SCOLS_JSON_STRING,  "device backing file" },
	[COL_OFFSET]	 = { "OFFSET",	   5,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "offset from the beginning" },
	[COL_SIZELIMIT]	 = { "SIZELIMIT",  5,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "size limit of the file in bytes" },
	[COL_SIZE]	 = { "SIZE",	   5,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "device size in bytes" },
	[COL_AUTOCLEAR]	 = { "AUTOCLEAR",  1,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_BOOLEAN, "autoclear flag set" },
	[COL_RO]	 = { "RO",	   1,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_BOOLEAN, "read-only device" },
	[COL_PARTSCAN]	 = { "PARTSCAN",   1,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_BOOLEAN, "partscan flag set" },
	[COL_DIO]	 = { "DIO",	   1,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_BOOLEAN, "access backing file with direct I/O" },
	[COL_LOG_SEC]	 = { "LOG-SEC",	   4,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "logical sector size in bytes" },
	[COL_DIO_REASON] = { "DIO-REASON", 0.2,	 0,
			     SCOLS_JSON_STRING,  "why direct I/O is not in use" },
	[COL_QUEUES]	 = { "QUEUES",	   2,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "hardware queues, each with a worker" },
	[COL_OWNER]	 = { "OWNER",	   0.1,	 0,
			     SCOLS_JSON_STRING,  "who attached it (attach --owner)" },
	[COL_OWNER_PID]	 = { "OWNER-PID",  5,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "pid of the process that attached it" },
	[COL_OWNER_CGROUP] = { "OWNER-CGROUP", 5, SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "cgroup id of that process" },
	[COL_ATTACH_TIME] = { "ATTACH-TIME", 10, SCOLS_FL_RIGHT,
			     SCOLS_JSON_NUMBER,  "when it was attached (seconds since the epoch)" },
	[COL_ORPHAN]	 = { "ORPHAN",	   1,	 SCOLS_FL_RIGHT,
			     SCOLS_JSON_BOOLEAN, "the cgroup of whoever attached it is gone" },
#define CTR(id, name, help) \
	[id] = { name, 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, help }
	CTR(COL_REQS_DIO,	"REQS-DIO",	 "requests served by direct I/O"),
	CTR(COL_REQS_BUFFERED,	"REQS-BUFFERED", "requests served by buffered I/O"),
	CTR(COL_REQS_FALLBACK,	"REQS-FALLBACK", "direct I/O requests retried buffered"),
	CTR(COL_REQS_CGROUP,	"REQS-CGROUP",	 "requests served by a cgroup's lane"),
	CTR(COL_WAKEUPS,	"WAKEUPS",	 "sleeping queue workers woken"),
	CTR(COL_BATCHES,	"BATCHES",	 "request lists a queue worker took at once"),
	CTR(COL_REQS_WORKER,	"REQS-WORKER",	 "requests taken by a queue worker"),
	CTR(COL_REQS_NOWAIT,	"REQS-NOWAIT",	 "requests submitted with IOCB_NOWAIT"),
	CTR(COL_NOWAIT_AGAIN,	"NOWAIT-AGAIN",	 "IOCB_NOWAIT tries refused, handed to the blocking helper"),
	CTR(COL_REQS_HELPER,	"REQS-HELPER",	 "requests served by a blocking helper"),
	CTR(COL_ERRORS,		"ERRORS",	 "requests completed with an error"),
#undef CTR
};

#define A ALOOP_OPT_ATTACH
#define S ALOOP_OPT_SET
#define L ALOOP_OPT_LIST
#define D ALOOP_OPT_DETACH
#define R ALOOP_OPT_REAP
const struct aloop_opt aloop_opts[] = {
	{ O_READ_ONLY, "read-only",	 no_argument,	    'r', "", A,
	  "set up a read-only device" },
	{ O_OFFSET, "offset",	 required_argument, 'o', " <size>", A,
	  "start at <size> bytes into FILE" },
	{ O_SIZELIMIT, "sizelimit",	 required_argument, OPT_SIZELIMIT, " <size>", A,
	  "use at most <size> bytes of FILE" },
	{ O_BLOCK_SIZE, "block-size",	 required_argument, 'b', " <size>", A | S,
	  "logical block size (also --sector-size)" },
	{ O_BLOCK_SIZE, "sector-size", required_argument, 'b', " <size>", 0, NULL },
	{ O_AUTOCLEAR, "autoclear",	 optional_argument, OPT_AUTOCLEAR, "[=on|off]", A | S,
	  "detach when the last user closes the device" },
	{ O_PARTSCAN, "partscan",	 no_argument,	    'P', "", A,
	  "scan the device for partitions" },
	{ O_DIRECT_IO, "direct-io",	 optional_argument, OPT_DIRECT_IO, "[=on|off]", A | S,
	  "access FILE with direct I/O" },
	{ O_DIO, "dio",		 required_argument, OPT_DIO, " <mode>", A,
	  "direct I/O: require (fail without), prefer (default), off" },
	{ O_QUEUES, "queues",	 required_argument, OPT_QUEUES, " <n>", A,
	  "hardware queues, each with a worker (1-64)" },
	{ O_DEVICE, "device",	 required_argument, 'd', " <dev>", A,
	  "use <dev> instead of a free device" },
	{ O_FIND, "find",	 no_argument,	    'f', "", A,
	  "use a free device (the default)" },
	{ O_SHOW, "show",	 no_argument,	    OPT_SHOW, "", A,
	  "accepted; the device name is always printed" },
	{ O_OWNER, "owner",	 required_argument, OPT_OWNER, " <label>", A | R,
	  "who attaches it (at most 63 bytes; reap: only these)" },
	{ O_NO_PARTSCAN, "no-partscan", no_argument, OPT_NO_PARTSCAN, "", A,
	  "never scan for partitions (not even max_part or BLKRRPART)" },
	{ O_LEASE, "lease",	 no_argument,	    OPT_LEASE, "", A,
	  "detach when aloopctl ends: attach --lease FILE -- CMD..." },
	{ O_WAIT, "wait",	 optional_argument, OPT_WAIT, "[=<secs>]", D,
	  "return when unbound and its partitions gone (default 30)" },
	{ O_IF_UNUSED, "if-unused", no_argument,   OPT_IF_UNUSED, "", D,
	  "fail with EBUSY, changing nothing, if the device is open" },
	{ O_ORPHANS, "orphans",	 no_argument,	    OPT_ORPHANS, "", L | R,
	  "only devices whose attacher's cgroup is gone" },
	{ O_OLDER_THAN, "older-than", required_argument, OPT_OLDER_THAN, " <secs>", R,
	  "only devices attached at least <secs> ago (s, m, h, d)" },
	{ O_DRY_RUN, "dry-run",	 no_argument,	    OPT_DRY_RUN, "", R,
	  "say what would be detached (restore: attached), change nothing" },
	{ O_ALL, "all",	 no_argument,	    'a', "", L,
	  "also list unbound devices" },
	{ O_JSON, "json",	 no_argument,	    'J', "", L,
	  "use JSON output format (also attach, status, features, doctor, compat)" },
	{ O_RAW, "raw",	 no_argument,	    OPT_RAW, "", L,
	  "use raw output format" },
	{ O_NOHEADINGS, "noheadings",	 no_argument,	    'n', "", L,
	  "don't print headings" },
	{ O_OUTPUT, "output",	 required_argument, 'O', " <list>", L,
	  "columns to show (+<list> adds to the default)" },
	{ -1, "help",	 no_argument,	    'h', "", ALOOP_OPT_GLOBAL,
	  "display this help" },
	{ -1, "version",	 no_argument,	    'V', "", ALOOP_OPT_GLOBAL,
	  "display version" },
};
#undef A
#undef S
#undef L
#undef D
#undef R
const size_t aloop_nopts = ARRAY_SIZE(aloop_opts);

const char *const aloop_counter_names[ALOOP_NCOUNTERS] = {
	"reqs_dio", "reqs_buffered", "reqs_fallback", "reqs_cgroup",
	"wakeups", "batches", "reqs_worker", "reqs_nowait", "nowait_again",
	"reqs_helper", "errors",
};

const int aloop_default_columns[] = {
	COL_NAME, COL_SIZELIMIT, COL_OFFSET, COL_AUTOCLEAR, COL_RO,
	COL_BACK_FILE, COL_DIO, COL_LOG_SEC, COL_DIO_REASON,
};
const size_t aloop_ndefault_columns = ARRAY_SIZE(aloop_default_columns);

/* Column id for the first @len characters of @name, case-insensitive. */
int aloop_column_by_name(const char *name, size_t len)
{
	int i;

	for (i = 0; i < ALOOP_NCOLUMNS; i++) {
		const char *cn = aloop_columns[i].name;

		if (len && !strncasecmp(name, cn, len) && !cn[len])
			return i;
	}
	return -1;
}

/*
 * Parse a comma separated column list into @cols.  A leading '+' appends
 * to the @ncols columns already there (losetup's "--output +COL").
 * On an unknown name returns -EINVAL and, if @unknown is not NULL, a
 * malloc'ed copy of the name; -E2BIG when more than @max columns.
 * @cols and @ncols are only updated on success.
 */
int aloop_parse_columns(const char *list, int *cols, size_t max,
			size_t *ncols, char **unknown)
{
	int tmp[ALOOP_MAX_COLS];
	const char *p, *end;
	size_t n = 0;

	if (unknown)
		*unknown = NULL;
	if (!list)
		return -EINVAL;
	if (max > ALOOP_MAX_COLS)
		max = ALOOP_MAX_COLS;
	if (*list == '+') {
		list++;
		n = *ncols < max ? *ncols : max;
		memcpy(tmp, cols, n * sizeof(*tmp));
	}

	for (p = list; ; p = end + 1) {
		int id;

		end = strchrnul(p, ',');
		id = aloop_column_by_name(p, end - p);
		if (id < 0) {
			if (unknown)
				*unknown = strndup(p, end - p);
			return -EINVAL;
		}
		if (n >= max)
			return -E2BIG;
		tmp[n++] = id;
		if (!*end)
			break;
	}

	memcpy(cols, tmp, n * sizeof(*tmp));
	*ncols = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static const char *u64_cell(char *buf, size_t len, uint64_t val)
{
	snprintf(buf, len, "%" PRIu64, val);
	return buf;
}

static const char *cell_data(const struct aloop_dev *d, int col,
			     char *buf, size_t len)
{
	switch (col) {
	case COL_NAME:
		aloop_dev_path(buf, len, d->nr);
		return buf;
	case COL_BACK_FILE:
		return d->backing_file;
	case COL_OFFSET:
		return u64_cell(buf, len, d->offset);
	case COL_SIZELIMIT:
		return u64_cell(buf, len, d->sizelimit);
	case COL_SIZE:
		return u64_cell(buf, len, d->size);
	case COL_AUTOCLEAR:
		return d->autoclear ? "1" : "0";
	case COL_RO:
		return d->ro ? "1" : "0";
	case COL_PARTSCAN:
		return d->partscan ? "1" : "0";
	case COL_DIO:
		return d->dio ? "1" : "0";
	case COL_LOG_SEC:
		snprintf(buf, len, "%u", d->log_sec);
		return buf;
	case COL_DIO_REASON:
		return d->dio_reason;
	case COL_QUEUES:
		snprintf(buf, len, "%u", d->queues);
		return buf;
	case COL_OWNER:
		return d->owner;
	case COL_OWNER_PID:
		return u64_cell(buf, len, d->owner_pid);
	case COL_OWNER_CGROUP:
		return u64_cell(buf, len, d->owner_cgroup);
	case COL_ATTACH_TIME:
		return u64_cell(buf, len, d->attach_time);
	case COL_ORPHAN:
		return d->orphan ? "1" : "0";
	default:
		if (col >= COL_REQS_DIO && col < COL_REQS_DIO + ALOOP_NCOUNTERS) {
			return u64_cell(buf, len,
					d->counters[col - COL_REQS_DIO]);
		}
	}
	return NULL;
}

static int add_columns(struct libscols_table *tb, const int *cols,
		       size_t ncols)
{
	size_t i;

	for (i = 0; i < ncols; i++) {
		const struct aloop_colinfo *ci;
		struct libscols_column *cl;

		if (cols[i] < 0 || cols[i] >= ALOOP_NCOLUMNS)
			return -EINVAL;
		ci = &aloop_columns[cols[i]];
		cl = scols_table_new_column(tb, ci->name, ci->whint, ci->flags);
		if (!cl || scols_column_set_json_type(cl, ci->json_type))
			return -ENOMEM;
	}
	return 0;
}

static int add_line(struct libscols_table *tb, const struct aloop_dev *d,
		    const int *cols, size_t ncols)
{
	struct libscols_line *ln;
	char buf[32];
	size_t i;

	ln = scols_table_new_line(tb, NULL);
	if (!ln)
		return -ENOMEM;
	for (i = 0; i < ncols; i++) {
		const char *data = cell_data(d, cols[i], buf, sizeof(buf));

		if (data && scols_line_set_data(ln, i, data))
			return -ENOMEM;
	}
	return 0;
}

/*
 * Set up @tb (a fresh table) for @flags (ALOOP_TB_*), add columns @cols
 * and one line per device.  Returns 0 or a negative errno.
 */
int aloop_table_fill(struct libscols_table *tb, const struct aloop_dev *devs,
		     size_t ndevs, const int *cols, size_t ncols,
		     unsigned int flags)
{
	size_t i;
	int rc;

	if (scols_table_set_name(tb, ALOOP_JSON_NAME))
		return -ENOMEM;
	if (flags & ALOOP_TB_JSON)
		scols_table_enable_json(tb, 1);
	if (flags & ALOOP_TB_RAW)
		scols_table_enable_raw(tb, 1);
	if (flags & ALOOP_TB_NOHEADINGS)
		scols_table_enable_noheadings(tb, 1);

	rc = add_columns(tb, cols, ncols);
	for (i = 0; !rc && i < ndevs; i++)
		rc = add_line(tb, &devs[i], cols, ncols);
	return rc;
}

static void status_line(FILE *out, const char *key, const char *val)
{
	fprintf(out, "%s:%s%s\n", key, *val ? " " : "", val);
}

static void status_u64(FILE *out, const char *key, uint64_t val)
{
	fprintf(out, "%s: %" PRIu64 "\n", key, val);
}

/* "key: value" lines for "aloopctl status". */
int aloop_print_status(FILE *out, const struct aloop_dev *d)
{
	fprintf(out, "device: " ALOOP_DEV_PREFIX "%s%u\n",
		aloop_name_prefix(), d->nr);
	status_line(out, "backing file", d->backing_file);
	status_u64(out, "size", d->size);
	status_u64(out, "offset", d->offset);
	status_u64(out, "sizelimit", d->sizelimit);
	status_line(out, "read-only", d->ro ? "yes" : "no");
	status_line(out, "autoclear", d->autoclear ? "yes" : "no");
	status_line(out, "partscan", d->partscan ? "yes" : "no");
	status_u64(out, "block size", d->log_sec);
	status_line(out, "dio", d->dio ? "on" : "off");
	status_line(out, "dio reason", d->dio_reason);
	/* A module with queues has the counters too. */
	if (d->queues) {
		size_t i;

		status_u64(out, "queues", d->queues);
		for (i = 0; i < ALOOP_NCOUNTERS; i++)
			status_u64(out, aloop_counter_names[i], d->counters[i]);
	}
	return ferror(out) ? -EIO : 0;
}

static const struct {
	uint64_t	bit;
	const char	*name;
} feature_names[] = {
	{ ALOOP_FEAT_LOOP_ABI,	 "loop-abi" },
	{ ALOOP_FEAT_CONTROL,	 "control" },
	{ ALOOP_FEAT_BUFFERED,	 "buffered" },
	{ ALOOP_FEAT_DIO,	 "dio" },
	{ ALOOP_FEAT_DIO_REASON, "dio-reason" },
	{ ALOOP_FEAT_DEV_INFO,	 "dev-info" },
	{ ALOOP_FEAT_QUEUES,	 "queues" },
	{ ALOOP_FEAT_CGROUP,	 "cgroup" },
	{ ALOOP_FEAT_NOWAIT,	 "nowait" },
	{ ALOOP_FEAT_ATTACH,	 "attach" },
	{ ALOOP_FEAT_FIND,	 "find" },
	{ ALOOP_FEAT_DETACH,	 "detach" },
	{ ALOOP_FEAT_ATTACH_FD, "attach-fd" },
};

/* Name of feature bit @bit (0..63), or NULL when this tool doesn't know. */
const char *aloop_feature_name(unsigned int bit)
{
	size_t i;

	if (bit > 63)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(feature_names); i++)
		if (feature_names[i].bit == 1ULL << bit)
			return feature_names[i].name;
	return NULL;
}

static void print_feature(FILE *out, unsigned int bit, bool json)
{
	const char *name = aloop_feature_name(bit);
	const char *quote = json ? "\"" : "";

	if (name)
		fprintf(out, "%s%s%s", quote, name, quote);
	else
		fprintf(out, "%sbit%u%s", quote, bit, quote);
}

/*
 * One feature name per line, or a JSON object
 * { "abi_version": N, "features": [ "name", ... ] }.
 * Bits this tool has no name for are shown as "bitN".
 */
int aloop_print_features(FILE *out, uint32_t version, uint64_t features,
			 bool json)
{
	const char *sep = "";
	unsigned int bit;

	if (json)
		fprintf(out, "{\n   \"abi_version\": %" PRIu32 ",\n"
			"   \"features\": [", version);
	for (bit = 0; bit < 64; bit++) {
		if (!(features & (1ULL << bit)))
			continue;
		if (json)
			fprintf(out, "%s\n      ", sep);
		print_feature(out, bit, json);
		if (!json)
			fputc('\n', out);
		sep = ",";
	}
	if (json)
		fprintf(out, "%s]\n}\n", *sep ? "\n   " : "");
	return ferror(out) ? -EIO : 0;
}

/* ------------------------------------------------------------------ */
/* sysfs                                                               */
/* ------------------------------------------------------------------ */

/* Read all of a file (at most @len - 1 bytes), NUL terminated; -errno. */
ssize_t aloop_slurp(const char *path, char *buf, size_t len)
{
	size_t done = 0;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < len - 1) {
		ssize_t n = read(fd, buf + done, len - 1 - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;

			close(fd);
			buf[0] = '\0';
			return rc;
		}
		if (n == 0)
			break;
		done += n;
	}
	close(fd);
	buf[done] = '\0';
	return done;
}

/* Read a small file into @buf, NUL terminated, trailing newline cut. */
static int read_file(const char *path, char *buf, size_t len)
{
	ssize_t n = aloop_slurp(path, buf, len);

	if (n < 0)
		return n;
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

static int dev_path(char *path, size_t len, const char *sysfs,
		    unsigned int nr, const char *attr)
{
	int n = snprintf(path, len, "%s/block/%s%u%s%s", sysfs,
			 aloop_name_prefix(), nr, *attr ? "/" : "", attr);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int read_attr(const char *sysfs, unsigned int nr, const char *attr,
		     char *buf, size_t len)
{
	char path[PATH_MAX];
	int rc;

	rc = dev_path(path, sizeof(path), sysfs, nr, attr);
	return rc ? rc : read_file(path, buf, len);
}

static int parse_u64(const char *str, uint64_t *val)
{
	char *end;

	if (!is_digit(*str))
		return -EINVAL;
	errno = 0;
	*val = strtoull(str, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

/* Optional numeric attribute: left at 0 when missing or unreadable. */
static uint64_t attr_u64(const char *sysfs, unsigned int nr, const char *attr)
{
	char buf[32];
	uint64_t val;

	if (read_attr(sysfs, nr, attr, buf, sizeof(buf)) ||
	    parse_u64(buf, &val))
		return 0;
	return val;
}

static void attr_str(const char *sysfs, unsigned int nr, const char *attr,
		     char *buf, size_t len)
{
	if (read_attr(sysfs, nr, attr, buf, len))
		buf[0] = '\0';
}

bool aloop_module_loaded(const char *sysfs)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/module/aloop", sysfs);
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

bool aloop_compat_loaded(const char *sysfs)
{
	char path[PATH_MAX], v[8];

	snprintf(path, sizeof(path), "%s/module/aloop/parameters/loop_compat",
		 sysfs);
	return !read_file(path, v, sizeof(v)) && v[0] == 'Y';
}

int aloop_read_module_version(const char *sysfs, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/module/aloop/version", sysfs);
	return read_file(path, buf, len);
}

/*
 * Fill @d from /sys/block/aloopN.  Returns -ENODEV when the device does
 * not exist; the aloop/backing_file attribute is required, the others
 * read as 0 or "" when missing (e.g. dio_reason from an older module).
 */
int aloop_sysfs_read_dev(const char *sysfs, unsigned int nr,
			 struct aloop_dev *d)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i;
	int rc;

	memset(d, 0, sizeof(*d));
	d->nr = nr;

	rc = dev_path(path, sizeof(path), sysfs, nr, "");
	if (rc)
		return rc;
	if (stat(path, &st))
		return errno == ENOENT ? -ENODEV : -errno;

	rc = read_attr(sysfs, nr, "aloop/backing_file", d->backing_file,
		       sizeof(d->backing_file));
	if (rc)
		return rc == -ENOENT ? -ENODEV : rc;

	d->bound = d->backing_file[0] != '\0';
	d->offset = attr_u64(sysfs, nr, "aloop/offset");
	d->sizelimit = attr_u64(sysfs, nr, "aloop/sizelimit");
	d->autoclear = attr_u64(sysfs, nr, "aloop/autoclear");
	d->partscan = attr_u64(sysfs, nr, "aloop/partscan");
	d->dio = attr_u64(sysfs, nr, "aloop/dio");
	d->ro = attr_u64(sysfs, nr, "ro");
	d->size = attr_u64(sysfs, nr, "size") * 512;
	d->log_sec = attr_u64(sysfs, nr, "queue/logical_block_size");
	attr_str(sysfs, nr, "aloop/dio_reason", d->dio_reason,
		 sizeof(d->dio_reason));
	d->queues = attr_u64(sysfs, nr, "aloop/queues");
	attr_str(sysfs, nr, "aloop/owner", d->owner, sizeof(d->owner));
	d->owner_pid = attr_u64(sysfs, nr, "aloop/owner_pid");
	d->owner_cgroup = attr_u64(sysfs, nr, "aloop/owner_cgroup");
	d->attach_time = attr_u64(sysfs, nr, "aloop/attach_time");
	d->orphan = attr_u64(sysfs, nr, "aloop/orphan");
	for (i = 0; i < ALOOP_NCOUNTERS; i++) {
		char name[64];

		snprintf(name, sizeof(name), "aloop/%s", aloop_counter_names[i]);
		d->counters[i] = attr_u64(sysfs, nr, name);
	}
	return 0;
}

static int cmp_dev(const void *a, const void *b)
{
	const struct aloop_dev *x = a, *y = b;

	return (x->nr > y->nr) - (x->nr < y->nr);
}

static int scan_dir(const char *sysfs, DIR *dir, bool all,
		    struct aloop_dev **devs, size_t *ndevs)
{
	struct aloop_dev *arr = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	int rc = 0;

	while ((de = readdir(dir))) {
		unsigned int nr;

		if (aloop_parse_devname(de->d_name, &nr))
			continue;
		if (n == alloc) {
			struct aloop_dev *tmp;

			alloc = alloc ? alloc * 2 : 8;
			tmp = realloc(arr, alloc * sizeof(*arr));
			if (!tmp) {
				rc = -ENOMEM;
				break;
			}
			arr = tmp;
		}
		rc = aloop_sysfs_read_dev(sysfs, nr, &arr[n]);
		if (rc == -ENODEV) {		/* removed while we looked */
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (all || arr[n].bound)
			n++;
	}

	if (rc) {
		free(arr);
		return rc;
	}
	if (n)
		qsort(arr, n, sizeof(*arr), cmp_dev);
	*devs = arr;
	*ndevs = n;
	return 0;
}

/*
 * All aloop devices under @sysfs/block, sorted by number; only bound
 * ones unless @all.  *@devs is malloc'ed (may be NULL when *@ndevs is 0).
 */
int aloop_sysfs_scan(const char *sysfs, bool all, struct aloop_dev **devs,
		     size_t *ndevs)
{
	char path[PATH_MAX];
	DIR *dir;
	int rc;

	*devs = NULL;
	*ndevs = 0;
	snprintf(path, sizeof(path), "%s/block", sysfs);
	dir = opendir(path);
	if (!dir)
		return -errno;
	rc = scan_dir(sysfs, dir, all, devs, ndevs);
	closedir(dir);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Saved attachments                                                   */
/* ------------------------------------------------------------------ */


/*
 * The next field of *@p, unescaped (\NNN octal) into @buf; NULL at the
 * end of the line or at a comment.  *@bad is set on a bad escape or a
 * field longer than @len.
 */
static const char *next_field(const char **p, char *buf, size_t len,
			      bool *bad)
{
	const char *s = *p + strspn(*p, " \t\r\n");
	size_t n = 0;

	if (!*s || *s == '#') {
		*p = s;
		return NULL;
	}
	while (*s && !strchr(" \t\r\n", *s)) {
		char c = *s++;

		if (c == '\\') {
			if (s[0] < '0' || s[0] > '3' || s[1] < '0' || s[1] > '7' ||
			    s[2] < '0' || s[2] > '7' ||
			    !((s[0] - '0') << 6 | (s[1] - '0') << 3 | (s[2] - '0'))) {
				*bad = true;
				return NULL;
			}
			c = (s[0] - '0') << 6 | (s[1] - '0') << 3 | (s[2] - '0');
			s += 3;
		}
		if (n + 1 >= len) {
			*bad = true;
			return NULL;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	*p = s;
	return buf;
}

static int spec_size(const char *key, const char *val, uint64_t *res,
		     char *err, size_t len)
{
	int rc = val ? aloop_parse_size(val, res) : -EINVAL;

	if (rc)
		aloop_sfmt(err, len, "%s: invalid size '%s'%s", key,
			   val ? val : "", rc == -ERANGE ? " (too large)" : "");
	return rc ? -EINVAL : 0;
}

static int spec_option(struct aloop_spec *s, char *field, char *err,
		       size_t len)
{
	char *val = strchr(field, '=');
	const char *key = field;
	uint64_t v;
	bool on;

	if (val)
		*val++ = '\0';
	if (!strcmp(key, "read-only") || !strcmp(key, "partscan") ||
	    !strcmp(key, "no-partscan")) {
		if (val) {
			aloop_sfmt(err, len, "%s takes no value", key);
			return -EINVAL;
		}
		if (key[0] == 'r')
			s->ro = true;
		else if (key[0] == 'p')
			s->partscan = true;
		else
			s->no_partscan = true;
		return 0;
	}
	if (!strcmp(key, "offset"))
		return spec_size(key, val, &s->offset, err, len);
	if (!strcmp(key, "sizelimit"))
		return spec_size(key, val, &s->sizelimit, err, len);
	if (!strcmp(key, "block-size") || !strcmp(key, "sector-size")) {
		if (spec_size(key, val, &v, err, len))
			return -EINVAL;
		if (v < 512 || v > 65536 || (v & (v - 1))) {
			aloop_sfmt(err, len, "%s: invalid block size '%s' (a power of 2 from 512 to 64K)",
				   key, val);
			return -EINVAL;
		}
		s->block_size = v;
		return 0;
	}
	if (!strcmp(key, "direct-io")) {
		on = true;
		if (val && aloop_parse_onoff(val, &on)) {
			aloop_sfmt(err, len, "direct-io: invalid value '%s' (use on or off)",
				   val);
			return -EINVAL;
		}
		s->dio = on;
		return 0;
	}
	if (!strcmp(key, "queues")) {
		if (!val || parse_u64(val, &v) || v < 1 || v > ALOOP_MAX_QUEUES) {
			aloop_sfmt(err, len, "queues: invalid count '%s' (1 to %d)",
				   val ? val : "", ALOOP_MAX_QUEUES);
			return -EINVAL;
		}
		s->queues = v;
		return 0;
	}
	if (!strcmp(key, "owner")) {
		if (!val || !*val || strlen(val) >= sizeof(s->owner)) {
			aloop_sfmt(err, len, "owner: a label of 1 to %zu bytes",
				   sizeof(s->owner) - 1);
			return -EINVAL;
		}
		snprintf(s->owner, sizeof(s->owner), "%s", val);
		return 0;
	}
	if (!strcmp(key, "device")) {
		unsigned int nr;

		if (!val || aloop_parse_devname(val, &nr)) {
			aloop_sfmt(err, len, "device: '%s' is not an aloop device",
				   val ? val : "");
			return -EINVAL;
		}
		aloop_dev_path(s->device, sizeof(s->device), nr);
		return 0;
	}
	aloop_sfmt(err, len, "unknown option '%s'", key);
	return -EINVAL;
}

int aloop_parse_spec(const char *line, struct aloop_spec *s, char *err,
		     size_t errlen)
{
	char field[PATH_MAX];
	bool bad = false;
	const char *p = line;

	memset(s, 0, sizeof(*s));
	s->dio = -1;
	err[0] = '\0';
	if (!next_field(&p, s->file, sizeof(s->file), &bad)) {
		if (!bad)
			return 0;
		aloop_sfmt(err, errlen, "bad escape or file name too long");
		return -EINVAL;
	}
	if (s->file[0] != '/') {
		aloop_sfmt(err, errlen, "%s: not an absolute path", s->file);
		return -EINVAL;
	}
	while (next_field(&p, field, sizeof(field), &bad))
		if (spec_option(s, field, err, errlen))
			return -EINVAL;
	if (bad) {
		aloop_sfmt(err, errlen, "bad escape (use \\NNN, e.g. \\040 for a blank) or field too long");
		return -EINVAL;
	}
	if (s->partscan && s->no_partscan) {
		aloop_sfmt(err, errlen, "partscan and no-partscan are mutually exclusive");
		return -EINVAL;
	}
	return 1;
}

/* @str escaped into @buf at *@n; false when it does not fit */
static bool put_escaped(char *buf, size_t len, size_t *n, const char *str)
{
	for (; *str; str++) {
		unsigned char c = *str;
		int w;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		    c == '\\' || c == '#')
			w = snprintf(buf + *n, len - *n, "\\%03o", c);
		else
			w = snprintf(buf + *n, len - *n, "%c", c);
		if (w < 0 || (size_t)w >= len - *n)
			return false;
		*n += w;
	}
	return true;
}

static bool put_str(char *buf, size_t len, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool put_str(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= len - *n)
		return false;
	*n += w;
	return true;
}

int aloop_format_spec(const struct aloop_spec *s, char *buf, size_t len)
{
	size_t n = 0;
	bool ok;

	ok = put_escaped(buf, len, &n, s->file);
	if (ok && s->offset)
		ok = put_str(buf, len, &n, " offset=%" PRIu64, s->offset);
	if (ok && s->sizelimit)
		ok = put_str(buf, len, &n, " sizelimit=%" PRIu64, s->sizelimit);
	if (ok && s->ro)
		ok = put_str(buf, len, &n, " read-only");
	if (ok && s->partscan)
		ok = put_str(buf, len, &n, " partscan");
	if (ok && s->no_partscan)
		ok = put_str(buf, len, &n, " no-partscan");
	if (ok && s->dio >= 0)
		ok = put_str(buf, len, &n, " direct-io=%s", s->dio ? "on" : "off");
	if (ok && s->block_size)
		ok = put_str(buf, len, &n, " block-size=%" PRIu32, s->block_size);
	if (ok && s->queues)
		ok = put_str(buf, len, &n, " queues=%" PRIu32, s->queues);
	if (ok && s->owner[0])
		ok = put_str(buf, len, &n, " owner=") &&
			put_escaped(buf, len, &n, s->owner);
	if (ok && s->device[0])
		ok = put_str(buf, len, &n, " device=%s", s->device);
	return ok ? 0 : -ENAMETOOLONG;
}

/*
 * What restore needs to attach @d as it is: the file, offset, sizelimit,
 * read-only, partscan, owner, a block size other than 512, direct I/O
 * when in use or turned off by the user (otherwise the default decides
 * again).  Not the device number (any free one will do: mount by UUID)
 * nor the queue count (the module's default for this machine).
 */
void aloop_spec_from_dev(const struct aloop_dev *d, struct aloop_spec *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->file, sizeof(s->file), "%s", d->backing_file);
	s->offset = d->offset;
	s->sizelimit = d->sizelimit;
	s->ro = d->ro;
	s->partscan = d->partscan;
	s->block_size = d->log_sec && d->log_sec != 512 ? d->log_sec : 0;
	if (d->dio)
		s->dio = 1;
	else if (!strcmp(d->dio_reason, "turned off by user"))
		s->dio = 0;
	else
		s->dio = -1;
	snprintf(s->owner, sizeof(s->owner), "%s", d->owner);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

/* @s as a JSON string, quoted and escaped. */
void aloop_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* ------------------------------------------------------------------ */
/* Backing store judgement (attach's warnings)                         */
/* ------------------------------------------------------------------ */

/*
 * statfs(2) f_type of the file systems that make a poor backing store,
 * from <linux/magic.h> (spelt out: older headers lack some).  What
 * statfs says of the rest is fine: local disk file systems, overlayfs
 * (O_DIRECT passes through), block devices (never looked at).
 */
static const struct {
	uint32_t	magic;
	const char	*name;
	int		fit;
} fs_fits[] = {
	{ 0x9123683e, "btrfs",	  ALOOP_FIT_COW },	/* BTRFS_SUPER_MAGIC */
	{ 0x01021994, "tmpfs",	  ALOOP_FIT_MEMORY },	/* TMPFS_MAGIC */
	{ 0x858458f6, "ramfs",	  ALOOP_FIT_MEMORY },	/* RAMFS_MAGIC */
	{ 0x00006969, "nfs",	  ALOOP_FIT_NETWORK },	/* NFS_SUPER_MAGIC */
	{ 0xff534d42, "cifs",	  ALOOP_FIT_NETWORK },	/* CIFS_SUPER_MAGIC */
	{ 0xfe534d42, "smb2",	  ALOOP_FIT_NETWORK },	/* SMB2_SUPER_MAGIC */
	{ 0x0000517b, "smbfs",	  ALOOP_FIT_NETWORK },	/* SMB_SUPER_MAGIC */
	{ 0x00c36400, "ceph",	  ALOOP_FIT_NETWORK },	/* CEPH_SUPER_MAGIC */
	{ 0x01021997, "9p",	  ALOOP_FIT_NETWORK },	/* V9FS_MAGIC */
	{ 0x5346414f, "afs",	  ALOOP_FIT_NETWORK },	/* AFS_SUPER_MAGIC */
	{ 0x6b414653, "afs",	  ALOOP_FIT_NETWORK },	/* AFS_FS_MAGIC */
	{ 0x73757245, "coda",	  ALOOP_FIT_NETWORK },	/* CODA_SUPER_MAGIC */
	{ 0x0bd00bd0, "lustre",	  ALOOP_FIT_NETWORK },	/* LL_SUPER_MAGIC */
	{ 0x20030528, "orangefs", ALOOP_FIT_NETWORK },	/* ORANGEFS_SUPER_MAGIC */
	{ 0x65735546, "fuse",	  ALOOP_FIT_FUSE },	/* FUSE_SUPER_MAGIC */
};

const char *aloop_fs_name(uint32_t magic)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fs_fits); i++)
		if (fs_fits[i].magic == magic)
			return fs_fits[i].name;
	return NULL;
}

/*
 * The verdict on a backing file: ALOOP_FIT_OK, or the kind of poor fit
 * with a one-line message in @msg ("" when fine), file first.  @fs->type
 * is the mount's type from mountinfo ("nfs4", "fuse.sshfs"), NULL or ""
 * when unknown: it names the file system better than the magic can.
 */
int aloop_backing_fit(const char *file, const struct aloop_backing_fs *fs,
		      char *msg, size_t len)
{
	const char *name = aloop_fs_name(fs->magic);
	const char *type = fs->type && *fs->type ? fs->type : name;
	size_t i;
	int fit = ALOOP_FIT_OK;

	for (i = 0; i < ARRAY_SIZE(fs_fits); i++)
		if (fs_fits[i].magic == fs->magic)
			fit = fs_fits[i].fit;
	if (len)
		msg[0] = '\0';
	switch (fit) {
	case ALOOP_FIT_COW:
		/* Copy-on-write hurts writes; a read-only image is fine. */
		if (fs->nocow || fs->ro)
			return ALOOP_FIT_OK;
		snprintf(msg, len, "%s: on btrfs without nodatacow: copy-on-write fragments the image and slows its writes; make the image a nodatacow file ('chattr +C' on it while empty, or on its directory before creating it)",
			 file);
		break;
	case ALOOP_FIT_MEMORY:
		if (!strcmp(name, "ramfs"))
			snprintf(msg, len, "%s: on ramfs: the image lives in RAM only and ramfs has no O_DIRECT: buffered I/O, the data cached twice",
				 file);
		else
			snprintf(msg, len, "%s: on tmpfs: the image lives in RAM and swap, and tmpfs before Linux 6.6 has no O_DIRECT: buffered I/O, the data cached twice",
				 file);
		break;
	case ALOOP_FIT_NETWORK:
		snprintf(msg, len, "%s: on a network file system (%s): the device's I/O waits on the server and the network, and hangs when they do",
			 file, type);
		break;
	case ALOOP_FIT_FUSE:
		snprintf(msg, len, "%s: on a FUSE file system (%s): every I/O goes through a user-space daemon: slow, and the device hangs when the daemon does",
			 file, type);
		break;
	}
	return fit;
}

/*
 * The file system type of mount MAJOR:MINOR in /proc/self/mountinfo
 * (@f): "36 35 0:52 / /mnt rw,relatime shared:1 - fuse.sshfs host:/ rw".
 * 0 and the type in @buf, or -ENOENT.
 */
int aloop_mountinfo_type(FILE *f, unsigned int major, unsigned int minor,
			 char *buf, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;

	while (getline(&line, &cap, f) > 0) {
		unsigned int ma, mi;
		char *sep, *type, *end;

		if (sscanf(line, "%*u %*u %u:%u", &ma, &mi) != 2 ||
		    ma != major || mi != minor)
			continue;
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		type = sep + 3;
		end = strchrnul(type, ' ');
		*end = '\0';
		if (!*type || (size_t)(end - type) >= len)
			continue;
		memcpy(buf, type, end - type + 1);
		rc = 0;
		break;
	}
	free(line);
	return rc;
}
