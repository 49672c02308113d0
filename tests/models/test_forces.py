"""Every trained model we ship against a physical reference: forces on DFT-relaxed structures.

MP-20 structures are relaxed with PBE(+U) in the Materials Project, so a correct potential gives
small forces on them. A model that loads but computes wrong (e.g. TensorNet-MatPES under matgl
3.x/4.x: median |F| 0.21-0.29 eV/Å) fails here while every shape and invariance test passes.
The measure is the median over all force components |F_i,alpha| of 50 val structures (the ones
the model supports), through the package's own ASE calculator.

Measured medians and means of every model: README "Models" (``benchmarks/forces.py`` writes that
table from the same function, :mod:`platonic.models._forces`; ``-s`` prints them here).
"""

from __future__ import annotations

import pytest

from platonic.models import DEFAULT_MODELS, available_models, family_of
from platonic.models._forces import force_summary

#: The acceptance bound of the issue (eV/Å).
MEDIAN_FORCE_BOUND = 0.06
TRAINED = [n for n in DEFAULT_MODELS if family_of(n).variants[n].trained]


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINED)
def test_forces_on_relaxed_structures_are_small(name):
    summary = force_summary(name)
    print(f"{name}: median |F| component {summary.median:.4f}, mean {summary.mean:.4f} eV/Å over "
          f"{summary.structures} structures ({summary.atoms} atoms)")
    assert summary.structures >= 45
    assert summary.median < MEDIAN_FORCE_BOUND


def test_every_trained_default_model_is_checked():
    rows = {r["name"]: r for r in available_models()}
    assert {"chgnet-0.3.0", "sevennet-0", "diep", "tensornet-matpes-pbe", "tensornet-matpes-r2scan"} <= set(TRAINED)
    assert all(rows[n]["trained"] for n in TRAINED)
