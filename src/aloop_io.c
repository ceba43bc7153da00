// SPDX-License-Identifier: GPL-2.0
/*
 * aloop - the I/O path.
 *
 * ->queue_rq never calls the backing file: it hands every request to the
 * kernel thread of its hardware queue, or to its cgroup's lane (see
 * "Dispatch" below).  Whoever takes it serves it:
 *   READ/WRITE, dio on:  an async kiocb with IOCB_DIRECT submitted to the
 *                        backing file's ->read_iter/->write_iter, finished
 *                        from ->ki_complete;
 *   READ/WRITE, dio off: a synchronous kiocb of aloop's own (never the
 *                        backing file's O_APPEND/O_DIRECT/O_SYNC flags);
 *   FLUSH:               vfs_fsync();
 *   DISCARD/WRITE_ZEROES: vfs_fallocate().
 */
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/blk-cgroup.h>
#include <linux/delay.h>
#include <linux/freezer.h>
#include <linux/highmem.h>
#include <linux/memcontrol.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include <uapi/linux/sched/types.h>
#include "aloop.h"

/*
 * A hardware queue: its worker thread, the list the worker takes, and
 * the blocking helper's list (under the same lock).
 *
 * The worker exists while the queue has work: ->queue_rq starts one
 * (start_work) when there is none, and one that slept for worker_idle_ms
 * is stopped (idle_work), so an idle device costs no thread, as loop's
 * devices cost none.  Every change of @task is made under @lock.
 */
struct alo_queue {
	struct aloop_device	*lo;
	struct task_struct	*task;		/* aloopN-qM, or NULL */
	spinlock_t		lock;
	struct list_head	cmds;		/* for the worker */
	bool			sleeping;	/* the worker needs a wake-up */
	bool			starting;	/* start_work queued or running */
	bool			stopping;	/* unbinding: no idle stop */
	unsigned int		index;		/* hardware queue number */
	unsigned long		idle_since;	/* jiffies: the worker slept */
	struct work_struct	start_work;
	struct delayed_work	idle_work;
	struct list_head	blocking;	/* for the blocking helper */
	struct work_struct	blocking_work;
	bool			helper_running;
	/* Writes handed to the helper and not completed yet. */
	atomic_t		blocking_writes;
};

static inline loff_t alo_pos(struct aloop_device *lo, struct request *rq)
{
	return ((loff_t)blk_rq_pos(rq) << SECTOR_SHIFT) + lo->offset;
}

/*
 * One iov_iter over all bio_vecs of the request (it may span several
 * bios), advanced past what an earlier partial transfer already did.
 */
static int alo_init_iter(struct alo_cmd *cmd, struct request *rq,
			 unsigned int dir, struct iov_iter *iter, gfp_t gfp)
{
	struct req_iterator rq_iter;
	const struct bio_vec *bvec;
	struct bio_vec tmp, *copy;
	unsigned int offset = 0;
	int nr_bvec = 0;

	rq_for_each_bvec(tmp, rq, rq_iter)
		nr_bvec++;

	if (rq->bio != rq->biotail) {
		copy = kmalloc_array(nr_bvec, sizeof(*copy), gfp);
		if (!copy)
			return -ENOMEM;
		cmd->bvec = copy;
		rq_for_each_bvec(tmp, rq, rq_iter)
			*copy++ = tmp;
		bvec = cmd->bvec;
	} else {
		/* A single bio: use its own bio_vec table, no copy. */
		struct bio *bio = rq->bio;

		offset = alo_bvec_iter_offset(&bio->bi_iter);
		bvec = __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter);
	}
	iov_iter_bvec(iter, dir, bvec, nr_bvec, blk_rq_bytes(rq));
	iter->iov_offset = offset;
	if (cmd->done)
		iov_iter_advance(iter, cmd->done);
	return 0;
}

static void alo_free_bvec(struct alo_cmd *cmd)
{
	kfree(cmd->bvec);
	cmd->bvec = NULL;
}

/*
 * Freeze protection for a write to a regular backing file, as fs/aio.c
 * does for async writes: taken by the submitter, handed over to whoever
 * completes the kiocb (lockdep is told the owner changes).  A NOWAIT
 * try never waits for a thaw: -EAGAIN sends the request to the helper.
 */
static int alo_start_write(struct alo_cmd *cmd, struct file *file)
{
	struct inode *inode = file_inode(file);

	if (!S_ISREG(inode->i_mode))
		return 0;
	if (!cmd->nowait)
		sb_start_write(inode->i_sb);
	else if (!sb_start_write_trylock(inode->i_sb))
		return -EAGAIN;
	__sb_writers_release(inode->i_sb, SB_FREEZE_WRITE);
	cmd->write_held = true;
	return 0;
}

static void alo_end_write(struct file *file)
{
	struct inode *inode = file_inode(file);

	__sb_writers_acquired(inode->i_sb, SB_FREEZE_WRITE);
	sb_end_write(inode->i_sb);
}

/*
 * One synchronous read or write of the backing file through a kiocb
 * built here, as loop does since 6.15: vfs_iter_read()/vfs_iter_write()
 * would take the open file's flags (iocb_flags()), so an O_APPEND fd
 * (or one given O_APPEND later by fcntl) wrote at EOF and an O_DIRECT
 * fd made "buffered" I/O direct.  ki_complete stays NULL: filesystems
 * see a sync kiocb.
 */
