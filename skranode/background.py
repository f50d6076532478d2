"""The background-model protocol: what R-ANODE, ANODE, CATHODE and the w inference ask of p_B.

A *background model* is any object with these methods (a fitted
:class:`~skranode.SidebandDensity` or :class:`~skranode.ConditionalFlowDensity`
has all of them; CURTAINs-like generators need only the first group):

* ``sample(m, random_state=None)`` -> events at the given masses, in the
  model's own layout (the mass in column ``mass_column`` when it has one);
* ``score_samples(X, m)`` -> ``log p_B(x | m)`` in the original feature units
  (and, for R-ANODE's ``joint=True``, ``score_samples(X, m, joint=True)`` ->
  ``log p_B(x | m) + log p_B(m)``);
* optionally ``transform_latent(X, m)`` -> the latent coordinates of a flow
  (LaCATHODE);
* the fitted attributes ``n_features_in_`` and, for DataFrame input,
  ``feature_names_in_``; ``mass_column`` when it reads the mass from ``X``;
  ``signal_region`` when it knows one (R-ANODE's joint mode normalises p_S(m)
  there).

A model is *fitted* when :func:`sklearn.utils.validation.check_is_fitted`
says so, or when it has no ``fit`` at all (a ready density object, such as an
exact analytic background).

The functions here are the only place where a method talks to its background:
they put the mass back into the model's layout, restore its feature names,
and check what comes back. :class:`SharedBackgroundMixin` makes
:func:`~sklearn.base.clone` share a fitted background instead of copying it,
so that grid searches and cross-validation over a method never retrain it.
"""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skranode.mass_window import MassWindow
from skranode.utils._validation import join_features_and_mass, mass_units_hint

__all__ = [
    "SharedBackgroundMixin",
    "background_features",
    "check_feature_names",
    "check_signal_region_events",
    "is_shared_background_parameter",
    "check_support",
    "is_fitted",
    "log_density",
    "n_features",
    "sample_features",
    "transform_latent",
    "unwrap",
]


#: The largest log-density accepted from a background (a density of e**1000 per
#: unit volume of the features is not a physical one; float32 overflows at 88).
LOG_DENSITY_MAX = 1000.0


def is_fitted(estimator):
    """Whether ``estimator`` is fitted (an object without ``fit`` counts as fitted).

    Parameters
    ----------
    estimator : object
        A background model.

    Returns
    -------
    fitted : bool
    """
    if not hasattr(estimator, "fit"):
        return True  # a ready density object: nothing to fit
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def unwrap(estimator):
    """The estimator inside a :class:`~sklearn.frozen.FrozenEstimator` (or itself)."""
    inner = getattr(estimator, "estimator", None)
    if type(estimator).__name__ == "FrozenEstimator" and inner is not None:
        return inner
    return estimator


def n_features(background):
    """Number of features (mass excluded) the background was fitted on, or None if unknown."""
    n_in = getattr(background, "n_features_in_", None)
    if n_in is None:
        return None
    return n_in - (getattr(background, "mass_column", None) is not None)


def background_features(background, features, mass):
    """``(X, m)`` as the background's own methods take them.

    The mass goes back into column ``mass_column`` when the background has one
    (then ``m`` is None), and the columns get the background's
    ``feature_names_in_`` when it was fitted on a DataFrame.

    Parameters
    ----------
    background : object
        A background model.
    features : ndarray of shape (n_samples, n_features)
        Validated features, in the order the background was fitted on.
    mass : ndarray of shape (n_samples,)
        Their masses.

    Returns
    -------
    X : ndarray or DataFrame
    m : ndarray or None
    """
    expected = n_features(background)
    if expected is not None and expected != features.shape[1]:
        raise ValueError(
            f"X has {features.shape[1]} feature(s) but the background "
            f"{type(background).__name__} was fitted on {expected}; pass the same "
            "features, in the same order."
        )
    column = getattr(background, "mass_column", None)
    X_b = join_features_and_mass(features, mass, column)
    names = getattr(background, "feature_names_in_", None)
    if names is not None and len(names) == X_b.shape[1]:
        X_b = pd.DataFrame(X_b, columns=names)
    return X_b, (None if column is not None else mass)


