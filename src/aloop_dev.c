// SPDX-License-Identifier: GPL-2.0
/*
 * aloop - device lifecycle: open/release, the loop ioctl ABI on aloopN
 * (configure, clear, status, capacity, block size, direct I/O) and the
 * rules that decide whether direct I/O is used.
 */
#include <linux/cgroup.h>
#include <linux/compat.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/major.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/stat.h>
#include "aloop.h"

/* Serializes configure/change-fd, which walk chains of aloop devices. */
static DEFINE_MUTEX(aloop_validate_mutex);

static bool aloop_is_aloop_file(struct file *file)
{
	struct inode *inode = file->f_mapping->host;

	return S_ISBLK(inode->i_mode) &&
	       I_BDEV(inode)->bd_disk->fops == &aloop_fops;
}

static bool aloop_is_stock_loop_file(struct file *file)
{
	struct inode *inode = file->f_mapping->host;

	return S_ISBLK(inode->i_mode) && imajor(inode) == LOOP_MAJOR;
}

/*
 * A backing file must be a regular file or a block device, and must not
 * lead back to the device being configured through a chain of aloop
 * devices.  Loop's errno values: EBADF for the device itself, EINVAL for
 * the rest.
 *
 * aloop cannot see behind a stock loop device, and loop cannot see
 * behind aloop, so aloop -> loop -> aloop cycles pass both drivers'
 * checks; their I/O then waits on itself forever.  Only LOOP_CHANGE_FD
 * can close such a cycle from aloop's side (a device being configured
 * has no size, so nothing can reach it through loop), so it refuses a
 * chain that passes through stock loop (@change_fd).
 *
 * Called with aloop_validate_mutex held.  Each link's backing file is
 * read under its backing_lock, not its lo->lock: the caller holds its
 * own lo->lock, and two of them would nest.
 */
static int aloop_validate_file(struct file *file, struct block_device *bdev,
			       bool change_fd)
{
	struct file *f = get_file(file);
	int err = 0;

	lockdep_assert_held(&aloop_validate_mutex);
	while (aloop_is_aloop_file(f)) {
		struct aloop_device *l;
		struct file *next;

		l = I_BDEV(f->f_mapping->host)->bd_disk->private_data;
		if (l->disk == bdev->bd_disk) {
			err = -EBADF;
			break;
		}
		spin_lock(&l->backing_lock);
		next = l->backing ? get_file(l->backing) : NULL;
		spin_unlock(&l->backing_lock);
		if (!next) {
			err = -EINVAL;
			break;
		}
		fput(f);
		f = next;
	}
	if (!err && change_fd && aloop_is_stock_loop_file(f))
		err = -EINVAL;
	if (!err && !S_ISREG(file_inode(f)->i_mode) &&
	    !S_ISBLK(file_inode(f)->i_mode))
		err = -EINVAL;
	fput(f);
	if (!err && (!file->f_op->read_iter ||
		     ((file->f_mode & FMODE_WRITE) && !file->f_op->write_iter)))
		err = -EINVAL;
	return err;
}

/* Device size in sectors, computed as loop does (whole sectors). */
static loff_t aloop_backing_sectors(struct file *file, loff_t offset,
				    loff_t sizelimit)
{
	loff_t size = i_size_read(file->f_mapping->host);

	if (offset > 0)
		size -= offset;
	if (size < 0)
		return 0;
	if (sizelimit > 0 && sizelimit < size)
		size = sizelimit;
	return size >> SECTOR_SHIFT;
}

static void aloop_set_size(struct aloop_device *lo)
{
	sector_t sectors = aloop_backing_sectors(lo->backing, lo->offset,
						 lo->sizelimit);

	if (!set_capacity_and_notify(lo->disk, sectors))
		kobject_uevent(&disk_to_dev(lo->disk)->kobj, KOBJ_CHANGE);
}

/*
 * The backing file's direct I/O alignment: STATX_DIOALIGN where the
 * filesystem reports it, else the logical block size of the block device
 * underneath.  0 means the file cannot do O_DIRECT at all.
 */
struct aloop_dio_align {
	unsigned int	offset;		/* 0: no O_DIRECT */
	unsigned int	mem;
};

/* Calls into the backing filesystem: never with the queue frozen. */
static void aloop_probe_dio_align(struct file *file, struct aloop_dio_align *a)
{
	struct inode *inode = file->f_mapping->host;
	struct kstat st = {};

	a->offset = 0;
	a->mem = 0;
	if (!alo_file_can_odirect(file))
		return;
	if (S_ISBLK(inode->i_mode)) {
		struct block_device *b = I_BDEV(inode);

		a->offset = bdev_logical_block_size(b);
		a->mem = bdev_dma_alignment(b) + 1;
		return;
	}
	if (!vfs_getattr(&file->f_path, &st, STATX_DIOALIGN,
			 AT_STATX_SYNC_AS_STAT) &&
	    (st.result_mask & STATX_DIOALIGN)) {
		a->offset = st.dio_offset_align;
		a->mem = st.dio_mem_align;
		return;
	}
	if (inode->i_sb->s_bdev) {
		a->offset = bdev_logical_block_size(inode->i_sb->s_bdev);
		a->mem = bdev_dma_alignment(inode->i_sb->s_bdev) + 1;
	} else {
		a->offset = SECTOR_SIZE;
		a->mem = SECTOR_SIZE;
	}
}

static void aloop_set_dio_align(struct aloop_device *lo,
				const struct aloop_dio_align *a)
{
	lo->dio_align = a->offset;
	lo->dio_mem_align = a->mem;
}

/*
 * May the current configuration use direct I/O?  If not, say why in
 * lo->dio_reason.  Called with lo->lock held.
 */
static bool aloop_dio_allowed(struct aloop_device *lo)
{
	char *r = lo->dio_reason;
	size_t n = sizeof(lo->dio_reason);
	unsigned int a = lo->dio_align;

	lockdep_assert_held(&lo->lock);
	if (!a)
		scnprintf(r, n, "backing filesystem has no O_DIRECT");
	else if (lo->offset & (a - 1))
		scnprintf(r, n, "offset %llu not aligned to %u",
			 (unsigned long long)lo->offset, a);
	else if (lo->block_size & (a - 1))
		scnprintf(r, n, "block size %u smaller than dio alignment %u: set it to %u",
			 lo->block_size, a, a);
	else if (lo->sizelimit & (a - 1))
		scnprintf(r, n, "sizelimit %llu not aligned to %u",
			 (unsigned long long)lo->sizelimit, a);
	else if (!lo->dio_wanted)
		scnprintf(r, n, "%s", lo->dio_off_by_user ? "turned off by user" :
			 "not requested (module parameter dio=0)");
	else
		r[0] = '\0';
	return !r[0];
}

