"""Validation causes, paths and messages as the v1.32 apiserver words them."""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from emunet import defaults, errors, validation

Obj = dict[str, Any]

SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
             "characters, '-' or '.', and must start and end with an alphanumeric character "
             "(e.g. 'example.com', regex used for validation is "
             r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. "
           "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
         "and must start and end with an alphanumeric character (e.g. 'my-name',  or "
         "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def pod(name: str = "p") -> Obj:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def service(name: str = "s") -> Obj:
    return {"metadata": {"name": name},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}


def deployment(name: str = "d") -> Obj:
    return {"metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "x"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def daemonset(name: str = "ds") -> Obj:
    ds = deployment(name)
    ds["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    return ds


def statefulset(name: str = "web") -> Obj:
    sts = deployment(name)
    sts["spec"].update(serviceName="nginx", podManagementPolicy="OrderedReady",
                       updateStrategy={"type": "RollingUpdate"})
    return sts


def job(name: str = "j") -> Obj:
    """A Job as the API server has it just before validation: selector generated."""
    return {"metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                     "template": {"metadata": {"labels": {
                         "batch.kubernetes.io/controller-uid": "u"}},
                         "spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "busybox"}]}}}}


def secret(name: str = "s") -> Obj:
    return {"metadata": {"name": name}, "data": {"a": "eA=="}}


def changed(base: Obj, change: Callable[[Obj], Any]) -> Obj:
    obj = copy.deepcopy(base)
    change(obj)
    return obj


def run(kind: str, obj: Obj, old: Obj | None = None) -> errors.Invalid | None:
    """Default then validate, as the API server does; the error, or None when valid."""
    new = defaults.apply_defaults(kind, obj)
    before = defaults.apply_defaults(kind, old) if old is not None else None
    try:
        validation.validate(kind, new, before)
    except errors.Invalid as exc:
        return exc
    return None


@pytest.mark.parametrize("kind, obj", [
    ("Pod", pod()),
    ("Service", service()),
    ("Service", {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}),
    ("Service", {"metadata": {"name": "e"},
                 "spec": {"type": "ExternalName", "externalName": "example.com."}}),
    ("Service", changed(service(), lambda o: o["spec"].update(
        ports=[{"name": "http", "port": 80, "targetPort": "web"},
               {"name": "dns", "port": 53, "protocol": "UDP"},
               {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]))),
    ("Deployment", deployment()),
    ("ReplicaSet", deployment()),
    ("Deployment", changed(deployment(), lambda o: o["spec"]["selector"].update(
        matchExpressions=[{"key": "tier", "operator": "In", "values": ["web"]}])
        or o["spec"]["template"]["metadata"]["labels"].update(tier="web"))),
    ("Secret", secret()),
    ("Secret", {"metadata": {"name": "t"}, "type": "kubernetes.io/tls",
                "data": {"tls.crt": "eA==", "tls.key": "eA=="}}),
    ("ConfigMap", {"metadata": {"name": "c"}, "data": {"nginx.conf": "x", "a_b-c": "y"}}),
    ("Namespace", {"metadata": {"name": "dev"}}),
    ("Node", {"metadata": {"name": "node-1.local"}}),
    ("StatefulSet", changed(statefulset(), lambda o: o["spec"].update(volumeClaimTemplates=[
        {"metadata": {"name": "www"}}]) or o["spec"]["template"]["spec"]["containers"][0].update(
        volumeMounts=[{"name": "www", "mountPath": "/usr/share/nginx/html"}]))),
    ("Pod", changed(pod(), lambda o: o["spec"]["containers"][0].update(lifecycle={
        "postStart": {"httpGet": {"port": 80, "path": "/warm"}},
        "preStop": {"sleep": {"seconds": 30}}}))),
    ("Pod", {"metadata": {"generateName": "web-"},
             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
    ("Pod", changed(pod(), lambda o: o["metadata"].update(
        labels={"app.kubernetes.io/name": "web", "empty": ""},
        annotations={"Example.com/Note": "anything at all"}))),
])
def test_valid_objects_pass(kind: str, obj: Obj) -> None:
    assert run(kind, obj) is None


@pytest.mark.parametrize("kind, obj, message", [
    ("Service", {"metadata": {"name": "bad"}, "spec": {}},
     'Service "bad" is invalid: spec.ports: Required value'),
    ("Pod", {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
     'Pod "" is invalid: metadata.name: Required value: name or generateName is required'),
    ("Pod", pod("Bad_Name"),
     f'Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN}'),
    ("Service", service("web.svc"),
     f'Service "web.svc" is invalid: metadata.name: Invalid value: "web.svc": {DNS1035}'),
    ("Namespace", {"metadata": {"name": "a.b"}},
     f'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": {LABEL}'),
    ("Deployment", changed(deployment("x"), lambda o: o["spec"]["template"]["metadata"]
                           .update(labels={"run": "y"})),
     ('Deployment.apps "x" is invalid: spec.template.metadata.labels: Invalid value: '
     'map[string]string{"run":"y"}: `selector` does not match template `labels`')),
    ("Deployment", changed(deployment("x"), lambda o: o["spec"]["template"]["spec"]
                           .update(restartPolicy="Never")),
     ('Deployment.apps "x" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
     '"Never": supported values: "Always"')),
    ("Deployment", changed(deployment("x"), lambda o: o["spec"].update(selector={})),
     ('Deployment.apps "x" is invalid: spec.selector: Invalid value: v1.LabelSelector'
     '{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: '
     'empty selector is invalid for deployment')),
    # A missing selector selects nothing, so the template is reported too.
    ("ReplicaSet", changed(deployment("r"), lambda o: o["spec"].pop("selector")),
     ('ReplicaSet.apps "r" is invalid: [spec.selector: Required value, '
     'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: '
     '`selector` does not match template `labels`]')),
    ("Pod", changed(pod(), lambda o: o["spec"]["containers"][0].pop("image")),
     'Pod "p" is invalid: spec.containers[0].image: Required value'),
    ("Pod", changed(pod(), lambda o: o["spec"]["containers"][0].update(
        volumeMounts=[{"name": "x", "mountPath": "/x"}])),
     'Pod "p" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "x"'),
])
def test_invalid_objects_get_upstream_messages(kind: str, obj: Obj, message: str) -> None:
    exc = run(kind, obj)
    assert exc is not None and exc.message == message
    assert exc.code == 422 and exc.reason == "Invalid"


@pytest.mark.parametrize("kind, change, causes", [
    # Services
    ("Service", lambda o: o["spec"].update(ports=[{"port": 0}]),
     # targetPort defaults to port, so upstream reports it as well.
     ["spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
      "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive"]),
    ("Service", lambda o: o["spec"].update(ports=[{"port": 70000}]),
     ["spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
      ("spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, "
      "inclusive")]),
    ("Service", lambda o: o["spec"].update(ports=[{"port": 80, "protocol": "HTTP"}]),
     [('spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", '
      '"UDP"')]),
    ("Service", lambda o: o["spec"].update(ports=[{"name": "a", "port": 80}, {"port": 81}]),
     ["spec.ports[1].name: Required value"]),
    ("Service", lambda o: o["spec"].update(ports=[{"name": "a", "port": 80},
                                                  {"name": "a", "port": 81}]),
     ['spec.ports[1].name: Duplicate value: "a"']),
    ("Service", lambda o: o["spec"].update(ports=[{"name": "a", "port": 80},
                                                  {"name": "b", "port": 80}]),
     [('spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
      'AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, '
      'StrVal:""}, NodePort:0}')]),
    ("Service", lambda o: o["spec"].update(ports=[{"port": 80, "targetPort": 65536}]),
     ["spec.ports[0].targetPort: Invalid value: 65536: must be between 1 and 65535, inclusive"]),
    ("Service", lambda o: o["spec"].update(ports=[{"port": 80, "targetPort": "-web-"}]),
     ['spec.ports[0].targetPort: Invalid value: "-web-": must not begin or end with a hyphen']),
    ("Service", lambda o: o["spec"].update(ports=[{"port": 80, "targetPort": "8080"}]),
     ['spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z)']),
    ("Service", lambda o: o["spec"].update(type="Magic"),
     [('spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", '
      '"LoadBalancer", "NodePort"')]),
    ("Service", lambda o: o["spec"].update(sessionAffinity="Sticky"),
     [('spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", '
      '"None"')]),
    ("Service", lambda o: o["spec"].update(type="ExternalName"),
     ["spec.externalName: Required value"]),
    ("Service", lambda o: o["spec"].update(type="NodePort", clusterIP="None"),
     [('spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort '
      'services')]),
    ("Service", lambda o: o["spec"].update(clusterIP="10.0.0.300"),
     [('spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, '
      '(e.g. 10.9.8.7 or 2001:db8::ffff)')]),
    ("Service", lambda o: o["spec"]["ports"][0].update(nodePort=30001),
     ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]),
    ("Service", lambda o: o["spec"].update(selector={"app": "a b"}),
     [('spec.selector: Invalid value: "a b": a valid label must be an empty string or consist '
      "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
      "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]),
    # Metadata
    ("Service", lambda o: o["metadata"].update(labels={"/x": "y"}),
     ['metadata.labels: Invalid value: "/x": prefix part must be non-empty']),
    ("Service", lambda o: o["metadata"].update(labels={"a" * 64: "y"}),
     [(f'metadata.labels: Invalid value: "{"a" * 64}": name part must be no more than 63 '
      "characters")]),
    ("Service", lambda o: o["metadata"].update(annotations={"Bad_Prefix/x": "y"}),
     [f'metadata.annotations: Invalid value: "Bad_Prefix/x": prefix part {SUBDOMAIN}']),
    ("Service", lambda o: o["metadata"].update(generateName="Web-"),
     [f'metadata.generateName: Invalid value: "Web-": {DNS1035}']),
    # Pods
    ("Pod", lambda o: o["spec"].update(containers=[]),
     ["spec.containers: Required value"]),
    ("Pod", lambda o: o["spec"]["containers"].append({"name": "c", "image": "x"}),
     ['spec.containers[1].name: Duplicate value: "c"']),
    ("Pod", lambda o: o["spec"]["containers"][0].update(name="Web"),
     [f'spec.containers[0].name: Invalid value: "Web": {LABEL}']),
    ("Pod", lambda o: o["spec"]["containers"][0].update(ports=[{"containerPort": 99999}]),
     [("spec.containers[0].ports[0].containerPort: Invalid value: 99999: must be between 1 and "
      "65535, inclusive")]),
    ("Pod", lambda o: o["spec"].update(restartPolicy="Sometimes"),
     [('spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
      '"OnFailure", "Never"')]),
    ("Pod", lambda o: o["spec"].update(volumes=[{"name": "v", "emptyDir": {}},
                                                {"name": "v", "emptyDir": {}}]),
     ['spec.volumes[1].name: Duplicate value: "v"']),
    ("Pod", lambda o: o["spec"].update(volumes=[{"name": "v", "secret": {}}]),
     ["spec.volumes[0].secret.secretName: Required value"]),
    ("Pod", lambda o: o["spec"]["containers"][0].update(
        livenessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2}),
     ["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"]),
    ("Pod", lambda o: o["spec"]["containers"][0].update(readinessProbe={"periodSeconds": 3}),
     ["spec.containers[0].readinessProbe: Required value: must specify a handler type"]),
    ("Pod", lambda o: o["spec"]["containers"][0].update(
        lifecycle={"preStop": {"sleep": {"seconds": 5}, "exec": {"command": ["true"]}}}),
     ["spec.containers[0].lifecycle.preStop.sleep: Forbidden: may not specify more than 1 "
      "handler type"]),
    ("Pod", lambda o: o["spec"]["containers"][0].update(lifecycle={"postStart": {}}),
     ["spec.containers[0].lifecycle.postStart: Required value: must specify a handler type"]),
    ("Pod", lambda o: o["spec"]["containers"][0].update(
        lifecycle={"postStart": {"exec": {"command": []}}}),
     ["spec.containers[0].lifecycle.postStart.exec.command: Required value"]),
    ("Pod", lambda o: o["spec"].update(terminationGracePeriodSeconds=10) or
     o["spec"]["containers"][0].update(lifecycle={"preStop": {"sleep": {"seconds": 15}}}),
     ["spec.containers[0].lifecycle.preStop.sleep: Invalid value: 15: must be greater than 0 "
      "and less than terminationGracePeriodSeconds (10)"]),
    ("Pod", lambda o: o["spec"]["containers"][0].update(
        lifecycle={"preStop": {"sleep": {"seconds": 0}}}),
     ["spec.containers[0].lifecycle.preStop.sleep: Invalid value: 0: must be greater than 0 "
      "and less than terminationGracePeriodSeconds (30)"]),
    ("Pod", lambda o: o["spec"].update(initContainers=[
        {"name": "i", "image": "busybox", "lifecycle": {"preStop": {"sleep": {"seconds": 1}}}}]),
     ["spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers "
      "without restartPolicy=Always"]),
    ("Pod", lambda o: o["spec"].update(tolerations=[{"key": "k", "effect": "Sometimes"}]),
     [('spec.tolerations[0].effect: Unsupported value: "Sometimes": supported values: '
      '"NoSchedule", "PreferNoSchedule", "NoExecute"')]),
    # Deployments
    ("Deployment", lambda o: o["spec"].update(replicas=-1),
     ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("Deployment", lambda o: o["spec"]["template"]["spec"]["containers"][0].pop("image"),
     ["spec.template.spec.containers[0].image: Required value"]),
    ("Deployment", lambda o: o["spec"]["selector"].update(
        matchExpressions=[{"key": "tier", "operator": "Near", "values": ["a"]}]),
     [('spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector '
      'operator'),
      ('spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, '
      'MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"tier", '
      'Operator:"Near", Values:[]string{"a"}}}}: invalid label selector')]),
    ("Deployment", lambda o: o["spec"].update(strategy={"type": "Recreate",
                                                        "rollingUpdate": {"maxSurge": 1}}),
     [("spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is "
      "'Recreate'")]),
    # DaemonSets
    ("DaemonSet", lambda o: o["spec"].update(updateStrategy={"type": "Sometimes"}),
     ['spec.updateStrategy.type: Unsupported value: "Sometimes": supported values: "OnDelete", '
      '"RollingUpdate"']),
    ("DaemonSet", lambda o: o["spec"]["template"]["spec"].update(restartPolicy="Never"),
     ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
      '"Always"']),
    # StatefulSets: a claim template's name counts as a volume of the pod template.
    ("StatefulSet", lambda o: o["spec"]["template"]["spec"]["containers"][0].update(
        volumeMounts=[{"name": "data", "mountPath": "/data"}]),
     ['spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data"']),
    ("StatefulSet", lambda o: o["spec"].update(podManagementPolicy="Sometimes"),
     ['spec.podManagementPolicy: Unsupported value: "Sometimes": supported values: '
      '"OrderedReady", "Parallel"']),
    # Jobs
    ("Job", lambda o: o["spec"]["template"]["spec"].pop("restartPolicy"),
     ['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']),
    ("Job", lambda o: o["spec"].update(backoffLimit=-1),
     ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"]),
    ("Job", lambda o: o["spec"]["template"]["metadata"].update(labels={"other": "x"}),
     ['spec.template.metadata.labels: Invalid value: map[string]string{"other":"x"}: '
      "`selector` does not match template `labels`"]),
    # Secrets and config maps
    ("Secret", lambda o: o.update(data={"bad key": "eA=="}),
     [('data[bad key]: Invalid value: "bad key": a valid config key must consist of '
      "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
      "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]),
    ("Secret", lambda o: o.update(type="kubernetes.io/tls", data={"tls.crt": "eA=="}),
     ["data[tls.key]: Required value"]),
    ("Secret", lambda o: o.update(data={"..x": "eA=="}),
     ['data[..x]: Invalid value: "..x": must not start with \'..\'']),
    ("ConfigMap", lambda o: o.update(data={"a": "x"}, binaryData={"a": "eA=="}),
     ['data[a]: Invalid value: "a": duplicate of key present in binaryData']),
])
def test_each_problem_is_one_cause(kind: str, change: Callable[[Obj], Any],
                                   causes: list[str]) -> None:
    base = {"Service": service(), "Pod": pod(), "Deployment": deployment(),
            "Secret": secret(), "ConfigMap": {"metadata": {"name": "c"}}, "Job": job(),
            "DaemonSet": daemonset(), "StatefulSet": statefulset()}[kind]
    exc = run(kind, changed(base, change))
    assert exc is not None
    assert [f"{c['field']}: {c['message']}" for c in exc.causes] == causes


def test_all_causes_are_reported_at_once() -> None:
    obj = {"metadata": {"name": "Bad_Name"},
           "spec": {"ports": [{"port": 80}, {"port": 70000}]}}
    exc = run("Service", obj)
    assert exc is not None
    assert [c["field"] for c in exc.causes] == [
        "metadata.name", "spec.ports[0].name", "spec.ports[1].name", "spec.ports[1].port",
        "spec.ports[1].targetPort"]
    assert exc.message.startswith('Service "Bad_Name" is invalid: [metadata.name: ')
    assert exc.details is not None and len(exc.details["causes"]) == 5


@pytest.mark.parametrize("kind, group, display", [
    ("Service", "", "Service"),
    ("Deployment", "", "Deployment.apps"),
    ("Deployment", "apps", "Deployment.apps"),
    ("EndpointSlice", "", "EndpointSlice.discovery.k8s.io"),
    ("Event", "events.k8s.io", "Event.events.k8s.io"),
    ("Event", "", "Event"),
])
def test_kind_is_qualified_by_its_group(kind: str, group: str, display: str) -> None:
    assert validation.kind_display(kind, group) == display


@pytest.mark.parametrize("kind, old, change, causes", [
    ("Service", changed(service(), lambda o: o["spec"].update(clusterIP="127.96.0.5")),
     lambda o: o["spec"].update(clusterIP="127.96.0.6"),
     ['spec.clusterIPs[0]: Invalid value: []string{"127.96.0.6"}: may not change once set']),
    ("Service", changed(service(), lambda o: o["spec"].update(clusterIP="127.96.0.5")),
     lambda o: o["spec"].update(clusterIP="127.96.0.5", ports=[{"port": 81}]), []),
    # Leaving the IP out on update keeps the allocated one.
    ("Service", changed(service(), lambda o: o["spec"].update(clusterIP="127.96.0.5")),
     lambda o: None, []),
    ("Deployment", deployment(),
     lambda o: o["spec"]["selector"]["matchLabels"].update(tier="web")
     or o["spec"]["template"]["metadata"]["labels"].update(tier="web"),
     [('spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string'
      '{"app":"x", "tier":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: '
      'field is immutable')]),
    ("Deployment", deployment(), lambda o: o["spec"].update(replicas=5), []),
    ("Secret", changed(secret(), lambda o: o.update(immutable=True)),
     lambda o: o.update(data={"a": "eQ=="}, immutable=False),
     ["immutable: Forbidden: field is immutable when `immutable` is set",
      "data: Forbidden: field is immutable when `immutable` is set"]),
    ("Secret", secret(), lambda o: o.update(type="kubernetes.io/basic-auth"),
     ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable']),
    ("ConfigMap", {"metadata": {"name": "c"}, "data": {"k": "v"}, "immutable": True},
     lambda o: o.update(data={"k": "w"}),
     ["data: Forbidden: field is immutable when `immutable` is set"]),
    ("Pod", pod(), lambda o: o["spec"]["containers"][0].update(image="nginx:1.27"), []),
    ("Pod", pod(), lambda o: o["metadata"].update(labels={"a": "b"}), []),
    ("Pod", pod(), lambda o: o["spec"]["tolerations"].append(
        {"key": "k", "operator": "Exists"}) if "tolerations" in o["spec"]
        else o["spec"].update(tolerations=[{"key": "k", "operator": "Exists"}]), []),
    ("Pod", pod(), lambda o: o["spec"]["containers"][0].update(ports=[{"containerPort": 80}]),
     [("spec: Forbidden: pod updates may not change fields other than "
      "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
      "`spec.tolerations` (only additions to existing tolerations),"
      "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
      "negative)")]),
])
def test_updates_keep_immutable_fields(kind: str, old: Obj, change: Callable[[Obj], Any],
                                       causes: list[str]) -> None:
    new = changed(old, change)
    if kind == "Pod":
        # An update carries the stored object's defaults, as kubectl's patches do.
        new = changed(defaults.apply_defaults(kind, old), change)
    exc = run(kind, new, old)
    got = [] if exc is None else [f"{c['field']}: {c['message']}" for c in exc.causes]
    assert got == causes


@pytest.mark.parametrize("value, ok", [
    ("a", True), ("a-b.c", True), ("-a", False), ("a-", False), ("A", False),
    ("a" * 253, True), ("a" * 254, False), ("a..b", False),
])
def test_dns1123_subdomain(value: str, ok: bool) -> None:
    assert (validation.dns1123_subdomain(value) == []) is ok


@pytest.mark.parametrize("value, ok", [
    ("web", True), ("1web", False), ("web-1", True), ("a" * 63, True), ("a" * 64, False),
])
def test_dns1035_label(value: str, ok: bool) -> None:
    assert (validation.dns1035_label(value) == []) is ok


@pytest.mark.parametrize("selector, target, matches", [
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"},
     True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
])
def test_selector_matching_for_templates(selector: Obj, target: Obj, matches: bool) -> None:
    assert validation.selector_matches(selector, target) is matches
