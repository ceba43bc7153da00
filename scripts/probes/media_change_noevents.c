/* 6.6: disk_force_media_change(disk) */
#include <linux/blkdev.h>
void probe(struct gendisk *d);
void probe(struct gendisk *d) { disk_force_media_change(d); }
