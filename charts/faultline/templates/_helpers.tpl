{{- define "faultline.name" -}}faultline{{- end -}}
{{- define "faultline.labels" -}}
app.kubernetes.io/name: faultline
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{/* The Service in front of the webhook server; the serving certificate is issued for its DNS names. */}}
{{- define "faultline.webhookService" -}}faultline-webhook-service{{- end -}}
{{/* The Secret holding the webhook serving certificate, filled by the rotator or by cert-manager. */}}
{{- define "faultline.webhookSecret" -}}faultline-webhook-server-cert{{- end -}}
{{/* The issuer of the certificates cert-manager issues: certManager.issuerRef, else the chart's self-signed Issuer. */}}
{{- define "faultline.certManagerIssuerRef" -}}
{{- if .Values.certManager.issuerRef.name -}}
name: {{ .Values.certManager.issuerRef.name }}
kind: {{ .Values.certManager.issuerRef.kind | default "Issuer" }}
group: {{ .Values.certManager.issuerRef.group | default "cert-manager.io" }}
{{- else -}}
name: faultline-selfsigned
kind: Issuer
group: cert-manager.io
{{- end -}}
{{- end -}}
{{/* The Service in front of the Alertmanager receiver. */}}
{{- define "faultline.alertReceiverService" -}}faultline-alert-receiver{{- end -}}
{{/* The Secret whose key "token" the receiver asks Alertmanager for: alertReceiver.tokenSecret, else the chart's. */}}
{{- define "faultline.alertReceiverTokenSecret" -}}
{{ .Values.alertReceiver.tokenSecret | default "faultline-alert-receiver-token" }}
{{- end -}}
{{/* "true" when the receiver serves HTTPS. dig: values reused from a chart without alertReceiver.tls have no such map. */}}
{{- define "faultline.alertReceiverTLS" -}}
{{- if and .Values.alertReceiver.enabled (dig "tls" "enabled" false .Values.alertReceiver) -}}true{{- end -}}
{{- end -}}
{{/* The kubernetes.io/tls Secret the receiver serves: alertReceiver.tls.secretName, else the one cert-manager fills. */}}
{{- define "faultline.alertReceiverTLSSecret" -}}
{{ dig "tls" "secretName" "" .Values.alertReceiver | default "faultline-alert-receiver-tls" }}
{{- end -}}
{{/* With cert-manager, its cainjector writes the CA bundle into the webhook configurations. */}}
{{- define "faultline.webhookAnnotations" -}}
{{- if .Values.certManager.enabled -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/faultline-webhook-cert
{{- end -}}
{{- end -}}
{{/* The selector labels, plus podLabels: the pod template's labels. */}}
{{- define "faultline.podLabels" -}}
{{ include "faultline.labels" . }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
{{/*
Whether leader election is on, as "true" or "false". leaderElection is an
object; the plain boolean of chart 0.1.0 (leaderElection: true|false) is
still read, so existing values files and --set flags keep working.
*/}}
{{- define "faultline.leaderElect" -}}
{{- if kindIs "bool" .Values.leaderElection -}}
{{ .Values.leaderElection }}
{{- else if kindIs "map" .Values.leaderElection -}}
{{ .Values.leaderElection.enabled | default false }}
{{- else -}}
false
{{- end -}}
{{- end -}}
{{/*
Refuses values that would install a cluster-wide hazard, with what to write
instead. values.schema.json checks each value alone; these rules relate two.
*/}}
{{- define "faultline.validate" -}}
{{- $replicas := int .Values.replicas -}}
{{- if and (gt $replicas 1) (ne (include "faultline.leaderElect" .) "true") -}}
{{- fail (printf "replicas is %d but leader election is off: every replica would drive the same runs, injecting and reverting each other's faults. Enable leaderElection (--set leaderElection.enabled=true), or set replicas=1." $replicas) -}}
{{- end -}}
{{- if .Values.alertReceiver.enabled -}}
{{- if and .Values.alertReceiver.insecure .Values.alertReceiver.tokenSecret -}}
{{- fail (printf "alertReceiver.insecure accepts notifications without a token, and alertReceiver.tokenSecret (%s) names one: set one of them (insecure is for test clusters only)." .Values.alertReceiver.tokenSecret) -}}
{{- end -}}
{{- if and (eq (include "faultline.alertReceiverTLS" .) "true") (not (dig "tls" "secretName" "" .Values.alertReceiver)) (not .Values.certManager.enabled) -}}
{{- fail "alertReceiver.tls.enabled needs a certificate: set alertReceiver.tls.secretName to a kubernetes.io/tls Secret (tls.crt, tls.key) in the release namespace, or certManager.enabled=true to let cert-manager issue one." -}}
{{- end -}}
{{- end -}}
{{- if and .Values.pdb.enabled (gt $replicas 1) (not (kindIs "string" .Values.pdb.minAvailable)) -}}
{{- if ge (int .Values.pdb.minAvailable) $replicas -}}
{{- fail (printf "pdb.minAvailable is %d with replicas %d: no replica could ever be evicted and every node drain would block. Set pdb.minAvailable below replicas (e.g. %d), or pdb.enabled=false." (int .Values.pdb.minAvailable) $replicas (sub $replicas 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{/* The metrics port's name, which says its scheme. */}}
{{- define "faultline.metricsPortName" -}}
{{ if .Values.metrics.secure }}https-metrics{{ else }}http-metrics{{ end }}
{{- end -}}
