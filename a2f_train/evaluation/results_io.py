"""Read and write blendshape weight tracks: NVIDIA sample CSV, our JSON, corpus ground truth.

Formats (every track is mapped to ``a2f_actors.names.BLENDSHAPES`` order; a name the source
lacks is filled with 0 and listed in :attr:`WeightTrack.missing`; unknown names are ignored):

* **CSV**, the layout NVIDIA's sample client writes (``animation_frames.csv``): a header
  ``timeCode,blendShapes.EyeBlinkLeft,...`` then one row per frame; an unnamed leading index
  column (pandas' default) is tolerated; names may be UpperCamel or lowerCamel.
* **JSON**, ours: ``{"format": "a2f-weights/1", "fps": 30, "names": [68 names],
  "time_codes": [F], "weights": [[68] * F]}``. Also read: a list of keyframes (top level or under
  ``"frames"``/``"keyframes"``), each ``{"timeCode": t, "blendShapes": {name: value}}`` (a JSON
  dump of NVIDIA's keyframes) or ``{"time_code": t, "weights": [68]}``.
* **Corpus ground truth**: the synthetic corpus' per-clip ``.npz`` (``a2f_train.corpus.clipgen``:
  ``weights_30 [F30, 68]``, ``weights_60 [F60, 68]``, ``phone_start/end/release/label``,
  ``word_start/end/text``, ``meta`` JSON with ``split`` and ``text``) beside its 16 kHz ``.wav``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2f_actors.names import BLENDSHAPES, to_upper_camel
from a2f_train.evaluation.segments import Segment

JSON_FORMAT = "a2f-weights/1"
_TIME_KEYS = ("timeCode", "time_code", "time_code_s", "timecode", "time")
_INDEX = {name: i for i, name in enumerate(BLENDSHAPES)}


@dataclass(frozen=True, eq=False)
class WeightTrack:
    """Weights of one clip with their time codes.

    Attributes:
        time_codes: ``[F]`` float64 seconds, increasing.
        weights: ``[F, 68]`` float32 in ``BLENDSHAPES`` order.
        missing: Names the source did not provide (filled with 0).
    """

    time_codes: np.ndarray
    weights: np.ndarray
    missing: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        t = np.asarray(self.time_codes, dtype=np.float64).reshape(-1)
        w = np.asarray(self.weights, dtype=np.float32)
        if w.ndim != 2 or w.shape != (t.shape[0], len(BLENDSHAPES)):
            raise ValueError(f"weights {w.shape} do not match {t.shape[0]} time codes x 68")
        if t.size > 1 and np.any(np.diff(t) <= 0):
            raise ValueError("time codes must increase strictly")
        object.__setattr__(self, "time_codes", t)
        object.__setattr__(self, "weights", w)

    @classmethod
    def from_fps(cls, weights: np.ndarray, fps: float) -> WeightTrack:
        """Track with frame ``i`` at ``i / fps`` seconds."""
        return cls(np.arange(len(weights)) / float(fps), weights)

    @property
    def fps(self) -> float:
        """Frame rate from the median time-code step (NaN with fewer than 2 frames)."""
        if self.time_codes.size < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.time_codes)))

    @property
    def duration_s(self) -> float:
        """Time code of the last frame plus one frame period (0 when empty)."""
        if self.time_codes.size == 0:
            return 0.0
        step = 1.0 / self.fps if self.time_codes.size > 1 else 0.0
        return float(self.time_codes[-1] + step)


def _assemble(times: list[float], rows: list[dict[str, float]]) -> WeightTrack:
    weights = np.zeros((len(rows), len(BLENDSHAPES)), dtype=np.float32)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        for name, value in row.items():
            j = _INDEX.get(to_upper_camel(name))
            if j is not None:
                weights[i, j] = value
                seen.add(BLENDSHAPES[j])
    missing = tuple(n for n in BLENDSHAPES if n not in seen)
    return WeightTrack(np.asarray(times, dtype=np.float64), weights, missing)


def read_csv(path: str | Path) -> WeightTrack:
    """Read an NVIDIA-sample-style CSV (``timeCode, blendShapes.<Name>...``)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty CSV")
        cols = [h.strip() for h in header]
        t_col = next((i for i, c in enumerate(cols) if c in _TIME_KEYS), None)
        if t_col is None:
            raise ValueError(f"{path}: no timeCode column in header {cols[:4]}...")
        shapes = [
            (i, c.split(".", 1)[1]) for i, c in enumerate(cols) if c.startswith("blendShapes.")
        ]
        times, rows = [], []
        for line in reader:
            if not line or not any(cell.strip() for cell in line):
                continue
            times.append(float(line[t_col]))
            rows.append({name: float(line[i]) for i, name in shapes})
    return _assemble(times, rows)