static ssize_t alo_rw_sync(struct file *file, struct iov_iter *iter,
			   loff_t *pos, bool write)
{
	struct kiocb kiocb;
	ssize_t ret;

	memset(&kiocb, 0, sizeof(kiocb));
	kiocb.ki_filp = file;
	kiocb.ki_pos = *pos;
	if (write) {
		file_start_write(file);
		ret = file->f_op->write_iter(&kiocb, iter);
		file_end_write(file);
	} else {
		ret = file->f_op->read_iter(&kiocb, iter);
	}
	if (ret > 0)
		*pos = kiocb.ki_pos;
	return ret;
}

static int alo_rw_buffered(struct aloop_device *lo, struct alo_cmd *cmd,
			   struct request *rq, loff_t pos)
{
	bool write = req_op(rq) == REQ_OP_WRITE;
	loff_t start = pos;
	struct iov_iter iter;
	ssize_t ret = 0;
	int err;

	err = alo_init_iter(cmd, rq, write ? ITER_SOURCE : ITER_DEST, &iter,
			    GFP_NOIO);
	if (err)
		return err;
	atomic64_inc(&lo->reqs_buffered);

	while (iov_iter_count(&iter)) {
		ret = alo_rw_sync(lo->backing, &iter, &pos, write);
		if (ret <= 0)
			break;
	}
	alo_free_bvec(cmd);
	if (ret >= 0 && iov_iter_count(&iter)) {
		if (write)
			return -EIO;	/* a short write is never success */
		/*
		 * Past the end of the backing file (it shrank): what was read
		 * succeeds, the rest fails, as loop's direct I/O does.
		 */
		cmd->done = pos - start;
		cmd->zero_tail = true;
		return -EIO;
	}
	if (ret < 0)
		return ret;

	if (!write) {
		struct req_iterator it;
		struct bio_vec bv;

		rq_for_each_segment(bv, rq, it)
			flush_dcache_page(bv.bv_page);
	} else if (rq->cmd_flags & REQ_FUA) {
		return vfs_fsync_range(lo->backing, start, pos - 1, 1);
	}
	return 0;
}

static void alo_dio_complete(struct kiocb *iocb, long ret);
static void alo_requeue(struct alo_cmd *cmd);
static void alo_to_helper(struct alo_cmd *cmd);

/*
 * Drop one of the two references of a dio request (submitter and
 * ->ki_complete); the last one decides what happens next.  May run in
 * interrupt context.
 */
static void alo_dio_put(struct alo_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct aloop_device *lo = rq->q->queuedata;
	unsigned int bytes = blk_rq_bytes(rq);
	long ret;

	if (!atomic_dec_and_test(&cmd->ref))
		return;
	alo_free_bvec(cmd);
	/* Before any resubmission, which takes its own. */
	if (cmd->write_held) {
		alo_end_write(cmd->iocb.ki_filp);
		cmd->write_held = false;
	}
	ret = cmd->ret;

	if (cmd->nowait) {
		cmd->nowait = false;
		if (ret < 0) {
			/*
			 * Refused, for whatever reason: -EAGAIN (would block),
			 * -EOPNOTSUPP (a block device without nowait support,
			 * e.g. after a dm table reload), anything.  Never
			 * failed here: the helper does it again without
			 * IOCB_NOWAIT and reports the real outcome.
			 */
			atomic64_inc(&lo->nowait_again);
			alo_to_helper(cmd);
			return;
		}
		atomic64_inc(&lo->reqs_nowait);
	}
	if (ret == -EINVAL && !cmd->done) {
		/* The backing file refused this request's alignment. */
		atomic64_inc(&lo->reqs_fallback);
		cmd->use_dio = false;
		alo_requeue(cmd);
		return;
	}
	if (ret >= 0) {
		cmd->done += ret;
		cmd->ret = 0;
		if (cmd->done < bytes) {
			loff_t end = alo_pos(lo, rq) + cmd->done;

			if (!ret && req_op(rq) == REQ_OP_WRITE) {
				cmd->ret = -EIO;
			} else if (!ret || (req_op(rq) == REQ_OP_READ &&
					    end >= cmd->eof)) {
				/* Read at or past EOF: the backing shrank. */
				cmd->zero_tail = true;
				cmd->ret = -EIO;
			} else {
				/*
				 * Short transfer inside the file: do the rest.
				 * For a write that also turns a partial
				 * allocation into the real errno (ENOSPC).
				 */
				alo_requeue(cmd);
				return;
			}
		}
	}
	if (likely(!blk_should_fake_timeout(rq->q)))
		blk_mq_complete_request(rq);
}

static void alo_dio_complete(struct kiocb *iocb, long ret)
{
	struct alo_cmd *cmd = container_of(iocb, struct alo_cmd, iocb);

	cmd->ret = ret;
	alo_dio_put(cmd);
}

/*
 * Submit a direct I/O request, with IOCB_NOWAIT when cmd->nowait.
 * -EIOCBQUEUED: ->ki_complete ends it (or hands it on); any other value:
 * nothing was submitted and the caller decides.
 */
static int alo_rw_dio(struct aloop_device *lo, struct alo_cmd *cmd,
		      struct request *rq, loff_t pos)
{
	bool write = req_op(rq) == REQ_OP_WRITE;
	struct kiocb *iocb = &cmd->iocb;
	struct file *file = lo->backing;
	struct iov_iter iter;
	ssize_t ret;
	int err;

	err = alo_init_iter(cmd, rq, write ? ITER_SOURCE : ITER_DEST, &iter,
			    GFP_NOIO);
	if (!err && write)
		err = alo_start_write(cmd, file);
	if (err) {
		alo_free_bvec(cmd);
		return err;
	}
	if (!cmd->counted) {
		cmd->counted = true;
		atomic64_inc(&lo->reqs_dio);
	}

