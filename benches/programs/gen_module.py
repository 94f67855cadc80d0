#!/usr/bin/env python3
"""gen_module.py: writes the C source of a big synthetic benchmark module to stdout.

The module measures time to first result: how long a runtime takes from the bytes of a
large module to the first value returned by a call that touches only a few of its
functions. It has FUNCTIONS functions `static u32 fK(u32 x)`, each a deterministic
pseudo-random mix of integer arithmetic, small counted loops, dense switches (br_table),
if/else, reads of constant lookup tables (a data segment), a local array and a few f64
conversions. All of them sit in one function-pointer table (the wasm table and its element
segment), which keeps them alive; `run(n)` calls only the 4 functions listed in `picks`,
n times in all, through that table (call_indirect).

The output depends only on the arguments (Python's `random` with a fixed seed is stable
across versions for `randrange`/`choice` on the same inputs), so build.sh regenerates
exactly the committed modules:

    python3 gen_module.py --functions 5000 --seed 1 > large.c    # large.wasm, several MB
    python3 gen_module.py --functions 300 --seed 2 > medium.c    # medium.wasm, a few 100 KB

The generated C includes bench.h from this folder (compile with -I pointing here) and
builds natively with -DNATIVE like the hand-written programs.
"""

import argparse
import random


class Gen:
    def __init__(self, rng, tables):
        self.rng = rng
        self.tables = tables

    def const(self):
        return self.rng.randrange(1, 1 << 32)

    def odd(self):
        return self.rng.randrange(1, 1 << 32) | 1

    def simple(self, var_i=False):
        """One straight-line statement over x and y (and the loop counter i)."""
        r = self.rng
        v = r.choice(["x", "y"])
        w = "y" if v == "x" else "x"
        k = r.randrange(10 if var_i else 9)
        if k == 0:
            return f"{v} = {v} * {self.odd()}u + {self.const()}u;"
        if k == 1:
            return f"{v} ^= {w} >> {r.randrange(1, 32)};"
        if k == 2:
            s = r.randrange(1, 32)
            return f"{v} = ({v} << {s}) | ({v} >> {32 - s});"
        if k == 3:
            return f"{v} += {w} ^ {self.const()}u;"
        if k == 4:
            return f"{v} -= {w} & {self.const()}u;"
        if k == 5:
            return f"{v} ^= ({w} << {r.randrange(1, 32)}) + {self.const()}u;"
        if k == 6:
            return f"{v} += ({w} % {r.randrange(3, 1000)}u) * {self.odd()}u;"
        if k == 7:
            return f"{v} = {v} < {w} ? {v} + {self.const()}u : {v} - {w};"
        if k == 8:
            return f"{v} += (u32)((i32){w} >> {r.randrange(1, 31)});"
        return f"{v} = {v} * {self.odd()}u + i;"

    def block(self, depth, ind, var_i=False):
        r = self.rng
        pad = "    " * ind
        kinds = ["simple"] * 4 + ["table", "float", "array"]
        if depth < 2:
            kinds += ["loop", "switch", "if", "if"]
        kind = r.choice(kinds)
        if kind == "simple":
            return [pad + self.simple(var_i)]
        if kind == "table":
            t = r.randrange(self.tables)
            v = r.choice(["x", "y"])
            w = "y" if v == "x" else "x"
            return [pad + f"{v} += tab{t}[({w} >> {r.randrange(0, 26)}) & 63u];"]
        if kind == "float":
            scale = r.randrange(1, 8000) / 8  # exact in binary; product < 2^30
            v = r.choice(["x", "y"])
            w = "y" if v == "x" else "x"
            return [
                pad + "{",
                pad + f"    double d = (double)({w} & 0xfffffu) * {scale!r} + {r.randrange(100)}.5;",
                pad + f"    {v} ^= (u32)d;",
                pad + "}",
            ]
        if kind == "array":
            return [
                pad + "{",
                pad + "    u32 buf[8];",
                pad + f"    for (u32 j = 0; j < 8u; j++) buf[j] = x + j * {self.odd()}u;",
                pad + f"    buf[y & 7u] ^= y;",
                pad + f"    y += buf[(x >> {r.randrange(0, 29)}) & 7u];",
                pad + "}",
            ]
        if kind == "loop":
            lines = [pad + f"for (u32 i = 0; i < {r.randrange(2, 9)}u; i++) {{"]
            for _ in range(r.randrange(2, 5)):
                lines += self.block(depth + 1, ind + 1, var_i=True)
            return lines + [pad + "}"]
        if kind == "switch":
            cases = r.randrange(5, 13)
            lines = [pad + f"switch ({r.choice(['x', 'y'])} % {cases}u) {{"]
            for c in range(cases):
                lines.append(pad + f"case {c}:")
                for _ in range(r.randrange(1, 3)):
                    lines += self.block(depth + 1, ind + 1, var_i)
                lines.append(pad + "    break;")
            lines.append(pad + "default:")
            lines.append(pad + "    break;")
            return lines + [pad + "}"]
        # if / else
        lines = [pad + f"if (({r.choice(['x', 'y'])} & {self.const()}u) > {self.const()}u) {{"]
        for _ in range(r.randrange(1, 4)):
            lines += self.block(depth + 1, ind + 1, var_i)
        lines.append(pad + "} else {")
        for _ in range(r.randrange(1, 4)):
            lines += self.block(depth + 1, ind + 1, var_i)
        return lines + [pad + "}"]

    def function(self, k, blocks):
        lines = [f"NI static u32 f{k}(u32 x) {{", f"    u32 y = x ^ {self.const()}u;"]
        for _ in range(blocks):
            lines += self.block(0, 1)
        lines += ["    return x ^ y;", "}", ""]
        return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--functions", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--blocks", type=int, default=3, help="top-level blocks per function")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    n = args.functions
    tables = max(1, n // 8)
    gen = Gen(rng, tables)

    out = []
    out.append(f"/* Generated by gen_module.py --functions {n} --seed {args.seed}"
               f" --blocks {args.blocks}: do not edit.")
    out.append(" *")
    out.append(" * Time to first result: a big module whose run(n) touches only 4 of its")
    out.append(f" * {n} table functions. run(n) = the accumulator after n indirect calls. */")
    out.append("#define BENCH_DEFAULT_N 1000")
    out.append('#include "bench.h"')
    out.append("#define NI __attribute__((noinline))")
    out.append("")
    for t in range(tables):
        vals = ", ".join(f"{gen.const()}u" for _ in range(64))
        out.append(f"static const u32 tab{t}[64] = {{{vals}}};")
    out.append("")
    for k in range(n):
        out.append(gen.function(k, args.blocks))
    out.append("static u32 (*const table[])(u32) = {")
    for k in range(0, n, 10):
        out.append("    " + ", ".join(f"f{j}" for j in range(k, min(n, k + 10))) + ",")
    out.append("};")
    out.append("")
    picks = [rng.randrange(n) for _ in range(4)]
    out.append(f"static const u32 picks[4] = {{{', '.join(str(p) for p in picks)}}};")
    out.append("")
    out.append("BENCH_EXPORT int run(int n) {")
    out.append("    bench_reset();")
    out.append("    u32 acc = 0x12345u;")
    out.append("    for (int i = 0; i < n; i++)")
    out.append("        acc = table[picks[(acc ^ (u32)i) & 3u]](acc + (u32)i);")
    out.append("    return (int)acc;")
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
