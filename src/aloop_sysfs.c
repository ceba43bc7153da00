// SPDX-License-Identifier: GPL-2.0
/*
 * aloop - sysfs: /sys/block/aloopN/aloop/.  Present for the device's whole
 * life; an unbound device shows an empty backing_file and zeros.
 *
 * In drop-in mode (loop_compat) also stock loop's /sys/block/loopN/loop/:
 * the same six attributes in the same formats, present only while the
 * device is bound, as loop's (util-linux takes a device whose
 * loop/backing_file exists for a used one).
 */
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/sysfs.h>
#include "aloop.h"

static struct aloop_device *dev_to_aloop(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

/*
 * Lock-free, as loop's attributes: a monitoring tool must not wait behind
 * a queue freeze or a backing fsync that holds lo->lock.  Every value is
 * one word read once; a reader racing with a reconfiguration sees the old
 * or the new value.
 */
#define ALOOP_ATTR_RO(_name, _fmt, _val...)				\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct aloop_device *lo = dev_to_aloop(dev);			\
									\
	return sysfs_emit(buf, _fmt "\n", ##_val);			\
}									\
static DEVICE_ATTR_RO(_name)

#define ALOOP_COUNTER_RO(_name) \
	ALOOP_ATTR_RO(_name, "%lld", atomic64_read(&lo->_name))

ALOOP_ATTR_RO(offset, "%llu", (unsigned long long)READ_ONCE(lo->offset));
ALOOP_ATTR_RO(sizelimit, "%llu",
	      (unsigned long long)READ_ONCE(lo->sizelimit));
ALOOP_ATTR_RO(autoclear, "%d", !!(READ_ONCE(lo->flags) & LO_FLAGS_AUTOCLEAR));
ALOOP_ATTR_RO(partscan, "%d", !!(READ_ONCE(lo->flags) & LO_FLAGS_PARTSCAN));
ALOOP_ATTR_RO(dio, "%d", READ_ONCE(lo->use_dio));
/* Rewritten only whole, NUL-terminated within its size. */
ALOOP_ATTR_RO(dio_reason, "%.*s", (int)sizeof(lo->dio_reason),
	      lo->dio_reason);
ALOOP_ATTR_RO(queues, "%u", READ_ONCE(lo->queues) ?
	      READ_ONCE(lo->nr_queues) : 0);
ALOOP_COUNTER_RO(reqs_dio);
ALOOP_COUNTER_RO(reqs_buffered);
ALOOP_COUNTER_RO(reqs_fallback);
ALOOP_COUNTER_RO(reqs_cgroup);
ALOOP_COUNTER_RO(wakeups);
ALOOP_COUNTER_RO(batches);
ALOOP_COUNTER_RO(reqs_worker);
ALOOP_COUNTER_RO(reqs_nowait);
ALOOP_COUNTER_RO(nowait_again);
ALOOP_COUNTER_RO(reqs_helper);
ALOOP_COUNTER_RO(worker_starts);
ALOOP_COUNTER_RO(errors);
/*
 * Who attached it: ALOOP_CTL_ATTACH's label, and for every configure the
 * pid, cgroup id and time; orphan: that cgroup was removed.
 */
ALOOP_ATTR_RO(owner, "%.*s", (int)sizeof(lo->owner), lo->owner);
ALOOP_ATTR_RO(owner_pid, "%d", READ_ONCE(lo->owner_pid));
ALOOP_ATTR_RO(owner_cgroup, "%llu",
	      (unsigned long long)aloop_owner_cgroup_id(lo));
ALOOP_ATTR_RO(attach_time, "%lld", (long long)READ_ONCE(lo->attach_time));
ALOOP_ATTR_RO(orphan, "%d", aloop_orphan(lo));

/* The backing file, pinned under backing_lock: no lo->lock either. */
static ssize_t backing_file_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct aloop_device *lo = dev_to_aloop(dev);
	struct file *file;
	char *p = NULL;
	ssize_t ret;

	spin_lock(&lo->backing_lock);
	file = lo->backing;
	if (file)
		get_file(file);
	spin_unlock(&lo->backing_lock);
	if (file) {
		p = file_path(file, buf, PAGE_SIZE - 1);
		fput(file);
	}
	if (IS_ERR_OR_NULL(p)) {
		ret = p ? PTR_ERR(p) : sysfs_emit(buf, "\n");
	} else {
		ret = strlen(p);
		memmove(buf, p, ret);
		buf[ret++] = '\n';
		buf[ret] = '\0';
	}
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
	&dev_attr_batches.attr,
	&dev_attr_reqs_worker.attr,
	&dev_attr_reqs_nowait.attr,
	&dev_attr_nowait_again.attr,
	&dev_attr_reqs_helper.attr,
	&dev_attr_worker_starts.attr,
	&dev_attr_errors.attr,
	&dev_attr_owner.attr,
	&dev_attr_owner_pid.attr,
	&dev_attr_owner_cgroup.attr,
	&dev_attr_attach_time.attr,
	&dev_attr_orphan.attr,
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

/* Stock loop's group: the attributes it has, shared with aloop/. */
static struct attribute *aloop_loop_attrs[] = {
	&dev_attr_backing_file.attr,
	&dev_attr_offset.attr,
	&dev_attr_sizelimit.attr,
	&dev_attr_autoclear.attr,
	&dev_attr_partscan.attr,
	&dev_attr_dio.attr,
	NULL,
};

static const struct attribute_group aloop_loop_attr_group = {
	.name	= "loop",
	.attrs	= aloop_loop_attrs,
};

/*
 * The device is being bound (loop_configure's loop_sysfs_init()).  As
 * loop, a failure leaves the device without the group: it still works,
 * tools fall back to LOOP_GET_STATUS64.
 */
void aloop_sysfs_bind(struct aloop_device *lo)
{
	if (!aloop_loop_compat)
		return;
	lo->loop_sysfs = !sysfs_create_group(&disk_to_dev(lo->disk)->kobj,
					     &aloop_loop_attr_group);
}

/* Unbinding, before the backing file goes: no empty backing_file. */
void aloop_sysfs_unbind(struct aloop_device *lo)
{
	if (!lo->loop_sysfs)
		return;
	sysfs_remove_group(&disk_to_dev(lo->disk)->kobj,
			   &aloop_loop_attr_group);
	lo->loop_sysfs = false;
}
