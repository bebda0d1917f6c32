"""`emunet demo`: the tutorial on a fresh cluster, each command shown with its real output.

It runs the real kubectl, curl and make against a cluster it starts (named
`demo`, so the user's own `emunet` cluster is never touched), in a scratch
directory holding the tutorial's manifests, and leaves the cluster up to
explore unless `--cleanup` is given. Nothing is faked: every line printed
under a `$` is what the command printed.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import launch

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "examples"
BOLD, DIM, GREEN, RED, RESET = ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m") \
    if sys.stdout.isatty() else ("", "", "", "", "")


class Demo:
    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.dir = workdir
        self.checks: list[tuple[str, bool]] = []
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"\n{BOLD}# {text}{RESET}", flush=True)

    def sh(self, cmd: str, show: bool = True, check: bool = False, timeout: float = 60) -> str:
        if show:
            print(f"{GREEN}${RESET} {cmd}", flush=True)
        r = subprocess.run(cmd, shell=True, cwd=self.dir, capture_output=True, text=True,
                           timeout=timeout, env=launch.child_env())
        out = r.stdout + (r.stderr if r.returncode else "")
        if show and out.strip():
            print(out.rstrip(), flush=True)
        if check and r.returncode != 0:
            raise SystemExit(f"{RED}demo stopped: `{cmd}` failed{RESET}")
        return r.stdout

    def check(self, what: str, ok: bool) -> None:
        self.checks.append((what, ok))
        print(f"{GREEN if ok else RED}{'✓' if ok else '✗'} {what}{RESET}", flush=True)

    def wait(self, cmd: str, predicate, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            out = self.sh(cmd, show=False)
            if predicate(out):
                return out
            time.sleep(0.1)
        return out

    def jsonpath(self, what: str, path: str) -> str:
        return self.sh(f"kubectl get {what} -o jsonpath='{path}'", show=False).strip()


def _ready_pods(d: Demo, selector: str, n: int) -> list[dict]:
    def ok(out: str) -> bool:
        items = json.loads(out or '{"items":[]}')["items"]
        live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
        return len(live) == n and all(any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in p["status"].get("conditions", []))
                                      for p in live)
    out = d.wait(f"kubectl get pods -l {selector} -o json", ok)
    items = json.loads(out or '{"items":[]}')["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def run(args: argparse.Namespace) -> int:
    name = args.name
    work = Path(tempfile.mkdtemp(prefix="emunet-demo-"))
    for f in MANIFESTS.glob("*.yaml"):
        shutil.copy(f, work / f.name)
    d = Demo(name, work)
    py = sys.executable
    d.say("Start a fresh two-node cluster (step 1)")
    d.sh(f"{py} -m emunet down --name {name} --purge", show=False)
    d.sh(f"{py} -m emunet up --name {name}", check=True)

    d.say("Run two nginx pods, each a real server on its own pod IP (steps 2-5)")
    d.sh("kubectl apply -f ./run-my-nginx.yaml", check=True)
    pods = _ready_pods(d, "run=my-nginx", 2)
    d.sh("kubectl get pods -l run=my-nginx -o wide")
    d.sh("kubectl get pods -l run=my-nginx -o yaml | grep podIP")
    for p in pods:
        out = d.sh(f"curl -s http://{p['status']['podIP']}/ | grep '<title>'")
        d.check(f"pod {p['metadata']['name']} answers on {p['status']['podIP']}:80",
                "Welcome to nginx!" in out)

    d.say("Expose them as a Service: a virtual ClusterIP (steps 6-9)")
    d.sh("kubectl expose deployment/my-nginx", check=True)
    d.sh("kubectl get svc my-nginx")
    d.wait("kubectl get ep my-nginx", lambda o: o.count(":80") >= 2)
    d.sh("kubectl describe svc my-nginx")
    d.sh("kubectl get ep my-nginx")
    ip = d.jsonpath("svc my-nginx", "{.spec.clusterIP}")
    d.sh(f"for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}} ' http://{ip}/; done;"
         " echo")
    logs = d.sh("kubectl logs -l run=my-nginx --prefix --tail=3")
    d.check("the ClusterIP round-robins over both pods (see each pod's access log)",
            all(p["metadata"]["name"] in logs for p in pods))

    d.say("Service environment variables appear in pods created after the Service (10-11)")
    d.sh(f"kubectl exec {pods[0]['metadata']['name']} -- printenv | grep SERVICE")
    d.sh("kubectl scale deployment my-nginx --replicas=0; "
         "kubectl scale deployment my-nginx --replicas=2")
    d.wait("kubectl get pods -l run=my-nginx -o name",  # the old pods are gone
           lambda o: not any(p["metadata"]["name"] in o for p in pods))
    pods = _ready_pods(d, "run=my-nginx", 2)
    d.sh("kubectl get pods -l run=my-nginx -o wide")
    env = d.sh(f"kubectl exec {pods[0]['metadata']['name']} -- printenv | grep SERVICE")
    d.check("new pods see MY_NGINX_SERVICE_HOST", f"MY_NGINX_SERVICE_HOST={ip}" in env)

    d.say("Cluster DNS answers for the Service by name (12-13)")
    d.sh("kubectl get services kube-dns --namespace=kube-system")
    d.sh("kubectl run curl --image=radial/busyboxplus:curl --command -- sleep 3600")
    _ready_pods(d, "run=curl", 1)
    out = d.sh("kubectl exec curl -- nslookup my-nginx")
    d.check("nslookup my-nginx gives the ClusterIP", ip in out)

    d.say("Secure it: a certificate in a Secret, nginx serving HTTPS (14-17)")
    d.sh(f"make -C {ROOT / 'certs'} keys secret KEY={work}/nginx.key CERT={work}/nginx.crt "
         f"SECRET={work}/secret.json", check=True)
    d.sh(f"kubectl apply -f {work}/secret.json", check=True)
    d.sh("kubectl get secrets")
    d.sh("kubectl delete deployments,svc my-nginx; kubectl create -f ./nginx-secure-app.yaml",
         check=True)
    pods = _ready_pods(d, "run=my-nginx", 1)
    d.sh("kubectl get pods -o yaml | grep -i podip")
    out = d.sh(f"curl -k -s https://{pods[0]['status']['podIP']} | grep '<h1>'")
    d.check("HTTPS straight to the pod", "Welcome to nginx!" in out)
    d.sh("kubectl apply -f ./curlpod.yaml", check=True)
    cp = _ready_pods(d, "app=curlpod", 1)[0]["metadata"]["name"]
    d.sh("kubectl get pods -l app=curlpod")
    out = d.sh(f"kubectl exec {cp} -- curl -s https://my-nginx --cacert /etc/nginx/ssl/nginx.crt"
               " | grep '<title>'")
    d.check("curl https://my-nginx from a pod verifies the certificate by name",
            "Welcome to nginx!" in out)

    d.say("Reach it from outside the cluster: NodePorts on every node (18)")
    d.sh("kubectl get svc my-nginx -o yaml | grep nodePort -C 5")
    d.sh("kubectl get nodes -o yaml | grep ExternalIP -C 1")
    svc = json.loads(d.sh("kubectl get svc my-nginx -o json", show=False))
    nodeport = next(p["nodePort"] for p in svc["spec"]["ports"] if p["name"] == "https")
    nodes = json.loads(d.sh("kubectl get nodes -o json", show=False))["items"]
    externals = [a["address"] for n in nodes for a in n["status"]["addresses"]
                 if a["type"] == "ExternalIP"]
    for ext in externals:
        out = d.sh(f"curl -s https://{ext}:{nodeport} -k | grep '<h1>'")
        d.check(f"NodePort {ext}:{nodeport}", "Welcome to nginx!" in out)

    d.say("Make it a LoadBalancer: an external IP from the pool (19)")
    # `kubectl edit`, with a sed in the editor's place to change `type: NodePort`.
    d.sh("KUBE_EDITOR=\"sed -i 's/type: NodePort/type: LoadBalancer/'\" kubectl edit svc my-nginx",
         check=True)
    out = d.wait("kubectl get svc my-nginx", lambda o: "<pending>" not in o and "LoadBalancer" in o)
    print(out.rstrip())
    lb = d.jsonpath("svc my-nginx", "{.status.loadBalancer.ingress[0].ip}")
    out = d.sh(f"curl -s https://{lb} -k | grep '<h1>'")
    d.check(f"LoadBalancer {lb}:443", "Welcome to nginx!" in out)
    d.sh("kubectl describe service my-nginx | grep -i ingress")

    d.say("A pod dies while requests keep coming; the Deployment replaces it (20)")
    d.sh("kubectl scale deployment my-nginx --replicas=2", check=True)
    pods = _ready_pods(d, "run=my-nginx", 2)
    victim = pods[0]["metadata"]["name"]

    def hammer() -> tuple[int, int]:
        ok = fail = 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and ok + fail < 400:
            r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "--max-time", "2", "-w",
                                "%{http_code}", f"https://{lb}"], capture_output=True, text=True)
            ok, fail = (ok + 1, fail) if r.stdout == "200" else (ok, fail + 1)
        return ok, fail

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(hammer)
        time.sleep(0.5)
        d.sh(f"kubectl delete pod {victim}")
        ok, fail = fut.result()
    print(f"{DIM}requests during the deletion: {ok} answered, {fail} failed{RESET}")
    d.check("requests kept succeeding while the pod was replaced", ok > 0 and fail == 0)
    _ready_pods(d, "run=my-nginx", 2)
    d.sh("kubectl get pods -l run=my-nginx -o wide")

    total = time.monotonic() - d.started
    passed = sum(ok for _, ok in d.checks)
    d.say(f"Summary: {passed}/{len(d.checks)} checks passed in {total:.1f}s")
    for what, ok in d.checks:
        print(f"  {'✓' if ok else '✗'} {what}")
    if args.cleanup:
        d.sh(f"{py} -m emunet down --name {name} --purge")
    else:
        context = "emunet" if name == "emunet" else f"emunet-{name}"
        print(f"\nThe cluster is still up (kubectl context {context}); explore it with "
              f"kubectl, then `emunet down --name {name} --purge`.")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if passed == len(d.checks) else 1
