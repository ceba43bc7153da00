// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests for the aloopctl helpers (aloopctl/aloopctl_util.c).
 *
 * Output is KTAP/TAP 13: the results are collected first so that the
 * plan ("1..N") can precede them; the last line is "# N passed, M failed"
 * and the exit status is 1 when anything failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/aloop.h>

#include "aloopctl.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct result {
	bool	ok;
	char	*desc;
	char	*diag;		/* shown as "# ..." after a failure */
};

static struct result *results;
static size_t nresults, nalloc;

static char *vfmt(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0) {
		perror("vasprintf");
		exit(1);
	}
	return s;
}

static struct result *add_result(bool ok)
{
	if (nresults == nalloc) {
		nalloc = nalloc ? nalloc * 2 : 64;
		results = realloc(results, nalloc * sizeof(*results));
		if (!results) {
			perror("realloc");
			exit(1);
		}
	}
	results[nresults].ok = ok;
	results[nresults].diag = NULL;
	return &results[nresults++];
}

static bool __attribute__((format(printf, 2, 3)))
check(bool ok, const char *fmt, ...)
{
	struct result *r = add_result(ok);
	va_list ap;

	va_start(ap, fmt);
	r->desc = vfmt(fmt, ap);
	va_end(ap);
	return ok;
}

/* Attach a diagnostic to the last result. */
static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	struct result *r = &results[nresults - 1];
	va_list ap;

	va_start(ap, fmt);
	free(r->diag);
	r->diag = vfmt(fmt, ap);
	va_end(ap);
}

