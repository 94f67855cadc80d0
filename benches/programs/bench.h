/* bench.h: the little runtime shared by the benchmark programs in this folder.
 *
 * Each program defines `int run(int n)`: a pure function of n that returns a checksum.
 * Built for wasm32 (see build.sh) the programs have no libc and no imports: memory comes
 * from a bump allocator above `__heap_base` that grows linear memory as needed and is
 * reset at the start of every run, so `run` can be called any number of times in one
 * instance and gives the same result each time.
 *
 * Built natively with -DNATIVE (gcc, see build.sh) the same source gets malloc and a
 * `main` that prints `run(argv[1])` as a signed 32-bit integer, the way the Strata CLI
 * prints an i32 result, and the time it took on stderr.
 */
#ifndef BENCH_H
#define BENCH_H

/* Fixed-width types with the same meaning on wasm32 and x86-64 (never use `long`). */
typedef unsigned char u8;
typedef unsigned short u16;
typedef int i32;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;

#ifdef NATIVE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_EXPORT
static void bench_reset(void) {}
__attribute__((unused)) static void *bench_alloc(u32 size) {
    void *p = malloc(size ? size : 1);
    if (!p) abort();
    return p;
}

int run(int n);

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : BENCH_DEFAULT_N;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = run(n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%d\n", r);
    fprintf(stderr, "run(%d) = %d in %.2f ms\n", n, r,
            (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    return 0;
}

#else /* wasm32, freestanding */

#define BENCH_EXPORT __attribute__((export_name("run")))

extern unsigned char __heap_base;
static u32 bench_heap_top;

/* Forget every allocation of the previous run (memory already grown stays). */
static void bench_reset(void) { bench_heap_top = (u32)&__heap_base; }

/* 16-byte aligned bump allocation; grows linear memory, traps when it cannot. */
__attribute__((unused)) static void *bench_alloc(u32 size) {
    u32 p = (bench_heap_top + 15u) & ~15u;
    u32 end = p + size;
    if (end < p) __builtin_trap();
    u32 need = (end + 65535u) >> 16;
    u32 have = (u32)__builtin_wasm_memory_size(0);
    if (need > have && __builtin_wasm_memory_grow(0, need - have) == (__SIZE_TYPE__)-1)
        __builtin_trap();
    bench_heap_top = end;
    return (void *)p;
}

#endif

/* A small, fast pseudo-random generator (xorshift32); seed must not be 0. */
static inline u32 xorshift32(u32 *state) {
    u32 x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Fold the bits of a double into a 32-bit checksum (exact: no rounding involved). */
static inline u32 fold_f64(double d) {
    union { double d; u64 u; } v;
    v.d = d;
    return (u32)v.u ^ (u32)(v.u >> 32);
}

#endif
