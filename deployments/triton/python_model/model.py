"""Triton Python-backend model: one A2F / A2E ONNX network, all requests of a batch in one run.

This file is copied verbatim into ``<model>/1/model.py`` by the repository builder, so it must
stay self-contained (numpy + onnxruntime only; ``triton_python_backend_utils`` is provided by
the stub). The in-process ``OnnxCpuBackend`` imports the same :class:`ServingNetwork`, so the
two paths cannot drift apart.

Serving layout (what Triton clients see) versus NVIDIA's graph (a2f_reference.md section 1.5):

- Every tensor has its batch on axis 0 in the serving layout (Triton's dynamic batcher stacks
  requests on axis 0). NVIDIA's diffusion graph keeps the GRU latents as [2, 2, B, 256] (batch
  on axis 2): the adapter transposes [B, 2, 2, 256] -> [2, 2, B, 256] on the way in
  (``np.moveaxis(x, 0, 2)``) and back on the way out (``np.moveaxis(y, 2, 0)``).
- The diffusion ``noise`` input [B, 3, 60, D] is generated here, never shipped by clients:
  ``constant_noise`` = one N(0, 1) tensor [3, 60, D] drawn once per model instance from
  ``noise_seed`` and reused for every track and inference (as the SDK does); otherwise a fresh
  draw per track and inference from a generator seeded once with ``noise_seed``.

Model parameters (``parameters`` in config.pbtxt, all strings): ``onnx_path`` (absolute path
of the package's network.onnx, so weights are not copied), ``kind`` (regression | diffusion |
a2e), ``constant_noise`` (true/false), ``noise_seed`` (int), ``intra_op_threads`` (0 = ORT
default), ``allow_spinning`` (true/false), ``net_model`` (optional: run the network as this
other Triton model through BLS instead of ONNX Runtime, e.g. a TensorRT plan on GPU nodes),
``nvidia_io`` (JSON ``{"inputs": {name: dims}, "outputs": {...}}`` of the ONNX graph, written
by the builder so the model needs no ``onnx`` import; read from the ONNX file when absent).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

#: Tensors whose batch axis in NVIDIA's graph is not 0 (name -> axis).
NVIDIA_BATCH_AXIS: dict[str, int] = {"input_latents": 2, "output_latents": 2}
#: Inputs generated inside the model, never sent by clients.
GENERATED_INPUTS: frozenset[str] = frozenset({"noise"})
KINDS: tuple[str, ...] = ("regression", "diffusion", "a2e")

Dims = list[int]  # -1 = dynamic
RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
#: Rows per ONNX Runtime run on CPU (``ServingNetwork.run_rows``) for the Triton CPU models and
#: the in-process backend alike: the fastest batch per window on these cores (docs/triton.md).
CPU_RUN_ROWS = 8


def to_serving_dims(name: str, dims: Dims) -> Dims:
    """NVIDIA graph dims of ``name`` (batch included) -> serving dims without the batch axis."""
    axis = NVIDIA_BATCH_AXIS.get(name, 0)
    return [d for i, d in enumerate(dims) if i != axis]


def onnx_io(onnx_path: str) -> tuple[dict[str, Dims], dict[str, Dims]]:
    """Read the input and output dims of an ONNX file (symbolic dims -> -1), in graph order."""
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    inits = {i.name for i in model.graph.initializer}

    def dims(value_info: Any) -> Dims:
        shape = value_info.type.tensor_type.shape.dim
        return [d.dim_value if d.HasField("dim_value") else -1 for d in shape]

    inputs = {v.name: dims(v) for v in model.graph.input if v.name not in inits}
    outputs = {v.name: dims(v) for v in model.graph.output}
    return inputs, outputs


class ServingNetwork:
    """One network in the serving layout around a ``run`` function in NVIDIA's layout.

    Args:
        inputs: NVIDIA input dims by name (batch included, -1 dynamic), as in the ONNX graph.
        outputs: NVIDIA output dims by name.
        run_nvidia: Runs the network on NVIDIA-layout float32 feeds, returns NVIDIA outputs.
        constant_noise: Reuse one noise tensor [3, 60, D] for every track and inference.
        noise_seed: Seed of the noise generator.
        run_rows: Rows per call of ``run_nvidia`` (0 = the whole batch in one call). ONNX
            Runtime on CPU is faster per row on small batches: a 64-window regression batch
            as 8 runs of 8 rows gave 4,259-4,271 frames/s on one thread against 3,389-3,451 in
            one run (the windows of a batch of 8 stay in the core's cache). Rows are
            independent, so the outputs are those of one run.
    """

    def __init__(
        self,
        inputs: Mapping[str, Dims],
        outputs: Mapping[str, Dims],
        run_nvidia: RunFn,
        *,
        constant_noise: bool = True,
        noise_seed: int = 0,
        run_rows: int = 0,
    ) -> None:
        if run_rows < 0:
            raise ValueError(f"run_rows={run_rows} must be >= 0 (0: the whole batch at once)")
        self.nvidia_inputs = dict(inputs)
        self.nvidia_outputs = dict(outputs)
        self._run = run_nvidia
        self.run_rows = run_rows
        self._rng = np.random.default_rng(noise_seed)
        self._noise: np.ndarray | None = None
        if "noise" in inputs:
            per_track = tuple(inputs["noise"][1:])
            if any(d < 0 for d in per_track):
                raise ValueError(f"noise input must have static dims after batch, got {per_track}")
            if constant_noise:
                self._noise = self._rng.standard_normal(per_track, dtype=np.float32)

    @property
    def input_dims(self) -> dict[str, Dims]:
        """Serving input dims (batch excluded), generated inputs left out."""
        return {
            n: to_serving_dims(n, d)
            for n, d in self.nvidia_inputs.items()
            if n not in GENERATED_INPUTS
        }

    @property
    def output_dims(self) -> dict[str, Dims]:
        """Serving output dims (batch excluded)."""
        return {n: to_serving_dims(n, d) for n, d in self.nvidia_outputs.items()}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a batch: serving-layout arrays [B, ...] in, serving-layout arrays out."""
        return self.run_many([feeds])[0]

    def run_many(self, requests: list[Mapping[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        """Run the rows of several requests as one batch; one output dict per request.

        With ``run_rows`` the requests' rows are cut into runs of ``run_rows`` directly: a run
        is a view into its request's array (Triton's shared memory), and only a run that spans
        two requests is copied. Joining every request first copied each input row once more
        (33 KB per regression window). Without ``run_rows`` (or with fewer rows) the requests
        are joined and run in one call.
        """
        sizes = [next(iter(r.values())).shape[0] for r in requests]
        step = self.run_rows
        if not step or sum(sizes) <= step:
            runs: Iterable[dict[str, np.ndarray]] = [
                _join(requests, [(i, 0, n) for i, n in enumerate(sizes)])
            ]
        else:
            runs = _runs(requests, sizes, step)
        parts = [self._run_rows(f, next(iter(f.values())).shape[0]) for f in runs]
        out = (
            parts[0]
            if len(parts) == 1
            else {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}
        )
        bounds = np.cumsum([0, *sizes])
        return [{n: y[a:b] for n, y in out.items()} for a, b in itertools.pairwise(bounds)]

    def _run_rows(self, feeds: Mapping[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
        """One call of the NVIDIA-layout runner on ``batch`` rows."""
        nvidia: dict[str, np.ndarray] = {}
        for name in self.nvidia_inputs:
            if name == "noise":
                nvidia[name] = self._make_noise(batch)
                continue
            x = np.asarray(feeds[name], dtype=np.float32)
            axis = NVIDIA_BATCH_AXIS.get(name, 0)
            nvidia[name] = np.ascontiguousarray(np.moveaxis(x, 0, axis)) if axis else x
        out = self._run(nvidia)
        return {
            n: np.ascontiguousarray(np.moveaxis(out[n], NVIDIA_BATCH_AXIS[n], 0))
            if n in NVIDIA_BATCH_AXIS
            else out[n]
            for n in self.nvidia_outputs
        }

    def _make_noise(self, batch: int) -> np.ndarray:
        per_track = tuple(self.nvidia_inputs["noise"][1:])
        if self._noise is not None:
            return np.ascontiguousarray(np.broadcast_to(self._noise, (batch, *per_track)))
        return self._rng.standard_normal((batch, *per_track), dtype=np.float32)

    def check_config(self, model_name: str, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the tensor when config.pbtxt disagrees with the ONNX."""
        for section, expected in (("input", self.input_dims), ("output", self.output_dims)):
            declared = {t["name"]: [int(d) for d in t["dims"]] for t in config.get(section, [])}
            for name, dims in expected.items():
                if name not in declared:
                    raise ValueError(
                        f"model '{model_name}': config.pbtxt has no {section} '{name}'; the ONNX "
                        f"network declares {section}s {sorted(expected)}"
                    )
                got = declared[name]
                if len(got) != len(dims) or any(
                    e >= 0 and g >= 0 and e != g for g, e in zip(got, dims, strict=False)
                ):
                    raise ValueError(
                        f"model '{model_name}': config.pbtxt {section} '{name}' has dims {got} "
                        f"but the ONNX network expects {dims} (batch axis excluded, -1 dynamic)"
                    )


def _runs(
    requests: list[Mapping[str, np.ndarray]], sizes: list[int], step: int
) -> Iterator[dict[str, np.ndarray]]:
    """Consecutive runs of ``step`` rows over the requests' rows (the last may be shorter).

    A run inside one request is a view; a run across requests joins only its own rows.
    """
    pieces: list[tuple[int, int, int]] = []  # (request, lo, hi) of the run being built
    have = 0
    for i, n in enumerate(sizes):
        lo = 0
        while lo < n:
            take = min(step - have, n - lo)
            pieces.append((i, lo, lo + take))
            have += take
            lo += take
            if have == step:
                yield _join(requests, pieces)
                pieces, have = [], 0
    if pieces:
        yield _join(requests, pieces)


def _join(
    requests: list[Mapping[str, np.ndarray]], pieces: list[tuple[int, int, int]]
) -> dict[str, np.ndarray]:
    if len(pieces) == 1:
        i, lo, hi = pieces[0]
        return {n: x[lo:hi] for n, x in requests[i].items()}
    return {n: np.concatenate([requests[i][n][lo:hi] for i, lo, hi in pieces]) for n in requests[0]}


def ort_runner(onnx_path: str, intra_op_threads: int = 0, allow_spinning: bool = True) -> RunFn:
    """An ONNX Runtime CPU session wrapped as a ``run`` function (NVIDIA layout)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    if not allow_spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, feeds), strict=True))

    return run


def open_network(
    onnx_path: str,
    *,
    constant_noise: bool = True,
    noise_seed: int = 0,
    intra_op_threads: int = 0,
    allow_spinning: bool = True,
    run_nvidia: RunFn | None = None,
    run_rows: int = 0,
) -> ServingNetwork:
    """Build a :class:`ServingNetwork` for an ONNX file (ORT on CPU unless ``run_nvidia``)."""
    inputs, outputs = onnx_io(onnx_path)
    runner = run_nvidia or ort_runner(onnx_path, intra_op_threads, allow_spinning)
    return ServingNetwork(
        inputs, outputs, runner, constant_noise=constant_noise, noise_seed=noise_seed,
        run_rows=run_rows,
    )  # fmt: skip


def _bls_runner(net_model: str, output_names: list[str]) -> RunFn:
    """Run the network as another Triton model through BLS (GPU target, TensorRT plan)."""
    import triton_python_backend_utils as pb_utils

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = pb_utils.InferenceRequest(
            model_name=net_model,
            requested_output_names=output_names,
            inputs=[pb_utils.Tensor(n, x) for n, x in feeds.items()],
        )
        response = request.exec()
        if response.has_error():
            raise RuntimeError(response.error().message())
        return {n: pb_utils.get_output_tensor_by_name(response, n).as_numpy() for n in output_names}

    return run


def _param(config: Mapping[str, Any], key: str, default: str) -> str:
    return str(config.get("parameters", {}).get(key, {}).get("string_value", default))


class TritonPythonModel:
    """Triton entry points: ``initialize`` / ``execute`` / ``finalize``."""

    def initialize(self, args: dict[str, str]) -> None:
        """Open the network named by the ``onnx_path`` parameter and check config.pbtxt."""
        config = json.loads(args["model_config"])
        name = config.get("name", args.get("model_name", "?"))
        onnx_path = _param(config, "onnx_path", "")
        net_model = _param(config, "net_model", "")
        io = json.loads(_param(config, "nvidia_io", "{}")) or None
        inputs, outputs = (io["inputs"], io["outputs"]) if io else onnx_io(onnx_path)
        if net_model:
            run_nvidia = _bls_runner(net_model, list(outputs))
        else:
            run_nvidia = ort_runner(
                onnx_path,
                int(_param(config, "intra_op_threads", "0")),
                _param(config, "allow_spinning", "true").lower() == "true",
            )
        self.network = ServingNetwork(
            inputs,
            outputs,
            run_nvidia,
            constant_noise=_param(config, "constant_noise", "true").lower() == "true",
            noise_seed=int(_param(config, "noise_seed", "0")),
            run_rows=int(_param(config, "run_rows", "0")),
        )
        self.network.check_config(name, config)

    def execute(self, requests: list[Any]) -> list[Any]:
        """Concatenate all requests on axis 0, run once, split the outputs per request."""
        import triton_python_backend_utils as pb_utils

        names = list(self.network.input_dims)
        feeds = [
            {n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in names} for r in requests
        ]
        try:
            outs = self.network.run_many(feeds)
        except Exception as exc:  # report to every client instead of crashing the stub
            error = pb_utils.TritonError(f"{type(exc).__name__}: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        return [
            pb_utils.InferenceResponse(
                [pb_utils.Tensor(n, np.ascontiguousarray(y)) for n, y in out.items()]
            )
            for out in outs
        ]

    def finalize(self) -> None:
        """Release the session."""
        self.network = None  # type: ignore[assignment]
