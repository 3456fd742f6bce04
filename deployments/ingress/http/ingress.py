"""ApiIngress: ONE ingress replica for every transport (NIM gRPC, HTTP, WebSocket).

It is the :class:`~deployments.ingress.grpc.server.GrpcIngress` (the ``grpc.aio`` server on
52000, the replica's session manager and tick loop) plus the FastAPI app of
:mod:`deployments.ingress.http.routes`, which Serve's HTTP proxy (port 8000) forwards to. Both
transports call the same :class:`~deployments.tenancy.TenantService`, so all streams of the
replica share one tick loop (one batched call per stage per tick) and one tenant quota count.
``build_app`` wraps the class with ``serve.ingress()``; Serve then calls
``__serve_build_asgi_app__`` after the constructor.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from deployments.ingress.grpc.server import GrpcIngress
from deployments.ingress.http.routes import build_api
from deployments.session.pipelines import HandlePipeline
from deployments.settings import ServeSettings
from deployments.tenancy import TenantGate, TenantService


class ApiIngress(GrpcIngress):
    """The cluster's ingress: NIM gRPC + HTTP/WebSocket over one tenant-gated stream service.

    Args:
        settings: the serve settings (ports, ticks, tenancy).
        encoder: AudioEncoder handle.
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
        super().__init__(settings, encoder, detector, inference, solver, pipeline_cls)
        self.gate = TenantGate(settings.tenancy)
        # Replaced before the gRPC server starts (start() runs after this constructor returns),
        # so the gRPC servicer and the HTTP routes both use the gated service.
        self.service = TenantService(self.service, self.gate)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """The HTTP app (Serve calls this once, after the constructor)."""
        return build_api(self)

    async def ready(self) -> tuple[bool, str]:
        """``(True, "")`` once streams are accepted, else ``(False, why)``."""
        if self._starting is not None and self._starting.done() and self._starting.exception():
            return False, f"gRPC ingress failed to start: {self._starting.exception()}"
        if self.server is None:
            return False, "the gRPC server is starting"
        if not self.service.manager.catalog.models:
            return False, "no A2F model is configured (settings.models)"
        return True, ""
