r"""Nulls for the embedding arithmetic: does a c-sim tell matched from mismatched materials?

A c-sim of Table 1 (:mod:`platonic.analyse.arithmetic`) is a cosine between two models' vectors
of the same material or reaction. Unified coordinates carry a large common component (every
atom has similar positive cosines to most anchors), so such a cosine can be high for *any*
pair of materials. Each c-sim is therefore read against the same cosine between vectors that
should *not* match, built from the store's structures:

* **material**: matched :math:`\cos(\mathbf v^m_s, \mathbf v^\mathrm{ref}_s)`; mismatched
  :math:`\cos(\mathbf v^m_s, \mathbf v^\mathrm{ref}_t)` for other structures :math:`t`;
* **reaction**: a random "reaction" of three unrelated structures :math:`(a, b, c)` of the
  store, :math:`\mathbf r = \mathbf v_c - \mathbf v_a - \mathbf v_b`; matched
  :math:`\cos(\mathbf r^m_i, \mathbf r^\mathrm{ref}_i)`, mismatched the same with another
  triple's :math:`\mathbf r^\mathrm{ref}_j`;
* **stitched**: reactants from the reference, product from model :math:`m`,
  :math:`\mathbf s^m_i = \mathbf v^m_{c} - \mathbf v^\mathrm{ref}_{a} - \mathbf v^\mathrm{ref}_{b}`,
  against :math:`\mathbf r^\mathrm{ref}_i`; mismatched: the product replaced by a random
  structure :math:`q`, :math:`\mathbf v^m_q - \mathbf v^\mathrm{ref}_a - \mathbf v^\mathrm{ref}_b`;
* **polymorph**: two structures :math:`(a, b)` of the same reduced formula (Table 1's TiO2 Pbcn −
  rutile), :math:`\mathbf d = \mathbf v_a - \mathbf v_b`; matched
  :math:`\cos(\mathbf d^m_i, \mathbf d^\mathrm{ref}_i)`, mismatched against another same-formula
  pair's :math:`\mathbf d^\mathrm{ref}_j`. Composition cancels in :math:`\mathbf d`, so what is left
  is structure; centring cancels too (same atoms per formula unit), so both centrings give the
  same row. A store with fewer than two same-formula pairs gets a row of NaN with ``n_queries`` 0.

For each query :math:`i` with matched score :math:`c_i` and ``n_candidates - 1`` mismatched
scores :math:`c_{ij}`, :func:`matched_vs_mismatched` reports the **margin**
:math:`\overline{c_i} - \overline{c_{ij}}` and the **retrieval rank** of the true partner
among the ``n_candidates``, :math:`\mathrm{rank}_i = 1 + \#\{j : c_{ij} > c_i\} +
\tfrac12 \#\{j : c_{ij} = c_i\}` (chance: mean rank :math:`(N + 1)/2`, top-1 rate
:math:`1/N`).

Vectors, in the two definitions of :mod:`platonic.analyse.arithmetic`:

* ``basis="material"`` (the paper): :math:`\mathbf v_s = \bar{\mathbf z}_s`, the mean unified
  vector of the structure's atoms;
* ``basis="formula_unit"`` (ours): :math:`\mathbf v_s = \frac{1}{n_\mathrm{fu}} \sum_{i} \mathbf
  z_i`, one formula unit of the reduced formula (:math:`n_\mathrm{fu}` units in the cell);

each un-centred (``centring="none"``, the paper) or centred (``"dataset"``): every atom's
:math:`\mathbf z_i - \boldsymbol\mu_m`, with :math:`\boldsymbol\mu_m` model :math:`m`'s mean
unified vector over the atoms used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from platonic.analyse.arithmetic_vectors import BASES
from platonic.analyse.unified_space import CENTRINGS, EmbeddingArithmeticError
from platonic.errors import NotApplicableError

CASES = ("material", "reaction", "stitched", "polymorph")
NULL_COLUMNS = ["case", "basis", "centring", "model", "reference", "matched", "mismatched", "margin", "mean_rank",
                "chance_rank", "top1", "chance_top1", "n_queries", "n_candidates", "n_structures"]


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of broadcastable arrays (last axis the vector); NaN where a norm is zero."""
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, np.einsum("...k,...k->...", a, b) / norms, np.nan)


