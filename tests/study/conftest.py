"""One tiny real study (14 MP-20 structures, CHGNet 0.3.0 + DIEP) shared by the study and report tests."""

from __future__ import annotations

import copy

import pytest

from platonic.study.config import make_config
from platonic.study.pipeline import run_study

TINY_STUDY = {
    "dataset": {"split": "val", "n": 14, "seed": 2},
    "models": {"names": ["chgnet-0.3.0", "diep"]},
    "anchors": {"k": 8},
    "compare": {"metrics": ["procrustes", "cka", "ot"], "spaces": ["unified"], "ot_samples": 40,
                "ot_repeats": 2, "twonn_atoms": 0},
    "analyse": {"reference": "chgnet-0.3.0"},
    "diagnose": {"rotations": 2, "dimers": False},
}


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    lines: list[str] = []
    result = run_study(make_config(TINY_STUDY), out, log=lambda message, **event: lines.append(message))
    return result, lines


@pytest.fixture
def tiny_study_config():
    return copy.deepcopy(TINY_STUDY)
