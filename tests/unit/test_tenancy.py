"""Tenancy: key hashing, tenant resolution, model policy, quotas, the gated service."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from deployments.ingress.service import StreamStart, StreamStatus
from deployments.session.errors import ServiceError, StatusCode
from deployments.settings import ServeSettings
from deployments.tenancy import (
    LOCAL_TENANT,
    TenancySettings,
    TenantConfig,
    TenantGate,
    TenantService,
    bearer_key,
    hash_key,
    main,
    new_key,
    verify_key,
)

KEY_A, KEY_B = "a2f_key-a", "a2f_key-b"


def tenancy(**alpha: object) -> TenancySettings:
    a = {
        "name": "alpha",
        "key_hashes": (hash_key(KEY_A),),
        "max_streams": 1,
        "default_model": "m1",
        "allowed_models": ("m1",),
        "params": {"face_params": {"float_params": {"skinStrength": 0.5, "eyelidOpenOffset": 0.1}}},
    }
    b = {"name": "beta", "key_hashes": (hash_key(KEY_B, method="sha256"),)}
    return TenancySettings(auth=True, tenants=(TenantConfig(**(a | alpha)), TenantConfig(**b)))


def hdr(key: str | None = None, **extra: object) -> dict:
    meta = {"metadata": {"authorization": f"Bearer {key}"}} if key else {}
    return {"audio_header": {"samples_per_second": 16000}} | meta | extra


@pytest.mark.parametrize("method", ["scrypt", "sha256"])
def test_hash_key_verifies_only_the_same_key_when_salted(method: str) -> None:
    stored = hash_key("secret", method=method)
    assert stored.startswith(method + "$") and "secret" not in stored
    assert verify_key("secret", stored) and not verify_key("Secret", stored)
    assert hash_key("secret", method=method) != stored  # fresh salt each time


def test_new_key_is_random_and_prefixed() -> None:
    a, b = new_key(), new_key()
    assert a != b and a.startswith("a2f_") and len(a) > 40


def test_config_rejects_plain_keys_duplicates_unknown_sections_and_auth_without_tenants() -> None:
    with pytest.raises(ValidationError, match="never put plain keys"):
        TenantConfig(name="x", key_hashes=("my-plain-key",))
    with pytest.raises(ValidationError, match="unknown section"):
        TenantConfig(name="x", key_hashes=(hash_key("k"),), params={"audio_header": {}})
    t = TenantConfig(name="x", key_hashes=(hash_key("k", method="sha256"),))
    with pytest.raises(ValidationError, match="duplicate"):
        TenancySettings(auth=True, tenants=(t, t))
    with pytest.raises(ValidationError, match="no tenants"):
        TenancySettings(auth=True)
    with pytest.raises(ValidationError, match="extra"):
        TenancySettings(auth=False, users=[])


def test_settings_refuse_a_public_bind_without_auth() -> None:
    with pytest.raises(ValidationError, match="without authentication"):
        ServeSettings(http_host="0.0.0.0")
    assert ServeSettings(http_host="0.0.0.0", tenancy=tenancy()).http_port == 8000
    assert ServeSettings().tenancy.auth is False  # local default: auth off, 127.0.0.1


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_bearer_key_reads_only_bearer_authorization(value: str | None, key: str | None) -> None:
    header = {"metadata": {"authorization": value}} if value is not None else {}
    assert bearer_key(header) == key


def test_auth_off_runs_everything_as_the_local_tenant_unchanged() -> None:
    gate = TenantGate()
    name, header = gate.resolve(hdr(model="any"))
    assert name == LOCAL_TENANT and header["model"] == "any" and header["tenant"] == LOCAL_TENANT
    for _ in range(50):
        gate.acquire(name)  # no per-tenant quota


@pytest.mark.parametrize("key", [None, "wrong"])
def test_unknown_or_missing_key_is_unauthenticated(key: str | None) -> None:
    with pytest.raises(ServiceError) as err:
        TenantGate(tenancy()).resolve(hdr(key))
    assert err.value.code == StatusCode.UNAUTHENTICATED


def test_tenant_defaults_fill_in_but_the_clients_values_win() -> None:
    gate = TenantGate(tenancy())
    client = {"face_params": {"float_params": {"skinStrength": 0.9}}}
    name, header = gate.resolve(hdr(KEY_A, **client))
    assert name == "alpha" and header["model"] == "m1" and header["tenant"] == "alpha"
    assert header["face_params"]["float_params"] == {"skinStrength": 0.9, "eyelidOpenOffset": 0.1}
    name_b, header_b = gate.resolve(hdr(KEY_B, model="m2"))
    assert name_b == "beta" and header_b["model"] == "m2"  # no allow-list: any model


def test_model_outside_the_allow_list_is_not_found() -> None:
    with pytest.raises(ServiceError) as err:
        TenantGate(tenancy()).resolve(hdr(KEY_A, model="m2"))
    assert err.value.code == StatusCode.NOT_FOUND and "alpha" in err.value.message


def test_quota_refuses_beyond_max_streams_and_frees_on_release() -> None:
    gate = TenantGate(tenancy(max_streams=2))
    gate.acquire("alpha")
    gate.acquire("alpha")
    with pytest.raises(ServiceError) as err:
        gate.acquire("alpha")
    assert err.value.code == StatusCode.RESOURCE_EXHAUSTED
    gate.acquire("beta")  # other tenants are not affected
    gate.release("alpha")
    gate.acquire("alpha")
    assert gate.active == {"alpha": 2, "beta": 1}


def test_verified_keys_are_cached() -> None:
    gate = TenantGate(tenancy())
    gate.identify(hdr(KEY_A))
    gate.settings = tenancy(key_hashes=(hash_key("other"),))  # the cache answers first
    assert gate.identify(hdr(KEY_A)).name == "alpha"


class FakeService:
    manager, options = "manager", "options"

    def __init__(self) -> None:
        self.headers: list[dict] = []
        self.release = asyncio.Event()

    async def run_stream(self, header, chunks):
        self.headers.append(header)
        yield StreamStart(model=header.get("model", ""))
        await self.release.wait()
        yield StreamStatus()


def test_gated_service_refuses_with_a_status_and_frees_the_slot_at_the_end() -> None:
    async def scenario():
        inner = FakeService()
        service = TenantService(inner, TenantGate(tenancy()))
        first = service.run_stream(hdr(KEY_A), None)
        assert isinstance(await first.__anext__(), StreamStart)  # alpha holds its only slot
        refused = [e async for e in service.run_stream(hdr(KEY_A), None)]
        bad = [e async for e in service.run_stream(hdr("nope"), None)]
        inner.release.set()
        rest = [e async for e in first]
        again = [e async for e in service.run_stream(hdr(KEY_A), None)]
        return inner, service, refused, bad, rest, again

    inner, service, refused, bad, rest, again = asyncio.run(scenario())
    assert [e.code for e in refused] == [StatusCode.RESOURCE_EXHAUSTED]
    assert [e.code for e in bad] == [StatusCode.UNAUTHENTICATED]
    assert rest == [StreamStatus()] and again[-1] == StreamStatus()
    assert inner.headers[0]["model"] == "m1" and service.gate.active == {}
    assert (service.manager, service.options) == ("manager", "options")


def test_new_key_command_prints_a_key_and_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-key", "--sha256"]) == 0
    lines = capsys.readouterr().out.splitlines()
    key = lines[0].split(": ")[1]
    stored = lines[1].split(": ")[1]
    assert verify_key(key, stored)
    assert main([]) == 2
