#!/usr/bin/env bash
# Runs deltacert's whole test suite (installing the system packages it needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --release --workspace "$@"
