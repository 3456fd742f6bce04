"""The load report's replica sampler against a stand-in of Serve's REST API (fast, no Ray)."""

from __future__ import annotations

import asyncio
import csv
import http.server
import json
import threading
from pathlib import Path
from typing import ClassVar

from loadtest import replicas
from loadtest.generator import LiveCounters


def _doc(inference: int, target: int) -> dict:
    def dep(n: int, t: int, node: str = "n1") -> dict:
        reps = [{"state": "RUNNING", "node_id": f"{node}{k % 2}"} for k in range(n)]
        return {"status": "HEALTHY", "target_num_replicas": t,
                "replicas": [*reps, {"state": "STARTING", "node_id": "n9"}]}  # fmt: skip

    return {"applications": {
        "a2f": {"deployments": {"A2FInference": dep(inference, target),
                                "ApiIngress": dep(1, 1)}},
        "other": {"deployments": {"Else": dep(3, 3)}},
    }}  # fmt: skip


def test_counts_only_running_replicas_of_the_app() -> None:
    got = replicas.replica_counts(_doc(3, 4), "a2f")
    assert got["A2FInference"] == {"running": 3, "target": 4, "nodes": 2, "status": "HEALTHY"}
    assert set(got) == {"A2FInference", "ApiIngress"}
    assert "Else" in replicas.replica_counts(_doc(1, 1))


class _Serve(http.server.BaseHTTPRequestHandler):
    docs: ClassVar[list] = []
    auth: ClassVar[list] = []

    def do_GET(self) -> None:
        _Serve.auth.append(self.headers.get("Authorization"))
        body = json.dumps(_Serve.docs.pop(0) if len(_Serve.docs) > 1 else _Serve.docs[0])
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


def test_sampler_records_replicas_beside_the_load_and_writes_csv_and_plot(tmp_path: Path) -> None:
    _Serve.docs = [_doc(1, 1), _doc(1, 3), _doc(3, 3), _doc(3, 3), _doc(1, 1)]
    server = http.server.HTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    async def go() -> replicas.ReplicaSampler:
        async with replicas.ReplicaSampler(url, "a2f", period_s=0.05, token="tok") as sampler:
            live = LiveCounters(active=4, frames=10)
            sampler.note("ramp1-4", live)
            await asyncio.sleep(0.2)
            live.frames = 50
            sampler.note("ramp1-4", live)
            await asyncio.sleep(0.1)
            sampler.note("idle", None)
            await asyncio.sleep(0.1)
        return sampler

    try:
        sampler = asyncio.run(go())
    finally:
        server.shutdown()
    samples = sampler.samples
    assert len(samples) >= 5 and sampler.errors == 0
    assert _Serve.auth[0] == "Bearer tok"
    assert [s.running["A2FInference"] for s in samples][:4] == [1, 1, 3, 3]
    assert samples[-1].level == "idle" and samples[-1].active_streams == 0
    assert max(s.frames for s in samples) == 50
    rows = replicas.level_summary(samples)
    assert [r["level"] for r in rows][-1] == "idle"
    assert any(r["A2FInference"] == "1-3" for r in rows)
    assert replicas.write_files(tmp_path, samples) == ["replicas.png"]
    with (tmp_path / "replicas.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header[:4] == ["t_s", "level", "active_streams", "frames"]
    assert "A2FInference_running" in header and "A2FInference_target" in header
    assert (tmp_path / "replicas.png").stat().st_size > 1000
    assert "| level |" in replicas.markdown(samples)


def test_unreachable_dashboard_is_counted_not_raised() -> None:
    sampler = replicas.ReplicaSampler("http://127.0.0.1:9", token="x")
    assert sampler.sample() is None and sampler.errors == 1
