"""Package versions, licences and folders for model cards, read from installed metadata."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path


def package_folder(import_name: str, install: str) -> Path:
    """The folder of the installed package ``import_name`` (where its wheel ships the weights),
    found without importing it; ``install`` is the command named when it is missing."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or spec.origin is None:
        raise ImportError(f"{import_name} is not installed ({install})")
    return Path(spec.origin).parent


def package_versions(*distributions: str) -> dict[str, str]:
    """Installed versions of the named distributions plus torch (missing ones are omitted)."""
    out = {}
    for dist in (*distributions, "torch"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def licence_of(distribution: str) -> str:
    """The licence a distribution declares (SPDX expression, classifier or first line)."""
    md = metadata.metadata(distribution)
    if md.get("License-Expression"):
        return md["License-Expression"]
    classifiers = [c.split("::")[-1].strip() for c in md.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return classifiers[0]
    text = (md.get("License") or "unknown").strip().splitlines()
    return text[0] if text else "unknown"
