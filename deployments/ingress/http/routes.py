"""The FastAPI application of the HTTP ingress: routes only; the work is the stream service's.

Endpoints (``docs/http_api.md``)::

    POST /v1/animate        WAV or raw PCM16 body -> whole animation (JSON, or CSV)
    WS   /v1/stream         JSON header, PCM16 chunks, end -> frames (JSON or binary), status
    GET  /v1/models         served models (those the caller's tenant may use)
    GET  /v1/health/live    the process answers
    GET  /v1/health/ready   the ingress serves (gRPC bound, models loaded)
    GET  /docs, /openapi.json

Every error is ``{"code": ..., "message": ...}`` (:class:`~.schemas.ErrorBody`) with the HTTP
status of :data:`~.schemas.HTTP_STATUS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import aclosing
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from deployments.ingress.http import export, websocket
from deployments.ingress.http.schemas import (
    HTTP_STATUS,
    AnimateParams,
    Animation,
    ErrorBody,
    Health,
    ModelOut,
    Models,
)
from deployments.ingress.service import EmotionKeyframe, ServiceError, StatusCode
from deployments.tenancy import TenantGate

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code.value}
    for code, status in HTTP_STATUS.items()
    if code != StatusCode.OK
}
_CSV_TYPES = ("text/csv", "application/csv")


class Backend(Protocol):
    """What the routes need from the ingress replica (:class:`~.ingress.ApiIngress`)."""

    service: Any  # run_stream(header, chunks) (a TenantService)
    gate: TenantGate

    async def ready(self) -> tuple[bool, str]:
        """``(ready, why not)``."""
        ...


def error_response(code: StatusCode | str, message: str) -> JSONResponse:
    """The JSON error response of a canonical code."""
    body = ErrorBody(code=StatusCode(code), message=message)
    return JSONResponse(body.model_dump(mode="json"), status_code=HTTP_STATUS[body.code])


def auth_metadata(authorization: str | None) -> dict[str, Any]:
    """The header's ``metadata`` (as the gRPC servicer fills it) from an Authorization value."""
    return {"metadata": {"authorization": authorization}} if authorization else {}


def _install_error_handlers(app: FastAPI) -> None:
    async def service_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return error_response(exc.code, exc.message)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return error_response(StatusCode.INVALID_ARGUMENT, f"invalid request: {where}")

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = StatusCode.NOT_FOUND if exc.status_code == 404 else StatusCode.INVALID_ARGUMENT
        return error_response(code, f"{exc.detail} (see /docs)")

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)


def _params(raw: str | None, model: str | None) -> AnimateParams:
    try:
        params = AnimateParams.model_validate_json(raw) if raw else AnimateParams()
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ServiceError(StatusCode.INVALID_ARGUMENT, f"params: {where}") from None
    return params.model_copy(update={"model": model}) if model else params


def _wants_csv(fmt: str | None, accept: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return any(t in (accept or "") for t in _CSV_TYPES)


def _animate_route(router: APIRouter, backend: Backend) -> None:
    @router.post(
        "/animate",
        response_model=Animation,
        responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
        summary="Animate a whole clip",
    )
    async def animate(
        request: Request,
        format: Annotated[Literal["json", "csv"] | None, Query()] = None,
        sample_rate: Annotated[int | None, Query(gt=0, description="raw PCM rate")] = None,
        model: Annotated[str | None, Query(description="model id")] = None,
        params: Annotated[str | None, Query(description="AnimateParams as JSON")] = None,
        accept: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Body: a WAV file, or raw PCM16 LE mono with ``sample_rate``. JSON unless CSV asked."""
        options = _params(params, model)
        limits = backend.service.manager.limits
        pcm, rate = export.upload_pcm(await request.body(), sample_rate, limits)
        # PCM16 bytes --> header + 1 s chunks --> the stream service --> collected frames
        header = {**options.header(rate), **auth_metadata(authorization)}
        keys = tuple(EmotionKeyframe(k.time_code, k.emotion) for k in options.emotions)
        stream = backend.service.run_stream(header, export.upload_chunks(pcm, rate, keys))
        async with aclosing(stream) as events:
            result = await export.collect(events)
        if result.status.code != StatusCode.OK:
            raise ServiceError(result.status.code, result.status.message)
        if _wants_csv(format, accept):
            return Response(export.csv_text(result), media_type="text/csv")
        return Response(export.animation(result).model_dump_json(), media_type="application/json")


def _model_out(info: Any, default: bool) -> ModelOut:
    return ModelOut(
        id=info.model_id, kind=info.kind, fps=info.fps, default=default, a2e_model=info.a2e_model
    )


def _info_routes(router: APIRouter, backend: Backend) -> None:
    @router.get("/models", response_model=Models, responses=_ERRORS, summary="Served models")
    async def models(authorization: Annotated[str | None, Header()] = None) -> Models:
        """The models a stream may name (with auth on: those of the caller's tenant)."""
        header: Mapping[str, Any] = auth_metadata(authorization)
        tenant = backend.gate.identify(header)
        catalog = backend.service.manager.catalog
        default = (tenant.default_model if tenant else None) or catalog.default
        served = [
            m for m in catalog.models.values() if tenant is None or tenant.may_use(m.model_id)
        ]
        return Models(models=[_model_out(m, m.model_id == default) for m in served])

    @router.get("/health/live", response_model=Health, summary="Liveness")
    async def live() -> Health:
        """200 while the ingress process answers."""
        return Health(status="live")

    @router.get("/health/ready", response_model=Health, responses={503: {"model": Health}})
    async def ready() -> Response:
        """200 when streams are accepted (gRPC bound, models loaded), else 503."""
        ok, why = await backend.ready()
        body = Health(status="ready" if ok else "not_ready", detail=why)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def build_api(backend: Backend) -> FastAPI:
    """The FastAPI app of one ingress replica.

    Args:
        backend: the replica (its stream service, tenant gate and readiness).

    Returns:
        The app (Serve wraps it with ``serve.ingress``).
    """
    app = FastAPI(
        title="a2f-cluster",
        version="1.0",
        description="Audio2Face-3D compatible facial animation: HTTP and WebSocket API. "
        "The NIM gRPC API serves the same streams on port 52000.",
    )
    _install_error_handlers(app)
    router = APIRouter(prefix="/v1")
    _animate_route(router, backend)
    _info_routes(router, backend)

    async def stream(ws: websocket.WebSocket) -> None:
        await websocket.serve_stream(backend.service, ws)

    router.add_api_websocket_route("/stream", stream, name="stream")
    app.include_router(router)
    return app
