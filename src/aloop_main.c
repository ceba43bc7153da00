// SPDX-License-Identifier: GPL-2.0
/*
 * aloop - alternate loop block driver: module, device registry and the
 * /dev/aloop-control misc device (loop's LOOP_CTL_* ABI).
 */
#include <linux/compat.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/idr.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include "aloop.h"

static DEFINE_IDR(aloop_index_idr);
static DEFINE_MUTEX(aloop_ctl_mutex);
static int aloop_major;
int aloop_part_shift;

/*
 * Drop-in mode: with loop_compat=Y aloop takes stock loop's place - block
 * major 7 named "loop", /dev/loop-control (misc minor 237), disks loopN
 * and, while bound, stock loop's /sys/block/loopN/loop/ attributes - so
 * losetup, mount -o loop and every other loop user get aloop unchanged.
 * Without it nothing differs from aloop beside stock loop.
 */
bool aloop_loop_compat;
module_param_named(loop_compat, aloop_loop_compat, bool, 0444);
MODULE_PARM_DESC(loop_compat, "Serve loop's users in its place: block major 7 \"loop\", /dev/loop-control, disks loopN, /sys/block/loopN/loop/ (default N: aloop's own names, beside stock loop)");

/* Every name userspace sees, chosen once at load from loop_compat. */
struct aloop_names {
	const char	*blkdev;	/* /proc/devices, and disks NAME%d */
	const char	*control;	/* the misc device, /dev/NAME */
	int		ctl_minor;
};

static const struct aloop_names aloop_own_names = {
	.blkdev		= ALOOP_NAME,
	.control	= ALOOP_NAME "-control",
	.ctl_minor	= MISC_DYNAMIC_MINOR,
};

static const struct aloop_names aloop_stock_names = {
	.blkdev		= "loop",
	.control	= "loop-control",
	.ctl_minor	= LOOP_CTRL_MINOR,
};

static const struct aloop_names *aloop_names = &aloop_own_names;

/*
 * Devices loop_compat creates at load without max_aloop/max_loop: stock
 * loop's CONFIG_BLK_DEV_LOOP_MIN_COUNT (8 on Debian), as scripts written
 * for loop may expect /dev/loop0 to exist.
 */
#ifdef CONFIG_BLK_DEV_LOOP_MIN_COUNT
#define ALOOP_COMPAT_MIN_COUNT	CONFIG_BLK_DEV_LOOP_MIN_COUNT
#else
#define ALOOP_COMPAT_MIN_COUNT	8
#endif

static unsigned int max_aloop;
module_param(max_aloop, uint, 0444);
MODULE_PARM_DESC(max_aloop, "Number of aloop devices created at load; also the limit of devices created by opening a node (default 0: none, no limit)");
/* loop's name for it, for "options loop max_loop=N" carried over; not in sysfs */
module_param_named(max_loop, max_aloop, uint, 0);
MODULE_PARM_DESC(max_loop, "The same as max_aloop (stock loop's name)");

/*
 * The block major: 0 takes a free one (as before, what /proc/devices
 * shows); a fixed number is for container runtimes and device cgroups
 * that allow devices by number.
 */
static unsigned int aloop_major_param;
module_param_named(major, aloop_major_param, uint, 0444);
MODULE_PARM_DESC(major, "Block major of aloop devices (default 0: a free one, chosen at load; a fixed one for device allowlists, e.g. 240: 240-254 are for local use)");

static unsigned int max_part;
module_param(max_part, uint, 0444);
MODULE_PARM_DESC(max_part, "Maximum partitions per aloop device (default 0: dynamic minors)");

static unsigned int aloop_queue_depth = 128;
module_param_named(queue_depth, aloop_queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth, "Queue depth of each device's tag set (default 128)");

static unsigned int aloop_nr_queues;
module_param_named(queues, aloop_nr_queues, uint, 0644);
MODULE_PARM_DESC(queues, "Hardware queues (each with a worker) of a device configured without a count (default 0: one per CPU, at most 4)");

