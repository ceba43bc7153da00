/* SPDX-License-Identifier: GPL-2.0 */
/*
 * aloop - the one place where kernel API differences live.
 *
 * Each shim names the kernel release that changed the API.  The choice is
 * made by Kbuild-time probes (scripts/probes/, result in aloop_probes.h);
 * where no compile test can tell, a version probe there decides (its
 * comment says why), so no kernel version number appears here.  An API
 * shape we do not know is a #error, never a guess.
 */
#ifndef ALOOP_COMPAT_H
#define ALOOP_COMPAT_H

#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#include "aloop_probes.h"

/* The oldest supported kernel: 6.1 (Debian 12), scripts/probes/min_kernel.c. */
#if !defined(ALOOP_HAVE_MIN_KERNEL)
#error "aloop supports Linux 6.1 and later: these kernel headers are older"
#endif

/*
 * Queue limits as the driver wants them (the policy is the caller's);
 * set at allocation by alo_alloc_disk(), later by alo_apply_limits().
 */
struct alo_limits {
	unsigned int	lbs;			/* logical = physical = io_min */
	unsigned int	dma_alignment;		/* mask */
	unsigned int	max_discard_sectors;	/* 0: no discard */
	unsigned int	max_write_zeroes_sectors;
	unsigned int	discard_granularity;
	bool		write_cache;
	bool		fua;
	bool		rotational;
	bool		stable_writes;
	unsigned int	max_hw_sectors;		/* only at allocation */
};

/*
 * Before 6.11 write cache, rotational and stable writes were queue flags
 * (6.11 moved them into queue_limits.features).
 */
#if !defined(ALOOP_HAVE_BLK_FEATURES)
static inline void alo_apply_queue_flags(struct request_queue *q,
					 const struct alo_limits *l)
{
	blk_queue_write_cache(q, l->write_cache, l->fua);
	if (l->rotational)
		blk_queue_flag_clear(QUEUE_FLAG_NONROT, q);
	else
		blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	if (l->stable_writes)
		blk_queue_flag_set(QUEUE_FLAG_STABLE_WRITES, q);
	else
		blk_queue_flag_clear(QUEUE_FLAG_STABLE_WRITES, q);
}
#endif

/*
 * 6.9 made blk_mq_alloc_disk() take the initial queue_limits and added
 * queue_limits_start_update()/queue_limits_commit_update(); before, each
 * limit had its own setter.  6.11 moved write cache and FUA into
 * queue_limits.features.  Callers freeze the queue around updates.
 */
#if defined(ALOOP_HAVE_ALLOC_DISK_LIMITS)
static inline struct gendisk *alo_alloc_disk(struct blk_mq_tag_set *set,
					     const struct alo_limits *l,
					     void *data)
{
	struct queue_limits lim = {
		.logical_block_size	= l->lbs,
		.physical_block_size	= l->lbs,
		.io_min			= l->lbs,
		.max_hw_sectors		= l->max_hw_sectors,
	};

	return blk_mq_alloc_disk(set, &lim, data);
}

static inline int alo_apply_limits(struct request_queue *q,
				   const struct alo_limits *l)
{
	struct queue_limits lim = queue_limits_start_update(q);
	int ret;

	lim.logical_block_size = l->lbs;
	lim.physical_block_size = l->lbs;
	lim.io_min = l->lbs;
	lim.dma_alignment = l->dma_alignment;
	lim.max_hw_discard_sectors = l->max_discard_sectors;
	lim.max_write_zeroes_sectors = l->max_write_zeroes_sectors;
	lim.discard_granularity = l->discard_granularity;
#if defined(ALOOP_HAVE_BLK_FEATURES)
	lim.features &= ~(BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA |
			  BLK_FEAT_ROTATIONAL | BLK_FEAT_STABLE_WRITES);
	if (l->write_cache)
		lim.features |= BLK_FEAT_WRITE_CACHE;
	if (l->write_cache && l->fua)
		lim.features |= BLK_FEAT_FUA;
	if (l->rotational)
		lim.features |= BLK_FEAT_ROTATIONAL;
	if (l->stable_writes)
		lim.features |= BLK_FEAT_STABLE_WRITES;
	ret = queue_limits_commit_update(q, &lim);
#else
	ret = queue_limits_commit_update(q, &lim);
	alo_apply_queue_flags(q, l);
#endif
	return ret;
}
#elif defined(ALOOP_HAVE_ALLOC_DISK_NOLIMITS)
static inline struct gendisk *alo_alloc_disk(struct blk_mq_tag_set *set,
					     const struct alo_limits *l,
					     void *data)
{
	struct gendisk *disk = blk_mq_alloc_disk(set, data);

	if (!IS_ERR(disk)) {
		blk_queue_logical_block_size(disk->queue, l->lbs);
		blk_queue_physical_block_size(disk->queue, l->lbs);
		blk_queue_io_min(disk->queue, l->lbs);
		blk_queue_max_hw_sectors(disk->queue, l->max_hw_sectors);
	}
	return disk;
}

