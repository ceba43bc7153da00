// SPDX-License-Identifier: GPL-2.0
/*
 * aloop - the I/O path.
 *
 * ->queue_rq hands every request to a kthread worker of its hardware
 * queue (batched), or to its cgroup's lane (see "Dispatch" below).  The
 * worker serves it:
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
#include <linux/highmem.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include "aloop.h"

/* A hardware queue: its worker and list ("Dispatch" below). */
struct alo_queue {
	struct aloop_device	*lo;
	struct kthread_worker	*worker;
	struct kthread_work	work;
	spinlock_t		lock;
	struct list_head	cmds;
	atomic_t		pending;	/* queued, not yet submitted */
	atomic_t		busy;		/* its requests, not yet completed */
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
 * completes the kiocb (lockdep is told the owner changes).  An inline
 * try never waits for a thaw: -EAGAIN sends the request to its worker.
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
		if (ret == -EAGAIN) {
			/* Would have blocked: the worker does it again. */
			atomic64_inc(&lo->nowait_again);
			alo_requeue(cmd);
			return;
		}
		atomic64_inc(&lo->reqs_inline);
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
			    cmd->nowait ? GFP_NOWAIT | __GFP_NOWARN : GFP_NOIO);
	if (!err && write)
		err = alo_start_write(cmd, file);
	if (err) {
		alo_free_bvec(cmd);
		/* Nothing was submitted: an inline try goes to the worker. */
		return cmd->nowait ? -EAGAIN : err;
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

	if (discard ? lo->no_discard : lo->no_write_zeroes)
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
 * Dispatch.  Each hardware queue has a kthread worker (aloopN-qM) and a
 * list: ->queue_rq appends, and wakes the worker only at the end of a
 * batch (bd->last, or ->commit_rqs), which takes the whole list in
 * submission order.  Requests whose bio belongs to a non-root blkcg go
 * to that cgroup's lane instead: a work item of its own on an unbound,
 * freezable workqueue, as loop's per-cgroup workers, so that a cgroup
 * throttled by io.max/io.latency/io.cost or memory.max on the backing
 * side blocks only itself.  Whoever serves a request issues its backing
 * I/O in the request's blkcg and charges page cache to its memcg.
 */
struct alo_lane {
	struct aloop_device	*lo;
	struct cgroup_subsys_state *blkcg_css;	/* referenced */
	struct work_struct	work;
	struct list_head	cmds;		/* under lo->lane_lock */
	struct list_head	node;		/* lo->lanes */
	unsigned long		last_used;	/* jiffies */
	bool			running;
};

/* An idle lane is freed after this long. */
#define ALO_LANE_IDLE		(60 * HZ)

/* @cmd leaves its queue's count of requests in flight. */
static void alo_cmd_idle(struct alo_cmd *cmd)
{
	if (cmd->busy) {
		cmd->busy = false;
		atomic_dec(&cmd->aq->busy);
	}
}

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
	int ret;

	atomic64_inc(&lo->reqs_worker);
	if (blkcg_css)
		kthread_associate_blkcg(blkcg_css);
#ifdef CONFIG_MEMCG
	if (memcg_css) {
		css_get(memcg_css);
		old_memcg = set_active_memcg(mem_cgroup_from_css(memcg_css));
	}
#endif
	ret = alo_do_cmd(lo, cmd, rq);
#ifdef CONFIG_MEMCG
	if (memcg_css) {
		set_active_memcg(old_memcg);
		css_put(memcg_css);
	}
#endif
	if (blkcg_css)
		kthread_associate_blkcg(NULL);

	if (ret == -ENOMEM) {
		/* No memory for the bvec copy: try again a little later. */
		if (cmd->memcg_css) {
			css_put(cmd->memcg_css);	/* ->queue_rq gets it anew */
			cmd->memcg_css = NULL;
		}
		alo_cmd_idle(cmd);
		blk_mq_requeue_request(rq, false);
		blk_mq_delay_kick_requeue_list(rq->q, 10);
	} else if (ret != -EIOCBQUEUED) {
		cmd->ret = ret;
		if (likely(!blk_should_fake_timeout(rq->q)))
			blk_mq_complete_request(rq);
	}
}

