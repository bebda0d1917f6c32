"""Field tables for the protobuf messages `kubectl create` sends.

`emunet.protobuf` reads the wire format; this module only says what the
fields mean. Each message is a table from field number to (JSON name, type),
written from the numbers in the Kubernetes `generated.proto` files, so adding
a kind is adding a table and a line in `KINDS`. Fields left out of a table are
skipped by the reader, which is how any protobuf reader treats fields it does
not know.

Types:
  string, int, bool   scalars (int covers int32 and int64)
  bytes               []byte; JSON carries it as standard base64
  time                metav1.Time; RFC 3339 seconds, omitted when zero
  intstr              IntOrString; a JSON number or string
  quantity            resource.Quantity; its canonical string
  Name                another message of this table
  inline:Name         an embedded Go struct (`json:",inline"`): its fields
                      land in the enclosing object
  []T                 a repeated field
  map[T]              map<string, T>

A `,omitempty` suffix marks a non-pointer Go field tagged `omitempty`: proto2
writes its zero value, while the JSON Kubernetes would hold has no such key.
Without the suffix a present value is kept, which is right both for pointer
fields (written only when set, so a `false` is meaningful) and for fields Go
always marshals (`port`, a container's `name`, nested structs such as
`resources: {}`). Status messages are kept small on purpose: the API server
owns status and resets it on create.
"""
from __future__ import annotations

Table = dict[int, tuple[str, str]]

_OMIT_STR = "string,omitempty"
_OMIT_INT = "int,omitempty"
_OMIT_BOOL = "bool,omitempty"