static inline int alo_apply_limits(struct request_queue *q,
				   const struct alo_limits *l)
{
	blk_queue_logical_block_size(q, l->lbs);
	blk_queue_physical_block_size(q, l->lbs);
	blk_queue_io_min(q, l->lbs);
	blk_queue_dma_alignment(q, l->dma_alignment);
	blk_queue_max_discard_sectors(q, l->max_discard_sectors);
	blk_queue_max_write_zeroes_sectors(q, l->max_write_zeroes_sectors);
	q->limits.discard_granularity = l->discard_granularity;
	alo_apply_queue_flags(q, l);
	return 0;
}
#else
#error "aloop: unknown blk_mq_alloc_disk()/queue limits API"
#endif

/*
 * 6.5: ->open takes (struct gendisk *, blk_mode_t), ->release only the
 * gendisk, and the open mode became blk_mode_t with BLK_OPEN_WRITE.
 * The driver implements the new shape; ALO_FOPS_OPEN_RELEASE() wires it.
 */
#if defined(ALOOP_HAVE_OPEN_GENDISK)
#define alo_mode_t	blk_mode_t
#define ALO_MODE_WRITE	BLK_OPEN_WRITE
#define ALO_MODE_EXCL	BLK_OPEN_EXCL
#define ALO_FOPS_OPEN_RELEASE(o, r)	.open = o, .release = r
#define ALO_DEFINE_OPEN_RELEASE(o, r)
#elif defined(ALOOP_HAVE_OPEN_BDEV)
#define alo_mode_t	fmode_t
#define ALO_MODE_WRITE	FMODE_WRITE
#define ALO_MODE_EXCL	FMODE_EXCL
#define ALO_FOPS_OPEN_RELEASE(o, r)	.open = o##_bdev, .release = r##_mode
#define ALO_DEFINE_OPEN_RELEASE(o, r)					\
static int o##_bdev(struct block_device *bdev, fmode_t mode)		\
{									\
	return o(bdev->bd_disk, mode);					\
}									\
static void r##_mode(struct gendisk *disk, fmode_t mode)		\
{									\
	r(disk);							\
}
#else
#error "aloop: unknown block_device_operations ->open/->release shape"
#endif

/*
 * 6.15: blk_mq_freeze_queue() returns memflags for the unfreeze and holds
 * a NOIO scope while frozen, so that no allocation under the freeze can
 * recurse into reclaim that writes to (and waits on) the frozen queue.
 * Before, the same scope is taken here.
 */
#if defined(ALOOP_HAVE_FREEZE_MEMFLAGS)
static inline unsigned int alo_freeze(struct request_queue *q)
{
	return blk_mq_freeze_queue(q);
}

static inline void alo_unfreeze(struct request_queue *q, unsigned int memflags)
{
	blk_mq_unfreeze_queue(q, memflags);
}
#else
static inline unsigned int alo_freeze(struct request_queue *q)
{
	blk_mq_freeze_queue(q);
	return memalloc_noio_save();
}

static inline void alo_unfreeze(struct request_queue *q, unsigned int memflags)
{
	memalloc_noio_restore(memflags);
	blk_mq_unfreeze_queue(q);
}
#endif

/* 6.14 made merging the default and removed BLK_MQ_F_SHOULD_MERGE. */
#if defined(ALOOP_HAVE_SHOULD_MERGE)
#define ALO_MQ_F_MERGE	BLK_MQ_F_SHOULD_MERGE
#else
#define ALO_MQ_F_MERGE	0
#endif

