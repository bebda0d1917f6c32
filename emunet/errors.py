"""API errors as values of one hierarchy, rendered as `metav1.Status`.

Handlers raise; the API server's middleware renders. The messages follow the
apiserver's own wording, because kubectl prints them verbatim
(`Error from server (NotFound): services "x" not found`).
"""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if reason is not None:
            self.reason = reason

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message,
            "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


class NotFound(ApiError):
    code = 404
    reason = "NotFound"

    def __init__(self, resource: str, name: str, group: str = "") -> None:
        super().__init__(f'{_qualified(resource, group)} "{name}" not found',
                         details={"name": name, "group": group, "kind": resource})


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"

    def __init__(self, resource: str, name: str, group: str = "") -> None:
        super().__init__(f'{_qualified(resource, group)} "{name}" already exists',
                         details={"name": name, "group": group, "kind": resource})


class Conflict(ApiError):
    code = 409
    reason = "Conflict"

    def __init__(self, resource: str, name: str, group: str = "",
                 why: str = "the object has been modified; please apply your "
                            "changes to the latest version and try again") -> None:
        super().__init__(
            f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
            details={"name": name, "group": group, "kind": resource})


class Gone(ApiError):
    code = 410
    reason = "Expired"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class TooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Cause(dict):
    """One `details.causes` entry: reason, message and the field path."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(reason=reason, message=message, field=field)


def required(field: str) -> Cause:
    return Cause(field, "FieldValueRequired", "Required value")


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, "FieldValueInvalid", f"Invalid value: {_render(value)}: {detail}")


def unsupported(field: str, value: Any, allowed: list[str]) -> Cause:
    choices = ", ".join(f'"{a}"' for a in allowed)
    return Cause(field, "FieldValueNotSupported",
                 f"Unsupported value: {_render(value)}: supported values: {choices}")


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, "FieldValueDuplicate", f"Duplicate value: {_render(value)}")


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, "FieldValueForbidden", f"Forbidden: {detail}")


def _render(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


class Invalid(ApiError):
    """422 with causes; the message lists each cause as the apiserver does."""

    code = 422
    reason = "Invalid"

    def __init__(self, kind: str, name: str, causes: list[Cause], group: str = "") -> None:
        parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"]
                 for c in causes]
        if len(parts) == 1:
            summary = parts[0]
        else:
            summary = "[" + ", ".join(parts) + "]"
        super().__init__(f'{kind} "{name}" is invalid: {summary}',
                         details={"name": name, "group": group, "kind": kind.split(".")[0],
                                  "causes": [dict(c) for c in causes]})
        self.causes = causes
