{{/*
Object names are fixed ("egressguard"): the webhook configurations are cluster-wide, the
certificate Job patches them by name, and one egressguard serves a cluster.
*/}}

{{- define "egressguard.labels" -}}
app.kubernetes.io/part-of: egressguard
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "egressguard.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- define "egressguard.priorityClassName" -}}
{{- if .Values.priorityClass.name }}
priorityClassName: {{ .Values.priorityClass.name }}
{{- end }}
{{- end }}

{{/* The pod security context every egressguard pod runs with. */}}
{{- define "egressguard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "egressguard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Where `serve --rules` reads from, by rules.source (none: the example rules the
package in the image carries). */}}
{{- define "egressguard.rulesPath" -}}
{{- $source := .Values.rules.source -}}
{{- if eq $source "image" -}}
{{- else if eq $source "gitSync" -}}
/rules/current/$(RULES_SUBDIR)
{{- else if eq $source "configMap" -}}
/etc/egressguard/rules
{{- else -}}
{{- fail (printf "rules.source is %q; use image, gitSync or configMap" $source) -}}
{{- end -}}
{{- end }}

{{/* A ConfigMap key for a rules file path (keys cannot hold "/" or ":"). */}}
{{- define "egressguard.ruleKey" -}}
{{ printf "f-%s" (sha256sum . | trunc 20) }}
{{- end }}

{{/* What both git-sync containers share (after name, image and args). */}}
{{- define "egressguard.gitSyncContainer" -}}
envFrom:
  - configMapRef: {name: egressguard-git-sync}
env:
  - {name: GITSYNC_ROOT, value: /rules}
  - {name: GITSYNC_LINK, value: current}
  - {name: GITSYNC_DEPTH, value: "1"}
  - {name: HOME, value: /tmp}
  {{- with .Values.rules.gitSync.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
securityContext:
  runAsUser: 65533
  runAsGroup: 65533
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
resources:
  {{- toYaml .Values.rules.gitSync.resources | nindent 2 }}
volumeMounts:
  - {name: rules, mountPath: /rules}
  - {name: git-sync-tmp, mountPath: /tmp}
{{- end }}

{{/* The pod of the certificate Jobs and CronJob: (dict "root" $ "args" (list ...)), the
arguments after --secret. */}}
{{- define "egressguard.certsPod" -}}
{{- $args := .args -}}
{{- with .root -}}
metadata:
  labels:
    app.kubernetes.io/name: egressguard-certs
spec:
  serviceAccountName: egressguard-certs
  restartPolicy: OnFailure
  {{- include "egressguard.priorityClassName" . | nindent 2 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "egressguard.podSecurityContext" . | nindent 4 }}
  containers:
    - name: certs
      image: {{ include "egressguard.image" . }}
      args:
        - certs
        - --service=egressguard
        - --namespace={{ .Release.Namespace }}
        - --secret=egressguard-tls
        {{- range $args }}
        - {{ . }}
        {{- end }}
      securityContext:
        {{- include "egressguard.containerSecurityContext" . | nindent 8 }}
      resources:
        requests: {cpu: 50m, memory: 64Mi}
        limits: {memory: 128Mi}
{{- end }}
{{- end }}

{{/* Fails when a namespace left out of every webhook is one egressguard must judge: the
mesh root or a gateway namespace (webhooks.protectedNamespaces, and those of the rules
given in rules.configMap). (dict "root" $ "excluded" (list ...)) */}}
{{- define "egressguard.checkExcludedNamespaces" -}}
{{- $protected := append (.root.Values.webhooks.protectedNamespaces | default list) .root.Values.webhooks.meshRootNamespace }}
{{- $files := .root.Values.rules.configMap.files | default dict }}
{{- if and (eq .root.Values.rules.source "configMap") (hasKey $files "config.yaml") }}
{{- $config := index $files "config.yaml" | fromYaml }}
{{- $spec := $config.spec | default dict }}
{{- $mesh := $spec.mesh | default dict }}
{{- $root := $mesh.rootNamespace | default "istio-system" }}
{{- if ne $root .root.Values.webhooks.meshRootNamespace }}
{{- fail (printf "webhooks.meshRootNamespace is %q but the rules' mesh.rootNamespace is %q: set webhooks.meshRootNamespace=%s, or the mesh's configuration is never sent to egressguard" .root.Values.webhooks.meshRootNamespace $root $root) }}
{{- end }}
{{- $protected = append $protected $root }}
{{- range $gateway := $spec.gateways | default list }}
{{- $protected = append $protected $gateway.namespace }}
{{- end }}
{{- end }}
{{- range $name := .excluded }}
{{- if has $name $protected }}
{{- if eq $name $.root.Release.Namespace }}
{{- fail (printf "the release namespace %q is the mesh root or a gateway namespace, which egressguard must judge; install egressguard into a namespace of its own (e.g. egressguard-system)" $name) }}
{{- end }}
{{- fail (printf "webhooks.excludedNamespaces holds %q, the mesh root or a gateway namespace: egressguard protects it, and its own workloads run as the rules' mesh.infrastructure identities instead; remove it" $name) }}
{{- end }}
{{- end }}
{{- end }}
