r"""Fine-tuning drift: where a fine-tuned checkpoint moved relative to its pre-trained parent.

A drift *pair* is (pre-trained, fine-tuned): two checkpoints of one architecture embedding the
same atoms (the same rows of the store). The defaults, :data:`DEFAULT_DRIFT_PAIRS`, are

* CHGNet 0.3.0 → CHGNet r2SCAN: the r2SCAN weights were initialised from 0.3.0 and fine-tuned on
  MP-r2SCAN (the chgnet package's ``pretrained/r2scan/README.md``);
* SevenNet-0 → SevenNet-MF-0 (PBE head): MF-0's stored config continues from a single-fidelity
  MPtrj checkpoint (``continue.checkpoint = ./checkpoint_chgTot.pth``) and adds MP r2SCAN data by
  multi-fidelity training. That this parent is exactly the released SevenNet-0 is not stated
  in the checkpoint; the pair is the issue's choice.

Four views of a pair, each a tidy table:

**Per-element displacement** (unified space, the same anchor rows for both checkpoints, so the
two K-dimensional spaces share their axes). For element :math:`a` with atom set :math:`I_a`,
:math:`\bar z^{pre}_a = \frac{1}{|I_a|}\sum_{i\in I_a} z^{pre}_i` (likewise :math:`\bar z^{ft}_a`):

.. math::

    D_a = \|\bar z^{ft}_a - \bar z^{pre}_a\|_2, \qquad
    s^{m}_a = \Big(\tfrac{1}{|I_a|}\sum_{i\in I_a}\|z^{m}_i - \bar z^{m}_a\|^2\Big)^{1/2},

``relative_displacement`` :math:`= D_a / \sqrt{((s^{pre}_a)^2 + (s^{ft}_a)^2)/2}` (how far the element
cloud moved in units of its own width; NaN when that pooled width is below
``min_relative_spread`` times :math:`s^{pre}`, as for a single atom or an element whose atoms
are all symmetry-equivalent, where it would divide by float noise) and ``relative_to_global``
:math:`= D_a / s^{pre}` with :math:`s^{pre}` the RMS distance of all pre-trained atoms to their
centroid (one scale for every element). ``mean_atom_displacement`` is
:math:`\frac{1}{|I_a|}\sum_i \|z^{ft}_i - z^{pre}_i\|`, which bounds :math:`D_a` from above
(triangle inequality): atoms are matched one to one, so this also sees motions that cancel in
the mean. Fine-tuning can move the whole cloud (every cosine to the anchors shifts alike), so
``excess_displacement`` :math:`= \|(\bar z^{ft}_a - \bar z^{ft}) - (\bar z^{pre}_a - \bar z^{pre})\|`,
with :math:`\bar z` the centroid of all atoms, is the element's motion net of that common shift.

**Norm collapse** (raw space). Li & Walsh saw naive fine-tuning pull the embeddings of species
absent from the fine-tuning data toward the origin, and those species' dimers turn repulsive.
Per element, ``norm_ratio`` :math:`= \overline{\|e^{ft}\|}_a / \overline{\|e^{pre}\|}_a`
(ratio of mean norms; < 1 is a collapse) and the median of the per-atom ratios
:math:`\|e^{ft}_i\| / \|e^{pre}_i\|`; :func:`norm_quantiles` summarises the whole per-atom
distribution. Raw norms are comparable only because both checkpoints share the architecture and
the embedding layer. Scaling a raw space by :math:`c > 0` multiplies every ratio by :math:`c`
and leaves the unified space unchanged (cosines are scale invariant): the two views separate
"shrank" from "turned".

**Reconstruction (GFRE)**. Malosso et al. found that fine-tuning keeps a strong pre-training
bias: a fine-tuned model's features stay linearly reconstructable from its parent's. We report
GFRE(pre → ft) and GFRE(ft → pre) from :func:`platonic.compare.global_reconstruction_error`
(scikit-matter protocol), next to GFRE between the fine-tuned checkpoint and every *reference*
model (other trained models) in both directions, all on the same rows: the bias shows as
pair errors well below the reference errors.

**Dimer curves**. :math:`E(r)` of an isolated homonuclear dimer (Cu–Cu and Au–Au by default)
from each checkpoint as an ASE calculator. The dimer sits in a periodic cubic box
(``box_length``, 30 Å by default): CHGNet's calculator needs a lattice (an open cell gives a
singular matrix), and a box much larger than every model's cutoff (CHGNet 6 Å, SevenNet 5 Å)
makes the periodic images invisible. Energies are reported as the binding energy
:math:`E(r) - 2E_{atom}` with :math:`E_{atom}` the same calculator's energy of one atom in the
same box, so the curve tends to 0 beyond the cutoff. :func:`dimer_minima` gives the equilibrium
distance (grid minimum refined by a parabola through it and its two neighbours), the well depth
:math:`2E_{atom} - \min_r E(r)`, and the experimental bond length of the gas-phase dimer as a
sanity reference (:data:`EXPERIMENTAL_BOND_LENGTHS`; the models are fitted to bulk DFT and are
not expected to match it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from ase import Atoms
from ase.data import atomic_numbers

from platonic.compare import global_reconstruction_error
from platonic.errors import PlatonicError

#: (before, after) checkpoint pairs compared by default: each model family declares its own
#: (``drift_pairs`` of its class in :mod:`platonic.models`), e.g. a pre-trained model and its fine-tune.
from platonic.models import DEFAULT_DRIFT_PAIRS  # noqa: E402

#: Experimental equilibrium bond lengths r_e (Å) of gas-phase homonuclear dimers
#: (Huber & Herzberg, Constants of Diatomic Molecules, 1979; NIST Chemistry WebBook).
EXPERIMENTAL_BOND_LENGTHS: dict[str, float] = {"Cu": 2.2197, "Au": 2.4719}
#: Dimer distances (Å) scanned by default: 1.5 to 6.0 in steps of 0.05 (91 energies per curve,
#: a few seconds per checkpoint on one CPU core).
DEFAULT_DISTANCES: np.ndarray = np.round(np.arange(1.5, 6.0 + 1e-9, 0.05), 4)
DEFAULT_BOX_LENGTH = 30.0
#: Smallest allowed gap (Å) between a dimer atom and the nearest periodic image of its partner.
MIN_IMAGE_GAP = 12.0
NORM_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


class DriftInputError(PlatonicError, ValueError):
    """Bad input to a drift diagnostic: shapes, non-finite values, unknown models or elements."""


# --------------------------------------------------------------------------- validation
def _check_matrix(X: Any, name: str) -> np.ndarray:
    array = np.asarray(X)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DriftInputError(f"{name} must be a non-empty 2-D (atoms x features) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DriftInputError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise DriftInputError(f"{name} has {bad.size} row(s) with NaN or inf (first: row {int(bad[0])})")
    return array


def _check_pair(pre: Any, ft: Any, elements: Any, *, same_width: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pre = _check_matrix(pre, "pre")
    ft = _check_matrix(ft, "fine_tuned")
    if pre.shape[0] != ft.shape[0]:
        raise DriftInputError(
            f"pre and fine_tuned must embed the same atoms, got {pre.shape[0]} and {ft.shape[0]} rows")
    if same_width and pre.shape[1] != ft.shape[1]:
        raise DriftInputError(f"pre and fine_tuned must share the space, got widths {pre.shape[1]} and {ft.shape[1]}")
    elements = np.asarray(elements)
    if elements.shape != (pre.shape[0],):
        raise DriftInputError(f"elements must have one entry per row ({pre.shape[0]}), got shape {elements.shape}")
    unknown = sorted({str(e) for e in elements} - set(atomic_numbers))
    if unknown:
        raise DriftInputError(f"unknown element symbol(s) {unknown}")
    return pre, ft, elements.astype(str)


def _element_groups(elements: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(symbol, row indices) per element, ordered by atomic number."""
    symbols = sorted(set(elements.tolist()), key=atomic_numbers.__getitem__)
    return [(symbol, np.flatnonzero(elements == symbol)) for symbol in symbols]


