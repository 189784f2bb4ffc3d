"""From per-sample values to signed numbers: a protocol's items with their signatures, and their aggregation.

Every evaluator of the toolkit and of the reference models goes the same way: :func:`protocol_items` gives
the numbers a protocol asks for (each with its metric spec and signature), the evaluator computes each
item's per-sample values with :meth:`ScoreItem.per_sample` from the inputs it has (points, texts, tokens,
class scores: :data:`m3t_bench.protocols.INPUTS`), and :func:`summarise` turns them into one entry of a
results file (value = the spec's aggregation, 95% bootstrap CI, n, unit, signature).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from m3t_bench.metrics import bootstrap_ci
from m3t_bench.protocols import MetricSpec, Protocol, get_metric
from m3t_bench.results import score_entry

N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class ScoreItem:
    """One number a protocol asks for, as an evaluator needs it: metric id, part, joint set (None unless the
    metric is computed on points), unit, direction, signature, the metric function's keyword ``params`` and
    the metric's ``spec``."""

    metric: str
    part: str
    joint_set: str | None
    unit: str
    higher_is_better: bool
    signature: str
    params: tuple[tuple[str, object], ...] = ()
    spec: MetricSpec | None = field(default=None, compare=False, repr=False)

    def per_sample(self, *inputs, **context) -> np.ndarray:
        """Per-sample values (or statistics rows) of this item from ``inputs`` (see
        :data:`m3t_bench.protocols.INPUTS`) and the ``context`` keywords the metric takes."""
        return self.spec.per_sample(*inputs, params=dict(self.params), context=context)


def protocol_items(protocol: Protocol, *, model_id: str | None, dataset_id: str, language: str | None = None,
                   seed: int = 0, n_resamples: int = N_BOOTSTRAP, bt_id: str | None = None) -> list[ScoreItem]:
    """The protocol's items turned into :class:`ScoreItem` s with their signatures, which record the body
    model, dataset, bootstrap resamples and seed and, for text metrics, the back-translation source
    ``bt_id``."""
    items = []
    extra: Mapping[str, str] = {"boot": f"{n_resamples}-s{seed}", **({"bt": bt_id} if bt_id is not None else {})}
    for item in protocol.items:
        spec = get_metric(item.metric)
        signature = protocol.signature_for(item, body_model_id=model_id, dataset_id=dataset_id, language=language,
                                           extra=extra)
        items.append(ScoreItem(metric=item.metric, part=item.part, joint_set=item.joint_set,
                               unit=spec.unit_for(item.params), higher_is_better=spec.higher_is_better,
                               signature=str(signature), params=tuple(sorted(item.params.items())), spec=spec))
    return items


def summarise(item: ScoreItem, values: np.ndarray, *, seed: int, n_resamples: int = N_BOOTSTRAP) -> dict:
    """The results entry of ``item`` from its per-sample ``values`` (N,) or statistics rows (N, K): the
    spec's aggregation, its 95% percentile-bootstrap interval (samples resampled with ``seed``) and n = N."""
    ci = bootstrap_ci(values, seed=seed, n_resamples=n_resamples, statistic=item.spec.aggregate)
    return score_entry(metric=item.metric, part=item.part, value=item.spec.aggregate(values), unit=item.unit,
                       ci95=ci, n=len(values), higher_is_better=item.higher_is_better, signature=item.signature)
