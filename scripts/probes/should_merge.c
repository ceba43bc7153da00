/* BLK_MQ_F_SHOULD_MERGE: removed in 6.14 (merging became the default) */
#include <linux/blk-mq.h>
unsigned int probe(void);
unsigned int probe(void) { return BLK_MQ_F_SHOULD_MERGE; }
