/* 6.15: blk_mq_freeze_queue() returns memflags for blk_mq_unfreeze_queue() */
#include <linux/blk-mq.h>
void probe(struct request_queue *q);
void probe(struct request_queue *q)
{
	unsigned int memflags = blk_mq_freeze_queue(q);

	blk_mq_unfreeze_queue(q, memflags);
}
