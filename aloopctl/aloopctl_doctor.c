// SPDX-License-Identifier: GPL-2.0
/*
 * aloopctl doctor - is aloop usable on this machine, and if not, why not.
 *
 * Each check is one line: a verdict (ok, warn, fail), what was found and,
 * when something is to be done, the exact command that fixes it.  The
 * checks, in order:
 *
 *   built        an aloop.ko for the running kernel under /lib/modules
 *                (updates/dkms first), and what `dkms status aloop` says
 *   loaded       /sys/module/aloop, or `modprobe -n -v aloop` would load it
 *                (and the file it names is there: a dry run does not look)
 *   blocklist    "blacklist aloop" / "install aloop ..." in modprobe.d,
 *                modprobe.blacklist= / module_blacklist= on the command line
 *   secure-boot  efivars' SecureBoot variable, or `mokutil --sb-state`
 *   signing-key  when signatures are enforced: the module's signer and
 *                sig_key (modinfo -F) against the kernel's keys
 *                (/proc/keys) and `mokutil --list-enrolled`; sig_key is
 *                the certificate's serial (sign-file without -k, as DKMS
 *                runs it), /proc/keys names a key by its subject key
 *                identifier: that of the certificate DKMS signs with
 *                (`openssl x509` on it) when its serial is sig_key
 *   lockdown     /sys/kernel/security/lockdown
 *   version      the installed module's version (modinfo -F version) and
 *                the loaded one's (/sys/module/aloop/version)
 *   control      /dev/aloop-control, a character device with the number
 *                in /sys/class/misc/aloop-control/dev
 *   udev-rule    60-aloop.rules in a udev rules directory
 *   major        aloop's block major in /proc/devices (dynamic)
 *   mode         drop-in mode: the file of "aloopctl compat enable"
 *                against the loaded module's loop_compat and stock loop
 * In drop-in mode (loop_compat=Y) control and major look for stock
 * loop's names: /dev/loop-control, "loop" in /proc/devices.
 *
 * Exit status 0 when aloop is usable: the module is loaded, or it can be
 * loaded (nothing blocks it, its signature will be accepted), and the
 * control device is there or will be after the load.
 *
 * Environment (for the tests, tests/unit/test_doctor.sh, which run it
 * against fixture trees; not meant for users):
 *   ALOOP_DOCTOR_ROOT  prefix for every file read: /sys, /proc, /dev,
 *                      /lib/modules, /etc, /run, /lib, /usr/lib,
 *                      /var/lib/dkms
 *   ALOOP_DOCTOR_KVER  the kernel release instead of uname -r
 * The commands (dkms, modinfo, modprobe, mokutil, openssl, dpkg-query)
 * are looked up in PATH.
 * Paths in messages and fixes are the machine's, without the prefix.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aloopctl.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define CMD_TIMEOUT_MS	10000	/* a command that hangs is killed */
#define CMD_MAX_OUT	(256 * 1024)
#define MSG_LEN		512
#define MAX_CHECKS	16

#define MOK_PUB		"/var/lib/dkms/mok.pub"
#define DKMS_CONF	"/etc/dkms/framework.conf"
#define EFI_SB_VAR	"/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
#define CMD_NOT_FOUND	(-1)
#define CMD_FAILED	(-2)

enum { DR_OK, DR_WARN, DR_FAIL };
static const char *const status_names[] = { "ok", "warn", "fail" };

struct check {
	const char	*name;
	int		status;
	char		msg[MSG_LEN];
	char		fix[MSG_LEN];
};

struct doctor {
	char		root[PATH_MAX];		/* "" or ALOOP_DOCTOR_ROOT */
	char		sysfs[PATH_MAX];
	char		kver[256];
	bool		kver_given;

	/* built */
	char		modfile[PATH_MAX];	/* as on the machine, no root */
	char		modfile_other[PATH_MAX];	/* a second one found */
	char		inst_version[64];
	char		inst_srcversion[64];
	char		signer[256];
	char		sig_key[256];
	bool		dkms_present;
	char		dkms_version[64];	/* aloop's version known to dkms */
	char		dkms_state[128];	/* its state for kver, "" none */
	bool		headers;

	/* loaded */
	bool		loaded;
	char		loaded_version[64];
	char		loaded_srcversion[64];
	int		loadable;		/* 1, 0, -1: modprobe missing */
	char		modprobe_msg[MSG_LEN];
	char		modprobe_path[PATH_MAX];

	/* drop-in mode: loaded with loop_compat=Y */
	bool		compat;

	/* blocklist */
	int		block_status;
	char		block_msg[MSG_LEN];
	char		block_fix[MSG_LEN];

	/* signatures */
	int		sb;			/* 1 on, 0 off, -1 unknown */
	bool		efi;
	char		lockdown[32];
	bool		sig_enforce;
	bool		sig_fail;

	struct check	checks[MAX_CHECKS];
	size_t		nchecks;
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */


static struct check *add_check(struct doctor *d, const char *name, int status)
{
	struct check *c = &d->checks[d->nchecks];

	if (d->nchecks < MAX_CHECKS - 1)
		d->nchecks++;
	c->name = name;
	c->status = status;
	c->msg[0] = '\0';
	c->fix[0] = '\0';
	return c;
}


/* @path (absolute, as on the machine) under the root prefix */
static const char *rpath(const struct doctor *d, char *buf, size_t len,
			 const char *path)
{
	aloop_sfmt(buf, len, "%s%s", d->root, path);
	return buf;
}

/* The first line of a file, trailing blanks cut; -errno. */
static int read_line(const char *path, char *buf, size_t len)
{
	ssize_t n = aloop_slurp(path, buf, len);
	char *nl;

	if (n < 0)
		return n;
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	for (n = strlen(buf); n > 0 && isspace((unsigned char)buf[n - 1]); n--)
		buf[n - 1] = '\0';
	return 0;
}

/* Cut trailing white space in place. */
static char *rstrip(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The first line of @s into @buf. */
static void first_line(const char *s, char *buf, size_t len)
{
	size_t n = strcspn(s, "\n");

	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	rstrip(buf);
}

static bool in_path(const char *cmd)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		path = "/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		aloop_sfmt(buf, sizeof(buf), "%.*s/%s", (int)n,
			   n ? path : ".", cmd);
		if (!access(buf, X_OK))
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* Append what @fd has to *@buf; false at EOF. */
static bool drain(int fd, char **buf, size_t *len)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	char *p;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (*len + n > CMD_MAX_OUT)
		return true;	/* enough: the rest is dropped */
	p = realloc(*buf, *len + n + 1);
	if (!p)
		return true;
	memcpy(p + *len, tmp, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
	return true;
}

/*
 * Run @argv (looked up in PATH) with stdin from /dev/null; its stdout and
 * stderr in *@out and *@err (malloc'ed, never NULL on return).  Returns
 * the exit status, CMD_NOT_FOUND when @argv[0] is not in PATH, or
 * CMD_FAILED (could not run, killed, timed out).
 */
static int run(char **out, char **err, char *const argv[])
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	size_t olen = 0, elen = 0;
	struct timespec t0, t;
	int status, ret = CMD_FAILED;
	bool oopen = true, eopen = true;
	pid_t pid;

