"""Blendshape solve, the SDK's formulation (a2f_reference.md section 2.5), batched over tracks.

Setup (once per character, pose configuration and :class:`SolverParams`): :class:`SolverProblem`
holds ``A``, ``D^T`` restricted to the frontal-mask rows and the active columns, the scale ``s``
and everything :func:`solve` needs. It is immutable; the only per-stream state is ``w_prev``,
passed in and returned.

Per frame the solve is ``min 1/2 w^T A w - b^T w`` subject to ``0 <= w <= u`` with

* ``s = (|bbox_max - bbox_min| of the neutral / templateBBSize)^2``
* ``A = D^T D + l1^2 * 0.25 s * 11^T + l2 * 10 s * I + temporal * 100 s * I + sym * 10 s * S^T S``
* ``b = D^T (target - neutral) + temporal * s * w_prev`` (x1 here, x100 in ``A``: as the SDK).

Cancel pairs: after the first solve the smaller member of each pair gets ``u = 1e-10`` and the
frame is solved again. Inactive poses output 0; then ``w * multipliers + offsets`` and an
optional clamp to [0, 1].

Algorithm (all frames of a step at once, NumPy or CuPy): a few ADMM iterations with the
precomputed ``(A + rho I)^-1`` give a feasible warm start and a working set (variables on a
bound); a batched primal active-set loop then solves the reduced systems exactly (one batched
masked solve per round) and stops, per frame, when the KKT conditions hold to the tolerance
(see :func:`solve_box_qp`). Frames of one track are solved in order when the temporal term
chains them; tracks are independent and batched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from a2f_actors.params import SolverParams
from a2f_actors.xp import get_xp

#: Upper bound the SDK gives to the cancelled (smaller) member of a cancel pair.
CANCEL_UPPER_BOUND = 1e-10
#: Weight scale of the L1 proxy, L2, temporal and symmetry terms of ``A`` (times ``s``).
L1_SCALE, L2_SCALE, TEMPORAL_SCALE, SYMMETRY_SCALE = 0.25, 10.0, 100.0, 10.0
#: ADMM iterations of the warm start (the SDK's GPU solver stops after 4 such updates).
DEFAULT_WARM_ITERS = 10
#: Active-set rounds allowed per solve before returning a frame's last (feasible) iterate.
DEFAULT_MAX_ROUNDS = 500
#: Block-principal-pivoting rounds tried before the monotone primal active-set phase.
_PIVOT_ROUNDS = 4
#: Primal rounds that release every wrong-sign variable at once before releasing one per round.
_MULTI_RELEASE_ROUNDS = 10
#: Floor of step denominators (keeps ratios finite without warnings).
_TINY = 1e-300
#: Smallest tolerance used by the KKT check (float64 round-off of the reduced solves).
_MIN_TOLERANCE = 1e-12


def bbox_scale(neutral: np.ndarray, template_bb_size: float) -> float:
    """Regularisation scale ``s = (|bbox_max - bbox_min| / template_bb_size)^2``.

    Args:
        neutral: ``[V, 3]`` (or ``[3V]``) neutral vertex positions, model units; the whole mesh
            (the SDK ignores the frontal mask here).
        template_bb_size: ``templateBBSize``, the bounding-box diagonal the weights are tuned for.

    Returns:
        ``s`` as a Python float (dimensionless).
    """
    v = np.asarray(neutral, dtype=np.float64).reshape(-1, 3)
    diag = float(np.linalg.norm(v.max(axis=0) - v.min(axis=0)))
    return (diag / float(template_bb_size)) ** 2


def pair_indices(pair_ids: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of ACTIVE-pose indices sharing a pair id.

    Args:
        pair_ids: ``[P]`` int; pair id per pose, ``-1`` for none (``bsSolveCancelPoses`` /
            ``bsSolveSymmetryPoses``).
        active: ``[P]`` bool.

    Returns:
        ``[C, 2]`` int64 indices into the active poses, sorted by pair id. Ids held by other
        than exactly two active poses are ignored, as in the SDK (which also skips -1 ids only
        because they rarely come in twos; here -1 never pairs).
    """
    ids = np.asarray(pair_ids, dtype=np.int64)[np.asarray(active, dtype=bool)]
    pairs = []
    for pid in np.unique(ids[ids >= 0]):
        members = np.flatnonzero(ids == pid)
        if members.size == 2:
            pairs.append(members)
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def symmetry_matrix(pairs: np.ndarray, num_active: int) -> np.ndarray:
    """``S`` with one row per symmetry pair: +1 at the first member, -1 at the second.

    Args:
        pairs: ``[C, 2]`` active-pose index pairs from :func:`pair_indices`.
        num_active: number of active poses ``Pa``.

    Returns:
        ``[C, Pa]`` float64.
    """
    s = np.zeros((pairs.shape[0], num_active))
    rows = np.arange(pairs.shape[0])
    s[rows, pairs[:, 0]] = 1.0
    s[rows, pairs[:, 1]] = -1.0
    return s


