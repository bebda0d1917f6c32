"""A pod's life as kubectl shows it: probes, init containers, config updates,
crashes, attach and logs, describe, and a node that dies with its pods.

One cluster for the module, with a 1 s CrashLoopBackOff base so back-offs are
seen in seconds. The node-stop test runs last: it takes a node down.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2, crash_backoff_seconds=1.0) as c:
        yield c


def ok(c: Cluster, *args: str, input: str | None = None) -> str:
    r = c.kubectl(*args, input=input)
    assert r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def apply(c: Cluster, manifest: str) -> None:
    ok(c, "apply", "-f", "-", input=manifest)


def get_pod(c: Cluster, name: str) -> dict:
    return json.loads(ok(c, "get", "pod", name, "-o", "json"))


def status_column(c: Cluster, name: str) -> str:
    """READY, STATUS and RESTARTS as `kubectl get pod` prints them."""
    lines = ok(c, "get", "pod", name).splitlines()
    return " ".join(lines[1].split()[1:4]) if len(lines) > 1 else ""


def events(c: Cluster, pod: str) -> str:
    return ok(c, "get", "events", "--field-selector", f"involvedObject.name={pod}")


def endpoints(c: Cluster, svc: str) -> tuple[list[str], list[str]]:
    """(ready IPs, not-ready IPs) of a Service's Endpoints."""
    ep = json.loads(ok(c, "get", "endpoints", svc, "-o", "json"))
    ready, unready = [], []
    for s in ep.get("subsets") or []:
        ready += [a["ip"] for a in s.get("addresses") or []]
        unready += [a["ip"] for a in s.get("notReadyAddresses") or []]
    return ready, unready


def curl(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "3", url], capture_output=True,
                          text=True, timeout=10)


# ---- probes -------------------------------------------------------------------

GATED = """
apiVersion: v1
kind: Pod
metadata: {name: gated, labels: {app: gated}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    # Serves only once /etc/go exists (the pod's own /etc, see the sandbox).
    command: ["sh", "-c", "until [ -f /etc/go ]; do sleep 0.1; done;
              exec python3 -m http.server 8080 --bind $POD_IP --directory /etc"]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    ports: [{containerPort: 8080, name: http}]
    startupProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 100
    readinessProbe:
      httpGet: {path: /go, port: http}
      periodSeconds: 1
      failureThreshold: 2
    livenessProbe:
      exec: {command: ["sh", "-c", "test ! -f /etc/die || { echo dying of /etc/die; exit 1; }"]}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: gated}
spec:
  selector: {app: gated}
  ports: [{port: 80, targetPort: http}]
"""


def test_probes_gate_readiness_and_service_endpoints(cluster):
    apply(cluster, GATED)
    p = cluster.wait(lambda: (p := get_pod(cluster, "gated"))["status"].get("podIP") and
                     p["status"].get("phase") == "Running" and p, what="gated running")
    ip = p["status"]["podIP"]
    # The startup probe (tcpSocket) fails: not started, not ready, out of the endpoints.
    cluster.wait(lambda: f"Startup probe failed: dial tcp {ip}:8080: connect: connection "
                 f"refused" in events(cluster, "gated"), what="startup probe failure event")
    cs = get_pod(cluster, "gated")["status"]["containerStatuses"][0]
    assert not cs["started"] and not cs["ready"]
    assert status_column(cluster, "gated").startswith("0/1 Running")
    cluster.wait(lambda: endpoints(cluster, "gated") == ([], [ip]), what="not-ready address")
    cluster_ip = ok(cluster, "get", "svc", "gated", "-o", "jsonpath={.spec.clusterIP}")
    assert curl(f"http://{cluster_ip}/go").returncode != 0

    ok(cluster, "exec", "gated", "--", "touch", "/etc/go")
    cluster.wait(lambda: status_column(cluster, "gated") == "1/1 Running 0", what="ready")
    cluster.wait(lambda: endpoints(cluster, "gated") == ([ip], []), what="ready address")
    assert curl(f"http://{cluster_ip}/go").returncode == 0

    # Readiness (httpGet) failing takes the pod out of the endpoints again, running.
    ok(cluster, "exec", "gated", "--", "rm", "/etc/go")
    cluster.wait(lambda: endpoints(cluster, "gated") == ([], [ip]), what="ready again")
    assert status_column(cluster, "gated") == "0/1 Running 0"
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in \
        events(cluster, "gated")

    # Liveness (exec) failing restarts the container; its output is the message.
    ok(cluster, "exec", "gated", "--", "touch", "/etc/die")
    cluster.wait(lambda: get_pod(cluster, "gated")["status"]["containerStatuses"][0]
                 ["restartCount"] >= 1, what="a liveness restart")
    ev = events(cluster, "gated")
    assert "Liveness probe failed: dying of /etc/die" in ev
    assert "Container web failed liveness probe, will be restarted" in ev
    ok(cluster, "delete", "-f", "-", "--grace-period=1", input=GATED)