/* The block device under the backing file: itself, or its filesystem's. */
static struct block_device *aloop_backing_bdev(struct file *file)
{
	struct inode *inode = file->f_mapping->host;

	if (S_ISBLK(inode->i_mode))
		return I_BDEV(inode);
	return inode->i_sb->s_bdev;
}

/*
 * Discard and write-zeroes.  A file: punch hole / zero range on any
 * range, as far as the filesystem has ->fallocate.  A block device: its
 * fallocate zeroes with write-zeroes and refuses ranges not aligned to
 * its own logical block size, so mirror its limits, as loop does, and
 * only where aloop's block size is a multiple of the backing's.
 */
static void aloop_discard_limits(struct aloop_device *lo, struct alo_limits *l)
{
	struct file *file = lo->backing;
	struct inode *inode = file->f_mapping->host;
	unsigned int max = UINT_MAX >> SECTOR_SHIFT;
	unsigned int gran = i_blocksize(inode);

	if (!file->f_op->fallocate)
		return;
	if (S_ISBLK(inode->i_mode)) {
		struct block_device *b = I_BDEV(inode);

		if (lo->block_size % bdev_logical_block_size(b))
			return;
		max = bdev_write_zeroes_sectors(b);
		gran = max(bdev_logical_block_size(b),
			   bdev_discard_granularity(b));
	}
	if (!READ_ONCE(lo->no_discard) && max) {
		l->max_discard_sectors = max;
		l->discard_granularity = max_t(unsigned int, lo->block_size,
					       gran);
	}
	if (!READ_ONCE(lo->no_write_zeroes))
		l->max_write_zeroes_sectors = max;
}

static void aloop_build_limits(struct aloop_device *lo, struct alo_limits *l)
{
	bool ro = lo->flags & LO_FLAGS_READ_ONLY;
	struct block_device *b;

	memset(l, 0, sizeof(*l));
	l->lbs = lo->block_size;
	l->dma_alignment = SECTOR_SIZE - 1;
	if (!lo->backing)
		return;
	if (lo->use_dio && lo->dio_mem_align > SECTOR_SIZE)
		l->dma_alignment = lo->dio_mem_align - 1;
	if (!ro)
		aloop_discard_limits(lo, l);
	/* A flush is an fsync: only where the backing file has one. */
	l->write_cache = !ro && lo->backing->f_op->fsync;
	l->fua = l->write_cache;
	/* As loop: non-rotational unless the backing device rotates. */
	b = aloop_backing_bdev(lo->backing);
	l->rotational = b && alo_bdev_rotational(b);
	/*
	 * Direct I/O hands the upper filesystem's pages to the backing file,
	 * which may checksum them (btrfs, dm-integrity) while the upper fs
	 * still changes them: ask the upper fs to keep pages stable during
	 * writeback whenever dio is possible.  Set at configure, as a mounted
	 * filesystem reads it only at mount time.
	 */
	l->stable_writes = lo->dio_align != 0 ||
			   (b && bdev_stable_writes(b));
}

/*
 * Re-evaluate direct I/O and apply the queue limits.  The caller holds
 * lo->lock and has frozen the queue, so no request sees a half-switched
 * device; it wrote back the backing file's cache before freezing
 * (aloop_sync_backing()): nothing here calls into a filesystem.
 */
static int aloop_update_queue(struct aloop_device *lo)
{
	struct alo_limits l;
	bool dio = aloop_dio_allowed(lo);

	lockdep_assert_held(&lo->lock);
	lo->use_dio = dio;
	if (dio)
		lo->flags |= LO_FLAGS_DIRECT_IO;
	else
		lo->flags &= ~LO_FLAGS_DIRECT_IO;
	aloop_build_limits(lo, &l);
	return alo_apply_limits(lo->disk->queue, &l);
}

/*
 * The backing file answered EOPNOTSUPP to a discard or write-zeroes
 * (the I/O path set lo->no_discard / no_write_zeroes): stop advertising
 * the operation instead of failing every such request.
 */
void aloop_disable_discard(struct work_struct *work)
{
	struct aloop_device *lo = container_of(work, struct aloop_device,
					       discard_work);
	unsigned int memflags;

	mutex_lock(&lo->lock);
	if (lo->state == ALOOP_BOUND) {
		memflags = alo_freeze(lo->disk->queue);
		aloop_update_queue(lo);
		alo_unfreeze(lo->disk->queue, memflags);
		pr_info("%s: backing file lacks%s%s, no longer advertised\n",
			lo->disk->disk_name,
			READ_ONCE(lo->no_discard) ? " discard" : "",
			READ_ONCE(lo->no_write_zeroes) ? " write-zeroes" : "");
	}
	mutex_unlock(&lo->lock);
}

/*
 * Before a change that may switch requests to direct I/O: write back the
 * backing file's dirty cache, outside the freeze (an fsync under it can
 * wait on I/O that waits on the frozen queue), as loop does.
 */
static void aloop_sync_backing(struct file *file)
{
	if (file)
		vfs_fsync(file, 0);
}

/*
 * Changing the geometry or backing of a device under an exclusive
 * opener (a mounted filesystem) corrupts it: claim the device first, as
 * loop does, unless the caller opened it exclusively itself.  EBUSY when
 * someone else holds it.
 */
static int aloop_claim(struct block_device *bdev, alo_mode_t mode,
		       void *holder)
{
	if (mode & ALO_MODE_EXCL)
		return 0;
	return alo_prepare_to_claim(bdev, holder);
}

static void aloop_unclaim(struct block_device *bdev, alo_mode_t mode,
			  void *holder)
{
	if (!(mode & ALO_MODE_EXCL))
		bd_abort_claiming(bdev, holder);
}

static int aloop_check_info(const struct loop_info64 *info)
{
	if ((unsigned int)info->lo_encrypt_key_size > LO_KEY_SIZE)
		return -EINVAL;
	if (info->lo_encrypt_type != LO_CRYPT_NONE)
		return -EINVAL;
	if (info->lo_offset > LLONG_MAX || info->lo_sizelimit > LLONG_MAX)
		return -EOVERFLOW;
	return 0;
}

static void aloop_reread_partitions(struct aloop_device *lo)
{
	int err;

	mutex_lock(&lo->disk->open_mutex);
	err = bdev_disk_changed(lo->disk, false);
	mutex_unlock(&lo->disk->open_mutex);
	if (err)
		pr_warn("%s: partition scan failed (rc=%d)\n",
			lo->disk->disk_name, err);
}

