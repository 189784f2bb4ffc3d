"""Running the stages: skip what is done, rerun what changed, resume what was interrupted.

Layout of the output folder ``out``::

    index.html                 the page (published by the index stage)
    reproduce.json             config, settings and every stage's record (key, digests, wall time, status)
    <stage>/                   each stage's outputs, with .stage.json (its record) once it has finished
    logs/<stage>.log           everything the stage printed, one section per run
    .work/<stage>/             a stage being run (.stage-key inside); renamed to <stage>/ when it finishes

A stage is skipped when ``<stage>/.stage.json`` holds the key computed now (config fields + input digests,
:func:`~reference_models.reproduce.hashing.stage_key`) and the folder still has the recorded digest.
Otherwise it runs in ``.work/<stage>``: when that folder holds the same key (an interrupted run), the
stage resumes there (trainings continue from their saved state), else it starts empty. Outputs replace the
previous ones only when the stage finished: an interrupted or failed stage leaves them as they were.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write_text, replace_folder
from reference_models.reproduce.config import ReproduceConfig
from reference_models.reproduce.context import RunSettings, Stage, StageContext
from reference_models.reproduce.hashing import KEY_FILE, RECORD_FILE, canonical_json, folder_digest, stage_key
from reference_models.reproduce.stages import STAGES, get_stage

WORK_DIR = ".work"
LOG_DIR = "logs"
SUMMARY_FILE = "reproduce.json"


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran" | "resumed" | "skipped"
    wall_s: float  # of the run that produced the outputs
    seconds_now: float  # spent in this invocation


def read_record(folder: Path) -> dict | None:
    """A finished stage's record, or None (absent or unreadable: the stage is not done)."""
    try:
        return json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None


