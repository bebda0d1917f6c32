"""`kubectl create <kind>` against a real cluster.

These subcommands POST protobuf, not JSON (see `emunet.protobuf`), so each is
a user-visible path of its own: the object must be created as kubectl built
it, and `kubectl get` must show it as Kubernetes would.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=1, wait_nodes=False) as c:
        yield c


def ok(c: Cluster, *args: str) -> str:
    r = c.kubectl(*args)
    assert r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def row(c: Cluster, *args: str) -> dict[str, str]:
    """The one row `kubectl get` prints, keyed by its column headers."""
    header, line = ok(c, "get", *args).splitlines()
    return dict(zip(header.split(), line.split(), strict=True))


def in_net(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def test_create_service_of_each_type_shows_in_get(cluster):
    cfg = cluster.cfg
    lo, hi = cfg.node_ports
    for kind in ("clusterip", "nodeport", "loadbalancer"):
        assert ok(cluster, "create", "service", kind, f"svc-{kind}",
                  "--tcp=80:8080").strip() == f"service/svc-{kind} created"
    ok(cluster, "create", "service", "externalname", "svc-ext", "--external-name=example.com")

    cip = row(cluster, "svc", "svc-clusterip")
    assert (cip["TYPE"], cip["EXTERNAL-IP"], cip["PORT(S)"]) == ("ClusterIP", "<none>", "80/TCP")
    assert in_net(cip["CLUSTER-IP"], cfg.service_cidr)

    np = row(cluster, "svc", "svc-nodeport")
    assert (np["TYPE"], np["EXTERNAL-IP"]) == ("NodePort", "<none>")
    assert in_net(np["CLUSTER-IP"], cfg.service_cidr)
    port, np_port = np["PORT(S)"].removesuffix("/TCP").split(":")
    assert port == "80" and lo <= int(np_port) <= hi

    # The load balancer's address is assigned after create, by a controller.
    lb = cluster.wait(lambda: (r := row(cluster, "svc", "svc-loadbalancer"))
                      ["EXTERNAL-IP"] != "<pending>" and r, what="a load balancer IP")
    assert lb["TYPE"] == "LoadBalancer"
    assert in_net(lb["EXTERNAL-IP"], cfg.load_balancer_cidr)
    port, lb_port = lb["PORT(S)"].removesuffix("/TCP").split(":")
    assert port == "80" and lo <= int(lb_port) <= hi

    ext = row(cluster, "svc", "svc-ext")
    assert (ext["TYPE"], ext["CLUSTER-IP"], ext["EXTERNAL-IP"], ext["PORT(S)"]) == \
        ("ExternalName", "<none>", "example.com", "<none>")

    # What kubectl built arrived intact: name, selector, named port, target port.
    svc = json.loads(ok(cluster, "get", "svc", "svc-nodeport", "-o", "json"))
    assert svc["metadata"]["labels"] == {"app": "svc-nodeport"}
    assert svc["spec"]["selector"] == {"app": "svc-nodeport"}
    assert svc["spec"]["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80,
                                     "targetPort": 8080, "nodePort": int(np_port)}]


def test_create_deployment_runs_its_replicas_behind_a_created_service(cluster):
    assert ok(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=2",
              "--port=80").strip() == "deployment.apps/web created"
    cluster.wait(lambda: row(cluster, "deploy", "web")["READY"] == "2/2",
                 timeout=30, what="deployment web 2/2 ready")
    deploy = row(cluster, "deploy", "web")
    assert (deploy["UP-TO-DATE"], deploy["AVAILABLE"]) == ("2", "2")
    spec = json.loads(ok(cluster, "get", "deploy", "web", "-o", "json"))["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}]
    pods = ok(cluster, "get", "pods", "-l", "app=web", "--no-headers").splitlines()
    assert len(pods) == 2 and all(" Running " in p for p in pods)

    # `create service nodeport web` selects app=web, as `create deployment web` labels it.
    ok(cluster, "create", "service", "nodeport", "web", "--tcp=80:80")
    node_port = ok(cluster, "get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
    url = f"http://{cluster.node_ip(0)}:{node_port}/"

    def welcome() -> bool:
        r = subprocess.run(["curl", "-s", "-m", "5", url], capture_output=True, text=True,
                           check=False)
        return "Welcome to nginx!" in r.stdout
    cluster.wait(welcome, timeout=20, what=f"nginx's welcome page at {url}")


def test_create_namespace_and_serviceaccount(cluster):
    assert ok(cluster, "create", "namespace", "team").strip() == "namespace/team created"
    ns = row(cluster, "namespace", "team")
    assert (ns["NAME"], ns["STATUS"]) == ("team", "Active")

    assert ok(cluster, "create", "serviceaccount", "robot", "--namespace=team").strip() == \
        "serviceaccount/robot created"
    sa = row(cluster, "serviceaccount", "robot", "--namespace=team")
    assert (sa["NAME"], sa["SECRETS"]) == ("robot", "0")

    # A second create is refused the way Kubernetes refuses it.
    r = cluster.kubectl("create", "namespace", "team")
    assert r.returncode != 0
    assert 'namespaces "team" already exists' in r.stderr


def test_a_list_from_get_o_yaml_applies_back(cluster):
    """`kubectl get -o yaml` of several objects writes a `kind: List`, which kubectl
    validates itself before applying: the backup-and-restore round trip."""
    ok(cluster, "create", "configmap", "round-a", "--from-literal=k=a")
    ok(cluster, "create", "service", "clusterip", "round-b", "--tcp=80:8080")
    backup = ok(cluster, "get", "configmap/round-a", "service/round-b", "-o", "yaml")
    assert backup.startswith("apiVersion: v1\nitems:") and "kind: List" in backup
    ok(cluster, "delete", "configmap/round-a", "service/round-b")
    r = cluster.kubectl("apply", "-f", "-", input=backup)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["configmap/round-a created", "service/round-b created"]
    assert ok(cluster, "get", "configmap", "round-a", "-o", "jsonpath={.data.k}") == "a"
    # A field no type has is still refused, by the server's strict validation.
    bad = backup.replace("  data:\n    k: a", "  data:\n    k: a\n  dataz: 1")
    r = cluster.kubectl("apply", "-f", "-", input=bad)
    assert r.returncode != 0 and 'unknown field "dataz"' in r.stderr


def test_auth_can_i_and_whoami_answer_for_the_one_admin_user(cluster):
    # emunet serves no RBAC: the token in the kubeconfig may do everything.
    for args in (["create", "pods"], ["delete", "nodes"], ["get", "/healthz"], ["*", "*"]):
        r = cluster.kubectl("auth", "can-i", *args)
        assert (r.returncode, r.stdout) == (0, "yes\n"), r.stderr
    who = ok(cluster, "auth", "whoami").splitlines()
    assert who[1].split() == ["Username", "kubernetes-admin"]
    assert who[2].split(None, 1) == ["Groups", "[system:masters system:authenticated]"]
    r = cluster.kubectl("get", "selfsubjectaccessreviews")
    assert r.returncode == 1 and "(MethodNotAllowed)" in r.stderr


def test_a_write_for_an_object_since_recreated_is_refused(cluster):
    """The uid is a precondition: a pod's old kubelet must not write the status of the
    pod a StatefulSet made anew under its name, nor `kubectl replace` an old copy."""
    ok(cluster, "create", "configmap", "again", "--from-literal=v=1")
    old = json.loads(ok(cluster, "get", "configmap", "again", "-o", "json"))
    ok(cluster, "delete", "configmap", "again")
    ok(cluster, "create", "configmap", "again", "--from-literal=v=2")
    del old["metadata"]["resourceVersion"]
    old["data"]["v"] = "3"
    r = cluster.kubectl("replace", "-f", "-", input=json.dumps(old))
    assert r.returncode == 1
    assert "Precondition failed: UID in precondition: " + old["metadata"]["uid"] in r.stderr
    assert ok(cluster, "get", "configmap", "again", "-o", "jsonpath={.data.v}") == "2"
