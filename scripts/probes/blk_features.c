/* 6.11: write cache, FUA, rotational are queue_limits features */
#include <linux/blkdev.h>
unsigned int probe(void);
unsigned int probe(void)
{
	struct queue_limits l = { .features = BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA };

	return (__force unsigned int)l.features;
}