def test_http_liveness_failure_restarts_with_upstream_words(cluster):
    apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 80}]
    livenessProbe:
      httpGet: {path: /healthz, port: 80}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
""")
    cluster.wait(lambda: get_pod(cluster, "live")["status"]["containerStatuses"][0]
                 ["restartCount"] >= 1, what="a liveness restart")
    ev = events(cluster, "live")
    assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in ev
    assert "Killing" in ev and "Container web failed liveness probe, will be restarted" in ev
    # nginx gets its image's stop signal, SIGQUIT, and logs it, as on a real liveness kill.
    assert "signal 3 (SIGQUIT) received, shutting down" in ok(cluster, "logs", "live",
                                                               "--previous")
    restarts = status_column(cluster, "live").split()[2]
    assert int(restarts) >= 1
    ok(cluster, "delete", "pod", "live", "--grace-period=1")


# ---- init containers ----------------------------------------------------------------

def test_init_containers_run_in_order_before_the_containers(cluster):
    apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: withinit}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: first
    image: busybox
    command: ["sh", "-c", "until [ -f /work/go ]; do sleep 0.1; done; echo first >> /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: busybox
    command: ["sh", "-c", "echo second >> /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo main >> /work/order; cat /work/order; sleep 3600"]
    volumeMounts: [{name: work, mountPath: /work}]
  volumes:
  - {name: work, emptyDir: {}}
""")
    cluster.wait(lambda: status_column(cluster, "withinit") == "0/1 Init:0/2 0",
                 what="Init:0/2")
    r = cluster.kubectl("logs", "withinit")
    assert r.returncode != 0
    assert 'container "main" in pod "withinit" is waiting to start: PodInitializing' in r.stderr
    # An init container takes exec like any running container.
    ok(cluster, "exec", "withinit", "-c", "first", "--", "touch", "/work/go")
    cluster.wait(lambda: status_column(cluster, "withinit") == "1/1 Running 0", what="Running")
    cluster.wait(lambda: ok(cluster, "logs", "withinit") == "first\nsecond\nmain\n",
                 what="main's log")
    st = get_pod(cluster, "withinit")["status"]
    assert [c["state"]["terminated"]["reason"] for c in st["initContainerStatuses"]] == \
        ["Completed", "Completed"]
    assert ok(cluster, "logs", "withinit", "-c", "second") == ""
    ok(cluster, "delete", "pod", "withinit", "--grace-period=1")