/*
 * Serve a list of requests in order, as loop's workers do: no reclaim
 * that could wait on us (NOIO), and no dirty throttling of our own
 * writes as if we were the dirtier (PF_LOCAL_THROTTLE).
 */
static void alo_handle_list(struct aloop_device *lo, struct alo_queue *aq,
			    struct list_head *list)
{
	const unsigned int pf = PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;
	unsigned int orig = current->flags & pf;
	struct alo_cmd *cmd, *next;

	current->flags |= pf;
	list_for_each_entry_safe(cmd, next, list, node) {
		list_del_init(&cmd->node);
		alo_handle_cmd(lo, cmd);
		/* @cmd may be gone: only the queue is touched. */
		if (aq)
			atomic_dec(&aq->pending);
	}
	current->flags = (current->flags & ~pf) | orig;
}

static void alo_queue_work_fn(struct kthread_work *work)
{
	struct alo_queue *aq = container_of(work, struct alo_queue, work);
	LIST_HEAD(list);

	for (;;) {
		spin_lock_irq(&aq->lock);
		list_splice_init(&aq->cmds, &list);
		spin_unlock_irq(&aq->lock);
		if (list_empty(&list))
			break;
		alo_handle_list(aq->lo, aq, &list);
	}
}

static void alo_queue_cmd(struct alo_queue *aq, struct alo_cmd *cmd,
			  bool kick)
{
	unsigned long flags;

	atomic_inc(&aq->pending);
	spin_lock_irqsave(&aq->lock, flags);
	list_add_tail(&cmd->node, &aq->cmds);
	spin_unlock_irqrestore(&aq->lock, flags);
	if (kick && kthread_queue_work(aq->worker, &aq->work))
		atomic64_inc(&aq->lo->wakeups);
}

/* A retry (EINVAL fallback, short transfer): back to its queue's worker. */
static void alo_requeue(struct alo_cmd *cmd)
{
	alo_queue_cmd(cmd->aq, cmd, true);
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
		alo_handle_list(lo, NULL, &list);
	}
}

/*
 * A lane with work queued or running (lo->lane_lock held).  work_busy()
 * also sees a work item whose pending bit is cleared but whose function
 * has not taken the lane lock yet, which work_pending() misses.
 */
static bool alo_lane_busy(struct alo_lane *lane)
{
	return lane->running || !list_empty(&lane->cmds) ||
	       work_busy(&lane->work);
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
		if (all || time_after(jiffies, lane->last_used + ALO_LANE_IDLE))
			list_move(&lane->node, &dead);
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
	INIT_DELAYED_WORK(&lo->lane_reaper, alo_lane_reaper_fn);
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
	list_for_each_entry(lane, &lo->lanes, node)
		if (lane->blkcg_css == cmd->blkcg_css)
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
		goto again;
	}
	lane = new;
	new = NULL;
	list_add(&lane->node, &lo->lanes);
	if (list_is_singular(&lo->lanes))
		queue_delayed_work(system_wq, &lo->lane_reaper, ALO_LANE_IDLE);
found:
	list_add_tail(&cmd->node, &lane->cmds);
	lane->last_used = jiffies;
	queue_work(aloop_lane_wq, &lane->work);
	spin_unlock_irqrestore(&lo->lane_lock, flags);
	if (new) {
		css_put(new->blkcg_css);
		kfree(new);
	}
	atomic64_inc(&lo->reqs_cgroup);
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
	int err;

	queues = kcalloc(nr, sizeof(*queues), GFP_KERNEL);
	if (!queues)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		struct alo_queue *aq = &queues[i];

		aq->lo = lo;
		spin_lock_init(&aq->lock);
		INIT_LIST_HEAD(&aq->cmds);
		atomic_set(&aq->pending, 0);
		atomic_set(&aq->busy, 0);
		kthread_init_work(&aq->work, alo_queue_work_fn);
		/*
		 * Default priority, like loop's kworkers; freezable, like
		 * loop's workqueue: no backing I/O while suspending.
		 */
		aq->worker = alo_run_worker(KTW_FREEZABLE,
					    ALOOP_NAME "%d-q%u",
					    lo->number, i);
		if (IS_ERR(aq->worker)) {
			err = PTR_ERR(aq->worker);
			goto out_destroy;
		}
	}
	lo->queues = queues;
	lo->nr_queues = nr;
	return 0;

