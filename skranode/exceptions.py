"""Warning classes of skranode, so that its warnings can be told apart and filtered.

Every warning skranode raises is a :class:`SkranodeWarning` (a ``UserWarning``,
so existing ``UserWarning`` filters keep working)::

    import warnings
    from skranode.exceptions import SkranodeWarning

    warnings.simplefilter("error", SkranodeWarning)  # make them errors in a test
"""

from sklearn.exceptions import ConvergenceWarning

__all__ = ["SkranodeConvergenceWarning", "SkranodeWarning"]


class SkranodeWarning(UserWarning):
    """Base class of every warning skranode raises."""


class SkranodeConvergenceWarning(SkranodeWarning, ConvergenceWarning):
    """A fit did not converge (also a scikit-learn ``ConvergenceWarning``)."""
