"""The preference study: pairs file, SQLite store (plans, resume, never twice, transactions), the web app's
input validation (4xx, nothing stored), statistics against hand formulas, the report, a killed server, and
the 20 x 50 concurrent load test against a live server."""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from m3t_bench.cli import main
from m3t_bench.errors import UserError, ValidationFailed
from m3t_bench.study.loadtest import make_study, run_load_test, start_server
from m3t_bench.study.pairs import build_pairs, load_pairs
from m3t_bench.study.questions import QUESTION_KEYS
from m3t_bench.study.report import build_report, render_markdown, write_report
from m3t_bench.study.stats import sign_test, summarize, wilson_interval
from m3t_bench.study.store import StudyStore, VoteRejected

Z95 = 1.959963984540054  # standard normal 97.5% quantile


def _study(tmp_path: Path, n: int = 6):
    pairs = load_pairs(make_study(tmp_path, n))
    store = StudyStore(tmp_path / "study.sqlite")
    store.initialise(pairs)
    return pairs, store


def _answers(expressivity="left", overall="none"):
    return {"expressivity": expressivity, "overall": overall}


# ------------------------------------------------------------------------------------------ pairs file
def test_pairs_file_round_trip_and_every_problem_reported(tmp_path):
    path = make_study(tmp_path, 3)
    pairs = load_pairs(path)
    assert pairs.systems == ("system-a", "system-b") and [p.id for p in pairs.pairs] == ["pair-0000", "pair-0001",
                                                                                          "pair-0002"]
    assert all(p.media[s].is_file() for p in pairs.pairs for s in pairs.systems)
    doc = json.loads(path.read_text())
    doc["pairs"][0]["media"]["system-a"] = "../outside.png"
    doc["pairs"][1]["id"] = "pair-0000"
    doc["pairs"][2]["media"]["system-b"] = "media/missing.png"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValidationFailed) as exc:
        load_pairs(path)
    problems = "\n".join(exc.value.problems)
    assert "pairs[0].media.system-a: '../outside.png' must be a relative path inside" in problems
    assert "pairs[1].id: 'pair-0000' appears twice" in problems
    assert "pairs[2].media.system-b: 'media/missing.png' not found" in problems


def test_build_pairs_copies_renders_and_renders_predictions(tmp_path, synth_tiny, smplfx):
    from m3t_bench.datasets import open_split
    from m3t_bench.motion import load_sample, save_sample
    from m3t_bench.motion.layout import FACE_EXPRESSION
    split = open_split(synth_tiny / "synthsign-csl", "test")
    ids = split.ids[:3]
    renders, sub = tmp_path / "renders-a", tmp_path / "sub-b"
    renders.mkdir(), sub.mkdir()
    for k, sample_id in enumerate(ids):
        (renders / f"{sample_id}.png").write_bytes(b"\x89PNG fake " + bytes([k]))
        seq = load_sample(split.path(sample_id))
        seq.face[:, FACE_EXPRESSION] = 0.0  # a face-blind system B
        save_sample(sub / f"{sample_id}.npz", seq)
    (sub / "meta.json").write_text(json.dumps({"system": "Face Blind"}))
    calls = []

    def load_model():
        calls.append(1)
        return smplfx

    path = build_pairs(renders, sub, tmp_path / "study", n=2, seed=0, dataset=str(synth_tiny / "synthsign-csl"),
                       name_a="ref", load_model=load_model, clip_options={"size": 32, "max_frames": 2})
    pairs = load_pairs(path)
    assert pairs.systems == ("ref", "Face-Blind") and len(pairs.pairs) == 2 and len(calls) == 1
    for pair in pairs.pairs:
        assert pair.sample in ids and pair.text == split.entry(pair.sample)["text"]
        assert pair.media["ref"].read_bytes() == (renders / f"{pair.sample}.png").read_bytes()
        gif = pair.media["Face-Blind"]
        assert gif.suffix == ".gif" and gif.read_bytes()[:6] == b"GIF89a"
    with pytest.raises(UserError, match="exists; pass --add"):
        build_pairs(renders, sub, tmp_path / "study", n=1, name_a="ref", load_model=load_model)
    options = {"dataset": str(synth_tiny / "synthsign-csl"), "name_a": "ref", "load_model": load_model, "add": True,
               "clip_options": {"size": 32, "max_frames": 2}}
    build_pairs(renders, sub, tmp_path / "study", n=5, seed=3, **options)  # adds only the one unpaired sample
    grown = load_pairs(path)
    assert [p.id for p in grown.pairs[:2]] == [p.id for p in pairs.pairs] and len(grown.pairs) == 3
    assert sorted(p.sample for p in grown.pairs) == sorted(ids)
    with pytest.raises(UserError, match="not already paired"):
        build_pairs(renders, sub, tmp_path / "study", n=1, **options)
    assert load_pairs(path).sha256 == grown.sha256  # the refused run left the pairs file as it was


