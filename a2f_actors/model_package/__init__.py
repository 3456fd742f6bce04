"""NVIDIA Audio2Face-3D / Audio2Emotion model packages: typed records, reader, writer.

``load_package(dir_or_model_json)`` reads a model directory in NVIDIA's published layout
(model.json, network_info.json, model_config*.json, model_data*.npz, implicit_emo_db.npz,
bs_*.npz, bs_*_config.json, trt_info.json) and validates every shape against
network_info.json; ``write_package`` writes the same layout deterministically. Synthetic
packages for tests live in :mod:`a2f_actors.model_package.synthetic`. See
docs/model_packages.md.
"""

from a2f_actors.model_package.reader import load_package
from a2f_actors.model_package.records import (
    A2EPackage,
    BlendshapeSet,
    DiffusionIdentity,
    DiffusionModelData,
    DiffusionPackage,
    ImplicitEmotionDB,
    Package,
    RegressionModelData,
    RegressionPackage,
)
from a2f_actors.model_package.schema import (
    A2EModelConfig,
    A2ENetworkInfo,
    BlendshapeConfig,
    DiffusionNetworkInfo,
    ModelConfig,
    NetworkInfo,
    RegressionNetworkInfo,
    TrtInfo,
)
from a2f_actors.model_package.summary import summarize
from a2f_actors.model_package.writer import write_package

__all__ = [
    "A2EModelConfig",
    "A2ENetworkInfo",
    "A2EPackage",
    "BlendshapeConfig",
    "BlendshapeSet",
    "DiffusionIdentity",
    "DiffusionModelData",
    "DiffusionNetworkInfo",
    "DiffusionPackage",
    "ImplicitEmotionDB",
    "ModelConfig",
    "NetworkInfo",
    "Package",
    "RegressionModelData",
    "RegressionNetworkInfo",
    "RegressionPackage",
    "TrtInfo",
    "load_package",
    "summarize",
    "write_package",
]