static int report(void)
{
	size_t i, failed = 0;

	printf("TAP version 13\n1..%zu\n", nresults);
	for (i = 0; i < nresults; i++) {
		struct result *r = &results[i];

		printf("%sok %zu - %s\n", r->ok ? "" : "not ", i + 1, r->desc);
		if (!r->ok && r->diag) {
			char *line, *save = NULL;

			for (line = strtok_r(r->diag, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				printf("# %s\n", line);
		}
		failed += !r->ok;
		free(r->desc);
		free(r->diag);
	}
	free(results);
	printf("# %zu passed, %zu failed\n", nresults - failed, failed);
	return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* aloop_parse_size                                                    */
/* ------------------------------------------------------------------ */

static void size_ok(const char *str, uint64_t want)
{
	uint64_t val = 12345;
	int rc = aloop_parse_size(str, &val);

	if (!check(rc == 0 && val == want, "size '%s' = %llu", str,
		   (unsigned long long)want))
		diag("rc %d, value %llu", rc, (unsigned long long)val);
}

static void size_bad(const char *str, int want)
{
	uint64_t val = 12345;
	int rc = aloop_parse_size(str, &val);

	if (!check(rc == want && val == 12345, "size '%s' rejected with %s",
		   str ? str : "(null)", want == -ERANGE ? "ERANGE" : "EINVAL"))
		diag("rc %d, value %llu", rc, (unsigned long long)val);
}

static void test_sizes(void)
{
	size_ok("0", 0);
	size_ok("1", 1);
	size_ok("512", 512);
	size_ok("007", 7);
	size_ok("0K", 0);
	size_ok("1K", 1024);
	size_ok("1k", 1024);
	size_ok("4KiB", 4096);
	size_ok("4kib", 4096);
	size_ok("1M", 1ULL << 20);
	size_ok("3m", 3ULL << 20);
	size_ok("1MiB", 1ULL << 20);
	size_ok("2G", 2ULL << 30);
	size_ok("2g", 2ULL << 30);
	size_ok("1GiB", 1ULL << 30);
	size_ok("1T", 1ULL << 40);
	size_ok("5t", 5ULL << 40);
	size_ok("1TiB", 1ULL << 40);
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("16777215T", 16777215ULL << 40);

	size_bad(NULL, -EINVAL);
	size_bad("", -EINVAL);
	size_bad("abc", -EINVAL);
	size_bad("K", -EINVAL);
	size_bad("12Q", -EINVAL);
	size_bad("1KB", -EINVAL);
	size_bad("1Ki", -EINVAL);
	size_bad("1KiBx", -EINVAL);
	size_bad("1.5G", -EINVAL);
	size_bad("0x10", -EINVAL);
	size_bad(" 1", -EINVAL);
	size_bad("1 ", -EINVAL);
	size_bad("1 K", -EINVAL);
	size_bad("+1", -EINVAL);
	size_bad("-1", -EINVAL);
	size_bad("-5", -EINVAL);
	size_bad("-0", -EINVAL);
	size_bad("18446744073709551616", -ERANGE);
	size_bad("99999999999999999999999", -ERANGE);
	size_bad("16777216T", -ERANGE);
	size_bad("17179869184G", -ERANGE);
	size_bad("99999999999999999999999Q", -EINVAL);
}

/* ------------------------------------------------------------------ */
/* on/off, device names                                                */
/* ------------------------------------------------------------------ */

static void onoff(const char *str, int want)
{
	bool val = !want;
	int rc = aloop_parse_onoff(str, &val);

	if (want < 0)
		check(rc == -EINVAL, "on/off '%s' rejected", str ? str : "(null)");
	else
		check(rc == 0 && val == want, "on/off '%s' = %s", str,
		      want ? "on" : "off");
}

static void test_onoff(void)
{
	onoff("on", 1);
	onoff("ON", 1);
	onoff("yes", 1);
	onoff("1", 1);
	onoff("off", 0);
	onoff("Off", 0);
	onoff("no", 0);
	onoff("0", 0);
	onoff(NULL, -1);
	onoff("", -1);
	onoff("maybe", -1);
	onoff("onn", -1);
	onoff("2", -1);
}

static void devname_ok(const char *str, unsigned int want)
{
	unsigned int nr = 999;
	int rc = aloop_parse_devname(str, &nr);

	if (!check(rc == 0 && nr == want, "device '%s' = %u", str, want))
		diag("rc %d, nr %u", rc, nr);
}

static void devname_bad(const char *str)
{
	unsigned int nr = 999;
	int rc = aloop_parse_devname(str, &nr);

	check(rc == -EINVAL && nr == 999, "device '%s' rejected",
	      str ? str : "(null)");
}

static void test_devnames(void)
{
	static const char *const bad[] = {
		NULL, "", "3", "aloop", "/dev/aloop", "aloop03", "aloop-1",
		"aloop3p1", "aloop 3", "/dev/loop0", "loop0", "/dev/sda",
		"/dev/aloop-control", "aloop2147483648", "aloop99999999999",
		"/sys/block/aloop3", "dev/aloop3", "/dev//aloop3",
		"/dev/aloop3/", "ALOOP3",
	};
	size_t i;

	devname_ok("aloop0", 0);
	devname_ok("aloop3", 3);
	devname_ok("/dev/aloop3", 3);
	devname_ok("/dev/aloop10", 10);
	devname_ok("aloop1048575", 1048575);
	devname_ok("aloop2147483647", 2147483647);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		devname_bad(bad[i]);
}

/* ------------------------------------------------------------------ */
/* Columns                                                             */
/* ------------------------------------------------------------------ */

static bool same_cols(const int *a, size_t na, const int *b, size_t nb)
{
	return na == nb && !memcmp(a, b, na * sizeof(*a));
}

static void test_columns(void)
{
	static const int want_default[] = {
		COL_NAME, COL_SIZELIMIT, COL_OFFSET, COL_AUTOCLEAR, COL_RO,
		COL_BACK_FILE, COL_DIO, COL_LOG_SEC, COL_DIO_REASON,
	};
	static const int want_mixed[] = { COL_NAME, COL_RO, COL_BACK_FILE };
	int cols[ALOOP_MAX_COLS], orig[ALOOP_MAX_COLS];
	char *unknown, *many;
	size_t n, i, j;
	bool ok;
	int rc;

	check(same_cols(aloop_default_columns, aloop_ndefault_columns,
			want_default, ARRAY_SIZE(want_default)),
	      "default columns are NAME SIZELIMIT OFFSET AUTOCLEAR RO "
	      "BACK-FILE DIO LOG-SEC DIO-REASON");

	ok = true;
	for (i = 0; i < ALOOP_NCOLUMNS; i++) {
		const char *name = aloop_columns[i].name;

		ok &= aloop_column_by_name(name, strlen(name)) == (int)i;
		ok &= aloop_columns[i].help && *aloop_columns[i].help;
		for (j = 0; j < i; j++)
			ok &= strcmp(name, aloop_columns[j].name) != 0;
	}
	check(ok, "every column has a unique name and a help text");

	rc = aloop_parse_columns("NAME", cols, ALOOP_MAX_COLS, &n, &unknown);
	check(rc == 0 && n == 1 && cols[0] == COL_NAME, "--output NAME");

	rc = aloop_parse_columns("name,Ro,back-FILE", cols, ALOOP_MAX_COLS,
				 &n, &unknown);
	check(rc == 0 && same_cols(cols, n, want_mixed, 3),
	      "--output is case-insensitive and keeps the order");

	memcpy(cols, want_default, sizeof(want_default));
	n = ARRAY_SIZE(want_default);
	rc = aloop_parse_columns("+PARTSCAN,size", cols, ALOOP_MAX_COLS, &n,
				 &unknown);
	check(rc == 0 && n == 11 && same_cols(cols, 9, want_default, 9) &&
	      cols[9] == COL_PARTSCAN && cols[10] == COL_SIZE,
	      "--output +PARTSCAN,size appends to the default columns");

	memcpy(orig, cols, sizeof(cols));
	n = 11;
	rc = aloop_parse_columns("NAME,FOO,RO", cols, ALOOP_MAX_COLS, &n,
				 &unknown);
	check(rc == -EINVAL && unknown && !strcmp(unknown, "FOO") && n == 11 &&
	      !memcmp(orig, cols, sizeof(cols)),
	      "--output NAME,FOO,RO names FOO and changes nothing");
	free(unknown);

	rc = aloop_parse_columns("NAM", cols, ALOOP_MAX_COLS, &n, &unknown);
	check(rc == -EINVAL && unknown && !strcmp(unknown, "NAM"),
	      "--output does not match prefixes");
	free(unknown);

	rc = aloop_parse_columns("NAMEX", cols, ALOOP_MAX_COLS, &n, &unknown);
	check(rc == -EINVAL && unknown && !strcmp(unknown, "NAMEX"),
	      "--output rejects NAMEX");
	free(unknown);

	rc = aloop_parse_columns("", cols, ALOOP_MAX_COLS, &n, &unknown);
	check(rc == -EINVAL && unknown && !*unknown, "--output '' rejected");
	free(unknown);

	rc = aloop_parse_columns("NAME,", cols, ALOOP_MAX_COLS, &n, &unknown);
	check(rc == -EINVAL && unknown && !*unknown,
	      "--output with an empty element rejected");
	free(unknown);

	many = calloc(ALOOP_MAX_COLS + 1, sizeof("RO,"));
	for (i = 0; i <= ALOOP_MAX_COLS; i++)
		strcat(many, i ? ",RO" : "RO");
	rc = aloop_parse_columns(many, cols, ALOOP_MAX_COLS, &n, &unknown);
	check(rc == -E2BIG, "--output with too many columns rejected");
	free(many);

	rc = aloop_parse_columns("RO,RO", cols, ALOOP_MAX_COLS, &n, NULL);
	check(rc == 0 && n == 2, "--output may repeat a column");
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */
/* ------------------------------------------------------------------ */

static const struct aloop_dev fake_devs[] = {
	{
		.nr = 0, .bound = true,
		.backing_file = "/var/img/disk.img",
		.size = 1048576, .log_sec = 512,
		.autoclear = true, .dio = true,
	},
	{
		.nr = 7, .bound = true,
		.backing_file = "/srv/with space.img",
		.offset = 4096, .sizelimit = 65536, .size = 65536,
		.log_sec = 4096, .ro = true, .partscan = true,
		.dio_reason = "backing fs lacks O_DIRECT",
	},
};

static char *render(const struct aloop_dev *devs, size_t ndevs,
		    const int *cols, size_t ncols, unsigned int flags)
{
	struct libscols_table *tb = scols_new_table();
	char *out = NULL;

	if (!tb)
		return NULL;
	if (aloop_table_fill(tb, devs, ndevs, cols, ncols, flags) ||
	    scols_print_table_to_string(tb, &out))
		out = NULL;
	scols_unref_table(tb);
	return out;
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	while (hay && (hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void test_table(void)
{
	static const int bools[] = { COL_NAME, COL_RO, COL_AUTOCLEAR,
				     COL_PARTSCAN, COL_DIO };
	char *out;
	bool ok;

	out = render(fake_devs, 2, aloop_default_columns,
		     aloop_ndefault_columns, 0);
	ok = out && !strncmp(out, "NAME", 4);
	ok &= contains(out, "SIZELIMIT") && contains(out, "DIO-REASON");
	ok &= out && strstr(out, "SIZELIMIT") < strstr(out, "OFFSET") &&
	      strstr(out, "OFFSET") < strstr(out, "AUTOCLEAR") &&
	      strstr(out, "BACK-FILE") < strstr(out, "LOG-SEC");
	if (!check(ok, "table: default heading in order"))
		diag("%s", out ? out : "(null)");
	check(contains(out, "/dev/aloop0") && contains(out, "/dev/aloop7") &&
	      contains(out, "/srv/with space.img") &&
	      contains(out, "backing fs lacks O_DIRECT"),
	      "table: names, backing files and dio reason shown");
	/* scols_print_table_to_string() leaves out the final newline */
	check(count(out, "\n") == 2, "table: heading plus one line per device");
	free(out);

	out = render(fake_devs, 2, bools, ARRAY_SIZE(bools),
		     ALOOP_TB_RAW | ALOOP_TB_NOHEADINGS);
	if (!check(out && !strcmp(out, "/dev/aloop0 0 1 0 1\n"
					 "/dev/aloop7 1 0 1 0"),
		   "raw, no headings: flags as 0/1"))
		diag("%s", out ? out : "(null)");
	free(out);

	out = render(fake_devs, 2, bools, 1, ALOOP_TB_RAW);
	check(out && !strcmp(out, "NAME\n/dev/aloop0\n/dev/aloop7"),
	      "raw with heading");
	free(out);

	out = render(fake_devs, 0, aloop_default_columns,
		     aloop_ndefault_columns, 0);
	check(out && !*out, "no devices: empty output");
	free(out);
}

/* The text after "key": in the first object that has it. */
static const char *json_value(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = json ? strstr(json, pat) : NULL;
	return p ? p + strlen(pat) : "";
}

static bool json_is_number(const char *v)
{
	return *v >= '0' && *v <= '9';
}

static bool json_is_bool(const char *v)
{
	return !strncmp(v, "true", 4) || !strncmp(v, "false", 5);
}

static bool json_is_string(const char *v)
{
	return *v == '"' || !strncmp(v, "null", 4);
}

static void lowercase(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i]; i++)
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i];
	dst[i] = '\0';
}

static void test_json(void)
{
	int all[ALOOP_NCOLUMNS];
	char key[32], pat[64];
	char *out;
	bool ok;
	int i;

	for (i = 0; i < ALOOP_NCOLUMNS; i++)
		all[i] = i;
	out = render(fake_devs, 2, all, ALOOP_NCOLUMNS, ALOOP_TB_JSON);

	check(out && out[0] == '{' &&
	      contains(out, "\"" ALOOP_JSON_NAME "\": [") &&
	      count(out, "{") == 3, "json: top-level key aloopdevices, 2 objects");

	ok = true;
	for (i = 0; i < ALOOP_NCOLUMNS; i++) {
		lowercase(key, aloop_columns[i].name, sizeof(key));
		snprintf(pat, sizeof(pat), "\"%s\": ", key);
		ok &= count(out, pat) == 2;
	}
	check(ok, "json: every column key once per device");

	for (i = 0; i < ALOOP_NCOLUMNS; i++) {
		const char *v;
		bool typed;

		lowercase(key, aloop_columns[i].name, sizeof(key));
		v = json_value(out, key);
		switch (aloop_columns[i].json_type) {
		case SCOLS_JSON_NUMBER:
			typed = json_is_number(v);
			break;
		case SCOLS_JSON_BOOLEAN:
			typed = json_is_bool(v);
			break;
		default:
			typed = json_is_string(v);
			break;
		}
		check(typed, "json: %s has type %s", key,
		      aloop_columns[i].json_type == SCOLS_JSON_NUMBER ? "number" :
		      aloop_columns[i].json_type == SCOLS_JSON_BOOLEAN ? "boolean" :
		      "string");
	}

	check(contains(out, "\"name\": \"/dev/aloop0\"") &&
	      contains(out, "\"name\": \"/dev/aloop7\""), "json: names");
	check(contains(out, "\"offset\": 4096,") &&
	      contains(out, "\"sizelimit\": 65536,") &&
	      contains(out, "\"size\": 1048576,") &&
	      contains(out, "\"log-sec\": 4096,"), "json: number values");
	check(contains(out, "\"ro\": false,") && contains(out, "\"ro\": true,") &&
	      contains(out, "\"autoclear\": true,") &&
	      contains(out, "\"dio\": true,"), "json: boolean values");
	check(contains(out, "\"back-file\": \"/srv/with space.img\"") &&
	      contains(out, "\"dio-reason\": \"backing fs lacks O_DIRECT\""),
	      "json: string values");
	check(!contains(out, ": \"0\"") && !contains(out, ": \"1\""),
	      "json: no quoted flags or numbers");
	free(out);

	out = render(fake_devs, 0, all, ALOOP_NCOLUMNS, ALOOP_TB_JSON);
	check(contains(out, "\"aloopdevices\": [") && count(out, "{") == 1,
	      "json: no devices is an empty array");
	free(out);
}

static char *capture_status(const struct aloop_dev *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	aloop_print_status(f, d);
	fclose(f);
	return buf;
}

static void test_status(void)
{
	char *out = capture_status(&fake_devs[1]);

	if (!check(out && !strcmp(out,
			"device: /dev/aloop7\n"
			"backing file: /srv/with space.img\n"
			"size: 65536\n"
			"offset: 4096\n"
			"sizelimit: 65536\n"
			"read-only: yes\n"
			"autoclear: no\n"
			"partscan: yes\n"
			"block size: 4096\n"
			"dio: off\n"
			"dio reason: backing fs lacks O_DIRECT\n"),
		   "status: key: value lines"))
		diag("%s", out ? out : "(null)");
	free(out);

	{
		struct aloop_dev d = fake_devs[1];
		size_t i;

		d.queues = 2;
		for (i = 0; i < ALOOP_NCOUNTERS; i++)
			d.counters[i] = 100 + i;
		out = capture_status(&d);
		if (!check(out && strstr(out, "dio reason: backing fs lacks O_DIRECT\n"
					 "queues: 2\nreqs_dio: 100\n") &&
			   strstr(out, "reqs_nowait: 107\nnowait_again: 108\n"
				  "reqs_helper: 109\nerrors: 110\n"),
			   "status: queues and the request counters"))
			diag("%s", out ? out : "(null)");
		free(out);
	}

	out = capture_status(&fake_devs[0]);
	check(contains(out, "dio: on\ndio reason:\n"),
	      "status: empty dio reason has no trailing blank");
	free(out);
}

static char *capture_features(uint64_t features, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	aloop_print_features(f, ALOOP_ABI_VERSION, features, json);
	fclose(f);
	return buf;
}

static void test_features(void)
{
	static const struct {
		uint64_t	bit;
		const char	*name;
	} names[] = {
		{ ALOOP_FEAT_LOOP_ABI, "loop-abi" },
		{ ALOOP_FEAT_CONTROL, "control" },
		{ ALOOP_FEAT_BUFFERED, "buffered" },
		{ ALOOP_FEAT_DIO, "dio" },
		{ ALOOP_FEAT_DIO_REASON, "dio-reason" },
		{ ALOOP_FEAT_DEV_INFO, "dev-info" },
		{ ALOOP_FEAT_QUEUES, "queues" },
		{ ALOOP_FEAT_CGROUP, "cgroup" },
		{ ALOOP_FEAT_NOWAIT, "nowait" },
		{ ALOOP_FEAT_ATTACH, "attach" },
		{ ALOOP_FEAT_FIND, "find" },
		{ ALOOP_FEAT_DETACH, "detach" },
		{ ALOOP_FEAT_ATTACH_FD, "attach-fd" },
	};
	uint64_t feat = ALOOP_FEAT_LOOP_ABI | ALOOP_FEAT_DIO | (1ULL << 40);
	char *out;
	size_t i;
	bool ok = true;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		const char *n = aloop_feature_name(__builtin_ctzll(names[i].bit));

		ok &= n && !strcmp(n, names[i].name);
	}
	check(ok && !aloop_feature_name(63) && !aloop_feature_name(64),
	      "feature names");

	/* ublk's rule: every bit of ALOOP_FEAT_ALL has a name in the tool. */
	ok = true;
	for (i = 0; i < 64; i++)
		if ((ALOOP_FEAT_ALL >> i) & 1)
			ok &= aloop_feature_name(i) != NULL;
	check(ok && !(ALOOP_FEAT_ALL >> 13),
	      "every ALOOP_FEAT_ALL bit has a name, and no other bit is defined");

	out = capture_features(feat, false);
	check(out && !strcmp(out, "loop-abi\ndio\nbit40\n"),
	      "features: one name per line, unknown bits as bitN");
	free(out);

	out = capture_features(feat, true);
	if (!check(out && !strcmp(out, "{\n   \"abi_version\": 2,\n"
				  "   \"features\": [\n"
				  "      \"loop-abi\",\n"
				  "      \"dio\",\n"
				  "      \"bit40\"\n"
				  "   ]\n}\n"), "features: json"))
		diag("%s", out ? out : "(null)");
	free(out);

	out = capture_features(0, true);
	check(out && !strcmp(out, "{\n   \"abi_version\": 2,\n"
				  "   \"features\": []\n}\n"),
	      "features: json without features");
	free(out);
}

/* ------------------------------------------------------------------ */
/* sysfs reading against a fake tree                                   */
/* ------------------------------------------------------------------ */

static int put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = strchr(path + strlen(root) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int fake_dev(const char *root, unsigned int nr, const char *file,
		    const char *offset, const char *dio, const char *reason)
{
	bool bound = strcmp(file, "\n") != 0;
	char rel[128];
	int rc = 0;

#define ATTR(name, val) do {						\
		snprintf(rel, sizeof(rel), "block/aloop%u/%s", nr, name); \
		rc |= put(root, rel, val);				\
	} while (0)
	ATTR("aloop/backing_file", file);
	ATTR("aloop/offset", offset);
	ATTR("aloop/sizelimit", "0\n");
	ATTR("aloop/autoclear", bound ? "1\n" : "0\n");
	ATTR("aloop/partscan", "0\n");
	ATTR("aloop/dio", dio);
	ATTR("aloop/dio_reason", reason);
	ATTR("ro", "1\n");
	ATTR("size", bound ? "2048\n" : "0\n");
	ATTR("queue/logical_block_size", "4096\n");
#undef ATTR
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void test_sysfs(void)
{
	char root[] = "/tmp/aloopctl-unit.XXXXXX";
	char empty[PATH_MAX], ver[32];
	struct aloop_dev d, *devs;
	size_t n;
	int rc;

	if (!mkdtemp(root)) {
		check(false, "sysfs: create a fake tree");
		return;
	}
	rc = put(root, "module/aloop/version", "0.1.0\n");
	rc |= fake_dev(root, 0, "/img/a.img\n", "512\n", "1\n", "\n");
	rc |= fake_dev(root, 2, "\n", "0\n", "0\n", "\n");
	rc |= fake_dev(root, 10, "/img/b c.img (deleted)\n", "0\n", "0\n",
		       "backing file on tmpfs\n");
	rc |= put(root, "block/loop0/ro", "0\n");
	rc |= put(root, "block/aloop3x/ro", "0\n");
	/* an older module without dio_reason */
	rc |= put(root, "block/aloop5/aloop/backing_file", "/img/old\n");
	check(rc == 0, "sysfs: create a fake tree");

	snprintf(empty, sizeof(empty), "%s/block/aloop2", root);
	check(aloop_module_loaded(root) && !aloop_module_loaded(empty),
	      "sysfs: module loaded or not");
	check(!aloop_read_module_version(root, ver, sizeof(ver)) &&
	      !strcmp(ver, "0.1.0"), "sysfs: module version");

	rc = aloop_sysfs_read_dev(root, 0, &d);
	check(rc == 0 && d.nr == 0 && d.bound &&
	      !strcmp(d.backing_file, "/img/a.img") && d.offset == 512 &&
	      d.sizelimit == 0 && d.autoclear && !d.partscan && d.dio &&
	      d.ro && d.size == 2048 * 512 && d.log_sec == 4096 &&
	      !*d.dio_reason, "sysfs: bound device read");

	rc = aloop_sysfs_read_dev(root, 2, &d);
	check(rc == 0 && !d.bound && !*d.backing_file && d.size == 0,
	      "sysfs: unbound device read");

	rc = aloop_sysfs_read_dev(root, 10, &d);
	check(rc == 0 && !strcmp(d.backing_file, "/img/b c.img (deleted)") &&
	      !strcmp(d.dio_reason, "backing file on tmpfs"),
	      "sysfs: backing file and dio reason are free text");

	rc = aloop_sysfs_read_dev(root, 5, &d);
	check(rc == 0 && d.bound && !*d.dio_reason && d.log_sec == 0,
	      "sysfs: missing optional attributes read as 0");

	rc = aloop_sysfs_read_dev(root, 4, &d);
	check(rc == -ENODEV, "sysfs: missing device is ENODEV");

	rc = aloop_sysfs_scan(root, false, &devs, &n);
	check(rc == 0 && n == 3 && devs[0].nr == 0 && devs[1].nr == 5 &&
	      devs[2].nr == 10, "sysfs: scan lists bound devices by number");
	free(devs);

	rc = aloop_sysfs_scan(root, true, &devs, &n);
	check(rc == 0 && n == 4 && devs[0].nr == 0 && devs[1].nr == 2 &&
	      devs[2].nr == 5 && devs[3].nr == 10,
	      "sysfs: scan --all adds unbound devices");
	free(devs);

	rc = aloop_sysfs_scan(empty, false, &devs, &n);
	check(rc == -ENOENT && n == 0, "sysfs: scan without block/ fails");

	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------------ */
/* saved attachments: aloop_parse_spec, aloop_format_spec              */
/* ------------------------------------------------------------------ */

static void test_specs(void)
{
	static const struct {
		const char	*line;
		const char	*formatted;	/* NULL: a blank or comment line */
	} good[] = {
		{ "", NULL },
		{ "   \t", NULL },
		{ "# a comment", NULL },
		{ "  # indented comment", NULL },
		{ "/srv/disk.img", "/srv/disk.img" },
		{ "  /srv/disk.img  ", "/srv/disk.img" },
		{ "/srv/disk.img offset=1M sizelimit=512M read-only partscan block-size=4K",
		  "/srv/disk.img offset=1048576 sizelimit=536870912 read-only partscan block-size=4096" },
		{ "/a\\040b.img owner=nightly\\040backup queues=2 direct-io=off # why",
		  "/a\\040b.img direct-io=off queues=2 owner=nightly\\040backup" },
		{ "/x.img direct-io device=aloop5 no-partscan sector-size=512",
		  "/x.img no-partscan direct-io=on block-size=512 device=/dev/aloop5" },
		{ "/x\\134y\\043z.img", "/x\\134y\\043z.img" },
	};
	static const struct {
		const char	*line;
		const char	*err;
	} bad[] = {
		{ "disk.img", "disk.img: not an absolute path" },
		{ "/d.img offset=12Q", "offset: invalid size '12Q'" },
		{ "/d.img offset", "offset: invalid size ''" },
		{ "/d.img sizelimit=99999999999999999999999",
		  "sizelimit: invalid size '99999999999999999999999' (too large)" },
		{ "/d.img block-size=1000",
		  "block-size: invalid block size '1000' (a power of 2 from 512 to 64K)" },
		{ "/d.img queues=0", "queues: invalid count '0' (1 to 64)" },
		{ "/d.img queues=65", "queues: invalid count '65' (1 to 64)" },
		{ "/d.img direct-io=maybe",
		  "direct-io: invalid value 'maybe' (use on or off)" },
		{ "/d.img read-only=yes", "read-only takes no value" },
		{ "/d.img frob", "unknown option 'frob'" },
		{ "/d.img --offset=1", "unknown option '--offset'" },
		{ "/d.img autoclear", "unknown option 'autoclear'" },
		{ "/d.img device=loop0", "device: 'loop0' is not an aloop device" },
		{ "/d.img owner=", "owner: a label of 1 to 63 bytes" },
		{ "/d.img partscan no-partscan",
		  "partscan and no-partscan are mutually exclusive" },
		{ "/d\\04.img", "bad escape or file name too long" },
		{ "/d\\000.img", "bad escape or file name too long" },
		{ "/d.img owner=a\\9",
		  "bad escape (use \\NNN, e.g. \\040 for a blank) or field too long" },
	};
	struct aloop_spec s, s2;
	char err[256], buf[PATH_MAX * 2];
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		rc = aloop_parse_spec(good[i].line, &s, err, sizeof(err));
		if (!good[i].formatted) {
			check(rc == 0, "spec: '%s' is no device", good[i].line);
			continue;
		}
		if (!check(rc == 1, "spec: '%s' parses", good[i].line)) {
			diag("rc %d: %s", rc, err);
			continue;
		}
		rc = aloop_format_spec(&s, buf, sizeof(buf));
		if (!check(!rc && !strcmp(buf, good[i].formatted),
			   "spec: '%s' formats as '%s'", good[i].line,
			   good[i].formatted))
			diag("got '%s'", buf);
		/* and the formatted line parses back to the same */
		rc = aloop_parse_spec(buf, &s2, err, sizeof(err));
		check(rc == 1 && !memcmp(&s, &s2, sizeof(s)),
		      "spec: '%s' round trip", buf);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		rc = aloop_parse_spec(bad[i].line, &s, err, sizeof(err));
		if (!check(rc == -EINVAL && !strcmp(err, bad[i].err),
			   "spec: '%s' refused: %s", bad[i].line, bad[i].err))
			diag("rc %d, err '%s'", rc, err);
	}
}

/* aloop_spec_from_dev: what save writes for a device */
static void test_spec_from_dev(void)
{
	struct aloop_dev d;
	struct aloop_spec s;
	char buf[PATH_MAX * 2];

	memset(&d, 0, sizeof(d));
	d.bound = true;
	snprintf(d.backing_file, sizeof(d.backing_file), "/srv/my disk.img");
	d.offset = 512;
	d.sizelimit = 4096;
	d.ro = true;
	d.partscan = true;
	d.log_sec = 4096;
	d.dio = true;
	d.queues = 4;
	snprintf(d.owner, sizeof(d.owner), "ci");
	aloop_spec_from_dev(&d, &s);
	aloop_format_spec(&s, buf, sizeof(buf));
	if (!check(!strcmp(buf, "/srv/my\\040disk.img offset=512 sizelimit=4096 read-only partscan direct-io=on block-size=4096 owner=ci"),
		   "save: every setting of a device, no queue count"))
		diag("got '%s'", buf);

	memset(&d, 0, sizeof(d));
	snprintf(d.backing_file, sizeof(d.backing_file), "/a.img");
	d.log_sec = 512;
	snprintf(d.dio_reason, sizeof(d.dio_reason), "turned off by user");
	aloop_spec_from_dev(&d, &s);
	aloop_format_spec(&s, buf, sizeof(buf));
	if (!check(!strcmp(buf, "/a.img direct-io=off"),
		   "save: direct I/O turned off by the user stays off; 512 is the default"))
		diag("got '%s'", buf);

	snprintf(d.dio_reason, sizeof(d.dio_reason), "backing filesystem has no O_DIRECT");
	aloop_spec_from_dev(&d, &s);
	aloop_format_spec(&s, buf, sizeof(buf));
	if (!check(!strcmp(buf, "/a.img"),
		   "save: direct I/O impossible: left to the default"))
		diag("got '%s'", buf);
}

/* ------------------------------------------------------------------ */
/* attach's judgement of the backing file system                       */
/* ------------------------------------------------------------------ */

/*
 * fit(magic, type, nocow, ro, verdict, words...): the verdict and a
 * message that starts with the file and holds each of the words (NULL
 * ends them); "" for ALOOP_FIT_OK.
 */
static void fit(uint32_t magic, const char *type, bool nocow, bool ro,
		int want, const char *desc, ...)
{
	struct aloop_backing_fs fs = {
		.magic = magic, .type = type, .nocow = nocow, .ro = ro,
	};
	char msg[512];
	const char *w, *missing = NULL;
	va_list ap;
	int got;

	memset(msg, 'x', sizeof(msg));
	got = aloop_backing_fit("/img/a.img", &fs, msg, sizeof(msg));
	va_start(ap, desc);
	while ((w = va_arg(ap, const char *)))
		if (!missing && !strstr(msg, w))
			missing = w;
	va_end(ap);
	if (want == ALOOP_FIT_OK) {
		if (!check(got == want && !msg[0], "fit: %s: no warning", desc))
			diag("verdict %d, message '%.*s'", got, 200, msg);
		return;
	}
	if (!check(got == want && !missing && !strncmp(msg, "/img/a.img: on ", 15) &&
		   !strchr(msg, '\n'),
		   "fit: %s: verdict %d, one line naming the file", desc, want))
		diag("verdict %d, message '%s', missing '%s'", got, msg,
		     missing ? missing : "");
}

static void test_backing_fit(void)
{
	char small[8];
	struct aloop_backing_fs fs = { .magic = 0x01021994 };

	fit(0xef53, NULL, false, false, ALOOP_FIT_OK, "ext4", NULL);
	fit(0x58465342, NULL, false, false, ALOOP_FIT_OK, "xfs", NULL);
	fit(0x794c7630, "overlay", false, false, ALOOP_FIT_OK, "overlayfs", NULL);
	fit(0x9123683e, NULL, false, false, ALOOP_FIT_COW,
	    "btrfs, copy-on-write file", "btrfs", "nodatacow", "chattr +C", NULL);
	fit(0x9123683e, "btrfs", true, false, ALOOP_FIT_OK,
	    "btrfs, nodatacow file (FS_NOCOW_FL)", NULL);
	fit(0x9123683e, NULL, false, true, ALOOP_FIT_OK,
	    "btrfs, copy-on-write file attached read-only", NULL);
	fit(0x01021994, "tmpfs", false, false, ALOOP_FIT_MEMORY,
	    "tmpfs", "tmpfs", "O_DIRECT", "cached twice", NULL);
	fit(0x01021994, NULL, false, true, ALOOP_FIT_MEMORY,
	    "tmpfs, read-only", "tmpfs", NULL);
	fit(0x858458f6, NULL, false, false, ALOOP_FIT_MEMORY,
	    "ramfs", "ramfs", "no O_DIRECT", "cached twice", NULL);
	fit(0x6969, "nfs4", false, false, ALOOP_FIT_NETWORK,
	    "NFS named by mountinfo", "network file system (nfs4)", NULL);
	fit(0x6969, NULL, false, false, ALOOP_FIT_NETWORK,
	    "NFS, no mountinfo", "(nfs)", NULL);
	fit(0xff534d42, "cifs", false, false, ALOOP_FIT_NETWORK,
	    "CIFS", "(cifs)", NULL);
	fit(0xfe534d42, "", false, false, ALOOP_FIT_NETWORK,
	    "SMB2 magic, empty type", "(smb2)", NULL);
	fit(0x00c36400, NULL, false, false, ALOOP_FIT_NETWORK, "ceph", "(ceph)", NULL);
	fit(0x01021997, "9p", false, false, ALOOP_FIT_NETWORK, "9p", "(9p)", NULL);
	fit(0x6b414653, NULL, false, false, ALOOP_FIT_NETWORK, "kafs", "(afs)", NULL);
	fit(0x65735546, "fuse.sshfs", false, false, ALOOP_FIT_FUSE,
	    "FUSE named by mountinfo", "FUSE file system (fuse.sshfs)", "daemon", NULL);
	fit(0x65735546, NULL, false, false, ALOOP_FIT_FUSE,
	    "FUSE, no mountinfo", "(fuse)", NULL);
	fit(0x65735546, "virtiofs", false, false, ALOOP_FIT_FUSE,
	    "virtiofs", "(virtiofs)", NULL);

	check(aloop_fs_name(0x9123683e) && !strcmp(aloop_fs_name(0x9123683e), "btrfs") &&
	      !aloop_fs_name(0xef53), "fit: aloop_fs_name knows btrfs, not ext4");
	check(aloop_backing_fit("/a/very/long/name.img", &fs, small, sizeof(small)) ==
	      ALOOP_FIT_MEMORY && strlen(small) == sizeof(small) - 1,
	      "fit: a short buffer gets a truncated, terminated message");
}

static void mountinfo(const char *text, unsigned int ma, unsigned int mi,
		      int want_rc, const char *want, const char *desc)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	char buf[32] = "";
	int rc;

	if (!check(f, "mountinfo: %s: fmemopen", desc))
		return;
	rc = aloop_mountinfo_type(f, ma, mi, buf, sizeof(buf));
	fclose(f);
	if (!check(rc == want_rc && (rc || !strcmp(buf, want)),
		   "mountinfo: %s", desc))
		diag("rc %d, type '%s'", rc, buf);
}

static void test_mountinfo(void)
{
	const char *mi =
		"22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
		"36 22 0:52 / /mnt/ssh rw,nosuid,nodev,relatime shared:20 - fuse.sshfs me@host:/ rw,user_id=0\n"
		"37 22 0:53 /export /srv/nfs rw,relatime - nfs4 server:/export rw,vers=4.2\n"
		"38 22 0:54 / /odd rw master:3 propagation_from:2 - tmpfs none rw\n"
		"39 22 0:55 / /broken rw no-separator-here\n"
		"40 22 0:56 / /long rw - a-type-name-longer-than-the-buffer-of-32 x rw\n";

	mountinfo(mi, 254, 1, 0, "ext4", "ext4 root by 254:1");
	mountinfo(mi, 0, 52, 0, "fuse.sshfs", "FUSE subtype (fuse.sshfs)");
	mountinfo(mi, 0, 53, 0, "nfs4", "nfs4");
	mountinfo(mi, 0, 54, 0, "tmpfs", "several optional fields before ' - '");
	mountinfo(mi, 0, 55, -ENOENT, "", "a line without ' - ' is skipped");
	mountinfo(mi, 0, 56, -ENOENT, "", "a type longer than the buffer is refused");
	mountinfo(mi, 0, 99, -ENOENT, "", "unknown MAJOR:MINOR");
	mountinfo("", 0, 52, -ENOENT, "", "empty file");
}

static void test_json_str(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!check(f, "json string: open_memstream"))
		return;
	aloop_json_str(f, "a\"b\\c\nd\te\x01");
	fclose(f);
	if (!check(!strcmp(buf, "\"a\\\"b\\\\c\\nd\\te\\u0001\""),
		   "json string: quotes, backslash, newline, tab, control escaped"))
		diag("got %s", buf);
	free(buf);
}

/*
 * Every option of aloopctl's one table (aloop_opts[]) is in the man page
 * (as \-\-name) and in the bash completion (as --name).  Run from the top
 * of the tree (tests/unit/run.sh does).
 */
static void test_options_documented(void)
{
	char *man = slurp("man/aloopctl.8");
	char *comp = slurp("contrib/bash-completion/aloopctl");
	char want[64], missing_man[512] = "", missing_comp[512] = "";
	size_t i;

	if (!check(man && comp, "options: man page and completion readable"))
		goto out;
	for (i = 0; i < aloop_nopts; i++) {
		const char *n = aloop_opts[i].name;
		char *p;

		snprintf(want, sizeof(want), "\\-\\-%s", n);
		for (p = strchr(want + 4, '-'); p; p = strchr(p + 2, '-')) {
			/* groff: every '-' of the name is "\-" too */
			memmove(p + 1, p, strlen(p) + 1);
			*p = '\\';
		}
		if (!strstr(man, want))
			snprintf(missing_man + strlen(missing_man),
				 sizeof(missing_man) - strlen(missing_man),
				 " --%s", n);
		snprintf(want, sizeof(want), "--%s", n);
		if (aloop_opts[i].sections != ALOOP_OPT_GLOBAL &&
		    !strstr(comp, want))
			snprintf(missing_comp + strlen(missing_comp),
				 sizeof(missing_comp) - strlen(missing_comp),
				 " --%s", n);
	}
	if (!check(!*missing_man, "options: every option of the table is in the man page"))
		diag("missing from man/aloopctl.8:%s", missing_man);
	if (!check(!*missing_comp, "options: every option of the table is in the bash completion"))
		diag("missing from contrib/bash-completion/aloopctl:%s", missing_comp);
out:
	free(man);
	free(comp);
}

int main(void)
{
	test_sizes();
	test_onoff();
	test_devnames();
	test_columns();
	test_table();
	test_json();
	test_status();
	test_features();
	test_sysfs();
	test_specs();
	test_spec_from_dev();
	test_backing_fit();
	test_mountinfo();
	test_json_str();
	test_options_documented();
	return report();
}