/* The hardware queue count of a device configured without one. */
unsigned int aloop_default_queues(void)
{
	unsigned int nr = READ_ONCE(aloop_nr_queues);

	if (!nr)
		nr = min_t(unsigned int, num_online_cpus(), ALOOP_AUTO_QUEUES);
	return clamp_t(unsigned int, nr, 1, nr_cpu_ids);
}

bool aloop_dio_auto = true;
module_param_named(dio, aloop_dio_auto, bool, 0644);
MODULE_PARM_DESC(dio, "Use direct I/O whenever the backing file allows it (default Y)");

struct workqueue_struct *aloop_lane_wq;

struct workqueue_struct *aloop_io_wq;

static struct dentry *aloop_debugfs_dir;

bool aloop_nowait = true;
module_param_named(nowait, aloop_nowait, bool, 0644);
MODULE_PARM_DESC(nowait, "Queue workers submit direct I/O with IOCB_NOWAIT and hand what would block to a blocking helper (default Y; N: the worker submits blocking)");

static int aloop_set_poll_us(const char *val, const struct kernel_param *kp)
{
	unsigned int us;
	int err;

	err = kstrtouint(val, 0, &us);
	if (err)
		return err;
	if (us > ALOOP_MAX_POLL_US)
		return -EINVAL;
	WRITE_ONCE(aloop_poll_us, us);
	return 0;
}

static const struct kernel_param_ops aloop_poll_us_ops = {
	.set	= aloop_set_poll_us,
	.get	= param_get_uint,
};

bool aloop_sched_batch = true;
module_param_named(sched_batch, aloop_sched_batch, bool, 0644);
MODULE_PARM_DESC(sched_batch, "Queue workers of devices attached afterwards run SCHED_BATCH: woken, they wait for the submitter to sleep instead of preempting it, and take its requests in one batch (default Y)");

/* Long enough that a device in use never waits for a new thread. */
unsigned int aloop_worker_idle_ms = 10000;
module_param_named(worker_idle_ms, aloop_worker_idle_ms, uint, 0644);
MODULE_PARM_DESC(worker_idle_ms, "A queue worker that had nothing to do for this long exits; the next request starts a new one (default 10000; 0: workers stay until detach)");

unsigned int aloop_poll_us;
module_param_cb(poll_us, &aloop_poll_us_ops, &aloop_poll_us, 0644);
MODULE_PARM_DESC(poll_us, "Microseconds a queue worker spins for new requests before it sleeps (default 0: no polling; at most 1000)");

/*
 * Largest request, as loop has it: the historic BLK_DEF_MAX_SECTORS
 * (1.25 MiB).  Left alone, a new queue gets BLK_SAFE_MAX_SECTORS (127.5
 * KiB), which splits large sequential I/O.
 */
#define ALOOP_MAX_HW_SECTORS	2560u

/*
 * Allocate aloopN (index < 0: the first free number).  @attaching: the
 * new device is ALOOP_CTL_ATTACH's from the start (GET_FREE skips it).
 */
