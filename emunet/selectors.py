"""Label selectors: parsing, matching and canonical strings.

Label selectors arrive in two forms: the `?labelSelector=` text kubectl sends
(`-l run=my-nginx,tier in (web,api),!canary`) and the `metav1.LabelSelector`
objects inside Deployments, ReplicaSets and Services' owners. Both become one
`LabelSelector` value: a sorted tuple of requirements, which is what the
apiserver builds (`labels.Parse`, `metav1.LabelSelectorAsSelector`), so that
matching, `String()` and error messages all agree with it. The text grammar is
a small lexer plus a recursive-descent parser mirroring upstream's tokens, so
odd inputs (`a in ()`, `a=`, `!a`) mean what they mean to a real cluster.

Field selectors (`?fieldSelector=`) share little with label selectors beyond
the query string they arrive in: another grammar, other matching, other errors.
They live in `emunet.fields` and are re-exported here, so that callers find both
kinds of selector in one module. All functions are pure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from emunet import errors
from emunet.fields import (
    FieldRequirement,
    FieldSelector,
    escape_value,
    field_value,
    parse_field_selector,
)

__all__ = [
    "DOES_NOT_EXIST", "DOUBLE_EQUALS", "EQUALS", "EVERYTHING", "EXISTS", "GREATER_THAN", "IN",
    "LESS_THAN", "NOTHING", "NOT_EQUALS", "NOT_IN", "FieldRequirement", "FieldSelector",
    "LabelSelector", "Requirement", "escape_value", "field_value", "from_label_selector_object",
    "new_requirement", "parse_field_selector", "parse_label_selector", "selector_string",
]

# --------------------------------------------------------------------------- #
# Validation of keys and values (k8s.io/apimachinery/pkg/util/validation)
# --------------------------------------------------------------------------- #

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character")
_DNS1123_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_RE = re.compile(f"^{_DNS1123_FMT}$")
_DNS1123_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character")
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _qualified_name_errors(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 characters")
            if not _DNS1123_RE.match(prefix):
                errs.append("prefix part "
                            + _regex_error(_DNS1123_MSG, _DNS1123_FMT, "example.com"))
    else:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                    "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QNAME_RE.match(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                "123-abc"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value",
                                 "12345"))
    return errs


def _invalid(path: str, value: str | list | tuple, detail: str) -> str:
    # field.Invalid(...).Error(); a nil *field.Path prints as "<nil>".
    if isinstance(value, (list, tuple)):
        shown = "[" + " ".join(value) + "]"
    else:
        shown = '"' + value + '"'
    return f"{path}: Invalid value: {shown}: {detail}"


# --------------------------------------------------------------------------- #
# Label selectors
# --------------------------------------------------------------------------- #

# Operators as `selection.Operator` spells them.
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "in", "notin", "exists", "!"
GREATER_THAN, LESS_THAN = "gt", "lt"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except (KeyError, ValueError, IndexError):
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


def new_requirement(key: str, operator: str,
                    values: list[str] | tuple[str, ...] = ()) -> Requirement:
    """Validate and build a requirement (`labels.NewRequirement`); raises ValueError."""
    key_errs = _qualified_name_errors(key)
    if key_errs:
        raise ValueError(_invalid("<nil>", key, "; ".join(key_errs)))
    values = tuple(values)
    if operator in (IN, NOT_IN) and not values:
        raise ValueError(_invalid("values", [], "for 'in', 'notin' operators, "
                                  "values set can't be empty"))
    if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        raise ValueError(_invalid("values", list(values),
                                  "exact-match compatibility requires one single value"))
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        raise ValueError(_invalid("values", list(values),
                                  "values set must be empty for exists and does not exist"))
    if operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            raise ValueError(_invalid("values", list(values),
                                      "for 'Gt', 'Lt' operators, exactly one value is required"))
        if not re.fullmatch(r"[+-]?[0-9]+", values[0]):
            raise ValueError(_invalid("values[0]", values[0],
                                      "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, value in enumerate(values):
        value_errs = _label_value_errors(value)
        if value_errs:
            raise ValueError(_invalid(f"values[{i}][{key}]", value, "; ".join(value_errs)))
    return Requirement(key, operator, values)


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements, sorted by key; `nothing` selects no object."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: dict | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True for the selector that matches everything (`labels.Everything`)."""
        return not self.nothing and not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        for r in self.requirements:
            if r.key == key:
                exact = r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1
                return r.values[0] if exact else None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _sorted(requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# Tokens of the selector grammar.
_END, _ID, _COMMA, _OPEN, _CLOSE, _BANG = "end", "id", ",", "(", ")", "!"
_OPERATOR_TOKENS = {"=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS, ">": GREATER_THAN,
                    "<": LESS_THAN, "in": IN, "notin": NOT_IN}
_SYMBOLS = {"=", "!", "(", ")", ",", ">", "<"}
_SYMBOL_TOKENS = {")": _CLOSE, ",": _COMMA, "!": _BANG, "(": _OPEN}
_WHITESPACE = " \t\r\n"


def _lex(text: str) -> list[tuple[str, str]]:
    """Split selector text into (token, literal) pairs, as upstream's lexer does."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SYMBOLS:
            # Longest run of symbols that still spells a known token.
            best = None
            j = i
            while j < n and text[j] in _SYMBOLS:
                candidate = text[i:j + 1]
                if candidate in _OPERATOR_TOKENS or candidate in _SYMBOL_TOKENS:
                    best = candidate
                elif best is not None:
                    break
                j += 1
            if best is None:
                # Upstream emits an error token whose literal is this message.
                tokens.append(("error", f"error expected: keyword found '{text[i:j]}'"))
                i = j
                continue
            tokens.append((_SYMBOL_TOKENS.get(best, best), best))
            i += len(best)
            continue
        j = i
        while j < n and text[j] not in _SYMBOLS and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        tokens.append((word if word in ("in", "notin") else _ID, word))
        i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.tokens[self.pos]
        # In value position `in`/`notin` are ordinary identifiers.
        return (_ID if values and tok in ("in", "notin") else tok), lit

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok == _END:
                return requirements
            if tok not in (_ID, _BANG):
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except ValueError as err:
                raise ValueError(f"unable to parse requirement: {err}") from None
            tok, lit = self.take()
            if tok == _END:
                return requirements
            if tok != _COMMA:
                raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in (_ID, _BANG):
                raise ValueError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        operator = ""
        tok, key = self.take()
        if tok == _BANG:
            operator = DOES_NOT_EXIST
            tok, key = self.take()
        if tok != _ID:
            raise ValueError(f"found '{key}', expected: identifier")
        key_errs = _qualified_name_errors(key)
        if key_errs:
            raise ValueError(_invalid("<nil>", key, "; ".join(key_errs)))
        # `!a` ends the requirement even if more follows, so `!a=b` fails on
        # the `=` with "expected: ',' or 'end of string'", as upstream.
        if operator == DOES_NOT_EXIST or self.peek()[0] in (_END, _COMMA):
            return new_requirement(key, operator or EXISTS)
        tok, lit = self.take(values=False)
        if tok not in _OPERATOR_TOKENS:
            raise ValueError(f"found '{lit}', expected: '=', '!=', '==', 'in', notin'")
        operator = _OPERATOR_TOKENS[tok]
        values = self.values() if operator in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key, operator, sorted(values))

    def values(self) -> set[str]:
        tok, lit = self.take()
        if tok != _OPEN:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == _CLOSE:
            self.take()
            return {""}
        if tok not in (_ID, _COMMA):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        found = self.identifiers()
        if self.take()[0] != _CLOSE:
            raise ValueError(f"found '{lit}', expected: ')'")
        return found

    def identifiers(self) -> set[str]:
        found: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok == _ID:
                found.add(lit)
                nxt, nlit = self.peek()
                if nxt == _COMMA:
                    continue
                if nxt == _CLOSE:
                    return found
                raise ValueError(f"found '{nlit}', expected: ',' or ')'")
            if tok == _COMMA:
                # "(,a)", "(a,)" and "(a,,b)" each contribute the empty value.
                if not found:
                    found.add("")
                nxt, _ = self.peek()
                if nxt == _CLOSE:
                    found.add("")
                    return found
                if nxt == _COMMA:
                    self.take()
                    found.add("")
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.peek()
        if tok in (_END, _COMMA):
            return {""}
        tok, lit = self.take()
        if tok == _ID:
            return {lit}
        raise ValueError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse kubectl's `-l` syntax; raises `errors.BadRequest` with upstream's message."""
    try:
        return _sorted(_Parser(text or "").parse())
    except ValueError as err:
        raise errors.BadRequest(str(err)) from None


_OBJECT_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def from_label_selector_object(sel: dict | None) -> LabelSelector:
    """Convert a `metav1.LabelSelector` dict as `LabelSelectorAsSelector` does.

    `None` (the field is absent) selects nothing; `{}` (present but empty)
    selects everything. That asymmetry is upstream's and matters: a
    ReplicaSet with no selector must not adopt every pod in its namespace.
    """
    if sel is None:
        return NOTHING
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    requirements: list[Requirement] = []
    try:
        for key, value in match_labels.items():
            requirements.append(new_requirement(key, EQUALS, [value]))
        for expr in expressions:
            op = expr.get("operator")
            if op not in _OBJECT_OPERATORS:
                raise ValueError(f'"{op}" is not a valid label selector operator')
            requirements.append(new_requirement(expr.get("key", ""), _OBJECT_OPERATORS[op],
                                                list(expr.get("values") or [])))
    except ValueError as err:
        raise errors.BadRequest(str(err)) from None
    return _sorted(requirements)


def selector_string(sel: dict | None) -> str:
    """The canonical text of a `metav1.LabelSelector` (`kubectl get rs -o wide`, Scale status)."""
    return str(from_label_selector_object(sel))