# ------------------------------------------------------------------------------------------ store
def test_each_rater_gets_every_pair_once_in_a_random_order_and_resumes(tmp_path):
    pairs, store = _study(tmp_path, 6)
    seen = []
    first = store.assignment("r1", pairs)
    assert first.position == 1 and first.total == 6
    assert store.assignment("r1", pairs) == first  # a reload shows the same pair, same arrangement
    for _ in range(3):
        a = store.assignment("r1", pairs)
        store.record_vote("r1", a.pair_id, _answers())
        seen.append(a.pair_id)
    resumed = StudyStore(store.path).assignment("r1", pairs)  # a new server process resumes
    assert resumed.position == 4 and resumed.pair_id not in seen
    while (a := store.assignment("r1", pairs)) is not None:
        store.record_vote("r1", a.pair_id, _answers())
        seen.append(a.pair_id)
    assert sorted(seen) == sorted(p.id for p in pairs.pairs)  # each pair exactly once


def test_orders_and_arrangements_are_randomised_and_recorded(tmp_path):
    pairs, store = _study(tmp_path, 6)
    for r in range(40):
        store.assignment(f"r{r}", pairs)
    with sqlite3.connect(store.path) as con:
        rows = con.execute("SELECT rater, position, pair_id, left_system FROM plan").fetchall()
    orders = {}
    for rater, position, pair_id, _ in sorted(rows):
        orders.setdefault(rater, []).append(pair_id)
    assert len(set(map(tuple, orders.values()))) > 20  # 40 raters, 720 possible orders: nearly all differ
    left_a = sum(left == "system-a" for *_, left in rows) / len(rows)
    assert 0.35 < left_a < 0.65  # 240 fair coin flips: outside this band with probability < 1e-4


def test_rejected_votes_store_nothing(tmp_path):
    pairs, store = _study(tmp_path, 3)
    a = store.assignment("r1", pairs)
    cases = [("bad rater!", a.pair_id, _answers(), 400), ("r1", "pair-9999", _answers(), 404),
             ("r2", a.pair_id, _answers(), 404), ("r1", a.pair_id, _answers("up"), 400),
             ("r1", a.pair_id, {"expressivity": "left"}, 400)]
    for rater, pair_id, answers, status in cases:
        with pytest.raises(VoteRejected) as exc:
            store.record_vote(rater, pair_id, answers)
        assert exc.value.status == status
    assert store.votes() == []
    store.record_vote("r1", a.pair_id, _answers())
    with pytest.raises(VoteRejected) as exc:
        store.record_vote("r1", a.pair_id, _answers("right"))
    assert exc.value.status == 409
    assert [(v["pair_id"], v["expressivity"]) for v in store.votes()] == [(a.pair_id, "left")]


def test_database_is_bound_to_its_pairs_file(tmp_path):
    pairs, store = _study(tmp_path / "a", 3)
    other = load_pairs(make_study(tmp_path / "b", 4))
    with pytest.raises(UserError, match="was created for another pairs file"):
        StudyStore(store.path).initialise(other)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(UserError, match="not a study database"):
        StudyStore(tmp_path / "junk.sqlite").initialise(pairs)
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ------------------------------------------------------------------------------------------ web app
@pytest.fixture()
def client(tmp_path):
    from starlette.testclient import TestClient

    from m3t_bench.study.app import create_app
    pairs, store = _study(tmp_path, 3)
    with TestClient(create_app(pairs, store), follow_redirects=False) as c:
        yield c, pairs, store


def _pair_on_page(html: str) -> str:
    import re
    return re.search(r'name="pair" value="([^"]+)"', html).group(1)


