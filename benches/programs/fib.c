/* fib.c: recursive calls.
 *
 * Measures the cost of a direct call and return: the doubly recursive Fibonacci function,
 * about 1.6 * fib(n) calls, each doing almost nothing else. noinline keeps the compiler
 * from unrolling the recursion into its caller.
 *
 * run(n) = fib(n) mod 2^32 (as a signed i32).
 */
#define BENCH_DEFAULT_N 32
#include "bench.h"

__attribute__((noinline)) static u32 fib(u32 n) {
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

BENCH_EXPORT int run(int n) {
    bench_reset();
    return (int)fib((u32)n);
}
