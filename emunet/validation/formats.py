"""The string formats of names, label keys and values, ports and config keys.

Each rule returns upstream's messages for a value (`[]` when it is valid),
worded as apimachinery's `IsDNS1123Label`, `IsQualifiedName` and friends word
them, regex and examples included, because kubectl shows them verbatim. They
return strings rather than causes so that one rule serves every field path it
guards; `common.each` turns messages into causes at a path.
"""
from __future__ import annotations

import re
from typing import Any

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_QUALIFIED_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
                  "and end with an alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _full(regex: str, value: str) -> bool:
    return re.fullmatch(regex, value) is not None


def dns1123_label(value: str) -> list[str]:
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_DNS1123_LABEL, value):
        msgs.append(_regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character",
            _DNS1123_LABEL, "my-name", "123-abc"))
    return msgs


def dns1123_subdomain(value: str) -> list[str]:
    msgs = [_max_len(253)] if len(value) > 253 else []
    if not _full(_DNS1123_SUBDOMAIN, value):
        msgs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            _DNS1123_SUBDOMAIN, "example.com"))
    return msgs


def dns1035_label(value: str) -> list[str]:
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_DNS1035_LABEL, value):
        msgs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_LABEL, "my-name", "abc-123"))
    return msgs


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix and '/', then a name."""
    parts = value.split("/")
    msgs: list[str] = []
    if len(parts) > 2:
        return [_regex_error("a qualified name " + _QUALIFIED_MSG, _QUALIFIED_NAME,
                             "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            msgs.append("prefix part must be non-empty")
        else:
            msgs += ["prefix part " + m for m in dns1123_subdomain(parts[0])]
    if not name:
        msgs.append("name part must be non-empty")
    elif len(name) > 63:
        msgs.append("name part " + _max_len(63))
    if not _full(_QUALIFIED_NAME, name):
        msgs.append("name part " + _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME,
                                                "MyName", "my.name", "123-abc"))
    return msgs


def label_value(value: str) -> list[str]:
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_LABEL_VALUE, value):
        msgs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character",
            _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return msgs


def port_name(value: str) -> list[str]:
    """An IANA_SVC_NAME, as a named targetPort or containerPort name must be."""
    msgs = [_max_len(15)] if len(value) > 15 else []
    if not _full("[-a-z0-9]+", value):
        msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        msgs.append("must contain at least one letter (a-z)")
    if "--" in value:
        msgs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        msgs.append("must not begin or end with a hyphen")
    return msgs


def port_number(value: Any) -> list[str]:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def config_key(value: str) -> list[str]:
    msgs = [_max_len(253)] if len(value) > 253 else []
    if not _full(_CONFIG_KEY, value):
        msgs.append(_regex_error("a valid config key must consist of alphanumeric characters, "
                                 "'-', '_' or '.'", _CONFIG_KEY, "key.name", "KEY_NAME",
                                 "key-name"))
    if value == ".":
        msgs.append("must not be '.'")
    elif value == "..":
        msgs.append("must not be '..'")
    elif value.startswith(".."):
        msgs.append("must not start with '..'")
    return msgs
