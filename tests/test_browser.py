"""The leaderboard site and the study app in a real browser: headless Chromium (Debian's `chromium`, never a
downloaded one) driven by Playwright. The site opens from disk (and from a static web server): a table is
sorted, a signature tooltip read and copied, a system page followed. In the study app votes are cast through the form and the report counts
them. Screenshots go to $M3T_SCREENSHOTS (the README's images in docs/screenshots/ come from
`M3T_SCREENSHOTS=docs/screenshots pytest tests/test_browser.py`), else to a pytest temporary folder.

Skipped, with the reason, only where no Chromium executable exists ($M3T_CHROMIUM, `chromium`,
`chromium-browser`, /usr/bin/chromium); `.ci/run` installs Debian's package."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_executable() -> str | None:
    for candidate in (os.environ.get("M3T_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """A Chromium context with a fresh profile, clipboard permissions and a 1280x900 viewport."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no Chromium executable (install Debian's `chromium` package, as .ci/run does, or set "
                    "M3T_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=executable, args=CHROMIUM_FLAGS,
            headless=True, viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        context.set_default_timeout(60_000)
        yield context
        context.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("M3T_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _column_values(page, table, column: int) -> list[float | None]:
    return table.locator("tbody tr").evaluate_all(
        "(rows, i) => rows.map(r => { const v = r.children[i].getAttribute('data-value');"
        " return v === '' ? null : Number(v); })", column)


def test_site_in_chromium_sort_tooltip_copy_and_system_page(browser_context, screenshots, tmp_path):
    from m3t_bench.report.site import build_site
    results = REPO / "leaderboards" / "results"
    out = build_site(results, tmp_path / "site", reported_dir=REPO / "leaderboards" / "reported")
    page = browser_context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / "index.html").as_uri())
    assert page.title() == "m3t-bench leaderboard"

    table = page.locator('table.board[data-dataset="synthsign-asl"][data-protocol="m3t@1"]')
    header = table.locator("thead th.metric").first
    expected_sig = header.get_attribute("data-signature")
    scored = json.loads((results / "synthsign-asl" / "mean-pose.json").read_text())
    assert expected_sig == next(s["signature"] for s in scored["scores"] if (s["metric"], s["part"]) == ("dtw-jpe", "body"))

    # sort: ascending, then descending, by the first metric column (column 1; column 0 is the system)
    header.locator("button.sort").click()
    values = _column_values(page, table, 1)
    assert values == sorted(values) and len(values) == 4 and header.get_attribute("aria-sort") == "ascending"
    header.locator("button.sort").click()
    assert _column_values(page, table, 1) == sorted(values, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    names = table.locator("tbody th").all_inner_texts()
    assert names[-1] == "ground-truth"  # 0.00 mm: last when sorted worst first

    # signature tooltip: hidden, shown on hover with the column's signature
    tip = header.locator(".sig-tip")
    page.mouse.move(5, 5)  # away from the header just clicked
    assert not tip.is_visible()
    header.hover()
    assert tip.is_visible() and tip.inner_text().strip() == expected_sig
    page.screenshot(path=str(screenshots / "leaderboard.png"))

    # copy: the signature lands on the clipboard
    header.locator("button.copy").click()
    page.wait_for_function("document.querySelector('button.copy.copied') !== null")
    assert page.evaluate("navigator.clipboard.readText()") == expected_sig

    # follow a system page; its per-sample distribution plot loads
    table.locator("tbody th a", has_text="mean-pose").click()
    page.wait_for_url("**/systems/synthsign-asl/mean-pose.html")
    assert "mean-pose" in page.locator("h1").inner_text()
    image = page.locator("figure.distribution img")
    image.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert page.locator("table.scores tbody tr").count() == len(scored["scores"])
    page.screenshot(path=str(screenshots / "system.png"), full_page=True)

    page.locator("header nav a", has_text="Protocols").click()
    page.wait_for_url("**/protocols.html")
    assert page.locator("section.protocol").count() >= 2
    page.screenshot(path=str(screenshots / "protocols.png"))
    assert requests and all(url.startswith("file://") for url in requests), [u for u in requests if
                                                                              not u.startswith("file://")]

    # the same folder from a plain static web server
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *args: None
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        table = page.locator('table.board[data-dataset="synthsign-csl"][data-protocol="m3t@1"]')
        table.locator("thead th.metric").nth(2).locator("button.sort").click()
        values = _column_values(page, table, 3)
        assert values == sorted(values)
        table.locator("tbody th a").first.click()
        page.wait_for_url("**/systems/synthsign-csl/*.html")
        server.shutdown()
    page.close()


@pytest.fixture(scope="module")
def avatar_study(tmp_path_factory, synth_tiny, smplfx) -> Path:
    """Three pairs of rendered avatar clips: the reference motion vs the same motion with the face frozen."""
    from m3t_bench.datasets import open_split
    from m3t_bench.motion import load_sample, save_sample
    from m3t_bench.motion.layout import FACE_EXPRESSION
    from m3t_bench.study.pairs import build_pairs
    root = tmp_path_factory.mktemp("avatar-study")
    split = open_split(synth_tiny / "synthsign-asl", "test")
    reference, frozen = root / "reference", root / "frozen-face"
    for folder in (reference, frozen):
        folder.mkdir()
    for sample_id in split.ids[:3]:
        seq = load_sample(split.path(sample_id))
        save_sample(reference / f"{sample_id}.npz", seq)
        seq.face[:, FACE_EXPRESSION] = seq.face[:1, FACE_EXPRESSION]
        save_sample(frozen / f"{sample_id}.npz", seq)
    return build_pairs(reference, frozen, root / "study", n=3, dataset=str(synth_tiny / "synthsign-asl"),
                       load_model=lambda: smplfx, clip_options={"size": 240, "max_frames": 8})


def test_study_app_in_chromium_votes_are_counted_by_the_report(browser_context, screenshots, avatar_study, tmp_path,
                                                               capsys):
    from m3t_bench.cli import main
    from m3t_bench.study.loadtest import start_server
    from m3t_bench.study.store import StudyStore
    db = tmp_path / "study.sqlite"
    answers = [("left", "left"), ("right", "none"), ("none", "left")]  # (expressivity, overall) per shown pair
    shown = []
    with start_server(avatar_study, db) as (_, url):
        page = browser_context.new_page()
        page.goto(url)
        page.fill("#rater", "browser-rater")
        page.click("button[type=submit]")
        for k, (expressivity, overall) in enumerate(answers):
            page.wait_for_selector("#vote-form")
            assert page.locator("#position").inner_text() == str(k + 1)
            for side in ("left", "right"):
                img = page.locator(f"#clip-{side} img")
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
            shown.append(page.locator('input[name="pair"]').get_attribute("value"))
            page.check(f'input[name="expressivity"][value="{expressivity}"]')
            page.check(f'input[name="overall"][value="{overall}"]')
            if k == 0:
                page.screenshot(path=str(screenshots / "study.png"), full_page=True)
                page.click("#submit")
                page.wait_for_selector("#vote-form")
                page.goto(url)  # leave and come back: the remembered id resumes at pair 2
                page.click("#continue")
                continue
            page.click("#submit")
        page.wait_for_selector("#done")
        page.close()
    assert len(set(shown)) == 3  # never the same pair twice
    store = StudyStore(db)
    votes = {v["pair_id"]: v for v in store.votes()}
    assert [(votes[p]["expressivity"], votes[p]["overall"]) for p in shown] == answers

    def system(pair_id, side):
        v = votes[pair_id]
        return None if side == "none" else v["left_system"] if side == "left" else v["right_system"]

    assert main(["study", "report", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "3 votes from 1 rater(s) on 3 pair(s)" in text
    expected = {}
    for q, key in ((0, "expressivity"), (1, "overall")):
        chosen = [system(p, a[q]) for p, a in zip(shown, answers)]
        expected[key] = (chosen.count("reference"), chosen.count(None), chosen.count("frozen-face"))
    from m3t_bench.study.report import build_report
    report = build_report(db)
    assert report.systems == ("reference", "frozen-face")
    assert [(q.a, q.none, q.b) for q in report.questions] == [expected["expressivity"], expected["overall"]]
