#!/usr/bin/env bash
# Peak RSS growth of one multipart upload (POST /media) against the body's size, in the sandbox.
# Usage: bench/upload_memory.sh [path/to/mms-gateway]   (default target/release/mms-gateway)
# Each case runs on a fresh `serve --sandbox` (the simulator is in the same process and parses the
# upload too), warmed up with one small upload; the growth is VmHWM (peak RSS) after the case
# minus VmHWM before it. A last line repeats the 10-file upload 5 times on one process.
set -euo pipefail
bin=${1:-target/release/mms-gateway}
work=$(mktemp -d)
port=${PORT:-38515}
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start() {
    rm -f "$work"/db.sqlite*
    PORT=$port HOST=127.0.0.1 DATABASE_URL="sqlite://$work/db.sqlite" RUST_LOG=warn \
        "$bin" serve --sandbox >"$work/out.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.1
    done
    post "$work/small.txt" >/dev/null
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
hwm() { awk '/VmHWM/ {print $2 * 1024}' "/proc/$pid/status"; }
post() {
    local args=()
    for f in "$@"; do args+=(-F "file=@$f;type=text/plain"); done
    curl -s -o /dev/null -w '%{http_code} %{size_upload}' "http://127.0.0.1:$port/media" "${args[@]}"
}
measure() { # label, files...
    local label=$1; shift
    local before after code size
    before=$(hwm)
    read -r code size <<<"$(post "$@")"
    after=$(hwm)
    printf '| %s | %d | %s | %d | %.2f |\n' "$label" "$size" "$code" $((after - before)) \
        "$(echo "($after - $before) / $size" | bc -l)"
}

echo hello >"$work/small.txt"
# Text files of 2,000,000 bytes (printable, so their type is text/plain).
for i in $(seq 0 10); do
    head -c 1500000 /dev/urandom | base64 -w 0 | head -c 2000000 >"$work/f$i.txt"
done
head -c 16000000 /dev/urandom | base64 -w 0 | head -c 22000000 >"$work/big.txt"

echo "| case | body bytes | HTTP | peak RSS growth (bytes) | growth / body |"
echo "|---|---|---|---|---|"
start; measure "10 files of 2,000,000 B: accepted, uploaded" "$work"/f{0..9}.txt; stop
start; measure "11 files of 2,000,000 B: refused at the 11th" "$work"/f{0..10}.txt; stop
start; measure "one file of 22,000,000 B: refused at 2 MB" "$work/big.txt"; stop
start
first=$(hwm)
for _ in 1 2 3 4 5; do post "$work"/f{0..9}.txt >/dev/null; done
last=$(hwm)
echo "| the 10-file upload 5 times on one process: VmHWM $first -> $last B | | | $((last - first)) | |"
stop
