"""Compare two embeddings of the same atoms: flat metric functions (POT style).

Every function takes plain arrays A (n_atoms x d_a) and B (n_atoms x d_b) whose
rows describe the same atoms. :func:`metric_matrix` runs them over many models.
"""

from .cka import linear_cka
from .intrinsic import TwoNNResult, two_nn_dimension
from .knn import knn_indices, mutual_knn, nearest_rows, neighbourhood_agreement
from .matrix import heatmap, metric_matrix
from .ot import OTDetails, SinkhornConvergenceError, entropic_ot, score_ot, score_ot_details
from .procrustes import permutation_null, procrustes_score
from .reconstruction import (
    Ridge2FoldCV,
    TotalVarianceScaler,
    global_reconstruction_distortion,
    global_reconstruction_error,
    local_reconstruction_error,
    pointwise_global_reconstruction_distortion,
    pointwise_global_reconstruction_error,
    pointwise_local_reconstruction_error,
)
from .superscore import super_score
from ._validation import MetricInputError

__all__ = [
    "MetricInputError",
    "OTDetails",
    "Ridge2FoldCV",
    "SinkhornConvergenceError",
    "TotalVarianceScaler",
    "TwoNNResult",
    "entropic_ot",
    "global_reconstruction_distortion",
    "global_reconstruction_error",
    "heatmap",
    "knn_indices",
    "linear_cka",
    "local_reconstruction_error",
    "metric_matrix",
    "mutual_knn",
    "nearest_rows",
    "neighbourhood_agreement",
    "permutation_null",
    "pointwise_global_reconstruction_distortion",
    "pointwise_global_reconstruction_error",
    "pointwise_local_reconstruction_error",
    "procrustes_score",
    "score_ot",
    "score_ot_details",
    "super_score",
    "two_nn_dimension",
]
