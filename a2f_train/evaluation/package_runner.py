"""Run a model package on audio in-process: ONNX Runtime network + ``a2f_actors.offline``.

``package_animator(dir)`` loads the package (``a2f_actors.model_package.load_package``), opens
its ``network.onnx`` with ONNX Runtime on the CPU and returns a function
``audio [N] @ 16 kHz -> WeightTrack``: audio --> windows --> network --> post-processing -->
solve --> 68 weights (``a2f_actors.offline``), with the package's ``model_config.json``
post-processing defaults, the NIM default solver tables, no emotion (all zero) and, for
diffusion packages, the first identity unless one is named.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from a2f_train.evaluation.results_io import WeightTrack

Animate = Callable[[np.ndarray], WeightTrack]


def onnx_infer(onnx_path: Path) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """An ONNX Runtime CPU session as the pipeline's ``infer(dict) -> dict`` callable."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
        raise ImportError("scoring a package needs onnxruntime: pip install onnxruntime") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]

    def infer(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        run = session.run(outputs, {k: v for k, v in feeds.items() if k in inputs})
        return dict(zip(outputs, run, strict=True))

    return infer


def _regression(pkg: Any, infer: Any, fps: int) -> Animate:
    from a2f_actors.animator import RegressionAnimator
    from a2f_actors.offline import animate_regression_clip
    from a2f_actors.params import BlendshapeOutputParams

    tables = BlendshapeOutputParams()
    animator = RegressionAnimator.from_package(pkg, tables, float(fps))
    face = pkg.model_config.face_params()

    def animate(audio: np.ndarray) -> WeightTrack:
        clip = animate_regression_clip(animator, audio, face, tables, infer, fps=Fraction(fps))
        return WeightTrack(clip.time_codes, clip.weights)

    return animate


def _diffusion(pkg: Any, infer: Any, identity: str | None, noise_seed: int = 0) -> Animate:
    from a2f_actors.animator import DiffusionAnimator
    from a2f_actors.offline import animate_diffusion_clip
    from a2f_actors.params import BlendshapeOutputParams

    tables = BlendshapeOutputParams()
    ident = pkg.identities[0] if identity is None else pkg.identity(identity)
    animator = DiffusionAnimator.from_package(pkg, ident.name, tables)
    face = ident.model_config.face_params()

    def animate(audio: np.ndarray) -> WeightTrack:
        clip = animate_diffusion_clip(animator, audio, face, tables, infer, noise_seed=noise_seed)
        return WeightTrack(clip.time_codes, clip.weights)

    return animate


def package_animator(
    package: str | Path, *, fps: int = 30, identity: str | None = None, noise_seed: int = 0
) -> tuple[Animate, str]:
    """Load a package and return ``(animate, description)``.

    Args:
        package: Package folder or its model.json.
        fps: Output rate of a regression package (diffusion is always 60 fps).
        identity: Diffusion identity name (default: the first).
        noise_seed: Diffusion: seed of the constant noise (the serving default is 0).

    Returns:
        ``animate(audio [N] float32 @ 16 kHz) -> WeightTrack`` and a one-line description.

    Raises:
        FileNotFoundError: The package has no network.onnx.
        ValueError: Not an A2F regression or diffusion package.
    """
    from a2f_actors.model_package import DiffusionPackage, RegressionPackage, load_package

    pkg = load_package(package)
    onnx = pkg.files.network.onnx if pkg.files is not None else None
    if onnx is None:
        raise FileNotFoundError(f"{package}: no network.onnx in the package (needed to run it)")
    infer = onnx_infer(onnx)
    if isinstance(pkg, RegressionPackage):
        if identity is not None:
            raise ValueError(f"{package}: a regression package has no identities ({identity!r})")
        return _regression(pkg, infer, fps), f"regression package {package} at {fps} fps"
    if isinstance(pkg, DiffusionPackage):
        name = pkg.identities[0].name if identity is None else pkg.identity(identity).name
        desc = f"diffusion package {package} at 60 fps, identity {name}, noise seed {noise_seed}"
        return _diffusion(pkg, infer, identity, noise_seed), desc
    raise ValueError(f"{package}: not an Audio2Face package (Audio2Emotion cannot be scored)")