static int aloop_add_dev(int index, bool attaching)
{
	const struct alo_limits lim = {
		.lbs		= SECTOR_SIZE,
		.max_hw_sectors	= ALOOP_MAX_HW_SECTORS,
	};
	int max_index = (MINORMASK + 1) >> aloop_part_shift;
	struct aloop_device *lo;
	struct gendisk *disk;
	int err;

	lo = kzalloc(sizeof(*lo), GFP_KERNEL);
	if (!lo)
		return -ENOMEM;
	lo->state = ALOOP_UNBOUND;
	mutex_init(&lo->lock);
	spin_lock_init(&lo->backing_lock);
	alo_init_lanes(lo);
	INIT_WORK(&lo->discard_work, aloop_disable_discard);
	/* The counters start at zero with the rest (kzalloc). */

	err = mutex_lock_killable(&aloop_ctl_mutex);
	if (err)
		goto out_free_dev;
	if (index >= max_index) {
		/* Its minor numbers would not fit in a dev_t. */
		err = -EINVAL;
	} else if (index >= 0) {
		err = idr_alloc(&aloop_index_idr, lo, index, index + 1,
				GFP_KERNEL);
		if (err == -ENOSPC)
			err = -EEXIST;
	} else {
		err = idr_alloc(&aloop_index_idr, lo, 0, max_index, GFP_KERNEL);
	}
	mutex_unlock(&aloop_ctl_mutex);
	if (err < 0)
		goto out_free_dev;
	lo->number = err;

	lo->tag_set.ops = &aloop_mq_ops;
	/* The usual count now: configure only changes it when asked to. */
	lo->tag_set.nr_hw_queues = aloop_default_queues();
	lo->tag_set.queue_depth = aloop_queue_depth;
	lo->tag_set.numa_node = NUMA_NO_NODE;
	lo->tag_set.cmd_size = sizeof(struct alo_cmd);
	/*
	 * Like loop: stacked on another device, and no I/O scheduler by
	 * default - the backing device has its own; with mq-deadline here
	 * every request also took a detour through kblockd (ctx/IO x5 for
	 * 4k random reads at QD16 on 6.1, see bench/).  Not BLOCKING:
	 * ->queue_rq only hands the request to a thread of ours (spinlocks,
	 * GFP_NOWAIT), never calls the backing file (aloop_io.c).
	 */
	lo->tag_set.flags = ALO_MQ_F_MERGE | BLK_MQ_F_STACKING |
			    BLK_MQ_F_NO_SCHED_BY_DEFAULT;
	/*
	 * One set of tags and requests for all hardware queues: queue_depth
	 * requests per device, as loop's one queue has, not per queue (an
	 * idle device's memory, issue 22: 2 queues x 128 requests was half
	 * of its cost beside loop's).
	 */
	lo->tag_set.flags |= BLK_MQ_F_TAG_HCTX_SHARED;
	lo->tag_set.driver_data = lo;
	err = blk_mq_alloc_tag_set(&lo->tag_set);
	if (err)
		goto out_remove_idr;

	disk = alo_alloc_disk(&lo->tag_set, &lim, lo);
	if (IS_ERR(disk)) {
		err = PTR_ERR(disk);
		goto out_free_tags;
	}
	lo->disk = disk;
	lo->block_size = SECTOR_SIZE;

	/* Partitions are scanned only when PARTSCAN asks for it. */
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	disk->major = aloop_major;
	disk->first_minor = lo->number << aloop_part_shift;
	disk->minors = 1 << aloop_part_shift;
	disk->fops = &aloop_fops;
	/* As loop: attach, detach and change-fd send DISK_MEDIA_CHANGE=1. */
	disk->events = DISK_EVENT_MEDIA_CHANGE;
	disk->event_flags = DISK_EVENT_FLAG_UEVENT;
	disk->private_data = lo;
	disk->queue->queuedata = lo;
	sprintf(disk->disk_name, "%s%d", aloop_names->blkdev, lo->number);
	/* No media until configured. */
	set_capacity(disk, 0);

	err = device_add_disk(NULL, disk, aloop_disk_groups);
	if (err)
		goto out_put_disk;

	mutex_lock(&aloop_ctl_mutex);
	lo->visible = true;
	lo->attaching = attaching;
	mutex_unlock(&aloop_ctl_mutex);
	return lo->number;

out_put_disk:
	put_disk(disk);
out_free_tags:
	blk_mq_free_tag_set(&lo->tag_set);
out_remove_idr:
	mutex_lock(&aloop_ctl_mutex);
	idr_remove(&aloop_index_idr, lo->number);
	mutex_unlock(&aloop_ctl_mutex);
out_free_dev:
	kfree(lo);
	return err;
}

static int aloop_add(int index)
{
	return aloop_add_dev(index, false);
}

