/* 6.9: blk_mq_alloc_disk() takes the initial queue_limits */
#include <linux/blk-mq.h>
struct gendisk *probe(struct blk_mq_tag_set *s, struct queue_limits *l);
struct gendisk *probe(struct blk_mq_tag_set *s, struct queue_limits *l)
{
	return blk_mq_alloc_disk(s, l, NULL);
}
