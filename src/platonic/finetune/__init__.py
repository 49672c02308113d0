"""The fine-tuning experiment of Li & Walsh (Fig 5a-e, S8) made small enough for a CPU.

A foundation model (CHGNet 0.3.0) is fine-tuned on a few hundred Cu cells whose energies and forces
come from a *different* offline model standing in for DFT (SevenNet-0 by default: it is **not**
DFT, and every result says so), once naively (Cu only) and once with replay (the Cu cells mixed
with as many MP-20 structures of other elements labelled the same way). The drift diagnostics of
:mod:`platonic.diagnose.drift` then compare both fine-tunes with their parent: per-element
displacement in the unified space, raw-norm collapse of elements absent from the Cu data (Au),
Cu-Cu and Au-Au dimer curves, and phonon dispersions of fcc Cu and Au
(:mod:`platonic.finetune.phonons`) with imaginary modes flagged.

:mod:`platonic.finetune.data` builds and labels the cells, :mod:`platonic.finetune.train` runs
CHGNet's own ``Trainer``, :mod:`platonic.finetune.demo` is ``platonic finetune-demo``.
"""