def assemble_a(dtd: np.ndarray, scale: float, params: SolverParams, sym: np.ndarray) -> np.ndarray:
    """The SDK's ``A`` matrix from ``D^T D``.

    Args:
        dtd: ``[Pa, Pa]`` ``D^T D`` over the masked rows and active poses.
        scale: ``s`` from :func:`bbox_scale`.
        params: regularisation strengths.
        sym: ``[C, Pa]`` symmetry matrix ``S``.

    Returns:
        ``[Pa, Pa]`` float64 symmetric ``A``.
    """
    n = dtd.shape[0]
    eye = np.eye(n)
    a = np.array(dtd, dtype=np.float64)
    a += params.l1_reg**2 * L1_SCALE * scale * np.ones((n, n))
    a += params.l2_reg * L2_SCALE * scale * eye
    a += params.temporal_reg * TEMPORAL_SCALE * scale * eye
    a += params.symmetry_reg * SYMMETRY_SCALE * scale * (sym.T @ sym)
    return a


def _make_definite(a: np.ndarray) -> np.ndarray:
    """Return ``a``, plus a tiny ridge only if it is not numerically positive definite."""
    try:
        np.linalg.cholesky(a)
        return a
    except np.linalg.LinAlgError:
        ridge = 1e-10 * max(float(np.trace(a)) / a.shape[0], 1e-30)
        return a + ridge * np.eye(a.shape[0])


def _mask_rows(frontal_mask: np.ndarray | None, num_verts: int) -> np.ndarray | None:
    """Flat coordinate indices ``3v, 3v+1, 3v+2`` of the mask vertices (None: all rows)."""
    if frontal_mask is None:
        return None
    idx = np.asarray(frontal_mask, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= num_verts):
        raise ValueError(f"frontal_mask indices must lie in [0, {num_verts}); got {idx.min()}..")
    return (3 * idx[:, None] + np.arange(3)[None, :]).reshape(-1)


def _per_pose(values: Any, num_poses: int, default: float, dtype: Any, name: str) -> np.ndarray:
    if values is None:
        return np.full(num_poses, default, dtype=dtype)
    out = np.asarray(values, dtype=dtype).reshape(-1)
    if out.shape != (num_poses,):
        raise ValueError(f"{name} has {out.size} values; it needs one per pose ({num_poses})")
    return out


