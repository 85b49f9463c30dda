{{/* The release's base name: <release>-jiceng, or the release name when it already says jiceng. */}}
{{- define "jiceng.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One service's object name: <fullname>-<service>. Call with (dict "root" $ "name" "org"). */}}
{{- define "jiceng.serviceName" -}}
{{- printf "%s-%s" (include "jiceng.fullname" .root) .name -}}
{{- end -}}

{{/* Labels that select a service's pods. */}}
{{- define "jiceng.selectorLabels" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Every object's labels. */}}
{{- define "jiceng.labels" -}}
{{ include "jiceng.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: jiceng
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
jiceng.io/district: {{ .root.Values.district.code | quote }}
{{- end -}}

{{/* Labels that select every pod of the release. */}}
{{- define "jiceng.releaseSelector" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The image reference: a digest pins it, else the tag, else the chart's appVersion. */}}
{{- define "jiceng.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repository = printf "%s/%s" .Values.image.registry $repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Who calls whom, what each consumes: a fact of the code (a test in the jiceng crate keeps
     topology.json true to it), not a district's choice. */}}
{{- define "jiceng.topology" -}}
{{- .Files.Get "topology.json" -}}
{{- end -}}

{{/* The path prefixes the HTTP Ingress and HTTPRoute send to service .name, as a JSON list: the
     first path elements of its HTTP/JSON routes (`httpPaths`) and its public gRPC services, at
     which gRPC-Web calls arrive (`/<package>.<Service>/<Method>`). The event sink, which
     topology.json does not list among any service's gRPC services, is never among them. */}}
{{- define "jiceng.httpPaths" -}}
{{- $entry := index (include "jiceng.topology" .root | fromJson) .name -}}
{{- $paths := list -}}
{{- range $entry.httpPaths -}}
{{- $paths = append $paths . -}}
{{- end -}}
{{- range $entry.grpcServices -}}
{{- if not (hasPrefix "jiceng.events." .) -}}
{{- $paths = append $paths (printf "/%s" .) -}}
{{- end -}}
{{- end -}}
{{- toJson $paths -}}
{{- end -}}

{{/* The enabled services, as a JSON list of names in a stable order. */}}
{{- define "jiceng.enabledServices" -}}
{{- $enabled := list -}}
{{- range $name, $override := .Values.services -}}
{{- $svc := mergeOverwrite (deepCopy $.Values.serviceDefaults) (deepCopy $override) -}}
{{- if $svc.enabled -}}
{{- $enabled = append $enabled $name -}}
{{- end -}}
{{- end -}}
{{- toJson $enabled -}}
{{- end -}}

{{/* One service's settings: serviceDefaults overlaid with services.<name>, as JSON. */}}
{{- define "jiceng.serviceConfig" -}}
{{- $override := index .root.Values.services .name | default dict -}}
{{- toJson (mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $override)) -}}
{{- end -}}

{{/* The enabled services that call .name: by gRPC, or by delivering the events it consumes. */}}
{{- define "jiceng.callersOf" -}}
{{- $topology := include "jiceng.topology" .root | fromJson -}}
{{- $enabled := include "jiceng.enabledServices" .root | fromJsonArray -}}
{{- $callers := list -}}
{{- range $caller := $enabled -}}
{{- if has $.name (index $topology $caller).calls -}}
{{- $callers = append $callers $caller -}}
{{- end -}}
{{- end -}}
{{- range $publisher, $_ := (index $topology .name).consumes -}}
{{- if has $publisher $enabled -}}
{{- $callers = append $callers $publisher -}}
{{- end -}}
{{- end -}}
{{- toJson ($callers | uniq | sortAlpha) -}}
{{- end -}}

{{/* The enabled services .name calls: by gRPC, or by delivering its events to their consumers. */}}
{{- define "jiceng.calleesOf" -}}
{{- $topology := include "jiceng.topology" .root | fromJson -}}
{{- $enabled := include "jiceng.enabledServices" .root | fromJsonArray -}}
{{- $callees := list -}}
{{- range $callee := (index $topology .name).calls -}}
{{- if has $callee $enabled -}}
{{- $callees = append $callees $callee -}}
{{- end -}}
{{- end -}}
{{- range $consumer := $enabled -}}
{{- if hasKey (index $topology $consumer).consumes $.name -}}
{{- $callees = append $callees $consumer -}}
{{- end -}}
{{- end -}}
{{- toJson ($callees | uniq | sortAlpha) -}}
{{- end -}}

{{/* JICENG_EVENT_SINKS for .name: each enabled consumer of its events with the exact types. */}}
{{- define "jiceng.eventSinks" -}}
{{- $topology := include "jiceng.topology" .root | fromJson -}}
{{- $enabled := include "jiceng.enabledServices" .root | fromJsonArray -}}
{{- $sinks := list -}}
{{- range $consumer := $enabled -}}
{{- $types := index (index $topology $consumer).consumes $.name -}}
{{- if $types -}}
{{- $uri := printf "http://%s:%v" (include "jiceng.serviceName" (dict "root" $.root "name" $consumer)) $.root.Values.service.port -}}
{{- $sinks = append $sinks (printf "%s=%s;%s" $consumer $uri (join "," $types)) -}}
{{- end -}}
{{- end -}}
{{- join " " $sinks -}}
{{- end -}}

{{/* A NetworkPolicy peer from selectors: {namespaceSelector, podSelector}. Without a
     namespaceSelector the peer is in the release's own namespace. */}}
{{- define "jiceng.peer" -}}
- podSelector:
    matchLabels: {{- toYaml (.podSelector | default dict) | nindent 6 }}
  {{- with .namespaceSelector }}
  namespaceSelector:
    matchLabels: {{- toYaml . | nindent 6 }}
  {{- end }}
{{- end -}}

{{/* Egress every jiceng pod needs: DNS, PostgreSQL and (unless withoutCollector) the collector. */}}
{{- define "jiceng.infrastructureEgress" -}}
{{- $np := .Values.networkPolicy -}}
{{- if or $np.dns.peers $np.dns.cidrs }}
- to:
    {{- range $np.dns.peers }}
    {{- include "jiceng.peer" . | nindent 4 }}
    {{- end }}
    {{- range $np.dns.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
{{- else }}
# Name lookups wherever the cluster answers them: CoreDNS in kube-system, NodeLocal DNSCache on
# the node's link-local address, OpenShift's DNS in openshift-dns. Port 53 only.
- ports:
{{- end }}
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
- to:
    {{- if $np.database.cidrs }}
    {{- range $np.database.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
    {{- else }}
    {{- include "jiceng.peer" $np.database | nindent 4 }}
    {{- end }}
  ports:
    - port: {{ $np.database.port }}
      protocol: TCP
{{- if and .Values.telemetry.otlpEndpoint (not .withoutCollector) }}
- to: {{- include "jiceng.peer" $np.collector | nindent 4 }}
  ports:
    - port: {{ $np.collector.port }}
      protocol: TCP
{{- end }}
{{- end -}}

{{/* Every container's: no privileges to gain, nothing to write but its own volumes. */}}
{{- define "jiceng.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The Secret holding the services' internal key: the one named, or the one the chart keeps. */}}
{{- define "jiceng.internalKeySecret" -}}
{{- .Values.secrets.internalKey.name | default (printf "%s-internal-key" (include "jiceng.fullname" .)) -}}
{{- end }}

{{- define "jiceng.piiSecret" -}}
{{- .Values.secrets.pii.name | default (printf "%s-pii-key" (include "jiceng.fullname" .)) -}}
{{- end }}

{{- define "jiceng.logSigningSecret" -}}
{{- .Values.secrets.logSigning.name | default (printf "%s-log-signing-key" (include "jiceng.fullname" .)) -}}
{{- end }}

{{/* A service's PostgreSQL role, which owns its database of the same name (k8s/components/postgres). */}}
{{- define "jiceng.databaseRole" -}}
{{- printf "jiceng_%s" .name -}}
{{- end }}

{{/* The basic-auth Secret holding a service's role and password: the chart generates it
     (database-passwords.yaml) and CloudNativePG's managed role reads it. */}}
{{- define "jiceng.databaseSecret" -}}
{{- printf "jiceng-db-%s" .name -}}
{{- end }}

{{/* The environment a container of service .name connects to its database with, for the
     Deployments and the migrations Job alike. The URLs of the district's own Secret when
     `secrets.database.name` names one; else the URL from `database`, its role and the role's
     password. Kubernetes expands `$(JICENG_DATABASE_PASSWORD)` from the variable defined before
     it, so the password never appears in the pod's spec; it is letters and digits, which a URL
     takes as they are. Call with (dict "root" $ "name" "org"). */}}
{{- define "jiceng.databaseEnv" -}}
{{- $db := .root.Values.database -}}
{{- if .root.Values.secrets.database.name -}}
- name: JICENG_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.secrets.database.name }}
      key: {{ .name }}
{{- else -}}
{{- $role := include "jiceng.databaseRole" . -}}
- name: JICENG_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "jiceng.databaseSecret" . }}
      key: password
- name: JICENG_DATABASE_URL
  value: {{ printf "postgres://%s:$(JICENG_DATABASE_PASSWORD)@%s:%v/%s%s" $role $db.host $db.port $role (ternary (printf "?%s" $db.parameters) "" (ne $db.parameters "")) | quote }}
{{- end -}}
{{- end }}
