{{- define "faultline.name" -}}faultline{{- end -}}
{{- define "faultline.labels" -}}
app.kubernetes.io/name: faultline
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{/* The Service in front of the webhook server; the serving certificate is issued for its DNS names. */}}
{{- define "faultline.webhookService" -}}faultline-webhook-service{{- end -}}
{{/* The Secret holding the webhook serving certificate, filled by the rotator or by cert-manager. */}}
{{- define "faultline.webhookSecret" -}}faultline-webhook-server-cert{{- end -}}
{{/* With cert-manager, its cainjector writes the CA bundle into the webhook configurations. */}}
{{- define "faultline.webhookAnnotations" -}}
{{- if .Values.certManager.enabled -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/faultline-webhook-cert
{{- end -}}
{{- end -}}
