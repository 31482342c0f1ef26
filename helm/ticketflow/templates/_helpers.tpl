{{/* Chart name. */}}
{{- define "ticketflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "ticketflow.fullname" -}}
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

{{- define "ticketflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ticketflow.labels" -}}
helm.sh/chart: {{ include "ticketflow.chart" . }}
{{ include "ticketflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ticketflow
{{- end }}

{{- define "ticketflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ticketflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ticketflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "ticketflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ticketflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with the S3 keys and the Chroma token, if any. */}}
{{- define "ticketflow.secretName" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else if .Values.credentials.create }}
{{- printf "%s-credentials" (include "ticketflow.fullname" .) }}
{{- end }}
{{- end }}

{{- define "ticketflow.natsMonitoringEndpoint" -}}
{{- default (printf "nats.%s.svc.cluster.local:8222" .Release.Namespace) .Values.autoscaling.natsMonitoringEndpoint }}
{{- end }}

{{/* Environment of every ticketflow container, after the ConfigMap: the component's
     service name for traces and the credentials. Call with (dict "ctx" $ "component" NAME). */}}
{{- define "ticketflow.env" -}}
- name: OTEL_SERVICE_NAME
  value: {{ printf "ticketflow-%s" .component | quote }}
{{- $secret := include "ticketflow.secretName" .ctx }}
{{- if $secret }}
{{- range list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "TICKETFLOW_CHROMA_TOKEN" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end }}
{{- end }}