/* The disk is unbound, closed and marked deleting. */
static void aloop_remove(struct aloop_device *lo)
{
	cancel_work_sync(&lo->discard_work);
	del_gendisk(lo->disk);
	blk_mq_free_tag_set(&lo->tag_set);
	mutex_lock(&aloop_ctl_mutex);
	idr_remove(&aloop_index_idr, lo->number);
	mutex_unlock(&aloop_ctl_mutex);
	put_disk(lo->disk);	/* frees lo from ->free_disk */
}

static int aloop_control_remove(int index)
{
	struct aloop_device *lo;
	int ret;

	if (index < 0)
		return -EINVAL;

	/* Hide the device while we decide, so GET_FREE skips it. */
	ret = mutex_lock_killable(&aloop_ctl_mutex);
	if (ret)
		return ret;
	lo = idr_find(&aloop_index_idr, index);
	if (!lo || !lo->visible)
		ret = -ENODEV;
	else if (lo->attaching)
		ret = -EBUSY;
	else
		lo->visible = false;
	mutex_unlock(&aloop_ctl_mutex);
	if (ret)
		return ret;

	ret = mutex_lock_killable(&lo->lock);
	if (ret)
		goto out_mark_visible;
	if (lo->state != ALOOP_UNBOUND || disk_openers(lo->disk) > 0) {
		mutex_unlock(&lo->lock);
		ret = -EBUSY;
		goto out_mark_visible;
	}
	lo->state = ALOOP_DELETING;
	mutex_unlock(&lo->lock);

	aloop_remove(lo);
	return 0;

out_mark_visible:
	mutex_lock(&aloop_ctl_mutex);
	lo->visible = true;
	mutex_unlock(&aloop_ctl_mutex);
	return ret;
}

static int aloop_control_get_free(void)
{
	struct aloop_device *lo;
	int id, ret;

	ret = mutex_lock_killable(&aloop_ctl_mutex);
	if (ret)
		return ret;
	idr_for_each_entry(&aloop_index_idr, lo, id) {
		if (lo->visible && !lo->attaching &&
		    /* A lost race only creates one more device. */
		    data_race(lo->state) == ALOOP_UNBOUND) {
			mutex_unlock(&aloop_ctl_mutex);
			return id;
		}
	}
	mutex_unlock(&aloop_ctl_mutex);
	return aloop_add(-1);
}

/*
 * Take an unbound device for ALOOP_CTL_ATTACH: aloop@index, or a free
 * one, or a new one.  Held with a reference on its disk (it cannot be
 * removed meanwhile) and marked attaching (GET_FREE and other attaches
 * skip it).  A LOOP_CONFIGURE through its node can still win it: the
 * caller then sees -EBUSY from configure and takes another.
 */
static struct aloop_device *aloop_take(int index)
{
	struct aloop_device *lo = NULL, *d;
	int id, err;

	for (;;) {
		err = mutex_lock_killable(&aloop_ctl_mutex);
		if (err)
			return ERR_PTR(err);
		if (index >= 0) {
			d = idr_find(&aloop_index_idr, index);
			if (d && (!d->visible || d->attaching ||
				  /* configure tells for sure: EBUSY */
				  data_race(d->state) != ALOOP_UNBOUND)) {
				mutex_unlock(&aloop_ctl_mutex);
				return ERR_PTR(-EBUSY);
			}
			lo = d;
		} else {
			idr_for_each_entry(&aloop_index_idr, d, id) {
				if (d->visible && !d->attaching &&
				    /* a lost race: configure says EBUSY */
				    data_race(d->state) == ALOOP_UNBOUND) {
					lo = d;
					break;
				}
			}
		}
		if (lo) {
			lo->attaching = true;
			get_device(disk_to_dev(lo->disk));
			mutex_unlock(&aloop_ctl_mutex);
			return lo;
		}
		mutex_unlock(&aloop_ctl_mutex);
		/* None free: a new one, already ours. */
		id = aloop_add_dev(index, true);
		if (id == -EEXIST)
			continue;	/* index added meanwhile: look again */
		if (id < 0)
			return ERR_PTR(id);
		mutex_lock(&aloop_ctl_mutex);
		lo = idr_find(&aloop_index_idr, id);
		get_device(disk_to_dev(lo->disk));
		mutex_unlock(&aloop_ctl_mutex);
		return lo;
	}
}

