"""grpc.aio inside Serve replicas: drop the poller's spurious ``BlockingIOError`` reports.

A Serve replica runs more than one asyncio loop (user code, router, the actor's own), and
grpc.aio binds its completion-queue poller to every loop that touches it: each gRPC event wakes
all of them, one reads the wake-up byte and the others get ``BlockingIOError`` from
``PollerCompletionQueue._handle_events``, which asyncio logs with a full traceback (grpc/grpc
issue 25364; the fix proposed upstream, PR 36096, swallows exactly this error). Nothing is lost:
gRPC keeps working. But a traceback per spurious wake-up is CPU and log volume on the ingress
and inference replicas, the busiest processes of the cluster (hundreds per minute under load),
so this filter drops exactly that report and passes every other one on unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

_MARK = "_a2f_poller_filter"


def _spurious_poller_wakeup(context: dict[str, Any]) -> bool:
    if not isinstance(context.get("exception"), BlockingIOError):
        return False
    where = f"{context.get('handle', '')} {context.get('message', '')}"
    return "PollerCompletionQueue" in where


def install_poller_filter(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Filter the spurious grpc.aio poller errors on ``loop`` (default: the running loop).

    Idempotent; keeps any exception handler already installed for everything else.
    """
    loop = loop or asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    if getattr(previous, _MARK, False):
        return

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _spurious_poller_wakeup(context):
            return
        if previous is not None:
            previous(lp, context)
        else:
            lp.default_exception_handler(context)

    setattr(handler, _MARK, True)
    loop.set_exception_handler(handler)