def test_app_flow_vote_redirects_to_the_next_pair_then_done(client):
    c, pairs, store = client
    assert c.get("/healthz").text == "ok"
    assert "rater id" in c.get("/").text
    seen = []
    for k in range(3):
        page = c.get("/rate", params={"rater": "ann"})
        assert page.status_code == 200 and f"pair <b id=\"position\">{k + 1}</b> of 3" in page.text
        pair_id = _pair_on_page(page.text)
        for side in ("left", "right"):
            clip = c.get(f"/media/{pair_id}/{side}", params={"rater": "ann"})
            assert clip.status_code == 200 and clip.headers["content-type"] == "image/png"
        left, right = store.arrangement("ann", pair_id)
        assert c.get(f"/media/{pair_id}/left", params={"rater": "ann"}).content == \
            pairs.pair(pair_id).media[left].read_bytes()
        answer = c.post("/vote", data={"rater": "ann", "pair": pair_id, "expressivity": "right", "overall": "left"})
        assert answer.status_code == 303 and answer.headers["location"] == "rate?rater=ann"
        seen.append(pair_id)
    assert 'id="done"' in c.get("/rate", params={"rater": "ann"}).text
    assert sorted(seen) == sorted(p.id for p in pairs.pairs)
    assert c.get("/").text.count("Continue as ann") == 1  # the rater id is remembered in a cookie
    votes = store.votes()
    assert len(votes) == 3 and all(v["expressivity"] == "right" and v["overall"] == "left" for v in votes)
    assert all(v["created"].endswith("Z") and v["rater"] == "ann" for v in votes)


@pytest.mark.parametrize("body,content_type,status,needle", [
    ("rater=ann&pair=PAIR&expressivity=left", "application/x-www-form-urlencoded", 400, "missing overall"),
    ("rater=ann&pair=PAIR&expressivity=left&overall=up", "application/x-www-form-urlencoded", 400,
     "overall: expected one of left, right, none"),
    ("rater=ann&pair=PAIR&expressivity=left&overall=left&extra=1", "application/x-www-form-urlencoded", 400,
     "unknown extra"),
    ("rater=ann&rater=bob&pair=PAIR&expressivity=left&overall=left", "application/x-www-form-urlencoded", 400,
     "repeated rater"),
    ("rater=a%20b&pair=PAIR&expressivity=left&overall=left", "application/x-www-form-urlencoded", 400, "rater id"),
    ("rater=ann&pair=nope&expressivity=left&overall=left", "application/x-www-form-urlencoded", 404,
     "pair 'nope' is not among"),
    ("%ff%fe=1", "application/x-www-form-urlencoded", 400, "malformed form data"),
    ('{"rater": "ann"}', "application/json", 415, "expected an HTML form"),
    ("rater=ann&pair=PAIR&expressivity=left&overall=left" + "&x=" + "a" * 5000, "application/x-www-form-urlencoded",
     413, "larger than 4096 bytes"),
])
def test_app_rejects_bad_votes_with_4xx_and_stores_nothing(client, body, content_type, status, needle):
    c, pairs, store = client
    pair_id = _pair_on_page(c.get("/rate", params={"rater": "ann"}).text)
    answer = c.post("/vote", content=body.replace("PAIR", pair_id).encode("latin-1"),
                    headers={"content-type": content_type})
    assert answer.status_code == status
    assert needle in html.unescape(answer.text) and "Nothing was stored" in answer.text
    assert store.votes() == []


def test_app_double_submit_is_409_and_kept_once(client):
    c, pairs, store = client
    pair_id = _pair_on_page(c.get("/rate", params={"rater": "ann"}).text)
    form = {"rater": "ann", "pair": pair_id, "expressivity": "left", "overall": "left"}
    assert c.post("/vote", data=form).status_code == 303
    again = c.post("/vote", data={**form, "overall": "right"})
    assert again.status_code == 409 and "already voted" in html.unescape(again.text)
    assert [(v["pair_id"], v["overall"]) for v in store.votes()] == [(pair_id, "left")]
    assert c.get("/vote").status_code == 405
    assert c.get("/media/nope/left", params={"rater": "ann"}).status_code == 404
    assert c.get(f"/media/{pair_id}/left", params={"rater": "bob"}).status_code == 404  # not in bob's plan
    assert c.get("/rate", params={"rater": "../etc"}).status_code == 400


# ------------------------------------------------------------------------------------------ statistics
def _wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p, z2 = k / n, Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return centre - half, centre + half


def _sign_test_by_hand(a: int, b: int) -> float:
    n, k = a + b, min(a, b)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


@pytest.mark.parametrize("k,n", [(33, 48), (31, 48), (0, 10), (10, 10), (1, 1), (250, 1000)])
def test_wilson_interval_matches_the_formula(k, n):
    assert wilson_interval(k, n) == pytest.approx(_wilson_by_hand(k, n), abs=1e-12)


@pytest.mark.parametrize("a,b", [(33, 15), (31, 17), (5, 5), (0, 7), (12, 3), (1, 0)])
def test_sign_test_matches_the_binomial_sum(a, b):
    assert sign_test(a, b) == pytest.approx(_sign_test_by_hand(a, b), rel=1e-12)


