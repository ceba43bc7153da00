/* 6.0: O_DIRECT support is FMODE_CAN_ODIRECT in f_mode (was ->direct_IO) */
#include <linux/fs.h>
int probe(struct file *f);
int probe(struct file *f) { return !!(f->f_mode & FMODE_CAN_ODIRECT); }
