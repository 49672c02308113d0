"""Option defaults that come from the study schema, so that a verb run by hand starts from the same
settings as ``platonic run``."""

from __future__ import annotations

from platonic.study.schema import DEFAULTS as STUDY_DEFAULTS


def study(table: str, key: str):
    """The study schema's default of ``[table].key``, spelled as a CLI option (a list comma-joined)."""
    value = STUDY_DEFAULTS[table][key]
    return ",".join(value) if isinstance(value, list) else value


#: (verb function, option) -> the study key whose default it takes (tests/study/test_cli_defaults.py).
#: Not mirrored, on purpose: ``extract --n`` (a store built by hand holds the whole dataset unless
#: told otherwise; the study's 500 is a quick default sample) and the options no study table has.
STUDY_OPTIONS: dict[tuple[str, str], tuple[str, str]] = {
    **{("extract_cmd", option): key for option, key in (
        ("dataset", ("dataset", "name")), ("split", ("dataset", "split")), ("seed", ("dataset", "seed")),
        ("models", ("models", "names")), ("device", ("models", "device")), ("engine", ("extract", "engine")),
        ("address", ("extract", "address")), ("workers", ("extract", "workers")))},
    **{("anchors_cmd", key): ("anchors", key) for key in ("reference", "k", "method", "seed", "diversity", "sweep")},
    **{("compare_cmd", key): ("compare", key) for key in (
        "metrics", "spaces", "k", "ot_samples", "ot_repeats", "lfre_atoms", "permutations", "centred",
        "exclude_same_structure", "seed", "twonn_atoms")},
    ("compare_cmd", "n_queries"): ("compare", "mknn_queries"),
    **{("analyse_cmd", key): ("analyse", key) for key in ("reference", "chemistry", "arithmetic", "maps", "norms", "seed")},
    ("analyse_cmd", "device"): ("models", "device"),
    **{("diagnose_cmd", key): ("diagnose", key) for key in (
        "control", "equivariance", "rotation", "rotations", "drift", "dimers", "atypical", "top", "seed")},
    ("diagnose_cmd", "device"): ("models", "device"),
}