static void aloop_untake(struct aloop_device *lo)
{
	mutex_lock(&aloop_ctl_mutex);
	lo->attaching = false;
	mutex_unlock(&aloop_ctl_mutex);
	put_device(disk_to_dev(lo->disk));
}

/*
 * ALOOP_ATTACH_FD: open the new device and put the fd in @ufd - the last
 * step, as an installed fd cannot be taken back.  Returns the fd.
 */
static int aloop_attach_fd(struct aloop_device *lo, __s32 __user *ufd)
{
	struct file *file;
	int fd;

	file = alo_open_disk_file(lo->disk,
				  !(lo->flags & LO_FLAGS_READ_ONLY));
	if (IS_ERR(file))
		return PTR_ERR(file);
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		goto out_fput;
	if (put_user(fd, ufd)) {
		put_unused_fd(fd);
		fd = -EFAULT;
		goto out_fput;
	}
	fd_install(fd, file);
	return fd;

out_fput:
	fput(file);
	return fd;
}

/* How often an attach takes another device after losing one to a race. */
#define ALOOP_ATTACH_TRIES	16

static int aloop_control_attach(struct file *ctl,
				struct aloop_attach __user *argp)
{
	struct aloop_device *lo;
	struct aloop_attach *a;
	int err, tries;

	a = memdup_user(argp, sizeof(*a));
	if (IS_ERR(a))
		return PTR_ERR(a);
	err = -EINVAL;
	if (a->size != sizeof(*a) || (a->flags & ~ALOOP_ATTACH_FLAGS) ||
	    a->nr_queues > ALOOP_MAX_QUEUES ||
	    !memchr(a->owner, '\0', sizeof(a->owner)) || a->pad ||
	    memchr_inv(a->reserved, 0, sizeof(a->reserved)))
		goto out_free;
	err = -EOPNOTSUPP;
	if ((a->flags & ALOOP_ATTACH_FD) && !ALO_HAVE_DISK_FILE)
		goto out_free;
	err = -EINVAL;
	if ((a->flags & ALOOP_ATTACH_INDEX) && a->index > INT_MAX)
		goto out_free;

	for (tries = 0; ; tries++) {
		lo = aloop_take(a->flags & ALOOP_ATTACH_INDEX ? a->index : -1);
		if (IS_ERR(lo)) {
			err = PTR_ERR(lo);
			goto out_free;
		}
		err = aloop_attach(lo, a);
		if (!err)
			break;
		aloop_untake(lo);
		if (err != -EBUSY || (a->flags & ALOOP_ATTACH_INDEX) ||
		    tries >= ALOOP_ATTACH_TRIES)
			goto out_free;
	}
	if (put_user((u32)lo->number, &argp->index)) {
		/* All or nothing: nobody learnt of this device. */
		aloop_detach(lo, 0);
		err = -EFAULT;
		goto out_untake;
	}
	if (a->flags & ALOOP_ATTACH_FD) {
		err = aloop_attach_fd(lo, &argp->fd);
		if (err < 0) {
			aloop_detach(lo, 0);
			goto out_untake;
		}
	}
	if (a->flags & ALOOP_ATTACH_LEASE) {
		mutex_lock(&aloop_ctl_mutex);
		lo->lease = ctl;
		mutex_unlock(&aloop_ctl_mutex);
	}
out_untake:
	aloop_untake(lo);
out_free:
	kfree(a);
	return err;
}

/* @index's device with a reference on its disk, or an ERR_PTR. */
static struct aloop_device *aloop_get(u32 index)
{
	struct aloop_device *lo;
	int err;

