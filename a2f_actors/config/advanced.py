"""NIM v2.0 advanced config (``advanced_config.yaml``): the expert-facing file.

Keys and defaults: a2f_reference.md section 4.4 (NVIDIA Samples ``configs/``). NIM 2.0 added
``pipeline_parameters.burst_mode`` and ``pipeline_parameters.blendshape_streaming_fps`` (v2.0
changelog): animation frames are paced to the client at ``blendshape_streaming_fps`` frames per
second (default 90) unless ``burst_mode`` sends each frame as soon as it is computed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from a2f_actors.config._base import StrictModel

#: Pipeline pacing defaults added in NIM 2.0 (used by ``a2f config migrate``).
DEFAULT_BURST_MODE = False
DEFAULT_BLENDSHAPE_STREAMING_FPS = 90.0


class InputSanitization(StrictModel):
    """Limits on client input (``input_sanitization``)."""

    max_len_uuid: int = Field(50, ge=1, le=1024, description="longest accepted stream/request id")
    max_sample_rate: int = Field(144000, ge=8000, le=384000, description="highest input rate, Hz")
    min_sample_rate: int = Field(16000, ge=8000, le=384000, description="lowest input rate, Hz")
    max_processing_duration_second: float = Field(
        300, gt=0, le=86400, description="seconds a stream may be processed before it is cut"
    )
    max_audio_buffer_size_second: float = Field(
        10, gt=0, le=3600, description="longest audio in one gRPC message, seconds"
    )
    max_audio_clip_size_second: float = Field(
        300, gt=0, le=86400, description="longest clip per stream, seconds"
    )
    max_wait_time_idle_ms: int = Field(
        30000, ge=1, le=86_400_000, description="ms without client data before the stream is cut"
    )
    low_fps: float = Field(
        29, ge=0, le=1000, description="client audio rate (frames/s) below which a stream is slow"
    )
    low_fps_max_duration_second: float = Field(
        7, ge=0, le=3600, description="seconds a stream may stay below low_fps before it is cut"
    )

    @model_validator(mode="after")
    def _ordered(self) -> InputSanitization:
        if self.min_sample_rate > self.max_sample_rate:
            raise ValueError(
                f"min_sample_rate ({self.min_sample_rate}) > max_sample_rate "
                f"({self.max_sample_rate}); make min_sample_rate <= max_sample_rate"
            )
        if self.max_audio_buffer_size_second > self.max_audio_clip_size_second:
            raise ValueError(
                f"max_audio_buffer_size_second ({self.max_audio_buffer_size_second}) > "
                f"max_audio_clip_size_second ({self.max_audio_clip_size_second}); one buffer "
                f"cannot be longer than the whole clip"
            )
        return self


class GarbageCollector(StrictModel):
    """Deprecated by NVIDIA; accepted so shipped files load, ignored by this server."""

    enabled: bool = Field(False, description="deprecated, ignored")
    interval_run_second: float = Field(10, gt=0, le=86400, description="deprecated, ignored")
    max_size_stored_data_second: float = Field(
        60, gt=0, le=86400, description="deprecated, ignored"
    )


class Streammux(StrictModel):
    """Batching of streams in front of the networks (``pipeline_parameters.streammux``)."""

    adaptive_batching: int = Field(0, ge=0, le=1, description="internal; keep 0")
    overall_min_fps_n: int = Field(
        40, ge=1, le=10000, description="numerator of the minimum per-stream pipeline FPS"
    )
    overall_min_fps_d: int = Field(
        1, ge=1, le=10000, description="denominator of the minimum per-stream pipeline FPS"
    )


class PipelineParameters(StrictModel):
    """Queues and output pacing (``pipeline_parameters``): streammux -> A2E -> A2F."""

    queue_size_after_a2e: int = Field(1, ge=1, le=100000, description="frames queued after A2E")
    queue_size_after_a2f: int = Field(300, ge=1, le=100000, description="frames queued after A2F")
    queue_size_after_streammux: int = Field(
        1, ge=1, le=100000, description="batches queued after the streammux"
    )
    burst_mode: bool = Field(
        DEFAULT_BURST_MODE,
        description="send animation frames as soon as computed, ignoring blendshape_streaming_fps",
    )
    blendshape_streaming_fps: float = Field(
        DEFAULT_BLENDSHAPE_STREAMING_FPS,
        ge=1.0,
        le=10000.0,
        description="pace (frames/s) at which animation frames are sent when burst_mode is off",
    )
    streammux: Streammux = Field(default_factory=Streammux, description="stream batching")


class A2FAdvanced(StrictModel):
    """Face network runtime (``a2f``)."""

    temporal_smoothing: bool = Field(
        True, description="smooth the face over time; false only to debug single frames"
    )
    device_id: int = Field(0, ge=0, le=63, description="GPU index")
    use_gpu_solver: bool = Field(True, description="solve blendshapes on the GPU")


class A2EAdvanced(StrictModel):
    """Emotion network runtime (``a2e``)."""

    inference_interval: int = Field(
        10, ge=1, le=10000, description="A2F frames between two A2E inferences"
    )
    device_id: int = Field(0, ge=0, le=63, description="GPU index")


class TrtProfile(StrictModel):
    """TensorRT engine build profile: batch sizes and precision."""

    precision: Literal["fp16", "fp32"] = Field("fp16", description="engine precision")
    min_shape: int = Field(1, ge=1, le=4096, description="smallest batch the engine accepts")
    optimal_shape: int = Field(10, ge=1, le=4096, description="batch the engine is tuned for")
    maximum_shape: int = Field(128, ge=1, le=4096, description="largest batch the engine accepts")

    @model_validator(mode="after")
    def _ordered(self) -> TrtProfile:
        if not self.min_shape <= self.optimal_shape <= self.maximum_shape:
            raise ValueError(
                f"min_shape ({self.min_shape}) <= optimal_shape ({self.optimal_shape}) <= "
                f"maximum_shape ({self.maximum_shape}) does not hold; reorder the three sizes"
            )
        return self


class TrtModelGeneration(StrictModel):
    """TensorRT engine profiles (``trt_model_generation``)."""

    a2e: TrtProfile = Field(
        default_factory=lambda: TrtProfile(precision="fp32"),
        description="Audio2Emotion engine (fp32 only)",
    )
    a2f: TrtProfile = Field(default_factory=TrtProfile, description="Audio2Face engine")

    @model_validator(mode="after")
    def _a2e_fp32(self) -> TrtModelGeneration:
        if self.a2e.precision != "fp32":
            raise ValueError(
                f"a2e.precision {self.a2e.precision!r} is not supported: the Audio2Emotion engine "
                f"is fp32 only; set trt_model_generation.a2e.precision: fp32"
            )
        return self


class Resampling(StrictModel):
    """Input resampling to 16 kHz (``resampling``)."""

    chunk_size: int = Field(640, ge=1, le=1_048_576, description="samples resampled per chunk")
    quality: float = Field(
        1.0, ge=1.0, le=10.0, description="1 (fastest) .. 10 (best) resampler quality"
    )


class AdvancedConfig(StrictModel):
    """Root of ``advanced_config.yaml``."""

    input_sanitization: InputSanitization = Field(
        default_factory=InputSanitization, description="client input limits"
    )
    garbage_collector: GarbageCollector = Field(
        default_factory=GarbageCollector, description="deprecated, accepted and ignored"
    )
    pipeline_parameters: PipelineParameters = Field(
        default_factory=PipelineParameters, description="queues and output pacing"
    )
    a2f: A2FAdvanced = Field(default_factory=A2FAdvanced, description="face network runtime")
    a2e: A2EAdvanced = Field(default_factory=A2EAdvanced, description="emotion network runtime")
    trt_model_generation: TrtModelGeneration = Field(
        default_factory=TrtModelGeneration, description="TensorRT engine profiles"
    )
    resampling: Resampling = Field(default_factory=Resampling, description="input resampling")
