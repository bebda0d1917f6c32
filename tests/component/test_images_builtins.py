"""Built-in images in a real process on a real pod IP, probed with curl and sockets."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emunet import certs

ROOT = Path(__file__).resolve().parents[2]
RUN = ("import sys; from emunet.images import run_builtin; "
       "sys.exit(run_builtin(sys.argv[1], sys.argv[2:]))")


class Container:
    """A builtin run as the kubelet's child would run it, logs to files."""

    def __init__(self, tmp: Path, ip: str, name: str, argv: list[str],
                 env: dict[str, str] | None = None) -> None:
        self.ip = ip
        self.stdout_path, self.stderr_path = tmp / f"{ip}-{name}.out", tmp / f"{ip}-{name}.err"
        full_env = {**os.environ, "EMUNET_POD_IP": ip, "HOSTNAME": "pod-a",
                    "PYTHONPATH": str(ROOT), **(env or {})}
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", RUN, name, *argv], env=full_env,
                                         stdout=out, stderr=err, cwd=ROOT)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_listening(self, port: int, deadline: float = 10.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.stderr}"
            try:
                socket.create_connection((self.ip, port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"{self.ip}:{port} never listened")

    def wait_output(self, text: str, stream: str = "stdout", deadline: float = 5.0) -> str:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            current = getattr(self, stream)
            if text in current:
                return current
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not in {stream}: {getattr(self, stream)!r}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    started: list[Container] = []

    def run(ip: str, name: str, argv: list[str], env: dict[str, str] | None = None) -> Container:
        c = Container(tmp_path, ip, name, argv, env)
        started.append(c)
        return c
    yield run
    for c in started:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-s", "--max-time", "5", *args], check=False,
                          capture_output=True,
                          text=True, timeout=10)


# ---- nginx ---------------------------------------------------------------