	atomic_set(&cmd->ref, 2);
	memset(iocb, 0, sizeof(*iocb));
	iocb->ki_pos = pos + cmd->done;
	iocb->ki_filp = file;
	iocb->ki_complete = alo_dio_complete;
	iocb->ki_flags = IOCB_DIRECT;
	if (cmd->nowait)
		iocb->ki_flags |= IOCB_NOWAIT;
	iocb->ki_ioprio = req_get_ioprio(rq);
	if (write && (rq->cmd_flags & REQ_FUA))
		iocb->ki_flags |= IOCB_DSYNC;
	/* Read here, not in the completion (which may be a hard irq). */
	cmd->eof = i_size_read(file->f_mapping->host);

	if (write)
		ret = file->f_op->write_iter(iocb, &iter);
	else
		ret = file->f_op->read_iter(iocb, &iter);

	if (ret != -EIOCBQUEUED)
		alo_dio_complete(iocb, ret);
	alo_dio_put(cmd);
	return -EIOCBQUEUED;
}

static int alo_fallocate(struct aloop_device *lo, struct request *rq,
			 loff_t pos, int mode)
{
	bool discard = req_op(rq) == REQ_OP_DISCARD;
	int ret;

	if (discard ? READ_ONCE(lo->no_discard) : READ_ONCE(lo->no_write_zeroes))
		return -EOPNOTSUPP;
	ret = vfs_fallocate(lo->backing, mode | FALLOC_FL_KEEP_SIZE, pos,
			    blk_rq_bytes(rq));
	if (ret == -EOPNOTSUPP) {
		if (discard)
			WRITE_ONCE(lo->no_discard, true);
		else
			WRITE_ONCE(lo->no_write_zeroes, true);
		schedule_work(&lo->discard_work);
	}
	return ret;
}

static int alo_do_cmd(struct aloop_device *lo, struct alo_cmd *cmd,
		      struct request *rq)
{
	loff_t pos = alo_pos(lo, rq);

	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		return vfs_fsync(lo->backing, 0);
	case REQ_OP_DISCARD:
		return alo_fallocate(lo, rq, pos, FALLOC_FL_PUNCH_HOLE);
	case REQ_OP_WRITE_ZEROES:
		return alo_fallocate(lo, rq, pos,
				     (rq->cmd_flags & REQ_NOUNMAP) ?
				     FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE);
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		if (cmd->use_dio)
			return alo_rw_dio(lo, cmd, rq, pos);
		return alo_rw_buffered(lo, cmd, rq, pos);
	default:
		return -EIO;
	}
}

/*
 * Dispatch.
 *
 * Every call into the backing file is made by one of aloop's own tasks,
 * never by the task that submitted the request: a block driver cannot
 * know what per-task state its caller carries (RLIMIT_FSIZE, credentials
 * and quota exemptions, a journal handle, pending signals, stack depth),
 * and the backing file system would apply it.  Mainline loop merged
 * submission from ->queue_rq for 6.19 and reverted it for this reason.
 *
 * Root-cgroup requests go to the kernel thread of their hardware queue
 * (aloopN-qM, affine to the CPUs blk-mq maps to it, so a hand-off stays
 * on the submitter's cache).  ->queue_rq appends under the queue's lock
 * and wakes the thread only if it sleeps; the thread takes the whole list
 * at once, submits it under one blk_plug (the lower device sees a batch)
 * and looks at the list again before it sleeps, optionally spinning
 * poll_us for more.  No wake-up depends on bd->last or ->commit_rqs, so
 * nothing queued can be left without one.
 *
 * The worker submits direct I/O with IOCB_NOWAIT, so that one allocating
 * write or inode-lock wait does not stall the requests behind it.  A try
 * the backing file refuses for any reason (-EAGAIN, -EOPNOTSUPP from a
 * block device without nowait support, ...) goes to the queue's blocking
 * helper, a work item that submits without NOWAIT and reports the real
 * outcome.  Flushes, discards and write-zeroes, which block in the file
 * system, go to the helper directly; writes too while an earlier write is
 * with the helper, so that writes reach the backing file in the order
 * they were queued.  Buffered I/O, and dio on a file without NOWAIT
 * support, is served by the worker blocking, in order.
 *
 * Requests whose bio belongs to a non-root blkcg go to that cgroup's
 * lane instead: a work item of its own on an unbound, freezable workqueue,
 * as loop's per-cgroup workers, so that a cgroup throttled by io.max/
 * io.latency/io.cost or memory.max on the backing side blocks only
 * itself.  Whoever serves a request issues its backing I/O in the
 * request's blkcg and charges page cache to its memcg; a lane's retries
 * stay on the lane.
 *
 * Lifetime: the queue array, threads and lanes exist while the device is
 * bound.  They are torn down with the queue frozen (no request in flight)
 * and quiesced (no ->queue_rq running); every hand-off to a thread or
 * work item happens under the lock its consumer takes, so once the last
 * request completed nobody touches them.
 */
struct alo_lane {
	struct aloop_device	*lo;
	struct cgroup_subsys_state *blkcg_css;	/* referenced */
	struct work_struct	work;
	struct list_head	cmds;		/* under lo->lane_lock */
	struct list_head	node;		/* lo->lanes */
	struct hlist_node	hnode;		/* lo->lane_hash */
	atomic_t		inflight;	/* its requests not completed */
	unsigned long		last_used;	/* jiffies */
	bool			running;
};

