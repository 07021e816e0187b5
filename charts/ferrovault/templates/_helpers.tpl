{{- define "ferrovault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-ferrovault, or just the release name when it already contains the chart name. */}}
{{- define "ferrovault.fullname" -}}
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

{{/* Cluster-scoped objects carry the namespace so two releases of the same name don't collide. */}}
{{- define "ferrovault.clusterName" -}}
{{- printf "%s-%s" (include "ferrovault.fullname" .) (include "ferrovault.namespace" $) | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "ferrovault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferrovault.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "ferrovault.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ferrovault.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* true when the webhook runs in this cluster (not registered by webhook.url). */}}
{{- define "ferrovault.inCluster" -}}
{{- if and .Values.enabled (not .Values.webhook.url) }}true{{ end }}
{{- end }}

{{- define "ferrovault.tlsSecretName" -}}
{{- if eq .Values.tls.mode "existingSecret" }}
{{- required "tls.mode=existingSecret needs certs.secretName: the Secret holding the webhook's serving certificate and key" .Values.certs.secretName }}
{{- else }}
{{- default (printf "%s-tls" (include "ferrovault.fullname" .)) .Values.certs.secretName }}
{{- end }}
{{- end }}

{{- define "ferrovault.leaseName" -}}
{{- printf "%s-leader" (include "ferrovault.fullname" .) }}
{{- end }}

{{/* The Service's in-cluster names, the SANs of an auto-TLS certificate. */}}
{{- define "ferrovault.serviceHosts" -}}
{{- $svc := include "ferrovault.fullname" . }}
{{- printf "%s,%s.%s,%s.%s.svc" $svc $svc (include "ferrovault.namespace" $) $svc (include "ferrovault.namespace" $) }}
{{- end }}

{{/* The webhook's serving certificate is a mounted Secret (certManager / existingSecret). */}}
{{- define "ferrovault.mountsCerts" -}}
{{- if has .Values.tls.mode (list "certManager" "existingSecret") }}true{{ end }}
{{- end }}

{{/*
vault-helm compatibility. A values file written for vault-helm has everything under `injector:` and
the Vault address under `global.externalVaultAddr`; "ferrovault.normalize" folds it onto this
chart's flat values once per render (every template includes it first), so the templates below only
ever read the flat keys. Keys of the injector block win over the flat ones (they are what the user
wrote; the flat ones are mostly this chart's defaults). Values whose vault-helm meaning is "replace"
rather than "merge" (security contexts, resources, scheduling) replace ours when non-empty; an empty
one keeps our default, as an empty one keeps vault-helm's. README.md lists what each key does here.
*/}}
{{- define "ferrovault.normalize" -}}
{{- if not .Values.ferrovaultNormalized -}}
{{- $g := .Values.global | default dict -}}
{{- $inj := deepCopy (.Values.injector | default dict) -}}
{{- /* vault-helm's deprecated spellings: webhook.X wins, as in vault-helm's templates */ -}}
{{- $wh := $inj.webhook | default dict -}}
{{- range $old, $new := dict "failurePolicy" "failurePolicy" "namespaceSelector" "namespaceSelector" "objectSelector" "objectSelector" "webhookAnnotations" "annotations" -}}
{{- if and (hasKey $inj $old) (not (get $wh $new)) (get $inj $old) -}}
{{- $_ := set $wh $new (get $inj $old) -}}
{{- end -}}
{{- $_ := unset $inj $old -}}
{{- end -}}
{{- if $wh }}{{ $_ := set $inj "webhook" $wh }}{{ end -}}
{{- /* uid/gid feed vault-helm's default pod securityContext (used when securityContext.pod is empty) */ -}}
{{- $podSc := dig "securityContext" "pod" dict $inj -}}
{{- if and (not $podSc) (or (hasKey $inj "uid") (hasKey $inj "gid")) -}}
{{- $sc := deepCopy .Values.securityContext.pod -}}
{{- with $inj.uid }}{{ $_ := set $sc "runAsUser" (int .) }}{{ end -}}
{{- with $inj.gid }}{{ $_ := set $sc "runAsGroup" (int .) }}{{ $_ := set $sc "fsGroup" (int .) }}{{ end -}}
{{- $_ := set $inj "securityContext" (merge (dict "pod" $sc) ($inj.securityContext | default dict)) -}}
{{- end -}}
{{- $_ := unset $inj "uid" -}}{{- $_ := unset $inj "gid" -}}
{{- $known := list "enabled" "replicas" "port" "leaderElector" "metrics" "externalVaultAddr" "image" "agentImage" "agentDefaults" "livenessProbe" "readinessProbe" "startupProbe" "authPath" "logLevel" "logFormat" "revokeOnShutdown" "webhook" "failurePolicy" "namespaceSelector" "objectSelector" "webhookAnnotations" "certs" "securityContext" "uid" "gid" "resources" "extraEnvironmentVars" "affinity" "topologySpreadConstraints" "tolerations" "nodeSelector" "priorityClassName" "annotations" "extraLabels" "hostNetwork" "service" "serviceAccount" "podDisruptionBudget" "strategy" }}
{{- $unknown := list }}
{{- range $k, $_ := $inj }}
{{- if and (not (has $k $known)) (not (hasKey $.Values $k)) }}{{ $unknown = append $unknown (printf "injector.%s" $k) }}{{ end }}
{{- end }}
{{- $_ := set .Values "ferrovaultUnknownKeys" $unknown -}}
{{- include "ferrovault.merge" (dict "dst" .Values "src" $inj "path" "") -}}
{{- /* global.* */ -}}
{{- if $g.externalVaultAddr -}}
{{- $_ := set .Values "externalVaultAddr" $g.externalVaultAddr -}}
{{- else if not .Values.externalVaultAddr -}}
{{- /* vault-helm's injector.externalVaultAddr: "" means "the Vault server of this release"; there is
none here, so the address stays vault-helm's in-cluster default for a release "vault" in "vault" */ -}}
{{- $_ := set .Values "externalVaultAddr" "http://vault.vault.svc:8200" -}}
{{- end -}}
{{- if and $g.imagePullSecrets (not .Values.imagePullSecrets) -}}
{{- $secrets := list -}}
{{- range $g.imagePullSecrets -}}
{{- $secrets = append $secrets (kindIs "string" . | ternary (dict "name" .) .) -}}
{{- end -}}
{{- $_ := set .Values "imagePullSecrets" $secrets -}}
{{- end -}}
{{- $enabled := .Values.enabled | toString -}}
{{- if eq $enabled "-" -}}
{{- $enabled = (hasKey $g "enabled") | ternary ($g.enabled | toString) "true" -}}
{{- end -}}
{{- $_ := set .Values "enabled" (eq $enabled "true") -}}
{{- if not .Values.tls.mode -}}
{{- /* vault-helm: a certs.secretName means the user manages the certificate */ -}}
{{- $_ := set .Values.tls "mode" (ternary "existingSecret" "auto" (not (empty .Values.certs.secretName))) -}}
{{- end -}}
{{- include "ferrovault.checkImages" . -}}
{{- $_ := set .Values "ferrovaultNormalized" true -}}
{{- end -}}
{{- end -}}

{{/* Recursive merge of .src into .dst (maps in place); paths in "ferrovault.replaced" are replaced
whole when the source is non-empty. Unlike sprig's mergeOverwrite, false, 0 and "" do override. */}}
{{- define "ferrovault.merge" -}}
{{- $dst := .dst -}}
{{- $path := .path -}}
{{- $replaced := list "securityContext.pod" "securityContext.container" "resources" "affinity" "tolerations" "nodeSelector" "topologySpreadConstraints" "strategy" "annotations" "webhook.namespaceSelector" "webhook.objectSelector" "webhook.annotations" "service.annotations" "serviceAccount.annotations" "extraLabels" "extraEnvironmentVars" -}}
{{- range $k, $sv := .src -}}
{{- $p := printf "%s%s" $path $k -}}
{{- $dv := get $dst $k -}}
{{- if has $p $replaced -}}
{{- if $sv }}{{ $_ := set $dst $k $sv }}{{ end -}}
{{- else if and (kindIs "map" $sv) (kindIs "map" $dv) -}}
{{- include "ferrovault.merge" (dict "dst" $dv "src" $sv "path" (printf "%s." $p)) -}}
{{- else -}}
{{- $_ := set $dst $k $sv -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Running ferrovault's commands in vault-k8s's or Vault's image cannot work: fail the render. */}}
{{- define "ferrovault.checkImages" -}}
{{- $foreign := "(^|/)(hashicorp/vault(-k8s|-enterprise)?|openbao/openbao|openbao/openbao-[a-z0-9-]+)$" -}}
{{- if regexMatch $foreign .Values.image.repository -}}
{{- fail (printf "image.repository (injector.image.repository) is %q, the image of another injector: ferrovault's webhook runs /ferrovault-webhook, which it does not have. Use ghcr.io/ferrovault/ferrovault-webhook (or drop the key to get the chart's default, tag = appVersion %s)" .Values.image.repository .Chart.AppVersion) -}}
{{- end -}}
{{- if regexMatch $foreign .Values.agentImage.repository -}}
{{- fail (printf "agentImage.repository (injector.agentImage.repository) is %q, a Vault/OpenBao image: the injected agent runs /ferrovault-agent, which it does not have. Use ghcr.io/ferrovault/ferrovault-agent (or drop the key to get the chart's default, tag = appVersion %s)" .Values.agentImage.repository .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The namespace everything goes to: global.namespace (vault-helm) or the release's. */}}
{{- define "ferrovault.namespace" -}}
{{- default .Release.Namespace (dig "namespace" "" (.Values.global | default dict)) -}}
{{- end -}}

{{/* A value vault-helm takes as YAML or as a templated string (rendered with tpl), at `indent`.
vault-helm's own default strings for affinity and objectSelector name vault-helm's labels, which
these pods do not carry: recognised, they mean this chart's default (see "ferrovault.isVaultHelmDefault"). */}}
{{- define "ferrovault.yamlOrTpl" -}}
{{- if kindIs "string" .value -}}
{{- tpl .value .ctx | trim | nindent .indent -}}
{{- else -}}
{{- toYaml .value | nindent .indent -}}
{{- end -}}
{{- end -}}

{{/* true when .value is vault-helm's default templated string for .key (whitespace ignored). */}}
{{- define "ferrovault.isVaultHelmDefault" -}}
{{- $defaults := dict
  "affinity" "podAntiAffinity:requiredDuringSchedulingIgnoredDuringExecution:-labelSelector:matchLabels:app.kubernetes.io/name:{{template\"vault.name\".}}-agent-injectorapp.kubernetes.io/instance:\"{{.Release.Name}}\"component:webhooktopologyKey:kubernetes.io/hostname"
  "objectSelector" "matchExpressions:-key:app.kubernetes.io/nameoperator:NotInvalues:-{{template\"vault.name\".}}-agent-injector" -}}
{{- if and (kindIs "string" .value) (eq (regexReplaceAll "\\s+" .value "") (get $defaults .key)) }}true{{ end -}}
{{- end -}}
