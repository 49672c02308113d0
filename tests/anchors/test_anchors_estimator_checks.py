"""The anchor estimators against scikit-learn's estimator checks (issue 11: every estimator passes
``parametrize_with_checks`` or lists its exceptions with reasons)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from platonic.anchors.direct import DIRECTSampler
from platonic.anchors.space import KaiserPCASpace


@parametrize_with_checks(
    [KaiserPCASpace(), DIRECTSampler(n_anchors=2)],
    expected_failed_checks=lambda estimator: {
        "check_fit2d_1sample": "one row cannot hold n_anchors=2 anchors: the AnchorError (a ValueError) says so "
        "in those words, not in scikit-learn's 'n_samples = 1' ones",
    } if isinstance(estimator, DIRECTSampler) else {},
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
