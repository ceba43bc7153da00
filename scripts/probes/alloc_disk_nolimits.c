/* before 6.9: blk_mq_alloc_disk(set, queuedata); limits set one by one */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
struct gendisk *probe(struct blk_mq_tag_set *s);
struct gendisk *probe(struct blk_mq_tag_set *s)
{
	struct gendisk *d = blk_mq_alloc_disk(s, NULL);

	blk_queue_logical_block_size(d->queue, 512);
	return d;
}
