/*
 * Version probe: the oldest kernel aloop supports is 6.1 (Debian 12).
 * Nothing older is built or tested; src/aloop_compat.h stops the build.
 */
#include <linux/version.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "older than 6.1"
#endif
int probe(void);
int probe(void) { return 0; }
