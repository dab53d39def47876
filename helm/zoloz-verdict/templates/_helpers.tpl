{{/*
Expand the name of the chart.
*/}}
{{- define "zoloz-verdict.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "zoloz-verdict.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "zoloz-verdict.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "zoloz-verdict.labels" -}}
helm.sh/chart: {{ include "zoloz-verdict.chart" . }}
{{ include "zoloz-verdict.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "zoloz-verdict.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zoloz-verdict.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "zoloz-verdict.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zoloz-verdict.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------
     Chart-specific helpers.
     ------------------------------------------------------------------------------------- */}}

{{/*
The image reference: repository@digest when a digest is given, else repository:tag (tag
defaulting to the chart's appVersion).
*/}}
{{- define "zoloz-verdict.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The label that lets a pod through the NetworkPolicy to the gRPC port (the helm test pod has it).
*/}}
{{- define "zoloz-verdict.clientLabel" -}}
{{ include "zoloz-verdict.fullname" . | trunc 56 | trimSuffix "-" }}-client
{{- end }}

{{/*
Where the service finds things in the container.
*/}}
{{- define "zoloz-verdict.configPath" -}}/etc/zoloz-verdict/config.toml{{- end }}
{{- define "zoloz-verdict.keysDir" -}}/etc/zoloz-verdict/keys{{- end }}
{{- define "zoloz-verdict.callersDir" -}}/etc/zoloz-verdict/callers{{- end }}
{{- define "zoloz-verdict.tlsDir" -}}/etc/zoloz-verdict/tls/server{{- end }}
{{- define "zoloz-verdict.clientCaDir" -}}/etc/zoloz-verdict/tls/client-ca{{- end }}
{{- define "zoloz-verdict.probeClientDir" -}}/etc/zoloz-verdict/tls/probe-client{{- end }}

{{/*
The DNS name of the Service inside the cluster: the server certificate must be valid for it when
TLS is on (the probes and the helm test connect with it).
*/}}
{{- define "zoloz-verdict.serviceHost" -}}
{{ include "zoloz-verdict.fullname" . }}.{{ .Release.Namespace }}.svc
{{- end }}

{{/*
A duration value ("250ms", "20s", "5m", "1h") in whole seconds, rounded up. Call with a dict:
(dict "value" "20s" "key" "config.server.shutdownGrace").
*/}}
{{- define "zoloz-verdict.durationSeconds" -}}
{{- $v := toString .value }}
{{- if not (regexMatch "^[0-9]+(ms|s|m|h)$" $v) }}
{{- fail (printf "%s: %q is not a duration like 250ms, 20s, 5m or 1h" .key $v) }}
{{- end }}
{{- $n := regexFind "^[0-9]+" $v | atoi }}
{{- $unit := trimPrefix (regexFind "^[0-9]+" $v) $v }}
{{- if eq $unit "ms" }}{{ div (add $n 999) 1000 }}
{{- else if eq $unit "s" }}{{ $n }}
{{- else if eq $unit "m" }}{{ mul $n 60 }}
{{- else }}{{ mul $n 3600 }}
{{- end }}
{{- end }}

{{/*
The pod's terminationGracePeriodSeconds: it must be above the drain (shutdownGrace) plus the
preStop sleep, or Kubernetes kills calls the server is still draining. 0 derives it.
*/}}
{{- define "zoloz-verdict.terminationGracePeriodSeconds" -}}
{{- $grace := include "zoloz-verdict.durationSeconds" (dict "value" .Values.config.server.shutdownGrace "key" "config.server.shutdownGrace") | atoi }}
{{- $sleep := int .Values.lifecycle.preStopSleepSeconds }}
{{- $set := int .Values.terminationGracePeriodSeconds }}
{{- if eq $set 0 }}
{{- add $grace $sleep 10 }}
{{- else if le $set (add $grace $sleep) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above config.server.shutdownGrace (%s = %ds) + lifecycle.preStopSleepSeconds (%d): Kubernetes would kill calls the server is still draining; raise it or set 0 to derive it" $set (toString .Values.config.server.shutdownGrace) $grace $sleep) }}
{{- else }}
{{- $set }}
{{- end }}
{{- end }}

{{/*
A TOML basic string (JSON string escapes are valid TOML escapes).
*/}}
{{- define "zoloz-verdict.tomlString" -}}
{{- toJson (toString .) }}
{{- end }}

{{/*
A TOML float: always with a decimal point or exponent.
*/}}
{{- define "zoloz-verdict.tomlFloat" -}}
{{- $s := toJson . }}
{{- if regexMatch "[.eE]" $s }}{{ $s }}{{ else }}{{ $s }}.0{{ end }}
{{- end }}

{{/*
The name of the tenant used when a request names none, checked against the tenants.
*/}}
{{- define "zoloz-verdict.defaultTenant" -}}
{{- $names := list }}
{{- range .Values.tenants }}{{ $names = append $names .name }}{{ end }}
{{- if .Values.config.defaultTenant }}
{{- if not (has .Values.config.defaultTenant $names) }}
{{- fail (printf "config.defaultTenant %q names no tenant (tenants: %s)" .Values.config.defaultTenant (join ", " $names)) }}
{{- end }}
{{- .Values.config.defaultTenant }}
{{- else if eq (len $names) 1 }}
{{- first $names }}
{{- else if has "default" $names }}
{{- "default" }}
{{- else }}
{{- fail (printf "config.defaultTenant is required with several tenants and none named \"default\" (tenants: %s)" (join ", " $names)) }}
{{- end }}
{{- end }}

{{/*
Checks across values that the schema cannot express; fails rendering with a message naming the
value. Included by the ConfigMap and the Deployment.
*/}}
{{- define "zoloz-verdict.validate" -}}
{{- $policies := keys .Values.policies }}
{{- if and .Values.config.defaultPolicy (ne .Values.config.defaultPolicy "default") (not (has .Values.config.defaultPolicy $policies)) }}
{{- fail (printf "config.defaultPolicy %q names no policy (policies: default, %s)" .Values.config.defaultPolicy (join ", " (sortAlpha $policies))) }}
{{- end }}
{{- $tenantNames := list }}
{{- range .Values.tenants }}{{ $tenantNames = append $tenantNames .name }}{{ end }}
{{- $callerNames := dict }}
{{- range $i, $c := .Values.callers }}
{{- $at := printf "callers[%d] (%s)" $i $c.name }}
{{- if hasKey $callerNames $c.name }}
{{- fail (printf "%s: the caller name is used twice" $at) }}
{{- end }}
{{- $_ := set $callerNames $c.name true }}
{{- if and (or $c.uriSans $c.dnsSans $c.commonNames) (not $.Values.tls.clientCaSecret) }}
{{- fail (printf "%s: certificate names (uriSans, dnsSans, commonNames) need mTLS: set tls.clientCaSecret" $at) }}
{{- end }}
{{- range $c.tenants }}
{{- if and (ne . "*") (not (has . $tenantNames)) }}
{{- fail (printf "%s: tenants names %q, which is not in tenants" $at .) }}
{{- end }}
{{- end }}
{{- end }}
{{- $seen := dict }}
{{- range $i, $t := .Values.tenants }}
{{- $at := printf "tenants[%d] (%s)" $i $t.name }}
{{- if hasKey $seen $t.name }}
{{- fail (printf "%s: the tenant name is used twice" $at) }}
{{- end }}
{{- $_ := set $seen $t.name true }}
{{- if and $t.region $t.baseUrl }}
{{- fail (printf "%s: give region or baseUrl, not both" $at) }}
{{- end }}
{{- if not (or $t.region $t.baseUrl) }}
{{- fail (printf "%s: region or baseUrl is required" $at) }}
{{- end }}
{{- $keys := $t.secretKeys | default dict }}
{{- if eq (default "rsa" $t.auth) "aksk" }}
{{- if not $t.accessKey }}
{{- fail (printf "%s: accessKey is required with auth aksk" $at) }}
{{- end }}
{{- if not $keys.secretKey }}
{{- fail (printf "%s: secretKeys.secretKey is required with auth aksk" $at) }}
{{- end }}
{{- if $t.encrypt }}
{{- fail (printf "%s: encrypt (RSA_AES) needs auth rsa" $at) }}
{{- end }}
{{- else }}
{{- if $t.accessKey }}
{{- fail (printf "%s: accessKey belongs to auth aksk" $at) }}
{{- end }}
{{- end }}
{{- if and $t.defaultPolicy (ne $t.defaultPolicy "default") (not (has $t.defaultPolicy $policies)) }}
{{- fail (printf "%s: defaultPolicy %q names no policy" $at $t.defaultPolicy) }}
{{- end }}
{{- end }}
{{- $_ := include "zoloz-verdict.defaultTenant" . }}
{{- $_ = include "zoloz-verdict.terminationGracePeriodSeconds" . }}
{{- if .Values.tls.enabled }}
{{- if not .Values.tls.existingSecret }}
{{- fail "tls.existingSecret is required when tls.enabled (a Secret with the server certificate and key)" }}
{{- end }}
{{- if not (and .Values.tls.certKey .Values.tls.keyKey) }}
{{- fail "tls.certKey and tls.keyKey are required when tls.enabled" }}
{{- end }}
{{- if and .Values.tls.clientCaSecret (not .Values.tls.clientCaKey) }}
{{- fail "tls.clientCaKey is required with tls.clientCaSecret" }}
{{- end }}
{{- else if or .Values.tls.clientCaSecret .Values.tls.probeClientSecret }}
{{- fail "tls.clientCaSecret and tls.probeClientSecret need tls.enabled" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.prometheusRule.enabled (not .Values.metrics.enabled) }}
{{- fail "prometheusRule.enabled needs metrics.enabled" }}
{{- end }}
{{- if eq .Values.service.grpcPort .Values.service.metricsPort }}
{{- fail "service.grpcPort and service.metricsPort must differ" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must be at least autoscaling.minReplicas" }}
{{- end }}
{{- if and .Values.otel.enabled (not .Values.otel.endpoint) }}
{{- fail "otel.endpoint is required when otel.enabled" }}
{{- end }}
{{- end }}

{{/*
One probe. With TLS off: a Kubernetes gRPC probe. With TLS on: an exec probe running
`zoloz-verdict health` over TLS (Kubernetes gRPC probes cannot do TLS), with the CA and, for
mTLS, a client certificate mounted in the container. Call with
(dict "root" $ "probe" .Values.probes.readiness).
*/}}
{{- define "zoloz-verdict.probe" -}}
{{- $root := .root }}
{{- $p := .probe }}
{{- if $root.Values.tls.enabled }}
exec:
  command:
    {{- include "zoloz-verdict.healthCommand" (dict "root" $root "host" (include "zoloz-verdict.serviceHost" $root) "service" $p.service "timeout" $p.timeoutSeconds) | trim | nindent 4 }}
{{- else }}
grpc:
  port: {{ $root.Values.service.grpcPort }}
  service: {{ $p.service | quote }}
{{- end }}
initialDelaySeconds: {{ $p.initialDelaySeconds }}
periodSeconds: {{ $p.periodSeconds }}
timeoutSeconds: {{ $p.timeoutSeconds }}
failureThreshold: {{ $p.failureThreshold }}
successThreshold: {{ $p.successThreshold }}
{{- end }}

{{/*
The `zoloz-verdict health` command line as a YAML list, for the exec probes and the helm test.
Call with (dict "root" $ "host" HOST "service" NAME "timeout" SECONDS).
*/}}
{{- define "zoloz-verdict.healthCommand" -}}
{{- $root := .root }}
{{- $scheme := ternary "https" "http" $root.Values.tls.enabled }}
- /usr/local/bin/zoloz-verdict
- health
- --addr
- {{ printf "%s://%s:%d" $scheme .host (int $root.Values.service.grpcPort) | quote }}
- --service
- {{ .service | quote }}
- --timeout
- {{ printf "%ds" (int .timeout) | quote }}
{{- if $root.Values.tls.enabled }}
{{- if $root.Values.tls.caKey }}
- --ca-file
- {{ printf "%s/%s" (include "zoloz-verdict.tlsDir" $root) $root.Values.tls.caKey | quote }}
{{- end }}
{{- if $root.Values.tls.clientCaSecret }}
{{- if $root.Values.tls.probeClientSecret }}
- --cert-file
- {{ printf "%s/tls.crt" (include "zoloz-verdict.probeClientDir" $root) | quote }}
- --key-file
- {{ printf "%s/tls.key" (include "zoloz-verdict.probeClientDir" $root) | quote }}
{{- else }}
- --cert-file
- {{ printf "%s/%s" (include "zoloz-verdict.tlsDir" $root) $root.Values.tls.certKey | quote }}
- --key-file
- {{ printf "%s/%s" (include "zoloz-verdict.tlsDir" $root) $root.Values.tls.keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The TLS volumes (server pair and CA, client CA, probe client pair), shared by the Deployment and
the helm test pod. Call with (dict "root" $ "server" true|false): the test pod only needs the CA
and the client pair, never the server's key unless it presents it.
*/}}
{{- define "zoloz-verdict.tlsVolumes" -}}
{{- $root := .root }}
{{- $t := $root.Values.tls }}
{{- $needServer := or .server $t.caKey (and $t.clientCaSecret (not $t.probeClientSecret)) }}
{{- if $t.enabled }}
{{- if $needServer }}
- name: tls-server
  secret:
    secretName: {{ $t.existingSecret }}
    defaultMode: 0440
    items:
      {{- if or .server (and $t.clientCaSecret (not $t.probeClientSecret)) }}
      - key: {{ $t.certKey }}
        path: {{ $t.certKey }}
      - key: {{ $t.keyKey }}
        path: {{ $t.keyKey }}
      {{- end }}
      {{- if $t.caKey }}
      - key: {{ $t.caKey }}
        path: {{ $t.caKey }}
      {{- end }}
{{- end }}
{{- if and .server $t.clientCaSecret }}
- name: tls-client-ca
  secret:
    secretName: {{ $t.clientCaSecret }}
    defaultMode: 0440
    items:
      - key: {{ $t.clientCaKey }}
        path: {{ $t.clientCaKey }}
{{- end }}
{{- if and $t.clientCaSecret $t.probeClientSecret }}
- name: tls-probe-client
  secret:
    secretName: {{ $t.probeClientSecret }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end }}

{{/*
The TLS volume mounts matching zoloz-verdict.tlsVolumes.
*/}}
{{- define "zoloz-verdict.tlsVolumeMounts" -}}
{{- $root := .root }}
{{- $t := $root.Values.tls }}
{{- if $t.enabled }}
{{- if or .server $t.caKey (and $t.clientCaSecret (not $t.probeClientSecret)) }}
- name: tls-server
  mountPath: {{ include "zoloz-verdict.tlsDir" $root }}
  readOnly: true
{{- end }}
{{- if and .server $t.clientCaSecret }}
- name: tls-client-ca
  mountPath: {{ include "zoloz-verdict.clientCaDir" $root }}
  readOnly: true
{{- end }}
{{- if and $t.clientCaSecret $t.probeClientSecret }}
- name: tls-probe-client
  mountPath: {{ include "zoloz-verdict.probeClientDir" $root }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/*
The hardened container securityContext (the pod runs as 65532 with a read-only root).
*/}}
{{- define "zoloz-verdict.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The hardened pod securityContext.
*/}}
{{- define "zoloz-verdict.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}
