/* matmul.c: matrix multiply.
 *
 * Measures a triple loop of f64 multiply-adds with strided loads: C = A * B for two
 * n x n matrices filled with small pseudo-random values (i-k-j loop order, row-major).
 *
 * run(n) = the bits of the sum of C's elements, each weighted by (1 + (i + j) mod 3),
 * folded to 32 bits.
 */
#define BENCH_DEFAULT_N 250
#include "bench.h"

BENCH_EXPORT int run(int n) {
    bench_reset();
    if (n <= 0)
        return 0;
    u32 count = (u32)n * (u32)n;
    double *a = bench_alloc(count * sizeof(double));
    double *b = bench_alloc(count * sizeof(double));
    double *c = bench_alloc(count * sizeof(double));
    u32 seed = 0x9e3779b9u;
    for (u32 i = 0; i < count; i++) {
        a[i] = (double)(xorshift32(&seed) % 2001u) / 1000.0 - 1.0;
        b[i] = (double)(xorshift32(&seed) % 2001u) / 1000.0 - 1.0;
        c[i] = 0.0;
    }
    for (int i = 0; i < n; i++) {
        double *ci = c + i * n;
        for (int k = 0; k < n; k++) {
            double aik = a[i * n + k];
            double *bk = b + k * n;
            for (int j = 0; j < n; j++)
                ci[j] += aik * bk[j];
        }
    }
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            sum += c[i * n + j] * (double)(1 + (i + j) % 3);
    return (int)fold_f64(sum);
}
