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

{{/* "true" when the store is SQLite (no PostgreSQL Secret), else "". */}}
{{- define "oe.sqliteStore" -}}
{{- if not .Values.database.existingSecret.name }}true{{ end -}}
{{- end }}

{{/* "true" when the SQLite store is on a PersistentVolumeClaim. */}}
{{- define "oe.persistentStore" -}}
{{- if and (include "oe.sqliteStore" .) .Values.persistence.enabled }}true{{ end -}}
{{- end }}

{{- define "oe.storeClaimName" -}}
{{- default (include "oe.suffixed" (list . "store")) .Values.persistence.existingClaim -}}
{{- end }}

{{/* A whole quantity (2Gi, 512Mi, 1000000) in bytes; helm has no quantity arithmetic. */}}
{{- define "oe.quantityBytes" -}}
{{- $text := toString . -}}
{{- $digits := regexFind "^[0-9]+" $text -}}
{{- $suffix := trimPrefix $digits $text -}}
{{- $units := dict "" 1 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if or (not $digits) (not (hasKey $units $suffix)) -}}
{{- fail (printf "%q is not a whole quantity such as 2Gi or 512Mi" $text) -}}
{{- end -}}
{{- mul (int64 $digits) (get $units $suffix) -}}
{{- end }}

{{/* The store's size budget for --store-max-size; empty: none. */}}
{{- define "oe.storeMaxSize" -}}
{{- if .Values.database.maxSize -}}
{{- .Values.database.maxSize -}}
{{- else if include "oe.persistentStore" . -}}
80%
{{- else if include "oe.sqliteStore" . -}}
{{- div (mul (include "oe.quantityBytes" .Values.database.sqlite.sizeLimit | int64) 4) 5 -}}
{{- end -}}
{{- end }}
