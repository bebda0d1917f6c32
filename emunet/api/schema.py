"""The field names of the built-in types, for `fieldValidation=Strict`.

The apiserver rejects a field its Go types do not have when kubectl asks for
strict validation (the default of `kubectl apply/create`), naming its path:
`strict decoding error: unknown field "spec.replica"`. emunet keeps the
field names of the parts users write by hand (metadata, Service, pod spec,
containers, Deployment/ReplicaSet/Job, Secret, ConfigMap); deeper structures not
listed here are accepted as they are.
"""
from __future__ import annotations

from typing import Any

# A schema node is a set of known keys, or a dict of key -> child schema (None = opaque).
Schema = dict[str, Any]

META: Schema = dict.fromkeys((
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields"))

PROBE = dict.fromkeys(("exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds",
                       "timeoutSeconds", "periodSeconds", "successThreshold",
                       "failureThreshold", "terminationGracePeriodSeconds"))

CONTAINER: Schema = {
    **dict.fromkeys(("name", "image", "command", "args", "workingDir", "envFrom",
                     "resources", "resizePolicy", "restartPolicy", "volumeDevices",
                     "lifecycle", "terminationMessagePath", "terminationMessagePolicy",
                     "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty")),
    "ports": [dict.fromkeys(("name", "hostPort", "containerPort", "protocol", "hostIP"))],
    "env": [dict.fromkeys(("name", "value", "valueFrom"))],
    "volumeMounts": [dict.fromkeys(("name", "readOnly", "recursiveReadOnly", "mountPath",
                                    "subPath", "mountPropagation", "subPathExpr"))],
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
}

VOLUME: Schema = dict.fromkeys((
    "name", "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume",
    "scaleIO", "storageos", "csi", "ephemeral", "image"))

POD_SPEC: Schema = {
    **dict.fromkeys((
        "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
        "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
        "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC",
        "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
        "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases",
        "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName",
        "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints",
        "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims",
        "resources", "ephemeralContainers")),
    "containers": [CONTAINER], "initContainers": [CONTAINER], "volumes": [VOLUME],
}

TEMPLATE: Schema = {"metadata": META, "spec": POD_SPEC}

SERVICE_SPEC: Schema = {
    **dict.fromkeys((
        "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
        "loadBalancerIP", "loadBalancerSourceRanges", "externalName",
        "externalTrafficPolicy", "healthCheckNodePort", "publishNotReadyAddresses",
        "sessionAffinityConfig", "ipFamilies", "ipFamilyPolicy",
        "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy",
        "trafficDistribution")),
    "ports": [dict.fromkeys(("name", "protocol", "appProtocol", "port", "targetPort",
                             "nodePort"))],
}

WORKLOAD_SPEC: Schema = {
    **dict.fromkeys(("replicas", "selector", "strategy", "minReadySeconds",
                     "revisionHistoryLimit", "paused", "progressDeadlineSeconds")),
    "template": TEMPLATE,
}

DAEMONSET_SPEC: Schema = {
    **dict.fromkeys(("selector", "updateStrategy", "minReadySeconds", "revisionHistoryLimit")),
    "template": TEMPLATE,
}

STATEFULSET_SPEC: Schema = {
    **dict.fromkeys(("replicas", "selector", "volumeClaimTemplates", "serviceName",
                     "podManagementPolicy", "updateStrategy", "revisionHistoryLimit",
                     "minReadySeconds", "persistentVolumeClaimRetentionPolicy", "ordinals")),
    "template": TEMPLATE,
}

JOB_SPEC: Schema = {
    **dict.fromkeys(("parallelism", "completions", "activeDeadlineSeconds", "podFailurePolicy",
                     "successPolicy", "backoffLimit", "backoffLimitPerIndex",
                     "maxFailedIndexes", "selector", "manualSelector",
                     "ttlSecondsAfterFinished", "completionMode", "suspend",
                     "podReplacementPolicy", "managedBy")),
    "template": TEMPLATE,
}

TOP = ("apiVersion", "kind", "metadata")
KINDS: dict[str, Schema] = {
    "Pod": {"apiVersion": None, "kind": None, "metadata": META, "spec": POD_SPEC,
            "status": None},
    "Service": {"apiVersion": None, "kind": None, "metadata": META, "spec": SERVICE_SPEC,
                "status": None},
    "Deployment": {"apiVersion": None, "kind": None, "metadata": META,
                   "spec": WORKLOAD_SPEC, "status": None},
    "ReplicaSet": {"apiVersion": None, "kind": None, "metadata": META,
                   "spec": WORKLOAD_SPEC, "status": None},
    "Job": {"apiVersion": None, "kind": None, "metadata": META, "spec": JOB_SPEC,
            "status": None},
    "DaemonSet": {"apiVersion": None, "kind": None, "metadata": META,
                  "spec": DAEMONSET_SPEC, "status": None},
    "StatefulSet": {"apiVersion": None, "kind": None, "metadata": META,
                    "spec": STATEFULSET_SPEC, "status": None},
    "Secret": {**dict.fromkeys(("apiVersion", "kind", "data", "stringData", "type",
                                "immutable")), "metadata": META},
    "ConfigMap": {**dict.fromkeys(("apiVersion", "kind", "data", "binaryData",
                                   "immutable")), "metadata": META},
    "Namespace": {"apiVersion": None, "kind": None, "metadata": META, "spec": None,
                  "status": None},
    "Endpoints": {"apiVersion": None, "kind": None, "metadata": META, "subsets": None},
    "ServiceAccount": {**dict.fromkeys(("apiVersion", "kind", "secrets",
                                        "imagePullSecrets", "automountServiceAccountToken")),
                       "metadata": META},
}


def unknown_fields(kind: str, obj: Any) -> list[str]:
    schema = KINDS.get(kind)
    if schema is None:
        return []
    out: list[str] = []
    _walk(schema, obj, "", out)
    return out


def _walk(schema: Any, value: Any, path: str, out: list[str]) -> None:
    if schema is None:
        return
    if isinstance(schema, list):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(schema[0], item, f"{path}[{i}]", out)
        return
    if not isinstance(value, dict):
        return
    for k, v in value.items():
        if k not in schema:
            out.append(f"{path}.{k}" if path else k)
        else:
            _walk(schema[k], v, f"{path}.{k}" if path else k, out)
