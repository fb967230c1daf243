#!/usr/bin/env bash
# Soak: mixed load (good, bad, big, async, bulk requests) against a stand-in that misbehaves on a
# fixed rhythm (5xx, 429, slow answers, dropped connections, garbage), for a set time; prints the
# service's memory and open files at start, every --sample seconds, and at the end.
# Usage: bench/soak.sh [--duration 60] [--concurrency 16] [--sample 10]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build --profile dist --quiet --bin mms-gateway
cargo build --release --quiet --manifest-path bench/Cargo.toml --target-dir "$target"
exec "$target/release/mms-bench" soak --service "$target/dist/mms-gateway" "$@"