/* 6.6: disk_force_media_change() lost its events argument. */
#if defined(ALOOP_HAVE_MEDIA_CHANGE_NOEVENTS)
static inline void alo_media_changed(struct gendisk *disk)
{
	disk_force_media_change(disk);
}
#elif defined(ALOOP_HAVE_MEDIA_CHANGE_EVENTS)
static inline void alo_media_changed(struct gendisk *disk)
{
	disk_force_media_change(disk, DISK_EVENT_MEDIA_CHANGE);
}
#else
#error "aloop: unknown disk_force_media_change() shape"
#endif

/* Offset into the current bio_vec: bi_bvec_done, renamed bi_offset in 7.x. */
#if defined(ALOOP_HAVE_BVEC_ITER_BI_OFFSET)
static inline unsigned int alo_bvec_iter_offset(const struct bvec_iter *it)
{
	return it->bi_offset;
}
#elif defined(ALOOP_HAVE_BVEC_ITER_BI_BVEC_DONE)
static inline unsigned int alo_bvec_iter_offset(const struct bvec_iter *it)
{
	return it->bi_bvec_done;
}
#else
#error "aloop: unknown struct bvec_iter layout"
#endif

/*
 * Whether a file can do O_DIRECT: 6.0 made it FMODE_CAN_ODIRECT, set by
 * the filesystem's ->open; before, a_ops->direct_IO (older than our 6.1
 * floor, so not carried).
 */
#if defined(ALOOP_HAVE_FMODE_CAN_ODIRECT)
static inline bool alo_file_can_odirect(const struct file *file)
{
	return file->f_mode & FMODE_CAN_ODIRECT;
}
#else
#error "aloop: unknown way of telling O_DIRECT support (no FMODE_CAN_ODIRECT)"
#endif

/* Whether a block device rotates: bdev_nonrot() became bdev_rot() in 7.x. */
#if defined(ALOOP_HAVE_BDEV_ROT)
static inline bool alo_bdev_rotational(struct block_device *bdev)
{
	return bdev_rot(bdev);
}
#elif defined(ALOOP_HAVE_BDEV_NONROT)
static inline bool alo_bdev_rotational(struct block_device *bdev)
{
	return !bdev_nonrot(bdev);
}
#else
#error "aloop: unknown bdev_nonrot()/bdev_rot() shape"
#endif

/* 6.5 gave bd_prepare_to_claim() a third argument, the holder ops. */
#if defined(ALOOP_HAVE_BD_CLAIM_HOPS)
static inline int alo_prepare_to_claim(struct block_device *bdev, void *holder)
{
	return bd_prepare_to_claim(bdev, holder, NULL);
}
#elif defined(ALOOP_HAVE_BD_CLAIM_NOHOPS)
static inline int alo_prepare_to_claim(struct block_device *bdev, void *holder)
{
	return bd_prepare_to_claim(bdev, holder);
}
#else
#error "aloop: unknown bd_prepare_to_claim() shape"
#endif

/*
 * 5.11: __register_blkdev() takes a probe called when a missing minor is
 * opened (with CONFIG_BLOCK_LEGACY_AUTOLOAD), as loop uses it.
 */
#if !defined(ALOOP_HAVE_REGISTER_BLKDEV_PROBE)
#error "aloop: unknown __register_blkdev() shape"
#endif

/*
 * 6.9: a block device opened as a struct file, bdev_file_open_by_dev():
 * ALOOP_CTL_ATTACH can hand its caller an open fd of the new device
 * (ALOOP_ATTACH_FD).  Before 6.9 a driver has no way to make one, so
 * the flag is refused (EOPNOTSUPP) and ALOOP_FEAT_ATTACH_FD not offered.
 */
#if defined(ALOOP_HAVE_BDEV_FILE_OPEN)
#define ALO_HAVE_DISK_FILE	true
static inline struct file *alo_open_disk_file(struct gendisk *disk,
					      bool write)
{
	struct file *file;

	file = bdev_file_open_by_dev(disk_devt(disk), BLK_OPEN_READ |
				     (write ? BLK_OPEN_WRITE : 0), NULL, NULL);
	/* for userspace: lseek, pread, pwrite, as do_dentry_open() gives */
	if (!IS_ERR(file))
		file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	return file;
}
#else
#define ALO_HAVE_DISK_FILE	false
static inline struct file *alo_open_disk_file(struct gendisk *disk,
					      bool write)
{
	return ERR_PTR(-EOPNOTSUPP);
}
#endif

#endif /* ALOOP_COMPAT_H */
