"""OnDemand: models loaded when asked, a bounded number held, the compare matrix unchanged by it."""

from __future__ import annotations

import numpy as np
import pytest

from platonic.compare import MetricInputError, metric_matrix
from platonic.store import OnDemand


def _matrices(n: int = 150, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 6))
    return {f"m{i}": (base @ rng.normal(size=(6, 6)) + 0.3 * rng.normal(size=(n, 6))).astype(np.float32)
            for i in range(4)}


def test_loads_when_asked_holds_at_most_keep_and_hands_out_read_only_rows():
    matrices = _matrices()
    asked: list[str] = []

    def load(name: str) -> np.ndarray:
        asked.append(name)
        return matrices[name]

    rows = np.arange(0, 150, 3)
    lazy = OnDemand(load, list(matrices), rows=rows, keep=2)
    assert list(lazy) == list(matrices) and len(lazy) == 4 and "m1" in lazy and asked == []
    np.testing.assert_array_equal(lazy["m1"], matrices["m1"][rows])
    lazy["m1"], lazy["m2"], lazy["m1"]  # m1 is held: no second load
    assert asked == ["m1", "m2"]
    lazy["m3"]  # m2 is now the least recently used and is dropped
    assert len(lazy._held) == 2 and list(lazy._held) == ["m1", "m3"]
    lazy["m2"]
    assert asked == ["m1", "m2", "m3", "m2"] and lazy.loads == 4
    with pytest.raises(ValueError, match="read-only"):
        lazy["m2"][0, 0] = 1.0
    assert matrices["m2"].flags.writeable  # the source is left alone
    with pytest.raises(KeyError):
        lazy["absent"]
    with pytest.raises(ValueError, match="keep"):
        OnDemand(load, ["m1"], keep=0)


def test_a_metric_matrix_on_demand_equals_the_one_on_a_dict():
    matrices = _matrices()
    options = dict(metrics=["procrustes", "cka", "mknn", "ot", "gfre", "gfrd", "lfre"], k=5, ot_n_samples=60,
                   ot_repeats=2, lfre_n_test=30, n_permutations=3, random_state=1, centred_space="centred")
    eager = metric_matrix(matrices, **options)
    lazy_source = OnDemand(matrices.__getitem__, list(matrices), keep=2)
    lazy = metric_matrix(lazy_source, **options)
    assert lazy_source.loads > len(matrices)  # models were dropped and loaded again, never all held
    assert len(lazy_source._held) <= 2
    assert eager.equals(lazy)


def test_a_lazy_mapping_must_hold_float_arrays():
    matrices = {name: array.astype(np.float16) for name, array in _matrices().items()}
    with pytest.raises(MetricInputError, match="float32 or float64.*pass a dict"):
        metric_matrix(OnDemand(matrices.__getitem__, list(matrices)), metrics=["cka"])
    nan = _matrices()
    nan["m2"] = nan["m2"].copy()
    nan["m2"][4] = np.nan
    with pytest.raises(MetricInputError, match="m2"):
        metric_matrix(OnDemand(nan.__getitem__, list(nan)), metrics=["cka"])