out_destroy:
	while (i--)
		kthread_destroy_worker(queues[i].worker);
	kfree(queues);
	return err;
}

/*
 * Wait until no lane of @lo is queued or running.  Nothing can queue one:
 * no request is in flight.  No flush_work()/destroy_workqueue() here: the
 * caller holds the queue frozen, and lockdep (which cannot know that the
 * lanes are idle then) reported the flush of a lane, which takes a
 * filesystem's inode lock, under the freeze as a circular dependency
 * (74-inline on the debug kernel).
 */
static void alo_wait_lanes_idle(struct aloop_device *lo)
{
	struct alo_lane *lane;
	bool busy;

	for (;;) {
		busy = false;
		spin_lock_irq(&lo->lane_lock);
		list_for_each_entry(lane, &lo->lanes, node)
			busy |= alo_lane_busy(lane);
		spin_unlock_irq(&lo->lane_lock);
		if (!busy)
			return;
		usleep_range(100, 1000);
	}
}

/* Nothing is in flight: the queue is frozen, or was never used. */
void alo_stop_workers(struct aloop_device *lo)
{
	unsigned int i;

	if (!lo->queues)
		return;
	cancel_delayed_work_sync(&lo->lane_reaper);
	alo_wait_lanes_idle(lo);
	alo_reap_lanes(lo, true);
	for (i = 0; i < lo->nr_queues; i++)
		kthread_destroy_worker(lo->queues[i].worker);
	kfree(lo->queues);
	lo->queues = NULL;
}

/*
 * Inline submission.  A direct I/O request can be submitted by ->queue_rq
 * itself, in the submitter's context (the tag set is BLK_MQ_F_BLOCKING),
 * with IOCB_NOWAIT: no wake-up, no context switch.  When the backing file
 * would block it says -EAGAIN (at once, or from ->ki_complete) and the
 * request goes to its queue's worker as any other.  Only where nothing
 * can wait on it:
 *  - the root blkcg's requests (a cgroup's have their lane, and the
 *    submitter's own cgroup must be the root too: the backing bios take
 *    it), so no io.latency/io.cost/io.max wait can be on them;
 *  - reads and O_DIRECT-style writes (REQ_SYNC|REQ_IDLE): writeback
 *    throttling (wbt) waits only on the writes it tracks, never these;
 *  - not from reclaim or a NOIO/NOFS scope: a filesystem transaction,
 *    another block driver's worker, or an inline call one level up (so
 *    this never nests);
 *  - when nothing of its queue waits for the worker, so a queue's
 *    requests still reach the backing file in submission order;
 *  - while its queue has at most nowait_depth requests in flight, this
 *    one included (default 1: an idle queue; 0: no limit).  A deeper
 *    queue is served by the worker, which overlaps the backing
 *    submission with the submitter's next request: that won under TCG
 *    with a virtio backing at QD16 (bench/); a backing that completes
 *    at once (RAM, page cache) leaves the queue idle for the next.
 * During the call the submitter's plug and bio_list are set aside (its
 * cached plug time first: 6.12 and 7.3 oopsed in finish_task_switch()
 * without that, tests/guest/74-inline.sh), as
 * for a task of its own: a plug being flushed cannot grow under its
 * walker (what mainline fixed in blk_mq_flush_plug_list() in 6.19), and
 * no backing bio - nor a metadata read the filesystem waits for - sits
 * on current->bio_list behind a bio that waits on it.  Its journal
 * handle is set aside too, and allocations are NOIO (memalloc scope),
 * our own bio_vec copy GFP_NOWAIT.
 */