# --------------------------------------------------------------------------- unified space
def element_displacement(z_pre: Any, z_ft: Any, elements: Any, min_relative_spread: float = 1e-3) -> pd.DataFrame:
    """Per-element displacement of the fine-tuned checkpoint in the unified space.

    Parameters
    ----------
    z_pre, z_ft : arrays (n_atoms, K)
        Unified-space embeddings of the same atoms (same anchors) by the pre-trained and the
        fine-tuned checkpoint; rows matched.
    elements : array (n_atoms,) of element symbols
    min_relative_spread : element spreads below this fraction of the global spread count as
        zero (``relative_displacement`` is then NaN)

    Returns
    -------
    DataFrame, one row per element (by atomic number): ``element, Z, n_atoms, displacement,
    excess_displacement, mean_atom_displacement, spread_pre, spread_ft, relative_displacement,
    relative_to_global`` (definitions in the module docstring).
    """
    z_pre, z_ft, elements = _check_pair(z_pre, z_ft, elements, same_width=True)
    if not 0 <= min_relative_spread < 1:
        raise DriftInputError(f"min_relative_spread must be in [0, 1), got {min_relative_spread!r}")
    global_shift = z_ft.mean(axis=0) - z_pre.mean(axis=0)
    global_spread = float(np.sqrt(((z_pre - z_pre.mean(axis=0)) ** 2).sum(axis=1).mean()))
    records = []
    for symbol, rows in _element_groups(elements):
        pre, ft = z_pre[rows], z_ft[rows]
        centre_pre, centre_ft = pre.mean(axis=0), ft.mean(axis=0)
        displacement = float(np.linalg.norm(centre_ft - centre_pre))
        spread_pre = float(np.sqrt(((pre - centre_pre) ** 2).sum(axis=1).mean()))
        spread_ft = float(np.sqrt(((ft - centre_ft) ** 2).sum(axis=1).mean()))
        pooled = np.sqrt(0.5 * (spread_pre**2 + spread_ft**2))
        has_spread = pooled > min_relative_spread * global_spread
        records.append(
            {
                "element": symbol,
                "Z": atomic_numbers[symbol],
                "n_atoms": int(rows.size),
                "displacement": displacement,
                "excess_displacement": float(np.linalg.norm(centre_ft - centre_pre - global_shift)),
                "mean_atom_displacement": float(np.linalg.norm(ft - pre, axis=1).mean()),
                "spread_pre": spread_pre,
                "spread_ft": spread_ft,
                "relative_displacement": displacement / pooled if has_spread else np.nan,
                "relative_to_global": displacement / global_spread if global_spread > 0 else np.nan,
            }
        )
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- raw space
def atom_norms(raw_pre: Any, raw_ft: Any, elements: Any) -> pd.DataFrame:
    r"""Per-atom raw-embedding norms under both checkpoints and their ratio.

    Returns
    -------
    DataFrame with one row per atom (input order): ``element, norm_pre, norm_ft, ratio``
    where ``ratio`` :math:`= \|e^{ft}_i\| / \|e^{pre}_i\|`. Raises if a pre-trained embedding is
    the zero vector (its ratio is undefined).
    """
    raw_pre, raw_ft, elements = _check_pair(raw_pre, raw_ft, elements, same_width=False)
    norm_pre = np.linalg.norm(raw_pre, axis=1)
    norm_ft = np.linalg.norm(raw_ft, axis=1)
    if np.any(norm_pre == 0):
        raise DriftInputError(f"pre has {int(np.sum(norm_pre == 0))} zero embedding(s): norm ratio undefined")
    return pd.DataFrame({"element": elements, "norm_pre": norm_pre, "norm_ft": norm_ft, "ratio": norm_ft / norm_pre})


