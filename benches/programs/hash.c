/* hash.c: hashing a buffer.
 *
 * Measures byte and word loads feeding multiply/xor/rotate chains: n pseudo-random bytes
 * are generated, then hashed with FNV-1a (one byte at a time) and with a 32-bit
 * xxHash-like hash (four lanes of 32-bit words, rotate and multiply by primes).
 *
 * run(n) = fnv1a(buffer) xor (xxhash-like(buffer) rotated left by 1), as an i32.
 */
#define BENCH_DEFAULT_N 4000000
#include "bench.h"

#define P1 2654435761u
#define P2 2246822519u
#define P3 3266489917u
#define P4 668265263u
#define P5 374761393u

static inline u32 rotl(u32 x, u32 r) { return (x << r) | (x >> (32 - r)); }

static inline u32 read32(const u8 *p) {
    return (u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24);
}

static u32 fnv1a(const u8 *p, u32 len) {
    u32 h = 2166136261u;
    for (u32 i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static u32 xxhash_like(const u8 *p, u32 len, u32 seed) {
    u32 i = 0, h;
    if (len >= 16) {
        u32 v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        for (; i + 16 <= len; i += 16) {
            v1 = rotl(v1 + read32(p + i) * P2, 13) * P1;
            v2 = rotl(v2 + read32(p + i + 4) * P2, 13) * P1;
            v3 = rotl(v3 + read32(p + i + 8) * P2, 13) * P1;
            v4 = rotl(v4 + read32(p + i + 12) * P2, 13) * P1;
        }
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    } else {
        h = seed + P5;
    }
    h += len;
    for (; i + 4 <= len; i += 4)
        h = rotl(h + read32(p + i) * P3, 17) * P4;
    for (; i < len; i++)
        h = rotl(h + p[i] * P5, 11) * P1;
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

BENCH_EXPORT int run(int n) {
    bench_reset();
    if (n < 0)
        n = 0;
    u32 len = (u32)n;
    u8 *buf = bench_alloc(len);
    u32 seed = 2463534242u;
    for (u32 i = 0; i < len; i++)
        buf[i] = (u8)(xorshift32(&seed) >> 24);
    u32 a = fnv1a(buf, len);
    u32 b = xxhash_like(buf, len, 42u);
    return (int)(a ^ rotl(b, 1));
}
