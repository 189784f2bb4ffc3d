"""Table 3 over several seeds (mean ± sample std per cell, per-seed results reused on resume) and extra
face-only training data for the face tokenizer."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reference_models.m3t.ablate as ablate
from m3t_bench.cli import main
from reference_models.m3t.config import TINY


def _fake_run(seed: int, **_) -> dict:
    """A run_ablation-shaped result whose figures are known functions of the seed."""
    rows = []
    for q, offset in (("vq", 0.0), ("fsq", 10.0)):
        mods = {m: {"pa_vpe_mm": 1.0 + seed, "utilisation_pct": 50.0 + offset + 2 * seed, "token_freq_std": 0.5,
                    "vertex_error_mm": 1.0, "val_vertex_error_mm": 1.0, "best_epoch": 3 + seed}
                for m in ("body", "hand", "face")}
        rows.append({"quantizer": q, "batch_size": 8, "width": 32, "modalities": mods})
    return {"table": "tokenizer-ablation@1", "tool_version": "x", "config": TINY.to_dict(), "grid": "none",
            "seed": seed, "device": "cpu", "body_model": "bm", "data": {}, "units": {}, "rows": rows}


def test_aggregate_gives_mean_and_sample_std_per_cell():
    result = ablate.aggregate([_fake_run(s) for s in (0, 1, 2)])
    face = result["rows"][1]["modalities"]["face"]
    assert face["utilisation_pct"] == pytest.approx(62.0)                 # 60, 62, 64
    assert face["utilisation_pct_std"] == pytest.approx(np.std([60, 62, 64], ddof=1))
    assert face["utilisation_pct_values"] == [60.0, 62.0, 64.0] and result["seeds"] == [0, 1, 2]
    header, rows = ablate.table_rows(result)
    assert header[:3] == ["Method", "BS", "HS"] and rows[1][-1] == "62.0 ± 2.0"
    single = ablate.aggregate([_fake_run(4)])
    assert single["rows"][0]["modalities"]["body"]["pa_vpe_mm_std"] is None
    assert ablate.table_rows(single)[1][0][3] == "5.00"


def test_run_seeds_reuses_finished_seeds_and_refuses_a_folder_of_other_settings(tmp_path, monkeypatch):
    calls = []

    def fake(train, val, evaluation, body_model, cfg, work, *, seed, bootstrap_seed, resume, **kwargs):
        calls.append((seed, bootstrap_seed, resume))
        out = _fake_run(seed)
        out.update(tool_version=ablate.m3t_bench.__version__, config=cfg.to_dict(), body_model=None, data={"d": 1},
                   bootstrap_seed=bootstrap_seed)
        return out

    monkeypatch.setattr(ablate, "run_ablation", fake)
    kwargs = dict(grid="none", data_info={"d": 1}, log=lambda line: None)
    first = ablate.run_seeds([], [], [], object(), TINY, tmp_path, seeds=[0, 1], **kwargs)
    again = ablate.run_seeds([], [], [], object(), TINY, tmp_path, seeds=[0, 1], **kwargs)
    assert calls == [(0, 0, True), (1, 0, True)] and first == again      # one bootstrap seed for every seed
    ablate.run_seeds([], [], [], object(), TINY, tmp_path, seeds=[1], **kwargs)   # other bootstrap seed: re-evaluated
    assert calls[2:] == [(1, 1, True)]
    with pytest.raises(ablate.UserError, match=r"seed-0/run.json: .*other settings \(config\)"):
        ablate.run_seeds([], [], [], object(), TINY.replace(epochs=2), tmp_path, seeds=[0], **kwargs)
    ablate.run_seeds([], [], [], object(), TINY.replace(epochs=2), tmp_path / "other", seeds=[0], **kwargs)
    assert calls[3:] == [(0, 0, True)]
    paths = ablate.write_tables(first, tmp_path / "table")
    csv_lines = paths[1].read_text().splitlines()
    assert csv_lines[0].startswith("Method,BS,HS,PA-VPE body (mm)") and csv_lines[0].endswith("Codebook % face std")
    assert "2 seeds (0, 1)" in paths[2].read_text()


def test_columns_of_several_seeds_have_one_signature_each():
    runs = [_fake_run(s) for s in (0, 1)]
    for run, boot in zip(runs, (0, 0)):
        for row in run["rows"]:
            for m, figures in row["modalities"].items():
                figures["scores"] = [{"metric": "codebook-use", "signature": f"codebook-use@1|part:{m}|boot:1000-s{boot}"}]
    result = ablate.aggregate(runs)
    assert "scores" not in result["rows"][0]["modalities"]["face"]                 # per-seed entries live in runs
    assert ablate.column_signatures(result)["Codebook % face"] == "codebook-use@1|part:face|boot:1000-s0"
    runs[1]["rows"][0]["modalities"]["face"]["scores"][0]["signature"] = "codebook-use@1|part:face|boot:1000-s1"
    with pytest.raises(ValueError, match="would mix signatures"):
        ablate.column_signatures(ablate.aggregate(runs))


def test_face_data_joins_face_training_only(synth_tiny, standin_dir, tmp_path, capsys):
    args = ["train", "tokenizer", "--config", "tiny", "--data", str(synth_tiny / "synthsign-asl"), "--epochs", "1",
            "--quiet", "--body-models", str(standin_dir), "--out", str(tmp_path), "--face-data",
            str(synth_tiny / "synthsign-faces")]
    assert main([*args, "--modality", "body"]) == 2
    assert "--face-data" in capsys.readouterr().err
    assert main([*args, "--modality", "face"]) == 0
    config = json.loads((tmp_path / "face" / "config.json").read_text())
    extra = config["data"]["face_extra"]
    assert extra["name"] == "synthsign-faces@1" and extra["split"] == "train" and extra["samples"] > 0
