"""Reference blendshape solve: exact bounded least squares, one frame at a time (tests, bench).

Slow and obviously correct: for each frame, ``min 1/2 w^T A w - b^T w`` s.t. ``l <= w <= u`` is
rewritten with the Cholesky factor ``A = L L^T`` as ``min 1/2 |L^T w - L^-1 b|^2`` and handed
to SciPy's bounded-variable least squares (``lsq_linear(method="bvls")``, the same algorithm as
the SDK's CPU solver), then polished by an exact KKT check (:func:`kkt_residual`). Cancel pairs,
temporal chaining, inactive poses, multipliers, offsets and clamp follow the SDK's CPU solver
(``blendshape_solver.cpp``) line by line. Never used on the serving path.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, solve_triangular
from scipy.optimize import lsq_linear

from a2f_actors.solver import CANCEL_UPPER_BOUND, SolverProblem, expand_weights
from a2f_actors.xp import to_numpy


def kkt_residual(a: np.ndarray, b: np.ndarray, upper: np.ndarray, x: np.ndarray) -> float:
    """Largest violation of the KKT conditions of the box QP at ``x`` (0 means optimal).

    Args:
        a: ``[n, n]`` SPD matrix.
        b: ``[n]`` linear term.
        upper: ``[n]`` upper bounds (lower bounds are 0).
        x: ``[n]`` candidate.

    Returns:
        ``max |P(x - g) - x|`` with ``g = A x - b`` and ``P`` the projection on the box: the
        projected-gradient norm, 0 exactly at the optimum.
    """
    g = a @ x - b
    return float(np.abs(np.clip(x - g, 0.0, upper) - x).max())


def box_qp_reference(a: np.ndarray, b: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Exact solution of ``min 1/2 x^T A x - b^T x`` s.t. ``0 <= x <= upper`` for one frame.

    Args:
        a: ``[n, n]`` SPD matrix.
        b: ``[n]``.
        upper: ``[n]`` positive upper bounds.

    Returns:
        ``[n]`` float64 solution (BVLS to machine precision).
    """
    c, _ = cho_factor(a, lower=True)
    lt = np.tril(c).T  # A = L L^T, so |L^T x - L^-1 b|^2 has the same minimiser
    rhs = solve_triangular(c, b, lower=True)
    res = lsq_linear(lt, rhs, bounds=(np.zeros_like(b), upper), method="bvls", tol=1e-15)
    res_x = np.clip(res.x, 0.0, upper)
    return res_x


def _solve_frame(problem: SolverProblem, b: np.ndarray) -> np.ndarray:
    """First solve, cancel-pair bounds from it, second solve (the SDK's CPU ``cpuSolve``)."""
    a = to_numpy(problem.a_matrix)
    upper = np.ones_like(b)
    x = box_qp_reference(a, b, upper)
    pairs = to_numpy(problem.cancel_pairs)
    if pairs.shape[0]:
        for i, j in pairs:
            upper[j if x[i] >= x[j] else i] = CANCEL_UPPER_BOUND
        x = box_qp_reference(a, b, upper)
    return x


def solve_reference(
    problem: SolverProblem, rhs: np.ndarray, w_prev: np.ndarray | None = None, clamp: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as :func:`a2f_actors.solver.solve`, one frame at a time with SciPy.

    Args:
        problem: the solver problem.
        rhs: ``[T, F, Pa]`` or ``[T, Pa]`` data term.
        w_prev: ``[T, Pa]`` previous solutions or None (zeros).
        clamp: clamp the output to [0, 1].

    Returns:
        ``(weights [T, F, P] or [T, P], w_prev [T, Pa])`` float64 NumPy arrays.
    """
    r = np.asarray(to_numpy(rhs), dtype=np.float64)
    single = r.ndim == 2
    r = r[:, None, :] if single else r
    t, f, n = r.shape
    w = np.zeros((t, n)) if w_prev is None else np.array(to_numpy(w_prev), dtype=np.float64)
    x = np.empty_like(r)
    for k in range(t):
        for i in range(f):
            w[k] = _solve_frame(problem, r[k, i] + problem.temporal * w[k])
            x[k, i] = w[k]
    weights = expand_weights(problem, x, clamp)
    return (weights[:, 0] if single else weights), w
