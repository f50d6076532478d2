"""Column conventions and small helpers shared by the dataset functions."""

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

__all__ = ["COLUMNS", "FEATURE_NAMES", "MASS_NAME", "LABEL_NAME"]

#: Name of the resonant variable (the dijet invariant mass, TeV).
MASS_NAME = "mjj"

#: Name of the truth-label column (1 signal, 0 background).
LABEL_NAME = "label"

#: The four auxiliary features used by ANODE, CATHODE and R-ANODE, in order.
FEATURE_NAMES = ("mjmin", "delta_mj", "tau21_min", "tau21_max")

#: Every column of a skranode event table: the mass first, the label last.
COLUMNS = (MASS_NAME, *FEATURE_NAMES, LABEL_NAME)


def check_generator(random_state):
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        ``None`` gives fresh OS entropy, an int a reproducible stream; a
        ``RandomState`` (scikit-learn's convention) is advanced once to seed
        the generator, and a ``Generator`` is used as is.

    Returns
    -------
    rng : numpy.random.Generator
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer; got {random_state}.")
        return np.random.default_rng(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        rs = check_random_state(random_state)
        return np.random.default_rng(rs.randint(0, 2**31 - 1, size=4))
    raise ValueError(
        "random_state must be None, a non-negative int, a numpy RandomState or a numpy "
        f"Generator; got {random_state!r}."
    )


def check_count(value, name):
    """Check that ``value`` is a non-negative integer and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value}.")
    return int(value)


def check_positive(value, name):
    """Check that ``value`` is a finite number > 0 and return it as ``float``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return float(value)


def to_output(data, label, as_frame):
    """Package an event table in the requested layout.

    Parameters
    ----------
    data : ndarray of shape (n_samples, 5)
        Columns ``mjj, mjmin, delta_mj, tau21_min, tau21_max``.
    label : ndarray of shape (n_samples,)
        Truth labels, 1 for signal and 0 for background.
    as_frame : bool
        Return a DataFrame with :data:`COLUMNS` when True, ``(X, y)`` otherwise.
    """
    data = np.ascontiguousarray(data, dtype=np.float64)
    label = np.asarray(label).astype(np.int64)
    if as_frame:
        frame = pd.DataFrame(data, columns=list(COLUMNS[:-1]))
        frame[LABEL_NAME] = label
        return frame
    return data, label
