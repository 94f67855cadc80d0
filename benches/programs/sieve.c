/* sieve.c: integer loops over memory.
 *
 * Measures plain loops of loads, stores, adds and compares over a byte array: the sieve
 * of Eratosthenes over [0, n), then a pass that counts the primes and sums them.
 *
 * run(n) = (number of primes below n) * 1000003 + (sum of the primes below n), mod 2^32.
 */
#define BENCH_DEFAULT_N 4000000
#include "bench.h"

BENCH_EXPORT int run(int n) {
    bench_reset();
    if (n < 2)
        return 0;
    u32 size = (u32)n;
    u8 *composite = bench_alloc(size);
    for (u32 i = 0; i < size; i++)
        composite[i] = 0;
    for (u32 p = 2; p * p < size; p++) {
        if (composite[p])
            continue;
        for (u32 m = p * p; m < size; m += p)
            composite[m] = 1;
    }
    u32 count = 0, sum = 0;
    for (u32 i = 2; i < size; i++) {
        if (!composite[i]) {
            count++;
            sum += i;
        }
    }
    return (int)(count * 1000003u + sum);
}