/* An idle lane is freed after this long. */
#define ALO_LANE_IDLE		(60 * HZ)

/* A request without memory for its bio_vec table: retries, 10-20 ms apart. */
#define ALO_NOMEM_TRIES		100

static void alo_handle_cmd(struct aloop_device *lo, struct alo_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	/*
	 * Once submitted, @cmd may complete (and its request be reused)
	 * before the backing call returns: undo the association from
	 * copies, and hold the memcg for as long as it is active here.
	 */
	struct cgroup_subsys_state *blkcg_css = cmd->blkcg_css;
	struct cgroup_subsys_state *memcg_css = cmd->memcg_css;
	struct mem_cgroup *old_memcg = NULL;
	int tries = 0;
	int ret;

	if (blkcg_css)
		kthread_associate_blkcg(blkcg_css);
#ifdef CONFIG_MEMCG
	if (memcg_css) {
		css_get(memcg_css);
		old_memcg = set_active_memcg(mem_cgroup_from_css(memcg_css));
	}
#endif
	/* -ENOMEM comes before anything was submitted: try again. */
	while ((ret = alo_do_cmd(lo, cmd, rq)) == -ENOMEM &&
	       ++tries < ALO_NOMEM_TRIES)
		usleep_range(10000, 20000);
#ifdef CONFIG_MEMCG
	if (memcg_css) {
		set_active_memcg(old_memcg);
		css_put(memcg_css);
	}
#endif
	if (blkcg_css)
		kthread_associate_blkcg(NULL);

	if (ret != -EIOCBQUEUED) {
		/* As loop: a request that found no memory fails with EIO. */
		cmd->ret = ret == -ENOMEM ? -EIO : ret;
		if (likely(!blk_should_fake_timeout(rq->q)))
			blk_mq_complete_request(rq);
	}
}

/*
 * Serve a list of requests in order, blocking, under one plug.  No
 * reclaim that could wait on us (NOIO), and no dirty throttling of our
 * own writes as if we were the dirtier (PF_LOCAL_THROTTLE).
 */
static void alo_handle_list(struct aloop_device *lo, struct list_head *list,
			    atomic64_t *counter)
{
	const unsigned int pf = PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;
	unsigned int orig = current->flags & pf;
	struct alo_cmd *cmd, *next;
	struct blk_plug plug;

	current->flags |= pf;
	blk_start_plug(&plug);
	list_for_each_entry_safe(cmd, next, list, node) {
		list_del_init(&cmd->node);
		atomic64_inc(counter);
		alo_handle_cmd(lo, cmd);
	}
	blk_finish_plug(&plug);
	current->flags = (current->flags & ~pf) | orig;
}

/*
 * Serve the requests queued on @src (under aq->lock), blocking, until it
 * stays empty; *@busy says whether a list is being served.
 */
static void alo_drain(struct alo_queue *aq, struct list_head *src,
		      bool *busy, atomic64_t *counter)
{
	LIST_HEAD(list);

	for (;;) {
		spin_lock_irq(&aq->lock);
		list_splice_init(src, &list);
		*busy = !list_empty(&list);
		spin_unlock_irq(&aq->lock);
		if (list_empty(&list))
			return;	/* the queue may be freed from now on */
		alo_handle_list(aq->lo, &list, counter);
	}
}

/* The blocking helper of a queue: what the worker could not submit. */
static void alo_blocking_fn(struct work_struct *work)
{
	struct alo_queue *aq = container_of(work, struct alo_queue,
					    blocking_work);

	alo_drain(aq, &aq->blocking, &aq->helper_running,
		  &aq->lo->reqs_helper);
}

/* Hand @cmd to its queue's blocking helper.  Any context. */
static void alo_to_helper(struct alo_cmd *cmd)
{
	struct alo_queue *aq = cmd->aq;
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	unsigned long flags;

	if (req_op(rq) == REQ_OP_WRITE && !cmd->blocking_write) {
		cmd->blocking_write = true;
		atomic_inc(&aq->blocking_writes);
	}
	spin_lock_irqsave(&aq->lock, flags);
	list_add_tail(&cmd->node, &aq->blocking);
	queue_work(aloop_io_wq, &aq->blocking_work);
	spin_unlock_irqrestore(&aq->lock, flags);
}

/* NOWAIT is worth a try: the backing file supports it, now. */
static bool alo_nowait_ok(struct aloop_device *lo)
{
	struct file *file = lo->backing;
	/* The bdev's own inode, not the /dev node's (file_inode()). */
	struct inode *inode = file->f_mapping->host;

	if (!READ_ONCE(aloop_nowait) || !(file->f_mode & FMODE_NOWAIT))
		return false;
	/*
	 * A block device samples FMODE_NOWAIT at open (6.1: sets it for
	 * every one); its queue can lose nowait support since, e.g. by a
	 * dm table reload.  A try it refuses goes to the helper anyway;
	 * this only spares the round trip.
	 */
	if (S_ISBLK(inode->i_mode) && !bdev_nowait(I_BDEV(inode)))
		return false;
	return true;
}

/* One request taken by a queue's worker. */
static void alo_worker_cmd(struct alo_queue *aq, struct alo_cmd *cmd,
			   bool nowait)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct aloop_device *lo = aq->lo;

	atomic64_inc(&lo->reqs_worker);
	/* A cgroup's request without a lane: blocking, associated. */
	if (!cmd->use_dio || !nowait || cmd->blkcg_css) {
		alo_handle_cmd(lo, cmd);
		return;
	}
	switch (req_op(rq)) {
	case REQ_OP_WRITE:
		if (atomic_read(&aq->blocking_writes)) {
			alo_to_helper(cmd);
			return;
		}
		fallthrough;
	case REQ_OP_READ:
		cmd->nowait = true;
		if (alo_rw_dio(lo, cmd, rq, alo_pos(lo, rq)) != -EIOCBQUEUED) {
			/* Not submitted (no memory, a frozen backing fs). */
			cmd->nowait = false;
			atomic64_inc(&lo->nowait_again);
			alo_to_helper(cmd);
		}
		return;
	default:
		alo_to_helper(cmd);
		return;
	}
}