/*
 * The two locks configure and change-fd take: the chain walk's mutex,
 * then the device's own (loop.c's loop_global_lock_killable() is the
 * model).
 */
static int aloop_lock_validate(struct aloop_device *lo)
{
	int err;

	err = mutex_lock_killable(&aloop_validate_mutex);
	if (err)
		return err;
	err = mutex_lock_killable(&lo->lock);
	if (err)
		mutex_unlock(&aloop_validate_mutex);
	return err;
}

static void aloop_unlock_validate(struct aloop_device *lo)
{
	mutex_unlock(&lo->lock);
	mutex_unlock(&aloop_validate_mutex);
}

/*
 * Bound devices by backing inode (the mapping's host: for a block device
 * the bdev's inode, the same for every opener), for ALOOP_CTL_FIND.
 */
static DEFINE_HASHTABLE(aloop_backing_hash, 10);
static DEFINE_SPINLOCK(aloop_backing_hash_lock);

static void aloop_hash_backing(struct aloop_device *lo, struct file *file)
{
	spin_lock(&aloop_backing_hash_lock);
	if (lo->backing_inode)
		hash_del(&lo->backing_node);
	lo->backing_inode = file ? file->f_mapping->host : NULL;
	if (lo->backing_inode)
		hash_add(aloop_backing_hash, &lo->backing_node,
			 (unsigned long)lo->backing_inode);
	spin_unlock(&aloop_backing_hash_lock);
}

int aloop_find(const struct aloop_find *f, struct file *file,
	       struct aloop_find *out)
{
	struct inode *inode = file->f_mapping->host;
	struct aloop_device *lo;

	out->count = 0;
	spin_lock(&aloop_backing_hash_lock);
	hash_for_each_possible(aloop_backing_hash, lo, backing_node,
			       (unsigned long)inode) {
		if (lo->backing_inode != inode)
			continue;
		if ((f->flags & ALOOP_FIND_OFFSET) &&
		    (u64)READ_ONCE(lo->offset) != f->offset)
			continue;
		if (out->count < ALOOP_FIND_MAX)
			out->index[out->count] = lo->number;
		out->count++;
	}
	spin_unlock(&aloop_backing_hash_lock);
	return 0;
}

/* Record who attached @lo (lo->lock held). */
static void aloop_set_owner(struct aloop_device *lo, const char *owner)
{
	struct cgroup *cgrp;

	strscpy(lo->owner, owner ? owner : "", sizeof(lo->owner));
	WRITE_ONCE(lo->owner_pid, task_tgid_nr(current));
	WRITE_ONCE(lo->attach_time, ktime_get_real_seconds());
	rcu_read_lock();
	cgrp = task_dfl_cgroup(current);
	cgroup_get(cgrp);
	rcu_read_unlock();
	WRITE_ONCE(lo->owner_cgrp, cgrp);
}

/*
 * What an unbound device holds, one definition for configure's unwind and
 * for aloop_clear(): no backing file, no geometry, no name, no dio rules.
 * Under lo->lock, with the queue frozen or never started; the caller
 * still owns @file's reference.
 */
static void aloop_reset_config(struct aloop_device *lo, struct file *file)
{
	lockdep_assert_held(&lo->lock);
	mapping_set_gfp_mask(file->f_mapping, lo->old_gfp_mask);
	spin_lock(&lo->backing_lock);
	lo->backing = NULL;
	spin_unlock(&lo->backing_lock);
	lo->offset = 0;
	lo->sizelimit = 0;
	lo->block_size = SECTOR_SIZE;
	lo->file_name[0] = '\0';
	lo->dio_align = 0;
	lo->no_partscan = false;
}

static void aloop_clear_owner(struct aloop_device *lo)
{
	struct cgroup *cgrp = lo->owner_cgrp;

	WRITE_ONCE(lo->owner_cgrp, NULL);
	if (cgrp)
		cgroup_put(cgrp);	/* freed after an RCU grace period */
	lo->owner[0] = '\0';
	WRITE_ONCE(lo->owner_pid, 0);
	WRITE_ONCE(lo->attach_time, 0);
}

/*
 * The cgroup of whoever attached @lo is gone (removed): nobody is left to
 * detach it.  CSS_ONLINE of the cgroup's own css is what the cgroup core
 * calls "not dead" (cgroup_is_dead(), internal to kernel/cgroup/).
 * Lock-free: a cgroup is freed only after an RCU grace period.
 */
bool aloop_orphan(struct aloop_device *lo)
{
	struct cgroup *cgrp;
	bool orphan;

	rcu_read_lock();
	cgrp = READ_ONCE(lo->owner_cgrp);
	orphan = cgrp && !(READ_ONCE(cgrp->self.flags) & CSS_ONLINE);
	rcu_read_unlock();
	return orphan;
}

/* The owner's cgroup id (its inode number in cgroup2), 0 when unbound. */
u64 aloop_owner_cgroup_id(struct aloop_device *lo)
{
	struct cgroup *cgrp;
	u64 id;

	rcu_read_lock();
	cgrp = READ_ONCE(lo->owner_cgrp);
	id = cgrp ? cgroup_id(cgrp) : 0;
	rcu_read_unlock();
	return id;
}

