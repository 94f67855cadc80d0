/* vm.c: a switch-heavy interpreter loop.
 *
 * Measures indirect-branch dispatch: a tiny register bytecode VM (8 registers, 256 words
 * of data memory, 20 opcodes) whose `switch` compiles to a wasm br_table. The bytecode
 * program walks the Collatz sequence of every start value 1..n (n at most 150000),
 * counting steps, and keeps a per-bucket tally in the VM's data memory.
 *
 * run(n) = r0 at HALT (total steps xor a step-weighted mix) xor a fold of the VM memory.
 */
#define BENCH_DEFAULT_N 10000
#include "bench.h"

enum op {
    HALT,  /* stop; the result is r0 */
    LOADI, /* ra = imm16 */
    MOV,   /* ra = rb */
    ADD,   /* ra = rb + rc */
    SUB,   /* ra = rb - rc */
    MUL,   /* ra = rb * rc */
    XOR,   /* ra = rb ^ rc */
    AND,   /* ra = rb & rc */
    OR,    /* ra = rb | rc */
    ADDI,  /* ra = rb + (signed 8-bit c) */
    SHLI,  /* ra = rb << c */
    SHRI,  /* ra = rb >> c (logical) */
    LT,    /* ra = rb < rc (unsigned) */
    EQ,    /* ra = rb == rc */
    LOAD,  /* ra = mem[rb & 255] */
    STORE, /* mem[ra & 255] = rb */
    JMP,   /* pc = imm16 */
    JZ,    /* if ra == 0: pc = imm16 */
    JNZ,   /* if ra != 0: pc = imm16 */
    ROTLI, /* ra = rb rotated left by c */
};

#define R(op, a, b, c) ((u32)(op) | ((u32)(a) << 8) | ((u32)(b) << 16) | ((u32)(u8)(c) << 24))
#define I(op, a, imm) ((u32)(op) | ((u32)(a) << 8) | ((u32)(imm) << 16))

/* r0 = n on entry; r1 = i, r2 = total steps, r3 scratch, r4 = x, r5 = steps,
 * r6 = 1, r7 = mix. Jump targets are instruction indices. */
static const u32 program[] = {
    /*  0 */ I(LOADI, 6, 1),
    /*  1 */ I(LOADI, 1, 1), /* i = 1 */
    /*  2 */ I(LOADI, 2, 0),
    /*  3 */ I(LOADI, 7, 0),
    /* outer: */
    /*  4 */ R(LT, 3, 0, 1), /* n < i: done */
    /*  5 */ I(JNZ, 3, 28),
    /*  6 */ R(MOV, 4, 1, 0), /* x = i */
    /*  7 */ I(LOADI, 5, 0),  /* steps = 0 */
    /* inner: */
    /*  8 */ R(EQ, 3, 4, 6), /* x == 1: the sequence ends */
    /*  9 */ I(JNZ, 3, 19),
    /* 10 */ R(AND, 3, 4, 6),
    /* 11 */ I(JNZ, 3, 14),
    /* 12 */ R(SHRI, 4, 4, 1), /* even: x = x / 2 */
    /* 13 */ I(JMP, 0, 17),
    /* odd: */
    /* 14 */ R(ADD, 3, 4, 4), /* odd: x = 3x + 1 */
    /* 15 */ R(ADD, 4, 3, 4),
    /* 16 */ R(ADDI, 4, 4, 1),
    /* next: */
    /* 17 */ R(ADDI, 5, 5, 1), /* steps++ */
    /* 18 */ I(JMP, 0, 8),
    /* inner_end: */
    /* 19 */ R(ADD, 2, 2, 5), /* total += steps */
    /* 20 */ R(MUL, 3, 5, 1), /* mix = rotl(mix ^ steps * i, 5) */
    /* 21 */ R(XOR, 7, 7, 3),
    /* 22 */ R(ROTLI, 7, 7, 5),
    /* 23 */ R(LOAD, 3, 1, 0), /* mem[i & 255] += steps */
    /* 24 */ R(ADD, 3, 3, 5),
    /* 25 */ R(STORE, 1, 3, 0),
    /* 26 */ R(ADDI, 1, 1, 1), /* i++ */
    /* 27 */ I(JMP, 0, 4),
    /* done: */
    /* 28 */ R(XOR, 0, 2, 7),
    /* 29 */ I(HALT, 0, 0),
};

static u32 execute(const u32 *code, u32 *r, u32 *mem) {
    u32 pc = 0;
    for (;;) {
        u32 ins = code[pc++];
        u32 a = (ins >> 8) & 7, b = (ins >> 16) & 7, c = ins >> 24, imm = ins >> 16;
        switch (ins & 0xff) {
        case HALT: return r[0];
        case LOADI: r[a] = imm; break;
        case MOV: r[a] = r[b]; break;
        case ADD: r[a] = r[b] + r[c & 7]; break;
        case SUB: r[a] = r[b] - r[c & 7]; break;
        case MUL: r[a] = r[b] * r[c & 7]; break;
        case XOR: r[a] = r[b] ^ r[c & 7]; break;
        case AND: r[a] = r[b] & r[c & 7]; break;
        case OR: r[a] = r[b] | r[c & 7]; break;
        case ADDI: r[a] = r[b] + (u32)(i32)(signed char)c; break;
        case SHLI: r[a] = r[b] << (c & 31); break;
        case SHRI: r[a] = r[b] >> (c & 31); break;
        case LT: r[a] = r[b] < r[c & 7]; break;
        case EQ: r[a] = r[b] == r[c & 7]; break;
        case LOAD: r[a] = mem[r[b] & 255]; break;
        case STORE: mem[r[a] & 255] = r[b]; break;
        case JMP: pc = imm; break;
        case JZ: if (r[a] == 0) pc = imm; break;
        case JNZ: if (r[a] != 0) pc = imm; break;
        case ROTLI: r[a] = (r[b] << (c & 31)) | (r[b] >> ((32 - c) & 31)); break;
        default: return 0xdeadbeefu;
        }
    }
}

BENCH_EXPORT int run(int n) {
    bench_reset();
    /* Above 159486 some Collatz sequence leaves the 32-bit range (and may never end). */
    if (n < 0 || n > 150000)
        return -1;
    u32 regs[8] = {(u32)n, 0, 0, 0, 0, 0, 0, 0};
    u32 *mem = bench_alloc(256 * sizeof(u32));
    for (int i = 0; i < 256; i++)
        mem[i] = 0;
    u32 result = execute(program, regs, mem);
    u32 fold = 0;
    for (int i = 0; i < 256; i++)
        fold = fold * 31u + mem[i];
    return (int)(result ^ fold);
}
