{{/* Release fullname: the release name, with the chart name appended unless it already holds it. */}}
{{- define "safesquid.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator's objects: <fullname>-operator ("safesquid-operator" for a release named safesquid, as deploy/). */}}
{{- define "safesquid.operatorName" -}}
{{- printf "%s-operator" (include "safesquid.fullname" .) -}}
{{- end -}}

{{- define "safesquid.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "safesquid.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of the operator pods. app.kubernetes.io/name is what the operator lets through
     the masters' NetworkPolicies (operator/src/main.ts), so it stays safesquid-operator. */}}
{{- define "safesquid.operatorSelectorLabels" -}}
app.kubernetes.io/name: safesquid-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "safesquid.labels" -}}
app.kubernetes.io/part-of: safesquid
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "safesquid.operatorLabels" -}}
{{ include "safesquid.operatorSelectorLabels" . }}
{{ include "safesquid.labels" . }}
{{- end -}}

{{/* The rules of a generated deploy/rbac/ file (copied to files/operator-rbac/ by `make rbac`): its first document's rules. */}}
{{- define "safesquid.rbacRules" -}}
{{- $text := .root.Files.Get (printf "files/operator-rbac/%s" .file) -}}
{{- if not $text -}}{{- fail (printf "files/operator-rbac/%s is missing from the chart (a copy of deploy/rbac/: run `make rbac`)" .file) -}}{{- end -}}
{{- $doc := fromYaml (first (regexSplit "(?m)^---\\s*$" $text -1)) -}}
{{- toYaml $doc.rules -}}
{{- end -}}

{{/* True when the cluster serves the Prometheus Operator's API. */}}
{{- define "safesquid.hasPrometheusOperator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- end -}}