def matched_vs_mismatched(matched: np.ndarray, mismatched: np.ndarray) -> dict[str, float]:
    """Margin and retrieval rank of matched scores against mismatched ones.

    Parameters
    ----------
    matched : (n,) scores of the true pairs.
    mismatched : (n, c) scores of each query against c wrong partners (n_candidates = c + 1).

    Returns
    -------
    dict: ``matched`` and ``mismatched`` (means), ``margin`` (their difference), ``mean_rank``
    (module docstring; ties count half), ``chance_rank`` = (c + 2) / 2, ``top1`` (share of
    queries whose true partner scores strictly highest), ``chance_top1`` = 1 / (c + 1),
    ``n_queries``, ``n_candidates``.
    """
    matched = np.asarray(matched, dtype=np.float64)
    mismatched = np.asarray(mismatched, dtype=np.float64)
    if matched.ndim != 1 or mismatched.ndim != 2 or mismatched.shape[0] != matched.shape[0] or not matched.size:
        raise EmbeddingArithmeticError(f"matched must be (n,) and mismatched (n, c), got {matched.shape} and "
                                       f"{mismatched.shape}")
    if not (np.isfinite(matched).all() and np.isfinite(mismatched).all()):
        raise EmbeddingArithmeticError("matched and mismatched scores must be finite (a zero vector has no cosine)")
    above = (mismatched > matched[:, None]).sum(axis=1)
    ties = (mismatched == matched[:, None]).sum(axis=1)
    rank = 1.0 + above + 0.5 * ties
    n_candidates = mismatched.shape[1] + 1
    return {"matched": float(matched.mean()), "mismatched": float(mismatched.mean()),
            "margin": float(matched.mean() - mismatched.mean()), "mean_rank": float(rank.mean()),
            "chance_rank": (n_candidates + 1) / 2.0, "top1": float(((above == 0) & (ties == 0)).mean()),
            "chance_top1": 1.0 / n_candidates, "n_queries": int(matched.size), "n_candidates": n_candidates}


def formula_units_per_structure(atom_table: pd.DataFrame) -> np.ndarray:
    """Formula units of the reduced formula in each structure's cell (atoms / atoms per formula unit)."""
    per_structure = atom_table.groupby("structure_index", sort=True).agg(formula=("formula", "first"),
                                                                         n_atoms=("row", "size"))
    atoms_per_unit = {formula: Composition(formula).num_atoms for formula in per_structure["formula"].unique()}
    # the atom table's formula column is categorical, and mapping distinct values keeps that dtype: divide floats
    units = per_structure["formula"].astype(str).map(atoms_per_unit).to_numpy(dtype=np.float64)
    return per_structure["n_atoms"].to_numpy(dtype=np.float64) / units


def structure_vectors(z: np.ndarray, offsets: np.ndarray, units: np.ndarray, basis: str,
                      centre: np.ndarray | None = None) -> np.ndarray:
    """One vector per structure: mean of its atoms (``"material"``) or sum / formula units (``"formula_unit"``).

    ``centre`` (K,) is subtracted from every atom first.
    """
    if basis not in BASES:
        raise EmbeddingArithmeticError(f"basis must be one of {BASES}, got {basis!r}")
    z = np.asarray(z, dtype=np.float64)
    if centre is not None:
        z = z - centre
    sums = np.add.reduceat(z, offsets[:-1], axis=0)
    divisor = np.diff(offsets) if basis == "material" else units
    return sums / np.asarray(divisor, dtype=np.float64)[:, None]


