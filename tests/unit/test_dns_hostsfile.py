"""The /etc/hosts block, kept in step with Services, tried on a temporary file."""
from __future__ import annotations

from pathlib import Path

from emunet.dns.hostsfile import remove_hosts_block, sync_hosts_block

USER = "127.0.0.1 localhost\n# my own comment\n10.0.0.5 build-box\n"
NGINX = ("127.96.12.7", ["my-nginx.default.svc.cluster.local", "my-nginx.default.svc"])
KUBE = ("127.96.0.1", ["kubernetes.default.svc.cluster.local", "kubernetes.default.svc"])


def test_block_added_updated_and_removed_leaving_the_rest(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(USER)
    hosts.chmod(0o644)
    assert sync_hosts_block(hosts, [NGINX, KUBE], "dev")
    assert hosts.read_text() == USER + (
        "# BEGIN emunet dev\n"
        "127.96.0.1 kubernetes.default.svc.cluster.local kubernetes.default.svc\n"
        "127.96.12.7 my-nginx.default.svc.cluster.local my-nginx.default.svc\n"
        "# END emunet dev\n")
    assert hosts.stat().st_mode & 0o777 == 0o644
    assert not sync_hosts_block(hosts, [KUBE, NGINX], "dev")      # no change, no write
    # The user edits below the block; another cluster adds its own block.
    hosts.write_text(hosts.read_text() + "10.0.0.6 later\n")
    assert sync_hosts_block(hosts, [("127.30.0.1", ["a.b.svc.cluster.local"])], "other")
    assert sync_hosts_block(hosts, [KUBE], "dev")
    text = hosts.read_text()
    assert "my-nginx" not in text and "kubernetes.default.svc" in text
    assert text.index("# END emunet dev") < text.index("10.0.0.6 later")
    assert "# BEGIN emunet other" in text
    assert remove_hosts_block(hosts, "dev")
    assert remove_hosts_block(hosts, "other")
    assert hosts.read_text() == USER + "10.0.0.6 later\n"
    assert not remove_hosts_block(hosts, "dev")
    assert [p.name for p in tmp_path.iterdir()] == ["hosts"]      # no temporary files left


def test_missing_file_is_created(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    assert sync_hosts_block(hosts, [NGINX], "dev")
    assert hosts.read_text().startswith("# BEGIN emunet dev\n127.96.12.7 ")
