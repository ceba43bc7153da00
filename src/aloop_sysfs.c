// SPDX-License-Identifier: GPL-2.0
/*
 * aloop - sysfs: /sys/block/aloopN/aloop/.  Present for the device's whole
 * life; an unbound device shows an empty backing_file and zeros.
 */
#include <linux/blkdev.h>
#include <linux/sysfs.h>
#include "aloop.h"

static struct aloop_device *dev_to_aloop(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

/* Format one value under lo->lock, so the backing file cannot go away. */
#define ALOOP_ATTR_RO(_name, _fmt, _val)				\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct aloop_device *lo = dev_to_aloop(dev);			\
	ssize_t ret;							\
									\
	ret = mutex_lock_killable(&lo->lock);				\
	if (ret)							\
		return ret;						\
	ret = sysfs_emit(buf, _fmt "\n", _val);				\
	mutex_unlock(&lo->lock);					\
	return ret;							\
}									\
static DEVICE_ATTR_RO(_name)

ALOOP_ATTR_RO(offset, "%llu", (unsigned long long)lo->offset);
ALOOP_ATTR_RO(sizelimit, "%llu", (unsigned long long)lo->sizelimit);
ALOOP_ATTR_RO(autoclear, "%d", !!(lo->flags & LO_FLAGS_AUTOCLEAR));
ALOOP_ATTR_RO(partscan, "%d", !!(lo->flags & LO_FLAGS_PARTSCAN));
ALOOP_ATTR_RO(dio, "%d", lo->use_dio);
ALOOP_ATTR_RO(dio_reason, "%s", lo->dio_reason);
ALOOP_ATTR_RO(queues, "%u", lo->queues ? lo->nr_queues : 0);
ALOOP_ATTR_RO(reqs_dio, "%lld", atomic64_read(&lo->reqs_dio));
ALOOP_ATTR_RO(reqs_buffered, "%lld", atomic64_read(&lo->reqs_buffered));
ALOOP_ATTR_RO(reqs_fallback, "%lld", atomic64_read(&lo->reqs_fallback));
ALOOP_ATTR_RO(reqs_cgroup, "%lld", atomic64_read(&lo->reqs_cgroup));
ALOOP_ATTR_RO(wakeups, "%lld", atomic64_read(&lo->wakeups));
ALOOP_ATTR_RO(reqs_inline, "%lld", atomic64_read(&lo->reqs_inline));
ALOOP_ATTR_RO(reqs_worker, "%lld", atomic64_read(&lo->reqs_worker));
ALOOP_ATTR_RO(nowait_again, "%lld", atomic64_read(&lo->nowait_again));
ALOOP_ATTR_RO(errors, "%lld", atomic64_read(&lo->errors));

static ssize_t backing_file_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct aloop_device *lo = dev_to_aloop(dev);
	char *p = NULL;
	ssize_t ret;

	ret = mutex_lock_killable(&lo->lock);
	if (ret)
		return ret;
	if (lo->backing)
		p = file_path(lo->backing, buf, PAGE_SIZE - 1);
	if (IS_ERR_OR_NULL(p)) {
		ret = p ? PTR_ERR(p) : sysfs_emit(buf, "\n");
	} else {
		ret = strlen(p);
		memmove(buf, p, ret);
		buf[ret++] = '\n';
		buf[ret] = '\0';
	}
	mutex_unlock(&lo->lock);
	return ret;
}
static DEVICE_ATTR_RO(backing_file);

static struct attribute *aloop_attrs[] = {
	&dev_attr_backing_file.attr,
	&dev_attr_offset.attr,
	&dev_attr_sizelimit.attr,
	&dev_attr_autoclear.attr,
	&dev_attr_partscan.attr,
	&dev_attr_dio.attr,
	&dev_attr_dio_reason.attr,
	&dev_attr_queues.attr,
	&dev_attr_reqs_dio.attr,
	&dev_attr_reqs_buffered.attr,
	&dev_attr_reqs_fallback.attr,
	&dev_attr_reqs_cgroup.attr,
	&dev_attr_wakeups.attr,
	&dev_attr_reqs_inline.attr,
	&dev_attr_reqs_worker.attr,
	&dev_attr_nowait_again.attr,
	&dev_attr_errors.attr,
	NULL,
};

static const struct attribute_group aloop_attr_group = {
	.name	= "aloop",
	.attrs	= aloop_attrs,
};

const struct attribute_group *aloop_disk_groups[] = {
	&aloop_attr_group,
	NULL,
};