	*out = calloc(1, 1);
	*err = calloc(1, 1);
	if (!*out || !*err)
		return CMD_FAILED;
	if (!in_path(argv[0]))
		return CMD_NOT_FOUND;
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC))
		goto out;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		goto out;
	if (!pid) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (oopen || eopen) {
		struct pollfd fds[2] = {
			{ .fd = oopen ? po[0] : -1, .events = POLLIN },
			{ .fd = eopen ? pe[0] : -1, .events = POLLIN },
		};
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= CMD_TIMEOUT_MS ||
		    poll(fds, 2, CMD_TIMEOUT_MS - ms) == 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (oopen && fds[0].revents)
			oopen = drain(po[0], out, &olen);
		if (eopen && fds[1].revents)
			eopen = drain(pe[0], err, &elen);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			goto out;
	if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
out:
	if (po[0] >= 0)
		close(po[0]);
	if (po[1] >= 0)
		close(po[1]);
	if (pe[0] >= 0)
		close(pe[0]);
	if (pe[1] >= 0)
		close(pe[1]);
	return ret;
}

/* run() with the arguments inline, NULL-terminated; output discarded. */
static int run_out(char *buf, size_t len, ...)
{
	char *argv[16], *out, *err;
	va_list ap;
	size_t n = 0;
	int rc;

	va_start(ap, len);
	while (n < ARRAY_SIZE(argv) - 1 && (argv[n] = va_arg(ap, char *)))
		n++;
	argv[n] = NULL;
	va_end(ap);
	rc = run(&out, &err, argv);
	if (buf)
		aloop_sfmt(buf, len, "%s", out);
	free(out);
	free(err);
	return rc;
}

/* Hex digits of @s, lowercased, into @buf (colons, blanks dropped). */
static void hex_only(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 1 < len; s++)
		if (isxdigit((unsigned char)*s))
			buf[n++] = tolower((unsigned char)*s);
	buf[n] = '\0';
}

/*
 * Does @text have a line that is only the key id @hex (hex digits with
 * colons and blanks, as openssl prints serial numbers and subject key
 * identifiers), or, with @anywhere, @hex as a word in any line (the
 * descriptions in /proc/keys: "CN: 0123abcd...")?
 */
static bool has_key_id(const char *text, const char *hex, bool anywhere)
{
	const char *l = text;

	if (!*hex)
		return false;
	while (*l) {
		size_t n = strcspn(l, "\n");
		char line[1024], h[512];

		aloop_sfmt(line, sizeof(line), "%.*s", (int)n, l);
		if (anywhere) {
			char *p = strcasestr(line, hex);
			size_t k = strlen(hex);

			if (p && (p == line || !isxdigit((unsigned char)p[-1])) &&
			    !isxdigit((unsigned char)p[k]))
				return true;
		} else if (strspn(line, "0123456789abcdefABCDEF: \t") == n) {
			hex_only(line, h, sizeof(h));
			if (!strcmp(h, hex))
				return true;
		}
		l += n;
		if (*l)
			l++;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Facts                                                               */
/* ------------------------------------------------------------------ */

static const char *const ko_names[] = {
	"aloop.ko", "aloop.ko.xz", "aloop.ko.gz", "aloop.ko.zst",
};

static bool is_ko_name(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ko_names); i++)
		if (!strcmp(name, ko_names[i]))
			return true;
	return false;
}

/* nftw has no user argument */
static char walk_found[2][PATH_MAX];

static int walk_fn(const char *path, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	const char *base = path + ftw->base;

	if (flag == FTW_D && ftw->level == 1 &&
	    (!strcmp(base, "build") || !strcmp(base, "source")))
		return FTW_SKIP_SUBTREE;
	if (flag != FTW_F || !is_ko_name(base))
		return FTW_CONTINUE;
	if (!walk_found[0][0])
		aloop_sfmt(walk_found[0], PATH_MAX, "%s", path);
	else if (!walk_found[1][0])
		aloop_sfmt(walk_found[1], PATH_MAX, "%s", path);
	return FTW_CONTINUE;
}

/* the module file: updates/dkms/ first, then anywhere for the kernel */
static void find_module(struct doctor *d)
{
	char dir[PATH_MAX], p[PATH_MAX];
	size_t rl = strlen(d->root), i;
	struct stat st;

	aloop_sfmt(dir, sizeof(dir), "%s/lib/modules/%s", d->root, d->kver);
	for (i = 0; i < ARRAY_SIZE(ko_names); i++) {
		aloop_sfmt(p, sizeof(p), "%s/updates/dkms/%s", dir, ko_names[i]);
		if (!stat(p, &st) && S_ISREG(st.st_mode)) {
			aloop_sfmt(d->modfile, sizeof(d->modfile), "%s", p + rl);
			break;
		}
	}
	memset(walk_found, 0, sizeof(walk_found));
	nftw(dir, walk_fn, 16, FTW_PHYS | FTW_ACTIONRETVAL);
	for (i = 0; i < 2; i++) {
		const char *f = walk_found[i];

		if (!*f || !strcmp(f + rl, d->modfile))
			continue;
		if (!d->modfile[0])
			aloop_sfmt(d->modfile, sizeof(d->modfile), "%s", f + rl);
		else if (!d->modfile_other[0])
			aloop_sfmt(d->modfile_other, sizeof(d->modfile_other),
				   "%s", f + rl);
	}
}

static void modinfo_field(struct doctor *d, const char *field, char *buf,
			  size_t len)
{
	char p[PATH_MAX], out[1024];

	buf[0] = '\0';
	rpath(d, p, sizeof(p), d->modfile);
	if (run_out(out, sizeof(out), "modinfo", "-F", field, p, NULL) == 0)
		first_line(out, buf, len);
}

/*
 * `dkms status aloop`: "aloop/0.1.0, 6.1.0-56-amd64, x86_64: installed"
 * (dkms 3), "aloop, 0.1.0, 6.1.0-56-amd64, x86_64: installed" (dkms 2),
 * "aloop/0.1.0: added".
 */
