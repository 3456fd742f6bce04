"""A real tritonserver on CPU: parity with in-process ORT, dynamic batching, load errors, stop."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from deployments.backends import ModelNotFound, ServerUnavailable, ShapeMismatch
from deployments.backends.onnx_cpu import OnnxCpuBackend
from deployments.backends.triton_grpc import TritonGrpcBackend
from deployments.triton.repository import BuildOptions, build_repository
from deployments.triton.server import (
    ModelLoadError,
    TritonPorts,
    TritonServer,
    group_members,
    read_state,
)
from tests.integration.triton.conftest import BATCHING_ID, TritonEnv, free_ports, make_sources

pytestmark = pytest.mark.integration

# Only the triton command group, so the test does not depend on the other groups' modules.
_CLI = (
    "import argparse, sys; from deployments.cli import triton_cmd; "
    "p = argparse.ArgumentParser(); triton_cmd.register(p.add_subparsers()); "
    "a = p.parse_args(); sys.exit(a.func(a))"
)


def _inputs(model: str, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    if model.startswith("a2f_regression"):
        return {"input": r(batch, 1, 8320), "emotion": r(batch, 1, 26)}
    if model.startswith("a2f_diffusion"):
        identity = np.eye(3, dtype=np.float32)[np.arange(batch) % 3]
        return {
            "window": r(batch, 16000),
            "identity": identity,
            "emotion": r(batch, 30, 10),
            "input_latents": r(batch, 2, 2, 256),
        }
    return {"input_values": r(batch, 12000)}


async def _both(env: TritonEnv, model: str, inputs: dict[str, np.ndarray], **kw: object):
    triton = TritonGrpcBackend(env.grpc_url, **kw)  # type: ignore[arg-type]
    try:
        remote = await triton.infer(model, inputs)
    finally:
        await triton.close()
    local = OnnxCpuBackend({model: env.onnx[model]}, intra_op_threads=1)
    try:
        return remote, await local.infer(model, inputs)
    finally:
        await local.close()


@pytest.mark.parametrize("model", ["a2f_regression_tiny", "a2f_diffusion_tiny", "a2e_tiny"])
def test_triton_outputs_equal_in_process_ort(triton_env: TritonEnv, model: str) -> None:
    inputs = _inputs(model, batch=3)
    remote, local = asyncio.run(_both(triton_env, model, inputs))
    assert set(remote) == set(local)
    for name in local:
        assert remote[name].shape == local[name].shape
        np.testing.assert_allclose(remote[name], local[name], rtol=0, atol=1e-5)


@pytest.mark.parametrize("model", ["a2f_regression_tiny", "a2f_diffusion_tiny", "a2e_tiny"])
def test_shared_memory_inputs_give_the_same_outputs(triton_env: TritonEnv, model: str) -> None:
    """Inputs through registered /dev/shm regions: the same outputs as in-process ORT."""
    inputs = _inputs(model, batch=12, seed=5)  # diffusion: above max batch 8, 2 regions at once
    remote, local = asyncio.run(_both(triton_env, model, inputs, shared_memory=True))
    for name in local:
        np.testing.assert_allclose(remote[name], local[name], rtol=0, atol=1e-4)


def test_shared_memory_regions_survive_a_lost_registration_and_are_cleaned_up(
    triton_env: TritonEnv,
) -> None:
    model = "a2f_regression_tiny"

    async def run() -> tuple[list[dict[str, np.ndarray]], list[str], list[str], dict]:
        backend = TritonGrpcBackend(triton_env.grpc_url, shared_memory=True)
        plain = TritonGrpcBackend(triton_env.grpc_url)
        try:
            first = await backend.infer(model, _inputs(model, 4, seed=1))
            during = sorted(p.name for p in Path("/dev/shm").glob(f"a2f_shm_*_{os.getpid()}_*"))
            status = await plain.client.get_system_shared_memory_status(as_json=True)
            await plain.client.unregister_system_shared_memory()  # as after a Triton restart
            second = await backend.infer(model, _inputs(model, 4, seed=1))
            expected = await plain.infer(model, _inputs(model, 4, seed=1))
        finally:
            await backend.close()
            await plain.close()
        after = sorted(p.name for p in Path("/dev/shm").glob(f"a2f_shm_*_{os.getpid()}_*"))
        return [first, second, expected], during, after, status

    (first, second, expected), during, after, status = asyncio.run(run())
    assert len(during) == 1, during
    assert during[0] in str(status)  # registered with Triton under its own name
    np.testing.assert_array_equal(first["result"], expected["result"])
    np.testing.assert_array_equal(second["result"], expected["result"])
    assert after == []  # close() unregisters and unlinks


def test_a_triton_that_cannot_open_the_regions_gets_inputs_over_grpc(
    triton_env: TritonEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """E.g. Triton in another container without this /dev/shm: serve on, never fail streams."""
    from deployments.backends import triton_shm

    # Triton is told a key that does not exist, as if it could not see this host's /dev/shm
    monkeypatch.setattr(triton_shm.Region, "key", property(lambda self: "/a2f_not_there"))
    model = "a2f_regression_tiny"
    inputs = _inputs(model, batch=3, seed=2)

    async def run() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], object]:
        backend = TritonGrpcBackend(triton_env.grpc_url, shared_memory=True)
        plain = TritonGrpcBackend(triton_env.grpc_url)
        try:
            got = await backend.infer(model, inputs)
            again = await backend.infer(model, inputs)
            assert np.array_equal(got["result"], again["result"])
            return got, await plain.infer(model, inputs), backend.pool
        finally:
            await backend.close()
            await plain.close()

    with caplog.at_level("WARNING"):
        got, expected, pool = asyncio.run(run())
    np.testing.assert_array_equal(got["result"], expected["result"])
    assert pool is None  # shared memory switched off for this backend
    assert "cannot use shared memory" in caplog.text
    assert not list(Path("/dev/shm").glob(f"a2f_shm_*_{os.getpid()}_*"))


def test_diffusion_latents_batch_axis_and_constant_noise(triton_env: TritonEnv) -> None:
    model = "a2f_diffusion_tiny"
    inputs = _inputs(model, batch=2)
    once, _ = asyncio.run(_both(triton_env, model, inputs))
    twice, _ = asyncio.run(_both(triton_env, model, inputs))
    assert once["output_latents"].shape == (2, 2, 2, 256)
    np.testing.assert_array_equal(once["prediction"], twice["prediction"])  # constant noise
    # each track's output depends only on its own latents (batch axis mapped correctly)
    swapped = {k: v[::-1].copy() for k, v in inputs.items()}
    rev, _ = asyncio.run(_both(triton_env, model, swapped))
    np.testing.assert_allclose(rev["output_latents"][::-1], once["output_latents"], atol=1e-6)


def test_batches_above_the_model_max_batch_size_are_split(triton_env: TritonEnv) -> None:
    """12 diffusion streams in one round: the model's max_batch_size is 8, Triton refuses more."""
    model = "a2f_diffusion_tiny"
    remote, local = asyncio.run(_both(triton_env, model, _inputs(model, batch=12, seed=3)))
    assert remote["prediction"].shape[0] == 12 and remote["output_latents"].shape[0] == 12
    for name in ("prediction", "output_latents"):
        np.testing.assert_allclose(remote[name], local[name], atol=1e-4)