def log_density(background, features, mass, *, joint=False):
    """``log p_B(x | m)`` (or ``log p_B(x, m)`` with ``joint=True``) of each event.

    Parameters
    ----------
    background : object
        A fitted background model.
    features : ndarray of shape (n_samples, n_features)
        Validated features.
    mass : ndarray of shape (n_samples,)
        Their masses.
    joint : bool, default=False
        Ask for ``score_samples(X, m, joint=True)``.

    Returns
    -------
    log_p : ndarray of shape (n_samples,), float64
        May hold ``-inf`` (no density); never NaN or ``+inf``.
    """
    X_b, m_b = background_features(background, features, mass)
    if joint:
        try:
            log_p = background.score_samples(X_b, m_b, joint=True)
        except TypeError as exc:
            raise ValueError(
                f"joint=True needs a background whose score_samples accepts "
                f"joint=True (log p_B(x | m) + log p_B(m)), such as SidebandDensity; "
                f"{type(background).__name__} does not ({exc})."
            ) from exc
    else:
        log_p = background.score_samples(X_b, m_b)
    log_p = np.asarray(log_p, dtype=np.float64).reshape(-1)
    if log_p.shape[0] != features.shape[0]:
        raise ValueError(
            f"The background returned {log_p.shape[0]} log-densities for "
            f"{features.shape[0]} events."
        )
    bad = np.isnan(log_p) | (log_p == np.inf)
    if bad.any():
        raise ValueError(
            f"The background log-density is NaN or +inf for {int(bad.sum())} event(s) "
            f"(first at row {np.flatnonzero(bad)[0]}); check the background model."
        )
    huge = log_p > LOG_DENSITY_MAX
    if huge.any():
        raise ValueError(
            f"The background log-density is {log_p[huge].max():.3g} for {int(huge.sum())} "
            f"event(s) (first at row {np.flatnonzero(huge)[0]}): above {LOG_DENSITY_MAX:g}, "
            "which no normalised density of these features reaches. score_samples must "
            "return the natural log of a normalised density, log p_B(x | m), in the "
            "original feature units: check that the background does not return a "
            "likelihood product over events, an unnormalised score or a density of "
            "transformed features."
        )
    return log_p


#: The largest fraction of events outside the background's signal region that a
#: signal-region fit (R-ANODE, ANODE) accepts.
OUTSIDE_SIGNAL_REGION_FRACTION = 0.05


def check_signal_region_events(background, mass, method, *, fix=None):
    """Refuse a signal-region fit given events from outside the signal region.

    R-ANODE and ANODE model the signal-region data. Handed the sidebands, or
    all events, they fit without complaint and every number is wrong. When the
    background model knows its ``signal_region``, at most
    :data:`OUTSIDE_SIGNAL_REGION_FRACTION` of the masses may lie outside it.

    Parameters
    ----------
    background : object
        A fitted background model (``signal_region`` is read when it has one).
    mass : ndarray of shape (n_samples,)
        Validated masses of the events to fit.
    method : str
        Name of the fitting method, for the message.
    fix : str or None, default=None
        What to do, for the message; None: select the signal region first.

    Raises
    ------
    ValueError
        When more than that fraction lies outside.
    """
    region = getattr(unwrap(background), "signal_region", None)
    if region is None or mass.shape[0] == 0:
        return
    window = MassWindow.from_params(region)
    outside = ~window.in_signal_region(mass)
    if outside.mean() > OUTSIDE_SIGNAL_REGION_FRACTION:
        low, high = window.bounds
        if fix is None:
            fix = (
                "were the sidebands, or all events, passed? Select the signal region first: "
                f"in_sr = (m >= {low:g}) & (m < {high:g}), then fit(X[in_sr], m[in_sr])."
            )
        raise ValueError(
            f"{method} fits the signal-region events, but {int(outside.sum())} of "
            f"{mass.shape[0]} masses ({outside.mean():.0%}) lie outside the background's "
            f"signal_region [{low:g}, {high:g}): {fix} "
            f"{mass_units_hint(mass[outside], window.center)}"
        )


