/* 6.5: ->open(struct gendisk *, blk_mode_t), ->release(struct gendisk *) */
#include <linux/blkdev.h>
static int o(struct gendisk *d, blk_mode_t m) { return 0; }
static void r(struct gendisk *d) { }
const struct block_device_operations probe_fops = { .open = o, .release = r };
