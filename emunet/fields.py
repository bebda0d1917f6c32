"""Field selectors (`?fieldSelector=`): parsing, matching and canonical strings.

A field selector is a conjunction of `=`, `==`, `!=` on dotted paths
(k8s.io/apimachinery/pkg/fields). The apiserver supports a per-kind list of
fields; emunet resolves any dotted path generically and compares its string
form, which covers every field kubectl uses (`metadata.name`,
`involvedObject.uid`, `spec.nodeName`...). Values are escaped and unescaped as
`fields.EscapeValue` does, and error messages are upstream's.

Kept apart from label selectors (re-exported by `selectors`): the grammars,
the matching and the errors differ. All functions are pure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emunet import errors

# The inequality operator, spelled as `selection.NotEquals` spells it.
NOT_EQUALS = "!="

# Fields the apiserver fills from a Go zero value when the JSON omits them.
_FIELD_DEFAULTS = {"spec.unschedulable": "false"}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=", "==" or "!="
    value: str

    def __str__(self) -> str:
        op = "!=" if self.operator == NOT_EQUALS else "="
        return f"{self.field}{op}{escape_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field equalities; empty matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict) -> bool:
        for r in self.requirements:
            equal = field_value(obj, r.field) == r.value
            if equal == (r.operator == NOT_EQUALS):
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.requirements

    def requires_exact_match(self, name: str) -> str | None:
        for r in self.requirements:
            if r.field == name and r.operator != NOT_EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def field_value(obj: dict, path: str) -> str:
    """The string a field selector compares: JSON scalars as Go formats them, missing as ""."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _FIELD_DEFAULTS.get(path, "")
        node = node[part]
    if node is None:
        return _FIELD_DEFAULTS.get(path, "")
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, (dict, list)):
        return ""
    return str(node)


def escape_value(value: str) -> str:
    """Escape `\\`, `,` and `=` in a field selector value (`fields.EscapeValue`)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_value(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for c in value:
        if in_slash:
            if c not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: {c}")
        else:
            out.append(c)
    if in_slash:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start, in_slash = 0, False
    for i, c in enumerate(text):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def parse_field_selector(text: str) -> FieldSelector:
    """Parse `?fieldSelector=`; raises `errors.BadRequest` with upstream's message."""
    requirements: list[FieldRequirement] = []
    # Upstream sorts the raw terms, so equivalent selectors print alike.
    for term in sorted(_split_terms(text)) if text else []:
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise errors.BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        lhs, op, rhs = split
        try:
            value = _unescape_value(rhs)
        except ValueError as err:
            raise errors.BadRequest(str(err)) from None
        requirements.append(FieldRequirement(lhs, op, value))
    return FieldSelector(tuple(requirements))
