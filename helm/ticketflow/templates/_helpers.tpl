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

{{/* NATS credentials and TLS files, mounted from their Secrets: the variables that point at
     them (for the ConfigMap), the volumes and the mounts of every ticketflow pod. */}}
{{- define "ticketflow.natsFileEnv" -}}
{{- with .Values.natsClient.auth }}
{{- if and .existingSecret .credsKey }}
NATS_CREDS_FILE: {{ printf "/etc/ticketflow/nats-auth/%s" .credsKey | quote }}
{{- else if and .existingSecret .nkeyKey }}
NATS_NKEY_FILE: {{ printf "/etc/ticketflow/nats-auth/%s" .nkeyKey | quote }}
{{- end }}
{{- end }}
{{- with .Values.natsClient.tls }}
{{- if .existingSecret }}
NATS_CA_FILE: {{ printf "/etc/ticketflow/nats-tls/%s" .caKey | quote }}
NATS_TLS_REQUIRED: "true"
{{- if .clientCertificate }}
NATS_CERT_FILE: "/etc/ticketflow/nats-tls/tls.crt"
NATS_KEY_FILE: "/etc/ticketflow/nats-tls/tls.key"
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ticketflow.natsVolumes" -}}
{{- if .Values.natsClient.auth.existingSecret }}
- name: nats-auth
  secret:
    secretName: {{ .Values.natsClient.auth.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- if .Values.natsClient.tls.existingSecret }}
- name: nats-tls
  secret:
    secretName: {{ .Values.natsClient.tls.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- end }}

{{- define "ticketflow.natsMounts" -}}
{{- if .Values.natsClient.auth.existingSecret }}
- name: nats-auth
  mountPath: /etc/ticketflow/nats-auth
  readOnly: true
{{- end }}
{{- if .Values.natsClient.tls.existingSecret }}
- name: nats-tls
  mountPath: /etc/ticketflow/nats-tls
  readOnly: true
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
