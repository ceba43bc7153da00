/* 7.x: struct bvec_iter.bi_bvec_done was renamed bi_offset */
#include <linux/bvec.h>
unsigned int probe(struct bvec_iter *it);
unsigned int probe(struct bvec_iter *it) { return it->bi_offset; }
