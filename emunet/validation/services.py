"""Services and the Endpoints and EndpointSlices that back them.

The Service checks run in upstream's order, since kubectl prints the causes as
listed. An update may not change allocated cluster IPs; one that leaves them
out keeps them, as the registry does. Endpoints and EndpointSlices get the
same port and address checks a Service's ports get, at their own paths.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from emunet import errors

from . import common, formats

Obj = dict[str, Any]
Causes = list[errors.Cause]

# --- services -------------------------------------------------------------

_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _cluster_ips(spec: Obj) -> list[str]:
    if spec.get("clusterIPs"):
        return list(spec["clusterIPs"])
    return [spec["clusterIP"]] if spec.get("clusterIP") else []


def service(svc: Obj) -> Causes:
    spec = svc.get("spec") or {}
    causes: Causes = []
    kind = spec.get("type") or ""
    ips = _cluster_ips(spec)
    headless = bool(ips) and ips[0] == "None"
    ports = spec.get("ports") or []
    if not ports and not headless and kind != "ExternalName":
        causes.append(errors.required("spec.ports"))
    if kind in ("LoadBalancer", "NodePort") and headless:
        causes.append(errors.invalid_value("spec.clusterIPs[0]", "None",
                                           f"may not be set to 'None' for {kind} services"))
    if kind == "ExternalName":
        if ips:
            causes.append(errors.forbidden("spec.clusterIPs",
                                           "may not be set for ExternalName services"))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            causes += common.each("spec.externalName", cname, formats.dns1123_subdomain(cname))
        else:
            causes.append(errors.required("spec.externalName"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        at = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            causes.append(errors.required(f"{at}.name"))
        elif name:
            causes += common.each(f"{at}.name", name, formats.dns1123_label(name))
            if name in names:
                causes.append(errors.duplicate(f"{at}.name", name))
            names.add(name)
        number = port.get("port", 0)
        causes += common.each(f"{at}.port", number, formats.port_number(number))
        causes += common.protocol(f"{at}.protocol", port.get("protocol"))
        causes += common.port_num_or_name(f"{at}.targetPort", port.get("targetPort", 0))
    causes += common.labels(spec.get("selector"), "spec.selector")
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        causes.append(errors.required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        causes.append(errors.unsupported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    elif affinity == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}) \
            .get("timeoutSeconds")
        if not isinstance(timeout, int) or not 0 < timeout <= 86400:
            causes.append(errors.invalid_value(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                "must be greater than 0 and less than 86400"))
    if kind != "ExternalName":
        for i, ip in enumerate(ips):
            if i == 0 and ip == "None":
                continue
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                causes.append(errors.invalid_value(
                    f"spec.clusterIPs[{i}]", ip,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    if not kind:
        causes.append(errors.required("spec.type"))
    elif kind not in _SERVICE_TYPES:
        causes.append(errors.unsupported("spec.type", kind, _SERVICE_TYPES))
    if kind in ("ClusterIP", "ExternalName"):
        for i, port in enumerate(ports):
            if port.get("nodePort"):
                causes.append(errors.forbidden(f"spec.ports[{i}].nodePort",
                                               f"may not be used when `type` is '{kind}'"))
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        key = (port.get("protocol"), port.get("port"))
        if key in seen:
            causes.append(errors.Cause(
                f"spec.ports[{i}]", "FieldValueDuplicate",
                f'Duplicate value: core.ServicePort{{Name:"", '
                f'Protocol:{common.go_value(key[0] or "")}, '
                f"AppProtocol:(*string)(nil), Port:{key[1]}, TargetPort:intstr.IntOrString"
                f'{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}'))
        seen.add(key)
    return causes


def service_update(svc: Obj, old: Obj) -> Causes:
    spec, old_spec = svc.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    # An update that leaves the IPs out keeps the allocated ones, as the registry does.
    new_ips, old_ips = _cluster_ips(spec) or _cluster_ips(old_spec), _cluster_ips(old_spec)
    if old_ips and old_ips[0] == "None" and new_ips and new_ips[0] == "None":
        return []
    shown = common.go_value(new_ips)
    return [common.invalid_raw(f"spec.clusterIPs[{i}]", shown, "may not change once set")
            for i, ip in enumerate(old_ips[:len(new_ips)]) if ip != new_ips[i]]


# --- endpoints ------------------------------------------------------------

def endpoints(ep: Obj) -> Causes:
    causes: Causes = []
    for i, subset in enumerate(ep.get("subsets") or []):
        at = f"subsets[{i}]"
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            causes.append(common.required(at, "must specify `addresses` or `notReadyAddresses`"))
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(key) or []):
                try:
                    ipaddress.ip_address(addr.get("ip", ""))
                except ValueError:
                    causes.append(errors.invalid_value(
                        f"{at}.{key}[{j}].ip", addr.get("ip", ""),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            pat = f"{at}.ports[{j}]"
            if len(ports) > 1 and not port.get("name"):
                causes.append(errors.required(f"{pat}.name"))
            elif port.get("name"):
                causes += common.each(f"{pat}.name", port["name"],
                                      formats.dns1123_label(port["name"]))
            number = port.get("port", 0)
            causes += common.each(f"{pat}.port", number, formats.port_number(number))
            causes += common.protocol(f"{pat}.protocol", port.get("protocol"))
    return causes


def endpointslice(eps: Obj) -> Causes:
    causes: Causes = []
    family = eps.get("addressType") or ""
    if not family:
        causes.append(errors.required("addressType"))
    elif family not in ("FQDN", "IPv4", "IPv6"):
        causes.append(errors.unsupported("addressType", family, ["FQDN", "IPv4", "IPv6"]))
    for i, endpoint in enumerate(eps.get("endpoints") or []):
        if not endpoint.get("addresses"):
            causes.append(common.required(f"endpoints[{i}].addresses",
                                          "must contain at least 1 address"))
    for i, port in enumerate(eps.get("ports") or []):
        if port.get("port") is not None:
            causes += common.each(f"ports[{i}].port", port["port"],
                                  formats.port_number(port["port"]))
        if port.get("protocol") is not None:
            causes += common.protocol(f"ports[{i}].protocol", port["protocol"])
    return causes
