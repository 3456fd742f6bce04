"""The HTTP and WebSocket API's messages (pydantic, ``extra="forbid"``): one place, documented.

Runtime parameters use the NIM stream header's field names (snake_case sections, camelCase face
parameters), exactly as ``MessageToDict(AudioStreamHeader, preserving_proto_field_name=True)``
writes them, so a gRPC header and an HTTP/WebSocket header mean the same thing::

    {"face_params": {"float_params": {"skinStrength": 0.9}},
     "blendshape_params": {"bs_weight_multipliers": {"JawOpen": 1.2}},
     "emotion_post_processing_params": {"emotion_strength": 0.6},
     "emotion_params": {"beginning_emotion": {"joy": 0.5}}}

Their values are checked by the stream service (INVALID_ARGUMENT naming the field).
"""

from __future__ import annotations

import struct
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from deployments.session.errors import StatusCode

#: Canonical code -> HTTP status of the error response.
HTTP_STATUS: dict[StatusCode, int] = {
    StatusCode.OK: 200,
    StatusCode.INVALID_ARGUMENT: 400,
    StatusCode.UNAUTHENTICATED: 401,
    StatusCode.NOT_FOUND: 404,
    StatusCode.RESOURCE_EXHAUSTED: 429,
    StatusCode.INTERNAL: 500,
    StatusCode.UNAVAILABLE: 503,
    StatusCode.DEADLINE_EXCEEDED: 504,
}
#: WebSocket close code after a failed stream: 4000 + the HTTP status (4400, 4401, 4429, ...).
WS_CLOSE_BASE = 4000
#: One binary WebSocket frame: frame index (uint32), time code (float64 s), 68 weights
#: (float32, ``names`` order), 10 emotions (float32, ``A2F_EMOTIONS`` order; NaN when none);
#: little-endian, no padding: 324 bytes.
BINARY_FRAME = struct.Struct(f"<Id{len(BLENDSHAPES)}f{len(A2F_EMOTIONS)}f")

Section = dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Strict):
    """Every error response (and the WebSocket ``status`` of a failed stream)."""

    code: StatusCode = Field(description="canonical code (gRPC names)")
    message: str = Field(description="what went wrong and how to fix it")


class EmotionKey(_Strict):
    """A timecoded emotion keyframe (NIM ``EmotionWithTimeCode``)."""

    time_code: float = Field(ge=0, description="seconds from the start of the clip")
    emotion: dict[str, float] = Field(description=f"emotion -> [0, 1]; names: {A2F_EMOTIONS}")


class RuntimeParams(_Strict):
    """Per-stream options: model and the NIM header's runtime parameter sections."""

    model: str | None = Field(None, description="model id (GET /v1/models); default: tenant's")
    face_params: Section | None = Field(None, description="{float_params: {camelCase: value}}")
    blendshape_params: Section | None = Field(
        None, description="bs_weight_multipliers, bs_weight_offsets, enable_clamping_bs_weight"
    )
    emotion_post_processing_params: Section | None = Field(
        None, description="emotion_contrast, live_blend_coef, emotion_strength, max_emotions, ..."
    )
    emotion_params: Section | None = Field(
        None, description="live_transition_time, beginning_emotion {emotion: value}"
    )

    def header(self, sample_rate: int) -> dict[str, Any]:
        """The stream service header (``audio_header`` + the sections that are set)."""
        out: dict[str, Any] = {
            "audio_header": {
                "samples_per_second": int(sample_rate),
                "channel_count": 1,
                "bits_per_sample": 16,
                "audio_format": "AUDIO_FORMAT_PCM",
            }
        }
        fields = self.model_dump(exclude_none=True, include=set(RuntimeParams.model_fields))
        out.update(fields)
        return out


class AnimateParams(RuntimeParams):
    """``POST /v1/animate`` options (query ``params``, URL-encoded JSON)."""

    emotions: list[EmotionKey] = Field(default_factory=list, description="emotion keyframes")


class StreamHeader(RuntimeParams):
    """The first WebSocket message (JSON text)."""

    type: Literal["header"] = Field("header", description="message kind")
    sample_rate: int = Field(gt=0, description="rate of the PCM16 mono chunks that follow (Hz)")
    output: Literal["json", "binary"] = Field(
        "json", description="frames as JSON text messages or BINARY_FRAME binary messages"
    )
    api_key: str | None = Field(
        None, description="API key when the client cannot set an Authorization header"
    )


class ControlMessage(_Strict):
    """A WebSocket text message after the header: emotion keyframes, or the end of audio."""

    type: Literal["emotions", "end"] = Field(description="'emotions' or 'end' (end of audio)")
    emotions: list[EmotionKey] = Field(default_factory=list, description="keyframes")


class StartMessage(_Strict):
    """First server message of a WebSocket stream."""

    type: Literal["start"] = "start"
    model: str = Field(description="model serving the stream")
    fps: float = Field(description="animation frames per second")
    names: list[str] = Field(description="the 68 blendshape names, in weight order")
    emotion_names: list[str] = Field(description="the 10 emotion names, in emotion order")
    output: Literal["json", "binary"] = Field(description="how frames will come")


class FrameMessage(_Strict):
    """One frame (``output: json``)."""

    type: Literal["frame"] = "frame"
    index: int = Field(description="frame index, 0-based, consecutive")
    time_code: float = Field(description="seconds from the start of the clip (index / fps)")
    weights: list[float] = Field(description="68 weights in ``names`` order")
    emotion: list[float] | None = Field(None, description="10 applied emotions, or null")


class EndMessage(_Strict):
    """All audio was processed (before the final ``status``)."""

    type: Literal["end"] = "end"
    frames: int = Field(description="frames sent")


class StatusMessage(ErrorBody):
    """Last server message of every WebSocket stream (code OK on success)."""

    type: Literal["status"] = "status"


class Animation(_Strict):
    """``POST /v1/animate`` JSON response: the whole animation."""

    model: str = Field(description="model that made it")
    fps: float = Field(description="frames per second")
    names: list[str] = Field(description="68 blendshape names (columns of ``weights``)")
    time_codes: list[float] = Field(description="[F] seconds")
    weights: list[list[float]] = Field(description="[F][68]")
    emotion_names: list[str] = Field(description="10 emotion names (columns of ``emotions``)")
    emotions: list[list[float]] | None = Field(
        None, description="[F][10] applied emotions, or null when the model applies none"
    )


class ModelOut(_Strict):
    """One servable model."""

    id: str
    kind: str = Field(description="regression or diffusion")
    fps: float
    default: bool = Field(description="used when a stream names no model")
    a2e_model: str | None = Field(None, description="emotion detection model, if any")


class Models(_Strict):
    """``GET /v1/models``."""

    models: list[ModelOut]


class Health(_Strict):
    """``GET /v1/health/live`` and ``/v1/health/ready``."""

    status: Literal["live", "ready", "not_ready"]
    detail: str = ""
