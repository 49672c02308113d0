r"""Equivariance by two-NN: do symmetry-equivalent atoms get equal embeddings?

An invariant model maps atoms related by a symmetry operation of their crystal to the same
embedding. Within one structure, the distance from atom :math:`i` to its nearest *other* atom
of the same structure in embedding space,

.. math::

    d_1(i) = \min_{j \ne i,\; s(j) = s(i)} \lVert e_i - e_j \rVert_2 ,

is then zero when :math:`i` has a symmetry-equivalent partner (up to float precision and
to how exactly the stored structure is symmetric). A structure of one atom has no other atom:
:math:`d_1 = +\infty`.

Tolerance
---------
An atom is *paired* at tolerance :math:`\tau` when :math:`d_1(i) \le \tau\,\sigma`, and a pair
:math:`(i, j)` of one structure is *predicted equivalent* when
:math:`\lVert e_i - e_j \rVert \le \tau\,\sigma`. The scale :math:`\sigma` is

* ``"relative"`` (default): the RMS row norm of the model's matrix,
  :math:`\sigma = (\frac1N \sum_i \lVert e_i \rVert^2)^{1/2}` over all its finite rows (the
  whole matrix given, not only the selected space groups), so that raw spaces of different
  scale (CHGNet's ~3, SevenNet's ~20, the random MACE's ~4e-3) are compared on one footing;
* ``"absolute"``: :math:`\sigma = 1`, the tolerance in the space's own units.

The default sweep is :math:`\tau \in \{10^{-8}, \dots, 10^{-2}\}`. The embeddings are stored in
float32 (relative precision :math:`6 \times 10^{-8}` per entry), so a relative tolerance below
about :math:`10^{-7}` asks for bitwise-equal rows. Distances are computed in float64 from
differences (never from :math:`\lVert a\rVert^2 + \lVert b\rVert^2 - 2a\cdot b`, whose rounding
error near zero is larger than the smallest tolerances).

Scores
------
Per structure and tolerance:

* ``fraction``: paired atoms / atoms (the quantity of the study);
* ``expected_fraction``: atoms with at least one spglib-equivalent partner / atoms, the fraction
  a perfectly invariant model reaches;
* pairwise ``precision`` and ``recall`` against spglib's equivalence (``equivalent_class`` of the
  atom table): over the :math:`n(n-1)/2` unordered atom pairs of a structure, a pair is truly
  equivalent when both atoms have the same ``equivalent_class``; precision = true positives /
  predicted pairs (NaN without a predicted pair), recall = true positives / equivalent pairs
  (NaN without an equivalent pair).

The ground truth (:func:`equivariance_tables`) is spglib's analysis at the tightest stable
tolerance of a ``symprec`` sweep per structure (:mod:`platonic.diagnose.symmetry`): at the
atom table's 0.1 Å a slightly distorted crystal takes its ideal parent's symmetry, and atoms
equivalent only within that tolerance would lower the recall of every model alike. The space
groups scored are those present in the data (:func:`~platonic.diagnose.symmetry.select_spacegroups`),
not a fixed list. :func:`summarise_two_nn` pools the counts over the structures of a space
group (micro averages), and also gives the plain mean of the per-structure fractions.
"""

from .by_spacegroup import plot_two_nn, spacegroup_counts, summarise_two_nn, two_nn_by_spacegroup
from .report import EquivarianceTables, equivariance_tables
from .two_nn import (DEFAULT_TOLERANCES, PER_STRUCTURE_COLUMNS, STUDY_SPACEGROUPS, SUMMARY_COLUMNS, TOLERANCE_MODES,
                     EmptySpacegroupWarning, EquivarianceInputError, nearest_other_distance, pair_distances,
                     spacegroup_symbol, tolerance_scale, two_nn_equivalence, within_structure_pairs)

__all__ = [
    "DEFAULT_TOLERANCES", "PER_STRUCTURE_COLUMNS", "STUDY_SPACEGROUPS", "SUMMARY_COLUMNS", "TOLERANCE_MODES",
    "EmptySpacegroupWarning", "EquivarianceInputError", "EquivarianceTables", "equivariance_tables", "nearest_other_distance",
    "pair_distances", "plot_two_nn", "spacegroup_counts", "spacegroup_symbol", "summarise_two_nn",
    "tolerance_scale", "two_nn_by_spacegroup", "two_nn_equivalence", "within_structure_pairs",
]
