r"""Element embeddings in the unified space: element means, periodic-group coherence, trajectories.

**Element embedding.** For a model with unified matrix :math:`Z \in [-1, 1]^{n \times K}` (one row
per atom) the embedding of element :math:`e` is the mean over its atoms,
:math:`\bar z_e = \frac{1}{|A_e|} \sum_{i \in A_e} z_i`. Elements with fewer than ``min_atoms``
atoms are kept in the tables with ``included = False`` (and no vector): listed, never dropped.

**Normalised element vectors.** Models sit at different offsets and spreads in the unified space
(CHGNet's cosines to the anchors average about 0.8, a random-weight model's about 0), so every
comparison across elements or models uses, per model, the included element means centred on their
centroid and divided by their root-mean-square distance to it:

.. math::

    u_e = \frac{\bar z_e - c}{s}, \qquad c = \frac{1}{m}\sum_{e'} \bar z_{e'}, \qquad
    s = \Big(\frac{1}{m}\sum_{e'} \|\bar z_{e'} - c\|^2\Big)^{1/2},

over the m included elements. Two random elements are then about :math:`\sqrt 2` apart, which
gives step lengths a scale shared by all models.

**Periodic groups** (:data:`PERIODIC_GROUP_LABELS`, one family per element, from its IUPAC
column; derived from Z by :func:`periodic_position`):

===================== ============================================================
label                 elements
===================== ============================================================
hydrogen              H
alkali metal          group 1 except H (Li, Na, K, Rb, Cs, Fr)
alkaline earth metal  group 2 (Be, Mg, Ca, Sr, Ba, Ra)
transition metal      groups 3–12 outside the f block (Sc, Y, Ti … Zn, Zr … Cd, Hf … Hg, Rf … Cn)
lanthanide            La … Lu
actinide              Ac … Lr
triel                 group 13 (B, Al, Ga, In, Tl, Nh)
tetrel                group 14 (C, Si, Ge, Sn, Pb, Fl)
pnictogen             group 15 (N, P, As, Sb, Bi, Mc)
chalcogen             group 16 (O, S, Se, Te, Po, Lv)
halogen               group 17 (F, Cl, Br, I, At, Ts)
noble gas             group 18 (He, Ne, Ar, Kr, Xe, Rn, Og)
===================== ============================================================

**Group coherence** (:func:`group_coherence`): the silhouette score of the element vectors
labelled by periodic group,
:math:`S = \frac{1}{m}\sum_e \frac{b_e - a_e}{\max(a_e, b_e)}`, with :math:`a_e` the mean distance
of e to the other elements of its group and :math:`b_e` the smallest mean distance to another
group. The distance is Euclidean (default) or cosine; cosine is taken between the *centred*
vectors :math:`u_e`, since the cosine of the raw means is dominated by the offset all elements
share. Groups with a single included element have no :math:`a_e` (scikit-learn would count them as
0) and are left out, and listed. The chance baseline is a label-permutation null: the group labels
are shuffled among the same elements (group sizes kept) ``n_permutations`` times with a seeded
generator, giving the null mean and standard deviation, :math:`z = (S - \mu_0)/\sigma_0` and the
permutation p-value :math:`(1 + \#\{S_0 \ge S\}) / (1 + n_\text{perm})`. A random-weight model
should score near the null (the dummy control); trained models well above it.

**Trajectories** (:func:`element_trajectories`): for each sequence down a periodic group
(:data:`GROUP_SEQUENCES`, e.g. F → Cl → Br → I) the path of the element vectors. Coordinates for
plots come from one PCA shared by the models (:func:`add_shared_pca`): fitted on the stacked
normalised vectors :math:`u_e` of the ``fit_models``, so all models are drawn in the same two axes
and no model weighs more for having a larger spread. The numbers are in the full K dimensions: the
step length :math:`\|u_{e_{j+1}} - u_{e_j}\|`, the cosine between consecutive steps (1 = a straight
path) and the cosine of each step with the same step of a reference model (do models agree on the
direction of the trend?).
"""

from ._checks import ChemistryInputError, vector_columns
from .coherence import COHERENCE_METRICS, GroupCoherence, coherence_tables, element_trajectories, group_coherence
from .means import add_shared_pca, element_means, element_table, normalised_vectors, table_vectors
from .periodic import GROUP_SEQUENCES, MAX_Z, PERIODIC_GROUP_LABELS, PeriodicPosition, periodic_position, periodic_table

__all__ = [
    "COHERENCE_METRICS", "GROUP_SEQUENCES", "MAX_Z", "PERIODIC_GROUP_LABELS", "ChemistryInputError", "GroupCoherence",
    "PeriodicPosition", "add_shared_pca", "coherence_tables", "element_means", "element_table",
    "element_trajectories", "group_coherence", "normalised_vectors", "periodic_position", "periodic_table",
    "table_vectors", "vector_columns",
]
