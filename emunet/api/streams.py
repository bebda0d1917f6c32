"""Pod streams: exec, attach, logs and port-forward, relayed to the pod's kubelet.

As in Kubernetes, the API server does not run anything in pods itself: it
checks the request, finds the node the pod runs on, and relays the stream to
that node's kubelet (`<InternalIP>:<kubeletEndpoint>`), WebSocket frames
(channel protocol v5, which kubectl 1.30+ speaks; for port-forward, SPDY
tunnelled in WebSocket messages, as kubectl 1.31+ sends it) passing through
unchanged.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from .. import errors

if TYPE_CHECKING:
    from .server import ApiServer

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORT_FORWARD = "SPDY/3.1+portforward.k8s.io"


def _container(pod: dict[str, Any], wanted: str | None, sub: str) -> str:
    names = [c["name"] for c in pod["spec"].get("containers", [])]
    init_names = [c["name"] for c in pod["spec"].get("initContainers") or []]
    name = pod["metadata"]["name"]
    if not wanted:
        default = (pod["metadata"].get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container")
        if isinstance(default, str) and default in names:
            return default
        if len(names) == 1 or sub != "log":
            return names[0]
        more = (f" or one of the init containers: [{' '.join(init_names)}]"
                if init_names else "")
        raise errors.BadRequest(f"a container name must be specified for pod {name}, "
                                f"choose one of: [{' '.join(names)}]{more}")
    if wanted not in names and wanted not in init_names:
        raise errors.BadRequest(f"container {wanted} is not valid for pod {name}")
    return wanted


def _kubelet_url(server: ApiServer, pod: dict[str, Any]) -> str:
    node_name = pod["spec"].get("nodeName")
    name = pod["metadata"]["name"]
    if not node_name:
        raise errors.BadRequest(f"pod {name} does not have a host assigned")
    node = server.store.peek("nodes", "", node_name)
    if node is None:
        raise errors.BadRequest(f"node {node_name} of pod {name} is gone")
    addr = next((a["address"] for a in node.get("status", {}).get("addresses", [])
                 if a.get("type") == "InternalIP"), None)
    port = node.get("status", {}).get("daemonEndpoints", {}).get(
        "kubeletEndpoint", {}).get("Port", 10250)
    return f"http://{addr}:{port}"


def _waiting_reason(pod: dict[str, Any], container: str) -> str | None:
    status = pod.get("status", {})
    for cs in (status.get("containerStatuses") or []) + \
            (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            if "waiting" in cs.get("state", {}) and not cs.get("lastState", {}).get("terminated"):
                return cs["state"]["waiting"].get("reason", "ContainerCreating")
            return None
    return "ContainerCreating"


async def proxy(server: ApiServer, request: web.Request, pod: dict[str, Any],
                sub: str) -> web.StreamResponse:
    if sub == "portforward":
        return await _port_forward(server, request, pod)
    container = _container(pod, request.query.get("container"), sub)
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    reason = _waiting_reason(pod, container)
    if reason is not None and not (sub == "log" and request.query.get("previous") == "true"):
        raise errors.BadRequest(f'container "{container}" in pod "{name}" is waiting to '
                                f"start: {reason}")
    base = _kubelet_url(server, pod)
    path = {"log": "containerLogs", "exec": "exec", "attach": "attach"}[sub]
    url = f"{base}/{path}/{ns}/{name}/{container}"
    headers = {"Authorization": f"Bearer {server.token}"}
    query = [(k, v) for k, v in request.query.items() if k != "container"]
    if sub == "log":
        return await _relay_http(request, url, query, headers)
    return await _relay_ws(request, url, query, headers)


async def _port_forward(server: ApiServer, request: web.Request,
                        pod: dict[str, Any]) -> web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if PORT_FORWARD not in offered:
        # kubectl falls back to a SPDY upgrade when the WebSocket one fails; emunet
        # speaks only the tunnelled form, which kubectl 1.31 and newer use.
        raise errors.BadRequest("port-forward needs a WebSocket upgrade with the "
                                f"{PORT_FORWARD} subprotocol (kubectl 1.31 or newer)")
    name = pod["metadata"]["name"]
    phase = pod.get("status", {}).get("phase")
    if phase != "Running":
        raise errors.BadRequest(f"unable to forward port because pod is not running. "
                                f"Current status={phase}")
    base = _kubelet_url(server, pod)
    url = f"{base}/portForward/{pod['metadata']['namespace']}/{name}"
    return await _relay_ws(request, url, list(request.query.items()),
                           {"Authorization": f"Bearer {server.token}"}, (PORT_FORWARD,))


async def _relay_http(request: web.Request, url: str, query: list[tuple[str, str]],
                      headers: dict[str, str]) -> web.StreamResponse:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            upstream = await session.get(url, params=query, headers=headers)
        except aiohttp.ClientError as e:
            raise errors.ApiError(f"the node's kubelet did not answer: {e}", code=502,
                                  reason="ServiceUnavailable") from None
        async with upstream:
            if upstream.status != 200:
                text = await upstream.text()
                raise errors.ApiError(text.strip(), code=upstream.status,
                                      reason="BadRequest" if upstream.status == 400 else "InternalError")
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            except ConnectionResetError:
                return resp
            await resp.write_eof()
            return resp


async def _relay_ws(request: web.Request, url: str, query: list[tuple[str, str]],
                    headers: dict[str, str],
                    protocols: tuple[str, ...] = PROTOCOLS) -> web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    proto = next((p for p in protocols if p in offered), None)
    if proto is None:
        raise errors.BadRequest("exec and attach need a WebSocket upgrade with the "
                                "v5.channel.k8s.io subprotocol (kubectl 1.30 or newer)")
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
    try:
        try:
            upstream = await session.ws_connect(url.replace("http://", "ws://"), params=query,
                                                headers=headers, protocols=(proto,),
                                                max_msg_size=0)
        except aiohttp.ClientError as e:
            raise errors.ApiError(f"the node's kubelet did not answer: {e}", code=502,
                                  reason="ServiceUnavailable") from None
        ws = web.WebSocketResponse(protocols=(proto,), max_msg_size=0, autoping=True)
        await ws.prepare(request)

        async def down() -> None:
            async for msg in upstream:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str(msg.data)
            await ws.close()

        async def up() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await upstream.send_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    await upstream.send_str(msg.data)
            await upstream.close()

        tasks = [asyncio.create_task(down(), name="ws-down"),
                 asyncio.create_task(up(), name="ws-up")]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            # Output still in flight from the kubelet must reach the client first.
            if tasks[0] not in done:
                try:
                    await asyncio.wait_for(tasks[0], 5)
                except (TimeoutError, ConnectionResetError):
                    pass
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await ws.close()
        return ws
    finally:
        await session.close()