def _metric(text: str, name: str, model: str) -> float:
    pattern = rf'^{name}\{{[^}}]*model="{model}"[^}}]*\}} ([0-9.e+]+)$'
    return sum(float(m) for m in re.findall(pattern, text, flags=re.M))


def _metrics(env: TritonEnv) -> str:
    with urllib.request.urlopen(env.metrics_url, timeout=5) as response:
        return response.read().decode()


async def _concurrent(env: TritonEnv, model: str, n: int) -> None:
    backend = TritonGrpcBackend(env.grpc_url)
    try:
        await asyncio.gather(*(backend.infer(model, _inputs(model, 1, i)) for i in range(n)))
    finally:
        await backend.close()


def test_dynamic_batching_forms_batches_under_32_concurrent_requests(triton_env: TritonEnv) -> None:
    model = f"a2f_regression_{BATCHING_ID}"  # 50 ms queue delay: merging does not race the CPU
    before = _metrics(triton_env)
    asyncio.run(_concurrent(triton_env, model, 32))
    # The metrics counters can lag the responses the client already holds (seen once in CI:
    # 16 of 32 counted), so poll briefly instead of reading them once.
    deadline = time.monotonic() + 10.0
    while True:
        after = _metrics(triton_env)
        requests = _metric(after, "nv_inference_request_success", model) - _metric(
            before, "nv_inference_request_success", model
        )
        if requests >= 32 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    executions = _metric(after, "nv_inference_exec_count", model) - _metric(
        before, "nv_inference_exec_count", model
    )
    assert requests == 32
    assert requests / executions > 4, f"{requests} requests in {executions} executions"