static void dkms_status(struct doctor *d)
{
	char *out, *err, *l;
	char *argv[] = { "dkms", "status", "aloop", NULL };
	int rc = run(&out, &err, argv);

	d->dkms_present = rc != CMD_NOT_FOUND;
	for (l = out; rc == 0 && *l; ) {
		size_t n = strcspn(l, "\n");
		char line[512], *state, *f[4] = { NULL }, *s, *save;
		int nf = 0;

		aloop_sfmt(line, sizeof(line), "%.*s", (int)n, l);
		l += n + !!l[n];
		state = strstr(line, ": ");
		if (!state)
			continue;
		*state = '\0';
		state += 2;
		for (s = strtok_r(line, ",", &save); s && nf < 4;
		     s = strtok_r(NULL, ",", &save)) {
			while (*s == ' ')
				s++;
			f[nf++] = s;
		}
		if (!nf)
			continue;
		if (!strncmp(f[0], "aloop/", 6)) {	/* dkms 3 */
			aloop_sfmt(d->dkms_version, sizeof(d->dkms_version),
				   "%s", f[0] + 6);
			memmove(&f[1], &f[0], sizeof(f) - sizeof(f[0]));
			nf++;
		} else if (!strcmp(f[0], "aloop") && nf > 1) {
			aloop_sfmt(d->dkms_version, sizeof(d->dkms_version),
				   "%s", f[1]);
		} else {
			continue;
		}
		if (nf > 2 && f[2] && !strcmp(f[2], d->kver))
			aloop_sfmt(d->dkms_state, sizeof(d->dkms_state), "%s",
				   rstrip(state));
	}
	free(out);
	free(err);
}

static void module_facts(struct doctor *d)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;

	find_module(d);
	if (d->modfile[0]) {
		modinfo_field(d, "version", d->inst_version,
			      sizeof(d->inst_version));
		modinfo_field(d, "srcversion", d->inst_srcversion,
			      sizeof(d->inst_srcversion));
		modinfo_field(d, "signer", d->signer, sizeof(d->signer));
		modinfo_field(d, "sig_key", d->sig_key, sizeof(d->sig_key));
	}
	dkms_status(d);
	aloop_sfmt(q, sizeof(q), "/lib/modules/%s/build/Makefile", d->kver);
	d->headers = !stat(rpath(d, p, sizeof(p), q), &st);

	d->loaded = aloop_module_loaded(d->sysfs);
	if (d->loaded) {
		aloop_read_module_version(d->sysfs, d->loaded_version,
					  sizeof(d->loaded_version));
		aloop_sfmt(p, sizeof(p), "%s/module/aloop/srcversion", d->sysfs);
		read_line(p, d->loaded_srcversion,
			  sizeof(d->loaded_srcversion));
	}
}

static bool blocking_cmd(const char *cmd);

/* "modprobe -n -v aloop": "insmod /lib/modules/.../aloop.ko" or not */
static void modprobe_dry_run(struct doctor *d)
{
	char *argv[8] = { "modprobe", "-n", "-v" }, *out, *err;
	int n = 3, rc;

	if (d->kver_given) {
		argv[n++] = "-S";
		argv[n++] = d->kver;
	}
	argv[n++] = "aloop";
	argv[n] = NULL;
	rc = run(&out, &err, argv);
	if (rc == CMD_NOT_FOUND) {
		d->loadable = -1;
		aloop_sfmt(d->modprobe_msg, sizeof(d->modprobe_msg),
			   "modprobe not found");
	} else if (rc != 0) {
		d->loadable = 0;
		first_line(*err ? err : out, d->modprobe_msg,
			   sizeof(d->modprobe_msg));
		if (!d->modprobe_msg[0])
			aloop_sfmt(d->modprobe_msg, sizeof(d->modprobe_msg),
				   "modprobe -n -v aloop failed (exit %d)", rc);
	} else {
		char *l = strstr(out, "insmod ");
		char *ins = strstr(out, "install ");

		if (l && (l == out || l[-1] == '\n')) {
			char p[PATH_MAX];
			struct stat st;

			d->loadable = 1;
			first_line(l + 7, d->modprobe_path,
				   sizeof(d->modprobe_path));
			d->modprobe_path[strcspn(d->modprobe_path, " ")] = '\0';
			/* a dry run does not open the file: a stale index */
			if (stat(rpath(d, p, sizeof(p), d->modprobe_path), &st)) {
				d->loadable = 0;
				aloop_sfmt(d->modprobe_msg, sizeof(d->modprobe_msg),
					   "modprobe's index (modules.dep) names %s, which is not there",
					   d->modprobe_path);
			}
		} else if (ins && (ins == out || ins[-1] == '\n')) {
			/* an install command of modprobe.d runs instead */
			d->loadable = !blocking_cmd(ins + 8);
			first_line(ins, d->modprobe_msg,
				   sizeof(d->modprobe_msg));
		} else {
			d->loadable = 1;	/* built in, or loaded meanwhile */
		}
	}
	free(out);
	free(err);
}

/* ------------------------------------------------------------------ */
/* blocklist                                                           */
/* ------------------------------------------------------------------ */

static const char *const modprobe_dirs[] = {
	"/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d",
	"/lib/modprobe.d", "/usr/lib/modprobe.d",
};

/* an install command that does not load: /bin/false, /bin/true, exit 1 */
static bool blocking_cmd(const char *cmd)
{
	static const char *const blockers[] = {
		"/bin/false", "/bin/true", "/usr/bin/false", "/usr/bin/true",
		"false", "true", "exit",
	};
	size_t i, n = strcspn(cmd, " \t\n;");

	for (i = 0; i < ARRAY_SIZE(blockers); i++)
		if (strlen(blockers[i]) == n && !strncmp(cmd, blockers[i], n))
			return true;
	return false;
}

/* A line of modprobe.d: blocks (fail), blacklists (warn) or nothing. */
static void blocklist_line(struct doctor *d, const char *file, int lineno,
			   char *line)
{
	char *save, *kw = strtok_r(line, " \t\n", &save);
	char *mod = kw ? strtok_r(NULL, " \t\n", &save) : NULL;
	char *rest = mod ? save : NULL;
	int status;

	if (!mod || strcmp(mod, "aloop"))
		return;
	if (!strcmp(kw, "blacklist")) {
		status = DR_WARN;
	} else if (!strcmp(kw, "install") && rest) {
		rest += strspn(rest, " \t");
		status = blocking_cmd(rest) ? DR_FAIL : DR_WARN;
	} else {
		return;
	}
	if (status <= d->block_status && d->block_msg[0])
		return;
	d->block_status = status;
	if (!strcmp(kw, "blacklist"))
		aloop_sfmt(d->block_msg, sizeof(d->block_msg),
			   "\"blacklist aloop\" in %s:%d (modprobe aloop and aloopctl still load it, "
			   "systemd-modules-load does not)", file, lineno);
	else if (status == DR_FAIL)
		aloop_sfmt(d->block_msg, sizeof(d->block_msg),
			   "\"install aloop %s\" in %s:%d: modprobe runs that instead of loading aloop",
			   rstrip(rest), file, lineno);
	else
		aloop_sfmt(d->block_msg, sizeof(d->block_msg),
			   "\"install aloop %s\" in %s:%d replaces modprobe's load of aloop",
			   rstrip(rest), file, lineno);
	aloop_sfmt(d->block_fix, sizeof(d->block_fix), "sed -i '%dd' %s", lineno,
		   file);
}