def check_feature_names(background, names):
    """Refuse DataFrame columns that are not the background model's, in its order.

    Validated features reach the background by position; a DataFrame whose
    columns a caller reordered or renamed would be scored as if they were the
    background's columns.

    Parameters
    ----------
    background : object
        A fitted background model.
    names : array-like of str or None
        ``feature_names_in_`` of the method fitted on the caller's DataFrame
        (None for arrays: nothing to check).

    Raises
    ------
    ValueError
        When both have names, as many, and they differ.
    """
    theirs = getattr(background, "feature_names_in_", None)
    if names is None or theirs is None or len(names) != len(theirs):
        return
    names, theirs = [str(n) for n in names], [str(n) for n in theirs]
    if names == theirs:
        return
    if sorted(names) == sorted(theirs):
        raise ValueError(
            f"X has the background's columns in another order: {names} against {theirs}. "
            "Reorder them as the background saw them: X = X[background.feature_names_in_]."
        )
    raise ValueError(
        f"X has the columns {names} but the background was fitted on {theirs}: pass the "
        "features the background models, with its column names."
    )


#: :func:`check_support` refuses data of which more than this fraction has a
#: log p_B below the 0.1 % quantile of the background model's own samples.
OUT_OF_SUPPORT_FRACTION = 0.5


def check_support(background, features, mass, *, n_check=2000):
    """Refuse events that are not in the space the background model was trained in.

    A fixed background evaluated on features in another space (standardised
    by a scaler in a Pipeline, columns in another order, other units) gives
    densities far below anything it generates itself, and every number built
    on it is wrong without a word. The check draws one background event at the
    mass of each of up to ``n_check`` events and compares the log-densities:
    when more than :data:`OUT_OF_SUPPORT_FRACTION` of the events lie below the
    0.1 % quantile of the model's own samples it raises. A signal fraction of
    a few per cent, or a mismodelled background, stays far from that. Models
    without both ``sample`` and ``score_samples`` are not checked. The
    caller's random streams are not touched (a fixed seed).

    Parameters
    ----------
    background : object
        A fitted background model.
    features : ndarray of shape (n_samples, n_features)
        Validated features.
    mass : ndarray of shape (n_samples,)
        Their masses.
    n_check : int, default=2000
        Events checked (a fixed random subset beyond that).

    Raises
    ------
    ValueError
        When the events are not where the background model has its density.
    """
    if features.shape[0] == 0 or not all(
        hasattr(background, name) for name in ("sample", "score_samples")
    ):
        return
    rng = np.random.default_rng(0)
    n = features.shape[0]
    idx = np.sort(rng.choice(n, n_check, replace=False)) if n > n_check else np.arange(n)
    log_data = log_density(background, features[idx], mass[idx])
    drawn = sample_features(background, mass[idx], 0, features.shape[1])
    log_drawn = log_density(background, drawn, mass[idx])
    log_drawn = log_drawn[np.isfinite(log_drawn)]
    if log_drawn.size < 10:
        return
    floor = float(np.quantile(log_drawn, 0.001))
    below = float(np.mean(log_data < floor))
    if below > OUT_OF_SUPPORT_FRACTION:
        raise ValueError(
            f"{below:.0%} of the events have a background log-density below {floor:.3g}, "
            "which 99.9 % of the background model's own samples exceed (median "
            f"{float(np.median(log_data)):.3g} against {float(np.median(log_drawn)):.3g}): "
            "X is not in the space the background was trained in. Were the features "
            "transformed (a scaler in a Pipeline before a fixed background), put in "
            "another column order, or given in other units? Pass them as the background "
            "saw them; transform inside the background model instead."
        )


def sample_features(background, mass, random_state, n_features_expected=None):
    """Background events at the given masses, as features (mass column removed).

    Parameters
    ----------
    background : object
        A fitted background model with ``sample(m, random_state)``.
    mass : ndarray of shape (n_samples,)
        Masses.
    random_state : int or None
        Seed of the draw.
    n_features_expected : int or None, default=None
        Number of features the caller models; checked when given.

    Returns
    -------
    features : ndarray of shape (n_samples, n_features), float64
    """
    samples = np.asarray(background.sample(mass, random_state=random_state), dtype=np.float64)
    column = getattr(background, "mass_column", None)
    if column is not None:
        samples = np.delete(samples, column % samples.shape[1], axis=1)
    if n_features_expected is not None and samples.shape != (mass.shape[0], n_features_expected):
        raise ValueError(
            f"The background model returned samples of shape {samples.shape}; expected "
            f"({mass.shape[0]}, {n_features_expected}): it must model the same features as X."
        )
    return samples


