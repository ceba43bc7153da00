// SPDX-License-Identifier: GPL-2.0
/*
 * aloop - the I/O path.
 *
 * ->queue_rq hands every request to the device's kthread worker (one
 * kthread_work per request, in the PDU).  The worker serves it:
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
#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include "aloop.h"

static inline loff_t alo_pos(struct aloop_device *lo, struct request *rq)
{
	return ((loff_t)blk_rq_pos(rq) << SECTOR_SHIFT) + lo->offset;
}

/*
 * One iov_iter over all bio_vecs of the request (it may span several
 * bios), advanced past what an earlier partial transfer already did.
 */
static int alo_init_iter(struct alo_cmd *cmd, struct request *rq,
			 unsigned int dir, struct iov_iter *iter)
{
	struct req_iterator rq_iter;
	const struct bio_vec *bvec;
	struct bio_vec tmp, *copy;
	unsigned int offset = 0;
	int nr_bvec = 0;

	rq_for_each_bvec(tmp, rq, rq_iter)
		nr_bvec++;

	if (rq->bio != rq->biotail) {
		copy = kmalloc_array(nr_bvec, sizeof(*copy), GFP_NOIO);
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
 * completes the kiocb (lockdep is told the owner changes).
 */
static bool alo_start_write(struct file *file)
{
	struct inode *inode = file_inode(file);

	if (!S_ISREG(inode->i_mode))
		return false;
	sb_start_write(inode->i_sb);
	__sb_writers_release(inode->i_sb, SB_FREEZE_WRITE);
	return true;
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

	err = alo_init_iter(cmd, rq, write ? ITER_SOURCE : ITER_DEST, &iter);
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

	if (ret == -EINVAL && !cmd->done) {
		/* The backing file refused this request's alignment. */
		atomic64_inc(&lo->reqs_fallback);
		cmd->use_dio = false;
		kthread_queue_work(lo->worker, &cmd->work);
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
				kthread_queue_work(lo->worker, &cmd->work);
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

	err = alo_init_iter(cmd, rq, write ? ITER_SOURCE : ITER_DEST, &iter);
	if (err)
		return err;
	if (!cmd->done)
		atomic64_inc(&lo->reqs_dio);

	atomic_set(&cmd->ref, 2);
	memset(iocb, 0, sizeof(*iocb));
	iocb->ki_pos = pos + cmd->done;
	iocb->ki_filp = file;
	iocb->ki_complete = alo_dio_complete;
	iocb->ki_flags = IOCB_DIRECT;
	iocb->ki_ioprio = req_get_ioprio(rq);
	if (write && (rq->cmd_flags & REQ_FUA))
		iocb->ki_flags |= IOCB_DSYNC;
	/* Read here, not in the completion (which may be a hard irq). */
	cmd->eof = i_size_read(file->f_mapping->host);

	if (write) {
		cmd->write_held = alo_start_write(file);
		ret = file->f_op->write_iter(iocb, &iter);
	} else {
		ret = file->f_op->read_iter(iocb, &iter);
	}

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

static void alo_work_fn(struct kthread_work *work)
{
	struct alo_cmd *cmd = container_of(work, struct alo_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct aloop_device *lo = rq->q->queuedata;
	unsigned int noio_flags;
	int ret;

	/* Backing I/O must not recurse into reclaim that waits on us. */
	noio_flags = memalloc_noio_save();
	ret = alo_do_cmd(lo, cmd, rq);
	if (ret == -ENOMEM) {
		/* No memory for the bvec copy: try again a little later. */
		blk_mq_requeue_request(rq, false);
		blk_mq_delay_kick_requeue_list(rq->q, 10);
	} else if (ret != -EIOCBQUEUED) {
		cmd->ret = ret;
		if (likely(!blk_should_fake_timeout(rq->q)))
			blk_mq_complete_request(rq);
	}
	memalloc_noio_restore(noio_flags);
}

static blk_status_t alo_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct alo_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct aloop_device *lo = rq->q->queuedata;

	blk_mq_start_request(rq);

	/*
	 * The backing file and worker only change with the queue frozen,
	 * so they are stable for as long as this request is in flight.
	 */
	if (unlikely(!lo->worker))
		return BLK_STS_IOERR;
	if (unlikely(op_is_write(req_op(rq)) &&
		     (lo->flags & LO_FLAGS_READ_ONLY)))
		return BLK_STS_IOERR;

	/*
	 * A kthread_work remembers its last worker and must not be queued on
	 * another; the worker is new after every configure, so start afresh.
	 */
	kthread_init_work(&cmd->work, alo_work_fn);
	cmd->use_dio = lo->use_dio;
	cmd->done = 0;
	cmd->ret = 0;
	cmd->zero_tail = false;
	cmd->write_held = false;
	cmd->bvec = NULL;
	kthread_queue_work(lo->worker, &cmd->work);
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
	blk_mq_end_request(rq, sts);
}

const struct blk_mq_ops aloop_mq_ops = {
	.queue_rq	= alo_queue_rq,
	.complete	= alo_complete_rq,
};