static bool alo_can_inline(struct aloop_device *lo, struct alo_cmd *cmd,
			   struct request *rq)
{
	unsigned int depth;
	bool root = true;

	if (!cmd->use_dio || !READ_ONCE(aloop_nowait) || cmd->blkcg_css)
		return false;
	if (!(lo->backing->f_mode & FMODE_NOWAIT))
		return false;
	switch (req_op(rq)) {
	case REQ_OP_READ:
		break;
	case REQ_OP_WRITE:
		if ((rq->cmd_flags & (REQ_SYNC | REQ_IDLE)) !=
		    (REQ_SYNC | REQ_IDLE))
			return false;
		break;
	default:
		return false;
	}
	if (current->flags & (PF_MEMALLOC | PF_MEMALLOC_NOIO |
			      PF_MEMALLOC_NOFS))
		return false;
	if (atomic_read(&cmd->aq->pending))
		return false;
	depth = READ_ONCE(aloop_nowait_depth);
	if (depth && atomic_read(&cmd->aq->busy) > depth)
		return false;
#ifdef CONFIG_BLK_CGROUP
	rcu_read_lock();
	root = !task_css(current, io_cgrp_id)->parent;
	rcu_read_unlock();
#endif
	return root;
}

/* False: not submitted, the caller queues it for the worker. */
static bool alo_submit_inline(struct aloop_device *lo, struct alo_cmd *cmd,
			      struct request *rq)
{
	struct bio_list *bio_list = current->bio_list;
	struct blk_plug *plug = current->plug;
	void *journal = current->journal_info;
	unsigned int noio;
	int ret;

	cmd->nowait = true;
	alo_plug_invalidate_ts();
	current->bio_list = NULL;
	current->plug = NULL;
	current->journal_info = NULL;
	noio = memalloc_noio_save();
	ret = alo_rw_dio(lo, cmd, rq, alo_pos(lo, rq));
	memalloc_noio_restore(noio);
	current->journal_info = journal;
	current->plug = plug;
	current->bio_list = bio_list;

	if (ret == -EAGAIN) {
		cmd->nowait = false;
		atomic64_inc(&lo->nowait_again);
		return false;
	}
	/* Submitted: ->ki_complete (or the worker, after EAGAIN) ends it. */
	return true;
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
	cmd->use_dio = lo->use_dio;
	cmd->done = 0;
	cmd->ret = 0;
	cmd->zero_tail = false;
	cmd->write_held = false;
	cmd->nowait = false;
	cmd->counted = false;
	cmd->busy = false;
	cmd->bvec = NULL;
	alo_cmd_cgroups(cmd, rq);

	if (cmd->blkcg_css && alo_lane_cmd(lo, cmd))
		return BLK_STS_OK;
	cmd->busy = true;
	atomic_inc(&cmd->aq->busy);
	if (alo_can_inline(lo, cmd, rq) && alo_submit_inline(lo, cmd, rq))
		return BLK_STS_OK;
	alo_queue_cmd(cmd->aq, cmd, bd->last);
	return BLK_STS_OK;
}

/* The dispatch loop stopped before bd->last: start what was queued. */
static void alo_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct aloop_device *lo = hctx->queue->queuedata;
	struct alo_queue *aq;

	if (!lo->queues || hctx->queue_num >= lo->nr_queues)
		return;
	aq = &lo->queues[hctx->queue_num];
	if (kthread_queue_work(aq->worker, &aq->work))
		atomic64_inc(&lo->wakeups);
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
	alo_cmd_idle(cmd);
	blk_mq_end_request(rq, sts);
}

const struct blk_mq_ops aloop_mq_ops = {
	.queue_rq	= alo_queue_rq,
	.commit_rqs	= alo_commit_rqs,
	.complete	= alo_complete_rq,
};
