"""Post-processing + blendshape solve throughput vs tracks (``make bench-solver``).

Synthetic random data with real shapes: (i) NVIDIA Mark (272 skin PCA coefficients, 61520
skin vertices of which 10085 in the frontal mask, 52 skin poses with Mark's 9 inactive, 16
tongue poses, 10 tongue PCA / 5602 tongue vertices), (ii) a small default character (4000
vertices, 60 PCA). Per call: ``frames`` frames of every track go through skin compact
post-processing (strengths, two-pole smoothers, mask folded into G) + skin solve + tongue rhs +
tongue solve; states (smoothers, w_prev) chain across calls like a stream.

Columns:
  tracks         T, streams solved together (frames of a track are sequential)
  ms/call        wall time of one call (T x frames frames)
  track-frames/core-s  frames per second divided by the cores used (BLAS pinned to 1 thread
                 at the top of this file, so 1 core)
  vertex path    same pipeline through vertices (PCA reconstruct, postprocess_skin, solve on
                 vertices), track-frames/core-s; Mark only up to 8 tracks (it is slow)
  GPU compact    track-frames/s with CuPy ("n/a" without a working device)
  ref ms/frame   the SciPy reference solver (BVLS per frame, skin + tongue), per frame
  max|w-ref|     largest weight difference production vs reference on the reference frames

Usage: ``python benchmarks/bench_solver.py [--quick] [--frames 8] [--tracks 1,8,64,256]``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy: "per core" numbers must be honest

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from a2f_actors import postprocess as pp  # noqa: E402
from a2f_actors.compact import SkinCompactBuilder, TongueCompact, skin_rhs, tongue_rhs  # noqa: E402
from a2f_actors.names import DEFAULT_INACTIVE_SKIN, DEFAULT_SYMMETRY_IDS, SKIN_BLENDSHAPES  # noqa: E402
from a2f_actors.params import FaceParams, SolverParams  # noqa: E402
from a2f_actors.solver import SolverProblem, data_rhs, solve  # noqa: E402
from a2f_actors.solver_reference import solve_reference  # noqa: E402
from a2f_actors.xp import CUPY_AVAILABLE, backend, to_numpy  # noqa: E402

CORES_USED = 1
FPS = 30.0
SKIN_PARAMS = SolverParams(
    l1_reg=0.5, l2_reg=0.5, symmetry_reg=100.0, temporal_reg=0.3, template_bb_size=53.4505028
)
TONGUE_PARAMS = SolverParams(
    l1_reg=1.0, l2_reg=3.5, symmetry_reg=100.0, temporal_reg=5.0, template_bb_size=7.9358663
)
TONGUE_MULT = np.ones(16)
TONGUE_MULT[[0, 4, 13]] = [2.0, 3.0, 2.0]


@dataclass(frozen=True)
class Dims:
    name: str
    skin_verts: int
    mask_verts: int
    skin_pca: int
    tongue_verts: int
    tongue_pca: int


MARK = Dims("Mark", 61520, 10085, 272, 5602, 10)
DEFAULT = Dims("default", 4000, 2000, 60, 1000, 10)
TINY = Dims("tiny", 300, 150, 12, 80, 10)


@dataclass(frozen=True)
class Character:
    """Synthetic character data + everything precomputed (NumPy)."""

    dims: Dims
    skin_problem: SolverProblem
    tongue_problem: SolverProblem
    skin_compact: Any
    tongue_compact: TongueCompact
    skin: pp.SkinData
    skin_shapes: np.ndarray
    tongue_shapes: np.ndarray
    tongue_neutral: np.ndarray
    setup_s: float


def _face(rng: np.random.Generator, verts: int, size: float) -> np.ndarray:
    return (rng.uniform(-0.5, 0.5, size=(verts, 3)) * size).astype(np.float32)


def _skin_problem(rng: np.random.Generator, d: Dims, neutral: np.ndarray) -> SolverProblem:
    deltas = rng.normal(scale=0.3, size=(52, d.skin_verts, 3)).astype(np.float32)
    mask = np.sort(rng.choice(d.skin_verts, d.mask_verts, replace=False))
    return SolverProblem.from_arrays(
        neutral + rng.normal(scale=0.01, size=neutral.shape).astype(np.float32),
        deltas,
        frontal_mask=mask,
        params=SKIN_PARAMS,
        active=np.array([n not in DEFAULT_INACTIVE_SKIN for n in SKIN_BLENDSHAPES]),
        symmetry_ids=np.array([DEFAULT_SYMMETRY_IDS.get(n, -1) for n in SKIN_BLENDSHAPES]),
    )


def build_character(d: Dims, seed: int = 0) -> Character:
    """Random data with ``d``'s shapes; times the one-time setup separately."""
    rng = np.random.default_rng(seed)
    neutral = _face(rng, d.skin_verts, 30.0)
    shapes = rng.normal(scale=0.05, size=(d.skin_pca, d.skin_verts * 3)).astype(np.float32)
    eye, lip = (rng.normal(scale=0.2, size=(d.skin_verts, 3)).astype(np.float32) for _ in "el")
    t_neutral = _face(rng, d.tongue_verts, 4.0)
    t_shapes = rng.normal(scale=0.05, size=(d.tongue_pca, d.tongue_verts * 3)).astype(np.float32)
    t_deltas = rng.normal(scale=0.2, size=(16, d.tongue_verts, 3)).astype(np.float32)
    skin = pp.SkinData(neutral, eye, lip)
    t0 = time.perf_counter()
    skin_problem = _skin_problem(rng, d, neutral)
    tongue_problem = SolverProblem.from_arrays(
        t_neutral, t_deltas, params=TONGUE_PARAMS, multipliers=TONGUE_MULT
    )
    compact = SkinCompactBuilder.regression(skin_problem, shapes, skin).for_mask(0.6, 0.0085)
    t_compact = TongueCompact.build(tongue_problem, t_neutral, t_shapes)
    setup_s = time.perf_counter() - t0
    return Character(d, skin_problem, tongue_problem, compact, t_compact, skin, shapes,
                     t_shapes, t_neutral, setup_s)  # fmt: skip


