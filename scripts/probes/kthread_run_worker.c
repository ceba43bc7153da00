/* kthread_run_worker(): 6.14; kthread_create_worker() stopped waking the task */
#include <linux/kthread.h>
struct kthread_worker *probe(void);
struct kthread_worker *probe(void) { return kthread_run_worker(0, "probe"); }
