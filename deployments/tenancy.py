"""Tenants: API keys (stored hashed), model policy, default parameters and stream quotas.

Configured under ``tenancy`` in the serve settings (:class:`TenancySettings`)::

    tenancy:
      auth: true
      tenants:
        - name: studio-a
          key_hashes: ["scrypt$16384$8$1$<salt>$<hash>"]  # python -m deployments.tenancy new-key
          default_model: ada_v2.3
          allowed_models: [ada_v2.3, ada_multi_v3.0]
          max_streams: 4
          params: {face_params: {float_params: {skinStrength: 0.9}}}

The key travels as ``authorization: Bearer <key>`` (gRPC metadata, or the HTTP / WebSocket
``Authorization`` header); the transports put their metadata under ``header["metadata"]``.
With ``auth: false`` (the local default) every stream runs as the single tenant ``local``
with no key and no per-tenant quota (the replica's ``max_streams`` still applies); the settings
refuse that mode on a non-loopback bind address.

:class:`TenantService` wraps a :class:`~deployments.ingress.service.StreamService`: it admits a
stream (key -> tenant, model allowed, tenant defaults merged under the client's parameters,
one quota slot taken) and frees the slot when the stream ends, whatever the transport. A
stream refused here gets only a ``StreamStatus`` (UNAUTHENTICATED, NOT_FOUND,
RESOURCE_EXHAUSTED); other streams are untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deployments.session.errors import ServiceError, StatusCode

__all__ = [
    "LOCAL_TENANT",
    "TenancySettings",
    "TenantConfig",
    "TenantGate",
    "TenantService",
    "hash_key",
    "new_key",
    "verify_key",
]

#: The tenant of every stream when auth is off.
LOCAL_TENANT = "local"
#: Runtime parameter sections a tenant may preset (the stream header's sections).
PARAM_SECTIONS = frozenset(
    {"face_params", "blendshape_params", "emotion_post_processing_params", "emotion_params"}
)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_CACHE_MAX = 4096


# --- key hashing -------------------------------------------------------------------------------


def new_key() -> str:
    """A fresh random API key (``a2f_`` + 43 URL-safe characters, 256 bits)."""
    return "a2f_" + secrets.token_urlsafe(32)


def hash_key(key: str, *, method: str = "scrypt", salt: bytes | None = None) -> str:
    """The stored form of ``key``.

    Args:
        key: the API key.
        method: ``scrypt`` (``scrypt$n$r$p$salt$hash``) or ``sha256`` (``sha256$salt$hash``,
            fine for random high-entropy keys).
        salt: 16 random bytes by default.

    Returns:
        The hash string to put in ``key_hashes``.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    if method == "scrypt":
        n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
        digest = hashlib.scrypt(key.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
        return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"
    if method == "sha256":
        return f"sha256${salt.hex()}${hashlib.sha256(salt + key.encode()).hexdigest()}"
    raise ValueError(f"unknown key hash method {method!r}; use scrypt or sha256")


def _check_hash_format(stored: str) -> str:
    parts = stored.split("$")
    ok = (parts[0] == "scrypt" and len(parts) == 6) or (parts[0] == "sha256" and len(parts) == 3)
    if not ok:
        raise ValueError(
            "key hash must be 'scrypt$n$r$p$salt$hash' or 'sha256$salt$hash' (make one with "
            "python -m deployments.tenancy new-key); never put plain keys in the config"
        )
    return stored


def verify_key(key: str, stored: str) -> bool:
    """Whether ``key`` matches the stored hash (constant-time compare)."""
    parts = stored.split("$")
    if parts[0] == "scrypt":
        n, r, p, salt, want = int(parts[1]), int(parts[2]), int(parts[3]), parts[4], parts[5]
        digest = hashlib.scrypt(key.encode(), salt=bytes.fromhex(salt), n=n, r=r, p=p, dklen=32)
        return hmac.compare_digest(digest.hex(), want)
    salt, want = parts[1], parts[2]
    digest = hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()
    return hmac.compare_digest(digest, want)


# --- configuration -----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantConfig(_Strict):
    """One tenant."""

    name: str = Field(min_length=1, max_length=64, description="tenant id (logs, quotas)")
    key_hashes: tuple[str, ...] = Field(
        min_length=1, description="hashed API keys (several allow rotation); see hash_key"
    )
    default_model: str | None = Field(None, description="model of streams that name none")
    allowed_models: tuple[str, ...] | None = Field(
        None, description="models this tenant may use; None = every served model"
    )
    max_streams: int = Field(4, ge=1, le=100000, description="concurrent streams allowed")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="default runtime parameters (header sections: face_params, "
        "blendshape_params, emotion_post_processing_params, emotion_params); the client's win",
    )

    @field_validator("key_hashes")
    @classmethod
    def _hashes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_hash_format(h) for h in value)

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - PARAM_SECTIONS
        if unknown:
            raise ValueError(f"params: unknown section(s) {sorted(unknown)}")
        return value

    def may_use(self, model_id: str) -> bool:
        """Whether the tenant may stream with ``model_id``."""
        return self.allowed_models is None or model_id in self.allowed_models


class TenancySettings(_Strict):
    """Authentication and tenants (``tenancy`` in the serve settings)."""

    auth: bool = Field(False, description="require an API key (False: single local tenant)")
    tenants: tuple[TenantConfig, ...] = Field((), description="tenants and their keys")

    @model_validator(mode="after")
    def _check(self) -> TenancySettings:
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise ValueError(f"tenancy.tenants: duplicate names in {names}")
        if self.auth and not self.tenants:
            raise ValueError("tenancy.auth is on but no tenants are listed; add one")
        return self