	err = mutex_lock_killable(&aloop_ctl_mutex);
	if (err)
		return ERR_PTR(err);
	lo = index <= INT_MAX ? idr_find(&aloop_index_idr, index) : NULL;
	if (lo && lo->visible)
		get_device(disk_to_dev(lo->disk));
	else
		lo = ERR_PTR(-ENODEV);
	mutex_unlock(&aloop_ctl_mutex);
	return lo;
}

static int aloop_control_detach(struct aloop_detach __user *argp)
{
	struct aloop_detach d;
	struct aloop_device *lo;
	int err;

	if (copy_from_user(&d, argp, sizeof(d)))
		return -EFAULT;
	if (d.size != sizeof(d) || (d.flags & ~ALOOP_DETACH_FLAGS) ||
	    d.reserved32 || memchr_inv(d.reserved, 0, sizeof(d.reserved)))
		return -EINVAL;
	lo = aloop_get(d.index);
	if (IS_ERR(lo))
		return PTR_ERR(lo);
	err = aloop_detach(lo, d.flags);
	put_device(disk_to_dev(lo->disk));
	return err;
}

static int aloop_control_find(struct aloop_find __user *argp)
{
	struct aloop_find *f;
	struct file *file;
	int err;

	f = memdup_user(argp, sizeof(*f));
	if (IS_ERR(f))
		return PTR_ERR(f);
	err = -EINVAL;
	if (f->size != sizeof(*f) || (f->flags & ~ALOOP_FIND_OFFSET) ||
	    memchr_inv(f->reserved, 0, sizeof(f->reserved)))
		goto out_free;
	err = -EBADF;
	file = fget(f->fd);
	if (!file)
		goto out_free;
	memset(f->index, 0, sizeof(f->index));
	err = aloop_find(f, file, f);
	fput(file);
	if (!err && copy_to_user(argp, f, sizeof(*f)))
		err = -EFAULT;
out_free:
	kfree(f);
	return err;
}

/* The control file is closed: its leases end. */
static int aloop_control_release(struct inode *inode, struct file *file)
{
	struct aloop_device *lo, **held = NULL;
	unsigned int n = 0, cap = 0, i;
	int id;

	mutex_lock(&aloop_ctl_mutex);
	idr_for_each_entry(&aloop_index_idr, lo, id)
		if (lo->lease == file)
			cap++;
	if (cap)
		held = kcalloc(cap, sizeof(*held), GFP_KERNEL | __GFP_NOFAIL);
	idr_for_each_entry(&aloop_index_idr, lo, id) {
		if (lo->lease != file || n == cap)
			continue;
		lo->lease = NULL;
		get_device(disk_to_dev(lo->disk));
		held[n++] = lo;
	}
	mutex_unlock(&aloop_ctl_mutex);

	for (i = 0; i < n; i++) {
		aloop_end_lease(held[i]);
		put_device(disk_to_dev(held[i]->disk));
	}
	kfree(held);
	return 0;
}

static long aloop_control_ioctl(struct file *file, unsigned int cmd,
				unsigned long parm)
{
	struct aloop_features feat;

	switch (cmd) {
	case ALOOP_CTL_ATTACH:
		return aloop_control_attach(file, (void __user *)parm);
	case ALOOP_CTL_DETACH:
		return aloop_control_detach((void __user *)parm);
	case ALOOP_CTL_FIND:
		return aloop_control_find((void __user *)parm);
	case LOOP_CTL_ADD:
		return aloop_add(parm);
	case LOOP_CTL_REMOVE:
		return aloop_control_remove(parm);
	case LOOP_CTL_GET_FREE:
		return aloop_control_get_free();
	case ALOOP_GET_FEATURES:
		memset(&feat, 0, sizeof(feat));
		feat.size = sizeof(feat);
		feat.version = ALOOP_ABI_VERSION;
		feat.features = ALOOP_FEAT_ALL;
		if (!ALO_HAVE_DISK_FILE)
			feat.features &= ~ALOOP_FEAT_ATTACH_FD;
		if (copy_to_user((void __user *)parm, &feat, sizeof(feat)))
			return -EFAULT;
		return 0;
	default:
		/* loop's answer to an unknown control ioctl: keep the ABI */
		return -ENOSYS;
	}
}

