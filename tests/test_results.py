"""The results JSON: schema checks, canonical and exact serialisation, atomic writes, provenance helpers."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from m3t_bench.errors import ValidationFailed
from m3t_bench.results import (dumps_results, git_commit, package_versions, read_results, results_problems,
                               write_results)

GOLDEN_RESULT = Path(__file__).parent / "golden" / "tables" / "results" / "csl-daily" / "my_system.json"


@pytest.fixture()
def valid() -> dict:
    return json.loads(GOLDEN_RESULT.read_text())


def test_golden_fixture_is_schema_valid(valid):
    assert results_problems(valid) == []


@pytest.mark.parametrize("corrupt,needle", [
    (lambda d: d.pop("scores"), "scores: missing"),
    (lambda d: d.update(extra=1), "extra: unknown key"),
    (lambda d: d.update(schema_version=99), "schema_version"),
    (lambda d: d["scores"][0].update(value=float("nan")), "scores[0].value"),
    (lambda d: d["scores"][0].update(value="4.1"), "scores[0].value: got str"),
    (lambda d: d["scores"][0].update(ci95=[2.0, 1.0]), "scores[0].ci95"),
    (lambda d: d["scores"][0].update(part="hands"), "scores[0].part"),
    (lambda d: d["scores"][0].pop("signature"), "scores[0].signature: missing"),
    (lambda d: d["scores"].append(copy.deepcopy(d["scores"][0])), "appears more than once"),
    (lambda d: d["dataset"].pop("manifest_sha256"), "dataset.manifest_sha256: missing"),
    (lambda d: d["toolkit"].update(git=5), "toolkit.git"),
    (lambda d: d["predictions"].update(n_files=True), "predictions.n_files: got a boolean"),
])
def test_schema_problems_are_named(valid, corrupt, needle):
    corrupt(valid)
    assert any(needle in p for p in results_problems(valid)), results_problems(valid)


def test_write_is_canonical_exact_and_atomic(valid, tmp_path):
    valid["scores"][0]["value"] = 0.1 + 0.2  # 0.30000000000000004 must survive exactly
    out = write_results(tmp_path / "r.json", valid)
    text = out.read_text()
    assert text == dumps_results(json.loads(text))  # sorted keys, stable layout
    assert read_results(out)["scores"][0]["value"] == 0.1 + 0.2
    before = out.read_bytes()
    broken = copy.deepcopy(valid)
    broken["scores"][1]["value"] = float("inf")
    with pytest.raises(ValueError):
        write_results(out, broken)
    assert out.read_bytes() == before and list(tmp_path.iterdir()) == [out]


def test_no_nan_or_infinity_in_json():
    with pytest.raises(ValueError, match="non-finite"):
        dumps_results({"x": float("nan")})


def test_read_results_reports_every_problem(valid, tmp_path):
    valid.pop("packages")
    valid["scores"][0]["n"] = 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(valid))
    with pytest.raises(ValidationFailed) as exc:
        read_results(path)
    assert len(exc.value.problems) == 1 and "packages: missing" in exc.value.problems[0]
    valid["packages"] = {}
    path.write_text(json.dumps(valid))
    with pytest.raises(ValidationFailed, match=r"scores\[0\].n: 0"):
        read_results(path)


def test_git_commit_never_fails_without_git(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable reachable
    assert git_commit() is None
    assert git_commit(tmp_path) is None


def test_package_versions_record_the_stack():
    versions = package_versions()
    assert versions["numpy"] and versions["torch"] and "sacrebleu" in versions
