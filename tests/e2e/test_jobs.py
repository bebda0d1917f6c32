"""Jobs: run-to-completion pods, driven by the real kubectl."""
from __future__ import annotations

import json
import subprocess

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2, crash_backoff_seconds=0.5) as c:
        yield c


def ok(c: Cluster, *args: str, input: str | None = None, timeout: float = 60) -> str:
    r = c.kubectl(*args, input=input, timeout=timeout)
    assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r.stdout


def job_pods(c: Cluster, job: str) -> list[dict]:
    return json.loads(ok(c, "get", "pods", "-l", f"job-name={job}", "-o", "json"))["items"]


def test_create_job_runs_to_completion_and_keeps_its_pod(cluster):
    ok(cluster, "create", "job", "hello", "--image=busybox", "--",
       "sh", "-c", "echo hello from $HOSTNAME")
    ok(cluster, "wait", "--for=condition=complete", "job/hello", "--timeout=30s")
    (pod,) = job_pods(cluster, "hello")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert ok(cluster, "logs", "job/hello") == f"hello from {pod['metadata']['name']}\n"
    row = ok(cluster, "get", "job", "hello").splitlines()[1].split()
    assert row[:3] == ["hello", "Complete", "1/1"]
    assert ok(cluster, "get", "pods", "-l", "job-name=hello").splitlines()[1].split()[2] \
        == "Completed"
    job = json.loads(ok(cluster, "get", "job", "hello", "-o", "json"))
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"]
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]


def test_a_job_reaches_a_service_by_its_dns_name(cluster):
    ok(cluster, "create", "deployment", "web", "--image=nginx")
    ok(cluster, "expose", "deployment", "web", "--port=80")
    ok(cluster, "rollout", "status", "deployment/web", "--timeout=30s")
    ok(cluster, "create", "job", "fetch", "--image=curlimages/curl", "--",
       "curl", "-sS", "--retry", "3", "http://web.default.svc.cluster.local/")
    ok(cluster, "wait", "--for=condition=complete", "job/fetch", "--timeout=30s")
    assert "<title>Welcome to nginx!</title>" in ok(cluster, "logs", "job/fetch")


def test_parallel_completions_make_that_many_pods(cluster):
    ok(cluster, "apply", "-f", "-", input="""
apiVersion: batch/v1
kind: Job
metadata: {name: three}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["sh", "-c", "sleep 0.2"]}]
""")
    ok(cluster, "wait", "--for=condition=complete", "job/three", "--timeout=40s")
    pods = job_pods(cluster, "three")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert ok(cluster, "get", "job", "three").splitlines()[1].split()[2] == "3/3"


def test_a_failing_job_stops_at_its_backoff_limit(cluster):
    ok(cluster, "apply", "-f", "-", input="""
apiVersion: batch/v1
kind: Job
metadata: {name: doomed}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["sh", "-c", "echo no; exit 3"]}]
""")
    ok(cluster, "wait", "--for=condition=failed", "job/doomed", "--timeout=40s")
    job = json.loads(ok(cluster, "get", "job", "doomed", "-o", "json"))
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert job["status"]["failed"] == 2
    pods = job_pods(cluster, "doomed")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Failed" for p in pods)
    events = ok(cluster, "get", "events", "--field-selector", "involvedObject.name=doomed")
    assert "BackoffLimitExceeded" in events


def test_deleting_a_job_deletes_its_pods(cluster):
    ok(cluster, "create", "job", "gone", "--image=busybox", "--", "sleep", "3600")
    cluster.wait(lambda: len(job_pods(cluster, "gone")) == 1, what="the job's pod")
    ok(cluster, "delete", "job", "gone", "--timeout=30s")
    cluster.wait(lambda: not job_pods(cluster, "gone"), timeout=30, what="the pod to go")


def test_a_job_template_that_restarts_always_is_refused(cluster):
    r = cluster.kubectl("apply", "-f", "-", input="""
apiVersion: batch/v1
kind: Job
metadata: {name: forever}
spec:
  template:
    spec:
      containers: [{name: c, image: busybox}]
""")
    assert r.returncode == 1
    assert r.stderr.strip() == ('The Job "forever" is invalid: spec.template.spec.restartPolicy: '
                                'Required value: valid values: "OnFailure", "Never"')


def test_a_bare_api_delete_of_a_job_orphans_its_pods_as_batch_v1_does(cluster):
    ok(cluster, "create", "job", "kept", "--image=busybox", "--", "sleep", "3600")
    cluster.wait(lambda: len(job_pods(cluster, "kept")) == 1, what="the job's pod")
    url = f"{cluster.server}/apis/batch/v1/namespaces/default/jobs/kept"
    r = subprocess.run(["curl", "-sS", "-X", "DELETE", "--cacert", cluster.creds.ca_file,
                        "-H", f"Authorization: Bearer {cluster.creds.token}", url],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    cluster.wait(lambda: cluster.kubectl("get", "job", "kept").returncode != 0,
                 what="the job to go")
    (pod,) = job_pods(cluster, "kept")
    assert not pod["metadata"].get("ownerReferences")
    ok(cluster, "delete", "pod", pod["metadata"]["name"], "--grace-period=0", "--force")
