"""K sweep: how the unified representation settles as the number of anchors grows."""

from __future__ import annotations

from itertools import combinations
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from platonic.anchors import select_anchors
from platonic.compare import linear_cka, procrustes_score
from platonic.project.transform import PlatonicTransform, ProjectionError
from platonic.validation import check_seed, seed_alias

DEFAULT_KS = (3, 8, 20, 50, 100, 200, 400)


@seed_alias
def k_sweep(embeddings: Mapping[str, np.ndarray], ks: Sequence[int] = DEFAULT_KS, method: str = "direct",
            random_state: int = 0, reference: str | None = None, n_eval: int = 5000) -> pd.DataFrame:
    """Unified representations for each anchor count K, and how much they still change.

    For each ``K`` in ``ks`` (sorted ascending), anchors are chosen on ``embeddings[reference]``
    with :func:`platonic.anchors.select_anchors` (``method``, ``random_state``), and every model is
    mapped by its own :class:`PlatonicTransform` on those anchor rows. Everything is then
    measured on the same ``min(n, n_eval)`` evaluation rows, drawn uniformly without
    replacement with ``random_state``. Measures (long format, one row each):

    * ``procrustes_vs_previous_k`` (``model_a == model_b``): Procrustes similarity
      (:func:`platonic.compare.procrustes_score`, which zero-pads the narrower matrix)
      between the model's ``z`` at this K and at the previous K of the sweep; absent for
      the first K. Near 1 = adding anchors no longer changes the geometry.
    * ``procrustes_cross_model`` and ``cka_cross_model`` (one row per unordered model pair):
      :func:`platonic.compare.procrustes_score` and linear CKA
      (:func:`platonic.compare.linear_cka`, biased) between two models' ``z`` at this K.

    Parameters
    ----------
    embeddings : mapping model name → ``(n, d_model)`` array; rows matched across models.
    ks : anchor counts; each must be <= n.
    method, random_state : anchor selection (see :func:`platonic.anchors.select_anchors`).
    reference : model whose embeddings choose the anchors; default the first in ``embeddings``.
    n_eval : number of evaluation rows.

    Returns
    -------
    DataFrame with columns ``k, measure, model_a, model_b, value, n_eval, method, seed,
    reference``; ``attrs["anchors"]`` maps each K to its anchor rows.
    """
    random_state = check_seed(random_state, "random_state", ProjectionError)  # written in the results
    if not embeddings:
        raise ProjectionError("embeddings is empty: give at least one model")
    names = list(embeddings)
    arrays = {name: np.asarray(embeddings[name]) for name in names}
    for name, array in arrays.items():
        if array.ndim != 2:
            raise ProjectionError(f"embeddings[{name!r}] must be 2-D, got shape {array.shape}")
    n_rows = {array.shape[0] for array in arrays.values()}
    if len(n_rows) != 1:
        raise ProjectionError(
            "every model must embed the same atoms (same row count), got "
            + ", ".join(f"{name}: {array.shape[0]}" for name, array in arrays.items())
        )
    (n_atoms,) = n_rows
    reference = names[0] if reference is None else reference
    if reference not in arrays:
        raise ProjectionError(f"reference {reference!r} is not one of the models {names}")
    sorted_ks = sorted(int(k) for k in ks)
    if not sorted_ks:
        raise ProjectionError("ks is empty")
    if len(set(sorted_ks)) != len(sorted_ks):
        raise ProjectionError(f"ks has repeated values: {list(ks)}")
    if sorted_ks[0] < 1 or sorted_ks[-1] > n_atoms:
        raise ProjectionError(f"every K must lie in 1..{n_atoms}, got {sorted_ks}")
    if n_eval < 2:
        raise ProjectionError(f"n_eval must be >= 2, got {n_eval}")

    rng = np.random.default_rng(random_state)
    eval_rows = np.sort(rng.choice(n_atoms, size=min(n_atoms, n_eval), replace=False))
    context = {"n_eval": int(eval_rows.size), "method": method, "seed": int(random_state), "reference": reference}

    records: list[dict] = []
    previous: dict[str, np.ndarray] = {}
    chosen: dict[int, list[int]] = {}
    for k in sorted_ks:
        anchors = select_anchors(arrays[reference], k, method=method, random_state=random_state)
        chosen[k] = anchors.tolist()
        unified = {
            name: PlatonicTransform(anchor_rows=anchors).fit(array).transform(array[eval_rows])
            for name, array in arrays.items()
        }
        for name in names:
            if name in previous:
                records.append(
                    {"k": k, "measure": "procrustes_vs_previous_k", "model_a": name, "model_b": name,
                     "value": procrustes_score(previous[name], unified[name]), **context}
                )
        for name_a, name_b in combinations(names, 2):
            records.append(
                {"k": k, "measure": "procrustes_cross_model", "model_a": name_a, "model_b": name_b,
                 "value": procrustes_score(unified[name_a], unified[name_b]), **context}
            )
            records.append(
                {"k": k, "measure": "cka_cross_model", "model_a": name_a, "model_b": name_b,
                 "value": linear_cka(unified[name_a], unified[name_b]), **context}
            )
        previous = unified
    columns = ["k", "measure", "model_a", "model_b", "value", "n_eval", "method", "seed", "reference"]
    table = pd.DataFrame.from_records(records, columns=columns)
    table.attrs["anchors"] = chosen
    return table
