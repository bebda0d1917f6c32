"""Image names to emulations: which built-in an image reference stands for.

emunet pulls no images, so an image reference is only a key. It is parsed
the way a container runtime parses it (registry, repository path, tag,
digest; Docker Hub's implicit `library/`), and the last path segment picks
the emulation, so that `nginx`, `docker.io/library/nginx:1.27` and
`mirror.gcr.io/library/nginx@sha256:...` all mean the same server, as they
would on a real node. Pure functions only: `resolve()` in the package turns
the answer into a `Launch`, and the tests here are tables.

Each image carries its Dockerfile `ENTRYPOINT` and `CMD`, because Kubernetes
gives a container `command` (replacing ENTRYPOINT) and `args` (replacing CMD)
relative to them.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

# What every unknown-image message lists, in the order a user meets them.
BUILTIN_NAMES = ("nginx", "bprashanth/nginxhttps", "busybox", "radial/busyboxplus",
                 "curlimages/curl", "alpine", "agnhost", "pause")


@dataclass(frozen=True)
class Reference:
    registry: str      # "" for Docker Hub written without a registry
    repository: str    # "library/nginx", "bprashanth/nginxhttps"
    tag: str           # "" when absent (a runtime would assume "latest")
    digest: str        # "sha256:..." or ""

    @property
    def name(self) -> str:
        """The last path segment, which selects the emulation."""
        return self.repository.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Image:
    """What the runtime knows about a built-in image."""
    kind: str                       # "nginx", "nginxhttps", "agnhost", "pause", "shell"
    entrypoint: tuple[str, ...]     # Dockerfile ENTRYPOINT
    cmd: tuple[str, ...]            # Dockerfile CMD
    builtin: str | None             # run in-process when the entrypoint is not overridden
    stop_signal: str = "SIGTERM"    # Dockerfile STOPSIGNAL: what the kubelet stops it with


def parse_reference(image: str) -> Reference:
    """Split an image reference as the Docker distribution grammar does.

    The first component is a registry only if it looks like a host (has a
    dot or a port, or is `localhost`); a tag is the part after the last colon
    of the last component; Docker Hub's official images live under `library/`.
    """
    rest, _, digest = image.strip().partition("@")
    registry = ""
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    tag = ""
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1:]
    repository = rest.lower()
    if registry in ("", "docker.io", "index.docker.io", "registry-1.docker.io") \
            and "/" not in repository:
        repository = "library/" + repository
    return Reference(registry, repository, tag, digest)


_SHELL = ("sh",)
# Keyed by the last path segment of the repository.
_IMAGES: dict[str, Image] = {
    # nginx's official image: ENTRYPOINT /docker-entrypoint.sh, CMD nginx -g 'daemon off;',
    # STOPSIGNAL SIGQUIT (a graceful shutdown).
    "nginx": Image("nginx", ("/docker-entrypoint.sh",), ("nginx", "-g", "daemon off;"), "nginx",
                   "SIGQUIT"),
    # The Kubernetes e2e nginx and the docs' nginx-slim both serve the welcome page on 80.
    "nginx-slim": Image("nginx", (), ("nginx", "-g", "daemon off;"), "nginx"),
    "nginx-alpine": Image("nginx", ("/docker-entrypoint.sh",), ("nginx", "-g", "daemon off;"),
                          "nginx", "SIGQUIT"),
    "nginxhttps": Image("nginxhttps", (), ("/usr/bin/auto-reload-nginx.sh",), "nginxhttps"),
    "agnhost": Image("agnhost", ("/agnhost",), ("pause",), "agnhost"),
    "pause": Image("pause", ("/pause",), (), "pause"),
    "busybox": Image("shell", (), _SHELL, None),
    "busyboxplus": Image("shell", (), ("/bin/sh",), None),
    "alpine": Image("shell", (), ("/bin/sh",), None),
    "curl": Image("shell", ("curl",), (), None),
    "ubuntu": Image("shell", (), ("bash",), None),
    "debian": Image("shell", (), ("bash",), None),
    "netshoot": Image("shell", (), ("zsh",), None),
    "network-multitool": Image("shell", (), _SHELL, None),
    "jessie-dnsutils": Image("shell", (), _SHELL, None),
    "dnsutils": Image("shell", (), _SHELL, None),
}
# Program names that, as a command's first word, still mean the built-in
# server (manifests often spell out `command: ["/agnhost", "netexec"]`).
_PROGRAMS = {"nginx": ("nginx", "nginx-debug"), "agnhost": ("agnhost",), "pause": ("pause",)}


def lookup(image: str) -> Image | None:
    """The built-in image an image reference names, or None."""
    return _IMAGES.get(parse_reference(image).name)


def mapped_command(image: str, image_map: dict[str, str]) -> list[str] | None:
    """The cluster config's entrypoint for `image`: exact name, then without tag or digest."""
    if image in image_map:
        return shlex.split(image_map[image])
    bare = image.partition("@")[0]
    colon, slash = bare.rfind(":"), bare.rfind("/")
    if colon > slash:
        bare = bare[:colon]
    if bare in image_map:
        return shlex.split(image_map[bare])
    return None


def effective_argv(entrypoint: list[str] | tuple[str, ...], cmd: list[str] | tuple[str, ...],
                   command: list[str] | None, args: list[str] | None) -> list[str]:
    """Kubernetes' rule: `command` replaces ENTRYPOINT and drops CMD; `args` replaces CMD."""
    if command:
        return list(command) + list(args or [])
    return list(entrypoint) + list(args if args is not None else cmd)


def builtin_for_argv(image: Image, argv: list[str]) -> tuple[str, list[str]] | None:
    """Whether `argv` runs the image's own server, and with which argv.

    The official nginx image's entrypoint script execs its arguments, so only
    `nginx ...` (its CMD) starts the server; any other command runs as given.
    """
    if image.builtin is None or not argv:
        return None
    first = argv[0].rsplit("/", 1)[-1]
    if first == "docker-entrypoint.sh":
        argv = argv[1:]
        first = argv[0].rsplit("/", 1)[-1] if argv else ""
    if image.kind == "nginxhttps" and first == "auto-reload-nginx.sh":
        return image.builtin, ["nginx", "-g", "daemon off;"]
    if first in _PROGRAMS.get(image.kind, ()) or \
            (image.kind == "nginxhttps" and first == "nginx"):
        return image.builtin, argv
    return None


def pull_error(image: str) -> str:
    """The ErrImagePull message for an image emunet cannot run by itself."""
    names = ", ".join(BUILTIN_NAMES)
    return (f'Failed to pull image "{image}": emunet runs no container images: "{image}" is '
            f"not a built-in image (built in: {names}). Give the container a command to run "
            f"on the host, or map the image in the cluster config "
            f'(images: {{"{image}": "python3 -m myapp"}}).')