@dataclass
class Stream:
    """States of T tracks carried across calls (what a session would hold)."""

    skin_state: Any
    skin_w: Any
    tongue_w: Any


def _inputs(c: Character, tracks: int, frames: int, xp: Any) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(1)
    coefs = rng.normal(size=(tracks, frames, c.dims.skin_pca)).astype(np.float32)
    tcoefs = rng.normal(size=(tracks, frames, c.dims.tongue_pca)).astype(np.float32)
    params = pp.face_param_arrays([FaceParams(face_mask_level=0.6)] * tracks, xp)
    return xp.asarray(coefs), xp.asarray(tcoefs), params


def compact_call(c: Character, coefs: Any, tcoefs: Any, params: Any, s: Stream) -> tuple:
    """One tick of the compact path: post-processing + skin and tongue solves."""
    rhs, s.skin_state = skin_rhs(c.skin_compact, coefs, params, 1.0 / FPS, s.skin_state)
    w_skin, s.skin_w = solve(c.skin_problem, rhs, s.skin_w)
    trhs = tongue_rhs(c.tongue_compact, tcoefs, params.tongue_strength,
                      params.tongue_height_offset, params.tongue_depth_offset)  # fmt: skip
    w_tongue, s.tongue_w = solve(c.tongue_problem, trhs, s.tongue_w)
    return w_skin, w_tongue


def vertex_call(c: Character, coefs: Any, tcoefs: Any, params: Any, s: Stream) -> tuple:
    """The same tick through vertices (the reference pipeline)."""
    t, f = coefs.shape[:2]
    d = (coefs.reshape(t * f, -1) @ c.skin_shapes).reshape(t, f, -1, 3)
    verts, s.skin_state = pp.postprocess_skin(d, c.skin, params, 1.0 / FPS, s.skin_state)
    w_skin, s.skin_w = solve(c.skin_problem, data_rhs(c.skin_problem, verts), s.skin_w)
    td = (tcoefs.reshape(t * f, -1) @ c.tongue_shapes).reshape(t, f, -1, 3)
    tverts = pp.postprocess_tongue(
        td, c.tongue_neutral, params.tongue_strength,
        params.tongue_height_offset, params.tongue_depth_offset,
    )  # fmt: skip
    w_tongue, s.tongue_w = solve(c.tongue_problem, data_rhs(c.tongue_problem, tverts), s.tongue_w)
    return w_skin, w_tongue


def _new_stream(c: Character, tracks: int, shape: tuple[int, ...], xp: Any) -> Stream:
    return Stream(pp.new_skin_state(tracks, shape, xp), None, None)


def throughput(call, c: Character, tracks: int, frames: int, xp: Any, min_s: float) -> tuple:
    """(ms per call, track-frames per second) of ``call`` repeated for at least ``min_s``."""
    coefs, tcoefs, params = _inputs(c, tracks, frames, xp)
    shape = (c.dims.skin_pca + 2,) if call is compact_call else (c.dims.skin_verts, 3)
    stream = _new_stream(c, tracks, shape, xp)
    call(c, coefs, tcoefs, params, stream)  # warm-up (first frame initialises the smoothers)
    reps, t0 = 0, time.perf_counter()
    while True:
        w, _ = call(c, coefs, tcoefs, params, stream)
        to_numpy(w[:1, :1])  # synchronise (GPU)
        reps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_s and reps >= 2:
            return 1e3 * elapsed / reps, reps * tracks * frames / elapsed