def write_csv(path: str | Path, track: WeightTrack) -> None:
    """Write ``track`` as ``timeCode,blendShapes.<Name>...`` (68 columns, BLENDSHAPES order)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["timeCode", *(f"blendShapes.{n}" for n in BLENDSHAPES)])
        for t, row in zip(track.time_codes, track.weights, strict=True):
            out.writerow([f"{t:.9g}", *(f"{v:.9g}" for v in row)])


def _frame_time(frame: dict[str, Any]) -> float:
    for key in _TIME_KEYS:
        if key in frame:
            return float(frame[key])
    raise ValueError(f"keyframe without a time code (keys {sorted(frame)[:5]})")


def _frame_values(frame: dict[str, Any], names: list[str]) -> dict[str, float]:
    if "blendShapes" in frame:
        return {k: float(v) for k, v in frame["blendShapes"].items()}
    return dict(zip(names, (float(v) for v in frame["weights"]), strict=True))


def read_json(path: str | Path) -> WeightTrack:
    """Read our JSON layout or a JSON list of keyframes (see the module docstring)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(doc, dict) and "weights" in doc and "frames" not in doc:
        names = list(doc.get("names", BLENDSHAPES))
        weights = np.asarray(doc["weights"], dtype=np.float64).reshape(-1, len(names))
        times = doc.get("time_codes")
        if times is None:
            times = list(np.arange(len(weights)) / float(doc["fps"]))
        rows = [dict(zip(names, row, strict=True)) for row in weights.tolist()]
        return _assemble(list(times), rows)
    frames = doc if isinstance(doc, list) else doc.get("frames", doc.get("keyframes"))
    if not isinstance(frames, list):
        raise ValueError(f"{path}: neither our JSON layout nor a list of keyframes")
    names = list(doc.get("names", BLENDSHAPES)) if isinstance(doc, dict) else list(BLENDSHAPES)
    return _assemble([_frame_time(f) for f in frames], [_frame_values(f, names) for f in frames])


def write_json(path: str | Path, track: WeightTrack) -> None:
    """Write ``track`` in our JSON layout (``format: a2f-weights/1``)."""
    doc = {
        "format": JSON_FORMAT,
        "fps": round(track.fps, 6) if track.time_codes.size > 1 else None,
        "names": list(BLENDSHAPES),
        "time_codes": [float(t) for t in track.time_codes],
        "weights": [[float(v) for v in row] for row in track.weights],
    }
    Path(path).write_text(json.dumps(doc) + "\n", encoding="utf-8")


