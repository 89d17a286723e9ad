{{/*
Names, labels and the pieces every govshare pod shares.
*/}}

{{- define "govshare.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "govshare.fullname" -}}
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

{{/* The name of a component's objects: "<fullname>-<component>". Call with (dict "root" $ "component" "query"). */}}
{{- define "govshare.componentName" -}}
{{- printf "%s-%s" (include "govshare.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "govshare.selectorLabels" -}}
app.kubernetes.io/name: {{ include "govshare.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "govshare.labels" -}}
{{ include "govshare.selectorLabels" . }}
app.kubernetes.io/part-of: govshare
app.kubernetes.io/version: {{ include "govshare.imageTag" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
govshare.gov.cn/zone: {{ .root.Values.zone }}
{{- end -}}

{{/* The six processes, in a stable order, then the heavy-read replicas that `heavyReads` enables. */}}
{{- define "govshare.componentNames" -}}
{{- $names := list "gateway" "catalog" "authorization" "query" "foundation" "supervision" -}}
{{- range $base := include "govshare.heavyReadBases" . | fromYamlArray -}}
{{- $names = append $names (printf "%s-heavy-reads" $base) -}}
{{- end -}}
{{- toYaml $names -}}
{{- end -}}

{{/* The services whose heavy reads (gateway/routing.py HEAVY_READS) have replicas of their own in this release. */}}
{{- define "govshare.heavyReadBases" -}}
{{- $bases := list -}}
{{- range $base := list "catalog" "query" -}}
{{- if (get $.Values.heavyReads $base).enabled -}}
{{- $bases = append $bases $base -}}
{{- end -}}
{{- end -}}
{{- toYaml $bases -}}
{{- end -}}

{{/* A component's values: `components.<name>`, or `heavyReads.<service>` for a heavy-read replica.
Call with (dict "root" $ "component" "query-heavy-reads"). */}}
{{- define "govshare.componentValues" -}}
{{- if hasSuffix "-heavy-reads" .component -}}
{{- toYaml (get .root.Values.heavyReads (trimSuffix "-heavy-reads" .component)) -}}
{{- else -}}
{{- toYaml (get .root.Values.components .component) -}}
{{- end -}}
{{- end -}}

{{/*
What each process is, as the architecture fixes it (docs: DESIGN.md "The mesh"),
not as an operator may tune it: whether it uses PostgreSQL, which services it
calls, which token keys it needs (every service verifies bearer tokens itself), whether it signs audit checkpoints (query).
Callers and NetworkPolicies are derived from `calls`. `names` are services whose address a process is told
(GOVSHARE_<SERVICE>_TARGET) without calling them, so no NetworkPolicy opens for it: the catalog recognises an entry
naming the foundation service's address as the foundation (services/catalog/endpoints.py, lifecycle.py), the address
query reads it at. The gateway is Envoy: it holds no secret and uses no
Redis (it fetches the token keys from authorization's JWKS listener).
A heavy-read replica ("<service>-heavy-reads", `heavyReads`) is the same image serving the same service, so it
has its service's facts, with `heavyReadsOf` naming the service; only the gateway calls it (the listings and
searches it routes there), and the gateway is told its Service as GOVSHARE_<SERVICE>_HEAVY_READ_TARGET.
*/}}
{{- define "govshare.componentFacts" -}}
{{- $heavy := include "govshare.heavyReadBases" . | fromYamlArray -}}
gateway:
  database: false
  redis: false
  calls: [catalog, authorization, query, foundation, supervision{{ range $heavy }}, {{ . }}-heavy-reads{{ end }}]
  tokenPrivateKey: false
  tokenPublicKey: false
  auditSigningKey: false
  providerSigningKey: false
  personSecretKey: false
  providers: false
{{ include "govshare.serviceFacts" . }}
{{- $services := include "govshare.serviceFacts" . | fromYaml }}
{{- range $base := $heavy }}
{{ $base }}-heavy-reads:
  {{- toYaml (get $services $base) | nindent 2 }}
  heavyReadsOf: {{ $base }}
{{- end }}
{{- end -}}

{{/* The facts of the five services (see "govshare.componentFacts"). */}}
{{- define "govshare.serviceFacts" -}}
catalog:
  database: true
  redis: true
  calls: [authorization, query]
  names: [foundation]
  tokenPrivateKey: false
  tokenPublicKey: true
  auditSigningKey: false
  providerSigningKey: true
  personSecretKey: false
  providers: true
authorization:
  database: true
  redis: true
  calls: [catalog, query]
  tokenPrivateKey: true
  tokenPublicKey: true
  auditSigningKey: false
  providerSigningKey: false
  personSecretKey: true
  providers: false
query:
  database: true
  redis: true
  calls: [authorization, catalog, foundation]
  tokenPrivateKey: false
  tokenPublicKey: true
  auditSigningKey: true
  providerSigningKey: true
  personSecretKey: false
  providers: true
foundation:
  database: true
  redis: true
  calls: [authorization]
  tokenPrivateKey: false
  tokenPublicKey: true
  auditSigningKey: false
  providerSigningKey: false
  personSecretKey: false
  providers: false
supervision:
  database: true
  redis: true
  calls: [catalog, authorization, query, foundation]
  tokenPrivateKey: false
  tokenPublicKey: true
  auditSigningKey: false
  providerSigningKey: false
  personSecretKey: false
  providers: false
{{- end -}}

{{/* The components that call .component, as a YAML list. */}}
{{- define "govshare.callers" -}}
{{- $facts := include "govshare.componentFacts" .root | fromYaml -}}
{{- $callers := list -}}
{{- range $name := include "govshare.componentNames" .root | fromYamlArray -}}
{{- if has $.component (get (get $facts $name) "calls") -}}
{{- $callers = append $callers $name -}}
{{- end -}}
{{- end -}}
{{- toYaml $callers -}}
{{- end -}}

{{- define "govshare.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "govshare.image" -}}
{{- $tag := include "govshare.imageTag" . -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must be an exact version, never \"latest\"" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The edge's image: the official Envoy image, pinned (by digest too when edge.image.digest is set). */}}
{{- define "govshare.edgeImage" -}}
{{- $image := .Values.edge.image -}}
{{- if $image.digest -}}
{{- printf "%s:%s@%s" $image.repository $image.tag $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $image.tag -}}
{{- end -}}
{{- end -}}

{{/* Where the edge fetches the token keys: authorization's JWKS listener (TLS under mTLS). */}}
{{- define "govshare.jwksUrl" -}}
{{- $host := printf "%s.%s.svc.%s" (include "govshare.componentName" (dict "root" . "component" "authorization")) .Release.Namespace .Values.clusterDomain -}}
{{- printf "%s://%s:%d/.well-known/jwks.json" (ternary "https" "http" (ne (include "govshare.mtlsProvider" .) "")) $host (int .Values.ports.jwks) -}}
{{- end -}}

{{/*
A value given to a process as an environment variable, written as the process reads it. Helm reads every number
of a values file as a float64, which toString and quote print in exponent form from 10^6 up: 4000000 became
"4e+06", which int() refuses, and the pod stopped at start over a value the schema had taken. A whole number is
written in digits; any other value as toString writes it (a fraction, "1e-05" included, float() reads).
*/}}
{{- define "govshare.envValue" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) -}}
{{- printf "%.0f" . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* What `govshare render-edge` reads in the gateway's init container (no secret: Envoy holds none).
Call with (dict "root" $ "component" "gateway"). */}}
{{- define "govshare.edgeEnv" -}}
{{- $v := .root.Values -}}
- name: GOVSHARE_LISTEN
  value: {{ printf "0.0.0.0:%d" (int $v.ports.grpc) | quote }}
- name: GOVSHARE_METRICS_PORT
  value: {{ $v.ports.metrics | quote }}
- name: GOVSHARE_METRICS_HOST
  value: "0.0.0.0"
- name: GOVSHARE_WORKERS
  value: {{ (get $v.components "gateway").workers | quote }}
- name: GOVSHARE_REFLECTION
  value: {{ $v.config.reflection | toString | quote }}
- name: GOVSHARE_JWKS_URL
  value: {{ include "govshare.jwksUrl" .root | quote }}
- name: GOVSHARE_EDGE_ADMIN
  value: {{ printf "127.0.0.1:%d" (int $v.edge.adminPort) | quote }}
- name: GOVSHARE_RATE_LIMIT_PER_SECOND
  value: {{ include "govshare.envValue" $v.edge.rateLimitPerSecond | quote }}
- name: GOVSHARE_RATE_LIMIT_BURST
  value: {{ include "govshare.envValue" $v.edge.rateLimitBurst | quote }}
- name: GOVSHARE_EDGE_ACCESS_LOG_PERCENT
  value: {{ include "govshare.envValue" $v.edge.accessLogPercent | quote }}
- name: GOVSHARE_DRAIN_GRACE_SECONDS
  value: {{ include "govshare.envValue" $v.edge.preStopSleepSeconds | quote }}
{{- with $v.edge.corsOrigins }}
- name: GOVSHARE_CORS_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
{{ include "govshare.commonEnv" . }}
{{- end -}}

{{/* The fully qualified in-cluster address of a component's gRPC port. */}}
{{- define "govshare.target" -}}
{{- printf "%s.%s.svc.%s:%d" (include "govshare.componentName" .) .root.Release.Namespace .root.Values.clusterDomain (int .root.Values.ports.grpc) -}}
{{- end -}}

{{/* The headless Service of a component ("<name>-pods"): its pods by address, ready or not, which the edge balances over. */}}
{{- define "govshare.podsTarget" -}}
{{- printf "%s-pods.%s.svc.%s:%d" (include "govshare.componentName" .) .root.Release.Namespace .root.Values.clusterDomain (int .root.Values.ports.grpc) -}}
{{- end -}}

{{/* The headless Service of a component's ready pods ("<name>-ready"), which the services' channels balance over. */}}
{{- define "govshare.readyTarget" -}}
{{- printf "%s-ready.%s.svc.%s:%d" (include "govshare.componentName" .) .root.Release.Namespace .root.Values.clusterDomain (int .root.Values.ports.grpc) -}}
{{- end -}}

{{/* Which mTLS provider is in effect: "cert-manager", "secret" or "" (mTLS off). */}}
{{- define "govshare.mtlsProvider" -}}
{{- if .Values.mtls.enabled -}}
{{- if eq .Values.mtls.provider "auto" -}}
{{- if .Capabilities.APIVersions.Has "cert-manager.io/v1" -}}cert-manager{{- else -}}secret{{- end -}}
{{- else -}}
{{- .Values.mtls.provider -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "govshare.tlsSecretName" -}}
{{- printf "%s-tls" (include "govshare.componentName" .) -}}
{{- end -}}

{{- define "govshare.issuerName" -}}
{{- if .Values.mtls.certManager.createIssuer -}}
{{- printf "%s-ca" (include "govshare.fullname" .) -}}
{{- else -}}
{{- required "mtls.certManager.issuerRef.name is required when createIssuer is false" .Values.mtls.certManager.issuerRef.name -}}
{{- end -}}
{{- end -}}

{{/* A secretKeyRef for one of the `secrets` entries. Call with (dict "root" $ "ref" .Values.secrets.databaseUrl). */}}
{{- define "govshare.secretRef" -}}
secretKeyRef:
  name: {{ default .root.Values.secrets.existingSecret .ref.name | quote }}
  key: {{ .ref.key | quote }}
{{- end -}}

{{- define "govshare.trialSecretName" -}}
{{- printf "%s-trial-credentials" (include "govshare.fullname" .) -}}
{{- end -}}

{{- define "govshare.databaseUrlEnv" -}}
- name: GOVSHARE_DATABASE_URL
  valueFrom:
{{- if .Values.trial.enabled }}
    secretKeyRef:
      name: {{ include "govshare.trialSecretName" . }}
      key: database-url
{{- else }}
    {{- include "govshare.secretRef" (dict "root" . "ref" .Values.secrets.databaseUrl) | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "govshare.redisUrlEnv" -}}
- name: GOVSHARE_REDIS_URL
  valueFrom:
{{- if .Values.trial.enabled }}
    secretKeyRef:
      name: {{ include "govshare.trialSecretName" . }}
      key: redis-url
{{- else }}
    {{- include "govshare.secretRef" (dict "root" . "ref" .Values.secrets.redisUrl) | nindent 4 }}
{{- end }}
{{- include "govshare.redisSentinelEnv" . }}
{{- end -}}

{{/*
Redis Sentinel (redis.sentinel): every process reaching Redis finds its primary through the sentinels
(services/runtime/redis_target.py); the Redis URL then gives only the password and database. Refuses half of it.
*/}}
{{- define "govshare.redisSentinelEnv" -}}
{{- with .Values.redis.sentinel }}
{{- if and (or .addresses .master) (not (and .addresses .master)) }}
{{- fail "redis.sentinel: give both addresses (the sentinels, host:port) and master (the name of the master they monitor), or neither" }}
{{- end }}
{{- if .addresses }}
- name: GOVSHARE_REDIS_SENTINELS
  value: {{ join "," .addresses | quote }}
- name: GOVSHARE_REDIS_SENTINEL_MASTER
  value: {{ .master | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The sentinels' ports (redis.sentinel.addresses, 26379 where none is given), each once. */}}
{{- define "govshare.redisSentinelPorts" -}}
{{- $ports := list }}
{{- range .Values.redis.sentinel.addresses }}
{{- $parts := splitList ":" . }}
{{- $ports = append $ports (ternary (last $parts) "26379" (gt (len $parts) 1)) }}
{{- end }}
{{- toJson (uniq $ports) }}
{{- end -}}

{{/* Environment every govshare process gets. Call with (dict "root" $ "component" "query"). */}}
{{- define "govshare.commonEnv" -}}
{{- $v := .root.Values -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: GOVSHARE_ZONE
  value: {{ $v.zone | quote }}
- name: GOVSHARE_LOG_LEVEL
  value: {{ $v.config.logLevel | quote }}
{{- range $name, $value := $v.config.extraEnv }}
- name: {{ $name }}
  value: {{ include "govshare.envValue" $value | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "govshare-%s" .component | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ include "govshare.otelResourceAttributes" . | quote }}
{{- if $v.telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.telemetry.otlpEndpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $v.telemetry.otlpProtocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ include "govshare.envValue" $v.telemetry.samplerRatio | quote }}
{{- if include "govshare.otlpCa" .root }}
# The CA the collector's certificate is checked against (an https endpoint), from telemetry.otlpCa.
- name: OTEL_EXPORTER_OTLP_CERTIFICATE
  value: /etc/govshare/otlp/ca.crt
{{- end }}
{{- with $v.telemetry.otlpHeaders }}{{ if .key }}
# The collector's credential (a Secret key, never a value of the chart's).
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    {{- include "govshare.secretRef" (dict "root" $.root "ref" .) | nindent 4 }}
{{- end }}{{ end }}
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
{{- end }}
{{- end -}}

{{- define "govshare.otelResourceAttributes" -}}
{{- $attrs := list "service.namespace=govshare" (printf "deployment.environment=%s" .root.Values.zone) "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.pod.name=$(POD_NAME)" (printf "service.version=%s" (include "govshare.imageTag" .root)) -}}
{{- /* The variable's values are percent-encoded (the SDKs decode them): a raw ",", "=" or "%" in a site's value split
it into wrong attributes. */ -}}
{{- range $k, $val := .root.Values.telemetry.resourceAttributes -}}
{{- $encoded := toString $val | replace "%" "%25" | replace "," "%2C" | replace "=" "%3D" -}}
{{- $attrs = append $attrs (printf "%s=%s" $k $encoded) -}}
{{- end -}}
{{- join "," $attrs -}}
{{- end -}}

{{/* The pod-level security context of every govshare pod. */}}
{{- define "govshare.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The container-level security context of every container in the chart. */}}
{{- define "govshare.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Writable scratch space under a read-only root filesystem. */}}
{{- define "govshare.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end -}}

{{/* "imagePullSecrets: [...]" or nothing; use as: with include "govshare.imagePullSecrets" . */}}
{{- define "govshare.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/*
The port the pods reach the OTLP collector on, for their egress: networkPolicy.otlpPort when a site sets it (a
collector Service whose targetPort differs), else the port of telemetry.otlpEndpoint as the exporters read it
(services.runtime.telemetry.collector_port): the one the URL names, else 80 for an http/protobuf http:// URL and 443
otherwise (https, and gRPC's default). A fixed 4317 let no http/protobuf span out to a collector on 4318.
*/}}
{{- define "govshare.otlpPort" -}}
{{- $endpoint := .Values.telemetry.otlpEndpoint -}}
{{- $named := regexReplaceAll "^[a-z]+://([^/?#]*).*$" $endpoint "${1}" | regexFind ":[0-9]+$" | trimPrefix ":" -}}
{{- if not (kindIs "invalid" .Values.networkPolicy.otlpPort) -}}{{ .Values.networkPolicy.otlpPort }}
{{- else if $named -}}{{ $named }}
{{- else if and (eq .Values.telemetry.otlpProtocol "http/protobuf") (hasPrefix "http://" $endpoint) -}}80
{{- else -}}443
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress rules shared by every govshare pod: DNS and the OTLP collector. */}}
{{- define "govshare.egressBase" -}}
{{ include "govshare.egressDns" . }}
{{- if .Values.telemetry.otlpEndpoint }}
- ports:
    - protocol: TCP
      port: {{ include "govshare.otlpPort" . }}
  {{- with .Values.networkPolicy.otlpTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress to DNS: every pod's; the console's only, with the gateway (it exports no telemetry, so
the collector's port, any address by default, is not let out of it). */}}
{{- define "govshare.egressDns" -}}
- to:
    {{- toYaml .Values.networkPolicy.dns | nindent 4 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}

{{/* NetworkPolicy egress to PostgreSQL (trial pod or external). */}}
{{- define "govshare.egressDatabase" -}}
- ports:
    - protocol: TCP
      port: {{ if .Values.trial.enabled }}5432{{ else }}{{ .Values.database.port }}{{ end }}
{{- if .Values.trial.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "govshare.selectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
{{- else if .Values.database.networkPolicyTo }}
  to:
    {{- toYaml .Values.database.networkPolicyTo | nindent 4 }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress to Redis (trial pod or external). */}}
{{- define "govshare.egressRedis" -}}
- ports:
    - protocol: TCP
      port: {{ if .Values.trial.enabled }}6379{{ else }}{{ .Values.redis.port }}{{ end }}
    {{- if not .Values.trial.enabled }}
    {{- range include "govshare.redisSentinelPorts" . | fromJsonArray }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
    {{- end }}
{{- if .Values.trial.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "govshare.selectorLabels" (dict "root" . "component" "redis") | nindent 10 }}
{{- else if .Values.redis.networkPolicyTo }}
  to:
    {{- toYaml .Values.redis.networkPolicyTo | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
A Kubernetes quantity ("500m", "1", "1.5", "512Mi", "2G", "1e3") in base units, as a number; the schema has
already refused anything else. Used to compare requests with limits, which Kubernetes would otherwise refuse
only in the middle of `helm install`.
*/}}
{{- define "govshare.quantity" -}}
{{- $q := toString . -}}
{{- $number := regexFind "^[0-9.]+([eE][0-9]+)?" $q -}}
{{- $scales := dict "" 1.0 "n" 0.000000001 "u" 0.000001 "m" 0.001 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "E" 1000000000000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- mulf (float64 $number) (get $scales (trimPrefix $number $q)) -}}
{{- end -}}

{{/*
A container's `resources` (dict "resources" R "path" "where.in.values"), refused when a request is above its
limit: the API server would refuse the workload mid-install ("must be less than or equal to cpu limit").
*/}}
{{- define "govshare.resources" -}}
{{- $resources := .resources | default dict -}}
{{- range $kind := list "cpu" "memory" -}}
{{- $request := dig "requests" $kind "" $resources -}}
{{- $limit := dig "limits" $kind "" $resources -}}
{{- if and $request $limit -}}
{{- if gt (float64 (include "govshare.quantity" $request)) (float64 (include "govshare.quantity" $limit)) -}}
{{- fail (printf "%s: requests.%s (%v) is above limits.%s (%v); Kubernetes would refuse the pod" $.path $kind $request $kind $limit) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{/*
Refuses two listeners of one pod on the same port, naming the values: the services listen on ports.grpc,
ports.metrics, ports.health and (authorization) ports.jwks, Envoy on ports.grpc, ports.metrics and
edge.adminPort. Each is a valid port alone, so the schema took them, and the pods then failed at start (the
health listener on the gRPC port is refused by the settings; a second bind of a port fails).
*/}}
{{- define "govshare.checkPorts" -}}
{{- $ports := .Values.ports -}}
{{- $seen := dict -}}
{{- range $name := list "grpc" "metrics" "health" "jwks" -}}
{{- $port := toString (get $ports $name) -}}
{{- with get $seen $port -}}
{{- fail (printf "ports.%s (%s) is ports.%s too: each listener of a service needs a port of its own" $name $port .) -}}
{{- end -}}
{{- $_ := set $seen $port $name -}}
{{- end -}}
{{- range $name := list "grpc" "metrics" -}}
{{- if eq (toString $.Values.edge.adminPort) (toString (get $ports $name)) -}}
{{- fail (printf "edge.adminPort (%v) is ports.%s too: Envoy's admin listener needs a port of its own in the gateway pod" $.Values.edge.adminPort $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses OpenID Connect values without oidc.issuer, naming them: the chart gives authorization its OIDC settings
(and the egress to the IdP) only with an issuer, so oidc.jwksUrl, oidc.audience or oidc.networkPolicyTo alone
rendered a release in which OpenID Connect sign-in was silently off (the services' own settings refuse that
half-configuration at start, docs/configuration.md).
*/}}
{{- define "govshare.checkOidc" -}}
{{- $oidc := .Values.oidc -}}
{{- if not $oidc.issuer -}}
{{- range $name := list "jwksUrl" "audience" "networkPolicyTo" -}}
{{- if get $oidc $name -}}
{{- fail (printf "oidc.%s is set without oidc.issuer: set the IdP's issuer too for OpenID Connect sign-in, or unset oidc.%s" $name $name) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- /* The IdP is reached through oidc.networkPolicyTo only (the authorization service's JWKS fetch, the console's
token redemption): with none, or none on the URL's port, the NetworkPolicies let nothing out to it, and every OIDC
sign-in failed at run time while the release looked healthy. */ -}}
{{- $ports := list -}}
{{- range $endpoint := $oidc.networkPolicyTo -}}
{{- range $port := $endpoint.ports -}}{{- $ports = append $ports (int $port) -}}{{- end -}}
{{- end -}}
{{- $urls := dict "oidc.jwksUrl" $oidc.jwksUrl -}}
{{- if and .Values.console.enabled .Values.console.oidc.authorizeUrl .Values.console.oidc.tokenUrl -}}
{{- $_ := set $urls "console.oidc.tokenUrl" .Values.console.oidc.tokenUrl -}}
{{- end -}}
{{- range $path, $url := $urls -}}
{{- if $url -}}
{{- $parsed := urlParse $url -}}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $parsed.host) -}}
{{- $port = int (default (ternary "80" "443" (eq $parsed.scheme "http")) $port) -}}
{{- if not (has $port $ports) -}}
{{- fail (printf "%s (%s) is reached on port %d, which oidc.networkPolicyTo does not let out (%s): the NetworkPolicies would let nothing reach the IdP there, and every sign-in through it would fail. Add where the IdP answers, e.g. oidc.networkPolicyTo: [{cidr: 10.40.0.10/32, ports: [%d]}]" $path $url $port (ternary "it is empty" (printf "ports %v" $ports) (empty $ports)) $port) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a name prefix (<fullname>: the release's name, with the chart's, or fullnameOverride) too long for the
objects named after it, naming the longest and what the prefix may be: every name was cut at 63 characters, so a
long one collided (<fullname>-supervision and <fullname>-supervision-snapshot became one ServiceAccount and one
NetworkPolicy), and the API server refused mid-install the headless Services over 63 (<fullname>-<component>-ready)
and the CronJobs and StatefulSet over 52 (their Jobs' and pods' labels add 11 characters to the name).
*/}}
{{- define "govshare.checkNameLength" -}}
{{- $fullname := include "govshare.fullname" . -}}
{{- $names := list -}}
{{- range $component := include "govshare.componentNames" . | fromYamlArray -}}
{{- $names = append $names (list (printf "%s-ready" $component) "Service" 63) -}}
{{- end -}}
{{- if .Values.console.enabled -}}{{- $names = append $names (list "console" "Service" 63) -}}{{- end -}}
{{- if .Values.supervisionSnapshot.enabled -}}
{{- $names = append $names (list "supervision-snapshot" "CronJob" 52) -}}
{{- end -}}
{{- if .Values.sync.export.enabled -}}{{- $names = append $names (list "export-bundle" "CronJob" 52) -}}{{- end -}}
{{- if .Values.sync.import.enabled -}}{{- $names = append $names (list "import-bundle" "CronJob" 52) -}}{{- end -}}
{{- if .Values.trial.enabled -}}{{- $names = append $names (list "postgresql" "StatefulSet" 52) -}}{{- end -}}
{{- $worst := list -}}
{{- $allowed := 253 -}}
{{- range $names -}}
{{- $room := sub (index . 2) (add1 (len (index . 0))) -}}
{{- if lt $room $allowed -}}{{- $allowed = $room -}}{{- $worst = . -}}{{- end -}}
{{- end -}}
{{- if gt (len $fullname) (int $allowed) -}}
{{- fail (printf "the objects' name prefix %q (%d characters: the release's name, with the chart's unless it holds it, or fullnameOverride) is too long: %s %s-%s would be %d characters, over Kubernetes' %d. Use a release name or fullnameOverride of at most %d characters" $fullname (len $fullname) (index $worst 1) $fullname (index $worst 0) (add (len $fullname) 1 (len (index $worst 0))) (index $worst 2) $allowed) -}}
{{- end -}}
{{- end -}}

{{/*
A CronJob's time zone, quoted, or a failed render naming the value when the API server would not know it: the
schema's pattern let through names of the right shape that are no IANA time zone (Asia/Beijing, Beijing), and
the API server refused the CronJob ("unknown time zone") in the middle of `helm install`. files/timezones.txt
is the IANA database's list. Called with (dict "root" $ "path" "sync.timeZone" "value" …).
*/}}
{{- define "govshare.timeZone" -}}
{{- $known := .root.Files.Get "files/timezones.txt" | splitList "\n" -}}
{{- if not (has .value $known) -}}
{{- fail (printf "%s (%q) is no IANA time zone the API server knows, which would refuse the CronJob mid-install: give one such as Asia/Shanghai (China's; there is no Asia/Beijing) or UTC" .path .value) -}}
{{- end -}}
{{- .value | quote -}}
{{- end -}}

{{/*
Refuses an edge rate limit whose burst is below its rate, naming both: Envoy's bucket holds at most the burst, so
the edge let no more than the burst through a second whatever edge.rateLimitPerSecond said (the gateway's settings
refuse it at start too, docs/configuration.md).
*/}}
{{- define "govshare.checkRateLimit" -}}
{{- $edge := .Values.edge -}}
{{- if lt (float64 $edge.rateLimitBurst) (float64 $edge.rateLimitPerSecond) -}}
{{- fail (printf "edge.rateLimitBurst (%v) is below edge.rateLimitPerSecond (%v): the edge's bucket holds at most the burst, so no more than %v calls a second would pass. Set edge.rateLimitBurst to at least the rate" $edge.rateLimitBurst $edge.rateLimitPerSecond $edge.rateLimitBurst) -}}
{{- end -}}
{{- end -}}

{{/*
Refuses an optional Secret reference that names a Secret but no key. Its key "" means "none" (or, for the console's
Redis URL, "the platform's"), so console.redisUrl: {name: console-redis} with the key forgotten gave the console the
platform's own Redis URL, every key and PUBLISH, instead of the ACL user's the operator had made for it; a CA or the
collector's credential named that way was left out, the servers' certificates then refused or every span dropped,
with nothing said about the value.
*/}}
{{- define "govshare.checkSecretKeys" -}}
{{- $refs := dict "console.redisUrl" .Values.console.redisUrl "database.ca" .Values.database.ca "redis.ca" .Values.redis.ca "telemetry.otlpHeaders" .Values.telemetry.otlpHeaders "telemetry.otlpCa" .Values.telemetry.otlpCa -}}
{{- range $path, $ref := $refs -}}
{{- if and $ref.name (not $ref.key) -}}
{{- fail (printf "%s names the Secret %q but no key: give the key in it that holds the value (%s.key), or leave name empty too for none%s" $path $ref.name $path (ternary " (the console then uses secrets.redisUrl, the platform's Redis URL)" "" (eq $path "console.redisUrl"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a trial install told where its database or Redis is: trial.enabled points every process at the release's
own PostgreSQL and Redis (govshare-trial-credentials), so a secrets.databaseUrl or secrets.redisUrl moved to the
operator's Secret was silently not used, and the platform ran on an empty bundled database. A heavy-read read
replica, which a trial does not have, is refused too, and so is console.redisUrl: the console's policy lets it reach
the bundled Redis only, so a Redis of its own was out of reach and the console never started.
*/}}
{{- define "govshare.checkTrial" -}}
{{- if .Values.trial.enabled -}}
{{- range $entry := list (list "databaseUrl" "database-url" "PostgreSQL") (list "redisUrl" "redis-url" "Redis") -}}
{{- $ref := get $.Values.secrets (index $entry 0) -}}
{{- if or $ref.name (ne $ref.key (index $entry 1)) -}}
{{- fail (printf "secrets.%s (Secret %q, key %q) is not used while trial.enabled is true: a trial runs the release's own %s, with the generated credentials of %s. Unset secrets.%s to try the bundled one, or set trial.enabled=false to use yours" (index $entry 0) (default $.Values.secrets.existingSecret $ref.name) $ref.key (index $entry 2) (include "govshare.trialSecretName" $) (index $entry 0)) -}}
{{- end -}}
{{- end -}}
{{- with .Values.console.redisUrl -}}{{- if and $.Values.console.enabled .key -}}
{{- fail (printf "console.redisUrl (Secret %q, key %q) cannot be used while trial.enabled is true: the console's NetworkPolicy lets it reach the trial's bundled Redis only, where the platform publishes the events the console listens to, and that Redis has no user of the console's own. Unset console.redisUrl (the console then uses the trial's Redis), or set trial.enabled=false to use your own Redis" (default $.Values.secrets.existingSecret .name) .key) -}}
{{- end -}}{{- end -}}
{{- if .Values.redis.sentinel.addresses -}}
{{- fail "redis.sentinel is not used while trial.enabled is true: a trial runs the release's own Redis, without sentinels. Unset redis.sentinel, or set trial.enabled=false to use yours" -}}
{{- end -}}
{{- range $server := list "database" "redis" -}}
{{- with (get $.Values $server).ca -}}{{- if .key -}}
{{- fail (printf "%s.ca (Secret %q, key %q) is not used while trial.enabled is true: a trial's bundled %s speaks no TLS. Unset %s.ca, or set trial.enabled=false to use your own server" $server (default $.Values.secrets.existingSecret .name) .key $server $server) -}}
{{- end -}}{{- end -}}
{{- end -}}
{{- range $service, $heavy := .Values.heavyReads -}}
{{- if and $heavy.enabled $heavy.readReplica -}}
{{- fail (printf "heavyReads.%s.readReplica is true while trial.enabled is true: the trial's bundled PostgreSQL has no read replica, and its pods would wait for secrets.databaseReadUrl, which a trial's Secret does not hold. Set heavyReads.%s.readReplica=false (the heavy reads then use the bundled database)" $service $service) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a setting the release would ignore because of another: console.redisUrl with console.sessionStore memory
(the console then reaches no Redis, so the ACL user the operator made for it was never used and the sessions stayed
in each replica's memory, a restart signing everyone out), redis.ca with redis.sentinel (no TLS under Sentinel: the
CA mounted for nothing, or a rediss:// URL every process refuses at start), and heavyReads.<service>.readReplica
while that service's heavy-read replicas are off (no pod reads the replica: the listings stay on the primary, in the
service's pods).
*/}}
{{- define "govshare.checkIgnored" -}}
{{- $c := .Values.console -}}
{{- if and $c.enabled (eq $c.sessionStore "memory") (or $c.redisUrl.name $c.redisUrl.key) -}}
{{- fail (printf "console.redisUrl (Secret %q, key %q) is not used while console.sessionStore is memory: the console keeps its sessions in each replica's memory and reaches no Redis. Set console.sessionStore=redis to keep them in that Redis, or unset console.redisUrl" (default .Values.secrets.existingSecret $c.redisUrl.name) $c.redisUrl.key) -}}
{{- end -}}
{{- if and .Values.redis.sentinel.addresses .Values.redis.ca.key -}}
{{- fail (printf "redis.ca (Secret %q, key %q) is not used with redis.sentinel: the platform reaches Redis under Sentinel without TLS, and its processes refuse a rediss:// URL with sentinels at start (the Secret's redis-url gives only the password and database, redis://…). Unset redis.ca, or unset redis.sentinel to reach one Redis over TLS" (default .Values.secrets.existingSecret .Values.redis.ca.name) .Values.redis.ca.key) -}}
{{- end -}}
{{- range $service, $heavy := .Values.heavyReads -}}
{{- if and $heavy.readReplica (not $heavy.enabled) -}}
{{- fail (printf "heavyReads.%s.readReplica is true while heavyReads.%s.enabled is false: no pod reads from the replica, and the %s's listings stay on the primary in its own pods. Set heavyReads.%s.enabled=true to serve them from heavy-read replicas reading it, or unset heavyReads.%s.readReplica" $service $service $service $service $service) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses metrics.podMonitor.enabled on a cluster without the Prometheus Operator's API: the PodMonitors rendered, and
`helm install` or `helm upgrade` then stopped on "no matches for kind PodMonitor … ensure CRDs are installed
first", naming no value. `helm lint` knows no cluster (and takes no --api-versions), so it is not refused there:
lint renders with neither IsInstall nor IsUpgrade, which `helm template`, install and upgrade set.
*/}}
{{- define "govshare.checkPodMonitor" -}}
{{- if and .Values.metrics.podMonitor.enabled (or .Release.IsInstall .Release.IsUpgrade) (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
{{- fail "metrics.podMonitor.enabled is true but the cluster serves no monitoring.coreos.com/v1, the Prometheus Operator's API: the API server would refuse the PodMonitors mid-install. Install the Operator (its CRDs) first, or set metrics.podMonitor.enabled=false and let Prometheus scrape the pods by their prometheus.io annotations (metrics.annotations); with `helm template`, which knows no cluster, pass --api-versions monitoring.coreos.com/v1" -}}
{{- end -}}
{{- end -}}

{{/*
Refuses mtls.provider cert-manager on a cluster without cert-manager's API: the Issuers and Certificates rendered,
and `helm install` or `helm upgrade` then stopped on "no matches for kind Certificate … ensure CRDs are installed
first", naming no value. Not refused at `helm lint` (no cluster), as checkPodMonitor.
*/}}
{{- define "govshare.checkCertManager" -}}
{{- if and .Values.mtls.enabled (eq .Values.mtls.provider "cert-manager") (or .Release.IsInstall .Release.IsUpgrade) (not (.Capabilities.APIVersions.Has "cert-manager.io/v1")) -}}
{{- fail "mtls.provider is cert-manager but the cluster serves no cert-manager.io/v1, cert-manager's API: the API server would refuse the Issuers and Certificates mid-install. Install cert-manager (its CRDs) first, or set mtls.provider=secret and create the Secrets of docs/deploy.md's \"mTLS between the services\" (mtls.provider auto picks whichever the cluster has); with `helm template`, which knows no cluster, pass --api-versions cert-manager.io/v1" -}}
{{- end -}}
{{- end -}}

{{/*
Refuses mTLS turned off outside a trial install unless mtls.allowPlaintext says it is meant. mtls.enabled: false makes
every service listen in plaintext and the edge too: the internal key, the persons' tokens and the records returned
crossed the cluster's network readable by any node on their path, and on the extranet the LoadBalancer took callers'
bearer tokens in clear, with nothing said. docs/deploy.md's trial command turns it off on purpose.
*/}}
{{- define "govshare.checkMtls" -}}
{{- if not (or .Values.mtls.enabled .Values.trial.enabled .Values.mtls.allowPlaintext) -}}
{{- fail "mtls.enabled is false outside a trial install: every service and the edge would listen in plaintext, the internal key, persons' tokens and the records returned readable on the network (on the extranet, callers' bearer tokens through the load balancer). Keep mtls.enabled=true (cert-manager, or the Secrets of docs/deploy.md's \"mTLS between the services\"), or set mtls.allowPlaintext=true as well to run without TLS on purpose" -}}
{{- end -}}
{{- end -}}

{{/*
Refuses mTLS certificate times cert-manager refuses (its webhook, in the middle of `helm install`): a renewal
window (renewBefore) as long as the certificate's whole life (duration) or longer.
*/}}
{{- define "govshare.checkCertificateTimes" -}}
{{- $cm := .Values.mtls.certManager -}}
{{- if ge (int (trimSuffix "h" $cm.renewBefore)) (int (trimSuffix "h" $cm.duration)) -}}
{{- fail (printf "mtls.certManager.renewBefore (%s) must be shorter than mtls.certManager.duration (%s): cert-manager refuses the Certificates otherwise" $cm.renewBefore $cm.duration) -}}
{{- end -}}
{{- end -}}

{{/* The annotations the chart sets on a component's pods: Prometheus's (metrics.annotations) and, but on the edge, the
holidays' checksum that rolls the pods when config.holidays changes. Call with (dict "root" $ "gateway" bool). */}}
{{- define "govshare.ownPodAnnotations" -}}
{{- if .root.Values.metrics.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .root.Values.ports.metrics | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- if not .gateway }}
{{- include "govshare.holidaysChecksum" .root | nindent 0 }}
{{- end }}
{{- end -}}

{{/*
Refuses a pod annotation of a component's own values (`podAnnotations`) that is one the chart sets, naming it: the
pod template held the key twice, the later value winning (or the install refused), so `prometheus.io/port: "9000"` sent Prometheus to a port
nothing listens at and a `checksum/holidays` of the site's kept the pods on last year's holidays after an upgrade,
without a word. Call with (dict "own" <the chart's, a map> "annotations" $c.podAnnotations "path" "...").
*/}}
{{- define "govshare.checkPodAnnotations" -}}
{{- range $key, $value := .annotations -}}
{{- if hasKey $.own $key -}}
{{- fail (printf "%s: %s is an annotation the chart sets (here %q; %s): choose another key" $.path $key (toString (get $.own $key)) (ternary "it rolls the pods when config.holidays changes" "Prometheus scrapes the pods by it: set metrics.annotations=false to write your own" (eq $key "checksum/holidays"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a pod label of a component's own values (`podLabels`) that is one of the chart's labels, naming it: the
pod template then held the key twice, the later value won, and the Deployment's selector no longer matched its
pods (the API server refused it mid-install), or the pods left their Service, NetworkPolicies and
PodDisruptionBudget. Call with (dict "ctx" (dict "root" $ "component" "query") "labels" $c.podLabels "path" "...").
*/}}
{{- define "govshare.checkPodLabels" -}}
{{- $own := include "govshare.labels" .ctx | fromYaml -}}
{{- range $key, $value := .labels -}}
{{- if hasKey $own $key -}}
{{- fail (printf "%s: %s is a label the chart sets (here %s; its app.kubernetes.io/name, instance and component select the pods for their Service, NetworkPolicies and PodDisruptionBudget): choose another key" $.path $key (get $own $key)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The fixed replica count of a component without an autoscaler: its `replicas`, else `autoscaling.minReplicas`.
Refuses `replicas` beside `autoscaling.enabled: true`, naming which wins: the Deployment then has no replica count
(the HorizontalPodAutoscaler keeps it between minReplicas and maxReplicas), so a site's `replicas: 5` was dropped
without a word and the component ran on minReplicas. Call with (dict "c" $c "path" "components.query").
*/}}
{{- define "govshare.replicas" -}}
{{- $scaling := .c.autoscaling -}}
{{- if and $scaling.enabled (not (kindIs "invalid" .c.replicas)) -}}
{{- fail (printf "%s.replicas (%v) is not used while %s.autoscaling.enabled is true: the HorizontalPodAutoscaler sets the replica count, between autoscaling.minReplicas (%v) and autoscaling.maxReplicas (%v). Set those instead, or set autoscaling.enabled false to run exactly %v replicas" .path .c.replicas .path $scaling.minReplicas $scaling.maxReplicas .c.replicas) -}}
{{- end -}}
{{- if kindIs "invalid" .c.replicas -}}{{ $scaling.minReplicas }}{{- else -}}{{ .c.replicas }}{{- end -}}
{{- end -}}

{{/*
Refuses a PodDisruptionBudget that lets no pod of the component be evicted at its fewest replicas (its `floor`:
autoscaling.minReplicas, or the fixed count), naming the value: `maxUnavailable: 0` (or 0%), or a `minAvailable` of
every replica or more (3, 100%, 90% of 2 rounds up to 2). Such a budget rendered without a word, and then every
`kubectl drain`, node upgrade and cluster-autoscaler scale-down waited on those pods until it timed out. Percentages
round up, as the disruption controller rounds them. Call with (dict "c" $c "path" "components.query" "floor" 3).
*/}}
{{- define "govshare.checkDisruptionBudget" -}}
{{- $pdb := .c.podDisruptionBudget -}}
{{- $n := int .floor -}}
{{- $fewest := ternary "autoscaling.minReplicas" "replicas" (.c.autoscaling.enabled | default false) -}}
{{- $blocks := "every eviction would be refused: kubectl drain, node upgrades and cluster-autoscaler scale-downs wait on these pods until they time out" -}}
{{- if and (hasKey $pdb "minAvailable") (not (kindIs "invalid" $pdb.minAvailable)) -}}
{{- $value := $pdb.minAvailable -}}
{{- $needed := 0 -}}
{{- if kindIs "string" $value -}}
{{- $needed = div (add (mul (int (trimSuffix "%" $value)) $n) 99) 100 -}}
{{- else -}}
{{- $needed = int $value -}}
{{- end -}}
{{- if gt $needed $n -}}
{{- fail (printf "%s.podDisruptionBudget.minAvailable (%v) asks for %d available pods, more than the %d the component runs at its fewest (%s): it can never be met, so %s. Use maxUnavailable: 1 (and minAvailable: null), or a minAvailable below %d" .path $value $needed $n $fewest $blocks $n) -}}
{{- else if eq $needed $n -}}
{{- fail (printf "%s.podDisruptionBudget.minAvailable (%v) keeps all %d pods the component runs at its fewest (%s) available: %s. Use maxUnavailable: 1 (and minAvailable: null), or a minAvailable below %d" .path $value $n $fewest $blocks $n) -}}
{{- end -}}
{{- else -}}
{{- $value := $pdb.maxUnavailable -}}
{{- if eq (int (trimSuffix "%" (toString $value))) 0 -}}
{{- fail (printf "%s.podDisruptionBudget.maxUnavailable (%v) lets no pod go: %s. Use maxUnavailable: 1 (rolling updates are not limited by it: they add pods before removing any)" .path $value $blocks) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The Envoy container's preStop: Envoy does not drain on SIGTERM (it closes its listeners and connections at once,
cutting the calls in flight without GOAWAY), so the hook drains it before the kubelet's SIGTERM. The official image
has bash but neither curl nor wget: Envoy's admin endpoint (127.0.0.1 in the pod) is called over bash's /dev/tcp.
1. drain_listeners?graceful: each connection is closed once a call on it ends (HTTP/2 GOAWAY, HTTP/1
   Connection: close), so clients open their next connection elsewhere; the listeners still accept for
   edge.preStopSleepSeconds (Envoy's --drain-time-s), the time a load balancer takes to stop sending, and close then.
2. healthcheck/fail: /ready answers 503 (DRAINING), the pod is no longer ready.
3. Waits while a call is in flight (http.edge.downstream_rq_active), until 2 s before terminationGracePeriodSeconds,
   so the kubelet's SIGTERM still finds Envoy to end it (the hook's own time counts against the grace period).
An Envoy that does not answer is left to the SIGTERM. docs/deploy.md, "Stopping a gateway pod"; run against a real
Envoy by tests/deploy/test_deploy_edge_stop.py.
*/}}
{{- define "govshare.edgePreStop" -}}
admin() {
  exec 3<>/dev/tcp/127.0.0.1/{{ int .Values.edge.adminPort }} || return 1
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n' "$1" "$2" >&3
  IFS= read -r -d '' reply <&3
  exec 3<&-
  printf '%s' "$reply"
}
admin POST '/drain_listeners?graceful' >/dev/null || exit 0
sleep {{ int .Values.edge.preStopSleepSeconds }}
admin POST /healthcheck/fail >/dev/null
while [ "$SECONDS" -lt {{ sub (int .Values.terminationGracePeriodSeconds) 2 }} ]; do
  [[ $(admin GET '/stats?filter=^http[.]edge[.]downstream_rq_active$') =~ downstream_rq_active:\ ([0-9]+) ]] || break
  [ "${BASH_REMATCH[1]}" -gt 0 ] || break
  sleep 0.2
done
{{- end -}}

{{/*
The extraEnv settings whose value has a type, and the range the processes take (services/runtime/settings.py's
_INT_FIELDS and _FLOAT_FIELDS, console/settings.py, services/runtime/supervision.py's GOVSHARE_HUNG_SECONDS):
tests/deploy/test_deploy_chart.py keeps this list the code's.
*/}}
{{- define "govshare.typedSettings" -}}
GOVSHARE_AUDIT_BATCH_MAX: {type: integer, min: "1", max: "100000"}
GOVSHARE_AUDIT_CHECKPOINT_SECONDS: {type: integer, min: "1", max: "3600"}
GOVSHARE_AUDIT_FLUSH_MS: {type: number, min: "0", max: "1000"}
GOVSHARE_AUDIT_LINGER_MS: {type: number, min: "0", max: "1000"}
GOVSHARE_AUDIT_VERIFY_LEASE_SECONDS: {type: integer, min: "1", max: "3600"}
GOVSHARE_AUDIT_VERIFY_PAGE_RECORDS: {type: integer, min: "1", max: "1000000"}
GOVSHARE_AUDIT_VERIFY_PAUSE_MS: {type: integer, min: "0", max: "60000"}
GOVSHARE_CALL_TIMEOUT_SECONDS: {type: number, min: "0.05", max: "600"}
GOVSHARE_CATALOG_UPDATE_WORKING_DAYS: {type: integer, min: "1", max: "60"}
GOVSHARE_CATALOG_USAGE_REFRESH_SECONDS: {type: number, min: "0", max: "86400"}
GOVSHARE_CONSOLE_DEADLINE_WARNING_DAYS: {type: integer, min: "0", max: "2147483647"}
GOVSHARE_CONSOLE_PAGE_SIZE: {type: integer, min: "1", max: "1000"}
GOVSHARE_CONSOLE_SECURE_COOKIE: {type: boolean}
GOVSHARE_DB_LISTING_POOL_SIZE: {type: integer, min: "1", max: "100"}
GOVSHARE_DB_LISTING_TIMEOUT_MS: {type: integer, min: "1", max: "600000"}
GOVSHARE_DB_SEARCH_POOL_SIZE: {type: integer, min: "1", max: "100"}
GOVSHARE_DB_SEARCH_TIMEOUT_MS: {type: integer, min: "1", max: "600000"}
GOVSHARE_DECISION_TTL_SECONDS: {type: integer, min: "1", max: "3600"}
GOVSHARE_DEPENDENCY_WAIT_SECONDS: {type: number, min: "0.5", max: "3600"}
GOVSHARE_DISPUTE_WORKING_DAYS: {type: integer, min: "1", max: "60"}
GOVSHARE_DRAIN_GRACE_SECONDS: {type: number, min: "0", max: "300"}
GOVSHARE_DRAIN_TIMEOUT_SECONDS: {type: number, min: "0", max: "3600"}
GOVSHARE_HEAVY_READ_CONCURRENCY: {type: integer, min: "0", max: "1000"}
GOVSHARE_HEAVY_READ_QUEUE: {type: integer, min: "0", max: "100000"}
GOVSHARE_HEAVY_READ_SHARE: {type: number, min: "0.01", max: "1"}
GOVSHARE_HUNG_SECONDS: {type: number, min: "5", max: "3600"}
GOVSHARE_PROVIDER_BREAKER_FAILURES: {type: integer, min: "1", max: "1000"}
GOVSHARE_PROVIDER_BREAKER_OPEN_SECONDS: {type: number, min: "0.1", max: "3600"}
GOVSHARE_PROVIDER_CONCURRENCY: {type: integer, min: "1", max: "10000"}
GOVSHARE_PROVIDER_TIMEOUT_SECONDS: {type: number, min: "0.05", max: "600"}
GOVSHARE_RECORD_CACHE_TTL_SECONDS: {type: integer, min: "0", max: "86400"}
GOVSHARE_RECORD_LOCAL_CAPACITY: {type: integer, min: "0", max: "1000000"}
GOVSHARE_RECORD_LOCAL_TTL_MS: {type: integer, min: "0", max: "60000"}
GOVSHARE_REPLY_WORKING_DAYS: {type: integer, min: "1", max: "60"}
GOVSHARE_SESSION_MAX_SECONDS: {type: integer, min: "60", max: "604800"}
GOVSHARE_SESSION_TTL_SECONDS: {type: integer, min: "60", max: "86400"}
GOVSHARE_SIGNIN_ADDRESS_MAX_FAILURES: {type: integer, min: "1", max: "10000"}
GOVSHARE_SIGNIN_LOCK_SECONDS: {type: integer, min: "1", max: "604800"}
GOVSHARE_SIGNIN_MAX_FAILURES: {type: integer, min: "1", max: "100"}
GOVSHARE_SUPERVISION_SNAPSHOT_SECONDS: {type: integer, min: "0", max: "2678400"}
GOVSHARE_TOKEN_TTL_SECONDS: {type: integer, min: "60", max: "86400"}
{{- end -}}

{{/*
Refuses an extraEnv value the processes would refuse at start, naming every one: the schema checks the names only,
so `GOVSHARE_DRAIN_TIMEOUT_SECONDS: 40s`, a page size of 0 or `GOVSHARE_CONSOLE_SECURE_COOKIE: "disabled"` rendered, and
every pod the map reaches stopped at start, exit 2, in CrashLoopBackOff until `helm install --wait` timed out (or,
in an upgrade, the rollout stuck half done). A number may be written as a YAML number or a string. Refuses too what a
value of the chart sets with more than the variable: the sentinels (redis.sentinel also opens their port in the
NetworkPolicies) and PGSSLROOTCERT beside database.ca (whose CA a second definition would leave unread).
*/}}
{{- define "govshare.checkExtraEnv" -}}
{{- $types := include "govshare.typedSettings" . | fromYaml -}}
{{- $maps := list (list "config.extraEnv" .Values.config.extraEnv) (list "console.extraEnv" .Values.console.extraEnv) -}}
{{- range $component, $c := .Values.components -}}
{{- $maps = append $maps (list (printf "components.%s.extraEnv" $component) $c.extraEnv) -}}
{{- end -}}
{{- range $service, $c := .Values.heavyReads -}}
{{- $maps = append $maps (list (printf "heavyReads.%s.extraEnv" $service) $c.extraEnv) -}}
{{- end -}}
{{- $problems := list -}}
{{- /* The GOVSHARE_* settings the console reads besides its own GOVSHARE_CONSOLE_* (console/settings.py). */ -}}
{{- $consoleReads := list "GOVSHARE_CALL_TIMEOUT_SECONDS" "GOVSHARE_REDIS_SENTINELS" "GOVSHARE_REDIS_SENTINEL_MASTER" -}}
{{- range $map := $maps -}}
{{- $console := eq (index $map 0) "console.extraEnv" -}}
{{- range $name, $value := index $map 1 -}}
{{- if eq $name "GOVSHARE_CONSOLE_TLS_CERT" -}}
{{- $problems = append $problems (printf "%s.%s: the console's own HTTPS needs GOVSHARE_CONSOLE_TLS_KEY too, which no values file may hold, so the console would stop at start; its HTTPS ends at its Ingress (console.hosts, console.tlsSecretName)" (index $map 0) $name) -}}
{{- else if has $name (list "GOVSHARE_REDIS_SENTINELS" "GOVSHARE_REDIS_SENTINEL_MASTER") -}}
{{- $problems = append $problems (printf "%s.%s: set redis.sentinel {addresses, master} instead, which gives both to every process that reaches Redis and lets the sentinels' ports out in the NetworkPolicies; set here, the policies let out Redis's port alone and the pods could not ask a sentinel" (index $map 0) $name) -}}
{{- else if and (eq $name "PGSSLROOTCERT") $.Values.database.ca.key -}}
{{- $problems = append $problems (printf "%s.%s: database.ca sets it, to the CA it mounts (/etc/govshare/database-ca/ca.crt); a second definition would win over it in the pods. Remove it here, or unset database.ca" (index $map 0) $name) -}}
{{- else if and $console (hasPrefix "GOVSHARE_" $name) (not (hasPrefix "GOVSHARE_CONSOLE_" $name)) (not (has $name $consoleReads)) -}}
{{- $problems = append $problems (printf "console.extraEnv.%s: the console does not read it (it would be set and ignored); a service's setting goes in config.extraEnv or components.<name>.extraEnv" $name) -}}
{{- else if and (not $console) (hasPrefix "GOVSHARE_CONSOLE_" $name) -}}
{{- $problems = append $problems (printf "%s.%s: only the console reads it (it would be set and ignored); put it in console.extraEnv" (index $map 0) $name) -}}
{{- end -}}
{{- with get $types $name -}}
{{- $written := include "govshare.envValue" $value | trim -}}
{{- if eq .type "boolean" -}}
{{- if not (has (lower $written) (list "true" "false" "1" "0" "yes" "no" "on" "off")) -}}
{{- $problems = append $problems (printf "%s.%s is %q: the processes take true or false (1 or 0, yes or no, on or off), and would refuse it at start" (index $map 0) $name $written) -}}
{{- end -}}
{{- else -}}
{{- $grammar := ternary "^[0-9]+$" "^([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$" (eq .type "integer") -}}
{{- if or (kindIs "bool" $value) (not (regexMatch $grammar $written)) (lt (float64 $written) (float64 .min)) (gt (float64 $written) (float64 .max)) -}}
{{- $problems = append $problems (printf "%s.%s is %q: the processes take %s from %s to %s, and would refuse it at start" (index $map 0) $name $written (ternary "a whole number" "a number" (eq .type "integer")) .min .max) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $problems -}}
{{- fail (join "; " $problems) -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a terminationGracePeriodSeconds that does not cover how a component stops, naming both: the edge's preStop
sleep (edge.preStopSleepSeconds), or a service's drain, GOVSHARE_DRAIN_GRACE_SECONDS taking calls after it says
NOT_SERVING then up to GOVSHARE_DRAIN_TIMEOUT_SECONDS for those received to finish (5 and 20 by default, as
services/runtime/settings.py has them; config.extraEnv or the component's extraEnv may change them). The schema
took a grace of 10 s, or a preStop sleep of 45 s beside the default 30: the kubelet then killed the pods in the middle
of their drain, every rolling update and node drain cutting the calls in flight.
Call with (dict "root" $ "c" $c "path" "components.query" "gateway" false).
*/}}
{{- define "govshare.checkTermination" -}}
{{- $grace := int .root.Values.terminationGracePeriodSeconds -}}
{{- if .gateway -}}
{{- $sleep := int .root.Values.edge.preStopSleepSeconds -}}
{{- if ge $sleep $grace -}}
{{- fail (printf "edge.preStopSleepSeconds (%d) is not shorter than terminationGracePeriodSeconds (%d): the kubelet would kill Envoy before its sleep ends, with calls in flight. Raise terminationGracePeriodSeconds above it" $sleep $grace) -}}
{{- end -}}
{{- else -}}
{{- $env := merge (dict) (default (dict) .c.extraEnv) (default (dict) .root.Values.config.extraEnv) -}}
{{- $taking := float64 (default 5 (get $env "GOVSHARE_DRAIN_GRACE_SECONDS")) -}}
{{- $finishing := float64 (default 20 (get $env "GOVSHARE_DRAIN_TIMEOUT_SECONDS")) -}}
{{- if ge (addf $taking $finishing) (float64 $grace) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) does not cover how %s stops: %g s taking calls after it says NOT_SERVING (GOVSHARE_DRAIN_GRACE_SECONDS) and up to %g s for those received to finish (GOVSHARE_DRAIN_TIMEOUT_SECONDS); the kubelet would kill it with calls in flight. Raise terminationGracePeriodSeconds above %g, or lower those" $grace .path $taking $finishing (addf $taking $finishing)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a LoadBalancer whose clients the gateway's NetworkPolicy cannot admit: exposure.allowFrom listing pods only
(podSelector/namespaceSelector peers, as the intranet variant's ingress controller) while exposure.type is
LoadBalancer. A load balancer's clients come from outside the cluster, by address, and no pod peer matches them:
the release installed, the load balancer got its address, and every connection was dropped at the gateway.
*/}}
{{- define "govshare.checkExposure" -}}
{{- $exposure := .Values.exposure -}}
{{- if and (eq $exposure.type "LoadBalancer") $exposure.allowFrom -}}
{{- $addresses := list -}}
{{- range $peer := $exposure.allowFrom -}}
{{- if hasKey $peer "ipBlock" -}}
{{- $addresses = append $addresses $peer.ipBlock.cidr -}}
{{- end -}}
{{- end -}}
{{- if not $addresses -}}
{{- fail "exposure.allowFrom admits pods only, but exposure.type LoadBalancer brings clients from outside the cluster, whom no podSelector or namespaceSelector matches: list their address blocks ({ipBlock: {cidr: 10.100.0.0/16}}), or set exposure.allowFrom to [] (exposure.loadBalancer.sourceRanges still restricts them)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Where a pod runs: nodeSelector, tolerations, affinity and priorityClassName from a values map that has them
(components.<name>, heavyReads.<service>, console, jobs, trial). Indented for a pod spec's keys by the caller.
*/}}
{{- define "govshare.placement" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
"true" when the processes check an https OTLP collector against a CA of the site's (telemetry.otlpCa: a Secret key
holding the PEM), mounted at /etc/govshare/otlp/ca.crt in every container that exports (Envoy included) and named
by OTEL_EXPORTER_OTLP_CERTIFICATE; else "": the system's CAs (a collector with a certificate from a public CA).
*/}}
{{- define "govshare.otlpCa" -}}
{{- if and .Values.telemetry.otlpEndpoint .Values.telemetry.otlpCa.key -}}true{{- end -}}
{{- end -}}

{{- define "govshare.otlpCaMount" -}}
{{- if include "govshare.otlpCa" . }}
- name: otlp-ca
  mountPath: /etc/govshare/otlp
  readOnly: true
{{- end }}
{{- end -}}

{{- define "govshare.otlpCaVolume" -}}
{{- if include "govshare.otlpCa" . }}
- name: otlp-ca
  secret:
    secretName: {{ default .Values.secrets.existingSecret .Values.telemetry.otlpCa.name }}
    items:
      - key: {{ .Values.telemetry.otlpCa.key }}
        path: ca.crt
    defaultMode: 0444
{{- end }}
{{- end -}}

{{/*
The CAs that signed PostgreSQL's and Redis's certificates (database.ca, redis.ca: Secret keys holding the PEM), for
URLs that verify them (sslmode=verify-full, rediss://): mounted in each container that reaches that server, the
database's named by PGSSLROOTCERT (asyncpg's, as libpq's), Redis's at /etc/govshare/redis-ca/ca.crt for the URL's
ssl_ca_certs. Without them a verify-full URL had no CA in the pods (their user has no ~/.postgresql/root.crt) and
no value of the chart could mount one. Call with (dict "root" $ "database" true "redis" true).
*/}}
{{- define "govshare.serverCaEnv" -}}
{{- if and .database .root.Values.database.ca.key }}
- name: PGSSLROOTCERT
  value: /etc/govshare/database-ca/ca.crt
{{- end }}
{{- end -}}

{{- define "govshare.serverCaMounts" -}}
{{- range $server := list "database" "redis" }}
{{- if and (get $ $server) (get $.root.Values $server).ca.key }}
- name: {{ $server }}-ca
  mountPath: /etc/govshare/{{ $server }}-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "govshare.serverCaVolumes" -}}
{{- range $server := list "database" "redis" }}
{{- $ca := (get $.root.Values $server).ca }}
{{- if and (get $ $server) $ca.key }}
- name: {{ $server }}-ca
  secret:
    secretName: {{ default $.root.Values.secrets.existingSecret $ca.name }}
    items:
      - key: {{ $ca.key }}
        path: ca.crt
    defaultMode: 0444
{{- end }}
{{- end }}
{{- end -}}

{{/*
The operator's holiday file (config.holidays: the State Council's notice as TOML, docs/configuration.md "Next
year's holidays"): a ConfigMap mounted at /etc/govshare/holidays/holidays.toml in every container that counts
working days (the services and the console), named by GOVSHARE_HOLIDAYS_FILE; its checksum on their pods, so an
upgrade that enters a year restarts them and each start counts the provisional deadlines again.
*/}}
{{- define "govshare.holidaysName" -}}
{{- printf "%s-holidays" (include "govshare.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "govshare.holidaysEnv" -}}
{{- if .Values.config.holidays }}
- name: GOVSHARE_HOLIDAYS_FILE
  value: /etc/govshare/holidays/holidays.toml
{{- end }}
{{- end -}}

{{- define "govshare.holidaysMount" -}}
{{- if .Values.config.holidays }}
- name: holidays
  mountPath: /etc/govshare/holidays
  readOnly: true
{{- end }}
{{- end -}}

{{- define "govshare.holidaysVolume" -}}
{{- if .Values.config.holidays }}
- name: holidays
  configMap:
    name: {{ include "govshare.holidaysName" . }}
    defaultMode: 0444
{{- end }}
{{- end -}}

{{- define "govshare.holidaysChecksum" -}}
{{- if .Values.config.holidays }}
checksum/holidays: {{ .Values.config.holidays | sha256sum | quote }}
{{- end }}
{{- end -}}
