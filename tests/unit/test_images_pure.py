"""Pure parts of the built-in images: pages, ranges, Go-style output, resolv.conf."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from emunet.images import gostyle, http1, nginx, paths
from emunet.images.tools import resolvconf


def test_welcome_page_is_nginx_size_and_title() -> None:
    assert len(nginx.WELCOME) == 615
    assert b"<title>Welcome to nginx!</title>" in nginx.WELCOME
    assert b"<h1>Welcome to nginx!</h1>" in nginx.WELCOME
    assert nginx.etag(nginx.WELCOME) == f'"{nginx.BUILD_MTIME:x}-267"'


@pytest.mark.parametrize("status,size", [(404, 153), (405, 157), (400, 157)])
def test_error_pages_have_nginx_sizes(status: int, size: int) -> None:
    page = nginx.error_page(status)
    assert len(page) == size and page.count(b"\r\n") == 7


@pytest.mark.parametrize("spec,result", [
    ("bytes=0-9", (0, 9)), ("bytes=600-", (600, 614)), ("bytes=-15", (600, 614)),
    ("bytes=10-5000", (10, 614)), ("bytes=615-", "416"), ("bytes=-0", "416"),
    ("bytes=5-1", None), ("items=0-1", None), ("bytes=0-1,4-5", None), ("bytes=x-1", None),
])
def test_parse_range(spec: str, result: object) -> None:
    assert nginx.parse_range(spec, 615) == result


@pytest.mark.parametrize("value,logged", [
    (None, "-"), ("", "-"), ("curl/7.88.1", "curl/7.88.1"), ('a"b', "a\\x22b"),
    ("tab\there", "tab\\x09here"),
])
def test_log_field_escapes_like_nginx(value: str | None, logged: str) -> None:
    assert nginx.log_field(value) == logged


def test_parse_head_and_keep_alive_rules() -> None:
    req = http1.parse_head(b"GET /a?x=1&y= HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2",
                           ("1.2.3.4", 5), ("5.6.7.8", 80))
    assert (req.method, req.path, req.headers["x-a"], req.keep_alive) == ("GET", "/a", "1, 2",
                                                                           True)
    assert req.arg("x") == "1" and req.arg("y") == "" and req.arg("z") == ""
    old = http1.parse_head(b"GET / HTTP/1.0", ("", 0), ("", 0))
    assert not old.keep_alive
    closing = http1.parse_head(b"GET / HTTP/1.1\r\nConnection: close", ("", 0), ("", 0))
    assert not closing.keep_alive


@pytest.mark.parametrize("head", [b"garbage", b"get / HTTP/1.1", b"GET / SPDY/3",
                                  b"GET / HTTP/1.1\r\nbad header", b"GET / HTTP/1.1\r\n : x"])
def test_parse_head_rejects_garbage(head: bytes) -> None:
    with pytest.raises(http1.BadRequest):
        http1.parse_head(head, ("", 0), ("", 0))


def test_take_chunked() -> None:
    buf = bytearray(b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\nNEXT")
    assert http1.take_chunked(buf) == (b"Wikipedia", len(buf) - 4)
    assert http1.take_chunked(bytearray(b"4\r\nWi")) is None


@pytest.mark.parametrize("argv,expected", [
    ([], {"port": 9376, "tcp": False, "name": ""}),
    (["--port=80", "--tcp"], {"port": 80, "tcp": True, "name": ""}),
    (["--port", "81", "--tcp=false", "--name", "x"], {"port": 81, "tcp": False, "name": "x"}),
    (["-port=82"], {"port": 82, "tcp": False, "name": ""}),
])
def test_parse_flags(argv: list[str], expected: dict[str, object]) -> None:
    assert gostyle.parse_flags(argv, {"port": 9376, "tcp": False, "name": ""}) == expected


@pytest.mark.parametrize("argv,message", [
    (["--bogus"], "unknown flag: --bogus"),
    (["--port=x"], 'invalid argument "x" for "--port" flag'),
    (["--port"], "flag needs an argument: --port"),
    (["extra"], 'unknown command "extra"'),
])
def test_parse_flags_errors(argv: list[str], message: str) -> None:
    with pytest.raises(gostyle.FlagError, match=message):
        gostyle.parse_flags(argv, {"port": 9376})


@pytest.mark.parametrize("text,seconds", [("", 0), ("0", 0), ("5s", 5), ("100ms", 0.1),
                                          ("1m30s", 90), ("1.5h", 5400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert gostyle.parse_duration(text) == pytest.approx(seconds)


def test_go_response_header_order() -> None:
    data = gostyle.response(200, b"pod-1").decode()
    lines = data.split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert [line.split(":")[0] for line in lines[1:4]] == ["Date", "Content-Length",
                                                           "Content-Type"]
    assert lines[3] == "Content-Type: text/plain; charset=utf-8" and data.endswith("\r\n\r\npod-1")
    err = gostyle.error(400, "bad").decode().split("\r\n")
    assert err[1:3] == ["Content-Type: text/plain; charset=utf-8",
                        "X-Content-Type-Options: nosniff"]
    assert gostyle.status_line(599) == "HTTP/1.1 599 status code 599\r\n"


def test_go_json_is_compact_sorted_and_html_safe() -> None:
    assert gostyle.go_json({"output": "<a&b>", "error": "x"}) == \
        '{"error":"x","output":"\\u003ca\\u0026b\\u003e"}'


RESOLV = """# written by the kubelet
nameserver 127.96.0.10
nameserver 127.96.0.11
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:1
"""


def test_resolv_conf_parse_and_search_order() -> None:
    conf = resolvconf.parse(RESOLV)
    assert conf.nameservers == ["127.96.0.10", "127.96.0.11"]
    assert (conf.ndots, conf.timeout, conf.attempts) == (5, 1.0, 2)
    assert resolvconf.candidates("my-nginx", conf) == [
        "my-nginx.default.svc.cluster.local", "my-nginx.svc.cluster.local",
        "my-nginx.cluster.local", "my-nginx"]
    assert resolvconf.candidates("my-nginx.default.svc.cluster.local.", conf) == [
        "my-nginx.default.svc.cluster.local"]
    conf.ndots = 1
    assert resolvconf.candidates("a.b", conf)[0] == "a.b"
    assert resolvconf.parse("").nameservers == ["127.0.0.1"]


def test_resolv_conf_without_sandbox_comes_from_the_kubelet_env() -> None:
    conf = resolvconf.load({"EMUNET_SANDBOX": "0", "EMUNET_DNS": "127.96.0.10",
                            "EMUNET_POD_NAMESPACE": "web"})
    assert conf.nameservers == ["127.96.0.10"] and conf.ndots == 5
    assert conf.search[0] == "web.svc.cluster.local"


def test_host_path_prefers_mounts_then_root(tmp_path: Path) -> None:
    (tmp_path / "etc/nginx/ssl").mkdir(parents=True)
    (tmp_path / "etc/nginx/ssl/nginx.crt").write_text("x")
    assert paths.host_path("/etc/nginx/ssl/nginx.crt", {"EMUNET_ROOT": str(tmp_path)}) == \
        str(tmp_path / "etc/nginx/ssl/nginx.crt")
    assert paths.host_path("/etc/other", {"EMUNET_ROOT": str(tmp_path)}) == "/etc/other"
    mounts = json.dumps({"/etc/nginx/ssl": "/vol/secret", "/etc": "/vol/etc"})
    assert paths.host_path("/etc/nginx/ssl/nginx.key", {"EMUNET_MOUNTS": mounts}) == \
        "/vol/secret/nginx.key"
    assert paths.host_path("/etc/hosts", {"EMUNET_MOUNTS": mounts}) == "/vol/etc/hosts"
    assert paths.host_path("/etcetera", {"EMUNET_MOUNTS": mounts}) == "/etcetera"


def test_container_ports() -> None:
    env = {"EMUNET_CONTAINER_PORTS": json.dumps([
        {"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 53, "protocol": "UDP"}])}
    assert paths.container_ports("TCP", env) == [443, 80]
    assert paths.container_ports("UDP", env) == [53]
    assert paths.container_ports("TCP", {}) == []
