#!/bin/sh
# Rebuilds every .wasm in this folder from its source. The .wasm files are committed, so
# tests and benchmarks never need this toolchain; run this only after changing a source.
#
# Needs (Debian): apt-get install -y clang lld wabt binaryen python3
# (clang 14 or newer with the wasm32 target, wasm-ld from lld, wasm-validate from wabt).
#
# Usage: sh benches/programs/build.sh        (from anywhere)
set -eu
cd "$(dirname "$0")"

# Freestanding wasm32, no libc, no imports. Wasm 2.0 features only: bulk memory (memset
# and memcpy become memory.fill and memory.copy) and sign extension; no SIMD.
CFLAGS="--target=wasm32 -O2 -nostdlib -mbulk-memory -msign-ext -Wall -Wextra"
LDFLAGS="-Wl,--no-entry -Wl,--export=run -Wl,-z,stack-size=1048576"

PROGRAMS="fib sieve nbody mandelbrot matmul hash sort vm bintree list base64 indirect"

for p in $PROGRAMS; do
    echo "clang $CFLAGS $LDFLAGS -o $p.wasm $p.c"
    clang $CFLAGS $LDFLAGS -o "$p.wasm" "$p.c"
done

# The generated modules: C from gen_module.py, compiled the same way (see README.md).
GEN="${TMPDIR:-/tmp}/strata-bench-gen.$$"
mkdir -p "$GEN"
trap 'rm -rf "$GEN"' EXIT
python3 gen_module.py --functions 5000 --seed 1 > "$GEN/large.c"
python3 gen_module.py --functions 300 --seed 2 > "$GEN/medium.c"
for p in large medium; do
    echo "clang $CFLAGS -I. $LDFLAGS -o $p.wasm $p.c   # $p.c from gen_module.py"
    clang $CFLAGS -I. $LDFLAGS -o "$p.wasm" "$GEN/$p.c"
done

for p in $PROGRAMS large medium; do
    chmod -x "$p.wasm"
    wasm-validate --disable-simd "$p.wasm"
done
echo "built and validated: $(echo $PROGRAMS large medium | wc -w) modules"
