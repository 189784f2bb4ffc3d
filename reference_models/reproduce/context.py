"""What a stage is (:class:`Stage`) and what it is given when it runs (:class:`StageContext`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from m3t_bench.errors import UserError
from reference_models.reproduce.config import (
    REAL_CONTINUOUS, REAL_ISOLATED, SYNTH_CONTINUOUS, SYNTH_ISOLATED, ReproduceConfig,
)

#: File a stage writes when it points at user-supplied folders instead of holding files (real body models,
#: real datasets): ``{"path": ...}``.
SOURCE_FILE = "source.json"


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: ``run(ctx)`` fills ``ctx.out`` from the folders of the ``inputs`` stages.

    fields: the config fields it reads (hashed into its key); params: extra hashed values from the run's
    settings and the records of the stages before it (paths given on the command line, digests of repository
    files, wall times); publish: files of its folder
    also copied to the output root; weight: rough relative cost (seconds of the ``tiny`` run on 2 cores),
    for the progress display's ETA; version: bump when the stage's code changes its outputs.
    """

    name: str
    inputs: tuple[str, ...]
    fields: tuple[str, ...]
    run: Callable[["StageContext"], None]
    describe: str
    weight: float = 10.0
    version: int = 1
    params: Callable[["RunSettings", dict], dict] | None = None
    publish: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSettings:
    """Command-line settings that are not part of the named config: user folders and the output root."""

    out: Path
    data_root: Path | None = None
    body_models: Path | None = None
    mbart: Path | None = None
    command: str = "m3t-bench reproduce"


@dataclass
class StageContext:
    """A running stage: its work folder ``out``, its input stage folders, the config, and callbacks."""

    stage: Stage
    out: Path
    inputs: dict[str, Path]
    cfg: ReproduceConfig
    settings: RunSettings
    resume: bool
    step: Callable[[str], None] = print
    records: dict[str, dict] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ datasets
    @property
    def continuous(self) -> tuple[str, ...]:
        """Names of the continuous-signing datasets (Tables 1-3)."""
        return REAL_CONTINUOUS if self.settings.data_root else SYNTH_CONTINUOUS

    @property
    def isolated(self) -> str:
        """Name of the isolated-sign dataset (Table 4)."""
        return REAL_ISOLATED if self.settings.data_root else SYNTH_ISOLATED

    def dataset_dir(self, name: str) -> Path:
        """Folder of dataset ``name`` (holding its split folders)."""
        return (self.settings.data_root or self.inputs["datasets"]) / name

    def split(self, name: str, split: str):
        from m3t_bench.datasets import open_split
        return open_split(self.dataset_dir(name), split)

    # ------------------------------------------------------------------ body model
    def body_models_dir(self) -> Path:
        """The SMPL-X/FLAME folder the body-model stage chose."""
        folder = self.inputs["body-model"]
        source = folder / SOURCE_FILE
        return Path(json.loads(source.read_text())["path"]) if source.is_file() else folder

    def body_model(self, device: str = "cpu"):
        """The SMPL-FX model (built once per stage)."""
        if "body" not in self._cache:
            from m3t_bench.body import SMPLFX
            self._cache["body"] = SMPLFX.from_dir(self.body_models_dir(), device=device)
        return self._cache["body"]

    def cli(self, *argv: str) -> None:
        """Run an ``m3t-bench`` command in this process (its output goes to the stage log)."""
        from m3t_bench.cli import main
        code = main([str(a) for a in argv])
        if code:
            raise UserError(f"stage {self.stage.name}: `m3t-bench {' '.join(map(str, argv[:2]))} ...` exited with "
                            f"{code}; see its log")
