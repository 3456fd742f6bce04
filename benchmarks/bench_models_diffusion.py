"""Benchmark and evaluate the diffusion (ada_multi_v3.0) and emotion (ada_a2e_v1.0) packages.

::

    python benchmarks/bench_models_diffusion.py bench            # ORT throughput, CPU
    python benchmarks/bench_models_diffusion.py eval --corpus data/corpus/full [--real-speech]

``bench``: diffusion windows per second at batch 1 and 8 (one window = 0.5 s of new audio
per stream: x real time per stream = 0.5 s / (call time / B)), FLOPs per window and the
achieved FLOP/s; A2E inferences per second on 3.75 s (60000-sample) windows.
``eval``: the harness (``score_package``) on the held-out synthetic ``test`` split and,
optionally, the Debian real speech, beside the ground truth; and window-seam statistics
(``a2f_train.train.diffusion.seam_stats``) through the in-process pipeline.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DIFFUSION = Path("models/ada_multi_v3.0")
A2E = Path("models/ada_a2e_v1.0")


def _session(onnx: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(onnx), opts, providers=["CPUExecutionProvider"])


def _time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def diffusion_feeds(session, batch: int) -> dict[str, np.ndarray]:
    """Random inputs of the diffusion contract at batch ``batch`` (shapes from the graph)."""
    rng = np.random.default_rng(0)
    shapes = {i.name: i.shape for i in session.get_inputs()}
    k, d, h = shapes["identity"][1], shapes["noise"][3], shapes["input_latents"][3]
    ident = np.zeros((batch, k), np.float32)
    ident[:, 0] = 1
    return {
        "window": (rng.standard_normal((batch, 16000)) * 0.1).astype(np.float32),
        "identity": ident,
        "emotion": np.zeros((batch, 30, 10), np.float32),
        "input_latents": np.zeros((2, 2, batch, h), np.float32),
        "noise": rng.standard_normal((batch, 3, 60, d), dtype=np.float32),
    }


def package_flops(onnx: Path) -> float:
    """FLOPs of one window of one stream, from the sizes of the graph's weights.

    ``count_flops`` of :class:`~a2f_train.nets.diffusion.DiffusionDims` read back from the
    initializers (encoder input width = 40 log-mel + autocorrelation rows, GRU and embedding
    widths, decode width), so a package is measured without its training checkpoint.
    """
    import onnx as onnx_lib

    from a2f_train.nets.diffusion import N_MELS, DiffusionDims, count_flops

    dims = {t.name: list(t.dims) for t in onnx_lib.load(str(onnx)).graph.initializer}
    channels, width, _ = dims["encoder.pre.0.weight"]
    emb, identities = dims["identity_emb.weight"]
    hidden = dims["denoiser.gru.weight_hh_l0"][1]
    d = dims["decoder.matrix"][1]
    blocks = sum(1 for name in dims if name.startswith("encoder.blocks.") and "weight" in name)
    net = DiffusionDims(
        identities, hidden, channels, emb, autocorr=width - N_MELS, dilations=(1,) * blocks
    )  # the dilation changes reach, not cost
    return float(sum(count_flops(net, d - 4, 0).values()))  # the decode counts skin + tj + 4


def bench_diffusion(package: Path = DIFFUSION, threads: int = 2, repeats: int = 10) -> dict:
    """x real time per stream of the diffusion network at batch 1 and 8 (ONNX Runtime)."""
    session = _session(package / "network.onnx", threads)
    flops = package_flops(package / "network.onnx")
    out = {"flops_per_window": flops}
    for batch in (1, 8):
        feeds = diffusion_feeds(session, batch)
        sec = _time(lambda f=feeds: session.run(None, f), repeats)
        out[f"batch{batch}"] = {
            "ms_per_call": 1e3 * sec,
            "ms_per_stream_window": 1e3 * sec / batch,
            "x_realtime_per_stream": 0.5 / (sec / batch),
            "gflops_achieved": flops * batch / sec / 1e9,
        }
    return out


def bench_a2e(package: Path = A2E, threads: int = 2, repeats: int = 20) -> dict:
    """A2E inferences per second on 60000-sample windows at batch 1 and 8."""
    from a2f_train.nets.emotion import count_flops

    session = _session(package / "network.onnx", threads)
    out = {"flops_per_inference": count_flops(96, 60000)}
    for batch in (1, 8):
        x = (np.random.default_rng(0).standard_normal((batch, 60000)) * 0.1).astype(np.float32)
        sec = _time(lambda x=x: session.run(None, {"input_values": x}), repeats)
        out[f"batch{batch}"] = {"ms_per_call": 1e3 * sec, "inferences_per_s": batch / sec}
    return out


def seams(package: Path, corpus: Path, identity: str | None, limit: int) -> dict:
    """Seam statistics of the package (and of the ground truth) on ``limit`` test clips."""
    from a2f_train.evaluation.package_runner import package_animator
    from a2f_train.evaluation.results_io import list_corpus, read_ground_truth
    from a2f_train.train.data_diffusion import read_wav
    from a2f_train.train.diffusion import seam_stats

    animate, _ = package_animator(package, identity=identity)
    model, truth = [], []
    for path in list_corpus(corpus, "test")[:limit]:
        gt = read_ground_truth(path)
        track = animate(read_wav(gt.audio_path))
        model.append(seam_stats(track.weights))
        with np.load(path) as d:
            truth.append(seam_stats(d["weights_60"]))
    keys = model[0].keys()
    return {
        "model": {k: float(np.mean([m[k] for m in model])) for k in keys},
        "model_worst": {k: float(np.max([m[k] for m in model])) for k in keys},
        "truth": {k: float(np.mean([m[k] for m in truth])) for k in keys},
        "clips": len(model),
    }


def evaluate(package: Path, corpus: Path, real_speech: bool, identity: str | None) -> dict:
    """Harness metrics of the package and of the ground truth (60 fps)."""
    from a2f_train.evaluation.harness import score_ground_truth, score_package
    from a2f_train.evaluation.report import aggregate

    out = {"truth_test": aggregate(score_ground_truth(corpus, "test", fps=60))}
    out["package_test"] = aggregate(score_package(package, corpus_dir=corpus, split="test"))
    if real_speech:
        out["package_real"] = aggregate(score_package(package, real_speech=True))
    return out


def main() -> None:
    """CLI (see module docstring)."""
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("bench", "eval", "seams"))
    p.add_argument("--corpus", type=Path, default=Path("data/corpus/full"))
    p.add_argument("--package", type=Path, default=DIFFUSION)
    p.add_argument("--identity", default=None)
    p.add_argument("--real-speech", action="store_true")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    if a.what == "bench":
        res = {"diffusion": bench_diffusion(a.package, a.threads), "a2e": bench_a2e(A2E, a.threads)}
    elif a.what == "seams":
        res = seams(a.package, a.corpus, a.identity, a.limit)
    else:
        res = evaluate(a.package, a.corpus, a.real_speech, a.identity)
    print(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    main()
