/* base64.c: byte processing.
 *
 * Measures byte loads and stores, shifts, masks and small table lookups: n pseudo-random
 * bytes are base64-encoded, the text is decoded back (through a 256-entry reverse table,
 * rejecting bad characters) and compared with the original, and both the text and the
 * bytes are run through a table-driven CRC-32 (the zlib polynomial).
 *
 * run(n) = crc32(text) + 31 * crc32(bytes), mod 2^32; -1 if the round trip fails.
 */
#define BENCH_DEFAULT_N 2000000
#include "bench.h"

static const char alphabet[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static u32 crc_table[256];

static void make_crc_table(void) {
    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static u32 crc32(const u8 *p, u32 len) {
    u32 c = 0xffffffffu;
    for (u32 i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static u32 encode(const u8 *in, u32 len, u8 *out) {
    u32 o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        u32 v = ((u32)in[i] << 16) | ((u32)in[i + 1] << 8) | in[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < len) {
        u32 v = (u32)in[i] << 16;
        if (i + 1 < len)
            v |= (u32)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* Returns the decoded length, or -1 on a malformed input. */
static i32 decode(const u8 *in, u32 len, u8 *out) {
    u8 rev[256];
    for (int i = 0; i < 256; i++)
        rev[i] = 0xff;
    for (int i = 0; i < 64; i++)
        rev[(u8)alphabet[i]] = (u8)i;
    if (len % 4)
        return -1;
    u32 o = 0;
    for (u32 i = 0; i < len; i += 4) {
        u32 pad = 0;
        if (i + 4 == len) {
            pad = (in[i + 3] == '=') + (in[i + 2] == '=');
        }
        u32 a = rev[in[i]], b = rev[in[i + 1]];
        u32 c = pad >= 2 ? 0 : rev[in[i + 2]];
        u32 d = pad >= 1 ? 0 : rev[in[i + 3]];
        if ((a | b | c | d) & 0x80)
            return -1;
        u32 v = (a << 18) | (b << 12) | (c << 6) | d;
        out[o++] = (u8)(v >> 16);
        if (pad < 2)
            out[o++] = (u8)(v >> 8);
        if (pad < 1)
            out[o++] = (u8)v;
    }
    return (i32)o;
}

BENCH_EXPORT int run(int n) {
    bench_reset();
    if (n < 0)
        n = 0;
    u32 len = (u32)n;
    u8 *bytes = bench_alloc(len);
    u8 *text = bench_alloc((len + 2) / 3 * 4);
    u8 *back = bench_alloc(len);
    u32 seed = 0xbb67ae85u;
    for (u32 i = 0; i < len; i++)
        bytes[i] = (u8)(xorshift32(&seed) >> 7);
    make_crc_table();
    u32 text_len = encode(bytes, len, text);
    i32 back_len = decode(text, text_len, back);
    if (back_len != (i32)len)
        return -1;
    for (u32 i = 0; i < len; i++)
        if (back[i] != bytes[i])
            return -1;
    return (int)(crc32(text, text_len) + 31u * crc32(bytes, len));
}