MESSAGES: dict[str, Table] = {
    # --- meta/v1 -------------------------------------------------------------
    "ObjectMeta": {
        1: ("name", _OMIT_STR),
        2: ("generateName", _OMIT_STR),
        3: ("namespace", _OMIT_STR),
        4: ("selfLink", _OMIT_STR),
        5: ("uid", _OMIT_STR),
        6: ("resourceVersion", _OMIT_STR),
        7: ("generation", _OMIT_INT),
        8: ("creationTimestamp", "time"),
        9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int"),
        11: ("labels", "map[string]"),
        12: ("annotations", "map[string]"),
        13: ("ownerReferences", "[]OwnerReference"),
        14: ("finalizers", "[]string"),
        # 17 managedFields is server-owned and skipped.
    },
    "OwnerReference": {
        5: ("apiVersion", "string"),
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "LabelSelector": {
        1: ("matchLabels", "map[string]"),
        2: ("matchExpressions", "[]LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("values", "[]string"),
    },

    # --- core/v1: Secret, ConfigMap, Namespace, ServiceAccount ---------------
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map[bytes]"),
        3: ("type", _OMIT_STR),
        4: ("stringData", "map[string]"),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map[string]"),
        3: ("binaryData", "map[bytes]"),
        4: ("immutable", "bool"),
    },
    "Namespace": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "NamespaceSpec"),
        3: ("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "NamespaceStatus": {1: ("phase", _OMIT_STR)},
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        2: ("secrets", "[]ObjectReference"),
        3: ("imagePullSecrets", "[]LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "ObjectReference": {
        1: ("kind", _OMIT_STR),
        2: ("namespace", _OMIT_STR),
        3: ("name", _OMIT_STR),
        4: ("uid", _OMIT_STR),
        5: ("apiVersion", _OMIT_STR),
        6: ("resourceVersion", _OMIT_STR),
        7: ("fieldPath", _OMIT_STR),
    },
    "LocalObjectReference": {1: ("name", _OMIT_STR)},

    # --- core/v1: Service ------------------------------------------------------
    "Service": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "ServiceSpec"),
        3: ("status", "ServiceStatus"),
    },
    "ServiceSpec": {
        1: ("ports", "[]ServicePort"),
        2: ("selector", "map[string]"),
        3: ("clusterIP", _OMIT_STR),
        18: ("clusterIPs", "[]string"),
        4: ("type", _OMIT_STR),
        5: ("externalIPs", "[]string"),
        7: ("sessionAffinity", _OMIT_STR),
        8: ("loadBalancerIP", _OMIT_STR),
        9: ("loadBalancerSourceRanges", "[]string"),
        10: ("externalName", _OMIT_STR),
        11: ("externalTrafficPolicy", _OMIT_STR),
        12: ("healthCheckNodePort", _OMIT_INT),
        13: ("publishNotReadyAddresses", _OMIT_BOOL),
        14: ("sessionAffinityConfig", "SessionAffinityConfig"),
        17: ("ipFamilyPolicy", "string"),
        19: ("ipFamilies", "[]string"),
        20: ("allocateLoadBalancerNodePorts", "bool"),
        21: ("loadBalancerClass", "string"),
        22: ("internalTrafficPolicy", "string"),
        23: ("trafficDistribution", "string"),
    },
    "ServicePort": {
        1: ("name", _OMIT_STR),
        2: ("protocol", _OMIT_STR),
        3: ("port", "int"),
        4: ("targetPort", "intstr"),
        5: ("nodePort", _OMIT_INT),
        6: ("appProtocol", "string"),
    },
    "SessionAffinityConfig": {1: ("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: ("timeoutSeconds", "int")},
    "ServiceStatus": {1: ("loadBalancer", "LoadBalancerStatus")},
    "LoadBalancerStatus": {1: ("ingress", "[]LoadBalancerIngress")},
    "LoadBalancerIngress": {1: ("ip", _OMIT_STR), 2: ("hostname", _OMIT_STR)},

    # --- core/v1: Pod and its spec ---------------------------------------------
    "Pod": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "PodSpec"),
        3: ("status", "PodStatus"),
    },
    "PodStatus": {},
    "PodTemplateSpec": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "PodSpec"),
    },
    "PodSpec": {
        1: ("volumes", "[]Volume"),
        20: ("initContainers", "[]Container"),
        2: ("containers", "[]Container"),
        3: ("restartPolicy", _OMIT_STR),
        4: ("terminationGracePeriodSeconds", "int"),
        5: ("activeDeadlineSeconds", "int"),
        6: ("dnsPolicy", _OMIT_STR),
        7: ("nodeSelector", "map[string]"),
        8: ("serviceAccountName", _OMIT_STR),
        9: ("serviceAccount", _OMIT_STR),
        21: ("automountServiceAccountToken", "bool"),
        10: ("nodeName", _OMIT_STR),
        11: ("hostNetwork", _OMIT_BOOL),
        15: ("imagePullSecrets", "[]LocalObjectReference"),
        16: ("hostname", _OMIT_STR),
        17: ("subdomain", _OMIT_STR),
        19: ("schedulerName", _OMIT_STR),
        22: ("tolerations", "[]Toleration"),
        24: ("priorityClassName", _OMIT_STR),
        25: ("priority", "int"),
        30: ("enableServiceLinks", "bool"),
        35: ("setHostnameAsFQDN", "bool"),
    },
    "Toleration": {
        1: ("key", _OMIT_STR),
        2: ("operator", _OMIT_STR),
        3: ("value", _OMIT_STR),
        4: ("effect", _OMIT_STR),
        5: ("tolerationSeconds", "int"),
    },
    "Container": {
        1: ("name", "string"),
        2: ("image", _OMIT_STR),
        3: ("command", "[]string"),
        4: ("args", "[]string"),
        5: ("workingDir", _OMIT_STR),
        6: ("ports", "[]ContainerPort"),
        19: ("envFrom", "[]EnvFromSource"),
        7: ("env", "[]EnvVar"),
        8: ("resources", "ResourceRequirements"),
        9: ("volumeMounts", "[]VolumeMount"),
        10: ("livenessProbe", "Probe"),
        11: ("readinessProbe", "Probe"),
        22: ("startupProbe", "Probe"),
        13: ("terminationMessagePath", _OMIT_STR),
        20: ("terminationMessagePolicy", _OMIT_STR),
        14: ("imagePullPolicy", _OMIT_STR),
        16: ("stdin", _OMIT_BOOL),
        17: ("stdinOnce", _OMIT_BOOL),
        18: ("tty", _OMIT_BOOL),
    },
    "ContainerPort": {
        1: ("name", _OMIT_STR),
        2: ("hostPort", _OMIT_INT),
        3: ("containerPort", "int"),
        4: ("protocol", _OMIT_STR),
        5: ("hostIP", _OMIT_STR),
    },
    "EnvVar": {
        1: ("name", "string"),
        2: ("value", _OMIT_STR),
        3: ("valueFrom", "EnvVarSource"),
    },
    "EnvVarSource": {
        1: ("fieldRef", "ObjectFieldSelector"),
        2: ("resourceFieldRef", "ResourceFieldSelector"),
        3: ("configMapKeyRef", "KeySelector"),
        4: ("secretKeyRef", "KeySelector"),
    },
    "ObjectFieldSelector": {1: ("apiVersion", _OMIT_STR), 2: ("fieldPath", "string")},
    "ResourceFieldSelector": {
        1: ("containerName", _OMIT_STR),
        2: ("resource", "string"),
        3: ("divisor", "quantity"),
    },
    # ConfigMapKeySelector and SecretKeySelector share one layout.
    "KeySelector": {
        1: ("", "inline:LocalObjectReference"),
        2: ("key", "string"),
        3: ("optional", "bool"),
    },
    "EnvFromSource": {
        1: ("prefix", _OMIT_STR),
        2: ("configMapRef", "EnvSource"),
        3: ("secretRef", "EnvSource"),
    },
    # ConfigMapEnvSource and SecretEnvSource, likewise.
    "EnvSource": {1: ("", "inline:LocalObjectReference"), 2: ("optional", "bool")},
    "ResourceRequirements": {1: ("limits", "map[quantity]"), 2: ("requests", "map[quantity]")},
    "VolumeMount": {
        1: ("name", "string"),
        2: ("readOnly", _OMIT_BOOL),
        3: ("mountPath", "string"),
        4: ("subPath", _OMIT_STR),
        5: ("mountPropagation", "string"),
        6: ("subPathExpr", _OMIT_STR),
    },
    "Probe": {
        1: ("", "inline:ProbeHandler"),
        2: ("initialDelaySeconds", _OMIT_INT),
        3: ("timeoutSeconds", _OMIT_INT),
        4: ("periodSeconds", _OMIT_INT),
        5: ("successThreshold", _OMIT_INT),
        6: ("failureThreshold", _OMIT_INT),
        7: ("terminationGracePeriodSeconds", "int"),
    },
    "ProbeHandler": {
        1: ("exec", "ExecAction"),
        2: ("httpGet", "HTTPGetAction"),
        3: ("tcpSocket", "TCPSocketAction"),
    },
    "ExecAction": {1: ("command", "[]string")},
    "HTTPGetAction": {
        1: ("path", _OMIT_STR),
        2: ("port", "intstr"),
        3: ("host", _OMIT_STR),
        4: ("scheme", _OMIT_STR),
        5: ("httpHeaders", "[]HTTPHeader"),
    },
    "HTTPHeader": {1: ("name", "string"), 2: ("value", "string")},
    "TCPSocketAction": {1: ("port", "intstr"), 2: ("host", _OMIT_STR)},
    "Volume": {1: ("name", "string"), 2: ("", "inline:VolumeSource")},
    # Only the volume sources emunet's kubelet can provide.
    "VolumeSource": {
        2: ("emptyDir", "EmptyDirVolumeSource"),
        6: ("secret", "SecretVolumeSource"),
        19: ("configMap", "ConfigMapVolumeSource"),
    },
    "EmptyDirVolumeSource": {1: ("medium", _OMIT_STR), 2: ("sizeLimit", "quantity")},
    "SecretVolumeSource": {
        1: ("secretName", _OMIT_STR),
        2: ("items", "[]KeyToPath"),
        3: ("defaultMode", "int"),
        4: ("optional", "bool"),
    },
    "ConfigMapVolumeSource": {
        1: ("", "inline:LocalObjectReference"),
        2: ("items", "[]KeyToPath"),
        3: ("defaultMode", "int"),
        4: ("optional", "bool"),
    },
    "KeyToPath": {1: ("key", "string"), 2: ("path", "string"), 3: ("mode", "int")},

    # --- apps/v1: Deployment ---------------------------------------------------
    "Deployment": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "DeploymentSpec"),
        3: ("status", "DeploymentStatus"),
    },
    "DeploymentStatus": {},
    "DeploymentSpec": {
        1: ("replicas", "int"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
        4: ("strategy", "DeploymentStrategy"),
        5: ("minReadySeconds", _OMIT_INT),
        6: ("revisionHistoryLimit", "int"),
        7: ("paused", _OMIT_BOOL),
        9: ("progressDeadlineSeconds", "int"),
    },
    "DeploymentStrategy": {1: ("type", _OMIT_STR), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "intstr"), 2: ("maxSurge", "intstr")},

    # --- batch/v1: Job (what `kubectl create job` sends) ------------------------
    "Job": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "JobSpec"),
        3: ("status", "JobStatus"),
    },
    "JobStatus": {},
    "JobSpec": {
        1: ("parallelism", "int"),
        2: ("completions", "int"),
        3: ("activeDeadlineSeconds", "int"),
        4: ("selector", "LabelSelector"),
        5: ("manualSelector", "bool"),
        6: ("template", "PodTemplateSpec"),
        7: ("backoffLimit", "int"),
        8: ("ttlSecondsAfterFinished", "int"),
        9: ("completionMode", "string"),
        10: ("suspend", "bool"),
        12: ("backoffLimitPerIndex", "int"),
        13: ("maxFailedIndexes", "int"),
        14: ("podReplacementPolicy", "string"),
        15: ("managedBy", "string"),
    },

    # --- authorization.k8s.io/v1 and authentication.k8s.io/v1: the reviews ------
    "SelfSubjectAccessReview": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "SelfSubjectAccessReviewSpec"),
        3: ("status", "SubjectAccessReviewStatus"),
    },
    "SubjectAccessReviewStatus": {},
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes"),
        2: ("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", _OMIT_STR), 2: ("verb", _OMIT_STR), 3: ("group", _OMIT_STR),
        4: ("version", _OMIT_STR), 5: ("resource", _OMIT_STR), 6: ("subresource", _OMIT_STR),
        7: ("name", _OMIT_STR),
    },
    "NonResourceAttributes": {1: ("path", _OMIT_STR), 2: ("verb", _OMIT_STR)},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta"), 2: ("status", "SelfSubjectReviewStatus")},
    "SelfSubjectReviewStatus": {},
}

# (apiVersion, kind) of the envelope -> the message of its raw bytes.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
}

# The messages whose raw JSON value is not an object.
SCALAR_MESSAGES = ("time", "intstr", "quantity")
