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

{{/* Whether image.repository names certgate's image: set, and not one of cert-manager's
(a values file written for cert-manager names its controller image, or leaves the
repository empty). Otherwise certgate's own image is used, and image.tag and
image.digest (which would be cert-manager's) are ignored. */}}
{{- define "certgate.ownImage" -}}
{{- $r := .Values.image.repository | default "" }}
{{- if and $r (not (contains "cert-manager-" $r)) }}true{{ end }}
{{- end }}

{{/* The container image. */}}
{{- define "certgate.image" -}}
{{- if include "certgate.ownImage" . }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- else }}
{{- printf "ghcr.io/certgate/certgate:%s" .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* Whether the CRDs are rendered: crds.enabled, or cert-manager's installCRDs. */}}
{{- define "certgate.crdsEnabled" -}}
{{- if or .Values.crds.enabled .Values.installCRDs }}true{{ end }}
{{- end }}

{{/* A pod's nodeSelector: global.nodeSelector merged with the component's (the
global keys win, as in cert-manager's chart). Call with (list $ $component). */}}
{{- define "certgate.nodeSelector" -}}
{{- $root := index . 0 }}
{{- $own := index . 1 | default dict }}
{{- $merged := merge (deepCopy ($root.Values.global.nodeSelector | default dict)) (deepCopy $own) }}
{{- with $merged }}
nodeSelector:
  {{- range $k, $v := . }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The cert-manager values set that certgate accepts and ignores, comma-separated
(values equal to cert-manager's defaults are not listed when they are harmless). */}}
{{- define "certgate.ignoredValues" -}}
{{- $v := .Values }}
{{- $out := list }}
{{- if $v.webhook }}{{ $out = append $out "webhook" }}{{ end }}
{{- with $v.cainjector }}{{ if gt (len (omit . "enabled")) 0 }}{{ $out = append $out "cainjector (all but enabled)" }}{{ end }}{{ end }}
{{- with $v.startupapicheck }}{{ if ne (toString .enabled) "false" }}{{ $out = append $out "startupapicheck" }}{{ end }}{{ end }}
{{- with $v.global.podSecurityPolicy }}{{ if .enabled }}{{ $out = append $out "global.podSecurityPolicy" }}{{ end }}{{ end }}
{{- if and (hasKey $v.global.rbac "aggregateClusterRoles") $v.global.rbac.aggregateClusterRoles }}{{ $out = append $out "global.rbac.aggregateClusterRoles" }}{{ end }}
{{- if and $v.imageRegistry (ne $v.imageRegistry "quay.io") }}{{ $out = append $out "imageRegistry" }}{{ end }}
{{- if and $v.imageNamespace (ne $v.imageNamespace "jetstack") }}{{ $out = append $out "imageNamespace" }}{{ end }}
{{- if and $v.image.name (ne $v.image.name "cert-manager-controller") }}{{ $out = append $out "image.name" }}{{ end }}
{{- if $v.image.registry }}{{ $out = append $out "image.registry" }}{{ end }}
{{- if not (include "certgate.ownImage" .) }}
{{- if $v.image.repository }}{{ $out = append $out "image.repository" }}{{ end }}
{{- if $v.image.tag }}{{ $out = append $out "image.tag" }}{{ end }}
{{- if $v.image.digest }}{{ $out = append $out "image.digest" }}{{ end }}
{{- end }}
{{- with $v.acmesolver.image }}{{ if or .repository .registry .tag .digest }}{{ $out = append $out "acmesolver.image" }}{{ end }}{{ end }}
{{- if $v.namespace }}{{ $out = append $out "namespace" }}{{ end }}
{{- if and (hasKey $v "approveSignerNames") (ne (toJson $v.approveSignerNames) (toJson (list "issuers.cert-manager.io/*" "clusterissuers.cert-manager.io/*"))) }}{{ $out = append $out "approveSignerNames" }}{{ end }}
{{- if and $v.creator (ne $v.creator "helm") }}{{ $out = append $out "creator" }}{{ end }}
{{- if and (hasKey $v "enabled") (not $v.enabled) }}{{ $out = append $out "enabled" }}{{ end }}
{{- join ", " $out }}
{{- end }}

{{/* Whether the PodDisruptionBudget is rendered. */}}
{{- define "certgate.pdbEnabled" -}}
{{- if or .Values.podDisruptionBudget.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}