static int aloop_configure(struct aloop_device *lo, alo_mode_t mode,
			   struct block_device *bdev,
			   const struct loop_config *config,
			   unsigned int nr_queues, const struct aloop_attach *a)
{
	const struct loop_info64 *info = &config->info;
	struct aloop_dio_align align;
	unsigned int memflags;
	struct file *file;
	bool partscan;
	int err;

	file = fget(config->fd);
	if (!file)
		return -EBADF;

	err = aloop_claim(bdev, mode, aloop_configure);
	if (err)
		goto out_putf;
	err = aloop_lock_validate(lo);
	if (err)
		goto out_unclaim;

	err = -EBUSY;
	if (lo->state != ALOOP_UNBOUND)
		goto out_unlock;
	err = aloop_validate_file(file, bdev, false);
	if (err)
		goto out_unlock;
	err = -EINVAL;
	if (info->lo_flags & ~ALOOP_CONFIGURE_FLAGS)
		goto out_unlock;
	if (config->block_size) {
		err = blk_validate_block_size(config->block_size);
		if (err)
			goto out_unlock;
	}
	err = aloop_check_info(info);
	if (err)
		goto out_unlock;

	/*
	 * Hardware queues, each with its worker.  The tag set keeps its
	 * count while unbound; blk-mq keeps the old one if it cannot
	 * allocate, so the workers follow what it has.
	 */
	nr_queues = nr_queues ? min(nr_queues, nr_cpu_ids) :
				aloop_default_queues();
	if (lo->tag_set.nr_hw_queues != nr_queues)
		blk_mq_update_nr_hw_queues(&lo->tag_set, nr_queues);
	err = alo_start_workers(lo, lo->tag_set.nr_hw_queues);
	if (err)
		goto out_unlock;

	/* Quiet until done, then one change event with the final state. */
	dev_set_uevent_suppress(disk_to_dev(lo->disk), 1);
	alo_media_changed(lo->disk);

	lo->offset = info->lo_offset;
	lo->sizelimit = info->lo_sizelimit;
	memcpy(lo->file_name, info->lo_file_name, LO_NAME_SIZE);
	lo->file_name[LO_NAME_SIZE - 1] = '\0';
	lo->flags = info->lo_flags & ~LO_FLAGS_DIRECT_IO;
	if (!(file->f_mode & FMODE_WRITE) || !(mode & ALO_MODE_WRITE) ||
	    !file->f_op->write_iter)
		lo->flags |= LO_FLAGS_READ_ONLY;
	/* As loop with max_part: every device is scanned for partitions. */
	if (aloop_part_shift)
		lo->flags |= LO_FLAGS_PARTSCAN;
	/* ... unless it must never be: not by max_part, BLKRRPART, status. */
	lo->no_partscan = a && (a->flags & ALOOP_ATTACH_NO_PARTSCAN);
	if (lo->no_partscan)
		lo->flags &= ~LO_FLAGS_PARTSCAN;
	lo->dio_wanted = aloop_dio_auto || (info->lo_flags & LO_FLAGS_DIRECT_IO);
	lo->dio_off_by_user = false;
	lo->no_discard = false;
	lo->no_write_zeroes = false;
	aloop_probe_dio_align(file, &align);
	aloop_set_dio_align(lo, &align);

	/*
	 * Block size: as asked, else 512 as loop, so that attaching with
	 * defaults never changes an image's geometry (partition tables and
	 * filesystems made with 512-byte sectors).  Only an explicit request
	 * for direct I/O (LO_FLAGS_DIRECT_IO, or a backing fd opened
	 * O_DIRECT) takes the backing file's DIO alignment, as loop does;
	 * otherwise on a 4K-sector backing dio stays off and dio_reason says
	 * what to set.
	 */
	lo->block_size = SECTOR_SIZE;
	if (config->block_size)
		lo->block_size = config->block_size;
	else if (((info->lo_flags & LO_FLAGS_DIRECT_IO) ||
		  (file->f_flags & O_DIRECT)) &&
		 lo->dio_align > SECTOR_SIZE && lo->dio_align <= PAGE_SIZE)
		lo->block_size = lo->dio_align;

	spin_lock(&lo->backing_lock);
	lo->backing = file;
	spin_unlock(&lo->backing_lock);
	lo->old_gfp_mask = mapping_gfp_mask(file->f_mapping);
	mapping_set_gfp_mask(file->f_mapping,
			     lo->old_gfp_mask & ~(__GFP_IO | __GFP_FS));

	if (lo->dio_wanted)
		aloop_sync_backing(file);
	memflags = alo_freeze(lo->disk->queue);
	err = aloop_update_queue(lo);
	alo_unfreeze(lo->disk->queue, memflags);
	if (err)
		goto out_undo;

	set_disk_ro(lo->disk, (lo->flags & LO_FLAGS_READ_ONLY) != 0);
	aloop_set_size(lo);
	aloop_set_owner(lo, a ? a->owner : NULL);
	aloop_hash_backing(lo, file);
	aloop_sysfs_bind(lo);
	lo->state = ALOOP_BOUND;
	/* A bound device keeps the module; open() holds it meanwhile. */
	__module_get(THIS_MODULE);

	partscan = lo->flags & LO_FLAGS_PARTSCAN;
	if (partscan)
		clear_bit(GD_SUPPRESS_PART_SCAN, &lo->disk->state);
	aloop_unlock_validate(lo);
	/*
	 * Partitions exactly once, and there when configure returns: our
	 * own scan first, then the disk's change event.  udev opens the
	 * disk on that event; the scan has already cleared what would make
	 * that open scan (and drop and re-add every partition) again, on
	 * every block-core version.  The disk's uevents are on again before
	 * the scan: add_partition() sends a partition's "add" only when its
	 * disk's are not suppressed.
	 */
	dev_set_uevent_suppress(disk_to_dev(lo->disk), 0);
	if (partscan)
		aloop_reread_partitions(lo);
	kobject_uevent(&disk_to_dev(lo->disk)->kobj, KOBJ_CHANGE);
	aloop_unclaim(bdev, mode, aloop_configure);
	return 0;

out_undo:
	aloop_reset_config(lo, file);
	lo->flags = 0;
	lo->use_dio = false;
	dev_set_uevent_suppress(disk_to_dev(lo->disk), 0);
	alo_stop_workers(lo);
out_unlock:
	aloop_unlock_validate(lo);
out_unclaim:
	aloop_unclaim(bdev, mode, aloop_configure);
out_putf:
	fput(file);
	return err;
}

/*
 * Tear the backing file down.  Runs from ->release, with the disk's
 * open_mutex held, once the last opener of a device in rundown is gone.
 */
static void aloop_clear(struct aloop_device *lo)
{
	struct gendisk *disk = lo->disk;
	unsigned int memflags;
	struct file *filp;
	int err;

	lockdep_assert_held(&disk->open_mutex);
	cancel_work_sync(&lo->discard_work);
	aloop_sysfs_unbind(lo);

	/* Same order as everywhere else: lo->lock, then freeze. */
	mutex_lock(&lo->lock);
	memflags = alo_freeze(disk->queue);
	filp = lo->backing;
	aloop_hash_backing(lo, NULL);
	aloop_clear_owner(lo);
	aloop_reset_config(lo, filp);
	aloop_update_queue(lo);
	lo->dio_reason[0] = '\0';
	/*
	 * Nothing is in flight: the queue is frozen.  Quiesced too, so no
	 * ->queue_rq is still running when the workers go (it returns
	 * BLK_STS_IOERR once they are gone, as for any unbound device).
	 */
	blk_mq_quiesce_queue(disk->queue);
	alo_stop_workers(lo);
	blk_mq_unquiesce_queue(disk->queue);
	invalidate_disk(disk);
	alo_unfreeze(disk->queue, memflags);
	mutex_unlock(&lo->lock);

	set_disk_ro(disk, false);
	alo_media_changed(disk);
	kobject_uevent(&disk_to_dev(disk)->kobj, KOBJ_CHANGE);
	/*
	 * Drop every partition, scanned or added with BLKPG: capacity is 0
	 * now, so nothing is rescanned.  open_mutex is held by our caller,
	 * ->release, and nothing is open.
	 */
	err = bdev_disk_changed(disk, false);
	if (err)
		pr_warn("%s: dropping partitions failed (rc=%d)\n",
			disk->disk_name, err);

	mutex_lock(&lo->lock);
	lo->flags = 0;
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	lo->state = ALOOP_UNBOUND;
	mutex_unlock(&lo->lock);

	/* Outside lo->lock: fput may take another disk's open_mutex. */
	fput(filp);
	module_put(THIS_MODULE);
}

