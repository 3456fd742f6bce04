"""Tell a NIM v1.3 config file from a v2.0 one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from a2f_actors.config.deployment import V13_LOG_LEVELS

#: Keys of the v1.3 stylization ``a2f`` section that v2.0 removed or moved.
V13_A2F_KEYS: tuple[str, ...] = ("inference_model_id", "blendshape_id", "tongue_blendshape_id")


def detect_version(kind: str, data: Mapping[str, Any]) -> str:
    """Return "1.3" if ``data`` has the v1.3 layout of ``kind``, else "2.0".

    An advanced file counts as v1.3 when its ``pipeline_parameters`` lack both v2.0 pacing keys
    (such a file still loads: the new keys take their defaults).
    """
    if kind == "stylization":
        a2f = data.get("a2f")
        return "1.3" if isinstance(a2f, Mapping) and any(k in a2f for k in V13_A2F_KEYS) else "2.0"
    if kind == "deployment":
        logging = data.get("logging")
        level = logging.get("log_level") if isinstance(logging, Mapping) else None
        level = "off" if level is False else level  # YAML 1.1 reads a bare `off` as false
        return "1.3" if level in V13_LOG_LEVELS else "2.0"
    pipeline = data.get("pipeline_parameters")
    new_keys = {"burst_mode", "blendshape_streaming_fps"}
    return "1.3" if isinstance(pipeline, Mapping) and not new_keys & set(pipeline) else "2.0"
