"""``a2f train``: dispatch to the trainer module and show its progress logs."""

from __future__ import annotations

import logging
import sys
import types

from deployments.cli import main


def test_train_shows_the_trainers_info_logs(monkeypatch, tmp_path, capsys):
    seen = {}

    def run(corpus, out, config, seed):
        logging.getLogger("a2f_train.train.fake").info("step 25 loss 0.5000 12s")
        seen.update(corpus=corpus, out=out, config=config, seed=seed)
        return out / "pkg"

    fake = types.ModuleType("a2f_train.train.emotion")
    fake.run = run
    monkeypatch.setitem(sys.modules, "a2f_train.train.emotion", fake)
    a2f_log = logging.getLogger("a2f_train")
    monkeypatch.setattr(a2f_log, "handlers", [])
    monkeypatch.setattr(a2f_log, "level", logging.NOTSET)

    (tmp_path / "manifest.jsonl").write_text("")
    args = ["train", "emotion", "--corpus", str(tmp_path), "--out", str(tmp_path)]
    rc = main([*args, "--seed", "3"])

    assert rc == 0 and seen["seed"] == 3 and seen["corpus"] == tmp_path
    err = capsys.readouterr()
    assert "step 25 loss 0.5000" in err.err  # progress is visible, not dropped at WARNING
    assert f"wrote {tmp_path / 'pkg'}" in err.out
    main(args)
    assert len(a2f_log.handlers) == 1  # a second call adds no second handler


def test_train_defaults_to_the_shipped_corpus_and_says_how_to_build_it(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "regression"]) == 2
    out = capsys.readouterr().out
    assert "data/corpus/full_piper" in out and "make data CONFIG=full_piper" in out
    assert main(["train", "diffusion"]) == 2  # the shipped diffusion net trains on full_piper too
    assert "make data CONFIG=full_piper" in capsys.readouterr().out
    assert main(["train", "emotion"]) == 2
    assert "no corpus at data/corpus/full (" in capsys.readouterr().out  # with `make data`
    assert main(["train", "diffusion", "--corpus", str(tmp_path / "nope")]) == 2
    assert "a2f data build" in capsys.readouterr().out
