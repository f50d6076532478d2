"""Ensembles of skranode estimators trained in parallel with joblib.

:class:`DensityEnsemble` averages density estimators (and likelihood-ratio
scorers such as ANODE) and :class:`ClassifierEnsemble` averages classifiers.
Each member is a clone of the estimator with its own seed, so that it draws its
own initialisation, train/validation split and batches. The members are fitted
with :class:`joblib.Parallel`: in worker processes (loky) by default, or on any
joblib backend chosen with :func:`joblib.parallel_config`, for example a
``dask.distributed`` cluster::

    from dask.distributed import Client
    client = Client("scheduler-address:8786")
    with joblib.parallel_config(backend="dask"):
        ensemble.fit(X, m)

For fixed seeds the result does not depend on the backend or on ``n_jobs`` as
long as the members run in separate processes (loky, or dask workers started as
processes, dask's default). Threads (``backend='threading'``, dask workers with
several threads) share torch's global random generator, which skranode's flows
seed for their initialisation, so they may not reproduce the members exactly.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    DensityMixin,
    MetaEstimatorMixin,
    clone,
)
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

import skranode.background as bkg_protocol
from skranode.utils._fitting import fit_all_or_nothing
from skranode.utils._math import log_mean_exp, weighted_mean
from skranode.utils._scores import ProbaScoresMixin
from skranode.utils._torch import draw_seed, torch_threads
from skranode.utils._validation import check_mass, named_events

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike
    from typing_extensions import Self

    from skranode.utils._typing import Seed

__all__ = ["ClassifierEnsemble", "DensityEnsemble"]

_MAX_SEED = 2**31 - 1


# ------------------------------------------------------------------ workers
def _fit_member(estimator, X, y, fit_params, n_threads):
    """Fit one member (in a joblib worker): one torch thread by default."""
    with torch_threads(n_threads):
        return estimator.fit(X, y, **fit_params)


def _seeded_member(estimator, seed):
    """A clone of ``estimator`` whose every ``random_state`` follows from ``seed``.

    The top-level ``random_state`` is ``seed`` itself; nested ones (for example
    the flow inside a :class:`~skranode.SidebandDensity` or the steps of a
    pipeline) get seeds drawn from ``seed`` in the order of their names.
    """
    member = clone(estimator)
    keys = sorted(
        key
        for key in member.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    )
    rng = np.random.RandomState(seed)
    params = {}
    for key in keys:
        value = int(seed) if key == "random_state" else draw_seed(rng)
        # a fitted background shared by the members is never retrained: its
        # seeds are not the member's (the draw is kept, so the others' seeds stay)
        if not bkg_protocol.is_shared_background_parameter(member, key):
            params[key] = value
    if params:
        member.set_params(**params)
    return member


class _BaseEnsemble(MetaEstimatorMixin, BaseEstimator):
    """Fits ``n_estimators`` seeded clones of ``estimator`` with joblib."""

    _parameter_constraints = {
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "torch_threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _fit_members(self, X, y, fit_params):
        self._validate_params()
        rng = check_random_state(self.random_state)
        self.seeds_ = rng.randint(_MAX_SEED, size=self.n_estimators)
        members = [_seeded_member(self.estimator, seed) for seed in self.seeds_]
        # prefer="processes" is a hint: joblib.parallel_config(backend=...) overrides it
        parallel = Parallel(n_jobs=self.n_jobs, prefer="processes", verbose=self.verbose)
        self.estimators_ = parallel(
            delayed(_fit_member)(member, X, y, fit_params, self.torch_threads) for member in members
        )
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(self, name):
                delattr(self, name)
            if hasattr(self.estimators_[0], name):
                setattr(self, name, getattr(self.estimators_[0], name))
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        member = get_tags(self.estimator)
        tags.input_tags = member.input_tags
        tags.target_tags.required = member.target_tags.required
        tags.non_deterministic = member.non_deterministic
        return tags


def _estimator_has(attr):
    def check(self):
        return hasattr(self.estimator, attr)

    return check


# ------------------------------------------------------------------ densities
class DensityEnsemble(DensityMixin, _BaseEnsemble):
    """Ensemble of density estimators or likelihood-ratio scorers fitted in parallel.

    ``n_estimators`` clones of ``estimator`` are fitted on the same events, each
    with its own seed drawn from ``random_state`` (and so, for skranode's flows,
    its own initialisation, train/validation split and batches). Their
    ``score_samples`` are combined by the rule ``combine``:

    * ``'log_mean_exp'``: ``log(mean_i exp(s_i))``, the average in probability
      space. For log densities ``log p_i(x | m)`` (:class:`~skranode.ConditionalFlowDensity`,
      :class:`~skranode.SidebandDensity`, any scikit-learn density estimator)
      this is the log of the mixture density ``mean_i p_i``, again a normalised
      density. For log likelihood ratios ``log p_S / p_B`` (ANODE, R-ANODE) it
      is the log of the averaged ratio.
    * ``'mean'``: ``mean_i s_i``, the average of the scores themselves, for
      scores that are not log-probabilities (outlier scores). For log densities
      it is the log of the geometric mean, which is not normalised.
    * ``'auto'``: ``'mean'`` for outlier detectors (scikit-learn tag
      ``estimator_type == 'outlier_detector'``, such as
      :class:`~sklearn.ensemble.IsolationForest`), whose ``score_samples`` is
      not a log-probability; ``'log_mean_exp'`` for every other estimator, as
      ``score_samples`` is a log density in scikit-learn (density estimators,
      :class:`~sklearn.neighbors.KernelDensity`) and a log density or a log
      likelihood ratio in skranode.

    Parameters
    ----------
    estimator : estimator
        Unfitted estimator with ``fit(X, m)`` and ``score_samples(X, m)``; it is
        cloned for each member.
    n_estimators : int, default=5
        Number of members.
    combine : {'auto', 'log_mean_exp', 'mean'}, default='auto'
        How the members' ``score_samples`` are combined (see above).
    n_jobs : int or None, default=None
        Number of members fitted at once by :class:`joblib.Parallel`; None
        means 1 unless set by :func:`joblib.parallel_config`, -1 means all
        cores. The members are fitted in worker processes (loky) unless a
        backend is chosen with :func:`joblib.parallel_config` (for example
        ``backend='dask'`` for a ``dask.distributed`` cluster, where None means
        every worker of the cluster).
    torch_threads : int or None, default=1
        torch intra-op threads while a member is fitted
        (:func:`torch.set_num_threads`, restored afterwards). One thread per
        member is usually the fastest for the small networks of a flow when
        several members run at once; None leaves torch's setting unchanged.
    random_state : int, RandomState instance or None, default=None
        Draws the seed of each member. Every ``random_state`` parameter of a
        member (nested ones included) is set from its seed, so fixed seeds
        give the same ensemble whatever ``n_jobs`` and the joblib backend.
    verbose : int, default=0
        Verbosity of :class:`joblib.Parallel`.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.
    seeds_ : ndarray of shape (n_estimators,)
        Seed of each member (its ``random_state``).
    combine_ : {'log_mean_exp', 'mean'}
        The combination rule used.
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit` (when the members set it).
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    See Also
    --------
    ClassifierEnsemble : Averages the predicted probabilities of classifiers.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode import ConditionalFlowDensity
    >>> from skranode.ensemble import DensityEnsemble
    >>> rng = np.random.default_rng(0)
    >>> m = rng.uniform(3, 4, 1000)
    >>> X = np.c_[rng.normal(m, 0.1), rng.normal(0, 1, 1000)]
    >>> flow = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=2)
    >>> ens = DensityEnsemble(flow, n_estimators=3, random_state=0).fit(X, m)
    >>> ens.score_samples(X[:2], m[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **_BaseEnsemble._parameter_constraints,
        "estimator": [HasMethods(["fit", "score_samples"])],
        "combine": [StrOptions({"auto", "log_mean_exp", "mean"})],
    }

    def __init__(
        self,
        estimator,
        *,
        n_estimators=5,
        combine="auto",
        n_jobs=None,
        torch_threads=1,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.combine = combine
        self.n_jobs = n_jobs
        self.torch_threads = torch_threads
        self.random_state = random_state
        self.verbose = verbose

    @fit_all_or_nothing
    def fit(self, X: ArrayLike, m: ArrayLike | None = None, **fit_params) -> Self:
        """Fit the members in parallel.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events, passed unchanged to each member's ``fit``.
        m : array-like of shape (n_samples,), default=None
            Mass of each event (or whatever the member's ``fit`` takes as its
            second argument).
        **fit_params : dict
            Further keyword arguments of the members' ``fit``.

        Returns
        -------
        self : DensityEnsemble
        """
        self._fit_members(X, m, fit_params)
        self.combine_ = _resolve_combine(self.combine, self.estimator)
        return self

    def member_scores(self, X: ArrayLike, m: ArrayLike | None = None, **params) -> np.ndarray:
        """``score_samples`` of every member.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; not passed when None.
        **params : dict
            Further keyword arguments of the members' ``score_samples`` (for
            example ``joint=True`` of :class:`~skranode.SidebandDensity`).

        Returns
        -------
        scores : ndarray of shape (n_estimators, n_samples)
        """
        check_is_fitted(self, "estimators_")
        args = (X,) if m is None else (X, m)
        return np.stack([est.score_samples(*args, **params) for est in self.estimators_])

    def score_samples(self, X: ArrayLike, m: ArrayLike | None = None, **params) -> np.ndarray:
        """Combined score of each event: the members' ``score_samples`` by ``combine_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; not passed when None.
        **params : dict
            Further keyword arguments of the members' ``score_samples``.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            With ``combine_='log_mean_exp'`` the log of the averaged density (or
            likelihood ratio).
        """
        scores = self.member_scores(X, m, **params)
        if self.combine_ == "mean":
            return scores.mean(axis=0)
        return log_mean_exp(scores, axis=0)

    def score(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> float:
        """Mean combined score of the events (higher is better).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; not passed when None.
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights of the mean (GridSearchCV passes each test fold's).

        Returns
        -------
        score : float
            The mean log-likelihood for density members.
        """
        return weighted_mean(self.score_samples(X, m), sample_weight)

    @available_if(_estimator_has("sample"))
    def sample(self, m: ArrayLike, random_state: Seed = None) -> np.ndarray | pd.DataFrame:
        """Draw one event at each mass from the mixture of the members.

        Each event comes from a member chosen uniformly at random, which draws
        from the averaged density ``mean_i p_i(x | m)``.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Masses at which to sample.
        random_state : int, RandomState instance or None, default=None
            Seed for the choice of members and their draws.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, n_columns)
            Events in the layout the members' ``sample`` returns (that of ``X``
            in :meth:`fit` for skranode's densities). A DataFrame with the columns of
            ``feature_names_in_`` when fitted on a DataFrame.
        """
        check_is_fitted(self, "estimators_")
        if self.combine_ != "log_mean_exp":
            raise ValueError(
                "sample draws from the mixture of the members, which is the ensemble's "
                f"density only with combine='log_mean_exp'; this ensemble has "
                f"combine={self.combine_!r}."
            )
        mass = check_mass(m, None)
        rng = check_random_state(random_state)
        choice = rng.randint(len(self.estimators_), size=mass.shape[0])
        seeds = rng.randint(_MAX_SEED, size=len(self.estimators_))
        out = None
        for k, (est, seed) in enumerate(zip(self.estimators_, seeds, strict=True)):
            idx = np.flatnonzero(choice == k)
            if idx.size == 0:
                continue
            drawn = np.asarray(est.sample(mass[idx], random_state=int(seed)))
            if out is None:
                out = np.empty((mass.shape[0], *drawn.shape[1:]), dtype=drawn.dtype)
            out[idx] = drawn
        if out is None:  # no mass given
            return named_events(self, np.empty((0, getattr(self, "n_features_in_", 0))))
        return named_events(self, out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


def _resolve_combine(combine, estimator):
    if combine != "auto":
        return combine
    is_outlier_detector = get_tags(estimator).estimator_type == "outlier_detector"
    return "mean" if is_outlier_detector else "log_mean_exp"


# ---------------------------------------------------------------- classifiers
class ClassifierEnsemble(ProbaScoresMixin, ClassifierMixin, _BaseEnsemble):
    """Ensemble of classifiers fitted in parallel; their probabilities are averaged.

    ``n_estimators`` clones of ``estimator`` are fitted on the same events, each
    with its own seed drawn from ``random_state``. :meth:`predict_proba` is the
    mean of the members' ``predict_proba``; :meth:`decision_function` is the
    log-odds of that mean, as for skranode's classifiers.

    Parameters
    ----------
    estimator : estimator
        Unfitted classifier with ``fit`` and ``predict_proba`` (for example
        :class:`~skranode.CATHODEClassifier` or :class:`~skranode.IdealAD`); it
        is cloned for each member.
    n_estimators : int, default=5
        Number of members.
    n_jobs : int or None, default=None
        Number of members fitted at once by :class:`joblib.Parallel`; None
        means 1 unless set by :func:`joblib.parallel_config`, -1 means all
        cores. The members are fitted in worker processes (loky) unless a
        backend is chosen with :func:`joblib.parallel_config`.
    torch_threads : int or None, default=1
        torch intra-op threads while a member is fitted (restored afterwards);
        None leaves torch's setting unchanged.
    random_state : int, RandomState instance or None, default=None
        Draws the seed of each member; every ``random_state`` parameter of a
        member (nested ones included) is set from its seed.
    verbose : int, default=0
        Verbosity of :class:`joblib.Parallel`.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.
    seeds_ : ndarray of shape (n_estimators,)
        Seed of each member (its ``random_state``).
    classes_ : ndarray of shape (n_classes,)
        Class labels (those of the members).
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit` (when the members set it).
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    See Also
    --------
    DensityEnsemble : Averages densities and likelihood ratios.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skranode.ensemble import ClassifierEnsemble
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(200, 2)), rng.integers(0, 2, 200)
    >>> hgb = HistGradientBoostingClassifier(max_iter=5)
    >>> ens = ClassifierEnsemble(hgb, n_estimators=2, random_state=0).fit(X, y)
    >>> ens.predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        **_BaseEnsemble._parameter_constraints,
        "estimator": [HasMethods(["fit", "predict_proba"])],
    }

    def __init__(
        self,
        estimator,
        *,
        n_estimators=5,
        n_jobs=None,
        torch_threads=1,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.n_jobs = n_jobs
        self.torch_threads = torch_threads
        self.random_state = random_state
        self.verbose = verbose

    @fit_all_or_nothing
    def fit(self, X: ArrayLike, y: ArrayLike | None = None, **fit_params) -> Self:
        """Fit the members in parallel.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events, passed unchanged to each member's ``fit``.
        y : array-like of shape (n_samples,), default=None
            Second argument of the members' ``fit``: the labels
            (:class:`~skranode.IdealAD`, :class:`~skranode.SupervisedClassifier`)
            or the mass (:class:`~skranode.CATHODEClassifier`,
            :class:`~skranode.CWoLaClassifier`).
        **fit_params : dict
            Further keyword arguments of the members' ``fit`` (for example
            ``sample_weight``).

        Returns
        -------
        self : ClassifierEnsemble
        """
        self._fit_members(X, y, fit_params)
        classes = [getattr(est, "classes_", None) for est in self.estimators_]
        if classes[0] is None:
            raise ValueError(
                f"The fitted {type(self.estimators_[0]).__name__} has no classes_; "
                "ClassifierEnsemble needs classifiers."
            )
        if any(c is None or not np.array_equal(c, classes[0]) for c in classes[1:]):
            raise ValueError(
                "The members of the ensemble learned different classes "
                f"({[None if c is None else list(c) for c in classes]}); their "
                "probabilities cannot be averaged. Give every member events of every class."
            )
        self.classes_ = classes[0]
        return self

    def predict_proba(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Class probabilities averaged over the members.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses, for members whose ``predict_proba`` takes them; not passed
            when None.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "estimators_")
        args = (X,) if m is None else (X, m)
        proba = self.estimators_[0].predict_proba(*args)
        for est in self.estimators_[1:]:
            proba = proba + est.predict_proba(*args)
        return proba / len(self.estimators_)
