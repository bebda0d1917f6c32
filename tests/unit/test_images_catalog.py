"""Image names to launches: resolve() over many image references (tables)."""
from __future__ import annotations

from pathlib import Path

import pytest

from emunet.images import Launch, catalog, resolve

IMAGE_MAP = {"myapp:1.0": "python3 -m myapp", "other": "python3 -m other --flag"}


@pytest.mark.parametrize("image,expected", [
    ("nginx", ("", "library/nginx", "", "")),
    ("nginx:1.27", ("", "library/nginx", "1.27", "")),
    ("docker.io/library/nginx:1.27", ("docker.io", "library/nginx", "1.27", "")),
    ("bprashanth/nginxhttps:1.0", ("", "bprashanth/nginxhttps", "1.0", "")),
    ("localhost:5000/app:v1", ("localhost:5000", "app", "v1", "")),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40",
     ("registry.k8s.io", "e2e-test-images/agnhost", "2.40", "")),
    ("nginx@sha256:abc", ("", "library/nginx", "", "sha256:abc")),
    ("Radial/BusyboxPlus:curl", ("", "radial/busyboxplus", "curl", "")),
])
def test_parse_reference(image: str, expected: tuple[str, str, str, str]) -> None:
    ref = catalog.parse_reference(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


NGINX = Launch(["nginx", "-g", "daemon off;"], "nginx", stop_signal="SIGQUIT")
AGN = "registry.k8s.io/e2e-test-images/agnhost:2.40"


@pytest.mark.parametrize("image,command,args,expected", [
    ("nginx", None, None, NGINX),
    ("nginx:latest", None, None, NGINX),
    ("nginx:alpine", None, None, NGINX),
    ("docker.io/library/nginx:1.27", None, None, NGINX),
    ("mirror.gcr.io/library/nginx", None, None, NGINX),
    ("registry.k8s.io/e2e-test-images/nginx:1.14-4", None, None, NGINX),
    ("nginx", ["nginx", "-g", "daemon off;"], None, NGINX),
    # STOPSIGNAL belongs to the image: a replaced command keeps it.
    ("nginx", ["sh", "-c", "echo hi"], None, Launch(["sh", "-c", "echo hi"],
                                                    stop_signal="SIGQUIT")),
    ("nginx", None, ["sh"], Launch(["/docker-entrypoint.sh", "sh"], stop_signal="SIGQUIT")),
    ("bprashanth/nginxhttps:1.0", None, None, Launch(["nginx", "-g", "daemon off;"],
                                                     "nginxhttps")),
    (AGN, None, ["netexec", "--http-port=8080"],
     Launch(["/agnhost", "netexec", "--http-port=8080"], "agnhost")),
    ("k8s.gcr.io/e2e-test-images/agnhost:2.21", ["/agnhost", "serve-hostname"], None,
     Launch(["/agnhost", "serve-hostname"], "agnhost")),
    (AGN, None, None, Launch(["/agnhost", "pause"], "agnhost")),
    (AGN, ["sh", "-c", "true"], None, Launch(["sh", "-c", "true"])),
    ("registry.k8s.io/pause:3.10", None, None, Launch(["/pause"], "pause")),
    ("k8s.gcr.io/pause", None, None, Launch(["/pause"], "pause")),
    ("pause", None, None, Launch(["/pause"], "pause")),
    ("myapp:1.0", None, ["--port", "80"], Launch(["python3", "-m", "myapp", "--port", "80"])),
    ("other:2.0", None, None, Launch(["python3", "-m", "other", "--flag"])),
    ("myapp:1.0", ["sh"], ["-c", "x"], Launch(["sh", "-c", "x"])),
    ("foo/bar:1.0", ["python3", "-m", "http.server"], ["80"],
     Launch(["python3", "-m", "http.server", "80"])),
])
def test_resolve(image: str, command: list[str] | None, args: list[str] | None,
                 expected: Launch, tmp_path: Path) -> None:
    assert resolve(image, command, args, IMAGE_MAP, tools_base=tmp_path) == expected


@pytest.mark.parametrize("image,command,args,argv", [
    ("busybox", None, None, ["sh"]),
    ("busybox:1.36", ["sleep", "3600"], None, ["sleep", "3600"]),
    ("radial/busyboxplus:curl", None, None, ["/bin/sh"]),
    ("radial/busyboxplus:curl", ["sh", "-c", "while true; do sleep 1; done"], None,
     ["sh", "-c", "while true; do sleep 1; done"]),
    ("curlimages/curl:8.5.0", None, ["-s", "http://x"], ["curl", "-s", "http://x"]),
    ("curlimages/curl", ["sh"], None, ["sh"]),
    ("alpine:3.20", None, ["echo", "hi"], ["echo", "hi"]),
    ("ubuntu", ["bash", "-c", "true"], None, ["bash", "-c", "true"]),
    ("praqma/network-multitool", None, None, ["sh"]),
])
def test_resolve_shell_images_get_tool_shims(image: str, command: list[str] | None,
                                             args: list[str] | None, argv: list[str],
                                             tmp_path: Path) -> None:
    launch = resolve(image, command, args, {}, tools_base=tmp_path)
    assert launch.argv == argv and launch.builtin is None and launch.error is None
    shims = Path(launch.path_prepend[0])
    assert shims.parent == tmp_path and (shims / "nslookup").stat().st_mode & 0o111


@pytest.mark.parametrize("image", ["foo/bar:1.0", "redis", "gcr.io/x/y@sha256:00"])
def test_unknown_image_without_command_is_a_pull_error(image: str, tmp_path: Path) -> None:
    launch = resolve(image, None, ["--x"], IMAGE_MAP, tools_base=tmp_path)
    assert launch.argv == [] and launch.builtin is None
    assert launch.error is not None
    assert launch.error.startswith(f'Failed to pull image "{image}": emunet runs no container')
    assert "built in: nginx, bprashanth/nginxhttps, busybox" in launch.error
    assert f'images: {{"{image}": "python3 -m myapp"}}' in launch.error


def test_image_map_matches_exact_name_then_name_without_tag() -> None:
    image_map = {"app:1": "exact", "app": "bare"}
    assert catalog.mapped_command("app:1", image_map) == ["exact"]
    assert catalog.mapped_command("app:2", image_map) == ["bare"]
    assert catalog.mapped_command("localhost:5000/app", {"localhost:5000/app": "x"}) == ["x"]
    assert catalog.mapped_command("nope", image_map) is None
