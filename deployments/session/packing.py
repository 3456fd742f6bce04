"""Stage calls' item and result lists as ONE pickled payload (the hop's serialization cost).

Ray serializes a call's arguments and its return value with cloudpickle, whose Python-level
``reducer_override`` runs for every object: a solve call for 32 streams (32 items, each with
its parameters and animation state as small dataclasses and arrays) cost about 4 ms to pickle
and 1.6 ms to unpickle, and its 32 results 5 ms and 2.2 ms, measured on this project's 2-core
VM: about 13 ms of CPU per tick on the solve hop alone, more than the solve of 32 frames.
:class:`Packed` hands the whole list to the standard C pickler (protocol 5) once, so
cloudpickle sees a single ``bytes`` object. Every record type is a module-level dataclass of
NumPy arrays and plain values, which the C pickler handles without cloudpickle's help.

Stages accept a plain list too (local pipelines, tests) and answer in the form they were
called with (:func:`unpack` / :func:`repack`).
"""

from __future__ import annotations

import pickle
from typing import Any


class Packed:
    """A list of items or results that pickles as one protocol-5 ``bytes`` payload.

    Attributes:
        value: the wrapped list.
    """

    __slots__ = ("value",)

    def __init__(self, value: list[Any]) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return _restore, (pickle.dumps(self.value, protocol=5),)

    def __len__(self) -> int:
        return len(self.value)


def _restore(payload: bytes) -> Packed:
    return Packed(pickle.loads(payload))


def unpack(items: Packed | list[Any]) -> tuple[list[Any], bool]:
    """``(the list, whether it came packed)``."""
    if isinstance(items, Packed):
        return items.value, True
    return items, False


def repack(results: list[Any], packed: bool) -> Packed | list[Any]:
    """Results in the form the call came in."""
    return Packed(results) if packed else results
