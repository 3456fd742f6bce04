"""GrpcIngress: the deployment that owns the NIM gRPC port and the sessions of its streams.

One plain ``grpc.aio`` server (about 10x the message rate of Serve's gRPC proxy,
serving_stack.md section 6) runs in the replica's event loop; every stream becomes a session
of the replica's :class:`~deployments.session.ticker.SessionManager`, which calls the stage
deployments through their handles, one call per stage per tick for all streams. Plain class
with a sync constructor (``build_app`` decorates it): outside Serve, call :meth:`start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import grpc

from a2f_actors.audio import AudioLimits
from a2f_actors.config import A2FConfig
from deployments.aio_compat import install_poller_filter
from deployments.ingress.grpc import health
from deployments.ingress.grpc.servicer import (
    A2FControllerServicer,
    ExportConfigServicer,
    register,
)
from deployments.ingress.service import ServiceOptions, StreamService
from deployments.session.catalog import Catalog
from deployments.session.pipelines import HandlePipeline
from deployments.session.ticker import SessionManager, TickOptions
from deployments.settings import ServeSettings

log = logging.getLogger(__name__)
_MAX_MESSAGE = 64 * 1024 * 1024  # 10 s at 144 kHz is 2.9 MB; leave room


def service_from_settings(
    settings: ServeSettings, config: A2FConfig, pipeline: Any
) -> StreamService:
    """The stream service of one ingress replica (sessions, ticks, limits, pacing)."""
    adv = config.advanced
    s = adv.input_sanitization
    limits = AudioLimits(
        s.min_sample_rate, s.max_sample_rate, s.max_audio_buffer_size_second,
        s.max_audio_clip_size_second,
    )  # fmt: skip
    ticks = TickOptions(
        tick_s=settings.tick_ms / 1000.0,
        attempts=settings.stage_attempts,
        backoff_s=settings.retry_backoff_ms / 1000.0,
        timeout_s=settings.stage_timeout_s,
        encode_in_ingress=settings.encode_in_ingress,
        infer_depth=settings.infer_depth,
    )
    manager = SessionManager(
        pipeline, Catalog(settings, config), limits, ticks, a2e_skip=adv.a2e.inference_interval - 1
    )
    pp = adv.pipeline_parameters
    options = ServiceOptions(
        burst_mode=pp.burst_mode if settings.burst_mode is None else settings.burst_mode,
        streaming_fps=pp.blendshape_streaming_fps,
        idle_timeout_s=s.max_wait_time_idle_ms / 1000.0,
        max_processing_s=s.max_processing_duration_second,
        low_fps=s.low_fps,
        low_fps_max_s=s.low_fps_max_duration_second,
    )
    return StreamService(manager, options)


class GrpcIngress:
    """NIM gRPC ingress of the cluster.

    Args:
        settings: the serve settings (bind address, port, ticks).
        encoder: AudioEncoder handle (or object, with ``pipeline_cls``).
        detector: EmotionDetector handle, or None without A2E.
        inference: A2FInference handle.
        solver: BlendshapeSolver handle.
        pipeline_cls: how the stages are called (:class:`HandlePipeline` in the cluster).
    """

    def __init__(
        self,
        settings: ServeSettings,
        encoder: Any,
        detector: Any,
        inference: Any,
        solver: Any,
        pipeline_cls: type = HandlePipeline,
    ) -> None:
        self.settings = settings
        config = settings.nim_config()
        self.config_data = config.to_data()
        stages = (encoder, detector, inference, solver)
        if issubclass(pipeline_cls, HandlePipeline):
            pipeline = pipeline_cls(*stages, by_value=settings.serve_grpc_handles)
        else:
            pipeline = pipeline_cls(*stages)
        self.service = service_from_settings(settings, config, pipeline)
        self.server: grpc.aio.Server | None = None
        self.bound_port = 0
        self._starting: asyncio.Task[None] | None = None
        with contextlib.suppress(RuntimeError):  # inside Serve: the replica's loop is running
            self._starting = asyncio.get_running_loop().create_task(self.start())

    async def start(self) -> int:
        """Bind the port and start serving; return the bound port."""
        if self.server is not None:
            return self.bound_port
        install_poller_filter()  # several loops per replica: see deployments.aio_compat
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                # several ingress replicas on one node bind the same NIM port; the kernel
                # spreads connections (gRPC's Linux default, stated because the layout needs it)
                ("grpc.so_reuseport", 1),
            ]
        )
        register(
            server, A2FControllerServicer(self.service), ExportConfigServicer(self.config_data)
        )
        server.add_generic_rpc_handlers((health.handler(self._health),))
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        self.bound_port = server.add_insecure_port(address)
        if self.bound_port == 0:
            raise RuntimeError(f"cannot bind the gRPC port {address}; is it in use?")
        await server.start()
        self.server = server
        log.info("NIM gRPC ingress listening on %s:%d", self.settings.grpc_host, self.bound_port)
        return self.bound_port

    def _health(self, service: str) -> int:
        return health.SERVING if self.server is not None else health.NOT_SERVING

    async def port(self) -> int:
        """The bound port, once serving."""
        if self._starting is not None:
            await self._starting
        return self.bound_port

    async def stats(self) -> dict[str, Any]:
        """Counters: stage calls, ticks, open streams."""
        m = self.service.manager
        return {"calls": dict(m.calls), "ticks": m.ticks, "streams": len(m.handles)}

    async def check_health(self) -> None:
        """Serve health check: raise when the server failed to start."""
        if self._starting is not None and self._starting.done() and self._starting.exception():
            raise RuntimeError(f"gRPC ingress failed to start: {self._starting.exception()}")

    async def stop(self, grace_s: float = 2.0) -> None:
        """Stop serving and drop the sessions."""
        if self.server is not None:
            await self.server.stop(grace_s)
            self.server = None
        await self.service.manager.shutdown()
