"""Turn pydantic validation errors into ``ConfigError`` messages a person can act on.

Each line reads ``<file>: <dotted.key.path>: <problem>; got <value>; <allowed>; fix: <fix>``.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from a2f_actors.errors import ConfigError
from a2f_actors.params import unknown_name_message


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """Strip Optional/Annotated; return the bare type and the Annotated metadata."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation, metadata
        else:
            return annotation, metadata


def _resolve(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    """Walk ``loc`` through ``model``; return the leaf type (or model) and its constraints."""
    current: Any = model
    metadata: list[Any] = []
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field: FieldInfo | None = current.model_fields.get(str(part))
            if field is None:
                return current, []
            current, metadata = _unwrap(field.annotation)
            metadata = [*field.metadata, *metadata]
        elif typing.get_origin(current) is dict:
            current, metadata = _unwrap(typing.get_args(current)[1])
        else:
            return None, []
    return current, metadata


def _allowed(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Describe the allowed values of the field at ``loc`` (range or choices), or ''."""
    leaf, metadata = _resolve(model, loc)
    lo = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    lo = (
        lo
        if lo is not None
        else next((m.gt for m in metadata if isinstance(m, annotated_types.Gt)), None)
    )
    hi = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if lo is not None or hi is not None:
        return f"allowed range [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
    if typing.get_origin(leaf) is typing.Literal:
        return "allowed values: " + ", ".join(str(a) for a in typing.get_args(leaf))
    return ""


def _one(model: type[BaseModel], err: Any) -> str:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "<top level>"
    kind = err["type"]
    if kind == "extra_forbidden":
        parent, _ = _resolve(model, loc[:-1])
        valid = list(parent.model_fields) if isinstance(parent, type) else []
        hint = unknown_name_message("key", str(loc[-1]), valid)
        return f"{path}: {hint}; fix: remove or rename the key"
    if kind == "missing":
        return f"{path}: required key is missing; fix: add it"
    msg = str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input")
    allowed = _allowed(model, loc)
    parts = [f"{path}: {msg}"]
    if not isinstance(value, dict | list):
        parts.append(f"got {value!r}")
    if allowed:
        parts += [allowed, f"fix: set {path} to a value in that {_range_word(allowed)}"]
    elif kind != "value_error":
        parts.append("fix: correct the value")
    return "; ".join(parts)


def _range_word(allowed: str) -> str:
    return "range" if allowed.startswith("allowed range") else "list"


def to_config_error(exc: ValidationError, model: type[BaseModel], where: str) -> ConfigError:
    """Convert ``exc`` (raised validating ``model``) into one ConfigError, a line per problem."""
    lines = [f"{where}: {_one(model, err)}" for err in exc.errors()]
    head = f"{where}: {len(lines)} invalid setting(s)\n" if len(lines) > 1 else ""
    return ConfigError(head + "\n".join(lines))