/* the modprobe.d files, a name in an earlier directory hiding later ones */
static void blocklist_files(struct doctor *d)
{
	char *seen[256];
	size_t nseen = 0, i, j;

	for (i = 0; i < ARRAY_SIZE(modprobe_dirs); i++) {
		char dir[PATH_MAX];
		struct dirent **ents;
		int n, k;

		rpath(d, dir, sizeof(dir), modprobe_dirs[i]);
		n = scandir(dir, &ents, NULL, alphasort);
		for (k = 0; k < n; k++) {
			const char *name = ents[k]->d_name;
			size_t len = strlen(name);
			bool dup = false;

			if (len < 6 || strcmp(name + len - 5, ".conf"))
				goto next;
			for (j = 0; j < nseen; j++)
				if (!strcmp(seen[j], name))
					dup = true;
			if (dup || nseen == ARRAY_SIZE(seen))
				goto next;
			seen[nseen++] = strdup(name);
			{
				char p[PATH_MAX], shown[PATH_MAX], line[1024];
				FILE *f;
				int lineno = 0;

				aloop_sfmt(p, sizeof(p), "%s/%s", dir, name);
				aloop_sfmt(shown, sizeof(shown), "%s/%s",
					   modprobe_dirs[i], name);
				f = fopen(p, "re");
				while (f && fgets(line, sizeof(line), f)) {
					lineno++;
					blocklist_line(d, shown, lineno, line);
				}
				if (f)
					fclose(f);
			}
next:
			free(ents[k]);
		}
		if (n >= 0)
			free(ents);
	}
	for (j = 0; j < nseen; j++)
		free(seen[j]);
}

/* modprobe.blacklist=a,aloop (as blacklist) or module_blacklist= (refused) */
static bool cmdline_has(const char *cmdline, const char *key)
{
	const char *p = cmdline;
	size_t kl = strlen(key);

	while ((p = strstr(p, key))) {
		const char *v = p + kl;

		if (p != cmdline && p[-1] != ' ') {
			p = v;
			continue;
		}
		while (*v && *v != ' ' && *v != '\n') {
			size_t n = strcspn(v, ", \n");

			if (n == 5 && !strncmp(v, "aloop", 5))
				return true;
			v += n;
			if (*v == ',')
				v++;
		}
		p = v;
	}
	return false;
}

static void blocklist_facts(struct doctor *d)
{
	char p[PATH_MAX], cmdline[4096];
	static const char grub_fix[] =
		"edit GRUB_CMDLINE_LINUX in /etc/default/grub to drop it, then update-grub && reboot";

	d->block_status = DR_OK;
	blocklist_files(d);
	if (aloop_slurp(rpath(d, p, sizeof(p), "/proc/cmdline"), cmdline,
		  sizeof(cmdline)) < 0)
		return;
	if (cmdline_has(cmdline, "module_blacklist=")) {
		d->block_status = DR_FAIL;
		aloop_sfmt(d->block_msg, sizeof(d->block_msg),
			   "module_blacklist=aloop on the kernel command line: the kernel refuses to load it");
		aloop_sfmt(d->block_fix, sizeof(d->block_fix), "%s", grub_fix);
	} else if (d->block_status == DR_OK &&
		   cmdline_has(cmdline, "modprobe.blacklist=")) {
		d->block_status = DR_WARN;
		aloop_sfmt(d->block_msg, sizeof(d->block_msg),
			   "modprobe.blacklist=aloop on the kernel command line (modprobe aloop still loads it)");
		aloop_sfmt(d->block_fix, sizeof(d->block_fix), "%s", grub_fix);
	}
}

/* ------------------------------------------------------------------ */
/* Secure Boot, lockdown, signatures                                   */
/* ------------------------------------------------------------------ */

static void sb_facts(struct doctor *d)
{
	char p[PATH_MAX], buf[64], out[512];
	struct stat st;
	ssize_t n;
	int rc;

	d->sb = -1;
	d->efi = !stat(rpath(d, p, sizeof(p), "/sys/firmware/efi"), &st);
	n = aloop_slurp(rpath(d, p, sizeof(p), EFI_SB_VAR), buf, sizeof(buf));
	if (n >= 5) {		/* 4 bytes of attributes, then the value */
		d->sb = buf[n - 1] == 1;
	} else {
		rc = run_out(out, sizeof(out), "mokutil", "--sb-state", NULL);
		if (strstr(out, "SecureBoot enabled"))
			d->sb = 1;
		else if (strstr(out, "SecureBoot disabled"))
			d->sb = 0;
		else if (!d->efi)
			d->sb = 0;	/* BIOS boot: no Secure Boot */
		(void)rc;
	}

	d->lockdown[0] = '\0';
	if (aloop_slurp(rpath(d, p, sizeof(p), "/sys/kernel/security/lockdown"),
		  out, sizeof(out)) > 0) {
		char *b = strchr(out, '['), *e = b ? strchr(b, ']') : NULL;

		if (b && e)
			aloop_sfmt(d->lockdown, sizeof(d->lockdown), "%.*s",
				   (int)(e - b - 1), b + 1);
	}
	aloop_sfmt(p, sizeof(p), "%s/module/module/parameters/sig_enforce",
		   d->sysfs);
	d->sig_enforce = !read_line(p, buf, sizeof(buf)) && buf[0] == 'Y';
}

static bool locked_down(const struct doctor *d)
{
	return d->lockdown[0] && strcmp(d->lockdown, "none");
}

/* Whoever enforces module signatures here, for messages; NULL: nobody. */
static const char *enforcer(const struct doctor *d)
{
	if (d->sb == 1)
		return "Secure Boot is on";
	if (locked_down(d))
		return "lockdown is on";
	if (d->sig_enforce)
		return "module.sig_enforce is on";
	return NULL;
}

static const char *fix_version(const struct doctor *d)
{
	if (d->dkms_version[0])
		return d->dkms_version;
	if (d->inst_version[0])
		return d->inst_version;
	return ALOOP_VERSION;
}

