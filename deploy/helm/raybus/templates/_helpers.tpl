{{/* <fullname>: the prefix of every object's name. */}}
{{- define "raybus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "raybus.labels" -}}
{{ include "raybus.labelsNamed" (dict "root" . "name" (default .Chart.Name .Values.nameOverride)) }}
{{- end -}}

{{/* The same labels under another app.kubernetes.io/name: (dict "root" $ "name" "kuberay"). */}}
{{- define "raybus.labelsNamed" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "watcher"). */}}
{{- define "raybus.selector" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The controllers: no Kubernetes rights, no token. */}}
{{- define "raybus.controllers" -}}
cluster-ctl job-ctl serve-ctl cron scheduler-bridge
{{- end -}}

{{/* The namespaces watched, comma-separated; with singleNamespaceInstall and none given, the release's. */}}
{{- define "raybus.watchNamespaces" -}}
{{- if .Values.watchNamespace -}}
{{- join "," .Values.watchNamespace -}}
{{- else if .Values.singleNamespaceInstall -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* RAYBUS_NATS_URL. */}}
{{- define "raybus.natsURL" -}}
{{- if .Values.nats.bundled -}}
{{- printf "nats://%s-nats.%s.svc:4222" (include "raybus.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "nats.url is required when nats.bundled is false" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* RAYBUS_STREAM_REPLICAS: the value, or the bundled cluster's size (at most 5), or 1. */}}
{{- define "raybus.streamReplicas" -}}
{{- if .Values.nats.streamReplicas -}}
{{- .Values.nats.streamReplicas -}}
{{- else if .Values.nats.bundled -}}
{{- min (int .Values.nats.replicas) 5 -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* The subjects binding a ClusterRole: a ServiceAccount (dict "root" $ "service" "watcher"). */}}
{{- define "raybus.saSubject" -}}
- kind: ServiceAccount
  name: {{ include "raybus.fullname" .root }}-{{ .service }}
  namespace: {{ .root.Release.Namespace }}
{{- end -}}

{{/* Bind ClusterRole <fullname>-<service> to the service's ServiceAccount: cluster-wide, or with
     singleNamespaceInstall a RoleBinding in each watched namespace. (dict "root" $ "service" "watcher") */}}
{{- define "raybus.bindings" -}}
{{- $root := .root -}}
{{- $name := printf "%s-%s" (include "raybus.fullname" $root) .service -}}
{{- if $root.Values.singleNamespaceInstall }}
{{- range (splitList "," (include "raybus.watchNamespaces" $root)) }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ . }}
  labels:
    {{- include "raybus.labels" $root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  {{- include "raybus.saSubject" $ | nindent 2 }}
{{- end }}
{{- else }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "raybus.labels" $root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  {{- include "raybus.saSubject" . | nindent 2 }}
{{- end }}
{{- end -}}
