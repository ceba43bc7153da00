/* before 6.5: bd_prepare_to_claim(bdev, holder) */
#include <linux/blkdev.h>
int probe(struct block_device *b);
int probe(struct block_device *b) { return bd_prepare_to_claim(b, b); }