class _Tee:
    """A text stream writing to the log file (and nowhere else)."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, text: str) -> int:
        self.fh.write(text)
        self.fh.flush()
        return len(text)

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:
        """Loggers created during a stage may hold this stream; the runner closes the file itself."""

    def isatty(self) -> bool:
        return False


class Pipeline:
    """One reproduce run over :data:`~reference_models.reproduce.stages.STAGES`."""

    def __init__(self, cfg: ReproduceConfig, settings: RunSettings, *, force: tuple[str, ...] = (),
                 progress: bool = True, console=None):
        self.cfg, self.settings = cfg, settings
        self.out = Path(settings.out)
        self.force = {get_stage(n).name for n in force}
        self.progress = progress
        self.console = console
        self.records: dict[str, dict] = {}
        self.outcomes: list[StageOutcome] = []

    # ------------------------------------------------------------------ keys
    def key_of(self, stage: Stage) -> tuple[str, dict]:
        params = {"fields": {f: getattr(self.cfg, f) for f in stage.fields},
                  **({"extra": stage.params(self.settings, dict(self.records))} if stage.params else {})}
        digests = {name: self.records[name]["digest"] for name in stage.inputs}
        return stage_key(stage.name, stage.version, params, digests), params

    def is_done(self, stage: Stage, key: str) -> dict | None:
        folder = self.out / stage.name
        record = read_record(folder)
        if record is None or record.get("key") != key or stage.name in self.force:
            return None
        if folder_digest(folder) != record.get("digest"):
            return None  # outputs changed or damaged since: rebuild them
        return record

    # ------------------------------------------------------------------ running
    def run(self) -> list[StageOutcome]:
        self.out.mkdir(parents=True, exist_ok=True)
        display = _Display(self.console, STAGES) if self.progress else None
        try:
            for stage in STAGES:
                key, params = self.key_of(stage)
                record = self.is_done(stage, key)
                if record is not None:
                    self._publish(stage)
                    self.records[stage.name] = record
                    self.outcomes.append(StageOutcome(stage.name, "skipped", record.get("wall_s", 0.0), 0.0))
                    if display:
                        display.skipped(stage)
                    continue
                if display:
                    display.start(stage)
                self.outcomes.append(self._run_stage(stage, key, params, display))
                if display:
                    display.done(stage)
        finally:
            if display:
                display.stop()
            self._write_summary()
        return self.outcomes

    def _run_stage(self, stage: Stage, key: str, params: dict, display) -> StageOutcome:
        work = self.out / WORK_DIR / stage.name
        resume = work.is_dir() and (work / KEY_FILE).is_file() and (work / KEY_FILE).read_text().strip() == key
        if not resume:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            atomic_write_text(work / KEY_FILE, key + "\n")
        inputs = {name: self.out / name for name in stage.inputs}
        ctx = StageContext(stage=stage, out=work, inputs=inputs, cfg=self.cfg, settings=self.settings,
                           resume=resume, step=(display.step if display else _print_step),
                           records=dict(self.records))
        log_path = self.out / LOG_DIR / f"{stage.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"==== {stage.name} ({'resumed' if resume else 'started'} {time.strftime('%Y-%m-%d %H:%M:%S')}; "
                     f"key {key[:16]}; params {canonical_json(params)})\n")
            tee = _Tee(fh)
            try:
                with contextlib.redirect_stdout(tee), contextlib.redirect_stderr(tee):
                    stage.run(ctx)
            except UserError as exc:
                fh.write(f"==== failed: {exc}\n")
                raise UserError(f"stage {stage.name} failed: {exc} (log: {log_path})") from None
            except BaseException as exc:
                traceback.print_exc(file=fh)
                fh.write(f"==== stopped: {type(exc).__name__}: {exc}\n")
                raise
            wall = time.perf_counter() - started
            fh.write(f"==== finished in {wall:.1f} s\n")
        (work / KEY_FILE).unlink()
        record = {"stage": stage.name, "key": key, "params": params,
                  "inputs": {n: self.records[n]["digest"] for n in stage.inputs}, "digest": folder_digest(work),
                  "wall_s": round(wall, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "resumed": resume}
        atomic_write_text(work / RECORD_FILE, json.dumps(record, indent=1, default=str) + "\n")
        replace_folder(work, self.out / stage.name)
        self.records[stage.name] = record
        self._publish(stage)
        return StageOutcome(stage.name, "resumed" if resume else "ran", record["wall_s"], record["wall_s"])

    def _publish(self, stage: Stage) -> None:
        for name in stage.publish:
            source, target = self.out / stage.name / name, self.out / name
            data = source.read_bytes()
            if not target.is_file() or target.read_bytes() != data:
                atomic_write_text(target, data.decode("utf-8"))

    def _write_summary(self) -> None:
        summary = {"config": self.cfg.to_dict(), "settings": {k: (None if v is None else str(v))
                                                              for k, v in asdict(self.settings).items()},
                   "stages": self.records, "this_run": [asdict(o) for o in self.outcomes]}
        atomic_write_text(self.out / SUMMARY_FILE, json.dumps(summary, indent=1, default=str) + "\n")


def _print_step(text: str) -> None:
    print(f"  {text}", file=sys.__stderr__)


class _Display:
    """A rich progress display on the terminal (stderr): overall stages with ETA, the current stage and step.
    The ETA weighs stages by their declared cost."""

    def __init__(self, console, stages: tuple[Stage, ...]):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        self.console = console or Console(file=sys.__stderr__)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[stages]}"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
                                 redirect_stdout=False, redirect_stderr=False, transient=False)
        self.total = len(stages)
        self.count = 0
        self.task = self.progress.add_task("reproduce", total=sum(s.weight for s in stages), stages=f"0/{self.total}")
        self.progress.start()

    def _advance(self, stage: Stage) -> None:
        self.count += 1
        self.progress.update(self.task, advance=stage.weight, stages=f"{self.count}/{self.total}")

    def skipped(self, stage: Stage) -> None:
        # a skipped stage costs nothing: shrink the total so the ETA stays about the stages that run
        self.count += 1
        task = self.progress.tasks[0]
        self.progress.update(self.task, total=task.total - stage.weight, stages=f"{self.count}/{self.total}")
        self.progress.console.print(f"[dim]skip[/dim]  {stage.name}: unchanged")

    def start(self, stage: Stage) -> None:
        self.stage = stage
        self.progress.update(self.task, description=f"[bold]{stage.name}[/bold]")

    def step(self, text: str) -> None:
        self.progress.update(self.task, description=f"[bold]{self.stage.name}[/bold]: {text}")

    def done(self, stage: Stage) -> None:
        self._advance(stage)
        self.progress.console.print(f"[green]done[/green]  {stage.name}")

    def stop(self) -> None:
        self.progress.stop()


def wall_time_table(outcomes: list[StageOutcome]) -> str:
    """Per stage: status in this run and the wall time of the run that produced its outputs (markdown)."""
    lines = ["| stage | this run | wall (s) |", "|---|---|---:|"]
    lines += [f"| {o.name} | {o.status} | {o.wall_s:.1f} |" for o in outcomes]
    lines.append(f"| total | {sum(o.seconds_now for o in outcomes):.1f} s now | {sum(o.wall_s for o in outcomes):.1f} |")
    return "\n".join(lines)
