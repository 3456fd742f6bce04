"""Backends without a server: fake, in-process ORT, the serving-layout adapter, server helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from deployments.backends import InferenceBackend, ModelNotFound, ModelSpec, ShapeMismatch
from deployments.backends.fake import FakeBackend, spec_from_onnx
from deployments.backends.onnx_cpu import OnnxCpuBackend
from deployments.triton import fixtures
from deployments.triton.python_model.model import ServingNetwork
from deployments.triton.server import TritonPorts, TritonServer, parse_load_failures

SPEC = ModelSpec(inputs={"input": (1, 8), "emotion": (1, 26)}, outputs={"result": (1, 31)})


def _reg(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "input": rng.standard_normal((batch, 1, 8)).astype(np.float32),
        "emotion": rng.standard_normal((batch, 1, 26)).astype(np.float32),
    }


def test_fake_backend_is_deterministic_per_item_and_shaped() -> None:
    fake = FakeBackend({"m": SPEC})
    assert isinstance(fake, InferenceBackend)
    inputs = _reg(3)
    out = asyncio.run(fake.infer("m", inputs))["result"]
    assert out.shape == (3, 1, 31) and out.dtype == np.float32
    again = asyncio.run(FakeBackend({"m": SPEC}).infer("m", inputs))["result"]
    np.testing.assert_array_equal(out, again)
    single = asyncio.run(fake.infer("m", {k: v[1:2] for k, v in inputs.items()}))["result"]
    np.testing.assert_allclose(single[0], out[1], rtol=1e-6)  # item b depends on item b only
    other = asyncio.run(fake.infer("m", _reg(3, seed=1)))["result"]
    assert not np.allclose(out, other)
    assert fake.calls == [("m", 3), ("m", 1), ("m", 3)]


def test_fake_backend_raises_typed_errors() -> None:
    fake = FakeBackend({"m": SPEC})
    with pytest.raises(ModelNotFound):
        asyncio.run(fake.infer("other", _reg(1)))
    with pytest.raises(ShapeMismatch, match="input 'input'"):
        asyncio.run(fake.infer("m", {**_reg(1), "input": np.zeros((1, 1, 9), np.float32)}))
    with pytest.raises(ShapeMismatch, match="batch size"):
        asyncio.run(fake.infer("m", {**_reg(1), "emotion": np.zeros((2, 1, 26), np.float32)}))


def test_spec_from_onnx_is_the_serving_layout(tmp_path: Path) -> None:
    spec = spec_from_onnx(fixtures.save(fixtures.build_diffusion(out_dim=12), tmp_path / "d.onnx"))
    assert "noise" not in spec.inputs
    assert spec.inputs["input_latents"] == (2, 2, 256)
    assert spec.outputs == {"prediction": (60, 12), "output_latents": (2, 2, 256)}


def test_serving_network_transposes_latents_and_reuses_constant_noise() -> None:
    seen: list[dict[str, np.ndarray]] = []

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(feeds)
        return {"output_latents": feeds["input_latents"] + 1}

    dims = {"input_latents": [2, 2, -1, 4], "noise": [-1, 3, 2, 5]}
    net = ServingNetwork(dims, {"output_latents": [2, 2, -1, 4]}, run, noise_seed=3)
    lat = np.arange(3 * 2 * 2 * 4, dtype=np.float32).reshape(3, 2, 2, 4)
    out = net.run({"input_latents": lat})
    np.testing.assert_array_equal(seen[0]["input_latents"][:, :, 1], lat[1])  # batch on axis 2
    np.testing.assert_array_equal(out["output_latents"], lat + 1)  # and back on axis 0
    noise = seen[0]["noise"]
    assert noise.shape == (3, 3, 2, 5)
    np.testing.assert_array_equal(noise[0], noise[2])  # one tensor for every track
    net.run({"input_latents": lat})
    np.testing.assert_array_equal(seen[1]["noise"], noise)  # and every inference
    fresh = ServingNetwork(dims, {"output_latents": [2, 2, -1, 4]}, run, constant_noise=False)
    fresh.run({"input_latents": lat})
    assert not np.array_equal(seen[2]["noise"][0], seen[2]["noise"][1])


def test_serving_network_runs_run_rows_at_a_time_and_joins_the_rows_in_order() -> None:
    """``run_rows``: ORT runs small batches (faster per row on CPU); outputs as one run."""
    sizes: list[int] = []

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sizes.append(len(feeds["input"]))
        # a network reading its batch axis: latents [2, 2, B, H] in NVIDIA's layout
        return {"result": feeds["input"] * 2, "output_latents": feeds["input_latents"] + 1}

    dims = {"input": [-1, 1, 4], "input_latents": [2, 2, -1, 3]}
    outs = {"result": [-1, 1, 4], "output_latents": [2, 2, -1, 3]}
    rng = np.random.default_rng(0)
    feeds = {
        "input": rng.normal(size=(20, 1, 4)).astype(np.float32),
        "input_latents": rng.normal(size=(20, 2, 2, 3)).astype(np.float32),
    }
    whole = ServingNetwork(dims, outs, run).run(feeds)
    assert sizes == [20]
    sizes.clear()
    split = ServingNetwork(dims, outs, run, run_rows=8).run(feeds)
    assert sizes == [8, 8, 4]
    for name in outs:
        np.testing.assert_array_equal(split[name], whole[name])
    sizes.clear()
    ServingNetwork(dims, outs, run, run_rows=8).run({n: x[:5] for n, x in feeds.items()})
    assert sizes == [5]  # a small batch runs as it is
    with pytest.raises(ValueError, match="run_rows"):
        ServingNetwork(dims, outs, run, run_rows=-1)


def test_serving_network_run_many_cuts_runs_across_requests_and_copies_only_joined_runs() -> None:
    """Triton's ``execute``: the requests' rows are run 8 at a time without joining them first;
    each request gets its own rows back, as if it had been run alone."""
    seen: list[np.ndarray] = []

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(feeds["input"])
        return {"result": feeds["input"][:, :, :2] * 2, "output_latents": feeds["input_latents"]}

    dims = {"input": [-1, 1, 4], "input_latents": [2, 2, -1, 3]}
    outs = {"result": [-1, 1, 2], "output_latents": [2, 2, -1, 3]}
    rng = np.random.default_rng(1)
    requests = [
        {
            "input": rng.normal(size=(n, 1, 4)).astype(np.float32),
            "input_latents": rng.normal(size=(n, 2, 2, 3)).astype(np.float32),
        }
        for n in (10, 3, 1, 9)
    ]
    alone = [ServingNetwork(dims, outs, run).run(r) for r in requests]
    seen.clear()
    many = ServingNetwork(dims, outs, run, run_rows=8).run_many(requests)
    assert [len(x) for x in seen] == [8, 8, 7]  # 23 rows: runs of 8, the last one shorter
    # the first run lies inside request 0: a view into its memory; the second joins 4 requests
    assert np.shares_memory(seen[0], requests[0]["input"])
    assert not any(np.shares_memory(seen[1], r["input"]) for r in requests)
    assert len(many) == len(requests)
    for got, want in zip(many, alone, strict=True):
        for name in outs:
            np.testing.assert_array_equal(got[name], want[name])
    # one request, or no run_rows: the plain paths give the same rows
    one = ServingNetwork(dims, outs, run, run_rows=8).run_many(requests[:1])
    np.testing.assert_array_equal(one[0]["result"], alone[0]["result"])
    joined = ServingNetwork(dims, outs, run).run_many(requests)
    for got, want in zip(joined, alone, strict=True):
        np.testing.assert_array_equal(got["output_latents"], want["output_latents"])


def test_serving_network_check_config_names_the_bad_tensor() -> None:
    net = ServingNetwork({"input": [-1, 1, 8320]}, {"result": [-1, 1, 31]}, lambda f: f)
    good = {
        "input": [{"name": "input", "dims": ["1", "8320"]}],
        "output": [{"name": "result", "dims": [1, 31]}],
    }
    net.check_config("m", good)
    bad = {**good, "input": [{"name": "input", "dims": [1, 8000]}]}
    with pytest.raises(ValueError, match=r"'input' has dims \[1, 8000\].*expects \[1, 8320\]"):
        net.check_config("m", bad)
    with pytest.raises(ValueError, match="no output 'result'"):
        net.check_config("m", {**good, "output": []})


def test_onnx_cpu_backend_runs_and_maps_errors(tmp_path: Path) -> None:
    onnx = fixtures.save(fixtures.build_regression(), tmp_path / "r.onnx")
    backend = OnnxCpuBackend({"reg": onnx}, intra_op_threads=1)

    async def run() -> None:
        inputs = {
            "input": np.ones((2, 1, 8320), np.float32),
            "emotion": np.zeros((2, 1, 26), np.float32),
        }
        assert await backend.ready()
        assert (await backend.infer("reg", inputs))["result"].shape == (2, 1, 31)
        with pytest.raises(ModelNotFound):
            await backend.infer("nope", inputs)
        with pytest.raises(ShapeMismatch):
            await backend.infer("reg", {**inputs, "input": np.ones((2, 1, 10), np.float32)})
        await backend.close()

    asyncio.run(run())


def test_parse_load_failures_reads_triton_log_lines() -> None:
    log = (
        'I1121 23:49:03.675037 7519 model_lifecycle.cc:472] "loading: a2e_x:1"\n'
        "E1121 23:49:05.1 7519 model_lifecycle.cc:654] \"failed to load 'a2e_x' version 1: "
        "Internal: ValueError: model 'a2e_x': config.pbtxt input 'input_values' has dims [2] "
        'but the ONNX network expects [-1]"\n'
    )
    failures = parse_load_failures(log)
    assert list(failures) == ["a2e_x"]
    assert failures["a2e_x"].endswith("expects [-1]")
    assert parse_load_failures("all good") == {}


def test_server_command_binds_loopback_and_configured_ports(tmp_path: Path) -> None:
    server = TritonServer(tmp_path, TritonPorts(18010, 18001, 18002), workdir=tmp_path)
    cmd = server.command(tmp_path / "dist" / "bin" / "tritonserver")
    for flag in ("--http-port=18010", "--grpc-port=18001", "--metrics-port=18002"):
        assert flag in cmd
    assert "--grpc-address=127.0.0.1" in cmd and "--http-address=127.0.0.1" in cmd
    assert f"--backend-directory={tmp_path / 'dist' / 'backends'}" in cmd


def test_onnx_backend_of_the_settings_runs_a2finference_sub_batches_at_once(tmp_path: Path) -> None:
    """A2FInference sends up to ``concurrency`` (3) sub-batches together: the in-process backend
    runs ``split_parts`` (2) of them in parallel (one single-threaded session run per worker), as
    Triton's 2 instances do, and the third waits for a worker."""
    import threading
    import time

    from a2f_actors.model_package.synthetic import make_regression_package
    from deployments.face_inference import A2FInference, make_backend
    from deployments.settings import ModelEntry, ServeSettings

    onnx = fixtures.build_regression(num_skin=8, num_tongue=4).SerializeToString()
    path = make_regression_package(tmp_path / "reg", onnx=onnx)
    entry = ModelEntry(model_id="tiny_v1.0", kind="regression", path=str(path.parent))
    settings = ServeSettings(backend="onnx", models=(entry,), default_model="tiny_v1.0")
    backend = make_backend(settings)
    running, peak, lock = 0, 0, threading.Lock()

    def slow(model, inputs):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return {"result": np.zeros((len(inputs["input"]), 1, 31), np.float32)}

    backend.run_sync = slow  # type: ignore[method-assign]
    stage = A2FInference.from_settings(settings)
    x = {"input": np.ones((2, 1, 8320), np.float32), "emotion": np.zeros((2, 1, 26), np.float32)}

    async def run() -> None:
        await asyncio.gather(*(backend.infer("m", x) for _ in range(stage.concurrency)))

    asyncio.run(run())
    assert stage.concurrency == 3 and stage.split_parts == 2
    assert peak == stage.split_parts