def read_results(path: str | Path, *, fps: int = 30) -> WeightTrack:
    """Read a weight track by file suffix: ``.csv``, ``.json`` or a corpus ``.npz`` (at ``fps``)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".json":
        return read_json(path)
    if suffix == ".npz":
        return read_ground_truth(path).track(fps)
    raise ValueError(f"{path}: unknown results format {suffix!r}; use .csv, .json or .npz")


@dataclass(frozen=True, eq=False)
class GroundTruthClip:
    """One synthetic corpus clip: targets, labels and audio location.

    Attributes:
        name: Clip id (the file stem).
        audio_path: The 16 kHz WAV beside the npz (None when absent).
        weights: fps -> ``[F, 68]`` float32 target weights (keys 30 and/or 60).
        phones: Phone segments in seconds (exact labels of the synthesizer).
        words: Word segments in seconds (may be empty).
        split: ``"train"``, ``"val"``, ``"test"`` or None.
        transcript: Sentence text when stored, else None.
    """

    name: str
    audio_path: Path | None
    weights: dict[int, np.ndarray]
    phones: tuple[Segment, ...]
    words: tuple[Segment, ...] = ()
    split: str | None = None
    transcript: str | None = None

    def track(self, fps: int = 30) -> WeightTrack:
        """The targets at ``fps`` as a :class:`WeightTrack`."""
        if fps not in self.weights:
            raise KeyError(f"{self.name}: no {fps} fps targets (have {sorted(self.weights)})")
        return WeightTrack.from_fps(self.weights[fps], fps)


def _first(npz: Any, *keys: str) -> Any:
    for key in keys:
        if key in npz.files:
            return npz[key]
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    arr = np.asarray(value)
    return str(arr.reshape(-1)[0]) if arr.size else None


def _meta(npz: Any) -> dict[str, Any]:
    """The clip's ``meta`` JSON (ids, text, split, voice...), or {} when absent."""
    raw = _text(_first(npz, "meta"))
    try:
        doc = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _split(npz: Any) -> str | None:
    return _text(_first(npz, "split")) or _meta(npz).get("split")


def _npz_segments(npz: Any, kind: str, *, closure: bool = False) -> tuple[Segment, ...]:
    """Segments stored as ``<kind>_start``/``_end``/``_label`` (or plural) arrays, seconds.

    With ``closure``, a ``<kind>_release`` array (stops: closure = ``[start, release]``) replaces
    the end time.
    """
    p = (f"{kind}_", f"{kind}s_")
    start = _first(npz, *(q + "start" for q in p), *(q + "starts" for q in p))
    end = _first(npz, *(q + "end" for q in p), *(q + "ends" for q in p))
    labels = _first(npz, *(q + n for q in p for n in ("label", "labels", "text")))
    if start is None or end is None or labels is None:
        return ()
    if closure:
        release = _first(npz, *(q + "release" for q in p))
        end = end if release is None else release
    return tuple(
        Segment(str(lab), float(s), float(e))
        for s, e, lab in zip(np.asarray(start), np.asarray(end), np.asarray(labels), strict=True)
    )


def read_ground_truth(path: str | Path) -> GroundTruthClip:
    """Read one corpus clip's ``.npz`` (targets, exact phones, words, split) and locate its WAV.

    Phones are read as closure intervals: a stop's segment ends at its ``release`` time when the
    corpus stores one (lips closed over ``[start, release]``), so the bilabial score tests the
    closure itself.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        weights = {
            fps: np.asarray(npz[f"weights_{fps}"], dtype=np.float32)
            for fps in (30, 60)
            if f"weights_{fps}" in npz.files
        }
        if not weights:
            raise ValueError(f"{path}: no weights_30 / weights_60 arrays (keys {npz.files})")
        phones = _npz_segments(npz, "phone", closure=True)
        words = _npz_segments(npz, "word")
        split = _split(npz)
        transcript = _text(_first(npz, "text", "transcript")) or _meta(npz).get("text")
    wav = path.with_suffix(".wav")
    return GroundTruthClip(
        path.stem, wav if wav.is_file() else None, weights, phones, words, split, transcript
    )


def list_corpus(corpus_dir: str | Path, split: str | None = "test") -> list[Path]:
    """The clip ``.npz`` files (those with ``weights_30``/``weights_60``) of a corpus folder.

    Searched recursively; other npz files (PCA, geometry) are skipped.

    A clip's split is its ``meta`` JSON ``split`` (or a ``split`` array) when stored, else the name
    of its parent folder. The corpus builder writes clips as ``<corpus>/clips/<id>.npz``.
    """
    out = []
    for path in sorted(Path(corpus_dir).rglob("*.npz")):
        with np.load(path, allow_pickle=False) as npz:
            is_clip = "weights_30" in npz.files or "weights_60" in npz.files
            stored = _split(npz) if is_clip else None
        if is_clip and (split is None or (stored or path.parent.name) == split):
            out.append(path)
    return out