/* A batch the worker took: submitted in order, under one plug. */
static void alo_worker_batch(struct alo_queue *aq, struct list_head *list)
{
	struct aloop_device *lo = aq->lo;
	bool nowait = lo->use_dio && alo_nowait_ok(lo);
	struct alo_cmd *cmd, *next;
	struct blk_plug plug;

	atomic64_inc(&lo->batches);
	blk_start_plug(&plug);
	list_for_each_entry_safe(cmd, next, list, node) {
		list_del_init(&cmd->node);
		alo_worker_cmd(aq, cmd, nowait);
	}
	blk_finish_plug(&plug);
}

/* Spin up to poll_us for new requests; true when some came. */
static bool alo_poll(struct alo_queue *aq)
{
	unsigned int us = READ_ONCE(aloop_poll_us);
	u64 end;

	if (!us)
		return false;
	end = local_clock() + (u64)us * NSEC_PER_USEC;
	while (list_empty_careful(&aq->cmds)) {
		if (need_resched() || kthread_should_stop() ||
		    local_clock() > end)
			return false;
		cpu_relax();
	}
	return true;
}

/* The CPUs blk-mq maps to hardware queue @i, or NULL. */
static const struct cpumask *alo_queue_cpus(struct aloop_device *lo,
					    unsigned int i)
{
	struct blk_mq_hw_ctx *hctx;
	unsigned long n;

	queue_for_each_hw_ctx(lo->disk->queue, hctx, n)
		if (hctx->queue_num == i)
			return hctx->cpumask;
	return NULL;
}

/*
 * SCHED_BATCH (module parameter sched_batch, default Y): a batch task
 * woken does not preempt the running one (CFS and EEVDF leave that to the
 * tick).  The worker shares its CPU with the submitter (it is affine to
 * the hctx's CPUs), so a submitter that queues one request per system
 * call (fio's libaio, io_submit of one iocb) keeps the CPU until it
 * sleeps, and the worker then takes the whole list: measured on 6.1
 * under TCG, 1.0 requests per wake-up without, see bench/.  Its cost: a
 * submitter that never sleeps leaves the worker to the next tick.
 */
static void alo_batch_policy(struct task_struct *task)
{
	struct sched_attr attr = {
		.size		= sizeof(attr),
		.sched_policy	= SCHED_BATCH,
	};

	int err;

	if (!READ_ONCE(aloop_sched_batch))
		return;
	err = sched_setattr_nocheck(task, &attr);
	if (err)
		pr_warn_once("%s: cannot make it SCHED_BATCH (%d)\n",
			     task->comm, err);
}

