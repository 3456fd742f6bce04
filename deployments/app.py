"""``build_app(settings)``: the ONLY place applying ``serve.deployment`` / ``.options`` / ``.bind``.

Graph (one Serve application)::

    ApiIngress (owns :52000; HTTP/WebSocket via Serve's proxy :8000; tenants, sessions, ticks)
       |-- AudioEncoder      encode(items)   decode + resample + schedule, all streams of a tick
       |-- EmotionDetector   detect(items)   A2E (only when an A2E model is configured)
       |-- A2FInference      infer(items)    cut windows + network via the backend
       '-- BlendshapeSolver  solve(items)    post-processing + solve (compact path)
    TritonOwner (backend "triton" without an external triton_url): one tritonserver

Every deployment gets a small explicit ``num_cpus`` and an autoscaling config from
:class:`~deployments.settings.ServeSettings` ``deployments``, plus, where set, GPUs, Ray custom
resources and ``max_replicas_per_node`` (placement on multi-node clusters: docs/scale_out.md).
Serve configs reach the same code through :func:`app_builder`. Where batching happens: the
ingress tick batches all its streams into one call per stage; inside a stage, items of the same
model share backend calls; Triton's dynamic batcher merges calls from several replicas. No
``@serve.batch`` anywhere (it would add a wait to calls that are already batched).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployments.settings import ServeSettings

if TYPE_CHECKING:
    from ray.serve import Application


#: Environment of every replica with ``serve_fast_path``: Ray Serve's throughput-optimized
#: request path. The replica runs user code on its own event loop instead of a second thread's
#: and a replica's handles route on that loop too: fewer thread hand-offs per stage call, which
#: on a loaded 2-core box are scheduler waits on every hop. (The mode also makes handles
#: *created* in a replica default to gRPC; the app's handles are bound by the driver, so that
#: part is ``serve_grpc_handles``.) Measured (docs/loadtest.md, 2026-12-06): at 28 real-time
#: streams p99 frame latency 179-249 ms vs 241-441 ms with Serve's defaults, ingress CPU
#: -4-8 %. Set per replica, not on the driver: a driver's blocking handle needs the router's
#: own loop. Serve's direct ingress (replicas binding HTTP ports of their own) stays off: HTTP
#: goes through Serve's proxy.
FAST_PATH_ENV: dict[str, str] = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
}
#: Environment of every replica with ``serve_grpc_handles``: Serve's inter-deployment gRPC
#: caps a message at 4 MiB by default (the replica's server and the caller's channel read the
#: same variable), and a burst tick's inference call carries ~100 KB of audio per stream, so
#: 40 bursting streams would already fail. 1 GiB: the cap is then the tick's own batching.
GRPC_HANDLES_ENV: dict[str, str] = {"RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": str(1 << 30)}


def replica_env(settings: ServeSettings) -> dict[str, str]:
    """Environment variables every replica of the app gets (empty: none)."""
    env: dict[str, str] = {}
    if settings.serve_fast_path:
        env |= FAST_PATH_ENV
    if settings.serve_grpc_handles:
        env |= GRPC_HANDLES_ENV
    return env


def _options(settings: ServeSettings, stage: str, fixed_replicas: bool = False) -> dict[str, Any]:
    """Serve ``.options`` of one stage: resources, placement, replicas or autoscaling.

    ``fixed_replicas`` marks port owners (ingress, TritonOwner): one replica, or with
    ``max_replicas_per_node: 1`` ``max_replicas`` of them, at most one per node (one Triton per
    GPU node). The ingress may also run ``max_replicas`` replicas on one node: their gRPC
    servers share the NIM port (``SO_REUSEPORT``, the kernel spreads client connections), each
    with its own sessions and tick loop. Custom ``resources`` (e.g. ``a2f_triton_node: 1``) and
    ``num_gpus`` go into ``ray_actor_options`` only when set, so the defaults place everything
    as before. :func:`replica_env` (``serve_fast_path``, ``serve_grpc_handles``) goes into
    every replica's runtime env.
    """
    opt = settings.deployment(stage)
    actor: dict[str, Any] = {"num_cpus": opt.num_cpus}
    if opt.num_gpus:
        actor["num_gpus"] = opt.num_gpus
    if opt.resources:
        actor["resources"] = dict(opt.resources)
    env = replica_env(settings)
    if env:  # merged with the job's env_vars (e.g. PYTHONPATH) by Ray
        actor["runtime_env"] = {"env_vars": env}
    out: dict[str, Any] = {
        "ray_actor_options": actor,
        "max_ongoing_requests": opt.max_ongoing_requests,
    }
    if opt.max_replicas_per_node is not None:
        out["max_replicas_per_node"] = opt.max_replicas_per_node
    if fixed_replicas:
        shared_port = stage == "ingress"  # SO_REUSEPORT: replicas on one node share the port
        several = shared_port or opt.max_replicas_per_node == 1
        out["num_replicas"] = opt.max_replicas if several else 1
    elif opt.min_replicas == opt.max_replicas:
        out["num_replicas"] = max(1, opt.max_replicas)
    else:
        auto: dict[str, Any] = {
            "min_replicas": opt.min_replicas,
            "max_replicas": opt.max_replicas,
            "target_ongoing_requests": opt.target_ongoing_requests,
            "upscale_delay_s": opt.upscale_delay_s,
            "downscale_delay_s": opt.downscale_delay_s,
        }
        if opt.look_back_period_s is not None:
            auto["look_back_period_s"] = opt.look_back_period_s
        if opt.autoscaling_metric == "work":  # deployments/autoscaling.py
            auto["policy"] = {
                "policy_function": "deployments.autoscaling:WorkPolicy",
                "policy_kwargs": {"target_per_replica": opt.target_work_per_replica},
            }
        out["autoscaling_config"] = auto
    return out


def app_builder(args: dict[str, Any]) -> Application:
    """Serve config entry point: ``import_path: deployments.app:app_builder``.

    Args:
        args: the config's ``args``: optional ``settings_file`` (an a2f settings YAML, read with
            :func:`deployments.settings.load_settings`); every other key overrides the
            :class:`~deployments.settings.ServeSettings` field of that name (top level; a
            ``deployments`` override replaces the whole mapping).

    Returns:
        The bound application (:func:`build_app`).

    Raises:
        ValueError: an unknown key, an unreadable settings file or an invalid value (the
            message names the key).
    """
    from pydantic import ValidationError

    from deployments.settings import load_settings

    overrides = dict(args or {})
    settings_file = overrides.pop("settings_file", None)
    unknown = sorted(set(overrides) - set(ServeSettings.model_fields))
    if unknown:
        raise ValueError(
            f"app_builder: unknown argument(s) {unknown}; use 'settings_file' or a ServeSettings "
            f"field ({', '.join(sorted(ServeSettings.model_fields))})"
        )
    if settings_file is not None and not Path(settings_file).is_file():
        raise ValueError(f"app_builder: settings_file {settings_file!r} is not a file")
    try:
        settings = load_settings(settings_file, **overrides)
    except ValidationError as exc:
        keys = sorted({".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors()})
        raise ValueError(f"app_builder: invalid value for {keys}: {exc}") from None
    return build_app(settings)


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
    inference = deploy(_Staged(A2FInference, "inference"), "inference", "A2FInference")
    inference = inference.bind(s, triton)
    solver = deploy(_Staged(BlendshapeSolver, "solver"), "solver", "BlendshapeSolver")
    solver = solver.bind(s, None)
    detector = None
    if s.a2e_model:
        detector = deploy(_Staged(EmotionDetector, "emotion"), "emotion", "EmotionDetector")
        detector = detector.bind(s, triton)
    # The ingress: NIM gRPC + HTTP/WebSocket (FastAPI, late-bound app) + tenants; replicas
    # (ingress.max_replicas) share the gRPC port, each owns the sessions of its connections
    from deployments.ingress.http.ingress import ApiIngress

    ingress = deploy(serve.ingress()(ApiIngress), "ingress", "ApiIngress", fixed=True)
    return ingress.bind(s, encoder, detector, inference, solver)


#: The batched method of each staged class (metered for work-based autoscaling).
_STAGE_METHODS = {"inference": "infer", "solver": "solve", "emotion": "detect"}


def _Staged(cls: type, stage: str = "") -> type:
    """A Serve-constructible wrapper: ``(settings, triton_owner_handle)`` -> ``cls.from_settings``.

    With a TritonOwner in the app, the constructor waits until the Triton of ITS OWN node is
    ready (``127.0.0.1:triton_http_port``, the server the stage then calls), not for the owner's
    handle, which may answer from another node. Placement (``a2f_triton_node`` resources) puts
    the stage next to a TritonOwner; a stage placed on a node without one fails with a clear
    error after :data:`deployments.triton_owner.LOCAL_TRITON_WAIT_S`. The handle stays an
    argument so that Serve deploys the owner as part of the app.

    With ``autoscaling_metric: work`` for ``stage``, the replica meters its batched method and
    answers Serve's ``record_autoscaling_stats`` (:mod:`deployments.autoscaling`).
    """

    class Staged(cls):  # type: ignore[misc, valid-type]
        async def __init__(self, settings: ServeSettings, triton: Any = None) -> None:
            if triton is not None:
                from deployments.triton_owner import wait_for_local_triton

                await wait_for_local_triton(settings, where=_node_name())
            built = cls.from_settings(settings)
            self.__dict__.update(built.__dict__)
            method = _STAGE_METHODS.get(stage)
            if method and settings.deployment(stage).autoscaling_metric == "work":
                from deployments.autoscaling import WorkMeter

                meter = WorkMeter()
                setattr(self, method, meter.wrap(getattr(self, method)))
                self.record_autoscaling_stats = meter.stats

    Staged.__name__ = Staged.__qualname__ = cls.__name__
    return Staged


def _node_name() -> str:
    """This replica's Ray node id (for error messages), or ``this node``."""
    try:
        import ray

        return f"node {ray.get_runtime_context().get_node_id()[:12]}"
    except Exception:  # outside Ray (tests): any failure only shortens the message
        return "this node"
