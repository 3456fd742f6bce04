"""Shared pydantic base of the configuration models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen model that rejects unknown keys (typos fail loudly with the valid keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
