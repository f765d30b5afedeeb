{{/* Chart name, truncated to 63 characters. */}}
{{- define "dot-ai-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated to 52 characters so that suffixed names
("-webhook", "-serving-cert", ...) stay within 63.
*/}}
{{- define "dot-ai-controller.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A fullname with a suffix: include "dot-ai-controller.resourceName" (dict "suffix" "webhook" "context" $) */}}
{{- define "dot-ai-controller.resourceName" -}}
{{- printf "%s-%s" (include "dot-ai-controller.fullname" .context) .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dot-ai-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dot-ai-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dot-ai-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dot-ai-controller.labels" -}}
helm.sh/chart: {{ include "dot-ai-controller.chart" . }}
{{ include "dot-ai-controller.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dot-ai
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "dot-ai-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dot-ai-controller.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
host:port of a server's bind-address flag from (list bindAddress port): an
empty host is every interface, an IPv6 address gets brackets.
*/}}
{{- define "dot-ai-controller.bindAddress" -}}
{{- $host := index . 0 }}{{- $port := index . 1 }}
{{- if contains ":" $host }}[{{ $host }}]{{ else }}{{ $host }}{{ end }}:{{ $port }}
{{- end }}

{{- define "dot-ai-controller.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "dot-ai-controller.webhookServiceName" -}}
{{- include "dot-ai-controller.resourceName" (dict "suffix" "webhook" "context" .) }}
{{- end }}

{{- define "dot-ai-controller.certificateName" -}}
{{- include "dot-ai-controller.resourceName" (dict "suffix" "serving-cert" "context" .) }}
{{- end }}

{{- define "dot-ai-controller.webhookSecretName" -}}
{{- include "dot-ai-controller.resourceName" (dict "suffix" "webhook-tls" "context" .) }}
{{- end }}

{{- define "dot-ai-controller.mcpTokenSecretName" -}}
{{- if .Values.mcp.existingSecret }}
{{- .Values.mcp.existingSecret }}
{{- else }}
{{- include "dot-ai-controller.resourceName" (dict "suffix" "mcp-token" "context" .) }}
{{- end }}
{{- end }}

{{- define "dot-ai-controller.mcpTokenSecretKey" -}}
{{- if .Values.mcp.existingSecret }}
{{- .Values.mcp.existingSecretKey }}
{{- else }}
{{- "token" }}
{{- end }}
{{- end }}

{{/* True (non-empty) when the controller gets an installation token file. */}}
{{- define "dot-ai-controller.hasMcpToken" -}}
{{- if or .Values.mcp.authToken .Values.mcp.existingSecret }}true{{ end }}
{{- end }}

{{/* True (non-empty) when the ServiceMonitor API is served and one is wanted. */}}
{{- define "dot-ai-controller.renderServiceMonitor" -}}
{{- if and .Values.metrics.enabled .Values.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") }}true{{ end }}
{{- end }}

{{/* True (non-empty) when the PrometheusRule API is served and the rules are wanted. */}}
{{- define "dot-ai-controller.renderPrometheusRule" -}}
{{- if and .Values.metrics.enabled .Values.prometheusRule.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PrometheusRule") }}true{{ end }}
{{- end }}

{{/* Fails on combinations the schema cannot express. */}}
{{- define "dot-ai-controller.validate" -}}
{{- if and .Values.mcp.authToken .Values.mcp.existingSecret }}
{{- fail "mcp.authToken and mcp.existingSecret are mutually exclusive: set one" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true, or every replica would deliver every event" }}
{{- end }}
{{- range $i, $e := .Values.mcp.allowedEndpoints }}
{{- if contains "*" (trimSuffix "/*" $e) }}
{{- fail (printf "mcp.allowedEndpoints[%d]: host wildcards and '*' inside an entry are not allowed; write scheme://host[:port][/path], optionally ending in /* (a path prefix)" $i) }}
{{- end }}
{{- end }}
{{- $drain := .Values.drainTimeout | toString }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int (include "dot-ai-controller.seconds" .Values.gracefulShutdownTimeout)) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed gracefulShutdownTimeout (%s)" .Values.terminationGracePeriodSeconds .Values.gracefulShutdownTimeout) }}
{{- end }}
{{- if lt (int (include "dot-ai-controller.seconds" .Values.gracefulShutdownTimeout)) (add 10 (int (include "dot-ai-controller.seconds" .Values.drainTimeout))) }}
{{- fail (printf "gracefulShutdownTimeout (%s) must be at least drainTimeout (%s) + 10s, the time the controller needs for its last checkpoint and status writes" .Values.gracefulShutdownTimeout $drain) }}
{{- end }}
{{- end }}

{{/* Whole seconds of a duration written as <n>s, <n>m or <n>h (the schema restricts the form). */}}
{{- define "dot-ai-controller.seconds" -}}
{{- $d := . | toString }}
{{- if hasSuffix "h" $d }}{{ mul (trimSuffix "h" $d | int) 3600 }}
{{- else if hasSuffix "m" $d }}{{ mul (trimSuffix "m" $d | int) 60 }}
{{- else }}{{ trimSuffix "s" $d | int }}
{{- end }}
{{- end }}
