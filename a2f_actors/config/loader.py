"""Load, merge and validate the three NIM config files.

Effective config = embedded defaults (``defaults/*.yaml``) deep-merged with the user's file,
then validated by the pydantic model. Errors name the file, the dotted key path, the value,
what is allowed and the fix; YAML syntax errors name the file and the line.
"""

from __future__ import annotations

import copy
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from a2f_actors.config._errors import to_config_error
from a2f_actors.config._version import detect_version
from a2f_actors.config.advanced import AdvancedConfig
from a2f_actors.config.deployment import DeploymentConfig
from a2f_actors.config.stylization import StylizationConfig
from a2f_actors.errors import ConfigError

Kind = Literal["stylization", "deployment", "advanced"]
KINDS: tuple[Kind, ...] = ("stylization", "deployment", "advanced")
MODELS: dict[str, type[BaseModel]] = {
    "stylization": StylizationConfig,
    "deployment": DeploymentConfig,
    "advanced": AdvancedConfig,
}

_ONLY_KEYS: dict[str, frozenset[str]] = {
    "stylization": frozenset({"default_beginning_emotions"}),
    "deployment": frozenset({"common", "logging", "endpoints", "telemetry"}),
    "advanced": frozenset(
        {"input_sanitization", "garbage_collector", "pipeline_parameters"}
        | {"trt_model_generation", "resampling"}
    ),
}
_STYLIZATION_SUBKEYS = frozenset(
    {"face_params", "blendshape_params", "inference_type", "inference_model_id"}
    | {"regression_model", "diffusion_model", "enable_tongue_blendshapes", "blendshape_id"}
    | {"post_processing_params", "enabled", "live_transition_time"}
)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str) -> dict[str, Any]:
    """Parse YAML text whose top level must be a mapping (an empty document gives {}).

    Raises:
        ConfigError: ``<where>:<line>:<column>: YAML syntax error: ...`` or a non-mapping top.
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{where}{line}: YAML syntax error: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML error: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file (see :func:`parse_yaml`); a missing file is a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the file ({exc.strerror or exc})") from None
    return parse_yaml(text, str(p))


def default_data(kind: Kind) -> dict[str, Any]:
    """The embedded default file of ``kind`` as plain data (a fresh copy)."""
    ref = importlib.resources.files("a2f_actors.config") / "defaults" / f"{kind}.yaml"
    return parse_yaml(ref.read_text(encoding="utf-8"), f"<embedded {kind}.yaml>")


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` overlaid by ``over``: mappings merge key by key, other values replace."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def detect_kind(data: Mapping[str, Any], path: str | Path | None = None) -> Kind:
    """Guess which of the three files ``data`` is: from the file name, else from its keys.

    Raises:
        ConfigError: when neither the name nor the keys tell.
    """
    name = Path(path).name.lower() if path else ""
    for kind in KINDS:
        if kind in name:
            return kind
    for kind in KINDS:
        if _ONLY_KEYS[kind] & set(data):
            return kind
    for section in ("a2f", "a2e"):
        sub = data.get(section)
        if isinstance(sub, Mapping) and _STYLIZATION_SUBKEYS & set(sub):
            return "stylization"
    if {"a2f", "a2e"} & set(data):
        return "advanced"
    raise ConfigError(
        f"{path or '<data>'}: cannot tell whether this is a stylization, deployment or advanced "
        f"config; put the kind in the file name (e.g. mark_stylization_config.yaml)"
    )


def validate_data(kind: Kind, data: Mapping[str, Any], where: str) -> BaseModel:
    """Validate ``data`` merged over the embedded defaults of ``kind``.

    Raises:
        ConfigError: for a NIM v1.3 file (use ``a2f config migrate``) or any invalid setting.
    """
    if kind != "advanced" and detect_version(kind, data) != "2.0":
        raise ConfigError(
            f"{where}: this is a NIM v1.3 {kind} config; convert it with "
            f"`a2f config migrate {where} -o NEW.yaml`"
        )
    model = MODELS[kind]
    try:
        return model.model_validate(deep_merge(default_data(kind), data))
    except ValidationError as exc:
        raise to_config_error(exc, model, where) from None


def load_file(path: str | Path, kind: Kind | None = None) -> tuple[Kind, BaseModel]:
    """Read, merge and validate one file; ``kind`` is detected when not given."""
    data = read_yaml(path)
    kind = kind or detect_kind(data, path)
    return kind, validate_data(kind, data, Path(path).name)


@dataclass(frozen=True)
class A2FConfig:
    """The three validated configs of one deployment."""

    stylization: StylizationConfig
    deployment: DeploymentConfig
    advanced: AdvancedConfig

    def to_data(self) -> dict[str, Any]:
        """Plain data (for YAML/JSON output), keyed by kind."""
        return {k: getattr(self, k).model_dump(mode="json") for k in KINDS}


def load_config(
    stylization: str | Path | None = None,
    deployment: str | Path | None = None,
    advanced: str | Path | None = None,
) -> A2FConfig:
    """Load the effective config: embedded defaults overlaid by each given file."""
    paths = {"stylization": stylization, "deployment": deployment, "advanced": advanced}
    models: dict[str, Any] = {}
    for kind, path in paths.items():
        if path is None:
            models[kind] = validate_data(kind, {}, f"<embedded {kind}.yaml>")
        else:
            models[kind] = load_file(path, kind)[1]
    return A2FConfig(**models)
