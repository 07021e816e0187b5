{{- define "ferrovault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-ferrovault, or just the release name when it already contains the chart name. */}}
{{- define "ferrovault.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects carry the namespace so two releases of the same name don't collide. */}}
{{- define "ferrovault.clusterName" -}}
{{- printf "%s-%s" (include "ferrovault.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "ferrovault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferrovault.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "ferrovault.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ferrovault.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* true when the webhook runs in this cluster (not registered by webhook.url). */}}
{{- define "ferrovault.inCluster" -}}
{{- if not .Values.webhook.url }}true{{ end }}
{{- end }}

{{- define "ferrovault.tlsSecretName" -}}
{{- if eq .Values.tls.mode "existingSecret" }}
{{- required "tls.mode=existingSecret needs certs.secretName: the Secret holding the webhook's serving certificate and key" .Values.certs.secretName }}
{{- else }}
{{- default (printf "%s-tls" (include "ferrovault.fullname" .)) .Values.certs.secretName }}
{{- end }}
{{- end }}

{{- define "ferrovault.leaseName" -}}
{{- printf "%s-leader" (include "ferrovault.fullname" .) }}
{{- end }}

{{/* The Service's in-cluster names, the SANs of an auto-TLS certificate. */}}
{{- define "ferrovault.serviceHosts" -}}
{{- $svc := include "ferrovault.fullname" . }}
{{- printf "%s,%s.%s,%s.%s.svc" $svc $svc .Release.Namespace $svc .Release.Namespace }}
{{- end }}

{{/* The webhook's serving certificate is a mounted Secret (certManager / existingSecret). */}}
{{- define "ferrovault.mountsCerts" -}}
{{- if has .Values.tls.mode (list "certManager" "existingSecret") }}true{{ end }}
{{- end }}
