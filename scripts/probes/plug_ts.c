/* blk_plug_invalidate_ts(): 6.9 caches a timestamp in the plug (PF_BLOCK_TS) */
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
void probe(void);
void probe(void) { blk_plug_invalidate_ts(); }
