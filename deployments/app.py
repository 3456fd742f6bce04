"""``build_app(settings)``: the ONLY place applying ``serve.deployment`` / ``.options`` / ``.bind``.

Graph (one Serve application)::

    ApiIngress (owns :52000; HTTP/WebSocket via Serve's proxy :8000; tenants, sessions, ticks)
       |-- AudioEncoder      encode(items)   decode + resample + schedule, all streams of a tick
       |-- EmotionDetector   detect(items)   A2E (only when an A2E model is configured)
       |-- A2FInference      infer(items)    cut windows + network via the backend
       '-- BlendshapeSolver  solve(items)    post-processing + solve (compact path)
    TritonOwner (backend "triton" without an external triton_url): one tritonserver

Every deployment gets a small explicit ``num_cpus`` and an autoscaling config from
:class:`~deployments.settings.ServeSettings` ``deployments``. Where batching happens: the
ingress tick batches all its streams into one call per stage; inside a stage, items of the same
model share backend calls; Triton's dynamic batcher merges calls from several replicas. No
``@serve.batch`` anywhere (it would add a wait to calls that are already batched).
"""

from __future__ import annotations

from typing import Any

from deployments.settings import ServeSettings


def _options(settings: ServeSettings, stage: str, fixed_replicas: bool = False) -> dict[str, Any]:
    opt = settings.deployment(stage)
    out: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": opt.num_cpus},
        "max_ongoing_requests": opt.max_ongoing_requests,
    }
    if fixed_replicas or opt.min_replicas == opt.max_replicas:
        out["num_replicas"] = max(1, opt.max_replicas if not fixed_replicas else 1)
    else:
        out["autoscaling_config"] = {
            "min_replicas": opt.min_replicas,
            "max_replicas": opt.max_replicas,
            "target_ongoing_requests": opt.target_ongoing_requests,
            "upscale_delay_s": 3,
            "downscale_delay_s": 30,
        }
    return out


def build_app(settings: ServeSettings | None = None) -> Any:
    """Bind the cluster's Serve application.

    Args:
        settings: the serve settings (default: :func:`deployments.settings.load_settings`).

    Returns:
        The bound application (``serve.run(build_app(s), name=s.app_name, route_prefix=...)``).
    """
    from ray import serve

    from deployments.audio_encoder import AudioEncoder
    from deployments.emotion import EmotionDetector
    from deployments.face_inference import A2FInference
    from deployments.settings import load_settings
    from deployments.solver import BlendshapeSolver
    from deployments.triton_owner import TritonOwner

    s = settings or load_settings()

    def deploy(cls: type, stage: str, name: str, fixed: bool = False) -> Any:
        return serve.deployment(cls, name=name).options(**_options(s, stage, fixed))

    triton = None
    if s.backend == "triton" and s.triton_url is None:
        triton = deploy(TritonOwner, "triton", "TritonOwner", fixed=True).bind(s)
    encoder = deploy(AudioEncoder, "audio_encoder", "AudioEncoder").bind(s)
    inference = deploy(_Staged(A2FInference), "inference", "A2FInference").bind(s, triton)
    solver = deploy(_Staged(BlendshapeSolver), "solver", "BlendshapeSolver").bind(s, None)
    detector = None
    if s.a2e_model:
        detector = deploy(_Staged(EmotionDetector), "emotion", "EmotionDetector").bind(s, triton)
    # The ingress: NIM gRPC + HTTP/WebSocket (FastAPI, late-bound app) + tenants, one replica
    from deployments.ingress.http.ingress import ApiIngress

    ingress = deploy(serve.ingress()(ApiIngress), "ingress", "ApiIngress", fixed=True)
    return ingress.bind(s, encoder, detector, inference, solver)


def _Staged(cls: type) -> type:
    """A Serve-constructible wrapper: ``(settings, triton_owner_handle)`` -> ``cls.from_settings``.

    With a TritonOwner the constructor waits until the server is up (its address is known from
    the settings; the owner's handle only serializes start-up).
    """

    class Staged(cls):  # type: ignore[misc, valid-type]
        async def __init__(self, settings: ServeSettings, triton: Any = None) -> None:
            if triton is not None:
                await triton.address.remote()
            built = cls.from_settings(settings)
            self.__dict__.update(built.__dict__)

    Staged.__name__ = Staged.__qualname__ = cls.__name__
    return Staged
