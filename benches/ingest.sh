#!/bin/sh
# End-to-end ingest benchmark, flowfold vs nfcapd (see benches/README.md).
# Usage: benches/ingest.sh [flowfold-benches flags...], e.g. --rates 100k,200k --markdown /tmp/ingest.md
set -eu
cd "$(dirname "$0")/.."
cargo build --release --bin flowfold
exec cargo run --release -p flowfold-benches -- --flowfold target/release/flowfold "$@"
