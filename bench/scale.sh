#!/usr/bin/env bash
# Scale benchmark: an empty store and one pre-filled with 5 million messages, side by side, then a
# purge of a million of them while sync sends run. 11–15 minutes (release build) and ~6.5 GB of disk in a temp dir.
# Usage: bench/scale.sh [mms-bench scale options], e.g. bench/scale.sh --messages 1000000
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build --release --quiet --bin mms-gateway
cargo build --release --quiet --manifest-path bench/Cargo.toml --target-dir "$target"
exec "$target/release/mms-bench" scale --service "$target/release/mms-gateway" "$@"
