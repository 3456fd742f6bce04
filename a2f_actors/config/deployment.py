"""NIM v2.0 deployment config (``deployment_config.yaml``): the operator-facing file.

Keys and defaults: a2f_reference.md section 4.4 (NVIDIA Samples ``configs/``). NIM 2.0 renamed
the log levels ``err`` -> ``error`` and ``off`` -> ``disabled`` (v2.0 changelog).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from a2f_actors.config._base import StrictModel

#: ``host:port`` with a numeric port (``0.0.0.0:52000``).
HOST_PORT_PATTERN = r"^[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}$"
HostPort = Annotated[str, Field(pattern=HOST_PORT_PATTERN)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]

#: NIM 1.3 log level names and their 2.0 replacement.
V13_LOG_LEVELS: dict[str, str] = {"err": "error", "off": "disabled"}


def _check_port(url: str) -> str:
    port = int(url.rsplit(":", 1)[1])
    if not 0 < port < 65536:
        raise ValueError(f"port {port} of {url!r} is outside [1, 65535]")
    return url


class Common(StrictModel):
    """Stream capacity and audio padding (``common``)."""

    stream_number: int = Field(
        10, ge=1, le=1024, description="concurrent streams (also the A2F batch size)"
    )
    add_silence_padding_after_audio: bool = Field(
        False, description="append silence after each clip so the face returns to neutral"
    )
    silence_padding_duration_second: float = Field(
        1.5, ge=0.0, le=60.0, description="seconds of silence appended when padding is on"
    )


class Logging(StrictModel):
    """Log verbosity (``logging``)."""

    log_level: Literal["trace", "debug", "info", "warn", "error", "critical", "disabled"] = Field(
        "info", description="minimum level logged"
    )
    fps_logging_interval_second: float = Field(
        1, ge=0.0, le=3600.0, description="seconds between per-stream FPS log lines"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _renamed_level(cls, v: object) -> object:
        v = "off" if v is False else v  # YAML 1.1 reads a bare `off` as false
        if isinstance(v, str) and v in V13_LOG_LEVELS:
            raise ValueError(
                f"log level {v!r} is the NIM 1.3 name; use {V13_LOG_LEVELS[v]!r} "
                f"(or run `a2f config migrate`)"
            )
        return v


class BidirectionalServer(StrictModel):
    """The gRPC server of ``ProcessAudioStream`` and its transport security."""

    url: HostPort = Field("0.0.0.0:52000", description="listen address host:port")
    secure_mode: Literal["disabled", "tls", "mtls"] = Field(
        "disabled", description="disabled, tls (server cert) or mtls (server + client certs)"
    )
    certificate_path: str = Field("", description="server certificate (PEM); tls and mtls")
    key_path: str = Field("", description="server private key (PEM); tls and mtls")
    ca_path: str = Field("", description="CA bundle that signs client certificates; mtls only")

    @field_validator("url")
    @classmethod
    def _port_in_range(cls, v: str) -> str:
        return _check_port(v)

    @model_validator(mode="after")
    def _paths_for_mode(self) -> BidirectionalServer:
        needed = {"disabled": (), "tls": ("certificate_path", "key_path")}.get(
            self.secure_mode, ("certificate_path", "key_path", "ca_path")
        )
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(
                f"secure_mode {self.secure_mode!r} needs {', '.join(missing)}; set the PEM "
                f"file path(s) or use secure_mode: disabled"
            )
        return self


class Bidirectional(StrictModel):
    """Bidirectional streaming endpoint (``endpoints.bidirectional``)."""

    server: BidirectionalServer = Field(
        default_factory=BidirectionalServer, description="gRPC server"
    )


class UrlOnly(StrictModel):
    """One legacy endpoint address."""

    url: HostPort = Field(..., description="host:port")

    @field_validator("url")
    @classmethod
    def _port_in_range(cls, v: str) -> str:
        return _check_port(v)


class Unidirectional(StrictModel):
    """Legacy unidirectional endpoints (``endpoints.unidirectional``); accepted, not served."""

    server: UrlOnly = Field(
        default_factory=lambda: UrlOnly(url="0.0.0.0:50000"), description="audio input server"
    )
    client: UrlOnly = Field(
        default_factory=lambda: UrlOnly(url="0.0.0.0:51000"),
        description="animation data sink the service connects to",
    )


class Endpoints(StrictModel):
    """Network endpoints (``endpoints``)."""

    use_bidirectional: bool = Field(
        True, description="serve the bidirectional endpoint (the only one NIM 2.0 serves)"
    )
    bidirectional: Bidirectional = Field(
        default_factory=Bidirectional, description="bidirectional endpoint"
    )
    unidirectional: Unidirectional = Field(
        default_factory=Unidirectional, description="legacy endpoints (NIM <= 1.3)"
    )


class Telemetry(StrictModel):
    """OpenTelemetry and Prometheus export (``telemetry``)."""

    service_name: str = Field(
        "audio2face", min_length=1, max_length=128, description="service.name of metrics/traces"
    )
    metrics_enabled: bool = Field(False, description="export metrics")
    traces_enabled: bool = Field(False, description="export traces")
    metrics_exporter: Literal["prometheus", "otlp"] = Field(
        "prometheus", description="prometheus (scrape endpoint) or otlp (push over HTTP)"
    )
    otel_metric_export_interval: int = Field(
        60000, ge=100, le=3_600_000, description="ms between OTLP metric exports"
    )
    otel_metric_export_timeout: int = Field(
        30000, ge=100, le=3_600_000, description="ms before an OTLP metric export is abandoned"
    )
    otlp_http_metrics_endpoint: HttpUrl = Field(
        "http://localhost:4318/v1/metrics", description="OTLP/HTTP metrics URL"
    )
    otlp_http_traces_endpoint: HttpUrl = Field(
        "http://localhost:4318/v1/traces", description="OTLP/HTTP traces URL"
    )
    prometheus_endpoint: HostPort = Field(
        "0.0.0.0:9464", description="host:port of the Prometheus scrape endpoint"
    )

    @field_validator("prometheus_endpoint")
    @classmethod
    def _port_in_range(cls, v: str) -> str:
        return _check_port(v)

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Telemetry:
        if self.otel_metric_export_timeout > self.otel_metric_export_interval:
            raise ValueError(
                f"otel_metric_export_timeout ({self.otel_metric_export_timeout} ms) exceeds "
                f"otel_metric_export_interval ({self.otel_metric_export_interval} ms); lower the "
                f"timeout or raise the interval"
            )
        return self


class DeploymentConfig(StrictModel):
    """Root of ``deployment_config.yaml``."""

    common: Common = Field(default_factory=Common, description="capacity and padding")
    logging: Logging = Field(default_factory=Logging, description="logging")
    endpoints: Endpoints = Field(default_factory=Endpoints, description="network endpoints")
    telemetry: Telemetry = Field(default_factory=Telemetry, description="metrics and traces")
