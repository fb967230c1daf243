#!/usr/bin/env bash
# Brings the console's screenshots in docs/ (console-*.png) up to date: the same headless Chromium
# as the browser tests (apt-get install chromium chromium-driver) against a sandbox with a few
# messages. Nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  echo "needs chromium and chromedriver: apt-get install chromium chromium-driver" >&2
  exit 1
fi
cargo test --test console -- --ignored --exact screenshots::screenshots_of_each_view --nocapture