def norm_ratios(raw_pre: Any, raw_ft: Any, elements: Any) -> pd.DataFrame:
    """Per-element norm collapse in raw space (fine-tuned / pre-trained).

    Returns
    -------
    DataFrame, one row per element (by atomic number): ``element, Z, n_atoms, mean_norm_pre,
    mean_norm_ft, norm_ratio`` (ratio of the mean norms) and ``median_atom_ratio`` (median of
    the per-atom ratios of :func:`atom_norms`).
    """
    norms = atom_norms(raw_pre, raw_ft, elements)
    records = []
    for symbol, rows in _element_groups(norms["element"].to_numpy()):
        part = norms.iloc[rows]
        mean_pre, mean_ft = float(part["norm_pre"].mean()), float(part["norm_ft"].mean())
        records.append(
            {
                "element": symbol,
                "Z": atomic_numbers[symbol],
                "n_atoms": int(rows.size),
                "mean_norm_pre": mean_pre,
                "mean_norm_ft": mean_ft,
                "norm_ratio": mean_ft / mean_pre,
                "median_atom_ratio": float(part["ratio"].median()),
            }
        )
    return pd.DataFrame(records)


def norm_quantiles(norms: pd.DataFrame, quantiles: Sequence[float] = NORM_QUANTILES) -> pd.DataFrame:
    """Quantiles of the per-atom norm distributions (all atoms) from an :func:`atom_norms` table.

    Returns
    -------
    DataFrame with columns ``quantity`` (``norm_pre``, ``norm_ft``, ``ratio``), ``quantile``,
    ``value``, plus ``mean`` and ``n_atoms`` of that quantity.
    """
    missing = {"norm_pre", "norm_ft", "ratio"} - set(norms.columns)
    if missing:
        raise DriftInputError(f"norms lacks column(s) {sorted(missing)}: pass the output of atom_norms")
    quantiles = np.asarray(quantiles, dtype=float)
    if quantiles.ndim != 1 or quantiles.size == 0 or np.any((quantiles < 0) | (quantiles > 1)):
        raise DriftInputError(f"quantiles must be a non-empty list of values in [0, 1], got {quantiles.tolist()}")
    records = []
    for quantity in ("norm_pre", "norm_ft", "ratio"):
        values = norms[quantity].to_numpy()
        for q, value in zip(quantiles, np.quantile(values, quantiles)):
            records.append({"quantity": quantity, "quantile": float(q), "value": float(value),
                            "mean": float(values.mean()), "n_atoms": int(values.size)})
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- reconstruction
def pair_reconstruction(
    embeddings: Mapping[str, Any],
    pre: str,
    fine_tuned: str,
    references: Sequence[str] = (),
    n_atoms: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """GFRE between a drift pair in both directions, and between the fine-tuned model and references.

    Parameters
    ----------
    embeddings : mapping model -> array (n_atoms, d_model), rows matched across models and finite
    pre, fine_tuned : the pair's model names (keys of ``embeddings``)
    references : other models compared with ``fine_tuned`` in both directions (the baseline
        against which a pre-training bias shows)
    n_atoms : if given and smaller than the row count, a seeded random subsample of rows used for
        every GFRE of the call (the scikit-matter 50/50 split is then drawn inside it)
    seed : seed of that subsample

    Returns
    -------
    DataFrame with ``source, target, role, gfre, n_atoms``; ``role`` is ``pre->ft``, ``ft->pre``,
    ``reference->ft`` or ``ft->reference``.
    """
    names = [pre, fine_tuned, *references]
    missing = [m for m in names if m not in embeddings]
    if missing:
        raise DriftInputError(f"no embeddings for {missing}; have {sorted(embeddings)}")
    if pre in references or fine_tuned in references:
        raise DriftInputError("references must not contain the pair's own models")
    arrays = {m: _check_matrix(embeddings[m], m) for m in dict.fromkeys(names)}
    n_rows = {a.shape[0] for a in arrays.values()}
    if len(n_rows) != 1:
        raise DriftInputError(f"all embeddings must have the same rows, got row counts {sorted(n_rows)}")
    total = n_rows.pop()
    rows = np.arange(total)
    if n_atoms is not None:
        if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)) or n_atoms < 4:
            raise DriftInputError(f"n_atoms must be an integer >= 4 or None, got {n_atoms!r}")
        if n_atoms < total:
            rows = np.sort(np.random.default_rng(seed).choice(total, size=int(n_atoms), replace=False))
    directions = [(pre, fine_tuned, "pre->ft"), (fine_tuned, pre, "ft->pre")]
    for reference in references:
        directions += [(reference, fine_tuned, "reference->ft"), (fine_tuned, reference, "ft->reference")]
    return pd.DataFrame(
        [
            {
                "source": source,
                "target": target,
                "role": role,
                "gfre": global_reconstruction_error(arrays[source][rows], arrays[target][rows]),
                "n_atoms": int(rows.size),
            }
            for source, target, role in directions
        ]
    )