def test_nginx_serves_welcome_page_404_head_and_logs_the_client(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.1", "nginx", ["nginx", "-g", "daemon off;"])
    c.wait_listening(80)
    page = curl("--interface", "127.0.0.77", "-A", "curl/7.88.1", "http://127.244.250.1/")
    assert "<title>Welcome to nginx!</title>" in page.stdout
    headers = curl("-D", "-", "-o", "/dev/null", "http://127.244.250.1/index.html").stdout
    assert headers.startswith("HTTP/1.1 200 OK\nServer: nginx/1.27.3\nDate: ")  # text mode
    for line in ("Content-Type: text/html", "Content-Length: 615", "Connection: keep-alive",
                 "Accept-Ranges: bytes", "ETag: \"", "Last-Modified: "):
        assert line in headers
    missing = curl("-w", "%{http_code}", "http://127.244.250.1/nope")
    assert missing.stdout.endswith("<hr><center>nginx/1.27.3</center>\n</body>\n</html>\n404")
    head = curl("-I", "http://127.244.250.1/")
    assert "Content-Length: 615" in head.stdout and "<html>" not in head.stdout
    assert curl("-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
                "http://127.244.250.1/").stdout == "405"
    log = c.wait_output('"GET / HTTP/1.1" 200 615 "-" "curl/7.88.1" "-"')
    assert any(line.startswith("127.0.0.77 - - [") and '"GET / HTTP/1.1" 200 615' in line
               for line in log.splitlines())
    assert '"GET /nope HTTP/1.1" 404 153' in c.wait_output("/nope")
    assert "/docker-entrypoint.sh: Configuration complete; ready for start up" in c.stdout
    assert c.stop() == 0
    assert "signal 15 (SIGTERM) received, exiting" in c.stderr


def test_nginx_keeps_connections_alive(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.2", "nginx", ["nginx"])
    c.wait_listening(80)
    out = curl("-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\n",
               "http://127.244.250.2/", "http://127.244.250.2/index.html").stdout
    assert out.split() == ["1", "0"]
    with socket.create_connection(("127.244.250.2", 80)) as sock:
        # Two pipelined requests, answered in order on one connection.
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n"
                     b"Connection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 404") and b"HTTP/1.1 200 OK" in data
    assert data.endswith(b"</html>\n") and b"Connection: close" in data


def test_nginx_sigquit_finishes_requests_under_way_and_closes_idle_ones(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.13", "nginx", ["nginx"])
    c.wait_listening(80)
    idle = socket.create_connection(("127.244.250.13", 80), timeout=5)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    first = idle.recv(65536)
    assert first.startswith(b"HTTP/1.1 200") and b"Connection: keep-alive" in first
    under_way = socket.create_connection(("127.244.250.13", 80), timeout=5)
    under_way.sendall(b"GET /index.html HTTP/1.1\r\nHost: a\r\n")   # half a request
    c.wait_output("start worker processes", "stderr")
    c.proc.send_signal(signal.SIGQUIT)
    c.wait_output("gracefully shutting down", "stderr")
    assert idle.recv(100) == b"", "an idle keep-alive connection is closed at once"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.244.250.13", 80), timeout=5)
    assert c.proc.poll() is None, "nginx waits for the request under way"
    under_way.sendall(b"\r\n")
    data = b""
    while chunk := under_way.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data
    assert c.proc.wait(timeout=10) == 0
    notices = [line.split(": ", 1)[1] for line in c.stderr.splitlines() if "[notice]" in line]
    assert notices[-4:] == ["signal 3 (SIGQUIT) received, shutting down",
                            "gracefully shutting down", "exiting", "exit"]
    idle.close()
    under_way.close()


def test_nginx_sigquit_does_not_wait_long_for_a_silent_connection(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.15", "nginx", ["nginx"])
    c.wait_listening(80)
    silent = socket.create_connection(("127.244.250.15", 80), timeout=10)
    c.wait_output("start worker processes", "stderr")
    c.proc.send_signal(signal.SIGQUIT)
    assert silent.recv(100) == b""   # closed after about a second, not the keep-alive timeout
    assert c.proc.wait(timeout=10) == 0
    silent.close()


def test_nginx_sigterm_is_a_fast_shutdown(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.14", "nginx", ["nginx"])
    c.wait_listening(80)
    under_way = socket.create_connection(("127.244.250.14", 80), timeout=5)
    under_way.sendall(b"GET / HTTP/1.1\r\n")
    c.wait_output("start worker processes", "stderr")
    assert c.stop(signal.SIGTERM) == 0
    assert under_way.recv(100) == b""
    assert "signal 15 (SIGTERM) received, exiting" in c.stderr
    under_way.close()


def test_nginx_serves_a_volume_mounted_at_its_document_root(start, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html = tmp_path / "html"
    html.mkdir()
    c = start("127.244.250.16", "nginx", ["nginx"],
              {"EMUNET_MOUNTS": json.dumps({"/usr/share/nginx/html": str(html)})})
    c.wait_listening(80)
    # An empty volume shadows the image's welcome page, as on a node.
    assert curl("-o", "/dev/null", "-w", "%{http_code}", "http://127.244.250.16/").stdout == "403"
    (html / "index.html").write_text("web-0\n")
    assert curl("http://127.244.250.16/").stdout == "web-0\n"
    (html / "index.html").write_text("web-0 again\n")   # read as it is now
    assert curl("http://127.244.250.16/index.html").stdout == "web-0 again\n"
    assert curl("-o", "/dev/null", "-w", "%{http_code}",
                "http://127.244.250.16/missing").stdout == "404"


def test_nginx_listens_on_declared_ports(start) -> None:  # type: ignore[no-untyped-def]
    ports = json.dumps([{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 53,
                                                                     "protocol": "UDP"}])
    c = start("127.244.250.3", "nginx", ["nginx"], {"EMUNET_CONTAINER_PORTS": ports})
    c.wait_listening(8080)
    assert "Welcome to nginx!" in curl("http://127.244.250.3:8080/").stdout


def test_second_nginx_on_the_same_ip_and_port_fails_at_bind(start) -> None:  # type: ignore[no-untyped-def]
    first = start("127.244.250.4", "nginx", ["nginx"])
    first.wait_listening(80)
    second = start("127.244.250.4", "nginx", ["nginx"])
    assert second.proc.wait(timeout=10) == 1
    assert "nginx: [emerg] bind() to 127.244.250.4:80 failed (98: Address already in use)" \
        in second.stderr
    assert first.proc.poll() is None


# ---- nginxhttps ----------------------------------------------------------

@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return certs.self_signed("my-nginx", "my-nginx", ["my-nginx"])


def _ssl_dir(tmp_path: Path, cert: bytes, key: bytes) -> dict[str, str]:
    ssl_dir = tmp_path / "ssl"
    ssl_dir.mkdir(exist_ok=True)
    (ssl_dir / "nginx.crt").write_bytes(cert)
    (ssl_dir / "nginx.key").write_bytes(key)
    return {"EMUNET_MOUNTS": json.dumps({"/etc/nginx/ssl": str(ssl_dir)})}


def test_nginxhttps_serves_http_and_verified_https(start, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   pair: tuple[bytes, bytes]) -> None:
    env = _ssl_dir(tmp_path, *pair)
    c = start("127.244.250.5", "nginxhttps", ["nginx"], env)
    c.wait_listening(443)
    secure = curl("--cacert", str(tmp_path / "ssl/nginx.crt"), "--resolve",
                  "my-nginx:443:127.244.250.5", "https://my-nginx/")
    assert "<title>Welcome to nginx!</title>" in secure.stdout, secure.stderr
    assert "<h1>Welcome to nginx!</h1>" in curl("-k", "https://127.244.250.5").stdout
    assert "<h1>Welcome to nginx!</h1>" in curl("http://127.244.250.5").stdout
    assert c.stop() == 0


def test_nginxhttps_without_certificate_fails_at_start(start, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"EMUNET_MOUNTS": json.dumps({"/etc/nginx/ssl": str(tmp_path / "empty")})}
    c = start("127.244.250.6", "nginxhttps", ["nginx"], env)
    assert c.proc.wait(timeout=10) == 1
    assert ('nginx: [emerg] cannot load certificate "/etc/nginx/ssl/nginx.crt": '
            "BIO_new_file() failed (SSL: error:80000002:system library::No such file or "
            "directory") in c.stderr


def test_nginxhttps_with_mismatched_key_fails_at_start(start, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       pair: tuple[bytes, bytes]) -> None:
    other_key = certs.self_signed("x", "x", [])[1]
    c = start("127.244.250.7", "nginxhttps", ["nginx"], _ssl_dir(tmp_path, pair[0], other_key))
    assert c.proc.wait(timeout=10) == 1
    assert ('nginx: [emerg] SSL_CTX_use_PrivateKey("/etc/nginx/ssl/nginx.key") failed '
            "(SSL: error:05800074:x509 certificate routines::key values mismatch)") in c.stderr


def test_nginxhttps_with_garbage_certificate_fails_at_start(start, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            pair: tuple[bytes, bytes]) -> None:
    c = start("127.244.250.8", "nginxhttps", ["nginx"], _ssl_dir(tmp_path, b"junk", pair[1]))
    assert c.proc.wait(timeout=10) == 1
    assert 'nginx: [emerg] cannot load certificate "/etc/nginx/ssl/nginx.crt"' in c.stderr


# ---- agnhost and pause ---------------------------------------------------

def test_agnhost_netexec_http_and_udp(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.9", "agnhost", ["/agnhost", "netexec", "--http-port=8080",
                                           "--udp-port", "8081"])
    c.wait_listening(8080)
    base = "http://127.244.250.9:8080"
    assert curl(f"{base}/hostname").stdout == "pod-a"
    assert curl("--interface", "127.0.0.78", f"{base}/clientip").stdout.startswith("127.0.0.78:")
    assert curl(f"{base}/echo?msg=hi").stdout == "hi"
    assert curl("-o", "/dev/null", "-w", "%{http_code}", f"{base}/healthz").stdout == "200"
    assert curl(f"{base}/").stdout.startswith("NOW: ")
    shell = json.loads(curl(f"{base}/shell?cmd=echo%20ok").stdout)
    assert shell == {"output": "ok\n"}
    failed = json.loads(curl(f"{base}/shell?cmd=exit%203").stdout)
    assert failed == {"error": "exit status 3"}
    dial = json.loads(curl(f"{base}/dial?request=hostname&host=127.244.250.9&port=8081"
                           "&protocol=udp").stdout)
    assert dial == {"responses": ["pod-a"]}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.79", 0))
        sock.sendto(b"echo Hello", ("127.244.250.9", 8081))
        assert sock.recv(100) == b"hello"   # agnhost lower-cases what it receives
        sock.sendto(b"hostname\n", ("127.244.250.9", 8081))
        assert sock.recv(100) == b"pod-a"
        sock.sendto(b"clientip", ("127.244.250.9", 8081))
        assert sock.recv(100).startswith(b"127.0.0.79:")
    assert "GET /hostname" in c.stderr
    # /exit ends the process with the code, answering nothing.
    assert curl(f"{base}/exit?code=7").returncode != 0
    assert c.proc.wait(timeout=10) == 7


def test_agnhost_serve_hostname_http_and_unknown_command(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.10", "agnhost", ["/agnhost", "serve-hostname"])
    c.wait_listening(9376)
    assert curl("http://127.244.250.10:9376/").stdout == "pod-a"
    c.wait_output("HTTP request from 127.0.0.1:", "stderr")
    c.proc.send_signal(signal.SIGKILL)
    bad = start("127.244.250.10", "agnhost", ["/agnhost", "bogus"])
    assert bad.proc.wait(timeout=10) == 1
    assert 'Error: unknown command "bogus" for "agnhost"' in bad.stderr


def test_agnhost_serve_hostname_udp(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.11", "agnhost", ["/agnhost", "serve-hostname", "--udp",
                                            "--http=false", "--port", "9377"])
    c.wait_output("Serving on port 9377.", "stderr")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"x", ("127.244.250.11", 9377))
        assert sock.recv(100) == b"pod-a"


def test_pause_exits_zero_on_sigterm(start) -> None:  # type: ignore[no-untyped-def]
    c = start("127.244.250.12", "pause", ["/pause"])
    _wait_signal_ready(c)
    assert c.stop() == 0
    assert "Shutting down, got signal: Terminated" in c.stderr


def _wait_signal_ready(c: Container) -> None:
    """Wait until the process has replaced the default SIGTERM action (SigCgt in /proc)."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        status = Path(f"/proc/{c.proc.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines()
                          if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.02)
    raise AssertionError("SIGTERM handler never installed")