/* @hex (hex digits) without its leading zeros */
static const char *no_lead0(const char *hex)
{
	while (*hex == '0' && hex[1])
		hex++;
	return hex;
}

/*
 * "mok_certificate=PATH" (quotes allowed) of a dkms framework file into
 * @buf, the last one winning; untouched when the file has none.
 */
static void conf_mok_cert(const char *file, char *buf, size_t len)
{
	char line[PATH_MAX + 64];
	FILE *f = fopen(file, "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *v = line + strspn(line, " \t");
		size_t n;

		if (strncmp(v, "mok_certificate=", 16))
			continue;
		v += 16;
		rstrip(v);
		n = strlen(v);
		if (n >= 2 && (*v == '"' || *v == '\'') && v[n - 1] == *v) {
			v[n - 1] = '\0';
			v++;
		}
		if (*v == '/')
			aloop_sfmt(buf, len, "%s", v);
	}
	if (f)
		fclose(f);
}

/* scandir filter: the *.conf files */
static int conf_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return e->d_name[0] != '.' && n > 5 && !strcmp(e->d_name + n - 5, ".conf");
}

/*
 * The subject key identifier (hex digits) of the certificate DKMS signs
 * with - framework.conf's mok_certificate, else MOK_PUB - when its serial
 * is @serial (hex digits); "" when it is not, has none, or openssl cannot
 * read it.  The kernel's keyrings name a key by this identifier, while a
 * signature made by sign-file without -k names the serial.
 */
static void cert_skid(struct doctor *d, const char *serial, char *buf,
		      size_t len)
{
	static const char *const forms[] = { "DER", "PEM" };
	char cert[PATH_MAX] = MOK_PUB, p[PATH_MAX], dir[PATH_MAX];
	struct dirent **ents;
	size_t i;
	int n, k;

	buf[0] = '\0';
	conf_mok_cert(rpath(d, p, sizeof(p), DKMS_CONF), cert, sizeof(cert));
	n = scandir(rpath(d, dir, sizeof(dir), DKMS_CONF ".d"), &ents, conf_name,
		    alphasort);
	for (k = 0; k < n; k++) {
		aloop_sfmt(p, sizeof(p), "%s/%s", dir, ents[k]->d_name);
		conf_mok_cert(p, cert, sizeof(cert));
		free(ents[k]);
	}
	if (n >= 0)
		free(ents);
	rpath(d, p, sizeof(p), cert);
	for (i = 0; i < ARRAY_SIZE(forms); i++) {
		char *argv[] = { "openssl", "x509", "-inform", (char *)forms[i],
				 "-in", p, "-noout", "-serial", "-ext",
				 "subjectKeyIdentifier", NULL };
		char *out, *err, *l, *ski, hex[512];
		int rc = run(&out, &err, argv);

		l = rc == 0 ? strstr(out, "serial=") : NULL;
		ski = l ? strstr(out, "Subject Key Identifier") : NULL;
		if (l) {
			first_line(l + 7, hex, sizeof(hex));
			hex_only(hex, hex, sizeof(hex));
		}
		if (ski && !strcmp(no_lead0(hex), no_lead0(serial)) &&
		    (ski = strchr(ski, '\n'))) {
			first_line(ski + 1, hex, sizeof(hex));
			hex_only(hex, buf, len);
		}
		free(out);
		free(err);
		if (rc != 1)	/* 1: not in that form; else done */
			break;
	}
}

static void signing_verdict(struct doctor *d)
{
	const char *who = enforcer(d);
	char skid[256], cskid[256], p[PATH_MAX], keys[65536], mokpub[PATH_MAX];
	char *out, *err;
	char *list[] = { "mokutil", "--list-enrolled", NULL };
	char *listnew[] = { "mokutil", "--list-new", NULL };
	struct check *c;
	struct stat st;
	bool have_pub, mok_ok;
	int rc;

	if (!d->modfile[0]) {
		c = add_check(d, "signing-key", who ? DR_WARN : DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "no module file to check%s%s",
			   who ? "; " : "", who ? who : "");
		return;
	}
	if (!who) {
		c = add_check(d, "signing-key", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "signatures not enforced (no Secure Boot, no lockdown); module %s",
			   d->signer[0] ? "signed" : "unsigned");
		if (d->signer[0])
			aloop_sfmt(c->msg + strlen(c->msg),
				   sizeof(c->msg) - strlen(c->msg), " by \"%s\"",
				   d->signer);
		return;
	}
	have_pub = !stat(rpath(d, mokpub, sizeof(mokpub), MOK_PUB), &st);
	if (!d->signer[0] && !d->sig_key[0]) {
		d->sig_fail = true;
		c = add_check(d, "signing-key", DR_FAIL);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s and %s is unsigned: loading it fails with \"Key was rejected by service\"",
			   who, d->modfile);
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "dkms install --force aloop/%s -k %s && mokutil --import " MOK_PUB " && reboot",
			   fix_version(d), d->kver);
		return;
	}

	hex_only(d->sig_key, skid, sizeof(skid));
	cert_skid(d, skid, cskid, sizeof(cskid));
	if (aloop_slurp(rpath(d, p, sizeof(p), "/proc/keys"), keys,
		  sizeof(keys)) > 0 && (has_key_id(keys, skid, true) ||
		  has_key_id(keys, cskid, true))) {
		c = add_check(d, "signing-key", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s; the module's key %s (\"%s\") is trusted by the running kernel",
			   who, d->sig_key, d->signer);
		return;
	}
	rc = run(&out, &err, list);
	if (rc == CMD_NOT_FOUND) {
		free(out);
		free(err);
		c = add_check(d, "signing-key", DR_WARN);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s; cannot tell whether the module's key %s (\"%s\") is enrolled: no mokutil",
			   who, d->sig_key, d->signer);
		aloop_sfmt(c->fix, sizeof(c->fix), "apt-get install mokutil");
		return;
	}
	mok_ok = has_key_id(out, skid, false);
	free(out);
	free(err);
	if (mok_ok) {
		c = add_check(d, "signing-key", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s; the module's key %s (\"%s\") is enrolled (mokutil --list-enrolled)",
			   who, d->sig_key, d->signer);
		return;
	}
	run(&out, &err, listnew);
	mok_ok = has_key_id(out, skid, false);
	free(out);
	free(err);
	if (mok_ok) {
		c = add_check(d, "signing-key", DR_FAIL);
		d->sig_fail = true;
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s; the module's key %s (\"%s\") is queued for enrollment, not enrolled yet",
			   who, d->sig_key, d->signer);
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "reboot (and confirm the enrollment in MokManager with the password given to mokutil --import)");
		return;
	}
	d->sig_fail = true;
	c = add_check(d, "signing-key", DR_FAIL);
	aloop_sfmt(c->msg, sizeof(c->msg),
		   "%s and the module's key %s (\"%s\") is not enrolled: loading it fails with \"Key was rejected by service\"",
		   who, d->sig_key, d->signer);
	if (have_pub)
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "mokutil --import " MOK_PUB " && reboot");
	else
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "mokutil --import <the certificate of \"%s\", DER> && reboot",
			   d->signer);
}

