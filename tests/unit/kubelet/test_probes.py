"""Probe failure messages in the kubelet's (Go's) words, and port resolution."""
from __future__ import annotations

import errno

import pytest

from emunet.kubelet import probes


@pytest.mark.parametrize("error, expected", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
     "dial tcp 10.244.1.2:8080: connect: connection refused"),
    (TimeoutError(), "dial tcp 10.244.1.2:8080: i/o timeout"),
    (OSError(errno.EHOSTUNREACH, "No route to host"),
     "dial tcp 10.244.1.2:8080: connect: no route to host"),
    (OSError(errno.ECONNRESET, "Connection reset by peer"),
     "dial tcp 10.244.1.2:8080: connect: connection reset by peer"),
    (OSError(errno.EADDRNOTAVAIL, "x"),
     "dial tcp 10.244.1.2:8080: connect: cannot assign requested address"),
])
def test_dial_errors_read_as_go_prints_them(error, expected):
    assert probes.dial_error("10.244.1.2", 8080, error) == expected


@pytest.mark.parametrize("spec, expected", [
    ({"port": 80}, 80),
    ({"port": "8080"}, 8080),
    ({"port": "http"}, 8081),
])
def test_probe_ports_resolve_by_number_or_name(spec, expected):
    container = {"ports": [{"name": "http", "containerPort": 8081}]}
    assert probes._port(spec, container) == expected


def test_unknown_named_port_is_an_error():
    with pytest.raises(ValueError, match="'web' not found"):
        probes._port({"port": "web"}, {"ports": []})