static int aloop_clr_fd(struct aloop_device *lo)
{
	int err;

	err = mutex_lock_killable(&lo->lock);
	if (err)
		return err;
	if (lo->state != ALOOP_BOUND) {
		mutex_unlock(&lo->lock);
		return -ENXIO;
	}
	/*
	 * Detach on last close.  If the caller is the only opener, enter
	 * rundown now so nobody new can open the device meanwhile.
	 */
	lo->flags |= LO_FLAGS_AUTOCLEAR;
	if (disk_openers(lo->disk) == 1)
		lo->state = ALOOP_RUNDOWN;
	mutex_unlock(&lo->lock);
	return 0;
}

/*
 * ALOOP_CTL_ATTACH's configure: the device was never opened by the
 * caller, so its whole disk is what is claimed while the geometry is
 * set, and the device is writable unless the file or the flags say not.
 */
int aloop_attach(struct aloop_device *lo, const struct aloop_attach *a)
{
	return aloop_configure(lo, ALO_MODE_WRITE, lo->disk->part0,
			       &a->config, a->nr_queues, a);
}

/*
 * Detach @lo now if nobody has it open, else at its last close
 * (autoclear); -EBUSY instead of the latter with @if_unused.  The disk's
 * open_mutex orders this against ->open and ->release.
 */
static int aloop_detach_unopened(struct aloop_device *lo, bool if_unused)
{
	struct gendisk *disk = lo->disk;
	bool clear = false;
	int err = 0;

	mutex_lock(&disk->open_mutex);
	mutex_lock(&lo->lock);
	if (lo->state != ALOOP_BOUND) {
		err = -ENXIO;
	} else if (disk_openers(disk)) {
		if (if_unused)
			err = -EBUSY;
		else
			lo->flags |= LO_FLAGS_AUTOCLEAR;
	} else {
		lo->state = ALOOP_RUNDOWN;
		clear = true;
	}
	mutex_unlock(&lo->lock);
	if (clear)
		aloop_clear(lo);
	mutex_unlock(&disk->open_mutex);
	return err;
}

int aloop_detach(struct aloop_device *lo, u32 flags)
{
	return aloop_detach_unopened(lo, flags & ALOOP_DETACH_IF_UNUSED);
}

/* The control file that held @lo's lease was closed. */
void aloop_end_lease(struct aloop_device *lo)
{
	int err = aloop_detach_unopened(lo, false);

	if (err && err != -ENXIO)
		pr_warn("%s: lease ended, detach failed (rc=%d)\n",
			lo->disk->disk_name, err);
}

/*
 * LOOP_SET_STATUS(64).  A new offset or sizelimit moves the data under
 * whoever has the device open, so that needs the exclusive claim (loop
 * does so since 6.19); name and flags alone do not.
 */
static int aloop_set_status(struct aloop_device *lo, alo_mode_t mode,
			    struct block_device *bdev,
			    const struct loop_info64 *info)
{
	unsigned int memflags;
	bool size_changed, partscan = false, claimed = false;
	u32 prev;
	int err;

retry:
	err = mutex_lock_killable(&lo->lock);
	if (err)
		goto out_unclaim;
	if (lo->state != ALOOP_BOUND) {
		err = -ENXIO;
		goto out_unlock;
	}
	err = aloop_check_info(info);
	if (err)
		goto out_unlock;
	err = -EINVAL;
	if (lo->no_partscan && (info->lo_flags & LO_FLAGS_PARTSCAN))
		goto out_unlock;
	err = 0;

	size_changed = lo->offset != info->lo_offset ||
		       lo->sizelimit != info->lo_sizelimit;
	if (size_changed && !claimed) {
		mutex_unlock(&lo->lock);
		err = aloop_claim(bdev, mode, aloop_set_status);
		if (err)
			return err;
		claimed = true;
		goto retry;
	}
	if (size_changed) {
		/*
		 * The whole disk's cache, not only the node the ioctl came
		 * in on (a partition's): all of it moves with the offset.
		 */
		sync_blockdev(lo->disk->part0);
		invalidate_bdev(lo->disk->part0);
		aloop_sync_backing(lo->backing);
	}

	memflags = alo_freeze(lo->disk->queue);
	prev = lo->flags;
	lo->offset = info->lo_offset;
	lo->sizelimit = info->lo_sizelimit;
	memcpy(lo->file_name, info->lo_file_name, LO_NAME_SIZE);
	lo->file_name[LO_NAME_SIZE - 1] = '\0';
	/* Only AUTOCLEAR and PARTSCAN may change, and only AUTOCLEAR clear. */
	lo->flags = (info->lo_flags & ALOOP_STATUS_SETTABLE) |
		    (prev & ~ALOOP_STATUS_SETTABLE) |
		    (prev & ~ALOOP_STATUS_CLEARABLE);
	if (size_changed)
		err = aloop_update_queue(lo);
	alo_unfreeze(lo->disk->queue, memflags);
	/* Not under the freeze: this allocates and sends a uevent. */
	if (size_changed)
		aloop_set_size(lo);

	if (!err && (lo->flags & LO_FLAGS_PARTSCAN) &&
	    !(prev & LO_FLAGS_PARTSCAN)) {
		clear_bit(GD_SUPPRESS_PART_SCAN, &lo->disk->state);
		partscan = true;
	}
out_unlock:
	mutex_unlock(&lo->lock);
	if (partscan)
		aloop_reread_partitions(lo);
out_unclaim:
	if (claimed)
		aloop_unclaim(bdev, mode, aloop_set_status);
	return err;
}

static int aloop_get_status(struct aloop_device *lo, struct loop_info64 *info)
{
	struct path path;
	struct kstat stat;
	int ret;

	ret = mutex_lock_killable(&lo->lock);
	if (ret)
		return ret;
	if (lo->state != ALOOP_BOUND) {
		mutex_unlock(&lo->lock);
		return -ENXIO;
	}
	memset(info, 0, sizeof(*info));
	info->lo_number = lo->number;
	info->lo_offset = lo->offset;
	info->lo_sizelimit = lo->sizelimit;
	info->lo_flags = lo->flags;
	memcpy(info->lo_file_name, lo->file_name, LO_NAME_SIZE);
	path = lo->backing->f_path;
	path_get(&path);
	mutex_unlock(&lo->lock);

	/* Not under lo->lock: this calls into the backing filesystem. */
	ret = vfs_getattr(&path, &stat, STATX_INO, AT_STATX_SYNC_AS_STAT);
	if (!ret) {
		info->lo_device = huge_encode_dev(stat.dev);
		info->lo_inode = stat.ino;
		info->lo_rdevice = huge_encode_dev(stat.rdev);
	}
	path_put(&path);
	return ret;
}

