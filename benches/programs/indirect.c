/* indirect.c: call_indirect through a function-pointer table.
 *
 * Measures indirect calls (wasm call_indirect with its signature check): a table of 16
 * small functions of one type, each mixing an accumulator with an argument differently,
 * called n times in an order chosen by a pseudo-random generator, plus a second table of
 * 4 functions of another type called every 8th step. noinline keeps the functions real.
 *
 * run(n) = the final accumulator, as an i32.
 */
#define BENCH_DEFAULT_N 2000000
#include "bench.h"

typedef u32 (*op2)(u32 acc, u32 x);
typedef u32 (*op1)(u32 acc);

#define NI __attribute__((noinline))
NI static u32 f_add(u32 a, u32 x) { return a + x; }
NI static u32 f_sub(u32 a, u32 x) { return a - x; }
NI static u32 f_xor(u32 a, u32 x) { return a ^ x; }
NI static u32 f_mul(u32 a, u32 x) { return a * (x | 1); }
NI static u32 f_rotl(u32 a, u32 x) { return (a << (x & 31)) | (a >> ((32 - x) & 31)); }
NI static u32 f_rotr(u32 a, u32 x) { return (a >> (x & 31)) | (a << ((32 - x) & 31)); }
NI static u32 f_and_or(u32 a, u32 x) { return (a & x) | (a >> 3); }
NI static u32 f_min(u32 a, u32 x) { return a < x ? a : x + (a >> 16); }
NI static u32 f_max(u32 a, u32 x) { return a > x ? a : x - (a >> 16); }
NI static u32 f_div(u32 a, u32 x) { return a / ((x & 0xff) + 1) + x; }
NI static u32 f_rem(u32 a, u32 x) { return a % ((x & 0xffff) + 1) + (a << 7); }
NI static u32 f_popcnt(u32 a, u32 x) { return a + (u32)__builtin_popcount(x); }
NI static u32 f_clz(u32 a, u32 x) { return a * 3 + (u32)__builtin_clz(x | 1); }
NI static u32 f_sign(u32 a, u32 x) { return (u32)((i32)a >> 7) ^ x; }
NI static u32 f_mix(u32 a, u32 x) { return (a ^ (x >> 11)) * 0x9e3779b1u; }
NI static u32 f_loop(u32 a, u32 x) {
    for (u32 i = 0; i < (x & 3); i++)
        a = a * 5 + i;
    return a;
}

NI static u32 g_inc(u32 a) { return a + 1; }
NI static u32 g_not(u32 a) { return ~a; }
NI static u32 g_swap(u32 a) { return (a << 16) | (a >> 16); }
NI static u32 g_shift(u32 a) { return a ^ (a >> 5); }

static op2 const ops[16] = {f_add,  f_sub, f_xor, f_mul,  f_rotl, f_rotr, f_and_or, f_min,
                            f_max,  f_div, f_rem, f_popcnt, f_clz, f_sign, f_mix,  f_loop};
static op1 const unary[4] = {g_inc, g_not, g_swap, g_shift};

BENCH_EXPORT int run(int n) {
    bench_reset();
    u32 seed = 0x3c6ef372u, acc = 1;
    for (int i = 0; i < n; i++) {
        u32 r = xorshift32(&seed);
        acc = ops[r >> 28](acc, r);
        if ((i & 7) == 7)
            acc = unary[acc & 3](acc);
    }
    return (int)acc;
}
