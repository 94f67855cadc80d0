#!/bin/sh
# Checks every line of checksums.txt (`name n checksum`): builds a native version of each
# program with gcc (the same source with -DNATIVE) and compares run(n); when STRATA names a
# strata binary, also runs the committed .wasm with `$STRATA run --invoke run X.wasm n`.
#
# Usage: sh benches/programs/check.sh
#        STRATA=target/release/strata sh benches/programs/check.sh
# Needs gcc and python3 (for the generated modules), not the wasm toolchain.
set -eu
cd "$(dirname "$0")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

python3 gen_module.py --functions 5000 --seed 1 > "$TMP/large.c"
python3 gen_module.py --functions 300 --seed 2 > "$TMP/medium.c"
for name in $(awk '{print $1}' checksums.txt | uniq); do
    src="$name.c"
    [ -f "$src" ] || src="$TMP/$name.c"
    gcc -O2 -DNATIVE -ffp-contract=off -fno-math-errno -I. -o "$TMP/$name" "$src" -lm
done

passed=0
failed=0
while read -r name n sum; do
    got="$("$TMP/$name" "$n" 2>/dev/null)"
    if [ "$got" = "$sum" ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL native $name $n: got $got, want $sum"; fi
    if [ -n "${STRATA:-}" ]; then
        got="$("$STRATA" run --invoke run "$name.wasm" "$n" 2>&1 || true)"
        if [ "$got" = "$sum" ]; then passed=$((passed + 1)); else
            failed=$((failed + 1)); echo "FAIL wasm $name $n: got $got, want $sum"; fi
    fi
done < checksums.txt
echo "checksums: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
