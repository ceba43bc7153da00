/*
 * Version probe: 6.8 ("fs: move file_start_write() into vfs_iter_write()")
 * made vfs_iter_write() take freeze protection itself.  The prototype did
 * not change, so no compile test can tell; the version decides.
 */
#include <linux/version.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
#error "vfs_iter_write() leaves freeze protection to the caller"
#endif
int probe(void);
int probe(void) { return 0; }
