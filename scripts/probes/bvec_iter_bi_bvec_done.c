/* up to 6.x: struct bvec_iter.bi_bvec_done, the offset in the current bvec */
#include <linux/bvec.h>
unsigned int probe(struct bvec_iter *it);
unsigned int probe(struct bvec_iter *it) { return it->bi_bvec_done; }
