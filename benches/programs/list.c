/* list.c: pointer chasing through a linked list in linear memory.
 *
 * Measures dependent loads with no locality: n list nodes are laid out in memory in a
 * pseudo-random order (a shuffled permutation decides which node follows which), the list
 * is walked 8 times, then merge-sorted by relinking pointers (top-down, splitting with a
 * slow/fast walk) and walked again to check the order.
 *
 * run(n) = (sum of the 8 walks' checksums) xor (weighted sum of the sorted values), mod
 * 2^32; -1 if the sorted list is out of order or has lost nodes.
 */
#define BENCH_DEFAULT_N 100000
#include "bench.h"

struct node {
    struct node *next;
    u32 value;
};

static struct node *merge(struct node *a, struct node *b) {
    struct node head;
    struct node *tail = &head;
    while (a && b) {
        if (a->value <= b->value) {
            tail->next = a;
            a = a->next;
        } else {
            tail->next = b;
            b = b->next;
        }
        tail = tail->next;
    }
    tail->next = a ? a : b;
    return head.next;
}

static struct node *merge_sort(struct node *list) {
    if (!list || !list->next)
        return list;
    struct node *slow = list, *fast = list->next;
    while (fast && fast->next) {
        slow = slow->next;
        fast = fast->next->next;
    }
    struct node *second = slow->next;
    slow->next = 0;
    return merge(merge_sort(list), merge_sort(second));
}

BENCH_EXPORT int run(int n) {
    bench_reset();
    if (n <= 0)
        return 0;
    struct node *nodes = bench_alloc((u32)n * sizeof(struct node));
    u32 *order = bench_alloc((u32)n * sizeof(u32));
    u32 seed = 0x6a09e667u;
    for (int i = 0; i < n; i++) {
        order[i] = (u32)i;
        nodes[i].value = xorshift32(&seed) % 1000000u;
    }
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        u32 j = xorshift32(&seed) % (u32)(i + 1);
        u32 t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i + 1 < n; i++)
        nodes[order[i]].next = &nodes[order[i + 1]];
    nodes[order[n - 1]].next = 0;
    struct node *list = &nodes[order[0]];

    u32 walks = 0;
    for (int round = 0; round < 8; round++) {
        u32 h = (u32)round;
        for (struct node *p = list; p; p = p->next)
            h = h * 33u + p->value;
        walks += h;
    }

    list = merge_sort(list);
    u32 sum = 0, count = 0, last = 0;
    for (struct node *p = list; p; p = p->next) {
        if (p->value < last)
            return -1;
        last = p->value;
        count++;
        sum += p->value * count;
    }
    if (count != (u32)n)
        return -1;
    return (int)(walks ^ sum);
}
