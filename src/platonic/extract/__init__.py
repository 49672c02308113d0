"""Extraction: a dataset and model adapters in, per-atom embeddings in the store out."""

from platonic.extract.runner import ExtractResult, extract, make_batches

__all__ = ["ExtractResult", "extract", "make_batches"]
