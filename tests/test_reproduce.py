"""`m3t-bench reproduce` on the micro configuration (SynthSign tiny, a couple of epochs per model): every
artefact is produced, well-formed and linked from index.html; a second run skips every stage; changing one
config value reruns exactly the stages downstream of it; `--force` reruns one stage."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from m3t_bench.results import results_problems
from reference_models.reproduce.config import MICRO
from reference_models.reproduce.context import RunSettings
from reference_models.reproduce.hashing import RECORD_FILE
from reference_models.reproduce.runner import Pipeline
from reference_models.reproduce.stages import STAGE_NAMES, STAGES, downstream

pytestmark = pytest.mark.slow  # the whole pipeline end to end (micro config)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value and not value.startswith("#"):
                self.links.append(value)


def _run(out: Path, cfg=MICRO, **kwargs):
    return Pipeline(cfg, RunSettings(out=out, body_models=kwargs.pop("body_models", None)), progress=False,
                    **kwargs).run()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, standin_dir):
    out = tmp_path_factory.mktemp("reproduce")
    outcomes = _run(out)
    return out, outcomes


def test_every_stage_runs_and_records_its_key(first_run):
    out, outcomes = first_run
    assert [o.name for o in outcomes] == list(STAGE_NAMES)
    assert {o.status for o in outcomes} == {"ran"}
    for name in STAGE_NAMES:
        record = json.loads((out / name / RECORD_FILE).read_text())
        assert record["stage"] == name and len(record["key"]) == 64 and record["wall_s"] >= 0
        assert (out / "logs" / f"{name}.log").read_text().count(f"==== {name}") == 1
    assert not any((out / ".work").iterdir())  # nothing left half-done


def test_index_links_every_artefact_and_nothing_outside(first_run):
    out, _ = first_run
    html = (out / "index.html").read_text()
    parser = _Links()
    parser.feed(html)
    links = parser.links
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "the page must not load anything from the network"
    for link in links:
        target = (out / link).resolve()
        assert target.is_file(), link
        assert out.resolve() in target.parents
    linked = {(out / link).resolve() for link in links}
    tables = out / "tables"
    for n in (1, 2, 3, 4):
        for ext in ("md", "tex", "csv"):
            assert (tables / f"table{n}.{ext}").resolve() in linked, f"table{n}.{ext}"
    for name in ("token_frequency.png", "tokenizer_curves.png", "smlm_curves.png", "backtranslation_curves.png"):
        assert (out / "figures" / name).resolve() in linked
    results = sorted((tables / "results").rglob("*.json"))
    # 3 systems x 3 continuous datasets + 2 SLR probes
    assert len(results) == 11 and all(p.resolve() in linked for p in results)
    renders = json.loads((out / "renders" / "renders.json").read_text())
    assert len(renders) == 3
    for sample in renders:
        assert (out / "renders" / sample["gif"]).resolve() in linked
        assert all((out / "renders" / f).resolve() in linked for f in sample["frames"])
    for heading in ("Table 1", "Table 2", "Table 3", "Table 4", "Wall time per stage", "Reported in publications"):
        assert heading in html


def test_artefacts_are_well_formed(first_run):
    from PIL import Image
    out, _ = first_run
    tables = out / "tables"
    for path in sorted((tables / "results").rglob("*.json")):
        assert results_problems(json.loads(path.read_text())) == [], path
    table1 = list(csv.DictReader(io.StringIO((tables / "table1.csv").read_text())))
    ours = {r["system"] for r in table1 if r["block"] == "scored"}
    assert ours == {"m3t", "m3t-wo-slt", "ground-truth"}
    assert any(r["block"] == "reported" for r in table1)  # the paper's numbers, in their own block
    table2 = (tables / "table2.md").read_text()
    assert "bt:slt-" in table2 or "bt:slt-" in (tables / "table2.csv").read_text()
    table4 = list(csv.DictReader(io.StringIO((tables / "table4.csv").read_text())))
    assert {r["system"] for r in table4 if r["block"] == "scored"} == {"slr-probe-face-aware", "slr-probe-face-blind"}
    assert "\\begin{tabular}" in (tables / "table3.tex").read_text()
    for path in [*(out / "figures").glob("*.png"), *(out / "renders").rglob("*.png")]:
        with Image.open(path) as im:
            im.verify()
    for sample in json.loads((out / "renders" / "renders.json").read_text()):
        assert len(sample["frames"]) == MICRO.render_frames
        with Image.open(out / "renders" / sample["gif"]) as im:  # Pillow merges identical consecutive frames
            assert 1 <= im.n_frames <= MICRO.render_frames
    counts = json.loads((out / "tokenizer-eval" / "token_counts.json").read_text())
    assert set(counts) == {"fsq", "vq"} and all(set(v) == {"body", "hand", "face"} for v in counts.values())
    html = (out / "index.html").read_text()
    signatures = set(re.findall(r'title="((?:dtw-[a-z-]+|bleu4|rouge-l|top[15]|pa-vpe|codebook-use)@[^"]+)"', html))
    assert len(signatures) >= 10 and all("|v:" in s for s in signatures)  # our numbers carry signatures on hover


def test_second_run_skips_every_stage(first_run):
    out, _ = first_run
    before = (out / "index.html").read_bytes()
    outcomes = _run(out)
    assert {o.status for o in outcomes} == {"skipped"}
    assert (out / "index.html").read_bytes() == before


def test_one_changed_value_reruns_exactly_its_downstream_stages(first_run):
    out, _ = first_run
    changed = MICRO.replace(slr_epochs=MICRO.slr_epochs + 1)
    readers = {s.name for s in STAGES if "slr_epochs" in s.fields}
    assert readers == {"slr-face-aware", "slr-face-blind"}
    outcomes = _run(out, changed)
    assert {o.name for o in outcomes if o.status != "skipped"} == downstream(readers) == {
        "slr-face-aware", "slr-face-blind", "tables", "index"}
    # and back: the old value is a change too
    _run(out)


def test_force_reruns_one_stage_and_what_its_new_outputs_feed(first_run):
    out, _ = first_run
    outcomes = _run(out, force=("renders",))
    ran = {o.name for o in outcomes if o.status != "skipped"}
    # the renders are byte-identical when rebuilt; only the page (which shows each stage's wall time) follows
    assert ran == {"renders", "index"}
