/* 7.x: bdev_nonrot() became bdev_rot() */
#include <linux/blkdev.h>
bool probe(struct block_device *b);
bool probe(struct block_device *b) { return bdev_rot(b); }
