{{- define "etcdmedic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "etcdmedic.fullname" -}}
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

{{/* CronJob names leave 11 characters for the Job suffix Kubernetes adds. */}}
{{- define "etcdmedic.jobname" -}}
{{- printf "%s-%s" (include "etcdmedic.fullname" .root | trunc (int (sub 51 (add1 (len .suffix)))) | trimSuffix "-") .suffix -}}
{{- end -}}

{{- define "etcdmedic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "etcdmedic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "etcdmedic.selector" -}}
app.kubernetes.io/name: {{ include "etcdmedic.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "etcdmedic.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "etcdmedic.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "etcdmedic.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* Pod-level settings of every etcdmedic pod. onControlPlane places it
     beside etcd, on the host network, as root (kubeadm's keys are 0600). */}}
{{- define "etcdmedic.podSpec" -}}
{{- $v := .root.Values -}}
serviceAccountName: {{ include "etcdmedic.serviceAccountName" .root }}
automountServiceAccountToken: false
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .onControlPlane }}
hostNetwork: {{ $v.controlPlane.hostNetwork }}
{{- if $v.controlPlane.hostNetwork }}
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- with $v.controlPlane.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.controlPlane.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.controlPlane.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsUser: {{ $v.controlPlane.runAsUser }}
  runAsGroup: {{ $v.controlPlane.runAsUser }}
  {{- if ne (int $v.controlPlane.runAsUser) 0 }}
  runAsNonRoot: true
  {{- end }}
  seccompProfile:
    type: RuntimeDefault
{{- else }}
securityContext:
  runAsUser: 65532
  runAsGroup: 65532
  runAsNonRoot: true
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- end }}
{{- end -}}

{{- define "etcdmedic.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{/* Mounts: /tmp always (the root filesystem is read-only), the host
     paths discovery reads (read-only), the textfile directory when metrics
     are on. */}}
{{- define "etcdmedic.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- if .onControlPlane }}
{{- range $i, $p := .root.Values.controlPlane.hostPaths }}
  - name: host-{{ $i }}
    mountPath: {{ $p }}
    readOnly: true
{{- end }}
{{- end }}
{{- if .metrics }}
  - name: textfile
    mountPath: /textfile
{{- end }}
{{- with .extra }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}

{{- define "etcdmedic.volumes" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- if .onControlPlane }}
{{- range $i, $p := .root.Values.controlPlane.hostPaths }}
  - name: host-{{ $i }}
    hostPath:
      path: {{ $p }}
{{- end }}
{{- end }}
{{- if .metrics }}
  - name: textfile
    hostPath:
      path: {{ .root.Values.textfile.hostPath }}
      type: DirectoryOrCreate
{{- end }}
{{- with .extra }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}
