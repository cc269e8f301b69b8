{{/* Names and labels shared by every template. */}}

{{- define "certgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "certgate.fullname" -}}
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

{{/* The acmesolver's objects: "<fullname>-acmesolver". */}}
{{- define "certgate.acmesolver.fullname" -}}
{{- printf "%s-acmesolver" (include "certgate.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{- define "certgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "certgate.labels" -}}
helm.sh/chart: {{ include "certgate.chart" . }}
app.kubernetes.io/name: {{ include "certgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: certgate
{{- with .Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of the controller. */}}
{{- define "certgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "certgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Selector labels of the HTTP-01 solver. */}}
{{- define "certgate.acmesolver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "certgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: acmesolver
{{- end }}

{{- define "certgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "certgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "certgate.acmesolver.serviceAccountName" -}}
{{- if .Values.acmesolver.serviceAccount.create }}
{{- default (include "certgate.acmesolver.fullname" .) .Values.acmesolver.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.acmesolver.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Namespace of the leader election Lease. */}}
{{- define "certgate.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.global.leaderElection.namespace }}
{{- end }}

{{/* Namespace of ClusterIssuers' Secrets. */}}
{{- define "certgate.clusterResourceNamespace" -}}
{{- default .Release.Namespace .Values.clusterResourceNamespace }}
{{- end }}

{{/* The container image. */}}
{{- define "certgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether the PodDisruptionBudget is rendered. */}}
{{- define "certgate.pdbEnabled" -}}
{{- if or .Values.podDisruptionBudget.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}
