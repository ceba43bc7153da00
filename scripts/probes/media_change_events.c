/* before 6.6: disk_force_media_change(disk, events) */
#include <linux/blkdev.h>
bool probe(struct gendisk *d);
bool probe(struct gendisk *d) { return disk_force_media_change(d, DISK_EVENT_MEDIA_CHANGE); }
