"""deployments.aio_compat: only grpc.aio's spurious poller wake-ups are dropped."""

from __future__ import annotations

import asyncio

from deployments.aio_compat import install_poller_filter


class _Handle:
    def __repr__(self) -> str:
        return "<Handle functools.partial(<bound method PollerCompletionQueue._handle_events>)>"


def test_spurious_poller_errors_are_dropped_and_others_reach_the_previous_handler() -> None:
    loop = asyncio.new_event_loop()
    seen: list[dict] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))
    install_poller_filter(loop)
    install_poller_filter(loop)  # idempotent: one filter, same previous handler
    try:
        loop.call_exception_handler({"exception": BlockingIOError(11), "handle": _Handle()})
        assert seen == []
        other = {"exception": BlockingIOError(11), "message": "elsewhere"}
        loop.call_exception_handler(other)
        boom = {"exception": ValueError("x"), "handle": _Handle()}
        loop.call_exception_handler(boom)
        assert seen == [other, boom]
    finally:
        loop.close()


def test_default_handler_is_used_without_a_previous_one(caplog) -> None:
    loop = asyncio.new_event_loop()
    install_poller_filter(loop)
    try:
        loop.call_exception_handler({"message": "real problem", "exception": RuntimeError("r")})
        loop.call_exception_handler({"exception": BlockingIOError(11), "handle": _Handle()})
    finally:
        loop.close()
    assert "real problem" in caplog.text
    assert caplog.text.count("Exception") <= 1 and "PollerCompletionQueue" not in caplog.text