# --------------------------------------------------------------------------- dimers
def dimer_atoms(
    element: str, distance: float, box_length: float = DEFAULT_BOX_LENGTH, partner: str | None = None
) -> Atoms:
    """Two atoms ``distance`` Å apart along x, centred in a periodic cubic box of side ``box_length``."""
    partner = element if partner is None else partner
    for symbol in (element, partner):
        if symbol not in atomic_numbers:
            raise DriftInputError(f"unknown element symbol {symbol!r}")
    centre = 0.5 * box_length
    positions = [[centre - 0.5 * distance, centre, centre], [centre + 0.5 * distance, centre, centre]]
    return Atoms([element, partner], positions=positions, cell=[box_length] * 3, pbc=True)


def _check_distances(distances: Any, box_length: float) -> np.ndarray:
    distances = np.asarray(distances, dtype=float)
    if distances.ndim != 1 or distances.size < 3 or not np.all(np.isfinite(distances)) or np.any(distances <= 0):
        raise DriftInputError(f"distances must be at least 3 finite positive values, got {distances.tolist()}")
    if np.any(np.diff(distances) <= 0):
        raise DriftInputError("distances must be strictly increasing")
    if box_length - distances.max() < MIN_IMAGE_GAP:
        raise DriftInputError(
            f"box_length {box_length} Å leaves less than {MIN_IMAGE_GAP} Å between an atom and its partner's "
            f"periodic image at r = {distances.max()} Å: use a box of at least {distances.max() + MIN_IMAGE_GAP} Å"
        )
    return distances


