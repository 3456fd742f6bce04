"""NIM v2.0 compatible configuration: stylization, deployment and advanced files.

Load with :func:`load_config`; per-stream parameters come from :mod:`.runtime`; v1.3 files are
converted by :mod:`.migrate`. See docs/configuration.md.
"""

from __future__ import annotations

from a2f_actors.config.advanced import AdvancedConfig
from a2f_actors.config.deployment import DeploymentConfig
from a2f_actors.config.loader import A2FConfig, load_config, load_file
from a2f_actors.config.runtime import StreamParams, apply_runtime, stylized_params
from a2f_actors.config.stylization import StylizationConfig

__all__ = [
    "A2FConfig",
    "AdvancedConfig",
    "DeploymentConfig",
    "StreamParams",
    "StylizationConfig",
    "apply_runtime",
    "load_config",
    "load_file",
    "stylized_params",
]