def transform_latent(background, features, mass):
    """Latent coordinates of the events in the background's flow (LaCATHODE).

    Parameters
    ----------
    background : object
        A fitted background model with ``transform_latent(X, m)`` (also inside a
        :class:`~sklearn.frozen.FrozenEstimator`).
    features : ndarray of shape (n_samples, n_features)
        Validated features.
    mass : ndarray of shape (n_samples,)
        Their masses.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_features)
    """
    model = unwrap(background)
    if not hasattr(model, "transform_latent"):
        raise ValueError(
            "latent=True maps events through the background flow, so the background "
            "must be a ConditionalFlowDensity or a SidebandDensity built on one (a model "
            f"with transform_latent); got {type(model).__name__}."
        )
    X_b, m_b = background_features(model, features, mass)
    try:
        return np.asarray(model.transform_latent(X_b, m_b), dtype=np.float64)
    except ValueError as exc:
        if "no transform_latent" in str(exc):
            raise ValueError(
                "latent=True maps events through the background flow, so the background "
                f"must be a ConditionalFlowDensity or a SidebandDensity built on one: {exc}"
            ) from exc
        raise


class SharedBackgroundMixin:
    """Make :func:`~sklearn.base.clone` share a fitted ``background`` parameter.

    The background is a trained model given to the method, not a
    hyper-parameter: a clone (a ``GridSearchCV`` candidate, a cross-validation
    fold) keeps the very same object, so it never retrains it. Every other
    parameter is cloned as usual; an unfitted background is cloned too.
    """

    def __sklearn_clone__(self):
        background = getattr(self, "background", None)
        if background is None or not is_fitted(background):
            return super().__sklearn_clone__()
        params = {
            name: value if name == "background" else clone(value, safe=False)
            for name, value in self.get_params(deep=False).items()
        }
        return type(self)(**params)

    def set_params(self, **params):
        """Set parameters; refuse to change those of a fitted, shared background.

        A fitted background is shared by every clone and never retrained, so a
        new value for one of its parameters (``background__density__n_hidden``
        in a grid search, say) would change nothing but the parameter it
        reports, leaving a model that advertises settings its trained parts do
        not have. Setting such a parameter to its current value is allowed.

        Parameters
        ----------
        **params : dict
            Estimator parameters, nested ones as ``component__parameter``.

        Returns
        -------
        self : estimator

        Raises
        ------
        ValueError
            When a parameter of a fitted background would change.
        """
        background = params.get("background", getattr(self, "background", None))
        nested = {
            k[len("background__") :]: v for k, v in params.items() if k.startswith("background__")
        }
        if nested and background is not None and is_fitted(background):
            current = background.get_params(deep=True) if hasattr(background, "get_params") else {}
            changed = [
                key
                for key, value in nested.items()
                if key not in current or not _same(current[key], value)
            ]
            if changed:
                shown = ", ".join(f"background__{key}={nested[key]!r}" for key in changed)
                raise ValueError(
                    f"Cannot set {shown}: the background {type(background).__name__} is "
                    f"already fitted, and {type(self).__name__} shares it between clones "
                    "and never retrains it, so the new value would change nothing but the "
                    "parameter it reports. To compare background models, fit one per setting "
                    "and search over them wrapped in sklearn.frozen.FrozenEstimator, e.g. "
                    "param_grid={'background': [FrozenEstimator(bkg_a), FrozenEstimator(bkg_b)]}."
                )
        return super().set_params(**params)


def is_shared_background_parameter(estimator, key):
    """Whether the nested parameter ``key`` belongs to a fitted, shared background.

    Such a parameter cannot be set (see :meth:`SharedBackgroundMixin.set_params`):
    code that sets nested parameters of a whole estimator, such as an
    ensemble seeding every ``random_state``, skips it.

    Parameters
    ----------
    estimator : estimator
        The outer estimator (a Pipeline, an ensemble member, a method).
    key : str
        A nested parameter name, ``step__background__density__random_state``.

    Returns
    -------
    shared : bool
    """
    obj = estimator
    for part in key.split("__")[:-1]:
        if not hasattr(obj, "get_params"):
            return False
        if part == "background" and isinstance(obj, SharedBackgroundMixin):
            background = getattr(obj, "background", None)
            if background is not None and is_fitted(background):
                return True
        obj = obj.get_params(deep=False).get(part)
    return False


def _same(a, b):
    """Whether two parameter values are the same (the very object, or equal plain values)."""
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False