static int alo_queue_thread(void *data)
{
	struct alo_queue *aq = data;
	unsigned long idle;
	LIST_HEAD(list);
	bool mine;

	/* For its whole life: see alo_handle_list(). */
	current->flags |= PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;
	/* Like loop's workqueue: no backing I/O while suspending. */
	set_freezable();
	for (;;) {
		spin_lock_irq(&aq->lock);
		/* Stopped for idleness: the queue's next worker takes over. */
		if (aq->task != current) {
			spin_unlock_irq(&aq->lock);
			break;
		}
		list_splice_init(&aq->cmds, &list);
		if (list_empty(&list)) {
			if (kthread_should_stop()) {
				spin_unlock_irq(&aq->lock);
				break;
			}
			/* ->queue_rq wakes us only from here on. */
			aq->sleeping = true;
			aq->idle_since = jiffies;
			idle = msecs_to_jiffies(READ_ONCE(aloop_worker_idle_ms));
			/*
			 * Armed under the lock: alo_stop_queues() sets
			 * stopping, then cancels; an arm after its cancel
			 * would leave a timer in the freed queue array.  A
			 * no-op while armed: alo_idle_fn() looks again.
			 */
			if (idle && !aq->stopping)
				queue_delayed_work(system_freezable_wq,
						   &aq->idle_work, idle);
			set_current_state(TASK_INTERRUPTIBLE);
			spin_unlock_irq(&aq->lock);
			if (!freezing(current))
				schedule();
			__set_current_state(TASK_RUNNING);
			/*
			 * Not once taken off the queue: alo_idle_fn() may be
			 * about to kthread_stop() us, which cannot wake a
			 * frozen task, and the freezer would wait for it.
			 */
			spin_lock_irq(&aq->lock);
			mine = aq->task == current;
			spin_unlock_irq(&aq->lock);
			if (mine)
				try_to_freeze();
			continue;
		}
		spin_unlock_irq(&aq->lock);
		alo_worker_batch(aq, &list);
		if (!list_empty_careful(&aq->cmds))
			continue;
		alo_poll(aq);
		cond_resched();
	}
	/* Whoever took us off the queue stops us: wait for it. */
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/*
 * Start the worker of @aq (aloop_io_wq, which has a rescuer).  Without
 * one (no memory for a thread) serve the queue from here, blocking, until
 * it is empty: the next request tries again.  kthread_create() waits for
 * kthreadd's GFP_KERNEL allocations, as a stock loop device's first
 * request waits for its workqueue's pool to create a kworker (loop's
 * workqueue has no rescuer); a device in use keeps its workers
 * (worker_idle_ms), so this is paid after idleness only.  Freezable idle
 * work: no worker is stopped while the system suspends.
 */
static void alo_start_fn(struct work_struct *work)
{
	struct alo_queue *aq = container_of(work, struct alo_queue,
					    start_work);
	struct aloop_device *lo = aq->lo;
	const struct cpumask *cpus;
	struct task_struct *task;

	/* Default priority, like loop's kworkers. */
	if (atomic_add_unless(&aloop_fail_worker_start, -1, 0))
		task = ERR_PTR(-ENOMEM);	/* debugfs test hook */
	else
		task = kthread_create(alo_queue_thread, aq,
				      ALOOP_NAME "%d-q%u", lo->number,
				      aq->index);
	if (!IS_ERR(task)) {
		cpus = alo_queue_cpus(lo, aq->index);
		if (cpus && cpumask_intersects(cpus, cpu_online_mask))
			set_cpus_allowed_ptr(task, cpus);
		alo_batch_policy(task);
		spin_lock_irq(&aq->lock);
		aq->task = task;
		aq->sleeping = false;
		aq->starting = false;
		spin_unlock_irq(&aq->lock);
		atomic64_inc(&lo->worker_starts);
		/* Not running before this: it finds its requests queued. */
		wake_up_process(task);
		return;
	}
	pr_warn_ratelimited("%s: no queue worker (%ld): served from a work item\n",
			    lo->disk->disk_name, PTR_ERR(task));
	/* starting stays true while it serves: no second start_work. */
	alo_drain(aq, &aq->cmds, &aq->starting, &lo->reqs_worker);
}

/*
 * Test hook, debugfs aloop/fail_worker_start: the next N thread creations
 * fail, so the tests reach the no-thread path above (failslab cannot aim
 * at one kthread, and distro kernels have no fault injection).
 */
atomic_t aloop_fail_worker_start = ATOMIC_INIT(0);

/* Stop the worker of @aq if it slept for worker_idle_ms, else look again. */
static void alo_idle_fn(struct work_struct *work)
{
	struct alo_queue *aq = container_of(to_delayed_work(work),
					    struct alo_queue, idle_work);
	unsigned long idle = msecs_to_jiffies(READ_ONCE(aloop_worker_idle_ms));
	struct task_struct *task = NULL;

	spin_lock_irq(&aq->lock);
	if (!aq->task || aq->stopping || !idle || !aq->sleeping) {
		/* Gone, busy (it arms us again when it sleeps), or kept. */
	} else if (time_before(jiffies, aq->idle_since + idle)) {
		queue_delayed_work(system_freezable_wq, &aq->idle_work,
				   aq->idle_since + idle - jiffies);
	} else if (freezing(aq->task)) {
		/*
		 * Not while it freezes (until thaw): kthread_stop()
		 * cannot wake a frozen task, and this work would keep
		 * the freezer waiting.
		 */
		queue_delayed_work(system_freezable_wq, &aq->idle_work, idle);
	} else {
		task = aq->task;
		aq->task = NULL;
		aq->sleeping = false;
	}
	spin_unlock_irq(&aq->lock);
	/* It waits for this (alo_queue_thread()), so it is still there. */
	if (task)
		kthread_stop(task);
}

/* Queue @cmd for its queue's worker, waking it only if it sleeps. */
static void alo_queue_cmd(struct alo_queue *aq, struct alo_cmd *cmd)
{
	unsigned long flags;

	spin_lock_irqsave(&aq->lock, flags);
	list_add_tail(&cmd->node, &aq->cmds);
	if (aq->sleeping) {
		aq->sleeping = false;
		wake_up_process(aq->task);
		atomic64_inc(&aq->lo->wakeups);
	} else if (!aq->task && !aq->starting) {
		aq->starting = true;
		queue_work(aloop_io_wq, &aq->start_work);
	}
	spin_unlock_irqrestore(&aq->lock, flags);
}

static void alo_lane_work_fn(struct work_struct *work)
{
	struct alo_lane *lane = container_of(work, struct alo_lane, work);
	struct aloop_device *lo = lane->lo;
	LIST_HEAD(list);

	for (;;) {
		spin_lock_irq(&lo->lane_lock);
		list_splice_init(&lane->cmds, &list);
		if (list_empty(&list)) {
			lane->running = false;
			lane->last_used = jiffies;
			spin_unlock_irq(&lo->lane_lock);
			return;	/* the reaper may free it from now on */
		}
		lane->running = true;
		spin_unlock_irq(&lo->lane_lock);
		alo_handle_list(lo, &list, &lo->reqs_cgroup);
	}
}

/* Queue @cmd on @lane (lo->lane_lock held). */
static void alo_lane_add(struct alo_lane *lane, struct alo_cmd *cmd)
{
	list_add_tail(&cmd->node, &lane->cmds);
	lane->last_used = jiffies;
	queue_work(aloop_lane_wq, &lane->work);
}

/* A retry (EINVAL fallback, short transfer): blocking, where it was. */
static void alo_requeue(struct alo_cmd *cmd)
{
	struct alo_lane *lane = cmd->lane;
	unsigned long flags;

	if (!lane) {
		alo_to_helper(cmd);
		return;
	}
	spin_lock_irqsave(&lane->lo->lane_lock, flags);
	alo_lane_add(lane, cmd);
	spin_unlock_irqrestore(&lane->lo->lane_lock, flags);
}

/*
 * A lane with work queued, running, or requests in flight (lo->lane_lock
 * held).  work_busy() also sees a work item whose pending bit is cleared
 * but whose function has not taken the lane lock yet, which
 * work_pending() misses.
 */
static bool alo_lane_busy(struct alo_lane *lane)
{
	return lane->running || !list_empty(&lane->cmds) ||
	       atomic_read(&lane->inflight) || work_busy(&lane->work);
}

/* Free lanes idle for ALO_LANE_IDLE, or all when @all (device unbound). */
static void alo_reap_lanes(struct aloop_device *lo, bool all)
{
	struct alo_lane *lane, *next;
	LIST_HEAD(dead);

	spin_lock_irq(&lo->lane_lock);
	list_for_each_entry_safe(lane, next, &lo->lanes, node) {
		if (alo_lane_busy(lane))
			continue;
		if (all || time_after(jiffies, lane->last_used + ALO_LANE_IDLE)) {
			hash_del(&lane->hnode);
			list_move(&lane->node, &dead);
		}
	}
	if (!all && !list_empty(&lo->lanes))
		queue_delayed_work(system_wq, &lo->lane_reaper, ALO_LANE_IDLE);
	spin_unlock_irq(&lo->lane_lock);

	list_for_each_entry_safe(lane, next, &dead, node) {
		css_put(lane->blkcg_css);
		kfree(lane);
	}
}

static void alo_lane_reaper_fn(struct work_struct *work)
{
	struct aloop_device *lo = container_of(to_delayed_work(work),
					       struct aloop_device, lane_reaper);

	alo_reap_lanes(lo, false);
}

void alo_init_lanes(struct aloop_device *lo)
{
	spin_lock_init(&lo->lane_lock);
	INIT_LIST_HEAD(&lo->lanes);
	hash_init(lo->lane_hash);
	INIT_DELAYED_WORK(&lo->lane_reaper, alo_lane_reaper_fn);
}

static struct alo_lane *alo_find_lane(struct aloop_device *lo,
				      struct cgroup_subsys_state *css)
{
	struct alo_lane *lane;

	hash_for_each_possible(lo->lane_hash, lane, hnode, (unsigned long)css)
		if (lane->blkcg_css == css)
			return lane;
	return NULL;
}

/*
 * Queue @cmd on its cgroup's lane; false when there is none and none can
 * be made without sleeping (the queue's worker serves it then, still in
 * the request's cgroup).
 */
static bool alo_lane_cmd(struct aloop_device *lo, struct alo_cmd *cmd)
{
	struct alo_lane *lane, *new = NULL;
	unsigned long flags;

again:
	spin_lock_irqsave(&lo->lane_lock, flags);
	lane = alo_find_lane(lo, cmd->blkcg_css);
	if (lane)
		goto found;
	if (!new) {
		spin_unlock_irqrestore(&lo->lane_lock, flags);
		new = kzalloc(sizeof(*new), GFP_NOWAIT | __GFP_NOWARN);
		if (!new)
			return false;
		new->lo = lo;
		new->blkcg_css = cmd->blkcg_css;
		css_get(new->blkcg_css);
		INIT_WORK(&new->work, alo_lane_work_fn);
		INIT_LIST_HEAD(&new->cmds);
		atomic_set(&new->inflight, 0);
		goto again;
	}
	lane = new;
	new = NULL;
	list_add(&lane->node, &lo->lanes);
	hash_add(lo->lane_hash, &lane->hnode, (unsigned long)lane->blkcg_css);
	if (list_is_singular(&lo->lanes))
		queue_delayed_work(system_wq, &lo->lane_reaper, ALO_LANE_IDLE);
found:
	cmd->lane = lane;
	atomic_inc(&lane->inflight);
	alo_lane_add(lane, cmd);
	spin_unlock_irqrestore(&lo->lane_lock, flags);
	if (new) {
		css_put(new->blkcg_css);
		kfree(new);
	}
	return true;
}

/* The request's cgroups, as loop takes them: the first bio's. */
static void alo_cmd_cgroups(struct alo_cmd *cmd, struct request *rq)
{
	struct cgroup_subsys_state *css = NULL;

	cmd->blkcg_css = NULL;
	cmd->memcg_css = NULL;
#ifdef CONFIG_BLK_CGROUP
	if (rq->bio)
		css = bio_blkcg_css(rq->bio);
	/* The root's I/O needs no association: the fast path. */
	if (!css || !css->parent)
		return;
	/* The bio (its blkg) holds the blkcg for as long as rq is ours. */
	cmd->blkcg_css = css;
#ifdef CONFIG_MEMCG
	cmd->memcg_css = cgroup_get_e_css(css->cgroup, &memory_cgrp_subsys);
#endif
#endif
}

int alo_start_workers(struct aloop_device *lo, unsigned int nr)
{
	struct alo_queue *queues;
	unsigned int i;

	queues = kcalloc(nr, sizeof(*queues), GFP_KERNEL);
	if (!queues)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		struct alo_queue *aq = &queues[i];

		aq->lo = lo;
		aq->index = i;
		spin_lock_init(&aq->lock);
		INIT_LIST_HEAD(&aq->cmds);
		INIT_LIST_HEAD(&aq->blocking);
		INIT_WORK(&aq->blocking_work, alo_blocking_fn);
		INIT_WORK(&aq->start_work, alo_start_fn);
		INIT_DELAYED_WORK(&aq->idle_work, alo_idle_fn);
		atomic_set(&aq->blocking_writes, 0);
		/* No thread yet: the first request starts it. */
	}
	lo->queues = queues;
	lo->nr_queues = nr;
	return 0;
}

