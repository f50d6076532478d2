"""Input validation shared by every estimator: features, the resonant mass, devices."""

import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_array, validate_data

__all__ = [
    "as_float_1d",
    "check_aligned",
    "check_event_weights",
    "check_mass",
    "check_numeric_frame",
    "check_unit_interval",
    "join_features_and_mass",
    "named_events",
    "mass_units_hint",
    "resolve_device",
    "split_features_and_mass",
]


def as_float_1d(values, name, *, hint=""):
    """``values`` as a 1-D float64 array (a column vector is flattened); no copy promised.

    The error names ``name`` ("the mass", "m", ...) and ends with ``hint``.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Could not read {name} as numbers: {exc}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        subject = name[0].upper() + name[1:] if name.startswith("the ") else name
        raise ValueError(f"{subject} must be 1-D; got shape {arr.shape}.{hint}")
    return arr


def check_mass(m, n_samples, *, name="m"):
    """Validate the resonant mass ``m``: 1-D, finite, one value per event.

    Parameters
    ----------
    m : array-like of shape (n_samples,) or (n_samples, 1)
        The resonant variable (for example mjj in TeV).
    n_samples : int or None
        Number of events in ``X``; ``m`` must have as many entries. None
        accepts any number of entries (and a scalar as one entry), for methods
        that take masses alone, such as ``sample(m)``.
    name : str, default="m"
        Name used in error messages.

    Returns
    -------
    m : ndarray of shape (n_samples,), float64
        A new array; the caller's array is never modified.
    """
    if m is None:
        raise ValueError(f"The mass {name} is required: pass one value per event.")
    if n_samples is None and np.ndim(m) == 0:
        m = [m]
    try:
        m = check_array(
            m, ensure_2d=False, dtype=np.float64, ensure_all_finite=False, input_name=name
        )
    except ValueError as exc:
        raise ValueError(f"Could not read the mass {name}: {exc}") from exc
    if m.ndim == 2 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 1:
        raise ValueError(
            f"The mass {name} must be 1-D with one value per event; got shape {m.shape}."
        )
    if n_samples is not None and m.shape[0] != n_samples:
        raise ValueError(f"The mass {name} has {m.shape[0]} entries but X has {n_samples} events.")
    bad = ~np.isfinite(m)
    if bad.any():
        raise ValueError(
            f"The mass {name} contains NaN or infinity ({int(bad.sum())} of {m.shape[0]} "
            "events). Remove or fix those events before fitting or scoring; skranode "
            "never drops events silently."
        )
    return np.array(m, dtype=np.float64, copy=True)


def check_event_weights(sample_weight, n_samples, X=None):
    """Validate per-event weights: finite, non-negative, one per event, not all zero.

    The one owner of the weight check of every density estimator and
    classifier. Weights are relative: a fit with ``2 * w`` is the fit with
    ``w``; an event of weight 2 counts as that event twice in the likelihood.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Weights (generator weights, cross-section normalisation); None is a
        weight of 1 for every event.
    n_samples : int
        Number of events.
    X : object, default=None
        The events as passed by the caller: a pandas ``X`` and a pandas
        ``sample_weight`` must share their index (:func:`check_aligned`), or
        the weights would be paired with events by position.

    Returns
    -------
    weight : ndarray of shape (n_samples,) or None
        A new float64 array (the caller's is never modified), or None when
        ``sample_weight`` is None.

    Raises
    ------
    ValueError
        For a shape other than ``(n_samples,)``, a non-finite or negative
        weight, or weights that are all zero.
    """
    if sample_weight is None:
        return None
    check_aligned(X, sample_weight, name="sample_weight")
    weight = np.array(sample_weight, dtype=np.float64, copy=True)
    if weight.ndim != 1 or weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has shape {weight.shape}; it needs one weight per event, shape "
            f"({n_samples},)."
        )
    bad = ~np.isfinite(weight)
    if bad.any():
        raise ValueError(
            f"sample_weight holds {int(bad.sum())} non-finite value(s) (first at row "
            f"{np.flatnonzero(bad)[0]}); every weight must be a finite number."
        )
    if (weight < 0).any():
        raise ValueError(
            f"sample_weight holds {int((weight < 0).sum())} negative weight(s) (first "
            f"{weight[weight < 0][0]:.4g} at row {np.flatnonzero(weight < 0)[0]}). A "
            "likelihood fit with negative weights is unbounded (the model can drive the "
            "density at a negative-weight event to zero), so they are refused: absorb them "
            "into neighbouring positive weights first (for example by cell resampling, or "
            "by reweighting to the positive-weight sample with a classifier)."
        )
    if not weight.any():
        raise ValueError(
            "sample_weight is zero for every event: at least one weight must be non-zero."
        )
    return weight


def mass_units_hint(mass, reference):
    """Why masses may be of the wrong kind, as a sentence for an error message.

    The one place that tells GeV from TeV and labels from masses, for every
    check that finds masses far from where a model or a mass window expects
    them.

    Parameters
    ----------
    mass : array-like of shape (n_samples,)
        The masses that were refused.
    reference : float
        A typical expected mass (the largest fitted mass, or the centre of a
        signal region), in the model's units.

    Returns
    -------
    hint : str
        One sentence: labels passed as masses, GeV for TeV (or the reverse), or
        advice to check the units.
    """
    mass = np.asarray(mass, dtype=np.float64)
    if mass.size and np.isin(mass, (0.0, 1.0)).all():
        return "Every mass is 0 or 1: were the labels passed as the masses?"
    typical = float(np.median(np.abs(mass))) if mass.size else np.nan
    reference = abs(float(reference))
    ratio = typical / reference if reference > 0 else np.inf
    if 200 < ratio < 5000:
        return (
            f"They are about 1000 times the expected masses (median {typical:.4g}, expected "
            f"about {reference:.4g}): masses in GeV for a model in TeV? Divide them by 1000."
        )
    if 1 / 5000 < ratio < 1 / 200:
        return (
            f"They are about 1/1000 of the expected masses (median {typical:.4g}, expected "
            f"about {reference:.4g}): masses in TeV for a model in GeV? Multiply them by 1000."
        )
    return "Check the units of m and that m is the resonant mass."


def check_aligned(X, m, *, name="m"):
    """Refuse a mass Series whose index does not match the index of the DataFrame ``X``.

    numpy pairs the two by position; a Series shuffled, filtered or sorted on
    its own would silently give each event another event's mass.

    Parameters
    ----------
    X : object
        The events; only a pandas object with an ``index`` is checked.
    m : object
        The masses; only a pandas object with an ``index`` is checked.
    name : str, default="m"
        Name used in the message.
    """
    x_index, m_index = getattr(X, "index", None), getattr(m, "index", None)
    if x_index is None or m_index is None or not hasattr(x_index, "equals"):
        return
    if len(x_index) == len(m_index) and not x_index.equals(m_index):
        what = "masses" if name == "m" else name
        raise ValueError(
            f"The index of {'the mass ' if name == 'm' else ''}{name} differs from the index "
            f"of X: they would be paired by position, giving events the {what} of others. "
            f"Align them first ({name} = {name}.loc[X.index]) or pass numpy arrays."
        )


def check_binary_labels(labels, name="labels"):
    """Truth labels as 0/1 integers, or a ValueError that says what they look like.

    Labels of +-1, fractions, strings or more than two classes are refused
    rather than read: a count of signal events from them would be wrong
    without a word (-1 counts as minus one signal event, 0.5 as half).

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        1 for signal, 0 for background (booleans are fine).
    name : str, default="labels"

    Returns
    -------
    labels : ndarray of int64
    """
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype == bool:
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.number):
        values = np.unique(labels.astype(str))[:4]
        raise ValueError(
            f"{name} must be 0 (background) and 1 (signal); got values of type "
            f"{labels.dtype} ({', '.join(map(repr, values.tolist()))}). Map them first, for "
            f"example {name} = (values == 'signal').astype(int)."
        )
    values = np.unique(labels[~np.isnan(labels)] if labels.dtype.kind == "f" else labels)
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError(f"{name} contains NaN; every event needs a label 0 or 1.")
    if not set(values.tolist()) <= {0, 1}:
        shown = ", ".join(f"{v:g}" for v in values[:6])
        hint = (
            " (-1/+1 labels: pass (labels > 0).astype(int))" if set(values.tolist()) <= {-1, 1}
            else ""
        )
        raise ValueError(
            f"{name} must be 0 (background) and 1 (signal); got the values {shown}"
            f"{' ...' if values.size > 6 else ''}{hint}."
        )
    return labels.astype(np.int64)


def split_features_and_mass(estimator, X, m=None, *, reset, mass_column=None, min_features=1):
    """Validate ``X`` (and ``m``) and return features and mass as separate arrays.

    Two layouts are supported, chosen by the estimator's ``mass_column`` parameter:

    * ``mass_column=None``: ``X`` holds only the features and the mass is the
      separate argument ``m`` (``est.fit(X, m)``, ``est.score_samples(X, m)``);
    * ``mass_column=k``: the mass is column ``k`` of ``X`` and the other columns
      are the features. ``m`` is then ignored, as ``y`` is by unsupervised
      scikit-learn estimators; this is the layout for a
      :class:`~sklearn.pipeline.Pipeline`, where only ``X`` reaches the scoring
      methods.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator; ``n_features_in_`` and ``feature_names_in_`` are set on it
        when ``reset`` is True and checked otherwise.
    X : array-like or DataFrame of shape (n_samples, n_columns)
        Events.
    m : array-like of shape (n_samples,), default=None
        Mass of each event (used when ``mass_column`` is None).
    reset : bool
        True in ``fit``.
    mass_column : int or None, default=None
        Column of ``X`` holding the mass.
    min_features : int, default=1
        Smallest number of features (mass excluded).

    Returns
    -------
    features : ndarray of shape (n_samples, n_features), float64
    mass : ndarray of shape (n_samples,), float64
    """
    name = type(estimator).__name__
    check_numeric_frame(X, name)
    if mass_column is None:
        check_aligned(X, m)
    X = validate_data(estimator, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"X contains NaN or infinity in {rows.size} event(s) (first at row {rows[0]}). "
            f"Remove or fix those events; {name} never drops events silently."
        )
    if mass_column is None:
        if m is None:
            raise ValueError(
                f"{name} needs the mass of each event: pass it as m (for example "
                f"est.fit(X, m) and est.score_samples(X, m)), or construct {name} with "
                "mass_column=0 to read it from the first column of X."
            )
        if X.shape[1] < min_features:
            raise ValueError(f"X has {X.shape[1]} feature(s); {min_features} needed.")
        return np.array(X, dtype=np.float64), check_mass(m, X.shape[0])
    if (
        isinstance(mass_column, bool)
        or not isinstance(mass_column, numbers.Integral)
        or not -X.shape[1] <= mass_column < X.shape[1]
    ):
        raise ValueError(
            f"mass_column={mass_column!r} is not a column of X, which has {X.shape[1]} column(s)."
        )
    n_feat = X.shape[1] - 1
    if n_feat < min_features:
        raise ValueError(
            f"X has {X.shape[1]} feature(s); with mass_column={mass_column} one of them is "
            f"the mass, which leaves {n_feat}, fewer than the {min_features} needed."
        )
    keep = np.ones(X.shape[1], dtype=bool)
    keep[mass_column] = False
    return np.array(X[:, keep], dtype=np.float64), np.array(X[:, mass_column], dtype=np.float64)


def join_features_and_mass(features, mass, mass_column):
    """Inverse of :func:`split_features_and_mass`: put the mass back as a column."""
    if mass_column is None:
        return features
    k = mass_column % (features.shape[1] + 1)
    return np.insert(features, k, mass, axis=1)


def named_events(estimator, X):
    """``X`` as a DataFrame with the columns ``estimator`` was fitted on, if any.

    The one owner of what ``sample`` returns: the events in the layout of
    ``X`` in ``fit``, a DataFrame with ``feature_names_in_`` as its columns
    when the estimator was fitted on one, else the ndarray unchanged.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or len(names) != X.shape[1]:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=list(names))