#ifdef CONFIG_COMPAT
static long aloop_control_compat_ioctl(struct file *file, unsigned int cmd,
				       unsigned long parm)
{
	/* aloop's own take a pointer; the LOOP_CTL_* take a number. */
	if (_IOC_TYPE(cmd) == ALOOP_IOC_MAGIC)
		parm = (unsigned long)compat_ptr(parm);
	return aloop_control_ioctl(file, cmd, parm);
}
#endif

static const struct file_operations aloop_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.release	= aloop_control_release,
	.unlocked_ioctl	= aloop_control_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= aloop_control_compat_ioctl,
#endif
	.llseek		= noop_llseek,
};

/* .name and .minor: aloop_names, set at load */
static struct miscdevice aloop_misc = {
	.fops		= &aloop_ctl_fops,
	.mode		= 0600,
};

/*
 * Opening a node of a missing minor (mknod /dev/aloopN b MAJOR MINOR)
 * creates the device, as loop's loop_probe() does; the block layer calls
 * this only with CONFIG_BLOCK_LEGACY_AUTOLOAD.
 */
static void aloop_probe(dev_t dev)
{
	unsigned int idx = MINOR(dev) >> aloop_part_shift;

	if (max_aloop && idx >= max_aloop)
		return;
	aloop_add(idx);
}

/*
 * Register the block major.  A free one is returned; a given one gives 0
 * or -EBUSY.  Says why it failed.
 */
static int aloop_register_major(void)
{
	unsigned int major = aloop_loop_compat ? LOOP_MAJOR : aloop_major_param;
	int err;

	err = __register_blkdev(major, aloop_names->blkdev, aloop_probe);
	if (err >= 0)
		return major ? major : err;
	if (aloop_loop_compat && err == -EBUSY)
		pr_err("loop_compat: block major %d is stock loop's; unload it (modprobe -r loop) or load aloop without loop_compat\n",
		       LOOP_MAJOR);
	else if (aloop_loop_compat)
		pr_err("loop_compat: cannot register block major %d: %pe\n",
		       LOOP_MAJOR, ERR_PTR(err));
	else if (major)
		pr_err("cannot register block major %u (major=): %pe: %s\n",
		       major, ERR_PTR(err), err == -EBUSY ?
		       "another driver has it, see /proc/devices" :
		       "refused by the block layer");
	else
		pr_err("cannot register a block major: %pe\n", ERR_PTR(err));
	return err;
}