def _same_formula_pairs(formulas: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) indices of structure pairs sharing a reduced formula: all of them, or ``n_max`` drawn."""
    pairs = [(members[i], members[j])
             for members in pd.Series(np.arange(formulas.size)).groupby(formulas).agg(list)
             for i in range(len(members)) for j in range(i + 1, len(members))]
    pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) > n_max:
        pairs = pairs[np.sort(rng.choice(len(pairs), size=n_max, replace=False))]
    return pairs


def _others(rng: np.random.Generator, n: int, size: tuple[int, ...], exclude: np.ndarray) -> np.ndarray:
    """Random indices in 0..n-1 of shape ``size``, none equal to ``exclude`` (broadcast on the first axis)."""
    draw = rng.integers(0, n - 1, size=size)
    return draw + (draw >= exclude.reshape(-1, *[1] * (len(size) - 1)))


def arithmetic_null(
    unified: Mapping[str, np.ndarray],
    atom_table: pd.DataFrame,
    reference: str,
    models: Sequence[str] | None = None,
    *,
    n_queries: int = 500,
    n_candidates: int = 20,
    bases: Sequence[str] = BASES,
    centrings: Sequence[str] = CENTRINGS,
    random_state: int = 0,
) -> pd.DataFrame:
    """Matched-vs-mismatched margin and retrieval rank of every c-sim kind, per model (module docstring).

    Parameters
    ----------
    unified : model -> (n_atoms, K) unified matrix whose rows are the atom table's; NaN rows
        (rejected structures) drop the structure for every model.
    atom_table : the store's atom table (``row``, ``structure_index``, ``formula``).
    reference : the model every c-sim is measured against (and the reactant model of stitching).
    models : default every key of ``unified``; the reference is added.
    n_queries : structures (material) or random triples (reaction, stitched) scored; at most
        the number of structures for the material case.
    n_candidates : N, the true partner and N - 1 mismatched ones per query (at most the number of
        structures; the table's ``n_candidates`` says what was used). Fewer than 4 structures:
        :class:`~platonic.errors.NotApplicableError`.
    bases, centrings : which definitions to score (default all).
    random_state : seed of the draws (the same draws for every model).

    Returns
    -------
    DataFrame with :data:`NULL_COLUMNS`, one row per case, basis, centring and model.
    """
    models = list(dict.fromkeys([reference, *(unified if models is None else models)]))
    missing = [model for model in models if model not in unified]
    if missing:
        raise EmbeddingArithmeticError(f"no unified matrix for {missing}; have {sorted(unified)}")
    matrices = {model: np.asarray(unified[model]) for model in models}
    structure = atom_table["structure_index"].to_numpy()
    finite = np.logical_and.reduce([np.isfinite(matrix).all(axis=1) for matrix in matrices.values()])
    complete = pd.Series(finite).groupby(structure).transform("all").to_numpy()
    rows = np.flatnonzero(complete)
    table = atom_table.iloc[rows]
    used_structures = table["structure_index"].to_numpy()
    starts = np.flatnonzero(np.r_[True, used_structures[1:] != used_structures[:-1]])
    offsets = np.r_[starts, rows.size]
    n_structures = starts.size
    if n_candidates < 2:
        raise EmbeddingArithmeticError(f"n_candidates must be >= 2, got {n_candidates}")
    if n_structures < 4:
        raise NotApplicableError(f"the arithmetic null needs at least 4 structures every model embedded, "
                                 f"have {n_structures}")
    n_candidates = min(n_candidates, n_structures)  # a small store offers fewer wrong partners
    units = formula_units_per_structure(table)
    rng = np.random.default_rng(random_state)
    n_material = min(n_queries, n_structures)
    material_queries = rng.choice(n_structures, size=n_material, replace=False)
    material_wrong = _others(rng, n_structures, (n_material, n_candidates - 1), material_queries)
    triples = np.stack([rng.choice(n_structures, size=3, replace=False) for _ in range(n_queries)])
    reaction_wrong = _others(rng, n_queries, (n_queries, n_candidates - 1), np.arange(n_queries))
    product_wrong = _others(rng, n_structures, (n_queries, n_candidates - 1), triples[:, 2])
    pairs = _same_formula_pairs(table["formula"].to_numpy()[starts], n_queries, rng)
    n_pair_candidates = min(n_candidates, len(pairs))
    pair_wrong = (_others(rng, len(pairs), (len(pairs), n_pair_candidates - 1), np.arange(len(pairs)))
                  if len(pairs) >= 2 else None)

    records = []
    for centring in centrings:
        if centring not in CENTRINGS:
            raise EmbeddingArithmeticError(f"centring must be one of {CENTRINGS}, got {centring!r}")
        for basis in bases:
            vectors = {}
            for model in models:
                z = matrices[model][rows].astype(np.float64)
                centre = z.mean(axis=0) if centring == "dataset" else None
                vectors[model] = structure_vectors(z, offsets, units, basis, centre)
            ref = vectors[reference]
            ref_reaction = ref[triples[:, 2]] - ref[triples[:, 0]] - ref[triples[:, 1]]
            ref_reactants = ref[triples[:, 0]] + ref[triples[:, 1]]
            for model in models:
                own = vectors[model]
                own_reaction = own[triples[:, 2]] - own[triples[:, 0]] - own[triples[:, 1]]
                scores = {
                    "material": (_cosine_rows(own[material_queries], ref[material_queries]),
                                 _cosine_rows(own[material_queries][:, None], ref[material_wrong])),
                    "reaction": (_cosine_rows(own_reaction, ref_reaction),
                                 _cosine_rows(own_reaction[:, None], ref_reaction[reaction_wrong])),
                    "stitched": (_cosine_rows(own[triples[:, 2]] - ref_reactants, ref_reaction),
                                 _cosine_rows(own[product_wrong] - ref_reactants[:, None], ref_reaction[:, None])),
                }
                if pair_wrong is not None:
                    own_difference = own[pairs[:, 0]] - own[pairs[:, 1]]
                    ref_difference = ref[pairs[:, 0]] - ref[pairs[:, 1]]
                    scores["polymorph"] = (_cosine_rows(own_difference, ref_difference),
                                           _cosine_rows(own_difference[:, None], ref_difference[pair_wrong]))
                for case in CASES:
                    summary = (matched_vs_mismatched(*scores[case]) if case in scores else
                               {key: np.nan for key in NULL_COLUMNS[5:12]} | {"n_queries": 0, "n_candidates": 0})
                    records.append({"case": case, "basis": basis, "centring": centring, "model": model,
                                    "reference": reference, **summary, "n_structures": n_structures})
    return pd.DataFrame(records)[NULL_COLUMNS]


def stitched_random_product(
    reactant_vectors: Sequence[np.ndarray],
    product_vector: np.ndarray,
    reference_product: np.ndarray,
    candidate_products: np.ndarray,
) -> dict[str, float]:
    """A stitched reaction's c-sim against the same with the product replaced by random materials.

    Parameters
    ----------
    reactant_vectors : the reference model's reactant vectors (coefficients already applied).
    product_vector : model m's product vector (the stitched side).
    reference_product : the reference model's product vector (its own, un-stitched reaction).
    candidate_products : (c, K) model m's vectors of unrelated materials, each standing in for the
        product.

    Returns
    -------
    dict: ``c_sim`` (the true product), ``null_mean`` and ``null_max`` over the random products,
    ``rank`` of the true product among the c + 1 (1 = best), ``n_random``.
    """
    reactants = np.sum(np.asarray(reactant_vectors, dtype=np.float64), axis=0)
    target = np.asarray(reference_product, dtype=np.float64) - reactants
    true = float(_cosine_rows(np.asarray(product_vector, dtype=np.float64) - reactants, target))
    null = _cosine_rows(np.asarray(candidate_products, dtype=np.float64) - reactants, target[None])
    summary = matched_vs_mismatched(np.array([true]), null[None])
    return {"c_sim": true, "null_mean": float(null.mean()), "null_max": float(null.max()),
            "rank": summary["mean_rank"], "n_random": int(null.size)}


STITCH_NULL_COLUMNS = ["basis", "centring", "model", "reference", "reaction", "c_sim", "null_mean", "null_max", "rank",
                       "n_random"]


def reaction_stitch_null(
    space,
    unified: Mapping[str, np.ndarray],
    atom_table: pd.DataFrame,
    reference: str,
    models: Sequence[str] | None = None,
    *,
    equation: str | None = None,
    reaction_structures: Mapping[str, object] | None = None,
    bases: Sequence[str] = BASES,
    centrings: Sequence[str] = CENTRINGS,
    n_random: int = 200,
    random_state: int = 0,
) -> pd.DataFrame:
    """The Table 1 stitched reaction against random products from the store (:func:`stitched_random_product`).

    The reaction (default Table 1's BaO + TiO2 -> BaTiO3) must have one product. Reactant vectors
    are the reference's, the product model m's, both embedded by ``space``
    (:class:`~platonic.analyse.unified_space.UnifiedSpace`); ``n_random`` structures of the store,
    in model m's unified matrix ``unified[m]``, stand in for the product. Centred rows use the
    space's centroids, as Table 1 does.

    Returns
    -------
    DataFrame with :data:`STITCH_NULL_COLUMNS`, one row per basis, centring and model.
    """
    from platonic.analyse.arithmetic import TABLE1_REACTION, TABLE1_REACTION_STRUCTURES
    from platonic.analyse.arithmetic_vectors import _models_with_reference, formula_unit_vector, material_vector
    from platonic.analyse.reaction import assign_structures, formula_units, parse_reaction

    parsed = parse_reaction(TABLE1_REACTION if equation is None else equation)
    if len(parsed.products) != 1:
        raise EmbeddingArithmeticError(f"the random-product null needs one product, {parsed} has {len(parsed.products)}")
    models, reference = _models_with_reference(space, models, reference)
    assigned = {formula: space.resolve(item) for formula, item in assign_structures(
        parsed, TABLE1_REACTION_STRUCTURES if reaction_structures is None else reaction_structures).items()}
    units = formula_units_per_structure(atom_table)
    structure = atom_table["structure_index"].to_numpy()
    offsets = np.r_[np.flatnonzero(np.r_[True, structure[1:] != structure[:-1]]), structure.size]
    rng = np.random.default_rng(random_state)
    records = []
    for centring in centrings:
        for basis in bases:
            vectors: dict[str, dict[str, np.ndarray]] = {model: {} for model in models}
            for formula, item in assigned.items():
                composition = next(s.composition for s in parsed.species if s.formula == formula)
                n_units = formula_units(item.atoms, composition, label=item.id)
                for model, z in space.atom_vectors(item, models, centring).items():
                    vectors[model][formula] = (formula_unit_vector(z, n_units) if basis == "formula_unit"
                                               else material_vector(z))
            product = parsed.products[0]
            reactants = [float(s.coefficient) * vectors[reference][s.formula] for s in parsed.reactants]
            reference_product = float(product.coefficient) * vectors[reference][product.formula]
            for model in models:
                centre = space.centroids[model] if centring == "dataset" else None
                candidates = structure_vectors(unified[model], offsets, units, basis, centre)
                candidates = candidates[np.isfinite(candidates).all(axis=1)]
                chosen = candidates[rng.choice(len(candidates), size=min(n_random, len(candidates)), replace=False)]
                result = stitched_random_product(reactants, float(product.coefficient) * vectors[model][product.formula],
                                                 reference_product, float(product.coefficient) * chosen)
                records.append({"basis": basis, "centring": centring, "model": model, "reference": reference,
                                "reaction": str(parsed), **result})
    return pd.DataFrame(records)[STITCH_NULL_COLUMNS]