def sampled_events(estimator, features, mass):
    """Sampled ``features`` in the layout of ``X`` in ``estimator.fit``, named as it was.

    The mass goes back in as a column when the estimator reads it from one
    (``mass_column``), then :func:`named_events` names the columns.
    """
    return named_events(estimator, join_features_and_mass(features, mass, estimator.mass_column))


def check_numeric_frame(X, name):
    """Raise a ValueError naming the non-numeric or repeated columns of a DataFrame ``X``.

    Parameters
    ----------
    X : object
        Anything; only DataFrames (objects with ``columns`` and ``dtypes``) are checked.
    name : str
        Name of the estimator, for the message.
    """
    if hasattr(X, "dtypes") and hasattr(X, "columns"):
        names = [str(c) for c in X.columns]
        twice = sorted({c for c in names if names.count(c) > 1})
        if twice:
            raise ValueError(
                f"X names the columns {twice} more than once; {name} needs one name per "
                "feature: rename them (df.columns = [...]) or drop the copies "
                "(df.loc[:, ~df.columns.duplicated()])."
            )
        bad_cols = [
            c for c, dt in zip(X.columns, X.dtypes, strict=True) if not _is_numeric_dtype(dt)
        ]
        if bad_cols:
            raise ValueError(
                f"X has non-numeric columns {bad_cols}; {name} needs numeric features."
            )


