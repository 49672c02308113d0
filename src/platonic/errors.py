"""The one base of every error platonic raises on purpose.

Catch :class:`PlatonicError` to tell a problem platonic found (bad input, a store that does not
verify, a solver that did not converge) from a bug. Each stage's errors subclass it together with
the built-in class they have always been (``ValueError`` for bad input, ``RuntimeError`` for a
failed computation), so existing ``except ValueError`` code keeps working.
"""


class PlatonicError(Exception):
    """Base of every error that platonic raises deliberately."""


class NotApplicableError(PlatonicError):
    """An analysis that does not apply to the data at hand; the message says why.

    A study records the analysis as skipped with that reason (shown in the report and the
    manifest) and goes on; called directly, it is an error like any other.
    """
