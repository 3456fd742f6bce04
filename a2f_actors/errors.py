"""Typed errors of the compute layer.

Every error names the bad value, what was allowed and how to fix it; the transport layer maps
them to gRPC / HTTP status codes (all are client errors unless noted).
"""

from __future__ import annotations


class A2FError(Exception):
    """Base class of every error raised by ``a2f_actors``."""


class ConfigError(A2FError, ValueError):
    """A configuration file or runtime parameter is invalid (names file and key path)."""


class AudioError(A2FError, ValueError):
    """Audio input is invalid: empty, truncated, unsupported encoding or rate, NaN/Inf, too long."""


class ModelPackageError(A2FError, ValueError):
    """A model package on disk is missing a file or an array, or shapes disagree."""