def _is_numeric_dtype(dtype):
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    # pandas' own test, so that the nullable Float64 / Int64 / boolean dtypes count
    return bool(is_numeric_dtype(dtype) or is_bool_dtype(dtype))


#: A feature whose full range is more than this many times its central 98 %
#: is squeezed by the flows' min-max logit scaling into a spike the flow cannot
#: learn (a Cauchy tail: 700-7000; measured on the LHCO features: 1.2-1.7 on
#: the real signal region, at most 3.0 on 1M LHCO-like events).
SPREAD_LIMIT = 20.0


def feature_spread_problems(features, names=None):
    """What makes features unfit for a flow: a single value, or a range set by a few tails.

    One owner of the check, used by the conditional flows (a constant feature
    is refused, a heavy tail warned about) and by the scan (both refused
    before any training).

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features)
        The features, without the mass.
    names : sequence of str or None, default=None
        Column names, for the messages.

    Returns
    -------
    constant : list of str
        One message per feature that takes a single value.
    heavy : list of str
        One message per feature whose range exceeds ``SPREAD_LIMIT`` times its
        central 98 %.
    """
    constant, heavy = [], []
    if features.shape[0] < 2:
        return constant, heavy
    low, q01, q99, high = np.quantile(features, [0.0, 0.01, 0.99, 1.0], axis=0)
    for j in range(features.shape[1]):
        label = f"feature {j}" + (f" ({names[j]!r})" if names is not None else "")
        if high[j] == low[j]:
            constant.append(
                f"{label} takes the one value {low[j]:.6g} in all {features.shape[0]} events: "
                "its density is a spike a flow cannot learn (labels or a constant passed as a "
                "feature?). Drop that column."
            )
        elif q99[j] == q01[j] or (high[j] - low[j]) > SPREAD_LIMIT * (q99[j] - q01[j]):
            ratio = np.inf if q99[j] == q01[j] else (high[j] - low[j]) / (q99[j] - q01[j])
            heavy.append(
                f"{label} spans {ratio:.3g} times its central 98 % ({q01[j]:.4g} to "
                f"{q99[j]:.4g}, full range {low[j]:.4g} to {high[j]:.4g}): heavy tails or "
                "outliers: the flows' min-max logit scaling would squeeze the bulk of the "
                "events into a spike the flow models badly. Transform the feature first "
                "(log, rank or clip the tails) so that its range is within "
                f"{SPREAD_LIMIT:g} times its central 98 %."
            )
    return constant, heavy


def check_unit_interval(value, name, *, allow_none=False):
    """Check that a fraction lies strictly inside (0, 1)."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or not 0.0 < value < 1.0
    ):
        raise ValueError(f"{name} must be a number strictly between 0 and 1; got {value!r}.")
    return float(value)


def resolve_device(device):
    """Turn ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a torch.device into a device.

    ``'auto'`` picks CUDA when it is available and the CPU otherwise.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(
                f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
            ) from exc
    else:
        raise ValueError(f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"Unsupported device {device!r}; use 'auto', 'cpu' or 'cuda'.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' or 'cpu'."
        )
    return dev
