#!/usr/bin/env bash
# Runs each fuzz target for RUNS executions (default 1,000,000) from a seed corpus built from
# the repository's fixtures. Usage: fuzz/run.sh [RUNS] [TARGET...]
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer); the toolchain here is stable, which
# accepts them with RUSTC_BOOTSTRAP=1. AddressSanitizer stays on (it watches the C code of
# aws-lc that the headers target reaches).
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-1000000}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(response headers config)
export RUSTC_BOOTSTRAP=1

seed() {
  mkdir -p corpus/response corpus/headers corpus/config
  local n=0
  for body in ../tests/fixtures/*.json ../tests/fixtures/seeds/*.response*.json; do
    for selector in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
      { printf "\\$(printf '%03o' "$selector")"; cat "$body"; } > "corpus/response/seed-$n-$selector"
    done
    n=$((n + 1))
  done
  printf 'algorithm=RSA256, signature=AAEC%%2Bw%%3D%%3D, keyVersion=2' > corpus/headers/signature
  printf 'algorithm=RSA_AES, symmetricKey=%%2B%%2F8A' > corpus/headers/encrypt
  printf '2020-01-01T08:00:00+0800' > corpus/headers/time
  printf '2020-01-01T00:00:00Z' > corpus/headers/time-z
  cat > corpus/config/full <<'TOML'
default_policy = "strict"
[server]
listen = "127.0.0.1:0"
metrics_listen = "off"
shutdown_grace = "10s"
[audit]
enabled = false
[retry]
base_delay = "1ms"
max_delay = "5ms"
[cache]
max_entries = 10
ttl = "1h"
[tenants.default]
client_id = "2089012345678900"
base_url = "http://127.0.0.1:1"
merchant_private_key_file = "../tests/vectors/merchant_private.pk8.b64"
zoloz_public_key_file = "../tests/vectors/zoloz_public.spki.b64"
[policies.strict]
face_match_min_score = 80.0
face_quality_min_score = 60.0
[policies.strict.effects]
DEVICE_RISK_MEDIUM = "reject"
DOC_MATERIAL_CHECK_FAILED = "review"
TOML
}

seed
for target in "${targets[@]}"; do
  echo "=== $target: $runs runs"
  cargo fuzz run "$target" "corpus/$target" -- \
    -runs="$runs" -dict="dict/$target.dict" -max_len=65536 -print_final_stats=1 \
    2>&1 | tee "$target.log" | grep -E "^#[0-9]+ +DONE|stat::|Done|ERROR|panicked|SUMMARY" || true
  if ! grep -qE "^Done $runs runs" "$target.log"; then
    echo "$target: FAILED (see fuzz/$target.log and fuzz/artifacts/$target/)"
    exit 1
  fi
done