/*
 * Wait until no lane of @lo and no blocking helper is queued or running.
 * Nothing can queue one: no request is in flight.  No flush_work() here:
 * the caller holds the queue frozen, and lockdep (which cannot know that
 * they are idle then) reported the flush of a lane, which takes a
 * filesystem's inode lock, under the freeze as a circular dependency
 * (74-inline on the debug kernel).
 */
static void alo_wait_idle(struct aloop_device *lo)
{
	struct alo_lane *lane;
	unsigned int i;
	bool busy;

	for (;;) {
		busy = false;
		spin_lock_irq(&lo->lane_lock);
		list_for_each_entry(lane, &lo->lanes, node)
			busy |= alo_lane_busy(lane);
		spin_unlock_irq(&lo->lane_lock);
		for (i = 0; i < lo->nr_queues; i++) {
			struct alo_queue *aq = &lo->queues[i];

			spin_lock_irq(&aq->lock);
			busy |= aq->helper_running ||
				!list_empty(&aq->blocking) ||
				work_busy(&aq->blocking_work) ||
				aq->starting || work_busy(&aq->start_work);
			spin_unlock_irq(&aq->lock);
		}
		if (!busy)
			return;
		usleep_range(100, 1000);
	}
}

/*
 * Stop the workers; nothing is queued and no start_work is busy (see
 * alo_wait_idle()).  cancel_work_sync() of an idle work item waits for
 * nothing and tells lockdep nothing.
 */