def failing_init(name: str, policy: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: setup
    image: busybox
    command: ["sh", "-c", "echo setup failed >&2; exit 3"]
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
"""


def test_failing_init_container_restarts_by_policy(cluster):
    apply(cluster, failing_init("initnever", "Never") + "---" + failing_init("initloop", "Always"))
    cluster.wait(lambda: status_column(cluster, "initnever") == "0/1 Init:Error 0",
                 what="Init:Error")
    assert get_pod(cluster, "initnever")["status"]["phase"] == "Failed"
    assert ok(cluster, "logs", "initnever", "-c", "setup") == "setup failed\n"
    cluster.wait(lambda: status_column(cluster, "initloop").startswith(
        "0/1 Init:CrashLoopBackOff"), what="Init:CrashLoopBackOff")
    st = get_pod(cluster, "initloop")["status"]
    init = st["initContainerStatuses"][0]
    assert st["phase"] == "Pending" and init["restartCount"] >= 1
    assert init["lastState"]["terminated"]["exitCode"] == 3
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    ok(cluster, "delete", "pod", "initnever", "initloop", "--grace-period=1")


# ---- Secret and ConfigMap updates ------------------------------------------------------

def test_configmap_and_secret_updates_reach_volumes_but_not_env(cluster):
    ok(cluster, "create", "configmap", "settings", "--from-literal=greeting=hello")
    ok(cluster, "create", "secret", "generic", "token", "--from-literal=value=old-token")
    apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: cfgpod}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: token, key: value}}
    volumeMounts:
    - {name: settings, mountPath: /etc/settings}
    - {name: token, mountPath: /etc/token, readOnly: true}
  volumes:
  - {name: settings, configMap: {name: settings}}
  - {name: token, secret: {secretName: token}}
""")
    cluster.wait(lambda: status_column(cluster, "cfgpod") == "1/1 Running 0", what="Running")
    assert ok(cluster, "exec", "cfgpod", "--", "cat", "/etc/settings/greeting") == "hello"
    ok(cluster, "patch", "configmap", "settings", "-p", '{"data":{"greeting":"bonjour"}}')
    new = base64.b64encode(b"new-token").decode()
    ok(cluster, "patch", "secret", "token", "-p", json.dumps({"data": {"value": new}}))
    cluster.wait(lambda: ok(cluster, "exec", "cfgpod", "--", "cat", "/etc/settings/greeting")
                 == "bonjour", timeout=10, what="the new ConfigMap value in the volume")
    cluster.wait(lambda: ok(cluster, "exec", "cfgpod", "--", "cat", "/etc/token/value")
                 == "new-token", timeout=10, what="the new Secret value in the volume")
    # The swap is the kubelet's: visible names are links through ..data.
    listing = ok(cluster, "exec", "cfgpod", "--", "ls", "-la", "/etc/settings")
    assert "..data -> ..20" in listing and "greeting -> ..data/greeting" in listing
    env = ok(cluster, "exec", "cfgpod", "--", "printenv", "GREETING", "TOKEN")
    assert env == "hello\nold-token\n"


# ---- crashes ----------------------------------------------------------------------

def test_second_container_on_the_same_port_fails_and_the_first_serves(cluster):
    apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: sameport}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: one, image: nginx, ports: [{containerPort: 80}]}
  - {name: two, image: nginx}
