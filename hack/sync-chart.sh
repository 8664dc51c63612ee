#!/usr/bin/env bash
# Copies the generated CRDs, the manager's ClusterRole and the admission
# webhook configurations into the Helm chart, so the chart never carries a
# stale schema, stale permissions or stale webhook rules. Run by
# `make manifests`; `make verify` fails if they differ.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/charts/faultline"
mkdir -p "$chart/crds" "$chart/templates"
rm -f "$chart"/crds/*.yaml
cp "$root"/config/crd/bases/*.yaml "$chart/crds/"
# The Grafana dashboard the chart ships as a ConfigMap (dashboards.enabled):
# Helm reads files inside the chart only.
mkdir -p "$chart/dashboards"
cp "$root/config/grafana/faultline-dashboard.json" "$chart/dashboards/"
{
  echo "# Generated from config/rbac/role.yaml by hack/sync-chart.sh; do not edit."
  cat "$root/config/rbac/role.yaml"
} > "$chart/templates/clusterrole.yaml"

# The webhook configurations: controller-gen's placeholders (Service
# system/webhook-service, generic configuration names) become the release's
# Service and the names the operator's certificate rotator updates; the
# metadata gets the chart's labels and, with cert-manager, its CA injection
# annotation. Rules, paths and failure policies stay as generated.
{
  echo "# Generated from config/webhook/manifests.yaml by hack/sync-chart.sh; do not edit."
  awk '
    /^  name: mutating-webhook-configuration$/ || /^  name: validating-webhook-configuration$/ {
      print "  name: faultline-" $2
      print "  labels: {{- include \"faultline.labels\" . | nindent 4 }}"
      print "  {{- include \"faultline.webhookAnnotations\" . | nindent 2 }}"
      next
    }
    /^      name: webhook-service$/ { print "      name: {{ include \"faultline.webhookService\" . }}"; next }
    /^      namespace: system$/ { print "      namespace: {{ .Release.Namespace }}"; next }
    /system:serviceaccount:faultline-system:faultline/ { sub(/system:serviceaccount:faultline-system:faultline/, "system:serviceaccount:{{ .Release.Namespace }}:faultline") }
    { print }
  ' "$root/config/webhook/manifests.yaml"
} > "$chart/templates/webhook-configurations.yaml"