def _energy(calculator: Any, atoms: Atoms) -> float:
    atoms.calc = calculator
    return float(atoms.get_potential_energy())


def dimer_curve(
    calculator: Any,
    element: str,
    distances: Any = DEFAULT_DISTANCES,
    box_length: float = DEFAULT_BOX_LENGTH,
    partner: str | None = None,
) -> pd.DataFrame:
    """Energy of a dimer at each distance from one ASE calculator.

    Parameters
    ----------
    calculator : ASE calculator (energy at least)
    element, partner : the two species (``partner`` defaults to ``element``: homonuclear)
    distances : increasing distances in Å
    box_length : side of the periodic cubic box in Å (see the module docstring)

    Returns
    -------
    DataFrame with ``dimer`` (e.g. ``"Cu-Cu"``), ``distance``, ``energy`` (eV),
    ``isolated_energy`` (sum of the two single-atom energies in the same box) and
    ``binding_energy`` = ``energy - isolated_energy``.
    """
    partner = element if partner is None else partner
    distances = _check_distances(distances, box_length)
    single = {}
    for symbol in dict.fromkeys((element, partner)):
        single[symbol] = _energy(calculator, Atoms([symbol], positions=[[0.5 * box_length] * 3],
                                                   cell=[box_length] * 3, pbc=True))
    isolated = single[element] + single[partner]
    energies = np.array([_energy(calculator, dimer_atoms(element, r, box_length, partner)) for r in distances])
    return pd.DataFrame(
        {
            "dimer": f"{element}-{partner}",
            "distance": distances,
            "energy": energies,
            "isolated_energy": isolated,
            "binding_energy": energies - isolated,
        }
    )


@functools.lru_cache(maxsize=None)
def checkpoint_calculator(model: str, device: str = "cpu") -> Any:
    """The ASE calculator of a registered checkpoint, built once per (model, device) and cached."""
    from platonic.models import load_model

    return load_model(model, device=device).calculator()