@dataclass(frozen=True, eq=False)
class SolverProblem:
    """Everything precomputed for one character, pose configuration and parameter set.

    Build with :meth:`from_arrays`. Arrays are NumPy float64 unless moved with
    :meth:`to_backend`; treat them as read-only.

    Attributes:
        num_poses: ``P``, all poses of the blendshape set (outputs per frame).
        active_idx: ``[Pa]`` int64 indices of the active poses (solver columns).
        rows: ``[R]`` int64 flat coordinate rows used by the data term (mask vertices x 3), or
            ``None`` for all ``3V`` rows.
        neutral_rows: ``[R]`` neutral positions at ``rows`` (model units).
        d_t: ``[Pa, R]`` ``D^T``: deltas of the active poses at ``rows``.
        a_matrix: ``[Pa, Pa]`` the SDK's ``A``.
        scale: ``s`` (dimensionless).
        temporal: ``temporal_reg * s``, the gain of ``w_prev`` in ``b``.
        cancel_pairs: ``[C, 2]`` active-index cancel pairs.
        multipliers: ``[P]`` ``bsWeightMultipliers``.
        offsets: ``[P]`` ``bsWeightOffsets``.
        admm_rho: ADMM penalty of the warm start.
        admm_inv: ``[Pa, Pa]`` ``(A + rho I)^-1``.
        tolerance: KKT tolerance of the active-set polish (relative, see :func:`solve_box_qp`).
        params: the parameters ``A`` was built from.
    """

    num_poses: int
    active_idx: Any
    rows: Any
    neutral_rows: Any
    d_t: Any
    a_matrix: Any
    scale: float
    temporal: float
    cancel_pairs: Any
    multipliers: Any
    offsets: Any
    admm_rho: float
    admm_inv: Any
    tolerance: float
    params: SolverParams

    @property
    def num_active(self) -> int:
        """``Pa``, the number of active poses (solver unknowns per frame)."""
        return int(self.active_idx.shape[0])

    @classmethod
    def from_arrays(
        cls,
        neutral: np.ndarray,
        deltas: np.ndarray,
        frontal_mask: np.ndarray | None = None,
        params: SolverParams | None = None,
        active: np.ndarray | None = None,
        cancel_ids: np.ndarray | None = None,
        symmetry_ids: np.ndarray | None = None,
        multipliers: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
    ) -> SolverProblem:
        """Precompute a problem from plain arrays (``bs_*.npz`` + ``bs_*_config.json``).

        Args:
            neutral: ``[V, 3]`` (or ``[3V]``) neutral positions, model units.
            deltas: ``[P, V, 3]`` (or ``[P, 3V]``) pose deltas from the neutral.
            frontal_mask: ``[M]`` int vertex indices the data term uses, or None (all).
            params: regularisation; SDK header defaults when None.
            active: ``[P]`` bool (``bsSolveActivePoses``); all active when None.
            cancel_ids: ``[P]`` int cancel pair ids (-1 none).
            symmetry_ids: ``[P]`` int symmetry pair ids (-1 none).
            multipliers: ``[P]`` float (default 1).
            offsets: ``[P]`` float (default 0).

        Returns:
            The immutable :class:`SolverProblem`.

        Raises:
            ValueError: on shape mismatches, bad mask indices or no active pose.
        """
        params = params or SolverParams()
        nvec = np.asarray(neutral, dtype=np.float64).reshape(-1)
        num_poses = int(np.shape(deltas)[0])
        dmat = np.asarray(deltas).reshape(num_poses, -1)
        if dmat.shape[1] != nvec.size or nvec.size % 3:
            raise ValueError(f"deltas {np.shape(deltas)} do not match neutral {np.shape(neutral)}")
        act = _per_pose(active, num_poses, 1, bool, "active")
        if not act.any():
            raise ValueError("no active pose: at least one pose must be active")
        active_idx = np.flatnonzero(act).astype(np.int64)
        rows = _mask_rows(frontal_mask, nvec.size // 3)
        sel = dmat[active_idx] if rows is None else dmat[np.ix_(active_idx, rows)]
        d_t = np.ascontiguousarray(sel, dtype=np.float64)
        scale = bbox_scale(nvec, params.template_bb_size)
        sym = symmetry_matrix(
            pair_indices(_per_pose(symmetry_ids, num_poses, -1, np.int64, "symmetry_ids"), act),
            active_idx.size,
        )
        a = _make_definite(assemble_a(d_t @ d_t.T, scale, params, sym))
        rho, inv = _admm_operator(a)
        return cls(
            num_poses=num_poses,
            active_idx=active_idx,
            rows=rows,
            neutral_rows=nvec if rows is None else nvec[rows],
            d_t=d_t,
            a_matrix=a,
            scale=scale,
            temporal=params.temporal_reg * scale,
            cancel_pairs=pair_indices(
                _per_pose(cancel_ids, num_poses, -1, np.int64, "cancel_ids"), act
            ),
            multipliers=_per_pose(multipliers, num_poses, 1.0, np.float64, "multipliers"),
            offsets=_per_pose(offsets, num_poses, 0.0, np.float64, "offsets"),
            admm_rho=rho,
            admm_inv=inv,
            tolerance=max(float(params.tolerance), _MIN_TOLERANCE),
            params=params,
        )

    def to_backend(self, xp: Any) -> SolverProblem:
        """Return a copy whose arrays live in the array module ``xp`` (numpy or cupy)."""
        names = ("active_idx", "rows", "neutral_rows", "d_t", "a_matrix", "cancel_pairs")
        names += ("multipliers", "offsets", "admm_inv")
        moved = {
            n: None if getattr(self, n) is None else xp.asarray(getattr(self, n)) for n in names
        }
        return replace(self, **moved)


def _admm_operator(a: np.ndarray) -> tuple[float, np.ndarray]:
    """ADMM penalty ``rho = sqrt(lambda_min * lambda_max)`` and ``(A + rho I)^-1``."""
    eig = np.linalg.eigvalsh(a)
    rho = float(np.sqrt(max(eig[0], eig[-1] * 1e-12) * eig[-1]))
    return rho, np.linalg.inv(a + rho * np.eye(a.shape[0]))


def data_rhs(problem: SolverProblem, targets: Any) -> Any:
    """Data term of ``b``: ``D^T (target - neutral)`` over the masked rows.

    Args:
        problem: the solver problem.
        targets: ``[..., V, 3]`` target vertex positions (model units), any float dtype.

    Returns:
        ``[..., Pa]`` float64, in the array module of ``targets``.
    """
    xp = get_xp(targets)
    flat = targets.reshape(*targets.shape[:-2], -1)
    sel = flat if problem.rows is None else flat[..., xp.asarray(problem.rows)]
    diff = sel.astype(xp.float64) - xp.asarray(problem.neutral_rows)
    return diff @ xp.asarray(problem.d_t).T


def _clip(xp: Any, x: Any, upper: Any) -> Any:
    return xp.minimum(xp.maximum(x, 0.0), upper)


def admm_warm_start(admm_inv: Any, rho: float, b: Any, upper: Any, x0: Any, iters: int) -> Any:
    """A few ADMM iterations on ``min 1/2 x^T A x - b^T x``, ``0 <= x <= upper`` (batched).

    ``x = (A + rho I)^-1 (b + rho (z - y))``; ``z = clip(x + y)``; ``y += x - z``; starting from
    ``z = clip(x0)``, ``y = 0``. Each iteration is one ``[B, n] x [n, n]`` product.

    Args:
        admm_inv: ``[n, n]`` ``(A + rho I)^-1`` (symmetric).
        rho: the ADMM penalty.
        b: ``[B, n]`` linear terms.
        upper: ``[B, n]`` upper bounds (lower bounds are 0).
        x0: ``[B, n]`` starting point (e.g. the previous frame's weights).
        iters: number of iterations (0 returns ``clip(x0)``).

    Returns:
        ``[B, n]`` feasible point ``z``.
    """
    xp = get_xp(b)
    z = _clip(xp, x0, upper)
    y = xp.zeros_like(z)
    for _ in range(iters):
        x = (b + rho * (z - y)) @ admm_inv
        z = _clip(xp, x + y, upper)
        y += x - z
    return z


def _solve_partition(a: Any, b: Any, upper: Any, at_lower: Any, at_upper: Any) -> Any:
    """Exact minimiser over the free variables with the others fixed at their bounds.

    One batched solve of ``M x = r`` where ``M`` is ``A`` with the rows and columns of the
    bound variables replaced by their diagonal entry (so every ``M`` is positive definite).
    """
    xp = get_xp(b)
    n = a.shape[0]
    free = ~(at_lower | at_upper)
    xb = xp.where(at_upper, upper, 0.0)
    diag = xp.diagonal(a)
    r = xp.where(free, b - xb @ a, diag * xb)
    m = xp.where(free[:, :, None] & free[:, None, :], a, 0.0)
    idx = xp.arange(n)
    m[:, idx, idx] = diag
    return xp.linalg.solve(m, r[..., None])[..., 0]


def _feasible_step(x: Any, target: Any, upper: Any, state: tuple[Any, Any]) -> tuple:
    """Move feasible ``x`` towards ``target`` (the reduced minimiser), stopping at a bound.

    Returns:
        ``(x, blocked [B] bool, new_state)``: variables that hit a bound join its set.
    """
    xp = get_xp(x)
    at_lower, at_upper = state
    free = ~(at_lower | at_upper)
    p = xp.where(free, target - x, 0.0)
    neg, pos = free & (p < 0.0), free & (p > 0.0)
    ratio = xp.where(neg, x / xp.maximum(-p, _TINY), xp.inf)
    ratio = xp.where(pos, (upper - x) / xp.maximum(p, _TINY), ratio)
    alpha = xp.minimum(ratio.min(axis=1), 1.0)
    blocked = alpha < 1.0
    hit = blocked[:, None] & (ratio <= alpha[:, None])
    x = x + alpha[:, None] * p
    x = xp.where(hit & neg, 0.0, xp.where(hit & pos, upper, x))
    return x, blocked, (at_lower | (hit & neg), at_upper | (hit & pos))


def _wrong_sign(a: Any, b: Any, x: Any, state: tuple[Any, Any], tol: float) -> tuple[Any, Any]:
    """Bound variables whose multiplier has the wrong sign, and ``|g|`` (``g = A x - b``).

    At the lower bound the gradient must be ``>= -tol_g``, at the upper bound ``<= tol_g``,
    with ``tol_g = tol * (max|b| + max diag A)`` per frame.
    """
    xp = get_xp(b)
    g = x @ a - b
    tol_g = tol * (xp.abs(b).max(axis=1, keepdims=True) + float(xp.diagonal(a).max()))
    return (state[0] & (g < -tol_g)) | (state[1] & (g > tol_g)), xp.abs(g)


def _release(viol: Any, score: Any, single: bool) -> Any:
    """All wrong-sign variables, or only the worst one per frame when ``single``."""
    if not single:
        return viol
    xp = get_xp(viol)
    worst = xp.where(viol, score, -1.0).argmax(axis=1)
    return viol & (xp.arange(viol.shape[1])[None, :] == worst[:, None])


def _pivot_round(a: Any, b: Any, upper: Any, target: Any, state: tuple, tol: float) -> tuple:
    """Block principal pivoting: flip every KKT violation of the partition's minimiser at once.

    Free variables below ``-tol`` (above ``upper + tol``) join the lower (upper) set, bound
    variables with a wrong-sign gradient are freed.

    Returns:
        ``(clip(target), new_state, done [B])``; ``done`` where nothing was violated.
    """
    xp = get_xp(b)
    free = ~(state[0] | state[1])
    to_lower = free & (target < -tol)
    to_upper = free & (target > upper + tol)
    wrong, _ = _wrong_sign(a, b, target, state, tol)
    done = ~(to_lower | to_upper | wrong).any(axis=1)
    new_state = ((state[0] & ~wrong) | to_lower, (state[1] & ~wrong) | to_upper)
    return _clip(xp, target, upper), new_state, done


def _primal_round(a: Any, b: Any, upper: Any, x: Any, target: Any, state: tuple, tol: float,
                  single: bool) -> tuple:  # fmt: skip
    """Primal active-set round: feasible step, then release wrong-sign bound variables.

    Returns:
        ``(x, new_state, done [B])``; ``done`` where a full step reached the reduced minimiser
        and every multiplier has the right sign.
    """
    x, blocked, state = _feasible_step(x, target, upper, state)
    viol, score = _wrong_sign(a, b, x, state, tol)
    viol &= ~blocked[:, None]
    done = ~blocked & ~viol.any(axis=1)
    free = _release(viol, score, single)
    return x, (state[0] & ~free, state[1] & ~free), done


def _bound_state(x: Any, upper: Any) -> tuple[Any, Any]:
    return x <= 0.0, (x >= upper) & (x > 0.0)


def solve_box_qp(
    a: Any,
    b: Any,
    upper: Any,
    start: Any,
    tol: float = 1e-10,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> tuple[Any, Any]:
    """Exact batched solve of ``min 1/2 x^T A x - b^T x`` s.t. ``0 <= x <= upper``.

    Active-set method, all frames at once; each round solves every unfinished frame's reduced
    system exactly (bound variables fixed, one batched solve). The working set starts as the
    variables of ``clip(start)`` on a bound.

    1. Up to ``_PIVOT_ROUNDS`` block-principal-pivoting rounds (:func:`_pivot_round`): fast
       when the warm start is close (most frames finish here).
    2. Then, from the projected iterate, primal active-set rounds (:func:`_primal_round`):
       iterates stay feasible, the objective never increases; wrong-sign variables are
       released all at once for ``_MULTI_RELEASE_ROUNDS`` rounds, then one per round (the
       classical finite rule). Robust on ill-conditioned ``A``.

    **Stopping rule**: a frame is finished when its reduced minimiser is feasible (within
    ``tol``) and no bound variable has a gradient of the wrong sign beyond
    ``tol * (max|b| + max diag A)``; ``x`` is then the exact solution up to float64 round-off.

    Args:
        a: ``[n, n]`` symmetric positive definite.
        b: ``[B, n]``.
        upper: ``[B, n]`` positive upper bounds (lower bounds are 0).
        start: ``[B, n]`` warm start (e.g. from :func:`admm_warm_start`); projected first.
        tol: KKT tolerance (absolute on weights, relative on gradients).
        max_rounds: rounds before returning the (feasible) last iterate of unfinished frames.

    Returns:
        ``(x [B, n], converged [B] bool)`` in the array module of ``b``.
    """
    xp = get_xp(b)
    x = _clip(xp, start, upper)
    state = _bound_state(x, upper)
    x_out, converged = x.copy(), xp.zeros(b.shape[0], dtype=bool)
    ids, bs, us = xp.arange(b.shape[0]), b, upper
    for rnd in range(max_rounds):
        if ids.shape[0] == 0:
            break
        target = _solve_partition(a, bs, us, *state)
        if rnd < _PIVOT_ROUNDS:
            x, state, done = _pivot_round(a, bs, us, target, state, tol)
            if rnd == _PIVOT_ROUNDS - 1:
                state = _bound_state(x, us)  # hand over: the primal phase needs x on its bounds
        else:
            single = rnd >= _PIVOT_ROUNDS + _MULTI_RELEASE_ROUNDS
            x, state, done = _primal_round(a, bs, us, x, target, state, tol, single)
        x_out[ids] = x
        converged[ids[done]] = True
        keep = ~done
        ids, bs, us, x = ids[keep], bs[keep], us[keep], x[keep]
        state = (state[0][keep], state[1][keep])
    return x_out, converged


def _solve_step(problem: SolverProblem, b: Any, x0: Any, warm_iters: int, max_rounds: int) -> Any:
    """One batched step: first solve, then the cancel-pair re-solve where it changes anything."""
    xp = get_xp(b)
    a = xp.asarray(problem.a_matrix)
    upper = xp.ones_like(b)
    inv = xp.asarray(problem.admm_inv)
    start = admm_warm_start(inv, problem.admm_rho, b, upper, x0, warm_iters)
    x, _ = solve_box_qp(a, b, upper, start, problem.tolerance, max_rounds)
    pairs = xp.asarray(problem.cancel_pairs)
    if pairs.shape[0] == 0:
        return x
    first, second = x[:, pairs[:, 0]], x[:, pairs[:, 1]]
    smaller = xp.where(first >= second, pairs[None, :, 1], pairs[None, :, 0])  # [B, C]
    rows = xp.arange(b.shape[0])[:, None]
    upper[rows, smaller] = CANCEL_UPPER_BOUND
    redo = xp.flatnonzero((x[rows, smaller] > CANCEL_UPPER_BOUND).any(axis=1))
    if redo.shape[0]:
        ur = upper[redo]
        x2, _ = solve_box_qp(a, b[redo], ur, _clip(xp, x[redo], ur), problem.tolerance, max_rounds)
        x[redo] = x2
    return x


def expand_weights(problem: SolverProblem, x: Any, clamp: bool = False) -> Any:
    """Active-pose solution -> all poses: 0 for inactive, ``* multipliers + offsets``, clamp.

    Args:
        problem: the solver problem.
        x: ``[..., Pa]`` solver output.
        clamp: clamp the result to [0, 1] (NIM ``enable_clamping_bs_weight``).

    Returns:
        ``[..., P]`` float64 blendshape weights.
    """
    xp = get_xp(x)
    full = xp.zeros((*x.shape[:-1], problem.num_poses), dtype=xp.float64)
    full[..., xp.asarray(problem.active_idx)] = x
    full = full * xp.asarray(problem.multipliers) + xp.asarray(problem.offsets)
    return xp.clip(full, 0.0, 1.0) if clamp else full


def solve(
    problem: SolverProblem,
    rhs: Any,
    w_prev: Any = None,
    clamp: bool = False,
    warm_iters: int = DEFAULT_WARM_ITERS,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    counts: Any | None = None,
) -> tuple[Any, Any]:
    """Solve ``T`` tracks x ``F`` frames; frames of a track in order, tracks batched.

    Args:
        problem: the solver problem (arrays on any backend; moved to the rhs's if needed).
        rhs: ``[T, F, Pa]`` (or ``[T, Pa]`` for one frame) data term ``D^T (target - neutral)``
            from :func:`data_rhs` or the compact path; NumPy or CuPy.
        w_prev: ``[T, Pa]`` previous solution per track (active poses, before multipliers);
            ``None`` or zeros for a new track (the SDK's reset).
        clamp: clamp the output weights to [0, 1].
        warm_iters: ADMM warm-start iterations per step.
        max_rounds: active-set rounds per step (see :func:`solve_box_qp`).
        counts: optional ``[T]`` int frames of each track (>= 1) when tracks of different
            lengths are padded to F: frames ``>= counts[t]`` are not solved (their weights are
            undefined) and ``w_prev`` is each track's last real frame.

    Returns:
        ``(weights, w_prev)``: ``[T, F, P]`` (or ``[T, P]``) float64 weights and the ``[T, Pa]``
        float64 state to pass to the next call. One call with F frames equals F calls.
    """
    xp = get_xp(rhs, w_prev)
    r = xp.asarray(rhs, dtype=xp.float64)
    single = r.ndim == 2
    r = r[:, None, :] if single else r
    t, f, n = r.shape
    w = xp.zeros((t, n)) if w_prev is None else xp.asarray(w_prev, dtype=xp.float64)
    n_frames = None if counts is None else xp.asarray(counts)
    if problem.temporal == 0.0:
        start = xp.broadcast_to(w[:, None, :], (t, f, n)).reshape(t * f, n)
        x = _solve_step(problem, r.reshape(t * f, n), start, warm_iters, max_rounds)
        x = x.reshape(t, f, n)
        last = x[:, -1] if n_frames is None else x[xp.arange(t), n_frames - 1]
    else:
        x = xp.empty_like(r)
        for i in range(f):
            if n_frames is None or i == 0:  # every track has frame 0
                w = _solve_step(problem, r[:, i] + problem.temporal * w, w, warm_iters, max_rounds)
            else:  # only the tracks that still have frames: a padded frame costs nothing
                rows = xp.flatnonzero(n_frames > i)
                w = w.copy()
                w[rows] = _solve_step(
                    problem, r[rows, i] + problem.temporal * w[rows], w[rows], warm_iters,
                    max_rounds,
                )  # fmt: skip
            x[:, i] = w
        last = x[:, -1]
    weights = expand_weights(problem, x, clamp)
    return (weights[:, 0] if single else weights), last.copy()


def solve_targets(
    problem: SolverProblem, targets: Any, w_prev: Any = None, clamp: bool = False
) -> tuple[Any, Any]:
    """:func:`solve` on target vertex positions ``[T, F, V, 3]`` (or ``[T, V, 3]``).

    The vertex-space entry point (reference pipeline, diffusion without projection); the
    compact path calls :func:`solve` with its own rhs.
    """
    return solve(problem, data_rhs(problem, targets), w_prev, clamp)
