"""Leaderboard tables: golden files from hand-written results (tests/golden/tables/README.md), refusal to
mix signatures in a column, the reported block kept apart, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from m3t_bench.cli import main
from m3t_bench.errors import UserError
from m3t_bench.report.tables import build_leaderboard, render_table

GOLDEN = Path(__file__).parent / "golden" / "tables"
RESULTS, REPORTED = GOLDEN / "results", GOLDEN / "reported"


@pytest.mark.parametrize("table,fmt", [(1, "md"), (1, "latex"), (1, "csv"), (2, "md"), (2, "latex"), (2, "csv")])
def test_golden_all_datasets(table, fmt):
    expected = (GOLDEN / f"expected_table{table}.{fmt}").read_text(encoding="utf-8")
    assert render_table(RESULTS, "all", fmt=fmt, table=table, reported_dir=REPORTED) == expected


def test_golden_one_dataset_through_the_cli(capsys):
    code = main(["table", "--dataset", "csl-daily", "--format", "md", "--results-dir", str(RESULTS),
                 "--reported-dir", str(REPORTED)])
    assert code == 0
    assert capsys.readouterr().out == (GOLDEN / "expected_csl-daily_table1.md").read_text(encoding="utf-8")


def test_hand_is_the_mean_of_lhand_and_rhand():
    board = build_leaderboard(RESULTS, ["csl-daily"], table=1)
    row = next(r for r in board.scored if r.system == "my_system")
    hand = {c.metric: cell.value for c, cell in row.cells.items() if c.part == "hand"}
    assert hand == {"dtw-pa-jpe": (1.5 + 1.75) / 2, "dtw-jpe": (9.0 + 9.5) / 2}


def test_reported_numbers_never_enter_a_scored_column():
    board = build_leaderboard(RESULTS, ["csl-daily"], table=1, reported_dir=REPORTED)
    assert {r.system for r in board.reported} == {"Published-A"}
    assert all(cell.signature is not None for r in board.scored for cell in r.cells.values())
    assert all(cell.signature is None for r in board.reported for cell in r.cells.values())


def _copy_results(tmp_path: Path) -> Path:
    return Path(shutil.copytree(RESULTS, tmp_path / "results"))


def test_mixed_signatures_in_a_column_are_refused(tmp_path):
    results = _copy_results(tmp_path)
    path = results / "csl-daily" / "my_system.json"
    data = json.loads(path.read_text())
    for s in data["scores"]:
        s["signature"] = s["signature"].replace("bm:smplfx-standin@1", "bm:smplfx-0123abcd")
    data["body_model"]["model_id"] = "smplfx-0123abcd"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError) as exc:
        render_table(results, "csl-daily")
    msg = str(exc.value)
    assert "my_system.json" in msg and "ground-truth.json" in msg
    assert "differ in bm: 'smplfx-standin@1' vs 'smplfx-0123abcd'" in msg


def test_lhand_rhand_signature_mismatch_is_refused(tmp_path):
    results = _copy_results(tmp_path)
    path = results / "synthsign-csl" / "mean-pose.json"
    data = json.loads(path.read_text())
    for s in data["scores"]:
        if s["part"] == "rhand":
            s["signature"] = s["signature"].replace("norm:path", "norm:ref")
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="lhand and rhand signatures differ in norm"):
        render_table(results, "synthsign-csl")


def test_protocol_filter_and_misfiled_results(tmp_path):
    results = _copy_results(tmp_path)
    assert "| my_system |" in render_table(results, "csl-daily", protocol="m3t@1")
    with pytest.raises(UserError, match="no results for dataset 'csl-daily'"):
        render_table(results, "csl-daily", protocol="soke@1")
    shutil.copy(results / "csl-daily" / "my_system.json", results / "synthsign-csl" / "stray.json")
    with pytest.raises(UserError, match="filed under 'synthsign-csl'"):
        render_table(results, "synthsign-csl")


def test_unknown_dataset_says_where_it_looked(tmp_path):
    with pytest.raises(UserError, match="no results for dataset 'how2sign'"):
        render_table(RESULTS, "how2sign")


def test_paper_reported_files_render():
    reported = Path(__file__).parents[1] / "leaderboards" / "reported"
    text = render_table(RESULTS.parent / "absent", "csl-daily", reported_dir=reported, table=1)
    assert "| SOKE‡ [zuo2025soke] | 6.24 | 1.71 | 7.38 | 9.68 |" in text  # paper Table 1, CSL-Daily row
    text2 = render_table(RESULTS.parent / "absent", "phoenix14t", reported_dir=reported, table=2)
    assert "| M3T w/ SLT | 32.12 | 10.58 |" in text2  # paper Table 2, Phoenix14T R / B4