static void alo_stop_queues(struct alo_queue *queues, unsigned int nr)
{
	struct task_struct *task;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct alo_queue *aq = &queues[i];

		spin_lock_irq(&aq->lock);
		aq->stopping = true;
		spin_unlock_irq(&aq->lock);
		cancel_delayed_work_sync(&aq->idle_work);
		cancel_work_sync(&aq->start_work);
		spin_lock_irq(&aq->lock);
		task = aq->task;
		aq->task = NULL;
		spin_unlock_irq(&aq->lock);
		/* Not ours any more: it breaks out and waits for this. */
		if (task)
			kthread_stop(task);
	}
	kfree(queues);
}

/* Nothing is in flight: the queue is frozen and quiesced. */
void alo_stop_workers(struct aloop_device *lo)
{
	if (!lo->queues)
		return;
	cancel_delayed_work_sync(&lo->lane_reaper);
	alo_wait_idle(lo);
	alo_reap_lanes(lo, true);
	alo_stop_queues(lo->queues, lo->nr_queues);
	lo->queues = NULL;
}

static blk_status_t alo_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct alo_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct aloop_device *lo = rq->q->queuedata;

	blk_mq_start_request(rq);

	/*
	 * The backing file and the workers only change with the queue
	 * frozen, so they are stable for as long as this request is in
	 * flight.
	 */
	if (unlikely(!lo->queues || hctx->queue_num >= lo->nr_queues))
		return BLK_STS_IOERR;
	if (unlikely(op_is_write(req_op(rq)) &&
		     (lo->flags & LO_FLAGS_READ_ONLY)))
		return BLK_STS_IOERR;

	cmd->aq = &lo->queues[hctx->queue_num];
	cmd->lane = NULL;
	cmd->use_dio = lo->use_dio;
	cmd->done = 0;
	cmd->ret = 0;
	cmd->zero_tail = false;
	cmd->write_held = false;
	cmd->nowait = false;
	cmd->counted = false;
	cmd->blocking_write = false;
	cmd->bvec = NULL;
	alo_cmd_cgroups(cmd, rq);

	if (cmd->blkcg_css && alo_lane_cmd(lo, cmd))
		return BLK_STS_OK;
	alo_queue_cmd(cmd->aq, cmd);
	return BLK_STS_OK;
}

static void alo_complete_rq(struct request *rq)
{
	struct alo_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct aloop_device *lo = rq->q->queuedata;
	blk_status_t sts = BLK_STS_OK;

	if (cmd->zero_tail) {
		unsigned int good = round_down(cmd->done, SECTOR_SIZE);
		struct req_iterator it;
		struct bio_vec bv;
		unsigned int at = 0;

		/* Nothing stale reaches the reader, even with the error. */
		rq_for_each_segment(bv, rq, it) {
			if (at + bv.bv_len > cmd->done) {
				unsigned int skip = cmd->done > at ?
						    cmd->done - at : 0;

				memzero_page(bv.bv_page, bv.bv_offset + skip,
					     bv.bv_len - skip);
				flush_dcache_page(bv.bv_page);
			}
			at += bv.bv_len;
		}
		/* What was read before EOF succeeds, the rest fails. */
		if (good)
			blk_update_request(rq, BLK_STS_OK, good);
	}
	if (cmd->ret < 0) {
		sts = errno_to_blk_status(cmd->ret);
		atomic64_inc(&lo->errors);
	}
	if (cmd->memcg_css) {
		css_put(cmd->memcg_css);
		cmd->memcg_css = NULL;
	}
	if (cmd->blocking_write) {
		cmd->blocking_write = false;
		atomic_dec(&cmd->aq->blocking_writes);
	}
	if (cmd->lane) {
		/* The lane may be reaped from now on. */
		atomic_dec(&cmd->lane->inflight);
		cmd->lane = NULL;
	}
	blk_mq_end_request(rq, sts);
}

const struct blk_mq_ops aloop_mq_ops = {
	.queue_rq	= alo_queue_rq,
	.complete	= alo_complete_rq,
};
