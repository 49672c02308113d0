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

from platonic.models import DEFAULT_DRIFT_PAIRS

from ._checks import DEFAULT_BOX_LENGTH, DEFAULT_DISTANCES, EXPERIMENTAL_BOND_LENGTHS, MIN_IMAGE_GAP, NORM_QUANTILES, DriftInputError
from .dimers import checkpoint_calculator, dimer_atoms, dimer_curve, dimer_curves, dimer_minima
from .elements import atom_norms, element_displacement, norm_quantiles, norm_ratios, pair_reconstruction
from .plots import plot_dimer_curves, plot_element_displacement, plot_norm_distribution, plot_norm_ratios
from .report import DriftTables, drift_figures, drift_tables

__all__ = [
    "DEFAULT_BOX_LENGTH", "DEFAULT_DISTANCES", "DEFAULT_DRIFT_PAIRS", "EXPERIMENTAL_BOND_LENGTHS", "MIN_IMAGE_GAP",
    "NORM_QUANTILES", "DriftInputError", "atom_norms", "checkpoint_calculator", "dimer_atoms", "dimer_curve",
    "DriftTables", "dimer_curves", "dimer_minima", "drift_figures", "drift_tables",
    "element_displacement", "norm_quantiles", "norm_ratios",
    "pair_reconstruction", "plot_dimer_curves", "plot_element_displacement", "plot_norm_distribution",
    "plot_norm_ratios",
]
