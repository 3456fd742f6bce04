"""Accounting math on hand-made records (no server): frames, latency, fps, jitter, SLO."""

from __future__ import annotations

import pytest

from loadtest.accounting import (
    SLO,
    StreamRecord,
    aggregate,
    analyse,
    check_frames,
    evaluate,
    expected_frames,
    frame_latencies,
    need_time,
)

FPS = 30


def realtime_record(audio_s: float = 1.0, delay_s: float = 0.02, chunk_s: float = 0.1):
    """Audio sent in real time from t=0; every frame arrives ``delay_s`` after its audio."""
    n16 = round(audio_s * 16000)
    rec = StreamRecord(1, "c.wav", audio_s, expected_frames(n16, FPS), float(FPS), start=0.0)
    k = 1
    while k * chunk_s < audio_s + 1e-9:
        rec.sends.append((k * chunk_s, k * chunk_s))
        k += 1
    rec.end_sent = audio_s
    for i in range(rec.expected):
        tc = i / FPS
        rec.frames.append((tc, need_time(rec, tc + 0.26) + delay_s))
    rec.first_response, rec.eof = 0.0, audio_s + 0.1
    return rec


def test_expected_frames_follow_the_sdk_schedule_when_the_clip_is_closed() -> None:
    assert expected_frames(16000, 30) == 30  # frames at t < 1 s
    assert expected_frames(16001, 30) == 31
    assert expected_frames(0, 30) == 0


def test_check_frames_counts_missing_duplicated_out_of_range_and_order() -> None:
    codes = [0, 1 / 30, 1 / 30, 3 / 30, 2 / 30, 40 / 30]
    check = check_frames(codes, expected=5, fps=30)
    assert check.received == 6
    assert check.missing == 1  # index 4
    assert check.duplicated == 1  # index 1 twice
    assert check.out_of_range == 1  # index 40
    assert check.out_of_order == 1  # 3 then 2


def test_need_time_is_the_first_send_covering_the_audio_or_end_of_audio_past_the_clip() -> None:
    rec = StreamRecord(1, "c", 1.0, 30, sends=[(0.5, 10.0), (1.0, 10.5)], end_sent=11.0)
    assert need_time(rec, 0.3) == 10.0
    assert need_time(rec, 0.5) == 10.0
    assert need_time(rec, 0.51) == 10.5
    assert need_time(rec, 1.2) == 11.0  # window past the end: needs end_of_audio


def test_latency_includes_the_260_ms_lookahead_rule_when_audio_is_real_time() -> None:
    rec = realtime_record(delay_s=0.02)
    lat = frame_latencies(rec, 0.26)
    assert len(lat) == rec.expected
    assert all(x == pytest.approx(0.02) for x in lat)
    # a server emitting frame i only at (i/fps) (ignoring the look-ahead) would be "early":
    # the accounting must then measure latencies below zero, not hide them
    rec.frames = [(tc, tc) for tc, _ in rec.frames]
    assert min(frame_latencies(rec, 0.26)) < 0


def test_analyse_reports_ttff_fps_and_jitter_of_a_clean_stream() -> None:
    rec = realtime_record(audio_s=2.0, chunk_s=1 / 30)
    stats = analyse(rec)
    assert stats.ok and stats.lost == 0 and stats.check.duplicated == 0
    assert stats.ttff_s == pytest.approx(8 / 30 + 0.02 - 1 / 30, abs=1e-6)  # 0.26 s sent at 8/30
    assert stats.delivered_fps == pytest.approx(30.0, rel=0.2)
    assert stats.jitter_ms is not None and stats.max_gap_ms is not None


def test_jitter_is_zero_when_frames_arrive_exactly_every_frame_period() -> None:
    rec = StreamRecord(1, "c", 1.0, 30, sends=[(1.0, 0.0)], end_sent=0.0)
    rec.frames = [(i / 30, 1.0 + i / 30) for i in range(30)]
    stats = analyse(rec)
    assert stats.jitter_ms == pytest.approx(0.0, abs=1e-6)
    assert stats.delivered_fps == pytest.approx(30.0)
    assert stats.max_gap_ms == pytest.approx(1000 / 30)


def test_slo_passes_a_clean_level_and_lists_every_broken_clause() -> None:
    good = aggregate([analyse(realtime_record())])
    assert evaluate(good, SLO()).passed
    bad_rec = realtime_record(delay_s=0.3)
    bad_rec.frames = bad_rec.frames[:-2]
    bad_rec.code = "UNAVAILABLE"
    verdict = evaluate(aggregate([analyse(bad_rec)]), SLO())
    assert not verdict.passed
    text = " ".join(verdict.reasons)
    assert "failed" in text and "p99" in text and "lost" in text


def test_slo_fps_clause_applies_only_when_enabled() -> None:
    rec = realtime_record()
    rec.frames = [(tc, t * 2) for tc, t in rec.frames]  # frames arrive at half rate
    level = aggregate([analyse(rec)])
    assert level.min_fps is not None and level.min_fps < 29.5
    loose = SLO(p99_latency_ms=1e9)
    assert not evaluate(level, loose).passed
    assert evaluate(level, SLO(p99_latency_ms=1e9, check_fps=False)).passed


def test_aggregate_sums_frames_and_groups_errors_by_code() -> None:
    a, b = realtime_record(), realtime_record()
    b.code = "DEADLINE_EXCEEDED"
    b.frames = b.frames[:10]
    level = aggregate([analyse(a), analyse(b)])
    assert level.streams == 2 and level.ok_streams == 1
    assert level.errors == {"DEADLINE_EXCEEDED": 1}
    assert level.received_frames == a.expected + 10
    assert level.lost_frames == b.expected - 10