static void aloop_info_from_old(const struct loop_info *info,
				struct loop_info64 *info64)
{
	memset(info64, 0, sizeof(*info64));
	info64->lo_number = info->lo_number;
	info64->lo_device = info->lo_device;
	info64->lo_inode = info->lo_inode;
	info64->lo_rdevice = info->lo_rdevice;
	info64->lo_offset = info->lo_offset;
	info64->lo_flags = info->lo_flags;
	memcpy(info64->lo_file_name, info->lo_name, LO_NAME_SIZE);
	/* As loop: the old ABI's encryption fields are ignored, not refused. */
}

static int aloop_info_to_old(const struct loop_info64 *info64,
			     struct loop_info *info)
{
	memset(info, 0, sizeof(*info));
	info->lo_number = info64->lo_number;
	info->lo_device = info64->lo_device;
	info->lo_inode = info64->lo_inode;
	info->lo_rdevice = info64->lo_rdevice;
	info->lo_offset = info64->lo_offset;
	info->lo_encrypt_type = info64->lo_encrypt_type;
	info->lo_encrypt_key_size = info64->lo_encrypt_key_size;
	info->lo_flags = info64->lo_flags;
	info->lo_init[0] = info64->lo_init[0];
	info->lo_init[1] = info64->lo_init[1];
	memcpy(info->lo_name, info64->lo_file_name, LO_NAME_SIZE);
	memcpy(info->lo_encrypt_key, info64->lo_encrypt_key, LO_KEY_SIZE);

	/* Values that did not fit. */
	if (info->lo_device != info64->lo_device ||
	    info->lo_rdevice != info64->lo_rdevice ||
	    info->lo_inode != info64->lo_inode ||
	    info->lo_offset != info64->lo_offset)
		return -EOVERFLOW;
	return 0;
}

static int aloop_set_capacity(struct aloop_device *lo)
{
	lockdep_assert_held(&lo->lock);
	if (lo->state != ALOOP_BOUND)
		return -ENXIO;
	aloop_set_size(lo);
	return 0;
}

static int aloop_set_dio(struct aloop_device *lo, unsigned long arg)
{
	bool wanted = lo->dio_wanted, off_by_user = lo->dio_off_by_user;
	unsigned int memflags;
	int err;

	lockdep_assert_held(&lo->lock);
	if (lo->state != ALOOP_BOUND)
		return -ENXIO;
	if (arg)
		aloop_sync_backing(lo->backing);
	memflags = alo_freeze(lo->disk->queue);
	lo->dio_wanted = !!arg;
	lo->dio_off_by_user = !arg;
	err = aloop_update_queue(lo);
	if (!err && lo->use_dio != !!arg) {
		/*
		 * Refused (loop's EINVAL): forget the request, as loop does.
		 * dio stays off and dio_reason still names the obstacle,
		 * which aloop_dio_allowed() reports before "not wanted".
		 */
		lo->dio_wanted = wanted;
		lo->dio_off_by_user = off_by_user;
		aloop_update_queue(lo);
		err = -EINVAL;
	}
	alo_unfreeze(lo->disk->queue, memflags);
	return err;
}

/*
 * LOOP_SET_BLOCK_SIZE: under the exclusive claim, as loop (a mounted
 * filesystem would lose its journal to the new block size).
 */
static int aloop_set_block_size(struct aloop_device *lo, alo_mode_t mode,
				struct block_device *bdev, unsigned long arg)
{
	unsigned int memflags;
	unsigned int old;
	int err;

	err = aloop_claim(bdev, mode, aloop_set_block_size);
	if (err)
		return err;
	err = mutex_lock_killable(&lo->lock);
	if (err)
		goto out_unclaim;
	err = -ENXIO;
	if (lo->state != ALOOP_BOUND)
		goto out_unlock;
	err = blk_validate_block_size(arg);
	if (err || lo->block_size == arg)
		goto out_unlock;

	sync_blockdev(lo->disk->part0);
	invalidate_bdev(lo->disk->part0);
	aloop_sync_backing(lo->backing);
	memflags = alo_freeze(lo->disk->queue);
	old = lo->block_size;
	lo->block_size = arg;
	err = aloop_update_queue(lo);
	if (err) {
		lo->block_size = old;
		aloop_update_queue(lo);
	}
	alo_unfreeze(lo->disk->queue, memflags);
	if (!err)
		aloop_set_size(lo);
out_unlock:
	mutex_unlock(&lo->lock);
out_unclaim:
	aloop_unclaim(bdev, mode, aloop_set_block_size);
	return err;
}

static int aloop_change_fd(struct aloop_device *lo, struct block_device *bdev,
			   unsigned int fd)
{
	struct file *file, *old_file;
	struct aloop_dio_align align;
	unsigned int memflags;
	int err;

	file = fget(fd);
	if (!file)
		return -EBADF;
	/* Calls into the new backing's filesystem: before any lock. */
	aloop_probe_dio_align(file, &align);
	err = aloop_lock_validate(lo);
	if (err)
		goto out_putf;

	err = -ENXIO;
	if (lo->state != ALOOP_BOUND)
		goto out_unlock;
	/* Only a read-only device may change its backing file... */
	err = -EINVAL;
	if (!(lo->flags & LO_FLAGS_READ_ONLY))
		goto out_unlock;
	err = aloop_validate_file(file, bdev, true);
	if (err)
		goto out_unlock;
	/* ... and only for one of the same size. */
	err = -EINVAL;
	old_file = lo->backing;
	if (aloop_backing_sectors(file, lo->offset, lo->sizelimit) !=
	    aloop_backing_sectors(old_file, lo->offset, lo->sizelimit))
		goto out_unlock;

	alo_media_changed(lo->disk);
	memflags = alo_freeze(lo->disk->queue);
	mapping_set_gfp_mask(old_file->f_mapping, lo->old_gfp_mask);
	spin_lock(&lo->backing_lock);
	lo->backing = file;
	spin_unlock(&lo->backing_lock);
	aloop_hash_backing(lo, file);
	lo->old_gfp_mask = mapping_gfp_mask(file->f_mapping);
	mapping_set_gfp_mask(file->f_mapping,
			     lo->old_gfp_mask & ~(__GFP_IO | __GFP_FS));
	aloop_set_dio_align(lo, &align);
	aloop_update_queue(lo);
	alo_unfreeze(lo->disk->queue, memflags);
	aloop_unlock_validate(lo);

	fput(old_file);
	/*
	 * New media: every partition goes, those added with BLKPG too
	 * (stock loop keeps them, describing the old file), and a device
	 * with partscan scans the new one.  Without partscan the scan is
	 * suppressed, so this only drops.  -EBUSY while one is mounted.
	 */
	aloop_reread_partitions(lo);
	return 0;

out_unlock:
	aloop_unlock_validate(lo);
out_putf:
	fput(file);
	return err;
}