/*
 * A module that is loaded was accepted (or is an older one): what the
 * signature check finds matters at the next load, a warning until then.
 */
static void check_signing(struct doctor *d)
{
	struct check *c;

	signing_verdict(d);
	c = &d->checks[d->nchecks - 1];
	if (!d->loaded || c->status != DR_FAIL)
		return;
	c->status = DR_WARN;
	aloop_sfmt(c->msg + strlen(c->msg), sizeof(c->msg) - strlen(c->msg),
		   " (at the next load; the loaded module is not affected)");
}

/* ------------------------------------------------------------------ */
/* The checks                                                          */
/* ------------------------------------------------------------------ */

static void check_built(struct doctor *d)
{
	char dk[256] = "";
	struct check *c;

	if (d->dkms_state[0])
		aloop_sfmt(dk, sizeof(dk), " (dkms: aloop/%s %s)", d->dkms_version,
			   d->dkms_state);
	else if (d->dkms_version[0])
		aloop_sfmt(dk, sizeof(dk), " (dkms: aloop/%s, not built for %s)",
			   d->dkms_version, d->kver);
	if (d->modfile[0]) {
		c = add_check(d, "built", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "aloop %s for %s: %s%s%s%s",
			   d->inst_version[0] ? d->inst_version : "(no version)",
			   d->kver, d->modfile, dk,
			   d->modfile_other[0] ? "; also " : "", d->modfile_other);
		return;
	}
	c = add_check(d, "built", d->loaded ? DR_WARN : DR_FAIL);
	aloop_sfmt(c->msg, sizeof(c->msg), "no aloop.ko for %s under /lib/modules/%s%s%s",
		   d->kver, d->kver, dk, d->loaded ? " (a module is loaded)" : "");
	if (d->dkms_version[0] && d->headers)
		aloop_sfmt(c->fix, sizeof(c->fix), "dkms install aloop/%s -k %s",
			   d->dkms_version, d->kver);
	else if (d->dkms_version[0])
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "apt-get install linux-headers-%s && dkms install aloop/%s -k %s",
			   d->kver, d->dkms_version, d->kver);
	else if (d->headers)
		aloop_sfmt(c->fix, sizeof(c->fix), "apt-get install aloop-dkms");
	else
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "apt-get install linux-headers-%s aloop-dkms", d->kver);
}

/* what check_built says to do ("" when nothing) */
static const char *install_fix(struct doctor *d)
{
	size_t i;

	for (i = 0; i < d->nchecks; i++)
		if (!strcmp(d->checks[i].name, "built"))
			return d->checks[i].fix;
	return "";
}

static void check_loaded(struct doctor *d)
{
	struct check *c;

	if (d->loaded) {
		c = add_check(d, "loaded", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "aloop %s is loaded",
			   d->loaded_version[0] ? d->loaded_version : "(no version)");
		return;
	}
	modprobe_dry_run(d);
	if (d->loadable == 1) {
		c = add_check(d, "loaded", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "not loaded; loadable: modprobe -n -v aloop would load %s (aloopctl attach loads it as root)",
			   d->modprobe_path[0] ? d->modprobe_path : "it");
		return;
	}
	if (d->loadable < 0) {
		c = add_check(d, "loaded", d->modfile[0] ? DR_WARN : DR_FAIL);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "not loaded; cannot ask modprobe (not in PATH)%s",
			   d->modfile[0] ? "" : " and no module file");
		if (d->modfile[0])
			aloop_sfmt(c->fix, sizeof(c->fix), "apt-get install kmod");
		else
			aloop_sfmt(c->fix, sizeof(c->fix), "%s", install_fix(d));
		return;
	}
	c = add_check(d, "loaded", DR_FAIL);
	aloop_sfmt(c->msg, sizeof(c->msg), "not loaded and not loadable: %s",
		   d->modprobe_msg);
	if (d->block_status == DR_FAIL)
		aloop_sfmt(c->fix, sizeof(c->fix), "%s", d->block_fix);
	else if (d->modfile[0])		/* there, but not in modules.dep */
		aloop_sfmt(c->fix, sizeof(c->fix), "depmod -a %s", d->kver);
	else
		aloop_sfmt(c->fix, sizeof(c->fix), "%s", install_fix(d));
}

static void check_blocklist(struct doctor *d)
{
	struct check *c = add_check(d, "blocklist", d->block_status);

	if (d->block_status == DR_OK) {
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "not blocklisted (modprobe.d, kernel command line)");
		return;
	}
	aloop_sfmt(c->msg, sizeof(c->msg), "%s", d->block_msg);
	aloop_sfmt(c->fix, sizeof(c->fix), "%s", d->block_fix);
}

static void check_secure_boot(struct doctor *d)
{
	struct check *c;

	if (d->sb == 1) {
		c = add_check(d, "secure-boot", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "Secure Boot is enabled: the module must be signed by an enrolled key (see signing-key)");
	} else if (d->sb == 0) {
		c = add_check(d, "secure-boot", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "%s", d->efi ?
			   "Secure Boot is disabled" :
			   "not booted with EFI: no Secure Boot");
	} else {
		c = add_check(d, "secure-boot", DR_WARN);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "Secure Boot state unknown (no SecureBoot EFI variable, no mokutil)");
		aloop_sfmt(c->fix, sizeof(c->fix), "apt-get install mokutil");
	}
}

static void check_lockdown(struct doctor *d)
{
	struct check *c;

	if (!locked_down(d)) {
		c = add_check(d, "lockdown", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "%s", d->lockdown[0] ?
			   "kernel lockdown: none" :
			   "no kernel lockdown (no /sys/kernel/security/lockdown)");
		return;
	}
	c = add_check(d, "lockdown", d->sig_fail ? DR_WARN : DR_OK);
	aloop_sfmt(c->msg, sizeof(c->msg),
		   "kernel lockdown: %s: only modules signed by a trusted key load%s",
		   d->lockdown, d->sig_fail ? ", and aloop's key is not trusted" :
		   (d->modfile[0] ? "; aloop's signature is" : ""));
	if (d->sig_fail)
		aloop_sfmt(c->fix, sizeof(c->fix), "mokutil --import " MOK_PUB " && reboot");
	else if (!strcmp(d->lockdown, "confidentiality"))
		aloop_sfmt(c->msg + strlen(c->msg), sizeof(c->msg) - strlen(c->msg),
			   " (confidentiality also closes kprobes, /dev/mem, debugfs)");
}

