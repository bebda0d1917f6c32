"""`emunet certs` and `make keys secret` as a user runs them, including the bad cases."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def emunet(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "emunet", "certs", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_make_keys_secret_writes_the_tutorial_files(tmp_path):
    r = subprocess.run(["make", "keys", "secret", f"KEY={tmp_path}/nginx.key",
                        f"CERT={tmp_path}/nginx.crt", f"SECRET={tmp_path}/secret.json"],
                       cwd=ROOT / "certs", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((tmp_path / "nginx.key").stat().st_mode) == 0o600
    subject = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "nginx.crt"), "-noout",
                              "-subject", "-ext", "subjectAltName"], capture_output=True,
                             text=True).stdout
    assert "CN = my-nginx, O = my-nginx" in subject and "DNS:my-nginx" in subject
    secret = json.loads((tmp_path / "secret.json").read_text())
    assert secret["metadata"] == {"name": "nginxsecret", "namespace": "default"}
    assert set(secret["data"]) == {"nginx.crt", "nginx.key"}


def test_an_unwritable_path_says_what_to_do(tmp_path):
    r = emunet("tutorial", "--key", str(tmp_path / "missing-dir" / "nginx.key"))
    assert r.returncode != 0
    assert "cannot write" in r.stderr and "missing-dir" in r.stderr
    assert "Choose a writable path" in r.stderr


def test_a_key_that_does_not_match_its_certificate_is_refused(tmp_path):
    assert emunet("tutorial", "--key", f"{tmp_path}/a.key", "--cert", f"{tmp_path}/a.crt"
                  ).returncode == 0
    assert emunet("tutorial", "--key", f"{tmp_path}/b.key", "--cert", f"{tmp_path}/b.crt"
                  ).returncode == 0
    r = emunet("tutorial", "--key", f"{tmp_path}/b.key", "--cert", f"{tmp_path}/a.crt",
               "--secret", f"{tmp_path}/s.json")
    assert r.returncode == 1
    assert "do not belong together" in r.stderr and "Delete them" in r.stderr
    assert not (tmp_path / "s.json").exists()
