"""The static leaderboard site (without a browser; tests/test_browser.py drives it in Chromium): contents
from the golden results, refusals shared with `m3t-bench table`, all-or-nothing output, per-sample files,
renders, reproducible bytes, no network references."""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from m3t_bench.cli import main
from m3t_bench.errors import UserError
from m3t_bench.protocols import METRICS, PROTOCOLS
from m3t_bench.report.site import SITE_MARKER, build_site
from m3t_bench.results import read_per_sample

GOLDEN = Path(__file__).parent / "golden" / "tables"
RESULTS, REPORTED = GOLDEN / "results", GOLDEN / "reported"


class _Tags(HTMLParser):
    """Collects (tag, attrs) of every start tag."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(path: Path) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tags


def _copy_results(tmp_path: Path) -> Path:
    return Path(shutil.copytree(RESULTS, tmp_path / "results"))


def _write_per_sample(path: Path, results: dict, spread: float = 0.5) -> None:
    """Per-sample values whose mean is each score's value: value - spread, value, value + spread, ..."""
    lines = []
    for s in results["scores"]:
        if s["metric"] == "bleu4":
            continue  # corpus-level: no per-sample values
        offsets = [spread * (k - (s["n"] - 1) / 2) for k in range(s["n"])]
        lines += [json.dumps({"id": f"s{k}", "metric": s["metric"], "part": s["part"], "value": s["value"] + o})
                  for k, o in enumerate(offsets)]
    path.write_text("\n".join(lines) + "\n")


def test_site_pages_tables_signatures_and_reported_block(tmp_path):
    out = build_site(RESULTS, tmp_path / "site", reported_dir=REPORTED)
    assert (out / SITE_MARKER).is_file() and (out / "assets" / "site.js").is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    tags = _tags(out / "index.html")
    tables = [a for t, a in tags if t == "table" and "board" in a.get("class", "")]
    assert [(t["data-dataset"], t["data-protocol"]) for t in tables] == [
        ("csl-daily", "m3t@1"), ("csl-daily", "reported"), ("synthsign-csl", "m3t@1"),
        ("how2sign", "reported")]  # datasets with scored results first, then those with published numbers only
    # every scored column carries the signature of the results files, exactly once per column
    my = json.loads((RESULTS / "csl-daily" / "my_system.json").read_text())
    header_sigs = {a["data-signature"] for t, a in tags if t == "th" and "data-signature" in a}
    assert {s["signature"] for s in my["scores"]} <= header_sigs
    copy_sigs = [a["data-copy"] for t, a in tags if t == "button" and a.get("class") == "copy"]
    assert len(copy_sigs) == len([a for t, a in tags if t == "th" and "data-signature" in a])
    # rows link to system pages; values, CIs and n are shown
    links = {a["href"] for t, a in tags if t == "a" and a.get("href", "").startswith("systems/")}
    assert links == {"systems/csl-daily/ground-truth.html", "systems/csl-daily/my_system.html",
                     "systems/csl-daily/skeleton-net.html", "systems/synthsign-csl/mean-pose.html"}
    assert all((out / link).is_file() for link in links)
    assert 'data-value="4.125"' in index and "[3.71, 4.54]" in index and "n=3" in index
    # the reported block: its own table, no signatures, with its citation
    reported = index[index.index('data-protocol="reported"'):index.index("</table>", index.index('data-protocol="reported"'))]
    assert "Published-A" in reported and "data-signature" not in reported and "my_system" not in reported
    assert "A. Author. A Paper. 2025." in index
    assert "skeleton-only submission" in index  # the joints-only note of m3t-bench table


def test_system_page_and_protocols_page(tmp_path):
    out = build_site(RESULTS, tmp_path / "site", reported_dir=REPORTED)
    page = (out / "systems" / "csl-daily" / "my_system.html").read_text(encoding="utf-8")
    my = json.loads((RESULTS / "csl-daily" / "my_system.json").read_text())
    for key, value in my["system"].items():
        assert f"<dt>{key}</dt>" in page and (value is None or str(value) in page)
    assert all(s["signature"] in page for s in my["scores"])
    assert "No per-sample values" in page and "No renders" in page
    assert json.loads((out / "systems" / "csl-daily" / "my_system.json").read_text()) == my
    protocols = html.unescape((out / "protocols.html").read_text(encoding="utf-8"))
    for spec in METRICS.values():
        assert f'id="metric-{spec.id}"' in protocols and spec.description in protocols
    from m3t_bench.signature import SIGNATURE_KEYS
    for key in SIGNATURE_KEYS:
        assert f'id="key-{key.name}"' in protocols and key.means in protocols
    for proto in PROTOCOLS.values():
        assert f'id="{proto.name}"' in protocols
        assert proto.description in protocols