def test_triton_backend_maps_errors_to_typed_exceptions(triton_env: TritonEnv) -> None:
    async def run() -> None:
        backend = TritonGrpcBackend(triton_env.grpc_url)
        try:
            assert await backend.ready()
            with pytest.raises(ModelNotFound):
                await backend.infer("a2f_regression_nope", _inputs("a2f_regression", 1))
            bad = {
                "input": np.zeros((1, 1, 100), np.float32),
                "emotion": np.zeros((1, 1, 26), np.float32),
            }
            with pytest.raises(ShapeMismatch):
                await backend.infer("a2f_regression_tiny", bad)
        finally:
            await backend.close()
        (port,) = free_ports(1)
        dead = TritonGrpcBackend(f"127.0.0.1:{port}", timeout_s=2)
        try:
            assert not await dead.ready()
            with pytest.raises(ServerUnavailable):
                await dead.infer("a2f_regression_tiny", _inputs("a2f_regression", 1))
        finally:
            await dead.close()

    asyncio.run(run())


def test_wrong_shape_model_fails_loading_with_its_own_error(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "packages")[:1]
    build_repository(sources, tmp_path / "repo", BuildOptions())
    config = tmp_path / "repo" / "a2f_regression_tiny" / "config.pbtxt"
    config.write_text(config.read_text().replace("dims: [ 1, 8320 ]", "dims: [ 1, 8000 ]"))
    server = TritonServer(tmp_path / "repo", TritonPorts(*free_ports(3)), workdir=tmp_path / "work")
    try:
        with pytest.raises(ModelLoadError) as info:
            server.start(timeout_s=90)
    finally:
        server.stop()
    message = info.value.failures["a2f_regression_tiny"]
    assert "input 'input' has dims [1, 8000]" in message
    assert "expects [1, 8320]" in message


def test_cli_stop_from_another_process_leaves_no_process(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "packages")[2:]
    build_repository(sources, tmp_path / "repo", BuildOptions())
    workdir = tmp_path / "work"
    server = TritonServer(tmp_path / "repo", TritonPorts(*free_ports(3)), workdir=workdir)
    try:
        state = server.start(timeout_s=90)
        members = group_members(state.pid)
        assert len(members) >= 2, "expected tritonserver plus its Python stub"
        cli = [sys.executable, "-c", _CLI, "triton"]
        status = subprocess.run(
            [*cli, "status", "--workdir", str(workdir)], capture_output=True, text=True
        )
        assert status.returncode == 0, status.stdout + status.stderr
        stop = subprocess.run(
            [*cli, "stop", "--workdir", str(workdir)], capture_output=True, text=True
        )
        assert "stopped" in stop.stdout, stop.stdout + stop.stderr
        server._proc.wait(timeout=10)  # type: ignore[union-attr]  # reap: we are its parent
        assert group_members(state.pid) == []
        assert all(not os.path.exists(f"/proc/{pid}") for pid in members if pid != state.pid)
        assert read_state(workdir) is None
    finally:
        server.stop()
