"""The cluster config: YAML keys, validation, and the addresses derived from it."""
from __future__ import annotations

from pathlib import Path

import pytest

from emunet.config import ClusterConfig


def load(tmp_path: Path, text: str, **overrides) -> ClusterConfig:
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return ClusterConfig.load(path, **overrides)


def test_yaml_camel_case_keys_become_fields(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
nodes: 3
podCIDR: 127.245.0.0/16
serviceCIDR: 127.97.0.0/16
nodeIPBase: 127.11.0.0
loadBalancerCIDR: 127.201.0.0/16
nodePortRange: 31000-31999
apiPort: 7443
apiAddress: 127.0.0.2
clusterDomain: example.local
dnsTtl: 30
nodeGraceSeconds: 8
evictionSeconds: 1.5
heartbeatSeconds: 0.5
images: {myapp: "python3 -m myapp"}
sandbox: false
""")
    assert (cfg.nodes, cfg.pod_cidr, cfg.service_cidr) == (3, "127.245.0.0/16", "127.97.0.0/16")
    assert (cfg.node_ip_base, cfg.load_balancer_cidr) == ("127.11.0.0", "127.201.0.0/16")
    assert cfg.node_ports == (31000, 31999)
    assert (cfg.api_address, cfg.api_port) == ("127.0.0.2", 7443)
    assert (cfg.cluster_domain, cfg.dns_ttl) == ("example.local", 30)
    assert (cfg.node_grace_seconds, cfg.eviction_seconds, cfg.heartbeat_seconds) == (8, 1.5, 0.5)
    assert cfg.images == {"myapp": "python3 -m myapp"}
    assert cfg.sandbox is False


def test_overrides_win_over_the_file_and_none_is_no_override(tmp_path: Path) -> None:
    cfg = load(tmp_path, "nodes: 3\napiPort: 7443\n", nodes=1, api_port=None)
    assert (cfg.nodes, cfg.api_port) == (1, 7443)


def test_no_file_gives_the_defaults() -> None:
    cfg = ClusterConfig.load(None)
    assert cfg == ClusterConfig()


# (YAML text, fragment of the error)
INVALID = [
    ("nodes: 2\nfoo: 1\n", "unknown cluster config field(s): foo"),
    ("nodes: 2\nfooBar: 1\nbaz: 2\n", "unknown cluster config field(s): baz, fooBar"),
    ("serviceCIDR: 10.96.0.0/12\n", "service_cidr 10.96.0.0/12 must lie in 127.0.0.0/8"),
    ("podCIDR: 192.168.0.0/16\n", "pod_cidr 192.168.0.0/16 must lie in 127.0.0.0/8"),
    ("loadBalancerCIDR: 0.0.0.0/0\n", "load_balancer_cidr 0.0.0.0/0 must lie in 127.0.0.0/8"),
    ("nodes: 0\n", "nodes must be between 1 and 50"),
    ("nodePortRange: 32000-31000\n", "bad nodePortRange 32000-31000"),
    ("- a\n- b\n", "the cluster config must be a YAML mapping"),
]


@pytest.mark.parametrize("text,fragment", INVALID)
def test_invalid_configs_are_refused_with_the_reason(tmp_path: Path, text: str,
                                                     fragment: str) -> None:
    with pytest.raises(ValueError) as e:
        load(tmp_path, text)
    assert fragment in str(e.value)


def test_derived_node_addresses_and_names() -> None:
    cfg = ClusterConfig(nodes=3)
    assert cfg.node_names() == ["emunet-worker", "emunet-worker2", "emunet-worker3"]
    assert cfg.node_index("emunet-worker3") == 2
    # Node N gets the Nth /24 after the first (kind gives node 0 10.244.1.0/24... here .1).
    assert [cfg.node_pod_cidr(i) for i in range(3)] == [
        "127.244.1.0/24", "127.244.2.0/24", "127.244.3.0/24"]
    internal = [cfg.node_internal_ip(i) for i in range(3)]
    external = [cfg.node_external_ip(i) for i in range(3)]
    assert internal == ["127.10.0.2", "127.10.0.4", "127.10.0.6"]
    assert external == ["127.10.0.3", "127.10.0.5", "127.10.0.7"]
    assert len(set(internal + external)) == 6


def test_derived_service_addresses_and_names() -> None:
    cfg = ClusterConfig(service_cidr="127.97.0.0/16", name="blue")
    assert cfg.kubernetes_service_ip == "127.97.0.1"
    assert cfg.dns_service_ip == "127.97.0.10"
    assert cfg.node_names()[0] == "blue-worker"
    assert cfg.context_name == "emunet-blue"
    assert ClusterConfig().context_name == "emunet"


def test_json_round_trip() -> None:
    cfg = ClusterConfig(nodes=3, images={"x": "y"}, host_dns="/tmp/hosts")
    assert ClusterConfig.from_json(cfg.to_json()) == cfg
