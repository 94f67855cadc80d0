/* sort.c: sorting.
 *
 * Measures data-dependent branches, swaps and recursion over an i32 array: n
 * pseudo-random integers are sorted twice, once by quicksort (median of three, insertion
 * sort below 16 elements) and once, from a copy, by heapsort; both results are checked
 * against each other and for order.
 *
 * run(n) = sum over the sorted array of a[i] * (i + 1), mod 2^32; -1 if the two sorts
 * disagree or the result is not sorted.
 */
#define BENCH_DEFAULT_N 200000
#include "bench.h"

static void insertion_sort(i32 *a, int lo, int hi) {
    for (int i = lo + 1; i <= hi; i++) {
        i32 v = a[i];
        int j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static inline void swap(i32 *a, int i, int j) {
    i32 t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static void quicksort(i32 *a, int lo, int hi) {
    while (hi - lo >= 16) {
        int mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swap(a, mid, lo);
        if (a[hi] < a[lo]) swap(a, hi, lo);
        if (a[hi] < a[mid]) swap(a, hi, mid);
        i32 pivot = a[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                swap(a, i, j);
                i++;
                j--;
            }
        }
        /* Recurse into the smaller side, loop on the larger: bounded stack depth. */
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
    insertion_sort(a, lo, hi);
}

static void sift_down(i32 *a, int root, int end) {
    for (;;) {
        int child = 2 * root + 1;
        if (child > end)
            return;
        if (child + 1 <= end && a[child] < a[child + 1])
            child++;
        if (a[root] >= a[child])
            return;
        swap(a, root, child);
        root = child;
    }
}

static void heapsort(i32 *a, int n) {
    for (int start = n / 2 - 1; start >= 0; start--)
        sift_down(a, start, n - 1);
    for (int end = n - 1; end > 0; end--) {
        swap(a, 0, end);
        sift_down(a, 0, end - 1);
    }
}

BENCH_EXPORT int run(int n) {
    bench_reset();
    if (n <= 0)
        return 0;
    i32 *a = bench_alloc((u32)n * 4u);
    i32 *b = bench_alloc((u32)n * 4u);
    u32 seed = 12345u;
    for (int i = 0; i < n; i++)
        a[i] = b[i] = (i32)xorshift32(&seed);
    quicksort(a, 0, n - 1);
    heapsort(b, n);
    u32 sum = 0;
    for (int i = 0; i < n; i++) {
        if (a[i] != b[i] || (i > 0 && a[i - 1] > a[i]))
            return -1;
        sum += (u32)a[i] * (u32)(i + 1);
    }
    return (int)sum;
}
