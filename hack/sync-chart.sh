#!/usr/bin/env bash
# Copies the generated CRDs into the Helm chart, so the chart never carries a
# stale schema. Run by `make manifests`; `make verify` fails if they differ.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dst="$root/charts/faultline/crds"
mkdir -p "$dst"
rm -f "$dst"/*.yaml
cp "$root"/config/crd/bases/*.yaml "$dst/"