""")

    def loser() -> dict | None:
        st = get_pod(cluster, "sameport")["status"].get("containerStatuses") or []
        return next((c for c in st if c.get("restartCount", 0) >= 1), None)
    lost = cluster.wait(loser, what="a container restarting")
    p = get_pod(cluster, "sameport")
    ip = p["status"]["podIP"]
    # The containers start in order, so the second nearly always loses; either way
    # exactly one serves and the other fails with nginx's own line.
    (won,) = [c for c in p["status"]["containerStatuses"] if c["name"] != lost["name"]]
    assert won["ready"] and won["restartCount"] == 0
    assert lost["lastState"]["terminated"]["exitCode"] == 1
    logs = ok(cluster, "logs", "sameport", "-c", lost["name"], "--previous")
    assert f"nginx: [emerg] bind() to {ip}:80 failed (98: Address already in use)" in logs
    assert status_column(cluster, "sameport").startswith("1/2 ")
    assert "Welcome to nginx!" in curl(f"http://{ip}/").stdout
    ok(cluster, "delete", "pod", "sameport", "--grace-period=1")


def test_command_not_found_exits_127_and_crash_loops(cluster):
    apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: nocmd}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "no-such-program --flag"]
""")
    cluster.wait(lambda: status_column(cluster, "nocmd").startswith("0/1 CrashLoopBackOff"),
                 what="CrashLoopBackOff")
    cs = get_pod(cluster, "nocmd")["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 127
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert "no-such-program: not found" in ok(cluster, "logs", "nocmd", "--previous")
    assert "Back-off restarting failed container main in pod nocmd_default" in \
        events(cluster, "nocmd")
    ok(cluster, "delete", "pod", "nocmd", "--grace-period=1")


# ---- attach and logs --------------------------------------------------------------

def test_run_attaches_stdin_without_a_tty_and_removes_the_pod(cluster):
    r = cluster.kubectl("run", "-i", "--rm", "--restart=Never", "echo", "--image=busybox",
                        "--", "sh", "-c", "read x; echo got $x", input="hello\n")
    assert r.returncode == 0, r.stderr
    assert "got hello" in r.stdout
    assert 'pod "echo" deleted' in r.stdout
    assert cluster.kubectl("get", "pod", "echo").returncode != 0


def test_attach_to_a_running_container(cluster):
    apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "echo started; while read x; do echo got $x; done; echo bye"]
