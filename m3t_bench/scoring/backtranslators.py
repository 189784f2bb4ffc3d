"""Back-translation models as the scorer sees them, and how they plug in.

``m3t-bench score --bt-model DIR`` needs a model that turns motion into text, but the toolkit never imports
the packages that implement one (``reference_models`` imports ``m3t_bench``, not the other way round). A
model folder therefore names its *kind* in ``DIR/manifest.json`` (``{"kind": "slt", ...}``), and the
scorer looks that name up among the installed entry points of the group ``m3t_bench.backtranslators``
(``pyproject.toml``: ``slt = "reference_models.backtranslation.plugin:load"``). The entry point is a
function ``load(path, *, device) -> BackTranslator``; it must verify the folder (hashes) and raise
:class:`UserError` on any problem. Only installed code is ever run: a manifest names a registered kind, never
a module.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from m3t_bench.errors import UserError, unknown_name
from m3t_bench.safe_read import exists, read_json_object

ENTRY_POINT_GROUP = "m3t_bench.backtranslators"
MANIFEST_FILE = "manifest.json"
#: Hash digits of a model's content hash in the ``bt`` signature key (``bt:<name>-<hash12>``).
HASH_DIGITS = 12


@runtime_checkable
class BackTranslator(Protocol):
    """A loaded, verified back-translation model.

    ``name``: the model's name (letters, digits, ``.``, ``_``, ``-``); ``content_hash``: hex sha256 identifying
    everything that determines its outputs; ``dataset``: the dataset it was trained on (``name@version``);
    ``language``: that dataset's language. ``translate`` maps SMPL-FX sequences (all four streams) to one
    sentence each, in order, deterministically.
    """

    name: str
    content_hash: str
    dataset: str
    language: str

    def translate(self, sequences: Sequence, *, progress: bool = False) -> list[str]: ...


def signature_id(model: BackTranslator) -> str:
    """The ``bt`` signature value of a model: ``<name>-<first 12 hex digits of its content hash>``."""
    return f"{model.name}-{model.content_hash[:HASH_DIGITS]}"


def _installed_loaders() -> dict[str, object]:
    """Entry points of :data:`ENTRY_POINT_GROUP` by name (one per name; the same target twice is one)."""
    found: dict[str, object] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise UserError(f"two installed back-translation plug-ins are named {ep.name!r} ({found[ep.name].value} "
                            f"and {ep.value}); expected one", field=ENTRY_POINT_GROUP)
        found[ep.name] = ep
    return found


def load_backtranslator(path: str | Path, *, device: str = "cpu") -> BackTranslator:
    """Open the back-translation model folder ``path`` through the plug-in its manifest's ``kind`` names."""
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    if not path.is_dir():
        raise UserError("back-translation model folder not found", file=path, field="--bt-model")
    if not exists(manifest_path):
        raise UserError("file not found; expected the model's manifest (written with the model)", file=manifest_path)
    kind = read_json_object(manifest_path, what="back-translation model manifest").get("kind")
    if not isinstance(kind, str) or not kind:
        raise UserError(f"{kind!r:.80}; expected the name of the plug-in that reads the model", file=manifest_path,
                        field="kind")
    loaders = _installed_loaders()
    if kind not in loaders:
        if not loaders:
            raise UserError(f"kind {kind!r}: no back-translation plug-in is installed (entry point group "
                            f"{ENTRY_POINT_GROUP}); install the package that provides it", file=manifest_path,
                            field="kind")
        raise unknown_name("back-translation model kind", str(kind), loaders, field="kind")
    try:
        load = loaders[kind].load()
    except ImportError as exc:
        raise UserError(f"the plug-in for kind {kind!r} is registered but cannot be imported ({exc})",
                        file=manifest_path, field="kind") from None
    model = load(path, device=device)
    if not isinstance(model, BackTranslator):
        raise UserError(f"the plug-in for kind {kind!r} did not return a back-translation model", file=path)
    return model
