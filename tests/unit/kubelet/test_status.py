"""Pod phase and conditions from container states, as tables."""
from __future__ import annotations

import pytest

from emunet.kubelet.status import ContainerState as CS
from emunet.kubelet.status import image_ref, phase, pod_status

RUN = dict(state="running", reason="", started_at="t0", container_id="emunet://1")
DONE0 = dict(state="terminated", reason="Completed", exit_code=0, container_id="emunet://1")
DONE1 = dict(state="terminated", reason="Error", exit_code=1, container_id="emunet://1")
CRASH = dict(state="waiting", reason="CrashLoopBackOff", last={"exitCode": 1})


@pytest.mark.parametrize("policy,states,expected", [
    ("Always", [{}], "Pending"),
    ("Always", [RUN], "Running"),
    ("Always", [RUN, {}], "Pending"),
    ("Always", [CRASH], "Running"),
    ("Always", [DONE0], "Running"),
    ("Never", [DONE0], "Succeeded"),
    ("Never", [DONE1], "Failed"),
    ("OnFailure", [DONE1], "Running"),
    ("OnFailure", [DONE0, DONE0], "Succeeded"),
    ("Never", [DONE0, RUN], "Running"),
])
def test_phase(policy, states, expected):
    assert phase(policy, [], [CS("c", "nginx", **s) for s in states]) == expected


def test_init_containers_gate_the_phase():
    assert phase("Always", [CS("i", "busybox", **RUN)], [CS("c", "nginx")]) == "Pending"
    assert phase("Never", [CS("i", "busybox", **DONE1)], [CS("c", "nginx")]) == "Failed"


POD = {"metadata": {"name": "p"}, "spec": {"restartPolicy": "Always"},
       "status": {"conditions": [{"type": "PodScheduled", "status": "True",
                                  "lastTransitionTime": "t-sched"}]}}


def test_running_and_ready_pod_status():
    st = pod_status(POD, [], [CS("c", "nginx", ready=True, started=True, **RUN)],
                    pod_ip="127.244.1.2", host_ip="127.10.0.2", start_time="t0", now="t1",
                    sandbox_ready=True)
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert st["phase"] == "Running"
    assert conds == {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
                     "ContainersReady": "True", "PodScheduled": "True"}
    assert st["podIPs"] == [{"ip": "127.244.1.2"}] and st["hostIP"] == "127.10.0.2"
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"running": {"startedAt": "t0"}}
    assert cs["image"] == "docker.io/library/nginx:latest"
    assert cs["containerID"] == "emunet://1" and cs["imageID"].startswith("docker.io/library/nginx@sha256:")


def test_unready_container_and_transition_times_kept():
    old = dict(POD, status={"conditions": [{"type": "Ready", "status": "False",
                                            "lastTransitionTime": "t-old"}]})
    st = pod_status(old, [], [CS("c", "nginx", **RUN), CS("d", "nginx")], pod_ip="", host_ip="h",
                    start_time="t0", now="t1", sandbox_ready=True)
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready == {"type": "Ready", "status": "False", "lastProbeTime": None,
                     "lastTransitionTime": "t-old", "reason": "ContainersNotReady",
                     "message": "containers with unready status: [c d]"}
    assert st["containerStatuses"][1]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert "podIP" not in st


def test_completed_pod_is_not_ready():
    pod = dict(POD, spec={"restartPolicy": "Never"})
    st = pod_status(pod, [], [CS("c", "busybox", **DONE0)], pod_ip="x", host_ip="h",
                    start_time="t0", now="t1", sandbox_ready=True)
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert st["phase"] == "Succeeded" and ready["reason"] == "PodCompleted"


def test_pod_failed_in_an_init_container_is_not_initialized():
    pod = dict(POD, spec={"restartPolicy": "Never"})
    st = pod_status(pod, [CS("setup", "busybox", **DONE1)],
                    [CS("c", "busybox", reason="PodInitializing")], pod_ip="x", host_ip="h",
                    start_time="t0", now="t1", sandbox_ready=True)
    init = next(c for c in st["conditions"] if c["type"] == "Initialized")
    assert st["phase"] == "Failed"
    assert (init["status"], init["reason"], init["message"]) == \
        ("False", "ContainersNotInitialized", "containers with incomplete status: [setup]")
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


@pytest.mark.parametrize("image,ref", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("radial/busyboxplus:curl", "docker.io/radial/busyboxplus:curl"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.39", "registry.k8s.io/e2e-test-images/agnhost:2.39"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
])
def test_image_ref(image, ref):
    assert image_ref(image) == ref
