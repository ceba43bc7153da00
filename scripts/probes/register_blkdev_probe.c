/* 5.11: __register_blkdev(major, name, probe) creates disks on open */
#include <linux/blkdev.h>
static void p(dev_t d) { }
int probe(void);
int probe(void) { return __register_blkdev(0, "x", p); }
