"""EmotionDetector deployment: A2E windows of many streams -> classifier -> A2E post-processing.

Thin shim over :mod:`a2f_actors.emotion`. Windows are cut here from the 16 kHz segment each
item carries; all windows of one A2E model go to the backend in one batch; the logits of each
stream are post-processed with the stream's parameters and its explicit
:class:`~a2f_actors.emotion.EmotionPostState`, returned with the result. Optional per stream
(``a2e.enabled`` in the stylization config and an ``a2e_model`` in the serve settings).
Batching lives here (one call per ingress tick); no ``@serve.batch``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from a2f_actors.emotion import emotion_param_arrays, new_emotion_state, postprocess_emotions
from deployments.backends.base import InferenceBackend, ModelNotFound, ShapeMismatch
from deployments.face_inference import NetworkInfo, cut, make_backend, network_infos
from deployments.session import records as rec
from deployments.session.packing import Packed, repack, unpack
from deployments.settings import ServeSettings


class EmotionDetector:
    """Runs Audio2Emotion for many streams per call.

    Args:
        networks: A2E model id -> :class:`~deployments.face_inference.NetworkInfo`.
        backend: the inference backend.
    """

    def __init__(self, networks: Mapping[str, NetworkInfo], backend: InferenceBackend) -> None:
        self.networks = dict(networks)
        self.backend = backend

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> EmotionDetector:
        """Build from the serve settings."""
        return cls(network_infos(settings, ("a2e",)), make_backend(settings))

    async def detect(
        self, items: list[rec.EmotionItem] | Packed
    ) -> list[rec.EmotionResult] | Packed:
        """One result per item, in order; a :class:`Packed` call gets a Packed answer."""
        batch, packed = unpack(items)
        return repack(await self._detect(batch), packed)

    async def _detect(self, items: list[rec.EmotionItem]) -> list[rec.EmotionResult]:
        """One result per item, in order."""
        groups: dict[str, list[int]] = defaultdict(list)
        for i, item in enumerate(items):
            groups[item.model_id].append(i)
        results: list[rec.EmotionResult | None] = [None] * len(items)
        for model_id, idx in groups.items():
            group = [items[i] for i in idx]
            for i, res in zip(idx, await self._group(model_id, group), strict=True):
                results[i] = res
        return results  # type: ignore[return-value]

    async def _group(self, model_id: str, items: list[rec.EmotionItem]) -> list:
        """Segments --> [W, L] windows --> logits [W, 6] --> 10-dim emotions per stream."""
        net = self.networks.get(model_id)
        try:
            if net is None:
                raise ModelNotFound(f"A2E model {model_id!r} is not loaded by EmotionDetector")
            windows = np.concatenate([cut(it, it.window_size) for it in items])
            out = await self.backend.infer(net.name, {"input_values": windows})
        except (ModelNotFound, ShapeMismatch) as exc:
            error = rec.StageError("INTERNAL", f"emotion detection failed: {exc}")
            return [
                rec.EmotionResult(it.stream_id, np.zeros((0, 10)), it.state, error) for it in items
            ]
        logits = np.asarray(out["output"], np.float32)
        results, lo = [], 0
        for it in items:
            mine = logits[lo : lo + len(it.starts)]
            lo += len(it.starts)
            state = it.state if it.state is not None else new_emotion_state(1)
            values, state = postprocess_emotions(
                mine[None], emotion_param_arrays([it.params]), state
            )
            results.append(rec.EmotionResult(it.stream_id, values[0], state))
        return results
