#!/usr/bin/env bash
# Instructions per operation, counted by callgrind: repeatable where wall
# time is noisy. Usage: runtime/benches/instructions.sh [OP...]
# (default: every OP of benches/instructions.rs). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
export CARGO_PROFILE_BENCH_DEBUG=true
bin=$(cargo bench -p correlated --all-features --bench instructions --no-run \
    --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*instructions-[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "instructions bench not built" >&2; exit 1; }
ops=("$@")
if [ ${#ops[@]} -eq 0 ]; then
    read -r -a ops <<<"$("$bin" | sed 's/.*one of //')"
fi
out=$(mktemp -d)
ir() { # total instructions of one run
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$1" "$2" \
        >/dev/null 2>&1
    sed -n 's/^summary: //p' "$out/cg"
}
small=10000 large=20000
printf '%-32s %12s\n' operation 'Ir/op'
for op in "${ops[@]}"; do
    a=$(ir "$op" $small) b=$(ir "$op" $large)
    printf '%-32s %12.1f\n' "$op" "$(echo "($b - $a) / ($large - $small)" | bc -l)"
done
rm -rf "$out"
