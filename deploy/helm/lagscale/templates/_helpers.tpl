{{/* The chart name, or nameOverride. */}}
{{- define "lagscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name: the release name, plus the chart name unless it holds it. */}}
{{- define "lagscale.fullname" -}}
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

{{/* Labels of every object; call with (dict "root" $ "component" "controller"). */}}
{{- define "lagscale.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: lagscale
{{ include "lagscale.selectorLabels" . }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The labels a component's Service and Deployment select its pods by. */}}
{{- define "lagscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lagscale.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lagscale.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The controller's service account (also the subject of the metrics API's bindings). */}}
{{- define "lagscale.controllerName" -}}
{{ include "lagscale.fullname" . }}-controller
{{- end -}}

{{/* The Kafka connection as env vars and the TLS CA mount, for pods that talk to Kafka. */}}
{{- define "lagscale.kafkaEnv" -}}
- name: KAFKA_BROKERS
  value: {{ join "," .Values.kafka.brokers | quote }}
{{- if .Values.kafka.tls.enabled }}
{{- if .Values.kafka.tls.secretName }}
- name: KAFKA_TLS_CA
  value: /etc/lagscale/kafka-tls/ca.crt
{{- end }}
{{- end }}
{{- if .Values.kafka.sasl.mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: { name: {{ .Values.kafka.sasl.secretName | quote }}, key: username }
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .Values.kafka.sasl.secretName | quote }}, key: password }
{{- end }}
{{- end -}}

{{/* The --tls flag when TLS is on without a CA Secret (KAFKA_TLS_CA turns TLS on by itself). */}}
{{- define "lagscale.kafkaTlsArgs" -}}
{{- if and .Values.kafka.tls.enabled (not .Values.kafka.tls.secretName) }}
- --tls
{{- end }}
{{- end -}}

{{- define "lagscale.kafkaTlsVolumeMounts" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.secretName }}
- name: kafka-tls
  mountPath: /etc/lagscale/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "lagscale.kafkaTlsVolumes" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.secretName }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.secretName }}
    items: [{ key: ca.crt, path: ca.crt }]
{{- end }}
{{- end -}}

{{/* The result store as env vars (the workers and the API): OpenSearch or Elasticsearch, as store.engine says. */}}
{{- define "lagscale.storeEnv" -}}
{{- if eq .Values.store.engine "elasticsearch" -}}
{{- $store := .Values.store.elasticsearch -}}
{{- if and $store.credentialsSecret $store.apiKeySecret -}}
{{- fail "store.elasticsearch.apiKeySecret: give an API key or credentialsSecret (username and password), not both" -}}
{{- end -}}
- name: LAGSCALE_STORE
  value: elasticsearch
- name: ELASTICSEARCH_URL
  value: {{ $store.url | quote }}
- name: OPENSEARCH_INDEX_PREFIX
  value: {{ $store.indexPrefix | quote }}
{{- with $store.credentialsSecret }}
- name: OPENSEARCH_USERNAME
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: username }
- name: OPENSEARCH_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: password }
{{- end }}
{{- with $store.apiKeySecret }}
- name: LAGSCALE_STORE_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: apiKey }
{{- end }}
{{- else -}}
- name: OPENSEARCH_URL
  value: {{ .Values.store.opensearch.url | quote }}
- name: OPENSEARCH_INDEX_PREFIX
  value: {{ .Values.store.opensearch.indexPrefix | quote }}
{{- with .Values.store.opensearch.credentialsSecret }}
- name: OPENSEARCH_USERNAME
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: username }
- name: OPENSEARCH_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: password }
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod-level settings every Deployment shares. */}}
{{- define "lagscale.podSettings" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The Secret with the metrics API's serving certificate: the given one, or the chart's. */}}
{{- define "lagscale.metricsApiTlsSecret" -}}
{{- .Values.controller.metricsApi.tls.secretName | default (printf "%s-metrics-tls" (include "lagscale.fullname" .)) -}}
{{- end -}}

{{/* The Secret with the read token of the exporter's and the KEDA scaler's /metrics (keys tokens, token): the given one, or the chart's. */}}
{{- define "lagscale.metricsTokensSecret" -}}
{{- .Values.exporter.tokensSecret | default (printf "%s-exporter-tokens" (include "lagscale.fullname" .)) -}}
{{- end -}}
