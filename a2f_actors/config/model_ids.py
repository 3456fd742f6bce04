"""Model ids and identities: NVIDIA's NIM ids and the project's own defaults, in one place.

Model ids are free strings (resolved against the installed model packages at serving time);
only their shape is checked here. NVIDIA's ids come from the NIM 2.0 support matrix and the
migration guide (a2f_reference.md section 1.1).
"""

from __future__ import annotations

#: Shape of a model id: ``<name>_v<major>[.<minor>...]``, lower case (``claire_v2.3.1``).
MODEL_ID_PATTERN = r"^[a-z][a-z0-9_]*_v[0-9]+(\.[0-9]+){0,3}$"
#: Shape of a diffusion identity name (``claire``, ``ada``).
IDENTITY_PATTERN = r"^[a-z][a-z0-9_]*$"

#: NIM 2.0 regression models (one identity each).
NVIDIA_REGRESSION_MODEL_IDS: tuple[str, ...] = ("claire_v2.3.1", "james_v2.3.1", "mark_v2.3")
#: NIM 2.0 diffusion model (Audio2Face-3D v3.0 on Hugging Face) and its identities.
NVIDIA_DIFFUSION_MODEL_ID = "multi_v3.2"
NVIDIA_DIFFUSION_IDENTITIES: tuple[str, ...] = ("claire", "james", "mark")

#: The project's procedural default character "ada": regression and diffusion packages.
DEFAULT_CHARACTER = "ada"
DEFAULT_REGRESSION_MODEL_ID = "ada_v2.3"
DEFAULT_DIFFUSION_MODEL_ID = "ada_multi_v3.0"
DEFAULT_DIFFUSION_IDENTITY = "ada"

#: Identities of the diffusion models we know; other ids are checked at serving time only.
KNOWN_DIFFUSION_IDENTITIES: dict[str, tuple[str, ...]] = {
    NVIDIA_DIFFUSION_MODEL_ID: NVIDIA_DIFFUSION_IDENTITIES,
    # ada's three speaking styles (docs/models/diffusion.md): neutral, crisper, softer.
    DEFAULT_DIFFUSION_MODEL_ID: (DEFAULT_DIFFUSION_IDENTITY, "ada_crisp", "ada_soft"),
}

#: NIM 1.3 -> 2.0 regression model id upgrades (migration guide); unknown ids are kept.
V13_MODEL_ID_UPGRADES: dict[str, str] = {
    "claire_v2.3": "claire_v2.3.1",
    "james_v2.3": "james_v2.3.1",
    "mark_v2.3": "mark_v2.3",
}
