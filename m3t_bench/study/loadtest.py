"""A bounded local load test of the study app: simulated raters voting concurrently against a live server.

:func:`start_server` runs ``m3t-bench study serve`` in a child process on a free localhost port;
:func:`run_load_test` makes a study of tiny PNG clips, lets ``raters`` simulated raters each cast ``votes``
votes through the same HTTP requests a browser makes (``GET /rate`` to get the pair, ``POST /vote``), all
raters at once (one httpx connection each), then checks that the database holds exactly the acknowledged
votes: none lost, none duplicated, no pair twice for a rater.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m3t_bench.study.questions import CHOICES, QUESTION_KEYS

_PAIR_FIELD = re.compile(r'name="pair" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def start_server(pairs: Path, db: Path, *, timeout_s: float = 120.0, log: Path | None = None):
    """Run ``m3t-bench study serve`` in a child process; yields ``(process, base_url)`` once ``/healthz``
    answers; the child is terminated (then killed) on exit."""
    import httpx

    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "m3t_bench.cli", "study", "serve", "--pairs", str(pairs), "--db",
                             str(db), "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"study server exited with code {proc.returncode} before answering")
            try:
                if httpx.get(url + "healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"study server did not answer within {timeout_s:.0f} s")
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log is not None:
            out.close()


def make_study(folder: Path, n_pairs: int, systems: tuple[str, str] = ("system-a", "system-b")) -> Path:
    """A pairs file of ``n_pairs`` pairs of tiny distinct PNG clips in ``folder``; returns its path."""
    from m3t_bench.report.render import write_png
    pairs = []
    for i in range(n_pairs):
        media = {}
        for k, system in enumerate(systems):
            rel = f"media/{system}/clip{i:04d}.png"
            write_png(folder / rel, np.full((8, 8, 3), (40 * k + 3 * i) % 256, dtype=np.uint8))
            media[system] = rel
        pairs.append({"id": f"pair-{i:04d}", "dataset": "load-test", "sample": f"s{i:04d}",
                      "text": f"sentence {i}", "media": media})
    path = folder / "pairs.json"
    path.write_text(json.dumps({"schema": "m3t-bench-study-pairs", "schema_version": 1, "systems": list(systems),
                                "pairs": pairs}, indent=1))
    return path


@dataclass(frozen=True)
class LoadTestResult:
    raters: int
    votes_per_rater: int
    acknowledged: int
    stored: int
    lost: int
    duplicated: int
    seconds: float
    post_p50_ms: float
    post_p95_ms: float
    server_cpu_s: float | None = None  # CPU seconds the server process used (None where not measurable)

    @property
    def votes_per_s(self) -> float:
        return self.acknowledged / self.seconds

    def summary(self) -> str:
        return (f"{self.raters} raters x {self.votes_per_rater} votes concurrently: {self.acknowledged} acknowledged, "
                f"{self.stored} stored, {self.lost} lost, {self.duplicated} duplicated; {self.seconds:.2f} s, "
                f"{self.votes_per_s:.0f} votes/s (GET pair + POST vote each), POST latency p50 "
                f"{self.post_p50_ms:.1f} ms / p95 {self.post_p95_ms:.1f} ms"
                + ("" if self.server_cpu_s is None else
                   f"; server CPU {self.server_cpu_s:.2f} s = {1000 * self.server_cpu_s / self.acknowledged:.2f} "
                   f"ms per vote (start-up included)"))


async def _rater(client, rater: str, votes: int, rng: random.Random, acked: list, latencies: list) -> None:
    for _ in range(votes):
        page = await client.get("rate", params={"rater": rater})
        page.raise_for_status()
        match = _PAIR_FIELD.search(page.text)
        if match is None:
            raise RuntimeError(f"rater {rater}: no pair offered after {len(acked)} votes")
        form = {"rater": rater, "pair": match.group(1), **{q: rng.choice(CHOICES) for q in QUESTION_KEYS}}
        t = time.perf_counter()
        answer = await client.post("vote", data=form)
        latencies.append(time.perf_counter() - t)
        if answer.status_code != 303:
            raise RuntimeError(f"rater {rater}: vote answered {answer.status_code}: {answer.text[:200]}")
        acked.append((rater, match.group(1)))


async def _drive(url: str, raters: int, votes: int, seed: int) -> tuple[list, list, float]:
    import httpx
    acked: list = []
    latencies: list = []
    limits = httpx.Limits(max_connections=raters, max_keepalive_connections=raters)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(_rater(client, f"load-{r:03d}", votes, random.Random(seed * 1000 + r), acked, latencies)
                               for r in range(raters)))
        elapsed = time.perf_counter() - t0
    return acked, latencies, elapsed


def run_load_test(workdir: str | Path, *, raters: int = 20, votes: int = 50, seed: int = 0) -> LoadTestResult:
    """Run the load test in ``workdir`` (pairs, media, database, server log) and check the database."""
    from m3t_bench.study.store import StudyStore

    workdir = Path(workdir)
    pairs = make_study(workdir, votes)
    db = workdir / "study.sqlite"
    cpu_before = _children_cpu()
    with start_server(pairs, db, log=workdir / "server.log") as (_, url):
        acked, latencies, elapsed = asyncio.run(_drive(url, raters, votes, seed))
    cpu_after = _children_cpu()
    stored = [(v["rater"], v["pair_id"]) for v in StudyStore(db).votes()]
    lost = len(set(acked) - set(stored))
    ms = np.array(latencies) * 1000
    return LoadTestResult(raters=raters, votes_per_rater=votes, acknowledged=len(acked), stored=len(stored), lost=lost,
                          duplicated=len(stored) - len(set(stored)), seconds=elapsed,
                          post_p50_ms=float(np.percentile(ms, 50)), post_p95_ms=float(np.percentile(ms, 95)),
                          server_cpu_s=None if cpu_before is None else cpu_after - cpu_before)


def _children_cpu() -> float | None:
    """User + system CPU seconds of this process's finished children (None where unsupported)."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


__all__ = ["LoadTestResult", "free_port", "make_study", "run_load_test", "start_server"]