static void check_version(struct doctor *d)
{
	struct check *c;
	const char *inst = d->inst_version[0] ? d->inst_version : "none";
	const char *ld = d->loaded_version[0] ? d->loaded_version : "?";

	if (!d->loaded) {
		c = add_check(d, "version", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "installed %s, not loaded; aloopctl %s",
			   inst, ALOOP_VERSION);
		return;
	}
	if (!d->modfile[0] || !strcmp(ld, inst)) {
		bool rebuilt = d->modfile[0] && d->inst_srcversion[0] &&
			d->loaded_srcversion[0] &&
			strcmp(d->inst_srcversion, d->loaded_srcversion);

		c = add_check(d, "version", rebuilt ? DR_WARN : DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "loaded %s, installed %s%s; aloopctl %s",
			   ld, inst, rebuilt ? " (rebuilt since it was loaded: srcversion differs)" : "",
			   ALOOP_VERSION);
		if (!rebuilt)
			return;
	} else {
		c = add_check(d, "version", DR_WARN);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "loaded %s, installed %s: the new module is used after a reload or reboot",
			   ld, inst);
	}
	aloop_sfmt(c->fix, sizeof(c->fix),
		   "aloopctl detach-all && modprobe -r aloop && modprobe aloop (or reboot)");
}

static void check_control(struct doctor *d, bool *ok)
{
	/* drop-in mode (loop_compat=Y): stock loop's names */
	const char *ctl = d->compat ? ALOOP_COMPAT_CONTROL : ALOOP_CONTROL;
	char p[PATH_MAX], num[32] = "";
	unsigned int maj = 0, min = 0;
	bool have_num;
	struct check *c;
	struct stat st;

	aloop_sfmt(p, sizeof(p), "%s/class/misc/%s/dev", d->sysfs,
		   ctl + strlen(ALOOP_DEV_PREFIX));
	have_num = !read_line(p, num, sizeof(num)) &&
		sscanf(num, "%u:%u", &maj, &min) == 2;
	*ok = false;
	if (stat(rpath(d, p, sizeof(p), ctl), &st)) {
		if (!d->loaded) {
			*ok = true;
			c = add_check(d, "control", DR_OK);
			aloop_sfmt(c->msg, sizeof(c->msg),
				   "%s absent until the module is loaded", ctl);
			return;
		}
		c = add_check(d, "control", DR_FAIL);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s is missing though the module is loaded", ctl);
		if (have_num)
			aloop_sfmt(c->fix, sizeof(c->fix),
				   "mknod -m 0660 %s c %u %u && chgrp disk %s",
				   ctl, maj, min, ctl);
		else
			aloop_sfmt(c->fix, sizeof(c->fix),
				   "aloopctl detach-all && modprobe -r aloop && modprobe aloop");
		return;
	}
	if (!S_ISCHR(st.st_mode)) {
		c = add_check(d, "control", DR_FAIL);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s is not a character device", ctl);
		if (have_num)
			aloop_sfmt(c->fix, sizeof(c->fix),
				   "rm %s && mknod -m 0660 %s c %u %u && chgrp disk %s",
				   ctl, ctl, maj, min, ctl);
		else
			aloop_sfmt(c->fix, sizeof(c->fix), "rm %s && modprobe aloop",
				   ctl);
		return;
	}
	if (have_num && (major(st.st_rdev) != maj || minor(st.st_rdev) != min)) {
		c = add_check(d, "control", DR_FAIL);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "%s is char %u:%u, the module's is %u:%u (a stale node)",
			   ctl, major(st.st_rdev), minor(st.st_rdev), maj, min);
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "rm %s && mknod -m 0660 %s c %u %u && chgrp disk %s",
			   ctl, ctl, maj, min, ctl);
		return;
	}
	*ok = true;
	c = add_check(d, "control", DR_OK);
	aloop_sfmt(c->msg, sizeof(c->msg), "%s: character device %u:%u", ctl,
		   major(st.st_rdev), minor(st.st_rdev));
	if (!d->loaded)
		aloop_sfmt(c->msg + strlen(c->msg), sizeof(c->msg) - strlen(c->msg),
			   " (module not loaded: the node is left over)");
}

static const char *const udev_dirs[] = {
	"/etc/udev/rules.d", "/run/udev/rules.d", "/usr/local/lib/udev/rules.d",
	"/lib/udev/rules.d", "/usr/lib/udev/rules.d",
};

static void check_udev(struct doctor *d)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct check *c;
	struct stat st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(udev_dirs); i++) {
		aloop_sfmt(q, sizeof(q), "%s/60-aloop.rules", udev_dirs[i]);
		if (stat(rpath(d, p, sizeof(p), q), &st))
			continue;
		if (!S_ISREG(st.st_mode) || !st.st_size) {
			/* /dev/null or empty in /etc: masked */
			c = add_check(d, "udev-rule", DR_WARN);
			aloop_sfmt(c->msg, sizeof(c->msg),
				   "%s masks the udev rule: no group disk, no /dev/disk/by-uuid links for aloop devices",
				   q);
			aloop_sfmt(c->fix, sizeof(c->fix),
				   "rm %s && udevadm control --reload", q);
			return;
		}
		c = add_check(d, "udev-rule", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg), "udev rule %s", q);
		return;
	}
	c = add_check(d, "udev-rule", DR_WARN);
	aloop_sfmt(c->msg, sizeof(c->msg),
		   "no 60-aloop.rules in any udev rules directory: no group disk, no /dev/disk/by-uuid links for aloop devices");
	if (run_out(p, sizeof(p), "dpkg-query", "-W", "-f=${Status}",
		    "aloop-utils", NULL) == 0 && strstr(p, " installed"))
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "apt-get install --reinstall aloop-utils && udevadm control --reload");
	else
		aloop_sfmt(c->fix, sizeof(c->fix),
			   "make install-user (in the aloop source tree) && udevadm control --reload");
}