def test_paper_figures_are_consistent_with_48_comparisons():
    """Appendix A.1: 68.8% (facial expressivity) and 64.6% (overall quality) of comparisons, six pairs; both
    are k/48 (8 raters x 6 pairs) rounded: 33/48 = 68.75%, 31/48 = 64.58%."""
    expressive, overall = summarize("expressivity", 33, 15, 0), summarize("overall", 31, 17, 0)
    assert round(100 * expressive.share_a, 1) == 68.8 and round(100 * overall.share_a, 1) == 64.6
    assert expressive.sign_test_p == pytest.approx(_sign_test_by_hand(33, 15)) and expressive.sign_test_p < 0.05
    assert overall.sign_test_p > 0.05  # 31 of 48 alone is not significant at 5% (p = 0.059)
    assert expressive.ci_a == pytest.approx((0.5466692858, 0.8005431655), abs=1e-9)  # the README's [54.7, 80.1]%
    assert summarize("q", 0, 0, 0).share_a is None and summarize("q", 0, 0, 0).sign_test_p is None


def test_report_counts_votes_per_system_through_the_arrangement(tmp_path):
    pairs, store = _study(tmp_path, 4)
    plan = {}
    for rater in ("r1", "r2"):
        while (a := store.assignment(rater, pairs)) is not None:
            plan[(rater, a.pair_id)] = a.left_system
            # r1 always prefers system-a (whatever side it is on) on expressivity; r2 says no preference
            side = ("left" if a.left_system == "system-a" else "right") if rater == "r1" else "none"
            store.record_vote(rater, a.pair_id, {"expressivity": side, "overall": "left"})
    report = build_report(store.path)
    expr, overall = report.questions
    assert (expr.a, expr.b, expr.none) == (4, 0, 4)
    left_a = sum(left == "system-a" for left in plan.values())
    assert (overall.a, overall.b, overall.none) == (left_a, 8 - left_a, 0)
    assert report.n_votes == 8 and report.n_raters == 2 and report.n_pairs_rated == 4
    text = render_markdown(report)
    assert "| Facial expressivity | 8 | 50.0%" in text and "Wilson" in text
    paths = write_report(report, tmp_path / "out")
    assert [p.name for p in paths] == ["preference.md", "preference.json", "preference.png"]
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(paths[1].read_text())["questions"][0]["a"] == 4


def test_cli_report_and_errors(tmp_path, capsys):
    pairs, store = _study(tmp_path, 2)
    a = store.assignment("r1", pairs)
    store.record_vote("r1", a.pair_id, _answers())
    assert main(["study", "report", "--db", str(store.path), "--out", str(tmp_path / "rep")]) == 0
    assert "1 votes from 1 rater(s)" in capsys.readouterr().out and (tmp_path / "rep" / "preference.png").is_file()
    assert main(["study", "report", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "file not found" in capsys.readouterr().err
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        good = make_study(tmp_path / "good", 1)
        assert main(["study", "serve", "--pairs", str(good), "--db", str(tmp_path / "g.sqlite"), "--port",
                     str(port)]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err
    bad = make_study(tmp_path / "bad", 1)
    shutil.rmtree(tmp_path / "bad" / "media")
    assert main(["study", "serve", "--pairs", str(bad), "--db", str(tmp_path / "x.sqlite")]) == 2
    assert "not found" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ live server
def test_killed_server_loses_no_acknowledged_vote(tmp_path):
    import httpx
    pairs_path = make_study(tmp_path, 30)
    db = tmp_path / "study.sqlite"
    acknowledged = []
    with start_server(pairs_path, db) as (proc, url):
        with httpx.Client(base_url=url, timeout=30) as c:
            for k in range(30):
                rater = f"r{k % 3}"
                pair_id = _pair_on_page(c.get("rate", params={"rater": rater}).text)
                answer = c.post("vote", data={"rater": rater, "pair": pair_id, **_answers()})
                assert answer.status_code == 303
                acknowledged.append((rater, pair_id))
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no checkpoint
        proc.wait()
    stored = [(v["rater"], v["pair_id"]) for v in StudyStore(db).votes()]
    assert sorted(stored) == sorted(acknowledged)


def test_load_test_20_raters_x_50_votes_concurrently_loses_nothing(tmp_path):
    result = run_load_test(tmp_path, raters=20, votes=50)
    assert (result.acknowledged, result.stored, result.lost, result.duplicated) == (1000, 1000, 0, 0)
    votes = StudyStore(tmp_path / "study.sqlite").votes()
    per_rater = {}
    for v in votes:
        per_rater.setdefault(v["rater"], set()).add(v["pair_id"])
    assert len(per_rater) == 20 and all(len(s) == 50 for s in per_rater.values())  # every pair once per rater
    assert all(v[q] in ("left", "right", "none") for v in votes for q in QUESTION_KEYS)
    assert np.isfinite(result.votes_per_s)
