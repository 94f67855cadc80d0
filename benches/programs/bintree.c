/* bintree.c: pointer chasing through a binary search tree in linear memory.
 *
 * Measures dependent loads (node -> child -> child ...) with poor locality and
 * unpredictable branches: n pseudo-random keys are inserted into an unbalanced binary
 * search tree whose nodes come from a bump allocator, then n keys are looked up (about
 * half of them present), then a recursive in-order walk visits every node.
 *
 * run(n) = (sum of lookup depths) * 31 + (hits) * 7 + (in-order weighted key sum),
 * mod 2^32; -1 if the in-order walk finds the keys out of order.
 */
#define BENCH_DEFAULT_N 100000
#include "bench.h"

struct node {
    u32 key;
    u32 count; /* times the key was inserted */
    struct node *left, *right;
};

static struct node *insert(struct node *root, u32 key) {
    struct node **link = &root;
    while (*link) {
        struct node *cur = *link;
        if (key == cur->key) {
            cur->count++;
            return root;
        }
        link = key < cur->key ? &cur->left : &cur->right;
    }
    struct node *fresh = bench_alloc(sizeof(struct node));
    fresh->key = key;
    fresh->count = 1;
    fresh->left = fresh->right = 0;
    *link = fresh;
    return root;
}

/* Depth at which key is found (1 for the root), or 0 when absent. */
static u32 lookup(const struct node *node, u32 key) {
    u32 depth = 1;
    while (node) {
        if (key == node->key)
            return depth;
        node = key < node->key ? node->left : node->right;
        depth++;
    }
    return 0;
}

struct walk {
    u32 index, sum, last, ordered;
};

static void in_order(const struct node *node, struct walk *w) {
    while (node) {
        in_order(node->left, w);
        if (w->index > 0 && node->key <= w->last)
            w->ordered = 0;
        w->last = node->key;
        w->index++;
        w->sum += node->key * w->index + node->count;
        node = node->right;
    }
}

BENCH_EXPORT int run(int n) {
    bench_reset();
    if (n <= 0)
        return 0;
    struct node *root = 0;
    u32 seed = 0x2545f491u;
    /* Keys in [0, 2n): about one in five inserts is a duplicate. */
    u32 range = 2u * (u32)n;
    for (int i = 0; i < n; i++)
        root = insert(root, xorshift32(&seed) % range);
    u32 depths = 0, hits = 0;
    for (int i = 0; i < n; i++) {
        u32 d = lookup(root, xorshift32(&seed) % range);
        depths += d;
        hits += d != 0;
    }
    struct walk w = {0, 0, 0, 1};
    in_order(root, &w);
    if (!w.ordered)
        return -1;
    return (int)(depths * 31u + hits * 7u + w.sum);
}
