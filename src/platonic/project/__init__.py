"""The Platonic transform: every model's embeddings as cosines to the same anchor atoms.

:class:`PlatonicTransform` maps one model into the unified K-dimensional space;
:func:`k_sweep` follows the unified representation as K grows.
"""

from platonic.project.sweep import DEFAULT_KS, k_sweep
from platonic.project.transform import PlatonicTransform, ProjectionError

__all__ = ["DEFAULT_KS", "PlatonicTransform", "ProjectionError", "k_sweep"]
