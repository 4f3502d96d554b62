#!/usr/bin/env bash
# A dependent of nogil built with cargo's default flags beside the same crate
# built with -C target-cpu=native, run alternately in one session: the median
# over ROUNDS rounds (default 3) of each build's per-run medians, and the share
# of the native build's speed the default build gets.
#
#   bash dependent/compare.sh [-- --runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
[ "${1:-}" = "--" ] && shift
cargo build --release -q -p nogil-dependent
RUSTFLAGS="-C target-cpu=native" cargo build --release -q -p nogil-dependent --target-dir target/native
for _ in $(seq "$rounds"); do
  target/release/nogil-dependent "$@" | sed 's/^/default /'
  target/native/release/nogil-dependent "$@" | sed 's/^/native /'
done | awk '
  $2 == "#" { if (!seen[$1]++) { line = $0; sub(/^[a-z]+ # /, "", line); print "# " $1 ": " line } next }
  {
    key = $2 " " $3; split($4, f, "="); i = ++n[$1, key]; val[$1, key, i] = f[2] + 0; keys[key] = 1
  }
  function med(b, k,   i, j, t, c) {
    c = n[b, k];
    for (i = 1; i <= c; i++) a[i] = val[b, k, i];
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((c + 1) / 2)]
  }
  END {
    print "| work | default build | target-cpu=native | share of native speed |"
    print "|---|--:|--:|--:|"
    for (k in keys) { d = med("default", k); x = med("native", k); printf "| %s | %.2f ms | %.2f ms | %.2f |\n", k, d, x, x / d }
  }'
