{{/* The labels every object carries: those of the kustomize install, and Helm's. */}}
{{- define "confighash.labels" -}}
app.kubernetes.io/name: confighash
app.kubernetes.io/part-of: confighash
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "confighash.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* `confighash run`'s flags, from the values. */}}
{{- define "confighash.args" -}}
- run
- --leader-elect
{{- if .Values.certManager.enabled }}
- --cert-dir=/etc/confighash/tls
{{- end }}
{{- if .Values.watchNamespaces }}
- --watch-namespace={{ join "," .Values.watchNamespaces }}
{{- else if ne .Values.namespaceSelector "confighash.dev/enabled=true" }}
- --namespace-selector={{ .Values.namespaceSelector }}
{{- end }}
{{- if .Values.ignoreNamespaces }}
- --ignore-namespaces={{ join "," .Values.ignoreNamespaces }}
{{- end }}
{{- if .Values.resourceLabelSelector }}
- --resource-label-selector={{ .Values.resourceLabelSelector }}
{{- end }}
{{- if not .Values.reloaderAnnotations }}
- --reloader-annotations=false
{{- end }}
{{- if .Values.reloadInPlace.enabled }}
- --reload-in-place
{{- end }}
{{- range .Values.extraArgs }}
- {{ . }}
{{- end }}
{{- end -}}
