{{/*
Names. Kubernetes names are at most 63 characters where they become labels or DNS names.
*/}}
{{- define "oe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "oe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A name with a suffix, still within 63 characters. */}}
{{- define "oe.suffixed" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "oe.fullname" $root | trunc (int (sub 62 (len $suffix)))) $suffix | replace "--" "-" -}}
{{- end -}}

{{- define "oe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "oe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oe.labels" -}}
helm.sh/chart: {{ include "oe.chart" . }}
{{ include "oe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: orchestration-engine
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "oe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "oe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "oe.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Lease the replicas elect a leader on (the operator's default name). */}}
{{- define "oe.leaseName" -}}
orchestration-engine-leader
{{- end -}}

{{- define "oe.webhookServiceName" -}}
{{- include "oe.suffixed" (list . "webhook") -}}
{{- end -}}

{{- define "oe.webhookCertificateName" -}}
{{- include "oe.suffixed" (list . "webhook-cert") -}}
{{- end -}}

{{- define "oe.webhookSecretName" -}}
{{- include "oe.suffixed" (list . "webhook-tls") -}}
{{- end -}}

{{- define "oe.webhookIssuerName" -}}
{{- include "oe.suffixed" (list . "selfsigned") -}}
{{- end -}}

{{/* The mount point of the webhook's serving certificate (tls.crt, tls.key). */}}
{{- define "oe.webhookCertDir" -}}
/var/run/secrets/orchestration-engine/webhook
{{- end -}}

{{/*
The Secrets the halt notification may read, grouped by namespace:
{"ns": ["name", ...]}, each list sorted and without duplicates.
*/}}
{{- define "oe.tokenSecretsByNamespace" -}}
{{- $by := dict -}}
{{- range .Values.notification.tokenSecrets -}}
{{- $ns := default $.Release.Namespace .namespace -}}
{{- $_ := set $by $ns (append (get $by $ns | default list) .name | uniq | sortAlpha) -}}
{{- end -}}
{{- toJson $by -}}
{{- end -}}
