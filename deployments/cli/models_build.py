"""``a2f models build-repo`` and ``a2f models build-engines`` (wired in by ``models_cmd``).

Examples::

    a2f models build-repo --packages models/mark models/multi -o model_repository
    a2f models build-repo --target gpu --gpu-backend onnxruntime_trt --packages ...
    a2f models build-engines --packages models/mark --repository model_repository
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_ENGINE_CACHE = Path.home() / ".cache" / "a2f-cluster" / "engines"
#: Engine batch profiles (min, opt, max) when not given: NIM trt_model_generation, diffusion
#: from the training framework's trt_info defaults (OPT 3, MAX 8).
DEFAULT_BATCHES = {"regression": (1, 10, 128), "a2e": (1, 10, 128), "diffusion": (1, 3, 8)}


def add_build_commands(models_subparsers: argparse._SubParsersAction) -> None:
    """Add ``build-repo`` and ``build-engines`` to the ``a2f models`` sub-commands."""
    repo = models_subparsers.add_parser("build-repo", help="write the Triton model repository")
    _packages_arg(repo)
    repo.add_argument("-o", "--output", type=Path, default=Path("model_repository"))
    repo.add_argument("--target", choices=("cpu", "gpu"), default="cpu")
    repo.add_argument(
        "--gpu-backend", choices=("tensorrt_plan", "onnxruntime_trt"), default="tensorrt_plan"
    )
    repo.add_argument("--force", action="store_true", help="rebuild stale entries")
    repo.add_argument("--max-queue-delay-us", type=int, help="dynamic batcher delay, all models")
    repo.add_argument("--instance-count", type=int, help="model instances, all models")
    repo.add_argument("--intra-op-threads", type=int, default=0, help="ORT threads (0 = auto)")
    repo.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    repo.add_argument("--noise-seed", type=int, default=0)
    repo.add_argument(
        "--no-constant-noise", action="store_true", help="fresh diffusion noise per inference"
    )
    repo.set_defaults(func=cmd_build_repo)
    eng = models_subparsers.add_parser("build-engines", help="build TensorRT engines (GPU)")
    _packages_arg(eng)
    eng.add_argument("--cache-dir", type=Path, default=DEFAULT_ENGINE_CACHE)
    eng.add_argument("--repository", type=Path, help="link engines as <model>/1/model.plan")
    eng.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    eng.add_argument("--batches", type=int, nargs=3, metavar=("MIN", "OPT", "MAX"))
    eng.set_defaults(func=cmd_build_engines)


def _packages_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--packages",
        nargs="+",
        required=True,
        metavar="[ID=]DIR",
        help="model package directories; the model id defaults to the directory name",
    )


def parse_package_arg(text: str) -> tuple[Path, str | None]:
    """``ID=DIR`` or ``DIR`` -> (directory, id or None)."""
    model_id, sep, path = text.partition("=")
    return (Path(path), model_id) if sep else (Path(text), None)


def cmd_build_repo(args: argparse.Namespace) -> int:
    """Build the repository; exit 1 if an entry is stale (not rebuilt without --force)."""
    from a2f_actors.errors import ModelPackageError
    from deployments.triton import repository as repo

    opts = repo.BuildOptions(
        target=args.target,
        gpu_backend=args.gpu_backend,
        constant_noise=not args.no_constant_noise,
        noise_seed=args.noise_seed,
        intra_op_threads=args.intra_op_threads,
        precision=args.precision,
        force=args.force,
    )
    overrides = {
        "max_queue_delay_us": args.max_queue_delay_us,
        "instance_count": args.instance_count,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        opts = repo.with_settings(opts, **overrides)
    try:
        sources = [repo.describe_package(*parse_package_arg(p))[0] for p in args.packages]
    except ModelPackageError as exc:
        print(f"error: {exc}")
        return 2
    reports = repo.build_repository(sources, args.output, opts)
    for r in reports:
        print(f"{r.status:9s} {r.model}  {r.detail}".rstrip())
    return 1 if any(r.status == "stale" for r in reports) else 0


def cmd_build_engines(args: argparse.Namespace) -> int:
    """Build TensorRT engines; exit 3 with the fix when TensorRT or a GPU is missing."""
    from a2f_actors.errors import ModelPackageError
    from deployments.triton import engines
    from deployments.triton.repository import describe_package

    try:
        engines.load_tensorrt()
        requests = []
        for text in args.packages:
            source, trt_info = describe_package(*parse_package_arg(text))
            precision = "fp32" if source.kind == "a2e" else args.precision
            batches = tuple(args.batches or DEFAULT_BATCHES[source.kind])
            requests.append(engines.plan_engine(source, trt_info, batches, precision))  # type: ignore[arg-type]
        done = engines.build_engines(requests, args.cache_dir, args.repository)
    except engines.TensorRTUnavailable as exc:
        print(f"error: {exc}")
        return 3
    except (ModelPackageError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    for model, status, path in done:
        print(f"{status:7s} {model}  {path}")
    return 0
