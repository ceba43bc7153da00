/* before 6.5: ->open(struct block_device *, fmode_t), ->release(gendisk, fmode_t) */
#include <linux/blkdev.h>
static int o(struct block_device *b, fmode_t m) { return 0; }
static void r(struct gendisk *d, fmode_t m) { }
const struct block_device_operations probe_fops = { .open = o, .release = r };