static void aloop_fill_info(struct aloop_device *lo, struct aloop_info *info)
{
	char *buf, *p;

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->number = lo->number;
	info->state = lo->state == ALOOP_BOUND ? ALOOP_STATE_BOUND :
		      lo->state == ALOOP_RUNDOWN ? ALOOP_STATE_RUNDOWN :
		      ALOOP_STATE_UNBOUND;
	info->flags = lo->flags;
	info->offset = lo->offset;
	info->sizelimit = lo->sizelimit;
	info->size_bytes = (u64)get_capacity(lo->disk) << SECTOR_SHIFT;
	info->block_size = lo->block_size;
	info->dio = lo->use_dio;
	info->reqs_dio = atomic64_read(&lo->reqs_dio);
	info->reqs_buffered = atomic64_read(&lo->reqs_buffered);
	info->reqs_fallback = atomic64_read(&lo->reqs_fallback);
	info->errors = atomic64_read(&lo->errors);
	info->nr_queues = lo->queues ? lo->nr_queues : 0;
	info->reqs_cgroup = atomic64_read(&lo->reqs_cgroup);
	info->wakeups = atomic64_read(&lo->wakeups);
	info->reqs_nowait = atomic64_read(&lo->reqs_nowait);
	info->reqs_worker = atomic64_read(&lo->reqs_worker);
	info->nowait_again = atomic64_read(&lo->nowait_again);
	info->batches = atomic64_read(&lo->batches);
	info->reqs_helper = atomic64_read(&lo->reqs_helper);
	strscpy(info->dio_reason, lo->dio_reason, sizeof(info->dio_reason));
	if (!lo->backing)
		return;
	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return;
	p = file_path(lo->backing, buf, PATH_MAX);
	if (!IS_ERR(p))
		strscpy(info->backing_file, p, sizeof(info->backing_file));
	kfree(buf);
}

static int aloop_get_info(struct aloop_device *lo, void __user *argp)
{
	struct aloop_info *info;
	int err;

	info = kmalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	err = mutex_lock_killable(&lo->lock);
	if (err)
		goto out_free;
	aloop_fill_info(lo, info);
	mutex_unlock(&lo->lock);
	err = copy_to_user(argp, info, sizeof(*info)) ? -EFAULT : 0;
out_free:
	kfree(info);
	return err;
}

/* The ioctls that only need lo->lock. */
static int aloop_simple_ioctl(struct aloop_device *lo, unsigned int cmd,
			      unsigned long arg)
{
	int err;

	err = mutex_lock_killable(&lo->lock);
	if (err)
		return err;
	switch (cmd) {
	case LOOP_SET_CAPACITY:
		err = aloop_set_capacity(lo);
		break;
	case LOOP_SET_DIRECT_IO:
		err = aloop_set_dio(lo, arg);
		break;
	default:
		err = -EINVAL;
	}
	mutex_unlock(&lo->lock);
	return err;
}

/* ALOOP_CONFIGURE: LOOP_CONFIGURE plus aloop's own settings. */
static int aloop_configure_ext(struct aloop_device *lo, alo_mode_t mode,
			       struct block_device *bdev,
			       struct aloop_config __user *argp)
{
	struct aloop_config *c;
	int err;

	c = memdup_user(argp, sizeof(*c));
	if (IS_ERR(c))
		return PTR_ERR(c);
	err = -EINVAL;
	if (c->size != sizeof(*c) || c->nr_queues > ALOOP_MAX_QUEUES ||
	    memchr_inv(c->reserved, 0, sizeof(c->reserved)))
		goto out_free;
	err = aloop_configure(lo, mode, bdev, &c->config, c->nr_queues, NULL);
out_free:
	kfree(c);
	return err;
}

