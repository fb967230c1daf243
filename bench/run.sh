#!/usr/bin/env bash
# Benchmark: mms-gateway (the dist profile) vs an nginx relay, against the same fixed-answer Plivo stand-in.
# Usage: bench/run.sh [mms-bench run options], e.g. bench/run.sh --duration 10 --concurrency 64
# Needs nginx (apt-get install -y nginx). See BENCHMARKS.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build --profile dist --quiet --bin mms-gateway
cargo build --release --quiet --manifest-path bench/Cargo.toml --target-dir "$target"
exec "$target/release/mms-bench" run --service "$target/dist/mms-gateway" \
  --scenarios "$root/bench/scenarios.json" --express "$root/../shared/seed-app" "$@"
