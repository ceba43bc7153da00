/* SPDX-License-Identifier: GPL-2.0 */
/*
 * aloop - alternate loop block driver: private definitions.
 *
 * Locking; each lock is taken before the ones below it that it meets:
 *  aloop_ctl_mutex        the device registry (idr) and visibility
 *  aloop_validate_mutex   configure/change-fd's walk of a chain of aloop
 *                         devices (aloop on aloop), then lo->lock
 *  disk->open_mutex       held by the block layer around ->open/->release;
 *                         the backing file is torn down from ->release,
 *                         which then takes lo->lock
 *  lo->lock               configuration and state of one device
 *  queue freeze           taken under lo->lock, never the other way round:
 *                         every change to what a request sees (backing
 *                         file, dio, offset, block size) freezes the queue
 * and the spinlocks, innermost, never held across a sleep:
 *  lo->backing_lock       lo->backing for chain walkers without lo->lock
 *  lo->lane_lock          the cgroup lanes (aloop_io.c)
 *  aq->lock               one hardware queue's list and its worker's state
 * Requests only run while the queue is not frozen.
 */
#ifndef ALOOP_H
#define ALOOP_H

#include <linux/blk-mq.h>
#include <linux/hashtable.h>
#include <linux/kthread.h>
#include <linux/loop.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <uapi/linux/aloop.h>
#include "aloop_compat.h"

/* every message starts with "aloop: " (each .c includes this file) */
#undef pr_fmt
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#define ALOOP_NAME		"aloop"
#define ALOOP_CONFIGURE_FLAGS	(LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | \
				 LO_FLAGS_PARTSCAN | LO_FLAGS_DIRECT_IO)
#define ALOOP_STATUS_SETTABLE	(LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN)
#define ALOOP_STATUS_CLEARABLE	(LO_FLAGS_AUTOCLEAR)

enum aloop_state {
	ALOOP_UNBOUND,
	ALOOP_BOUND,
	ALOOP_RUNDOWN,
	ALOOP_DELETING,
};

struct aloop_device {
	int			number;
	bool			visible;	/* under aloop_ctl_mutex */
	bool			attaching;	/* ALOOP_CTL_ATTACH has it (ditto) */
	struct file		*lease;		/* control file it detaches with (ditto) */
	enum aloop_state	state;
	struct mutex		lock;

	struct file		*backing;	/* changes under backing_lock too */
	spinlock_t		backing_lock;	/* for chain walkers */
	loff_t			offset;
	loff_t			sizelimit;
	u32			flags;		/* LO_FLAGS_* */
	bool			no_partscan;	/* ALOOP_ATTACH_NO_PARTSCAN */
	bool			loop_sysfs;	/* loop/ group added (loop_compat) */
	unsigned int		block_size;
	char			file_name[LO_NAME_SIZE];
	gfp_t			old_gfp_mask;
	/* The backing file's inode in aloop_backing_hash (aloop_dev.c). */
	struct inode		*backing_inode;
	struct hlist_node	backing_node;

	/* Who attached it (set by every configure, under lo->lock). */
	char			owner[ALOOP_OWNER_SIZE];
	pid_t			owner_pid;	/* in the init pid namespace */
	struct cgroup		*owner_cgrp;	/* referenced while bound */
	time64_t		attach_time;	/* seconds since the epoch */

	bool			use_dio;	/* effective */
	bool			dio_wanted;	/* asked for, or dio=Y */
	bool			dio_off_by_user;
	unsigned int		dio_align;	/* backing file DIO alignment */
	unsigned int		dio_mem_align;
	char			dio_reason[ALOOP_REASON_SIZE];
	bool			no_discard;	/* backing said EOPNOTSUPP */
	bool			no_write_zeroes;
	struct work_struct	discard_work;

	/* Dispatch: a kernel thread per hardware queue (aloop_io.c). */
	struct alo_queue	*queues;	/* nr_queues, while bound */
	unsigned int		nr_queues;
	/* Requests of non-root blkcgs: one lane per cgroup (aloop_io.c). */
	spinlock_t		lane_lock;
	struct list_head	lanes;		/* every lane, for the reaper */
	DECLARE_HASHTABLE(lane_hash, 6);	/* the same, by blkcg css */
	struct delayed_work	lane_reaper;