# --- admission ---------------------------------------------------------------------------------


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        old = out.get(key)
        both_maps = isinstance(old, Mapping) and isinstance(value, Mapping)
        out[key] = _deep_merge(old, value) if both_maps else value
    return out


def bearer_key(header: Mapping[str, Any]) -> str | None:
    """The API key of a stream header (``metadata.authorization: Bearer <key>``), or None."""
    metadata = header.get("metadata") or {}
    value = metadata.get("authorization") if isinstance(metadata, Mapping) else None
    if not isinstance(value, str):
        return None
    scheme, _, key = value.strip().partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


class TenantGate:
    """Authenticates streams and counts each tenant's open streams (one per ingress replica).

    Args:
        settings: the tenancy settings.
    """

    def __init__(self, settings: TenancySettings | None = None) -> None:
        self.settings = settings or TenancySettings()
        self.active: Counter[str] = Counter()
        self._known: dict[bytes, TenantConfig] = {}  # sha256(key) -> tenant, verified keys only

    def identify(self, header: Mapping[str, Any]) -> TenantConfig | None:
        """The stream's tenant (None when auth is off).

        Raises:
            ServiceError: UNAUTHENTICATED for a missing or unknown key.
        """
        if not self.settings.auth:
            return None
        key = bearer_key(header)
        if key is None:
            raise ServiceError(
                StatusCode.UNAUTHENTICATED,
                "missing API key; send 'authorization: Bearer <key>' (gRPC metadata or HTTP "
                "Authorization header)",
            )
        fingerprint = hashlib.sha256(key.encode()).digest()
        tenant = self._known.get(fingerprint)
        if tenant is None:
            tenant = next(
                (t for t in self.settings.tenants if any(verify_key(key, h) for h in t.key_hashes)),
                None,
            )
            if tenant is None:
                raise ServiceError(StatusCode.UNAUTHENTICATED, "unknown API key")
            if len(self._known) >= _CACHE_MAX:
                self._known.clear()
            self._known[fingerprint] = tenant
        return tenant

    def resolve(self, header: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Tenant name and the header to run: default model and parameters, model checked.

        Raises:
            ServiceError: UNAUTHENTICATED (key), NOT_FOUND (model not allowed).
        """
        tenant = self.identify(header)
        if tenant is None:
            return LOCAL_TENANT, {**header, "tenant": LOCAL_TENANT}
        out = _deep_merge(tenant.params, header)
        out["tenant"] = tenant.name
        if not out.get("model") and tenant.default_model:
            out["model"] = tenant.default_model
        model = out.get("model")
        if model and not tenant.may_use(model):
            raise ServiceError(
                StatusCode.NOT_FOUND,
                f"model {model!r} is not available to tenant {tenant.name!r}; choose one of "
                f"{list(tenant.allowed_models or ())}",
            )
        return tenant.name, out

    def acquire(self, tenant_name: str) -> None:
        """Take one of the tenant's stream slots (free it with :meth:`release`).

        Raises:
            ServiceError: RESOURCE_EXHAUSTED when the tenant is at ``max_streams``.
        """
        tenant = next((t for t in self.settings.tenants if t.name == tenant_name), None)
        if tenant is not None and self.active[tenant_name] >= tenant.max_streams:
            raise ServiceError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"tenant {tenant_name!r} already has {self.active[tenant_name]} open streams "
                f"(max_streams={tenant.max_streams}); wait for one to finish",
            )
        self.active[tenant_name] += 1

    def release(self, tenant_name: str) -> None:
        """Free a slot taken by :meth:`acquire`."""
        self.active[tenant_name] -= 1
        if self.active[tenant_name] <= 0:
            del self.active[tenant_name]

    def visible_models(self, header: Mapping[str, Any], served: list[str]) -> list[str]:
        """The served models the caller may use (raises UNAUTHENTICATED)."""
        tenant = self.identify(header)
        return [m for m in served if tenant is None or tenant.may_use(m)]


class TenantService:
    """A :class:`~deployments.ingress.service.StreamService` behind a :class:`TenantGate`.

    Same ``run_stream`` contract as the wrapped service; ``manager`` and ``options`` are the
    wrapped service's.

    Args:
        inner: the replica's stream service.
        gate: the replica's tenant gate.
    """

    def __init__(self, inner: Any, gate: TenantGate) -> None:
        self.inner = inner
        self.gate = gate

    @property
    def manager(self) -> Any:
        """The wrapped service's session manager."""
        return self.inner.manager

    @property
    def options(self) -> Any:
        """The wrapped service's options."""
        return self.inner.options

    async def run_stream(
        self, header: Mapping[str, Any], chunks: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        """Admit the stream, then yield the wrapped service's events (slot freed at the end).

        Args:
            header: the stream header (see :mod:`deployments.ingress.service`).
            chunks: the client's InputChunks.

        Yields:
            StreamStart, Frame..., StreamEnd, StreamStatus; only a StreamStatus when refused.
        """
        from deployments.ingress.service import StreamStatus

        try:
            name, resolved = self.gate.resolve(header)
            self.gate.acquire(name)
        except ServiceError as exc:
            yield StreamStatus(exc.code, exc.message)
            return
        try:
            async for event in self.inner.run_stream(resolved, chunks):
                yield event
        finally:
            self.gate.release(name)


def main(argv: list[str] | None = None) -> int:
    """``python -m deployments.tenancy new-key [--sha256]``: a key and its hash to configure."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "new-key":
        sys.stderr.write("usage: python -m deployments.tenancy new-key [--sha256]\n")
        return 2
    key = new_key()
    method = "sha256" if "--sha256" in args else "scrypt"
    sys.stdout.write(f"api key (give it to the tenant): {key}\n")
    sys.stdout.write(f"key_hashes entry: {hash_key(key, method=method)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
