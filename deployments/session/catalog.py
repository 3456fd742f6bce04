"""The models a replica serves and each one's deployment-wide stream parameters.

Built once per replica from :class:`~deployments.settings.ServeSettings` and the NIM configs:
model id -> :class:`ModelInfo` (kind, frame rate, the stylized :class:`StreamParams` with the
package's ``model_config.json`` defaults under the stylization config). Packages are opened
with :func:`a2f_actors.model_package.load_package` (arrays memory-mapped, so this is cheap).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from a2f_actors.config import A2FConfig, StreamParams, stylized_params
from a2f_actors.model_package import load_package
from a2f_actors.model_package.json_files import read_json
from a2f_actors.windows import DIFFUSION_FPS
from deployments.session.errors import ServiceError, StatusCode
from deployments.settings import ModelEntry, ServeSettings


@dataclass(frozen=True)
class ModelInfo:
    """One servable A2F model.

    Attributes:
        model_id: the id clients select.
        kind: ``regression`` or ``diffusion``.
        fps: animation frame rate (regression: configured; diffusion: 60).
        params: deployment-wide stream parameters (model defaults < stylization).
        a2e_model: A2E model id run on its streams, or None.
    """

    model_id: str
    kind: str
    fps: float
    params: StreamParams
    a2e_model: str | None


def _model_config(entry: ModelEntry, package: Any) -> Mapping[str, Any] | None:
    files = getattr(package, "files", None)
    if files is None:
        return None
    paths = files.paths
    if entry.kind == "regression":
        path = paths.get("modelConfigPath")
    else:
        names = [i.name.lower() for i in package.identities]
        index = names.index((entry.identity or names[0]).lower())
        path = paths.get(f"modelConfigPaths[{index}]")
    return read_json(path) if path is not None else None


def _a2e_config(settings: ServeSettings) -> Mapping[str, Any] | None:
    entry = settings.model(settings.a2e_model) if settings.a2e_model else None
    if entry is None:
        return None
    package = load_package(entry.path)
    path = package.files.paths.get("modelConfigPath") if package.files else None
    return read_json(path) if path is not None else None


class Catalog:
    """Model id -> :class:`ModelInfo` for one replica.

    Args:
        settings: the serve settings (model entries, default model, A2E, fps).
        config: the NIM configs (stylization gives the default model and parameters).
    """

    def __init__(self, settings: ServeSettings, config: A2FConfig) -> None:
        self.models: dict[str, ModelInfo] = {}
        a2e_cfg = _a2e_config(settings)
        a2e_on = settings.a2e_model is not None and config.stylization.a2e.enabled
        for entry in settings.models:
            if entry.kind == "a2e":
                continue
            package = load_package(entry.path)
            params = stylized_params(config.stylization, _model_config(entry, package), a2e_cfg)
            fps = float(settings.fps) if entry.kind == "regression" else float(DIFFUSION_FPS)
            a2e = settings.a2e_model if a2e_on else None
            self.models[entry.model_id] = ModelInfo(entry.model_id, entry.kind, fps, params, a2e)
        self.default = settings.default_model or self._stylization_default(config)

    def _stylization_default(self, config: A2FConfig) -> str:
        a2f = config.stylization.a2f
        if a2f.inference_type == "diffusion":
            wanted = a2f.diffusion_model.inference_model_id
        else:
            wanted = a2f.regression_model.inference_model_id
        if wanted in self.models or not self.models:
            return wanted
        return next(iter(self.models))

    def resolve(self, model_id: str | None) -> ModelInfo:
        """The model of a stream (None = the default).

        Raises:
            ServiceError: NOT_FOUND naming the served models.
        """
        key = model_id or self.default
        info = self.models.get(key)
        if info is None:
            raise ServiceError(
                StatusCode.NOT_FOUND,
                f"model {key!r} is not served here; choose one of {sorted(self.models)}",
            )
        return info
