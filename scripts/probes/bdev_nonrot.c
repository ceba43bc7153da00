/* 5.19 .. 6.x: bdev_nonrot() */
#include <linux/blkdev.h>
bool probe(struct block_device *b);
bool probe(struct block_device *b) { return bdev_nonrot(b); }