static int __init aloop_init(void)
{
	unsigned int i, nr_devs;
	int err;

	if (max_part > 0) {
		aloop_part_shift = fls(max_part);
		if ((1U << aloop_part_shift) > DISK_MAX_PARTS ||
		    aloop_part_shift > MINORBITS) {
			pr_err("max_part %u too large\n", max_part);
			return -EINVAL;
		}
	}
	if (aloop_nr_queues > ALOOP_MAX_QUEUES) {
		pr_err("queues must be 0 (one per CPU, at most %u) or 1..%d\n",
		       ALOOP_AUTO_QUEUES, ALOOP_MAX_QUEUES);
		return -EINVAL;
	}
	if (!aloop_queue_depth || aloop_queue_depth > BLK_MQ_MAX_DEPTH) {
		pr_err("queue_depth must be 1..%d\n", BLK_MQ_MAX_DEPTH);
		return -EINVAL;
	}
	if (aloop_major_param >= BLKDEV_MAJOR_MAX) {
		pr_err("major must be 0 (a free one) or 1..%d, not %u\n",
		       BLKDEV_MAJOR_MAX - 1, aloop_major_param);
		return -EINVAL;
	}
	if (aloop_loop_compat) {
		if (aloop_major_param && aloop_major_param != LOOP_MAJOR) {
			pr_err("loop_compat takes loop's major %d: major=%u is not for it\n",
			       LOOP_MAJOR, aloop_major_param);
			return -EINVAL;
		}
		aloop_names = &aloop_stock_names;
	}
	aloop_misc.name = aloop_names->control;
	aloop_misc.minor = aloop_names->ctl_minor;

	/*
	 * Cgroup lanes of every device: unbound, freezable (no backing I/O
	 * while suspending), like loop's workqueue.
	 */
	aloop_lane_wq = alloc_workqueue(ALOOP_NAME "-cg",
					WQ_UNBOUND | WQ_FREEZABLE, 0);
	if (!aloop_lane_wq)
		return -ENOMEM;
	/*
	 * The blocking helpers of every queue: what a worker's IOCB_NOWAIT
	 * try could not submit.  A rescuer, as loop's workqueue has: swap
	 * on aloop must make progress when no kworker can be created.
	 */
	aloop_io_wq = alloc_workqueue(ALOOP_NAME "-io", WQ_UNBOUND |
				      WQ_FREEZABLE | WQ_MEM_RECLAIM, 0);
	if (!aloop_io_wq) {
		err = -ENOMEM;
		goto out_destroy_lane_wq;
	}

	err = aloop_register_major();
	if (err < 0)
		goto out_destroy_io_wq;
	aloop_major = err;

	err = misc_register(&aloop_misc);
	if (err) {
		if (aloop_loop_compat)
			pr_err("loop_compat: cannot register /dev/%s (misc minor %d): %pe\n",
			       aloop_misc.name, LOOP_CTRL_MINOR, ERR_PTR(err));
		goto out_unregister_blkdev;
	}

	nr_devs = max_aloop;
	if (aloop_loop_compat && !nr_devs)
		nr_devs = ALOOP_COMPAT_MIN_COUNT;
	for (i = 0; i < nr_devs; i++) {
		err = aloop_add(i);
		if (err < 0)
			pr_warn("cannot create %s%u: %d\n", aloop_names->blkdev,
				i, err);
	}
	/* Test hooks only; nothing depends on debugfs being there. */
	aloop_debugfs_dir = debugfs_create_dir(ALOOP_NAME, NULL);
	debugfs_create_atomic_t("fail_worker_start", 0600, aloop_debugfs_dir,
				&aloop_fail_worker_start);
	if (aloop_loop_compat)
		pr_info("version %s loaded in place of loop (loop_compat): major %d, /dev/%s\n",
			ALOOP_VERSION, aloop_major, aloop_misc.name);
	else
		pr_info("version %s loaded, major %d\n", ALOOP_VERSION,
			aloop_major);
	return 0;

out_unregister_blkdev:
	unregister_blkdev(aloop_major, aloop_names->blkdev);
out_destroy_io_wq:
	destroy_workqueue(aloop_io_wq);
out_destroy_lane_wq:
	destroy_workqueue(aloop_lane_wq);
	return err;
}

static void __exit aloop_exit(void)
{
	struct aloop_device *lo;
	int id;

	/*
	 * No new devices first: with the major gone aloop_probe() cannot
	 * run (it is called under the block layer's major_names_lock), and
	 * without the misc device neither can LOOP_CTL_ADD.  Then every
	 * device is unbound and closed: a bound device holds a module
	 * reference and an open one is owned by fops, so we cannot get here
	 * otherwise.
	 */
	debugfs_remove_recursive(aloop_debugfs_dir);
	unregister_blkdev(aloop_major, aloop_names->blkdev);
	misc_deregister(&aloop_misc);
	idr_for_each_entry(&aloop_index_idr, lo, id)
		aloop_remove(lo);
	idr_destroy(&aloop_index_idr);
	destroy_workqueue(aloop_io_wq);
	destroy_workqueue(aloop_lane_wq);
}

module_init(aloop_init);
module_exit(aloop_exit);
MODULE_DESCRIPTION("Alternate loop block driver with direct I/O through kiocbs");
MODULE_LICENSE("GPL");
MODULE_VERSION(ALOOP_VERSION);