static int aloop_ioctl(struct block_device *bdev, alo_mode_t mode, unsigned int cmd,
		unsigned long arg)
{
	struct aloop_device *lo = bdev->bd_disk->private_data;
	void __user *argp = (void __user *)arg;
	struct loop_config config;
	struct loop_info64 info64;
	struct loop_info info;
	int err;

	switch (cmd) {
	case LOOP_SET_FD:
		/* Legacy: LOOP_CONFIGURE with only the fd set. */
		memset(&config, 0, sizeof(config));
		config.fd = arg;
		return aloop_configure(lo, mode, bdev, &config, 0, NULL);
	case LOOP_CONFIGURE:
		if (copy_from_user(&config, argp, sizeof(config)))
			return -EFAULT;
		return aloop_configure(lo, mode, bdev, &config, 0, NULL);
	case ALOOP_CONFIGURE:
		return aloop_configure_ext(lo, mode, bdev, argp);
	case LOOP_CHANGE_FD:
		return aloop_change_fd(lo, bdev, arg);
	case LOOP_CLR_FD:
		return aloop_clr_fd(lo);
	case LOOP_SET_STATUS:
		if (!(mode & ALO_MODE_WRITE) && !capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (copy_from_user(&info, argp, sizeof(info)))
			return -EFAULT;
		aloop_info_from_old(&info, &info64);
		return aloop_set_status(lo, mode, bdev, &info64);
	case LOOP_GET_STATUS:
		if (!argp)
			return -EINVAL;
		err = aloop_get_status(lo, &info64);
		if (!err)
			err = aloop_info_to_old(&info64, &info);
		if (!err && copy_to_user(argp, &info, sizeof(info)))
			err = -EFAULT;
		return err;
	case LOOP_SET_STATUS64:
		if (!(mode & ALO_MODE_WRITE) && !capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (copy_from_user(&info64, argp, sizeof(info64)))
			return -EFAULT;
		return aloop_set_status(lo, mode, bdev, &info64);
	case LOOP_GET_STATUS64:
		if (!argp)
			return -EINVAL;
		err = aloop_get_status(lo, &info64);
		if (!err && copy_to_user(argp, &info64, sizeof(info64)))
			err = -EFAULT;
		return err;
	case ALOOP_GET_INFO:
		return aloop_get_info(lo, argp);
	case LOOP_SET_BLOCK_SIZE:
		if (!(mode & ALO_MODE_WRITE) && !capable(CAP_SYS_ADMIN))
			return -EPERM;
		return aloop_set_block_size(lo, mode, bdev, arg);
	case LOOP_SET_CAPACITY:
	case LOOP_SET_DIRECT_IO:
		if (!(mode & ALO_MODE_WRITE) && !capable(CAP_SYS_ADMIN))
			return -EPERM;
		fallthrough;
	default:
		return aloop_simple_ioctl(lo, cmd, arg);
	}
}

#ifdef CONFIG_COMPAT
/* struct loop_info as a 32-bit program lays it out. */
struct compat_loop_info {
	compat_int_t	lo_number;
	compat_dev_t	lo_device;
	compat_ulong_t	lo_inode;
	compat_dev_t	lo_rdevice;
	compat_int_t	lo_offset;
	compat_int_t	lo_encrypt_type;
	compat_int_t	lo_encrypt_key_size;
	compat_int_t	lo_flags;
	char		lo_name[LO_NAME_SIZE];
	unsigned char	lo_encrypt_key[LO_KEY_SIZE];
	compat_ulong_t	lo_init[2];
	char		reserved[4];
};

static int aloop_compat_set_status(struct aloop_device *lo, alo_mode_t mode,
				   struct block_device *bdev,
				   const struct compat_loop_info __user *arg)
{
	struct compat_loop_info ci;
	struct loop_info64 info64;

	if (copy_from_user(&ci, arg, sizeof(ci)))
		return -EFAULT;
	memset(&info64, 0, sizeof(info64));
	info64.lo_number = ci.lo_number;
	info64.lo_device = ci.lo_device;
	info64.lo_inode = ci.lo_inode;
	info64.lo_rdevice = ci.lo_rdevice;
	info64.lo_offset = ci.lo_offset;
	info64.lo_flags = ci.lo_flags;
	memcpy(info64.lo_file_name, ci.lo_name, LO_NAME_SIZE);
	/* As loop: the encryption fields are ignored, not refused. */
	return aloop_set_status(lo, mode, bdev, &info64);
}

static int aloop_compat_get_status(struct aloop_device *lo,
				   struct compat_loop_info __user *arg)
{
	struct compat_loop_info ci;
	struct loop_info64 info64;
	int err;

	if (!arg)
		return -EINVAL;
	err = aloop_get_status(lo, &info64);
	if (err)
		return err;
	memset(&ci, 0, sizeof(ci));
	ci.lo_number = info64.lo_number;
	ci.lo_device = info64.lo_device;
	ci.lo_inode = info64.lo_inode;
	ci.lo_rdevice = info64.lo_rdevice;
	ci.lo_offset = info64.lo_offset;
	ci.lo_encrypt_type = info64.lo_encrypt_type;
	ci.lo_encrypt_key_size = info64.lo_encrypt_key_size;
	ci.lo_flags = info64.lo_flags;
	ci.lo_init[0] = info64.lo_init[0];
	ci.lo_init[1] = info64.lo_init[1];
	memcpy(ci.lo_name, info64.lo_file_name, LO_NAME_SIZE);
	memcpy(ci.lo_encrypt_key, info64.lo_encrypt_key, LO_KEY_SIZE);
	if (ci.lo_device != info64.lo_device ||
	    ci.lo_rdevice != info64.lo_rdevice ||
	    ci.lo_inode != info64.lo_inode ||
	    ci.lo_offset != info64.lo_offset ||
	    ci.lo_init[0] != info64.lo_init[0] ||
	    ci.lo_init[1] != info64.lo_init[1])
		return -EOVERFLOW;
	return copy_to_user(arg, &ci, sizeof(ci)) ? -EFAULT : 0;
}

static int aloop_compat_ioctl(struct block_device *bdev, alo_mode_t mode,
		       unsigned int cmd, unsigned long arg)
{
	struct aloop_device *lo = bdev->bd_disk->private_data;

	switch (cmd) {
	case LOOP_SET_STATUS:
		if (!(mode & ALO_MODE_WRITE) && !capable(CAP_SYS_ADMIN))
			return -EPERM;
		return aloop_compat_set_status(lo, mode, bdev, compat_ptr(arg));
	case LOOP_GET_STATUS:
		return aloop_compat_get_status(lo, compat_ptr(arg));
	case LOOP_SET_CAPACITY:
	case LOOP_CLR_FD:
	case LOOP_GET_STATUS64:
	case LOOP_SET_STATUS64:
	case LOOP_CONFIGURE:
	case ALOOP_CONFIGURE:
	case ALOOP_GET_INFO:
		arg = (unsigned long)compat_ptr(arg);
		fallthrough;
	case LOOP_SET_FD:
	case LOOP_CHANGE_FD:
	case LOOP_SET_BLOCK_SIZE:
	case LOOP_SET_DIRECT_IO:
		return aloop_ioctl(bdev, mode, cmd, arg);
	default:
		return -ENOIOCTLCMD;
	}
}
#endif

static int aloop_open_disk(struct gendisk *disk, alo_mode_t mode)
{
	struct aloop_device *lo = disk->private_data;
	int err;

	err = mutex_lock_killable(&lo->lock);
	if (err)
		return err;
	if (lo->state == ALOOP_DELETING || lo->state == ALOOP_RUNDOWN)
		err = -ENXIO;
	mutex_unlock(&lo->lock);
	return err;
}

static void aloop_release_disk(struct gendisk *disk)
{
	struct aloop_device *lo = disk->private_data;
	bool clear;

	if (disk_openers(disk) > 0)
		return;
	mutex_lock(&lo->lock);
	if (lo->state == ALOOP_BOUND && (lo->flags & LO_FLAGS_AUTOCLEAR))
		lo->state = ALOOP_RUNDOWN;
	clear = lo->state == ALOOP_RUNDOWN;
	mutex_unlock(&lo->lock);
	if (clear)
		aloop_clear(lo);
}

static void aloop_free_disk(struct gendisk *disk)
{
	struct aloop_device *lo = disk->private_data;

	mutex_destroy(&lo->lock);
	kfree(lo);
}

ALO_DEFINE_OPEN_RELEASE(aloop_open_disk, aloop_release_disk)

const struct block_device_operations aloop_fops = {
	.owner		= THIS_MODULE,
	ALO_FOPS_OPEN_RELEASE(aloop_open_disk, aloop_release_disk),
	.ioctl		= aloop_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= aloop_compat_ioctl,
#endif
	.free_disk	= aloop_free_disk,
};
