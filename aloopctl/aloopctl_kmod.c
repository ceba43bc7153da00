// SPDX-License-Identifier: GPL-2.0
/*
 * aloopctl - load the aloop module through libkmod.
 *
 * loop gets loaded when /dev/loop-control is opened, through the
 * devname:loop-control module alias; aloop's misc minor and block major
 * are dynamic, so no alias can name them and aloopctl, run as root,
 * loads the module itself, as modprobe would (dependencies, options
 * from /etc/modprobe.d, install commands).  libkmod's own log lines are
 * kept quiet: the caller prints one line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include <libkmod.h>

#include "aloopctl.h"

static void quiet_log(void *data, int priority, const char *file, int line,
		      const char *fn, const char *format, va_list args)
{
}

int aloop_load_module(const char *name, char *msg, size_t len)
{
	struct kmod_list *list = NULL, *l;
	struct kmod_ctx *ctx;
	struct utsname u;
	const char *kver = "?";
	int ret, found = 0;

	if (!uname(&u))
		kver = u.release;
	ctx = kmod_new(NULL, NULL);
	if (!ctx) {
		snprintf(msg, len, "cannot load module %s: %s", name,
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	kmod_set_log_fn(ctx, quiet_log, NULL);

	ret = kmod_module_new_from_lookup(ctx, name, &list);
	if (ret < 0)
		list = NULL;
	kmod_list_foreach(l, list) {
		struct kmod_module *mod = kmod_module_get_module(l);

		/* a module of another name that has "aloop" as an alias */
		if (strcmp(kmod_module_get_name(mod), name)) {
			kmod_module_unref(mod);
			continue;
		}
		/* in modules.dep but no file: not installed either */
		if (kmod_module_get_initstate(mod) < 0 &&
		    !kmod_module_get_path(mod)) {
			kmod_module_unref(mod);
			continue;
		}
		found = 1;
		ret = kmod_module_probe_insert_module(mod, 0, NULL, NULL,
						      NULL, NULL);
		kmod_module_unref(mod);
		break;
	}
	kmod_module_unref_list(list);
	kmod_unref(ctx);

	if (!found) {
		snprintf(msg, len, "module %s is not installed for kernel %s "
			 "(install aloop-dkms, or run make install)", name, kver);
		return -ENOENT;
	}
	if (ret < 0) {
		snprintf(msg, len, "cannot load module %s for kernel %s: %s",
			 name, kver, strerror(-ret));
		return ret;
	}
	return 0;
}
