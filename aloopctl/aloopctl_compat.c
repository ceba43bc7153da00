// SPDX-License-Identifier: GPL-2.0
/*
 * aloopctl compat - drop-in mode: aloop in stock loop's place.
 *
 *   aloopctl compat enable    write /etc/modprobe.d/aloop-loop-compat.conf
 *   aloopctl compat disable   remove it
 *   aloopctl compat status    that file, aloop's mode, stock loop
 *
 * Nothing is loaded or unloaded here: the file acts at the next load of
 * loop (the next boot, or the first use of a loop device), and enable
 * and disable print the one command that switches now.  The file's text
 * is contrib/modprobe/aloop-loop-compat.conf, also installed as
 * /usr/share/aloop/modprobe-compat.conf; tests/unit/test_compat_mode.sh
 * checks that the two are the same.
 *
 * ALOOP_DOCTOR_ROOT (tests only, as for doctor): prefix of every path
 * read or written, /etc and /sys.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aloopctl.h"

static const char compat_conf_text[] =
	"# aloop drop-in mode: aloop serves loop's users in place of stock loop.\n"
	"# Written by \"aloopctl compat enable\" as\n"
	"# /etc/modprobe.d/aloop-loop-compat.conf, removed by \"aloopctl compat\n"
	"# disable\"; shipped disabled as /usr/share/aloop/modprobe-compat.conf.\n"
	"#\n"
	"# Every load of \"loop\" - modprobe loop, and the kernel's requests for\n"
	"# the aliases block-major-7-*, char-major-10-237 and devname:loop-control\n"
	"# that resolve to it - runs the install command instead: aloop with\n"
	"# loop_compat=1 (and loop's options, e.g. max_loop=), or stock loop when\n"
	"# aloop cannot be loaded (not built for this kernel) or is loaded in its\n"
	"# own mode.  No \"blacklist loop\": modprobe ignores a blacklisted module's\n"
	"# aliases, so the kernel's requests would load nothing.  \"modprobe -r\n"
	"# loop\" unloads whichever serves loop's users.  A kernel with loop built\n"
	"# in (CONFIG_BLK_DEV_LOOP=y) keeps stock loop.\n"
	"options aloop loop_compat=1\n"
	"install loop if grep -qs N /sys/module/aloop/parameters/loop_compat; then /sbin/modprobe --ignore-install loop $CMDLINE_OPTS; else /sbin/modprobe --ignore-install aloop loop_compat=1 $CMDLINE_OPTS || /sbin/modprobe --ignore-install loop $CMDLINE_OPTS; fi\n"
	"remove loop if grep -qs Y /sys/module/aloop/parameters/loop_compat; then /sbin/modprobe -r --ignore-remove aloop; else /sbin/modprobe -r --ignore-remove loop; fi\n";

/* ALOOP_DOCTOR_ROOT, without trailing slashes; "" for the machine's */
static void compat_root(char *buf, size_t len)
{
	const char *root = secure_getenv("ALOOP_DOCTOR_ROOT");
	size_t n;

	snprintf(buf, len, "%s", root && strcmp(root, "/") ? root : "");
	for (n = strlen(buf); n > 0 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
}

static bool read_word(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	buf[0] = '\0';
	if (!f)
		return false;
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	buf[strcspn(buf, " \t\n")] = '\0';
	return ok;
}

void aloop_compat_read(const char *root, struct aloop_compat_state *s)
{
	char p[PATH_MAX], w[32], *text;
	struct stat st;
	FILE *f;

	memset(s, 0, sizeof(*s));
	snprintf(p, sizeof(p), "%s" ALOOP_COMPAT_CONF, root);
	s->enabled = !stat(p, &st);
	/* as this aloopctl writes it, or changed by hand */
	f = s->enabled ? fopen(p, "re") : NULL;
	text = f ? calloc(1, sizeof(compat_conf_text) + 1) : NULL;
	if (text) {
		size_t n = fread(text, 1, sizeof(compat_conf_text), f);

		s->modified = n != sizeof(compat_conf_text) - 1 ||
			      memcmp(text, compat_conf_text, n);
	}
	free(text);
	if (f)
		fclose(f);

	snprintf(p, sizeof(p), "%s/sys/module/aloop", root);
	s->aloop_loaded = !stat(p, &st);
	snprintf(p, sizeof(p), "%s/sys/module/aloop/parameters/loop_compat",
		 root);
	s->loop_compat = read_word(p, w, sizeof(w)) && w[0] == 'Y';

	/* /sys/module/loop: with initstate a module, without it built in */
	snprintf(p, sizeof(p), "%s/sys/module/loop", root);
	if (!stat(p, &st)) {
		snprintf(p, sizeof(p), "%s/sys/module/loop/initstate", root);
		s->stock = stat(p, &st) ? ALOOP_STOCK_BUILTIN :
					  ALOOP_STOCK_LOADED;
	}
}

/* What serves loop's users (major 7, /dev/loop-control) right now. */
const char *aloop_compat_now(const struct aloop_compat_state *s)
{
	if (s->loop_compat)
		return "aloop serves loop's users (loaded with loop_compat=Y)";
	if (s->stock == ALOOP_STOCK_BUILTIN)
		return "stock loop, built into this kernel: drop-in mode cannot work with it";
	if (s->stock == ALOOP_STOCK_LOADED)
		return "stock loop serves loop's users";
	return "nothing: neither stock loop nor aloop in drop-in mode is loaded";
}

/*
 * The command that makes the file's choice effective now ("" when it
 * already is, or cannot be).  It unloads modules only: a bound or open
 * device keeps its module, so the command fails instead of taking a
 * device away.
 */
static void switch_cmd(const struct aloop_compat_state *s, bool on,
		       char *buf, size_t len)
{
	buf[0] = '\0';
	if (on && !s->loop_compat && s->stock != ALOOP_STOCK_BUILTIN)
		snprintf(buf, len, "%s%smodprobe loop",
			 s->aloop_loaded ? "modprobe -r aloop && " : "",
			 s->stock == ALOOP_STOCK_LOADED ? "modprobe -r loop && " : "");
	else if (!on && s->loop_compat)
		snprintf(buf, len, "modprobe -r aloop && modprobe loop");
}

static void print_state_json(FILE *out, const char *file,
			     const struct aloop_compat_state *s)
{
	static const char *const stock[] = { "absent", "loaded", "builtin" };

	fputs("{\n   \"file\": ", out);
	aloop_json_str(out, file);
	fprintf(out, ",\n   \"enabled\": %s,\n   \"modified\": %s,\n"
		"   \"aloop_loaded\": %s,\n   \"loop_compat\": %s,\n"
		"   \"stock_loop\": \"%s\",\n   \"now\": ",
		s->enabled ? "true" : "false", s->modified ? "true" : "false",
		s->aloop_loaded ? "true" : "false",
		s->loop_compat ? "true" : "false", stock[s->stock]);
	aloop_json_str(out, aloop_compat_now(s));
	fputs("\n}\n", out);
}

static void print_state(FILE *out, const struct aloop_compat_state *s)
{
	fprintf(out, "drop-in mode: %s\n", s->enabled ?
		(s->modified ? "enabled (" ALOOP_COMPAT_CONF ", changed by hand)" :
			       "enabled (" ALOOP_COMPAT_CONF ")") :
		"disabled (no " ALOOP_COMPAT_CONF ")");
	fprintf(out, "aloop: %s\n", !s->aloop_loaded ? "not loaded" :
		s->loop_compat ? "loaded, loop_compat=Y (drop-in mode)" :
				 "loaded, loop_compat=N (beside stock loop)");
	fprintf(out, "stock loop: %s\n", s->stock == ALOOP_STOCK_LOADED ?
		"loaded" : s->stock == ALOOP_STOCK_BUILTIN ?
		"built into the kernel" : "not loaded");
	fprintf(out, "now: %s\n", aloop_compat_now(s));
}

static int write_conf(const char *path)
{
	char tmp[PATH_MAX + 8];
	size_t n = sizeof(compat_conf_text) - 1;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, compat_conf_text, n) != (ssize_t)n)
		rc = errno ? -errno : -EIO;
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int aloop_compat(FILE *out, const char *action, bool json)
{
	char root[PATH_MAX], path[PATH_MAX], dir[PATH_MAX], cmd[256];
	struct aloop_compat_state s;
	int rc = 0;
	bool on;

	compat_root(root, sizeof(root));
	snprintf(path, sizeof(path), "%s" ALOOP_COMPAT_CONF, root);
	aloop_compat_read(root, &s);

	if (!strcmp(action, "status")) {
		if (json)
			print_state_json(out, ALOOP_COMPAT_CONF, &s);
		else
			print_state(out, &s);
		return 0;
	}
	if (strcmp(action, "enable") && strcmp(action, "disable")) {
		fprintf(stderr, "aloopctl: compat: '%s': enable, disable or status\n",
			action);
		return -EINVAL;
	}
	on = !strcmp(action, "enable");
	if (!root[0] && geteuid()) {
		fprintf(stderr, "aloopctl: compat %s: must be root\n", action);
		return -EPERM;
	}

	if (on) {
		/* /etc, then /etc/modprobe.d (a fixture root may lack both) */
		snprintf(dir, sizeof(dir), "%s/etc", root);
		if (mkdir(dir, 0755) && errno != EEXIST)
			rc = -errno;
		snprintf(dir, sizeof(dir), "%s/etc/modprobe.d", root);
		if (!rc && mkdir(dir, 0755) && errno != EEXIST)
			rc = -errno;
		if (rc) {
			fprintf(stderr, "aloopctl: %s: %s\n", dir, strerror(-rc));
			return rc;
		}
		rc = write_conf(path);
	} else {
		rc = unlink(path) && errno != ENOENT ? -errno : 0;
	}
	if (rc) {
		fprintf(stderr, "aloopctl: %s: %s\n", ALOOP_COMPAT_CONF,
			strerror(-rc));
		return rc;
	}
	if (json) {
		aloop_compat_read(root, &s);
		print_state_json(out, ALOOP_COMPAT_CONF, &s);
		return 0;
	}

	switch_cmd(&s, on, cmd, sizeof(cmd));
	if (on) {
		fprintf(out, "%s " ALOOP_COMPAT_CONF ": drop-in mode is enabled.\n",
			s.enabled ? "rewrote" : "wrote");
		fputs("At the next load of loop (the next boot, or the first use of a loop\n"
		      "device) aloop is loaded with loop_compat=1 and serves losetup, mount -o loop\n"
		      "and every other loop user as /dev/loop-control and /dev/loopN.\n", out);
		if (s.stock == ALOOP_STOCK_BUILTIN)
			fputs("This kernel has stock loop built in (CONFIG_BLK_DEV_LOOP=y): drop-in\n"
			      "mode cannot work with it; it can with a kernel that has loop as a module.\n",
			      out);
		else if (s.loop_compat)
			fputs("aloop already serves loop's users now.\n", out);
		else
			fprintf(out, "To switch now (no loop or aloop device may be in use):\n    %s\n",
				cmd);
	} else {
		fprintf(out, "%s " ALOOP_COMPAT_CONF ": drop-in mode is disabled.\n",
			s.enabled ? "removed" : "no");
		fputs("At the next load of loop (the next boot, or the first use of a loop\n"
		      "device) stock loop serves loop's users again; aloop loads beside it.\n", out);
		if (cmd[0])
			fprintf(out, "To switch now (no loop device may be in use):\n    %s\n",
				cmd);
	}
	return 0;
}