def dimer_curves(
    models: Sequence[str],
    elements: Sequence[str] = ("Cu", "Au"),
    distances: Any = DEFAULT_DISTANCES,
    box_length: float = DEFAULT_BOX_LENGTH,
    device: str = "cpu",
    calculators: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Homonuclear dimer curves of every element under every checkpoint.

    ``calculators`` (model -> ASE calculator) overrides :func:`checkpoint_calculator` for the
    models it names; the others are built (once each, cached) from the model registry.

    Returns
    -------
    The :func:`dimer_curve` tables stacked, with a leading ``model`` column.
    """
    distances = _check_distances(distances, box_length)
    calculators = dict(calculators or {})
    tables = []
    for model in models:
        calculator = calculators[model] if model in calculators else checkpoint_calculator(model, device)
        for element in elements:
            table = dimer_curve(calculator, element, distances, box_length)
            table.insert(0, "model", model)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _parabola_vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Vertex (x, y) of the parabola through three points; the middle point if it is not a minimum."""
    a, b, c = np.polyfit(x, y, 2)
    if a <= 0:
        return float(x[1]), float(y[1])
    vertex = -b / (2 * a)
    return float(vertex), float(c - b * b / (4 * a))


def dimer_minima(
    curves: pd.DataFrame, reference_bond_lengths: Mapping[str, float] = EXPERIMENTAL_BOND_LENGTHS
) -> pd.DataFrame:
    """Equilibrium distance and well depth of every (model, dimer) curve.

    Parameters
    ----------
    curves : output of :func:`dimer_curves` (or :func:`dimer_curve` with a ``model`` column)
    reference_bond_lengths : element -> experimental r_e in Å, matched to homonuclear dimers

    Returns
    -------
    DataFrame with ``model, dimer, r_eq, well_depth, min_at_grid_edge, binding_at_largest_r,
    experimental_r_e, r_eq_minus_experimental``. ``r_eq`` is the grid minimum of the binding
    energy refined by the parabola through it and its neighbours, ``well_depth`` = minus the
    binding energy there (eV, > 0 for a bound dimer). ``min_at_grid_edge`` flags a minimum on
    the first or last distance (purely repulsive or purely attractive in the scanned range: no
    refinement). ``binding_at_largest_r`` shows whether the curve has flattened.
    """
    needed = {"model", "dimer", "distance", "binding_energy"}
    if needed - set(curves.columns):
        raise DriftInputError(f"curves lacks column(s) {sorted(needed - set(curves.columns))}")
    records = []
    for (model, dimer), part in curves.groupby(["model", "dimer"], sort=False):
        part = part.sort_values("distance")
        r, e = part["distance"].to_numpy(), part["binding_energy"].to_numpy()
        i = int(np.argmin(e))
        at_edge = i in (0, r.size - 1)
        r_eq, e_min = (float(r[i]), float(e[i])) if at_edge else _parabola_vertex(r[i - 1 : i + 2], e[i - 1 : i + 2])
        first, second = dimer.split("-")
        reference = reference_bond_lengths.get(first, np.nan) if first == second else np.nan
        records.append(
            {
                "model": model,
                "dimer": dimer,
                "r_eq": r_eq,
                "well_depth": -e_min,
                "min_at_grid_edge": at_edge,
                "binding_at_largest_r": float(e[-1]),
                "experimental_r_e": reference,
                "r_eq_minus_experimental": r_eq - reference,
            }
        )
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- figures
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pair_panels(table: pd.DataFrame, width_per_element: float = 0.28):
    plt = _pyplot()
    pairs = list(dict.fromkeys(table["pair"]))
    n_elements = max(len(table[table["pair"] == p]) for p in pairs)
    fig, axes = plt.subplots(len(pairs), 1, figsize=(max(6.0, width_per_element * n_elements + 2), 3.2 * len(pairs)),
                             squeeze=False)
    return fig, [(pair, table[table["pair"] == pair], ax) for pair, ax in zip(pairs, axes[:, 0])]


def plot_element_displacement(table: pd.DataFrame) -> Any:
    """Per-element centroid shift, total and net of the common shift, one panel per pair.

    Both are divided by the global spread of the pre-trained cloud; ``table`` is
    :func:`element_displacement` output with a ``pair`` column.
    """
    fig, panels = _pair_panels(table)
    for pair, part, ax in panels:
        x = np.arange(len(part))
        scale = part["displacement"] / part["relative_to_global"]
        ax.bar(x - 0.2, part["relative_to_global"], width=0.4, label="total shift")
        ax.bar(x + 0.2, part["excess_displacement"] / scale, width=0.4, label="net of the common shift")
        ax.set_xticks(x, part["element"])
        ax.set_ylabel("centroid shift / global spread")
        ax.legend(fontsize=7)
        ax.set_title(f"{pair}: per-element displacement (unified space)")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    fig.tight_layout()
    return fig


def plot_norm_ratios(table: pd.DataFrame) -> Any:
    """Bars of the per-element raw norm ratio drawn from 1 (no change), one panel per pair."""
    fig, panels = _pair_panels(table)
    for pair, part, ax in panels:
        colours = np.where(part["norm_ratio"] < 1, "tab:red", "tab:green")
        ax.bar(part["element"], part["norm_ratio"] - 1.0, bottom=1.0, color=colours)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_ylabel("mean norm ft / pre")
        ax.set_title(f"{pair}: raw-norm ratio per element (< 1: collapse)")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    fig.tight_layout()
    return fig


def plot_norm_distribution(norms: pd.DataFrame, bins: int = 60) -> Any:
    """Histograms of per-atom raw norms (pre vs fine-tuned), one panel per pair (``pair`` column)."""
    plt = _pyplot()
    pairs = list(dict.fromkeys(norms["pair"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.0 * len(pairs), 3.6), squeeze=False)
    for pair, ax in zip(pairs, axes[0]):
        part = norms[norms["pair"] == pair]
        edges = np.histogram_bin_edges(np.concatenate([part["norm_pre"], part["norm_ft"]]), bins=bins)
        ax.hist(part["norm_pre"], bins=edges, alpha=0.6, label="pre-trained")
        ax.hist(part["norm_ft"], bins=edges, alpha=0.6, label="fine-tuned")
        ax.set_xlabel("raw embedding norm")
        ax.set_ylabel("atoms")
        ax.set_title(pair, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_dimer_curves(
    curves: pd.DataFrame, minima: pd.DataFrame | None = None, ylim: tuple[float, float] | None = None
) -> Any:
    """Binding energy E(r) - E_isolated per dimer (one panel each), one line per checkpoint.

    Experimental bond lengths from ``minima`` are drawn as dashed vertical lines. The y range
    defaults to a window around the deepest well (short-range repulsion is cut off).
    """
    plt = _pyplot()
    dimers = list(dict.fromkeys(curves["dimer"]))
    fig, axes = plt.subplots(1, len(dimers), figsize=(5.0 * len(dimers), 3.8), squeeze=False)
    for dimer, ax in zip(dimers, axes[0]):
        part = curves[curves["dimer"] == dimer]
        for model, line in part.groupby("model", sort=False):
            ax.plot(line["distance"], line["binding_energy"], label=model)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        if minima is not None:
            reference = minima.loc[minima["dimer"] == dimer, "experimental_r_e"].dropna()
            if not reference.empty:
                ax.axvline(float(reference.iloc[0]), color="black", linestyle="--", linewidth=0.8,
                           label=f"experiment r_e = {float(reference.iloc[0]):.2f} Å")
        low = float(part["binding_energy"].min())
        ax.set_ylim(ylim if ylim is not None else (1.2 * min(low, -0.5), max(1.0, -0.8 * low)))
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("E(r) - E(isolated) (eV)")
        ax.set_title(f"{dimer} dimer")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- report
def _matrix(value: Any) -> np.ndarray:
    """An array given directly or as a path to a ``.npy`` file (memory-mapped)."""
    if isinstance(value, (str, Path)):
        return np.load(value, mmap_mode="r")
    return np.asarray(value)


def _trained_models(store: Any, models: Sequence[str]) -> list[str]:
    return [m for m in models if store.card(m)["card"].get("trained", True)]


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def _pair_tables(
    label: str,
    pre: str,
    ft: str,
    references: Sequence[str],
    raw: Mapping[str, np.ndarray],
    unified: Mapping[str, Any],
    elements: np.ndarray,
    n_gfre_atoms: int | None,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Every table of one pair, each with leading ``pair, pre, fine_tuned`` columns."""
    z_pre, z_ft = _matrix(unified[pre]), _matrix(unified[ft])
    both = np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in (raw[pre], raw[ft], z_pre, z_ft)])
    rows = np.flatnonzero(both)
    norms = atom_norms(raw[pre][rows], raw[ft][rows], elements[rows])
    tables = {
        "displacement": element_displacement(z_pre[rows], z_ft[rows], elements[rows]),
        "norm_ratio": norm_ratios(raw[pre][rows], raw[ft][rows], elements[rows]),
        "norm_quantiles": norm_quantiles(norms),
        "norms": norms,
    }
    models = [pre, ft, *references]
    gfre_rows = np.flatnonzero(both & np.logical_and.reduce([np.isfinite(raw[m]).all(axis=1) for m in models]))
    gfre = []
    for space, source in (("raw", raw), ("unified", {m: _matrix(unified[m]) for m in models})):
        part = pair_reconstruction({m: source[m][gfre_rows] for m in models}, pre, ft, references,
                                   n_atoms=n_gfre_atoms, seed=seed)
        part.insert(0, "space", space)
        gfre.append(part)
    tables["gfre"] = pd.concat(gfre, ignore_index=True)
    summary = {
        "n_atoms": int(rows.size),
        "rows_excluded": int(elements.size - rows.size),
        "mean_atom_displacement": float(np.linalg.norm(np.asarray(z_ft[rows], float) - np.asarray(z_pre[rows], float),
                                                       axis=1).mean()),
        "norm_ratio_all": float(norms["norm_ft"].mean() / norms["norm_pre"].mean()),
        "median_atom_ratio": float(norms["ratio"].median()),
    }
    for (space, role), values in tables["gfre"].groupby(["space", "role"], sort=False)["gfre"]:
        name = f"gfre_{space}_{role.replace('->', '_to_')}"
        summary[name + ("_mean" if "reference" in role else "")] = float(values.mean())
    tables["summary"] = pd.DataFrame([summary])
    for table in tables.values():
        table.insert(0, "fine_tuned", ft)
        table.insert(0, "pre", pre)
        table.insert(0, "pair", label)
    return tables


def drift_report(
    store: Any,
    unified: Mapping[str, Any],
    out_dir: str | Path,
    pairs: Sequence[tuple[str, str]] = DEFAULT_DRIFT_PAIRS,
    references: Sequence[str] | None = None,
    dimers: bool = True,
    dimer_elements: Sequence[str] = ("Cu", "Au"),
    distances: Any = DEFAULT_DISTANCES,
    box_length: float = DEFAULT_BOX_LENGTH,
    n_gfre_atoms: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Path]:
    """Every drift view for every pair, written as CSV tables and PNG figures.

    Parameters
    ----------
    store : :class:`platonic.store.EmbeddingStore` holding every model of ``pairs``
    unified : model -> unified-space matrix (array or ``.npy`` path), same anchors for all
    out_dir : output directory (created)
    pairs : (pre-trained, fine-tuned) model pairs
    references : models compared with each fine-tuned model by GFRE; default every trained model
        of the store outside the pair (random-weight controls left out)
    dimers : also compute the dimer curves (loads each checkpoint's calculator once)
    dimer_elements, distances, box_length, device : see :func:`dimer_curves`
    n_gfre_atoms, seed : optional seeded row subsample for the GFRE (:func:`pair_reconstruction`)

    Rows used per pair: the atoms that both checkpoints embedded (``n_atoms`` and
    ``rows_excluded`` in ``drift_summary.csv``); the GFRE rows are those also embedded by every
    reference (``n_atoms`` in ``drift_gfre.csv``).

    Returns
    -------
    name -> path of every file written: ``drift_displacement.csv``, ``drift_norm_ratio.csv``,
    ``drift_norm_quantiles.csv``, ``drift_gfre.csv``, ``drift_summary.csv`` and three figures;
    with ``dimers`` also ``drift_dimer_curves.csv``, ``drift_dimer_minima.csv`` and
    ``drift_dimers.png``.
    """
    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise DriftInputError(f"pairs must be a non-empty list of (pre-trained, fine-tuned) names, got {pairs}")
    available = store.models()
    pair_models = list(dict.fromkeys(m for p in pairs for m in p))
    needed = pair_models + [m for m in (references or []) if m not in pair_models]
    missing = [m for m in needed if m not in available or m not in unified]
    if missing:
        raise DriftInputError(f"models {missing} lack raw or unified embeddings; the store has {available}, "
                              f"the unified matrices {sorted(unified)}")
    if dimers:
        distances = _check_distances(distances, box_length)
    candidates = list(references) if references is not None else [
        m for m in _trained_models(store, available) if m in unified]
    elements = store.atom_table()["element"].to_numpy().astype(str)
    raw: dict[str, np.ndarray] = {}
    parts: dict[str, list[pd.DataFrame]] = {}
    for pre, ft in pairs:
        pair_refs = [m for m in candidates if m not in (pre, ft)]
        for m in (pre, ft, *pair_refs):
            if m not in raw:
                raw[m] = store.load(m)
        pair_tables = _pair_tables(f"{pre} -> {ft}", pre, ft, pair_refs, raw, unified, elements, n_gfre_atoms, seed)
        for name, table in pair_tables.items():
            parts.setdefault(name, []).append(table)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    paths = {}
    for name in ("displacement", "norm_ratio", "norm_quantiles", "gfre", "summary"):
        paths[f"drift_{name}"] = out / f"drift_{name}.csv"
        tables[name].to_csv(paths[f"drift_{name}"], index=False)
    paths["drift_displacement_png"] = _save(plot_element_displacement(tables["displacement"]),
                                            out / "drift_displacement.png")
    paths["drift_norm_ratio_png"] = _save(plot_norm_ratios(tables["norm_ratio"]), out / "drift_norm_ratio.png")
    paths["drift_norm_distribution_png"] = _save(plot_norm_distribution(tables["norms"]),
                                                 out / "drift_norm_distribution.png")
    if dimers:
        curves = dimer_curves(pair_models, dimer_elements, distances, box_length, device=device)
        minima = dimer_minima(curves)
        paths["drift_dimer_curves"] = out / "drift_dimer_curves.csv"
        curves.to_csv(paths["drift_dimer_curves"], index=False)
        paths["drift_dimer_minima"] = out / "drift_dimer_minima.csv"
        minima.to_csv(paths["drift_dimer_minima"], index=False)
        paths["drift_dimers_png"] = _save(plot_dimer_curves(curves, minima), out / "drift_dimers.png")
    return paths