/* "Block devices:" then "259 aloop" */
static void check_major(struct doctor *d)
{
	char p[PATH_MAX], buf[16384], *l;
	bool block = false;
	int maj = -1;
	struct check *c;

	if (aloop_slurp(rpath(d, p, sizeof(p), "/proc/devices"), buf,
		  sizeof(buf)) < 0)
		buf[0] = '\0';
	for (l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		int n;
		char name[64];

		if (!strncmp(l, "Block devices:", 14))
			block = true;
		else if (!strncmp(l, "Character devices:", 18))
			block = false;
		else if (block && sscanf(l, "%d %63s", &n, name) == 2 &&
			 !strcmp(name, d->compat ? "loop" : "aloop"))
			maj = n;
	}
	if (maj >= 0 && d->compat) {
		c = add_check(d, "major", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "block major %d, loop's (drop-in mode: allowlist block-loop, as for stock loop)",
			   maj);
	} else if (maj >= 0) {
		c = add_check(d, "major", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "block major %d (dynamic: it may change at the next load; allowlist block-aloop, e.g. DeviceAllow=block-aloop)",
			   maj);
	} else if (!d->loaded) {
		c = add_check(d, "major", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "no block major until the module is loaded (dynamic)");
	} else {
		c = add_check(d, "major", DR_WARN);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "the module is loaded but /proc/devices has no aloop block major");
	}
}

/* drop-in mode: the modprobe.d file against what is loaded */
static void check_mode(struct doctor *d)
{
	struct aloop_compat_state s;
	struct check *c;

	aloop_compat_read(d->root, &s);
	if (s.loop_compat) {
		c = add_check(d, "mode", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "drop-in mode: aloop serves loop's users (major 7, /dev/loop-control, loopN)%s",
			   s.enabled ? "" : "; without " ALOOP_COMPAT_CONF
			   " the next load of loop gives stock loop (aloopctl compat enable keeps it)");
	} else if (!s.enabled) {
		c = add_check(d, "mode", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "beside stock loop (drop-in mode off: aloopctl compat enable)");
	} else if (s.stock == ALOOP_STOCK_BUILTIN) {
		c = add_check(d, "mode", DR_WARN);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "drop-in mode enabled (" ALOOP_COMPAT_CONF
			   "), but this kernel has loop built in: it keeps stock loop");
		aloop_sfmt(c->fix, sizeof(c->fix), "aloopctl compat disable");
	} else if (s.aloop_loaded || s.stock == ALOOP_STOCK_LOADED) {
		c = add_check(d, "mode", DR_WARN);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "drop-in mode enabled (" ALOOP_COMPAT_CONF
			   "), but %s is loaded: it takes effect at the next load of loop",
			   s.aloop_loaded ? "aloop beside stock loop" : "stock loop");
		aloop_sfmt(c->fix, sizeof(c->fix), "%s%smodprobe loop (or reboot)",
			   s.aloop_loaded ? "modprobe -r aloop && " : "",
			   s.stock == ALOOP_STOCK_LOADED ? "modprobe -r loop && " : "");
	} else {
		c = add_check(d, "mode", DR_OK);
		aloop_sfmt(c->msg, sizeof(c->msg),
			   "drop-in mode enabled (" ALOOP_COMPAT_CONF
			   "): the next load of loop loads aloop with loop_compat=1");
	}
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static void print_json(FILE *out, const struct doctor *d, bool usable)
{
	size_t i;

	fputs("{\n   \"kernel\": ", out);
	aloop_json_str(out, d->kver);
	fprintf(out, ",\n   \"usable\": %s,\n   \"checks\": [", usable ? "true" : "false");
	for (i = 0; i < d->nchecks; i++) {
		const struct check *c = &d->checks[i];

		fprintf(out, "%s\n      {\n         \"name\": ", i ? "," : "");
		aloop_json_str(out, c->name);
		fputs(",\n         \"status\": ", out);
		aloop_json_str(out, status_names[c->status]);
		fputs(",\n         \"message\": ", out);
		aloop_json_str(out, c->msg);
		fputs(",\n         \"fix\": ", out);
		if (c->fix[0])
			aloop_json_str(out, c->fix);
		else
			fputs("null", out);
		fputs("\n      }", out);
	}
	fputs("\n   ]\n}\n", out);
}

static void print_text(FILE *out, const struct doctor *d, bool usable)
{
	size_t i, nfail = 0, nwarn = 0;

	for (i = 0; i < d->nchecks; i++) {
		const struct check *c = &d->checks[i];

		fprintf(out, "%-4s  %-11s  %s", status_names[c->status],
			c->name, c->msg);
		if (c->fix[0])
			fprintf(out, "; fix: %s", c->fix);
		fputc('\n', out);
		nfail += c->status == DR_FAIL;
		nwarn += c->status == DR_WARN;
	}
	fprintf(out, "aloop is %susable on %s (%zu failed, %zu warnings)\n",
		usable ? "" : "not ", d->kver, nfail, nwarn);
}

/* ------------------------------------------------------------------ */

static void init(struct doctor *d)
{
	const char *root = secure_getenv("ALOOP_DOCTOR_ROOT");
	const char *kver = secure_getenv("ALOOP_DOCTOR_KVER");
	struct utsname u;

	memset(d, 0, sizeof(*d));
	if (root && *root && strcmp(root, "/")) {
		aloop_sfmt(d->root, sizeof(d->root), "%s", root);
		rstrip(d->root);
		while (d->root[0] && d->root[strlen(d->root) - 1] == '/')
			d->root[strlen(d->root) - 1] = '\0';
	}
	aloop_sfmt(d->sysfs, sizeof(d->sysfs), "%s" ALOOP_SYSFS, d->root);
	d->compat = aloop_compat_loaded(d->sysfs);
	if (kver && *kver) {
		aloop_sfmt(d->kver, sizeof(d->kver), "%s", kver);
		d->kver_given = true;
	} else if (!uname(&u)) {
		aloop_sfmt(d->kver, sizeof(d->kver), "%s", u.release);
	}
}

int aloop_doctor(FILE *out, bool json)
{
	struct doctor *d = malloc(sizeof(*d));
	bool ctl_ok, usable;
	bool module_ok;

	if (!d)
		return -ENOMEM;
	init(d);
	module_facts(d);
	blocklist_facts(d);
	sb_facts(d);

	check_built(d);
	check_loaded(d);
	check_blocklist(d);
	check_secure_boot(d);
	check_signing(d);
	check_lockdown(d);
	check_version(d);
	check_control(d, &ctl_ok);
	check_udev(d);
	check_major(d);
	check_mode(d);

	if (d->loaded)
		module_ok = true;
	else if (d->loadable == 1)
		module_ok = d->block_status != DR_FAIL && !d->sig_fail;
	else if (d->loadable < 0)
		module_ok = d->modfile[0] && d->block_status != DR_FAIL &&
			!d->sig_fail;
	else
		module_ok = false;
	usable = module_ok && ctl_ok;

	if (json)
		print_json(out, d, usable);
	else
		print_text(out, d, usable);
	free(d);
	return usable ? 0 : 1;
}
