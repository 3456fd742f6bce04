"""Host CPU split from a fake /proc tree, and server counters from Prometheus samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.probes import CpuProbe, classify, server_delta

TICKS = 100


def write_proc(root: Path, pid: int, ppid: int, title: str, ticks: int) -> None:
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    fields = ["S", str(ppid)] + ["0"] * 9 + [str(ticks), "0"] + ["0"] * 10
    (d / "stat").write_text(f"{pid} (x) " + " ".join(fields))
    (d / "cmdline").write_bytes(title.encode() + b"\0")


def test_classify_maps_serve_replica_titles_to_stages() -> None:
    assert classify("ray::ServeReplica:a2f:ApiIngress", 5, 1) == "ingress"
    assert classify("ray::ServeReplica:a2f:AudioEncoder", 5, 1) == "resample"
    assert classify("ray::ServeReplica:a2f:A2FInference", 5, 1) == "a2f"
    assert classify("ray::ServeReplica:a2f:BlendshapeSolver", 5, 1) == "solve"
    assert classify("/x/tritonserver --model-repository", 5, 1) == "triton"
    assert classify("ray::ServeController", 5, 1) == "ray"
    assert classify("python train.py", 5, 1) == "other"
    assert classify("anything", 1, 1) == "loadgen"


def test_cpu_probe_counts_only_the_cluster_tree_when_a_root_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr("loadtest.probes._TICKS", TICKS)
    write_proc(tmp_path, 10, 1, "a2f serve", 0)
    write_proc(tmp_path, 11, 10, "ray::ServeReplica:a2f:A2FInference", 100)
    write_proc(tmp_path, 20, 1, "ray::ServeReplica:a2f:A2FInference", 100)  # another cluster
    probe = CpuProbe(tmp_path, root_pid=10)
    probe.start(0.0)
    write_proc(tmp_path, 11, 10, "ray::ServeReplica:a2f:A2FInference", 250)
    write_proc(tmp_path, 20, 1, "ray::ServeReplica:a2f:A2FInference", 400)
    write_proc(tmp_path, 12, 11, "/bin/tritonserver", 50)  # started during the level
    split = probe.stop(2.0)
    assert split.seconds["a2f"] == pytest.approx(1.5)
    assert split.seconds["triton"] == pytest.approx(0.5)
    assert split.seconds["other"] == pytest.approx(3.0)
    assert split.cores()["a2f"] == pytest.approx(0.75)
    assert split.server_cores() == pytest.approx(1.0)


def _key(name: str, **labels: str):
    return (name, tuple(sorted(labels.items())))


def test_server_delta_reports_frames_and_mean_latency_and_batch_per_stage() -> None:
    before = {_key("ray_a2f_frames_emitted_total", tenant="t", model="m"): 100.0}
    after = {
        _key("ray_a2f_frames_emitted_total", tenant="t", model="m"): 400.0,
        _key("ray_a2f_stage_calls_total", stage="a2f", outcome="ok"): 10.0,
        _key("ray_a2f_stage_seconds_total", stage="a2f"): 0.5,
        _key("ray_a2f_stage_items_total", stage="a2f"): 80.0,
        _key("ray_a2f_stage_streams_total", stage="a2f"): 30.0,
        _key("ray_a2f_ticks_total"): 20.0,
        _key("ray_a2f_tick_seconds_total"): 1.0,
    }
    d = server_delta(before, after)
    assert d["frames_emitted"] == 300
    assert d["a2f_latency_ms"] == pytest.approx(50.0)
    assert d["a2f_batch_items"] == pytest.approx(8.0)
    assert d["a2f_batch_streams"] == pytest.approx(3.0)
    assert d["tick_ms"] == pytest.approx(50.0)
    assert "resample_calls" not in d
