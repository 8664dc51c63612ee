{{- define "faultline.name" -}}faultline{{- end -}}
{{- define "faultline.labels" -}}
app.kubernetes.io/name: faultline
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