def test_mixed_signatures_are_refused_like_the_table_and_the_old_site_stays(tmp_path):
    results = _copy_results(tmp_path)
    out = build_site(results, tmp_path / "site")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    path = results / "csl-daily" / "my_system.json"
    data = json.loads(path.read_text())
    for s in data["scores"]:
        s["signature"] = s["signature"].replace("bm:smplfx-standin@1", "bm:smplfx-0123abcd")
    data["body_model"]["model_id"] = "smplfx-0123abcd"
    path.write_text(json.dumps(data))
    from m3t_bench.report.tables import render_table
    with pytest.raises(UserError) as table_error:
        render_table(results, "csl-daily")
    with pytest.raises(UserError) as site_error:
        build_site(results, out)
    assert "differ in bm: 'smplfx-standin@1' vs 'smplfx-0123abcd'" in str(site_error.value)
    assert str(table_error.value).split(" would mix")[1] == str(site_error.value).split(" would mix")[1]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # previous site untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "site"]  # no temp folder left behind


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "docs"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["site", "--results", str(RESULTS), "--out", str(mine)]) == 2
    assert "is not a site written by m3t-bench site" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"
    assert main(["site", "--results", str(RESULTS), "--reported", str(REPORTED), "--out", str(tmp_path / "s")]) == 0
    assert main(["site", "--results", str(RESULTS), "--no-reported", "--out", str(tmp_path / "s")]) == 0  # replace
    assert "Published-A" not in (tmp_path / "s" / "index.html").read_text()


def test_per_sample_values_and_renders_appear_on_the_system_page(tmp_path):
    results = _copy_results(tmp_path)
    folder = results / "csl-daily"
    _write_per_sample(folder / "my_system.per-sample.jsonl", json.loads((folder / "my_system.json").read_text()))
    renders = folder / "my_system.renders"
    renders.mkdir()
    (renders / "sample-1.gif").write_bytes(b"GIF89a-fake")
    (renders / "clip.mp4").write_bytes(b"fake-mp4")
    (renders / "notes.txt").write_text("not a render")
    out = build_site(results, tmp_path / "site")
    page = (out / "systems" / "csl-daily" / "my_system.html").read_text(encoding="utf-8")
    svg = (out / "systems" / "csl-daily" / "my_system.svg").read_text(encoding="utf-8")
    assert 'src="my_system.svg"' in page and svg.startswith("<?xml") and "dtw-pa-jpe body" in svg
    assert (out / "systems" / "csl-daily" / "my_system.per-sample.jsonl").is_file()
    assert '<img src="my_system.renders/sample-1.gif"' in page and '<video src="my_system.renders/clip.mp4"' in page
    assert "notes.txt" not in page
    assert (out / "systems" / "csl-daily" / "my_system.renders" / "sample-1.gif").read_bytes() == b"GIF89a-fake"


@pytest.mark.parametrize("corrupt,needle", [
    (lambda lines: lines[:-1], "per-sample values, the results file says n=3"),
    (lambda lines: lines[:3] + [lines[0].replace('"s0"', '"s7"')] + lines[3:], "more than n=3 per-sample values"),
    (lambda lines: [lines[0].replace('"value": ', '"value": 100 + ')] + lines[1:], "per-sample values aggregate to"),
    (lambda lines: lines + ['{"id": "s0", "metric": "dtw-vpe", "part": "face", "value": 1.0}'], "no score in the"),
    (lambda lines: lines[:1] + ["{not json"] + lines[1:], "line 2 is not JSON"),
    (lambda lines: lines[:1] + ['{"id": "s9", "metric": "x", "part": "y", "value": "NaN"}'], "line 2: expected"),
    (lambda lines: lines + [lines[0]], "appears twice"),
])
def test_a_per_sample_file_that_does_not_belong_is_refused(tmp_path, corrupt, needle):
    results = _copy_results(tmp_path)
    path = results / "csl-daily" / "my_system.per-sample.jsonl"
    _write_per_sample(path, json.loads((results / "csl-daily" / "my_system.json").read_text()))
    lines = path.read_text().splitlines()
    lines = [re.sub(r'"value": ([-0-9.e]+)', lambda m: f'"value": {m.group(1)}', ln) for ln in lines]
    corrupted = corrupt(lines)
    if "100 + " in corrupted[0]:  # make the corrupted first value valid JSON
        corrupted[0] = re.sub(r'"value": 100 \+ ([-0-9.e]+)', lambda m: f'"value": {100 + float(m.group(1))}',
                              corrupted[0])
    path.write_text("\n".join(corrupted) + "\n")
    with pytest.raises(UserError) as exc:
        build_site(results, tmp_path / "site")
    assert needle in str(exc.value) and "my_system.per-sample.jsonl" in str(exc.value)
    assert not (tmp_path / "site").exists()


def test_per_sample_reader_keeps_full_precision(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "metric": "dtw-jpe", "part": "body", "value": 0.1}\n\n'
                    '{"id": "b", "metric": "dtw-jpe", "part": "body", "value": 2.718281828459045}\n')
    assert read_per_sample(path) == {("dtw-jpe", "body"): {"a": 0.1, "b": 2.718281828459045}}


def test_site_bytes_are_reproducible_and_reference_nothing_online(tmp_path):
    results = _copy_results(tmp_path)
    folder = results / "csl-daily"
    _write_per_sample(folder / "my_system.per-sample.jsonl", json.loads((folder / "my_system.json").read_text()))
    a = build_site(results, tmp_path / "a", reported_dir=REPORTED)
    b = build_site(results, tmp_path / "b", reported_dir=REPORTED)
    files_a = {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert files_a == files_b
    for page in a.rglob("*.html"):
        for tag, attrs in _tags(page):
            for key in ("src", "href"):
                value = attrs.get(key) or ""
                assert not value.startswith(("http:", "https:", "//")), (page, tag, value)
                if value and not value.startswith("#") and tag in ("script", "link", "img"):
                    assert (page.parent / value.split("#")[0]).resolve().is_file(), (page, value)
