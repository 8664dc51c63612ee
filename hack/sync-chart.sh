#!/usr/bin/env bash
# Copies the generated CRDs and the manager's ClusterRole into the Helm chart,
# so the chart never carries a stale schema or stale permissions. Run by
# `make manifests`; `make verify` fails if they differ.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/charts/faultline"
mkdir -p "$chart/crds" "$chart/templates"
rm -f "$chart"/crds/*.yaml
cp "$root"/config/crd/bases/*.yaml "$chart/crds/"
{
  echo "# Generated from config/rbac/role.yaml by hack/sync-chart.sh; do not edit."
  cat "$root/config/rbac/role.yaml"
} > "$chart/templates/clusterrole.yaml"
