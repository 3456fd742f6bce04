"""free_ports: distinct, bindable, and outside the kernel's ephemeral range when it can be."""

from __future__ import annotations

import socket

from deployments.triton import server
from deployments.triton.server import free_ports


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    low = server._ephemeral_low()
    assert all(server._FIXED_PORTS_FROM <= p < low for p in ports)  # bind(0) never hands these out
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_skipped(monkeypatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_ports(1)[0]))
        held.listen()
        taken = held.getsockname()[1]

        class TakenFirst:  # the draw offers the held port before any other
            def sample(self, population, k):
                return [taken, *[p for p in population if p != taken][: k - 1]]

        monkeypatch.setattr(server.random, "SystemRandom", TakenFirst)
        ports = free_ports(3)
        assert taken not in ports
        assert len(set(ports)) == 3


def test_without_room_below_the_range_the_kernel_chooses(monkeypatch) -> None:
    monkeypatch.setattr(server, "_ephemeral_low", lambda: server._FIXED_PORTS_FROM + 10)
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(p > 0 for p in ports)