def reference_check(c: Character, frames: int) -> tuple[float, float]:
    """(reference ms per frame, max |w - w_ref|) on one track of ``frames`` frames."""
    coefs, tcoefs, params = _inputs(c, 1, frames, np)
    rhs, _ = skin_rhs(c.skin_compact, coefs, params, 1.0 / FPS,
                      pp.new_skin_state(1, (c.dims.skin_pca + 2,)))  # fmt: skip
    trhs = tongue_rhs(c.tongue_compact, tcoefs, params.tongue_strength,
                      params.tongue_height_offset, params.tongue_depth_offset)  # fmt: skip
    t0 = time.perf_counter()
    w_ref, _ = solve_reference(c.skin_problem, rhs)
    wt_ref, _ = solve_reference(c.tongue_problem, trhs)
    ref_ms = 1e3 * (time.perf_counter() - t0) / frames
    err = max(np.abs(solve(c.skin_problem, rhs)[0] - w_ref).max(),
              np.abs(solve(c.tongue_problem, trhs)[0] - wt_ref).max())  # fmt: skip
    return ref_ms, float(err)


def _gpu_column(c: Character, tracks: int, frames: int, min_s: float) -> str:
    if not CUPY_AVAILABLE:
        return "n/a"
    cp = backend("cupy")
    g = Character(c.dims, c.skin_problem.to_backend(cp), c.tongue_problem.to_backend(cp),
                  c.skin_compact.to_backend(cp), c.tongue_compact.to_backend(cp), c.skin,
                  c.skin_shapes, c.tongue_shapes, c.tongue_neutral, c.setup_s)  # fmt: skip
    _, rate = throughput(compact_call, g, tracks, frames, cp, min_s)
    return f"{rate:,.0f}"


def run(dims: Dims, tracks: list[int], frames: int, min_s: float, vertex_max: int) -> None:
    t0 = time.perf_counter()
    c = build_character(dims)
    gen_s = time.perf_counter() - t0 - c.setup_s
    print(f"\n{dims.name}: skin {dims.skin_verts} verts ({dims.mask_verts} in mask), "
          f"{dims.skin_pca} PCA, 52 poses ({c.skin_problem.num_active} active); tongue "
          f"{dims.tongue_verts} verts, {dims.tongue_pca} PCA, 16 poses")  # fmt: skip
    print(f"  one-time setup (problems + compact matrices): {c.setup_s:.3f} s "
          f"(synthetic data generation {gen_s:.2f} s, not counted)")  # fmt: skip
    ref_ms, err = reference_check(c, min(frames, 8))
    print(f"  {'tracks':>6} {'ms/call':>9} {'track-frames/core-s':>20} {'vertex path':>12} "
          f"{'GPU compact':>12} {'ref ms/frame':>13} {'max|w-ref|':>11}")  # fmt: skip
    for t in tracks:
        ms, rate = throughput(compact_call, c, t, frames, np, min_s)
        vert = "-"
        if t <= vertex_max:
            vert = f"{throughput(vertex_call, c, t, frames, np, min_s)[1] / CORES_USED:,.0f}"
        gpu = _gpu_column(c, t, frames, min_s)
        print(f"  {t:>6} {ms:>9.2f} {rate / CORES_USED:>20,.0f} {vert:>12} {gpu:>12} "
              f"{ref_ms:>13.2f} {err:>11.1e}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny dims, short runs (smoke test)")
    ap.add_argument("--frames", type=int, default=8, help="frames per track per call")
    ap.add_argument("--tracks", default="1,8,64,256", help="comma-separated track counts")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="timing per cell")
    args = ap.parse_args(argv)
    tracks = [int(t) for t in args.tracks.split(",")]
    print(f"BLAS threads pinned to {CORES_USED}; frames per call {args.frames}; "
          f"fps {FPS:g}; CuPy {'available' if CUPY_AVAILABLE else 'not available'}")  # fmt: skip
    if args.quick:
        run(TINY, [1, 8], 2, 0.01, vertex_max=8)
        return 0
    run(MARK, tracks, args.frames, args.min_seconds, vertex_max=8)
    run(DEFAULT, tracks, args.frames, args.min_seconds, vertex_max=max(tracks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
