"""The Platonic transform: cosine similarity of every embedding to K anchor embeddings."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from platonic.errors import PlatonicError
from platonic.validation import check_matrix


class ProjectionError(PlatonicError, ValueError):
    """Bad input to the Platonic transform: wrong shape, non-finite values, zero vectors."""


ZERO_ROW_POLICIES = ("raise", "nan")


class PlatonicTransform(TransformerMixin, BaseEstimator):
    """Map one model's embeddings to the unified K-dimensional space spanned by anchors.

    For an embedding ``e_i ∈ R^d`` and anchor embeddings ``a_1..a_K`` of the *same* model,

    ``z_ik = cos(e_i, a_k) = <e_i, a_k> / (||e_i|| ||a_k||)``,  so ``z_i ∈ [−1, 1]^K``.

    Because the anchors are the same atoms for every model, every model lands in ``R^K``
    with the same axes. Invariances (applied to ``e`` and the anchors of one model alike):

    * any orthogonal map ``Q`` (rotation, reflection, permutation of features):
      ``<Qe, Qa> = <e, a>`` and ``||Qe|| = ||e||``;
    * any positive scaling ``c > 0`` (each vector's norm cancels).

    It is *not* invariant to translation (centring) or to per-feature scaling.

    Computation is in float64, in chunks of rows (bounded memory), clipped to [−1, 1]
    against rounding and returned as float32.

    Parameters
    ----------
    anchor_rows : array of int, or ``"all"``
        The anchors, which the transform cannot do without: an array of row indices makes
        :meth:`fit` take the rows ``anchor_rows`` of the model's ``n × d`` embedding matrix
        (e.g. from :func:`platonic.anchors.select_anchors`); ``"all"`` makes :meth:`fit`
        receive the ``K × d`` anchor embeddings themselves. The default (None) raises in
        :meth:`fit`, so that no matrix silently becomes its own anchor set.
    zero_rows : {"raise", "nan"}
        What :meth:`transform` does with a zero embedding (whose cosine is undefined):
        raise :class:`ProjectionError` (default), or return a row of NaN for it.

    Attributes
    ----------
    anchors_ : ndarray of shape (K, d)
        Unit-normalised anchor embeddings, float64.
    n_anchors_ : int
    n_features_in_ : int
    """

    def __init__(self, anchor_rows: np.ndarray | str | None = None, zero_rows: str = "raise"):
        self.anchor_rows = anchor_rows
        self.zero_rows = zero_rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # always float32 (see transform)
        return tags

    def fit(self, X: np.ndarray, y: None = None) -> "PlatonicTransform":
        """Store the unit-normalised anchors (``X[anchor_rows]``, or ``X`` for ``anchor_rows="all"``)."""
        if self.zero_rows not in ZERO_ROW_POLICIES:
            raise ProjectionError(f"zero_rows must be one of {ZERO_ROW_POLICIES}, got {self.zero_rows!r}")
        if self.anchor_rows is None:
            raise ProjectionError(
                "PlatonicTransform needs its anchors: anchor_rows=<row indices of the embeddings passed to fit>, "
                "or anchor_rows='all' when fit receives the K anchor embeddings themselves"
            )
        data = _check_matrix(X, "the fitted embeddings")
        if isinstance(self.anchor_rows, str):
            if self.anchor_rows != "all":
                raise ProjectionError(f"anchor_rows must be row indices or 'all', got {self.anchor_rows!r}")
            anchors = data
        else:
            rows = np.asarray(self.anchor_rows)
            if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
                raise ProjectionError(f"anchor_rows must be a non-empty 1-D integer array, got {rows!r}")
            if rows.min() < 0 or rows.max() >= data.shape[0]:
                raise ProjectionError(
                    f"anchor_rows must lie in [0, {data.shape[0]}), got {rows.min()}..{rows.max()}"
                )
            anchors = data[rows]
        anchors = anchors.astype(np.float64)
        norms = np.linalg.norm(anchors, axis=1)
        zero = np.flatnonzero(norms == 0.0)
        if zero.size:
            raise ProjectionError(f"anchor {int(zero[0])} is a zero vector: its cosine is undefined")
        self.anchors_ = anchors / norms[:, None]
        self.n_anchors_, self.n_features_in_ = self.anchors_.shape
        return self

    def transform(self, X: np.ndarray, chunk_size: int = 65536) -> np.ndarray:
        """``z = cos(X, anchors)`` as float32 of shape ``(n, K)``, ``chunk_size`` rows at a time."""
        check_is_fitted(self, "anchors_")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ProjectionError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        data = _check_matrix(X, "X")
        self._check_width(data)
        z = np.empty((data.shape[0], self.n_anchors_), dtype=np.float32)
        for start in range(0, data.shape[0], chunk_size):
            z[start : start + chunk_size] = self._cosines(data[start : start + chunk_size], offset=start)
        return z

    def transform_chunks(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield the transform of each array of ``chunks`` (e.g. the shards of a store), lazily."""
        check_is_fitted(self, "anchors_")
        offset = 0
        for chunk in chunks:
            data = _check_matrix(chunk, "chunk")
            self._check_width(data)
            yield self._cosines(data, offset=offset).astype(np.float32)
            offset += data.shape[0]

    def _check_width(self, data: np.ndarray) -> None:
        if data.shape[1] != self.n_features_in_:
            raise ProjectionError(
                f"X has {data.shape[1]} features, but PlatonicTransform is expecting {self.n_features_in_} features "
                "as input (the anchors' width): anchors and embeddings must come from the same model"
            )

    def _cosines(self, block: np.ndarray, offset: int) -> np.ndarray:
        block = block.astype(np.float64)
        norms = np.linalg.norm(block, axis=1)
        zero = norms == 0.0
        if zero.any():
            if self.zero_rows == "raise":
                first = offset + int(np.flatnonzero(zero)[0])
                raise ProjectionError(
                    f"{int(zero.sum())} zero embedding(s) (first: row {first}) have no direction; "
                    "pass zero_rows='nan' to get NaN rows instead"
                )
            norms[zero] = np.nan
        cosines = (block @ self.anchors_.T) / norms[:, None]
        return np.clip(cosines, -1.0, 1.0)


def _check_matrix(X: np.ndarray, name: str) -> np.ndarray:
    """A non-empty 2-D real array, finite row by row (:func:`platonic.validation.check_matrix`)."""
    return check_matrix(X, name, ProjectionError, dtype="numeric")