""")
    cluster.wait(lambda: status_column(cluster, "reader") == "1/1 Running 0", what="Running")
    r = cluster.kubectl("attach", "-i", "reader", input="one\ntwo\n", timeout=20)
    assert r.returncode == 0, r.stderr
    assert "got one\ngot two\nbye\n" in r.stdout
    # stdinOnce: the container saw EOF when attach closed stdin, and finished.
    cluster.wait(lambda: status_column(cluster, "reader") == "0/1 Completed 0",
                 what="Completed")
    assert ok(cluster, "logs", "reader") == "started\ngot one\ngot two\nbye\n"
    ok(cluster, "delete", "pod", "reader")


TWO = """
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: a
    image: busybox
    command: ["sh", "-c", "until [ -f /etc/go ]; do sleep 0.1; done;
              for i in 1 2 3 4 5; do echo a-$i; sleep 0.2; done"]
  - name: b
    image: busybox
    command: ["sh", "-c", "echo early-line; until [ -f /etc/go ]; do sleep 0.1; done;
              echo late-line; sleep 3600"]
"""


def test_logs_follow_select_and_limit(cluster):
    apply(cluster, TWO)
    cluster.wait(lambda: status_column(cluster, "two") == "2/2 Running 0", what="Running")
    cluster.wait(lambda: "early-line" in ok(cluster, "logs", "two", "-c", "b"))
    cluster.wait(lambda: ok(cluster, "logs", "two", "-c", "b", "--since=2s") == "",
                 what="the early line to be older than 2s")
    since_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ok(cluster, "exec", "two", "-c", "b", "--", "touch", "/etc/go")
    cluster.wait(lambda: "late-line" in ok(cluster, "logs", "two", "-c", "b"))
    assert ok(cluster, "logs", "two", "-c", "b", "--since=2s") == "late-line\n"
    assert ok(cluster, "logs", "two", "-c", "b", f"--since-time={since_time}") == "late-line\n"
    assert ok(cluster, "logs", "two", "-c", "b", "--since=1h") == "early-line\nlate-line\n"

    # -f follows until the container exits.
    follow = subprocess.Popen(["kubectl", "logs", "-f", "two", "-c", "a"], env=cluster.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ok(cluster, "exec", "two", "-c", "a", "--", "touch", "/etc/go")
        out, err = follow.communicate(timeout=20)
    finally:
        follow.kill()
        follow.wait()
    assert follow.returncode == 0, err
    assert out == "".join(f"a-{i}\n" for i in range(1, 6))
    assert ok(cluster, "logs", "two", "-c", "b", "--limit-bytes=5") == "early"
    assert ok(cluster, "logs", "two", "-c", "a", "--tail=2") == "a-4\na-5\n"
    # kubectl picks the first container when none is named, and says so...
    r = cluster.kubectl("logs", "two")
    assert r.stdout == "".join(f"a-{i}\n" for i in range(1, 6))
    assert 'Defaulted container "a" out of: a, b' in r.stderr
    # ...the API itself asks for a name, as Kubernetes does.
    api = f"{cluster.server}/api/v1/namespaces/default/pods/two/log"
    r = subprocess.run(["curl", "-sS", "--cacert", cluster.creds.ca_file, "-H",
                        f"Authorization: Bearer {cluster.creds.token}", api],
                       capture_output=True, text=True, timeout=10)
    status = json.loads(r.stdout)
    assert status["code"] == 400 and status["message"] == \
        "a container name must be specified for pod two, choose one of: [a b]"
    r = cluster.kubectl("logs", "two", "-c", "nope")
    assert "container nope is not valid for pod two" in r.stderr
    ok(cluster, "delete", "-f", "-", "--grace-period=1", input=TWO)


# ---- describe ------------------------------------------------------------------------

def test_describe_pod_shows_sections_and_events_in_order(cluster):
    out = ok(cluster, "describe", "pod", "cfgpod")
    p = get_pod(cluster, "cfgpod")
    lines = out.splitlines()

    def field(name: str) -> str:
        return next(line for line in lines if line.startswith(name + ":")).split(":", 1)[1]\
            .strip()
    assert field("Name") == "cfgpod" and field("Namespace") == "default"
    node = p["spec"]["nodeName"]
    assert field("Node").startswith(f"{node}/") and field("Status") == "Running"
    assert field("IP") == p["status"]["podIP"]
    for section in ("Containers:", "Conditions:", "Volumes:", "Events:"):
        assert section in lines, section
    assert "  main:" in lines and "    State:          Running" in lines
    assert "    Ready:          True" in lines and "    Restart Count:  0" in lines
    for cond in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                 "PodScheduled"):
        assert any(line.split() == [cond, "True"] for line in lines), cond
    events_part = out.split("\nEvents:\n", 1)[1].splitlines()
    assert events_part[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    reasons = [line.split()[1] for line in events_part[2:]]
    assert reasons[:4] == ["Scheduled", "Pulled", "Created", "Started"]
    assert f"Successfully assigned default/cfgpod to {node}" in events_part[2]
    assert "kubelet" in events_part[3] and 'Container image "busybox" already present' in \
        events_part[3]
    assert "Created container: main" in events_part[4]
    assert "Started container main" in events_part[5]


# ---- a node that dies takes all its pods' processes with it ------------------------------

# ---- lifecycle hooks -----------------------------------------------------------------

WARM = """
apiVersion: v1
kind: Pod
metadata: {name: warm}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "sleep 0.5; echo warmed > /etc/warm"]}
"""


def test_post_start_finishes_before_the_container_is_running(cluster):
    apply(cluster, WARM)
    cluster.wait(lambda: status_column(cluster, "warm") == "1/1 Running 0", what="Running")
    assert ok(cluster, "exec", "warm", "--", "cat", "/etc/warm") == "warmed\n"
    ok(cluster, "delete", "pod", "warm", "--grace-period=1")


COLD = """
apiVersion: v1
kind: Pod
metadata: {name: cold}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo no warm-up; exit 3"]}
"""


def test_a_failed_post_start_kills_the_container_with_the_kubelets_words(cluster):
    apply(cluster, COLD)
    uid = get_pod(cluster, "cold")["metadata"]["uid"]
    cluster.wait(lambda: "FailedPostStartHook" in events(cluster, "cold"), what="the event")
    cluster.wait(lambda: (get_pod(cluster, "cold")["status"].get("containerStatuses") or
                          [{}])[0].get("restartCount", 0) >= 1, what="a restart")
    ev = json.loads(ok(cluster, "get", "events", "-o", "json", "--field-selector",
                       "involvedObject.name=cold,reason=FailedPostStartHook"))["items"][0]
    assert ev["type"] == "Warning"
    assert ev["message"] == (
        'Exec lifecycle hook ([sh -c echo no warm-up; exit 3]) for Container "c" in Pod '
        f'"cold_default({uid})" failed - error: command \'sh -c echo no warm-up; exit 3\' '
        'exited with 3: , message: "no warm-up\\n"')
    killing = ok(cluster, "get", "events", "--field-selector",
                 "involvedObject.name=cold,reason=Killing")
    assert "FailedPostStartHook" in killing
    ok(cluster, "delete", "pod", "cold", "--grace-period=1")


GOODBYE = """
apiVersion: v1
kind: Pod
metadata: {name: goodbye}
spec:
  containers:
  - name: web
    image: nginx
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "curl -s -o /dev/null http://$POD_IP/goodbye"]}
"""


def test_pre_stop_runs_before_the_images_stop_signal(cluster):
    apply(cluster, GOODBYE)
    cluster.wait(lambda: status_column(cluster, "goodbye") == "1/1 Running 0", what="Running")
    follow = subprocess.Popen(["kubectl", "logs", "-f", "goodbye"], env=cluster.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cluster.wait(lambda: "start worker processes" in ok(cluster, "logs", "goodbye"))
        ok(cluster, "delete", "pod", "goodbye", "--wait=false")
        out, err = follow.communicate(timeout=30)
    finally:
        follow.kill()
        follow.wait()
    lines = out.splitlines()
    hook = next(i for i, line in enumerate(lines) if '"GET /goodbye HTTP/1.1" 404' in line)
    # nginx's image stops with SIGQUIT (its STOPSIGNAL): a graceful shutdown.
    quit_ = next(i for i, line in enumerate(lines)
                 if "signal 3 (SIGQUIT) received, shutting down" in line)
    assert hook < quit_, out
    assert lines[-1].endswith(": exit"), out
    cluster.wait(lambda: cluster.kubectl("get", "pod", "goodbye").returncode != 0,
                 what="the pod to go")


def _processes_of(pod: str, ip: str) -> list[int]:
    """Processes with the pod's environment (its IP is this cluster's alone)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            env = Path(f"/proc/{d}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"HOSTNAME={pod}".encode() in env and f"EMUNET_POD_IP={ip}".encode() in env:
            found.append(int(d))
    return found


def test_stopped_node_leaves_no_process_of_its_pods(cluster):
    node = cluster.cfg.node_names()[1]
    apply(cluster, f"""
apiVersion: v1
kind: Pod
metadata: {{name: looper}}
spec:
  nodeName: {node}
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "while true; do sleep 1; done"]
  - name: daemonised
    image: busybox
    # A process in a session of its own, as a daemon makes.
    command: ["sh", "-c", "setsid sleep 3600 & sleep 3600"]
""")
    cluster.wait(lambda: status_column(cluster, "looper") == "2/2 Running 0", what="Running")
    ip = get_pod(cluster, "looper")["status"]["podIP"]
    cluster.wait(lambda: len(_processes_of("looper", ip)) >= 4, what="the pod's processes")
    # The node's PID namespace: a pod's pids and its /proc agree.
    assert ok(cluster, "exec", "looper", "-c", "main", "--", "sh", "-c",
              "cat /proc/$$/comm; test $$ -lt 1000 && echo small") == "sh\nsmall\n"
    cluster.node("stop", node)
    try:
        cluster.wait(lambda: not _processes_of("looper", ip), timeout=5,
                     what="every process of the stopped node's pod to die")
    finally:
        cluster.node("start", node)
    cluster.wait(lambda: "Ready" in ok(cluster, "get", "node", node).split(), timeout=30,
                 what="the node Ready again")