	struct blk_mq_tag_set	tag_set;
	struct gendisk		*disk;

	atomic64_t		reqs_dio;
	atomic64_t		reqs_buffered;
	atomic64_t		reqs_fallback;
	atomic64_t		errors;
	atomic64_t		reqs_cgroup;	/* served by a cgroup lane */
	atomic64_t		wakeups;	/* a sleeping worker woken */
	atomic64_t		batches;	/* lists a worker took at once */
	atomic64_t		reqs_worker;	/* taken by a queue worker */
	atomic64_t		reqs_nowait;	/* submitted with IOCB_NOWAIT */
	atomic64_t		nowait_again;	/* NOWAIT refused: to the helper */
	atomic64_t		reqs_helper;	/* served by a blocking helper */
	atomic64_t		worker_starts;	/* queue workers started */
};

/* Per-request data (the blk-mq PDU). */
struct alo_cmd {
	struct list_head	node;		/* on a queue's or lane's list */
	struct alo_queue	*aq;		/* its hardware queue */
	struct alo_lane		*lane;		/* its cgroup's lane, or NULL */
	struct cgroup_subsys_state *blkcg_css;	/* the bio's, NULL: root */
	struct cgroup_subsys_state *memcg_css;	/* referenced */
	struct kiocb		iocb;
	struct bio_vec		*bvec;		/* when the request spans bios */
	atomic_t		ref;		/* submitter + ki_complete */
	long			ret;
	loff_t			eof;		/* backing size at submission */
	unsigned int		done;		/* bytes already transferred */
	bool			use_dio;
	bool			nowait;		/* a try with IOCB_NOWAIT */
	bool			counted;	/* in reqs_dio already */
	bool			blocking_write;	/* in aq->blocking_writes */
	bool			write_held;	/* freeze protection taken */
	bool			zero_tail;	/* read hit EOF: zero the rest */
};

/*
 * Queues of a device configured without a count, module parameter
 * queues=0: one per CPU, at most this many.  With 2 CPUs, 2 queues gave
 * 1.4-1.8x the IOPS of 1 at QD16 and 2.5x for psync readers on a RAM
 * backing (bench/); more than 4 was not measured, and each queue is a
 * kernel thread per bound device.
 */
#define ALOOP_AUTO_QUEUES	4U

/* Upper bound of the poll_us module parameter. */
#define ALOOP_MAX_POLL_US	1000U

/* aloop_main.c */
unsigned int aloop_default_queues(void);
extern bool aloop_dio_auto;
extern bool aloop_loop_compat;
extern bool aloop_nowait;
extern unsigned int aloop_poll_us;
extern unsigned int aloop_worker_idle_ms;
extern bool aloop_sched_batch;
extern struct workqueue_struct *aloop_lane_wq;
extern struct workqueue_struct *aloop_io_wq;
extern atomic_t aloop_fail_worker_start;
extern int aloop_part_shift;

/* aloop_dev.c */
extern const struct block_device_operations aloop_fops;
void aloop_disable_discard(struct work_struct *work);
int aloop_attach(struct aloop_device *lo, const struct aloop_attach *a);
void aloop_end_lease(struct aloop_device *lo);
int aloop_detach(struct aloop_device *lo, u32 flags);
int aloop_find(const struct aloop_find *f, struct file *file,
	       struct aloop_find *out);
bool aloop_orphan(struct aloop_device *lo);
u64 aloop_owner_cgroup_id(struct aloop_device *lo);

/* aloop_io.c */
extern const struct blk_mq_ops aloop_mq_ops;
int alo_start_workers(struct aloop_device *lo, unsigned int nr);
void alo_stop_workers(struct aloop_device *lo);
void alo_init_lanes(struct aloop_device *lo);

/* aloop_sysfs.c */
extern const struct attribute_group *aloop_disk_groups[];
void aloop_sysfs_bind(struct aloop_device *lo);
void aloop_sysfs_unbind(struct aloop_device *lo);

#endif /* ALOOP_H */
