"""ANODE and R-ANODE: anomaly scores from densities learned in the signal region.

Both estimators take a *fixed*, already fitted background model p_B (usually a
:class:`~skranode.SidebandDensity` learned in the sidebands) and learn one more
density from the signal-region events:

* :class:`ANODE` (Nachman & Shih, arXiv:2001.04990) learns the data density
  p_data(x | m) and scores ``log p_data(x | m) - log p_B(x | m)``;
* :class:`ResidualANODE` (R-ANODE: Das, Kasieczka & Shih, arXiv:2312.11629)
  fits the signal-region data with the mixture ``w p_S + (1 - w) p_B``, where
  only the signal model p_S is trained, and scores ``log p_S - log p_B``.

The background is never refitted: it is evaluated once per ``fit`` and shared,
not copied, by :func:`sklearn.base.clone`, so that ``GridSearchCV`` over ``w``
trains only signal models.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted
from torch.nn import functional as F

import skranode.background as bkg_protocol
from skranode.exceptions import SkranodeWarning
from skranode.flows import ConditionalFlowDensity
from skranode.mass_window import MassWindow
from skranode.presets import BACKGROUND_FLOW
from skranode.stats import mixture_w_hat
from skranode.training import batch_slices, evaluate_in_batches
from skranode.utils._fitting import fit_all_or_nothing, fit_weighted
from skranode.utils._math import log_mean_exp
from skranode.utils._scores import MeanLogLikelihoodMixin
from skranode.utils._torch import draw_seed, seeded, torch_threads
from skranode.utils._validation import (
    check_event_weights,
    check_mass,
    sampled_events,
    split_features_and_mass,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike
    from typing_extensions import Self

    from skranode.utils._typing import Seed

__all__ = ["ANODE", "ResidualANODE", "default_data_flow", "default_signal_flow"]

# Adam moves every parameter by about the learning rate per step. The mixture
# weight and the two parameters of p_S(m) are single numbers that must travel
# much further than a network weight within a short training, so they are
# stored divided by this factor (their effective learning rate is this much larger).
_SCALAR_SPEEDUP = 20.0

# With learn_w=True, w stays at its initial value for this fraction of the
# epochs: a w learned from the start collapses towards 0 before p_S has found
# any excess (a broad p_S only costs likelihood), and p_S then never does.
_FROZEN_W_FRACTION = 0.25

# Events per batch of the pass over the events that updates a learned w (inference only).
_EM_BATCH = 8192

# Events per batch of the held-out likelihood that picks the best restart (inference only).
_HELD_OUT_BATCH = 8192

# Bounds of a learned w: the mixture needs 0 < w < 1; above 0.5 p_S is the
# main component and the model is no longer a small-signal search.
_W_MIN_LEARNED = 1e-6
_W_MAX_LEARNED = 0.5


def _profiled_weight(model, inputs):
    """The mixture weight that maximises the likelihood of ``inputs`` under the current p_S.

    The M-step of EM for ``w`` carried to convergence: with p_S and p_B held,
    the log-likelihood is concave in ``w`` and its maximum is found exactly
    (:func:`~skranode.stats.mixture_w_hat`) from one pass over the events.
    A single EM step (``w`` set to the mean posterior) moves only part of the
    way when p_S and p_B overlap: from 0.002 it reached 0.009 in 15 epochs
    where the truth was 0.034, and the learned ``w`` stayed near its start.
    ``inputs`` are the flow's held-out validation events: p_S does not train
    on them, so a p_S that overfits its training events does not pull ``w``
    up: on background-only calibration data sets the learned ``w`` had
    median 0.011 in-sample (50 seeds) and 0.0037 held out (50 other seeds).
    One host synchronisation per call.
    """

    def log_ratio(y, c, log_jac, log_pb, *_):
        return model.log_prob(y, c) + log_jac - log_pb

    with torch.no_grad():
        r = evaluate_in_batches(log_ratio, inputs, _EM_BATCH)
    r = r.double().cpu().numpy()
    # a weighted fit carries the event weights as the last input (fit's extra)
    weight = inputs[4].double().cpu().numpy() if len(inputs) > 4 else None
    if np.isnan(r).any() or np.isposinf(r).any():
        raise FloatingPointError(
            "log p_S - log p_B of a held-out event is NaN or +inf while profiling the "
            "learned w: the fixed background gives an event zero density. Check the "
            "background model on these events, or set learn_w=False."
        )
    # p_S = 0 (log ratio -inf) is a ratio of 0: the same as any ratio far below e^-700
    r = np.maximum(r, -700.0)
    w_hat = mixture_w_hat(r, w_max=_W_MAX_LEARNED, sample_weight=weight)
    return min(max(w_hat, _W_MIN_LEARNED), _W_MAX_LEARNED)


def default_signal_flow():
    """The signal model and training recipe of :class:`ResidualANODE` (``flow=None``).

    Three autoregressive rational-quadratic spline layers (4 bins on
    [-4, 4] standard deviations, 32 hidden units, no batch normalisation),
    trained with AdamW at learning rate 1e-3 on batches of 512 events for 20
    epochs along a cosine schedule, without early stopping; the 5 epochs with
    the best validation mixture likelihood are averaged. About half a minute
    for 60 000 events on one CPU core.

    Why this recipe: while p_S is broad, every event gets about the same
    responsibility ``w p_S / p_mix``, so the gradient pulls p_S towards
    whichever excess over p_B it meets first, the planted signal or a broad
    background mismodelling; once p_S has no density at the signal, the signal
    events stop pulling (their responsibility is ~0) and that run is lost.
    Splines (not affine layers) can grow a local bump, three layers resolve the
    correlations of the signal, and small batches give enough (noisy) steps to
    leave the broad start: with batches of 2048 about half of the trainings on
    the LHCO signal region stayed on background mismodelling, with 512 none of
    eight did. Wider networks escape too but also fit more statistical
    fluctuations of the background, which wins over a signal at S/B ~ 0.3 %.

    Returns
    -------
    flow : ConditionalFlowDensity
    """
    return ConditionalFlowDensity(
        "rqs",
        n_layers=3,
        n_hidden=32,
        n_hidden_layers=2,
        batch_norm=False,
        n_bins=4,
        tail_bound=4.0,
        batch_size=512,
        learning_rate=1e-3,
        max_epochs=20,
        patience=20,
        n_best=5,
        lr_schedule="cosine",
    )


def default_data_flow():
    """The data model and training recipe of :class:`ANODE` (``flow=None``).

    The background flow's recipe (:data:`~skranode.presets.BACKGROUND_FLOW`,
    :func:`~skranode.sideband.default_background_flow`): four autoregressive
    spline layers of 64 hidden units, trained with AdamW at learning rate
    1e-3 for at most 2000 optimizer steps on batches adapted to the data
    along a cosine schedule, stopped after 10 epochs without a better
    validation loss; the 5 best epochs are averaged. About a minute for
    60 000 events on one CPU core.

    Why this recipe: ANODE's score is the difference of two independently
    trained densities, so its data model must describe the whole
    signal-region density about as well as the background model does, so
    it is the background model's recipe. The small signal model of R-ANODE
    (:func:`default_signal_flow`), which :class:`ANODE` used before, is
    built to grow a bump on top of a fixed background, not to model the
    data: on the LHCO R&D signal region (``benchmarks/bench_ranode_lhco.py``,
    the idealized background flow, 19 900 test background events) it gave a
    max SIC of 1.66 at S/B 0.61 %, the former data model (six affine layers,
    batches of 1024 events, 60 epochs) 4.0, 3.3 and 3.3 (three seeds),
    1.5, 1.4 and 1.8 at S/B 0.3 % and 1.3, 1.3 and 1.4 at 0.2 % (R-ANODE on the
    same test: 11.3 at 0.61 %; published ANODE, with sideband backgrounds and more
    events: about 8.6 and 2.6 at 0.61 % and 0.2 %).

    Returns
    -------
    flow : ConditionalFlowDensity
    """
    return ConditionalFlowDensity(**BACKGROUND_FLOW.params())


# --------------------------------------------------------------------------- helpers
class _BackgroundRatioBase(
    bkg_protocol.SharedBackgroundMixin, MeanLogLikelihoodMixin, DensityMixin, BaseEstimator
):
    """What ANODE and R-ANODE share: the fixed background and the mass convention.

    The background is reached only through :mod:`skranode.background`, and a
    fitted one is shared, not copied, by :func:`~sklearn.base.clone`.
    """

    def _check_background(self):
        name = type(self).__name__
        background = self.background
        if background is None:
            raise ValueError(
                f"{name} needs a fitted background model p_B(x | m): pass "
                "background=SidebandDensity().fit(X_all, m_all) (trained on all events; "
                "it uses the sidebands only), or any fitted estimator with "
                "score_samples(X, m). background=None cannot score anything."
            )
        if not bkg_protocol.is_fitted(background):
            raise NotFittedError(
                f"The background {type(background).__name__} passed to {name} is not "
                f"fitted. {name} never fits it: call background.fit(X_all, m_all) first "
                "(for a SidebandDensity, on all events, sidebands included). A grid search "
                "over background= clones every candidate unfitted: wrap fitted backgrounds "
                "in sklearn.frozen.FrozenEstimator."
            )
        return background

    def _background_log_density(self, features, mass, *, joint=False):
        """log p_B(x | m) (or log p_B(x, m)) of validated events, as float64."""
        return bkg_protocol.log_density(self._check_background(), features, mass, joint=joint)

    def background_log_density(self, X, m=None):
        """``log p_B`` of each event under the fixed background.

        ``log p_B(x | m)``, or ``log p_B(x, m)`` for ``ResidualANODE(joint=True)``:
        the density the anomaly score divides by.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        features, mass = self._check_input(X, m)
        return self._background_log_density(
            features, mass, joint=bool(getattr(self, "joint", False))
        )

    @staticmethod
    def _log_ratio(log_model, log_pb):
        """``log_model - log_pb``, saying so when the background gives an event no density."""
        zero = np.isneginf(log_pb)
        if zero.any():
            warnings.warn(
                f"The background gives {int(zero.sum())} of {log_pb.shape[0]} event(s) zero "
                f"density (log p_B = -inf, first at row {np.flatnonzero(zero)[0]}): their "
                "anomaly score is +inf, so they pass every cut. Check that they lie where "
                "the background model has support (its range, its units).",
                SkranodeWarning,
                stacklevel=3,
            )
        with np.errstate(invalid="ignore"):
            return log_model - log_pb

    #: The flow template of ``flow=None`` (declared by each subclass).
    _default_flow = staticmethod(default_signal_flow)

    def _make_flow(self, cls):
        template = self._default_flow() if self.flow is None else self.flow
        flow = cls(**clone(template).get_params(deep=False))
        flow.set_params(mass_column=None)
        if self.random_state is not None:
            flow.set_params(random_state=draw_seed(self.random_state))
        if getattr(self, "verbose", False):
            flow.set_params(verbose=True)
        return flow

    def _check_input(self, X, m):
        check_is_fitted(self, "flow_")
        return split_features_and_mass(self, X, m, reset=False, mass_column=self.mass_column)

    @staticmethod
    def _check_n_samples(n_samples):
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, numbers.Integral)
            or n_samples < 1
        ):
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        # the events alone, in float64 with their mass, against this machine's memory
        need = int(n_samples) * 8 * 8
        have = _physical_memory()
        if have is not None and need > have:
            raise ValueError(
                f"n_samples={int(n_samples)} needs at least {need / 2**30:.3g} GiB for the "
                f"events alone; this machine has {have / 2**30:.3g} GiB. Draw them in "
                "batches of fewer events."
            )
        return int(n_samples)

    def _sample_masses(self, n_samples, m):
        n_samples = self._check_n_samples(n_samples)
        if np.ndim(m) == 0:
            return np.full(n_samples, float(m))
        m = check_mass(m, None)
        if m.shape[0] != n_samples:
            raise ValueError(
                f"sample got {m.shape[0]} masses for n_samples={n_samples} events; pass one "
                "mass per event, or a single mass for all of them."
            )
        return m

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags


# ----------------------------------------------------------------------------- ANODE
class ANODE(_BackgroundRatioBase):
    """ANODE: the anomaly score ``log p_data(x | m) - log p_B(x | m)``.

    A conditional flow learns the density of the signal-region data,
    p_data(x | m); the score of an event is its log density ratio to the fixed,
    already fitted background model p_B(x | m). With little signal the two
    densities differ by a fraction of a per cent, so the ratio of two
    independently trained flows is dominated by their errors: ANODE is the
    baseline that :class:`ResidualANODE` improves upon.

    Parameters
    ----------
    background : estimator or None, default=None
        Fitted background model with ``score_samples(X, m)`` returning
        log p_B(x | m), typically ``SidebandDensity().fit(X_all, m_all)``. It is
        used as it is: never refitted, and shared (not copied) by
        :func:`~sklearn.base.clone`. A
        :class:`~sklearn.frozen.FrozenEstimator` works too. None raises an error
        in :meth:`fit`.
    flow : ConditionalFlowDensity or None, default=None
        Template of the data model (cloned in :meth:`fit`); None uses
        :func:`default_data_flow` (6 MAF layers of 64 units, early stopping).
    mass_column : int or None, default=None
        None: the mass is passed as ``m``. An int: the mass is that column of
        ``X`` (then ``m`` is ignored), the layout for pipelines. The background
        receives the mass in its own layout.
    random_state : int, RandomState instance or None, default=None
        Seeds the data model when given (overrides its own ``random_state``).
    verbose : bool, default=False
        Show the training progress of the data flow (a bar over its epochs).

    Attributes
    ----------
    flow_ : ConditionalFlowDensity
        The fitted data model p_data(x | m).
    history_ : dict
        Its training curves (``train_loss``, ``val_loss``, ``best_epochs``,
        ``stopped_early``).
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    See Also
    --------
    ResidualANODE : learns the signal density instead of the data density.
    SidebandDensity : the background model.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode import ANODE, ConditionalFlowDensity
    >>> rng = np.random.default_rng(0)
    >>> m = rng.uniform(3.3, 3.7, 4000)
    >>> X = rng.normal(size=(4000, 2))
    >>> flow = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=3)
    >>> bkg = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=3).fit(X, m)
    >>> anode = ANODE(bkg, flow=flow, random_state=0).fit(X, m)
    >>> anode.score_samples(X[:3], m[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "background": [HasMethods(["score_samples"]), None],
        "flow": [ConditionalFlowDensity, None],
        "mass_column": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _default_flow = staticmethod(default_data_flow)

    def __init__(
        self, background=None, *, flow=None, mass_column=None, random_state=None, verbose=False
    ):
        self.background = background
        self.flow = flow
        self.mass_column = mass_column
        self.random_state = random_state
        self.verbose = verbose

    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Learn p_data(x | m) from the signal-region events.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Signal-region events (plus the mass column when ``mass_column`` is set).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights (Monte Carlo event weights): the data flow
            is trained on the weighted likelihood, an event of weight 2
            counting as that event twice.

        Returns
        -------
        self : ANODE
        """
        self._validate_params()
        self._check_background()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        # fail early, before any training, when the background cannot score X
        bkg_protocol.check_feature_names(
            self._check_background(), getattr(self, "feature_names_in_", None)
        )
        bkg_protocol.check_signal_region_events(self._check_background(), mass, "ANODE")
        bkg_protocol.check_support(self._check_background(), features, mass)
        weight = check_event_weights(sample_weight, features.shape[0], X=X)
        flow = self._make_flow(ConditionalFlowDensity)
        self.flow_ = fit_weighted(flow, features, mass, sample_weight=weight, role="flow")
        self.history_ = dict(flow.history_)
        return self

    def score_samples(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Anomaly score ``log p_data(x | m) - log p_B(x | m)`` of each event.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        score : ndarray of shape (n_samples,)
            Larger is more signal-like.
        """
        features, mass = self._check_input(X, m)
        log_data = self.flow_.score_samples(features, mass)
        return self._log_ratio(log_data, self._background_log_density(features, mass))

    def _log_likelihood(self, X, m):
        """``log p_data(x | m)``: what :meth:`score` averages."""
        features, mass = self._check_input(X, m)
        return self.flow_.score_samples(features, mass)

    def sample(
        self, n_samples: int = 1, m: ArrayLike | None = None, random_state: Seed = None
    ) -> tuple[np.ndarray | pd.DataFrame, np.ndarray]:
        """Draw events from the learned data density p_data(x | m).

        Parameters
        ----------
        n_samples : int, default=1
            Number of events.
        m : float or array-like of shape (n_samples,)
            Mass of each event (a single value is repeated). Required: the model
            is conditional on the mass.
        random_state : int, RandomState instance or None, default=None
            Seed for the draw.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            Events in the layout of ``X`` in :meth:`fit` (with the mass in
            ``mass_column`` when it is set). A DataFrame with the columns of
            ``feature_names_in_`` when fitted on a DataFrame.
        m : ndarray of shape (n_samples,)
            Their masses.
        """
        check_is_fitted(self, "flow_")
        if m is None:
            raise ValueError("ANODE models p_data(x | m): pass the masses m at which to sample.")
        mass = self._sample_masses(n_samples, m)
        features = self.flow_.sample(mass, random_state=random_state)
        return sampled_events(self, features, mass), mass


# --------------------------------------------------------------------------- R-ANODE
def _physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


class _MixtureSignalModel(torch.nn.Module):
    """A conditional flow for p_S plus the mixture weight and, optionally, p_S(m).

    ``log_prob(y, c)`` is log p_S(y | c), or log p_S(y, c) when a mass window
    is given (a truncated normal in the standardised mass c). ``w`` is a
    buffer holding its logit divided by ``_SCALAR_SPEEDUP``: no gradient
    reaches it; a learned ``w`` is profiled (:func:`_profiled_weight`)
    in the training's ``on_epoch_end`` hook, through :meth:`set_weight`.
    """

    def __init__(self, flow, w, window=None):
        super().__init__()
        self.flow = flow
        raw = torch.tensor(math.log(w / (1.0 - w)) / _SCALAR_SPEEDUP)
        self.register_buffer("w_raw", raw)
        self.joint = window is not None
        if self.joint:
            self.register_buffer("window", torch.tensor(window, dtype=torch.float32))
            self.mass_loc_raw = torch.nn.Parameter(torch.zeros(()))
            self.mass_log_scale_raw = torch.nn.Parameter(torch.zeros(()))

    def log_weights(self):
        logit = self.w_raw * _SCALAR_SPEEDUP
        return F.logsigmoid(logit), F.logsigmoid(-logit)

    def weight(self):
        # a float32 sigmoid of a large logit rounds to exactly 0 or 1: keep w inside
        w = float(torch.sigmoid(self.w_raw.detach() * _SCALAR_SPEEDUP))
        return min(max(w, 1e-7), 1.0 - 1e-7)

    def set_weight(self, w):
        w = min(max(float(w), 1e-7), 1.0 - 1e-7)
        self.w_raw.fill_(math.log(w / (1.0 - w)) / _SCALAR_SPEEDUP)

    def _mass_distribution(self):
        lo, hi = self.window[0], self.window[1]
        half = 0.5 * (hi - lo)
        loc = 0.5 * (lo + hi) + half * self.mass_loc_raw * _SCALAR_SPEEDUP
        scale = half * torch.exp(self.mass_log_scale_raw * _SCALAR_SPEEDUP)
        normal = torch.distributions.Normal(loc, scale, validate_args=False)
        return normal, normal.cdf(lo), normal.cdf(hi)

    def log_prob_mass(self, c):
        normal, cdf_lo, cdf_hi = self._mass_distribution()
        c = c[:, 0]
        log_p = normal.log_prob(c) - torch.log(cdf_hi - cdf_lo)
        inside = (c >= self.window[0]) & (c <= self.window[1])
        return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))

    def sample_mass(self, n):
        normal, cdf_lo, cdf_hi = self._mass_distribution()
        u = cdf_lo + (cdf_hi - cdf_lo) * torch.rand(n, device=self.window.device)
        c = normal.icdf(u.clamp(1e-7, 1 - 1e-7))
        return torch.clamp(c, self.window[0], self.window[1])[:, None]

    def log_prob(self, y, c):
        log_p = self.flow.log_prob(y, c)
        if self.joint:
            log_p = log_p + self.log_prob_mass(c)
        return log_p

    def sample(self, n, context=None):
        return self.flow.sample(n, context=context)


def _mixture_nll(model, y, c, log_jac, log_pb, *_):
    """Per-event ``-log(w p_S + (1 - w) p_B)``, computed in log space."""
    log_w, log_1mw = model.log_weights()
    log_ps = model.log_prob(y, c) + log_jac
    return -torch.logaddexp(log_w + log_ps, log_1mw + log_pb)


def _held_out_mixture_nll(members, validation, weighted):
    """Mean ``-log p_data`` on the held-out events, the data density averaged over members.

    ``validation`` is the tuple ``(y, c, log_jac, log_pb[, weight])`` of the
    training hook; each kept member contributes its own ``w p_S + (1 - w) p_B``.
    The criterion by which :class:`ResidualANODE` keeps the best of its restarts.
    """
    y, c, log_jac, log_pb = validation[:4]

    def log_data(yb, cb, jb, pb):
        per_member = [-_mixture_nll(member, yb, cb, jb, pb) for member in members]
        return log_mean_exp(torch.stack(per_member))

    with torch.inference_mode():
        log_p = evaluate_in_batches(log_data, (y, c, log_jac, log_pb), _HELD_OUT_BATCH)
    log_p = log_p.double().cpu().numpy()
    if weighted:
        weight = validation[4].double().cpu().numpy()
        return float(-np.sum(weight * log_p) / np.sum(weight))
    return float(-np.mean(log_p))


def _fit_restart(estimator, flow, features, mass, log_pb, weight, window, init, n_threads):
    """Restart ``init`` of ``estimator``'s signal model (in a joblib worker when parallel).

    Returns the fitted flow, its ``w`` per epoch and its held-out mean
    negative log-likelihood (:func:`_held_out_mixture_nll`).
    """
    with torch_threads(n_threads):
        flow, w_trace, validation = estimator._fit_signal_flow(
            flow, features, mass, log_pb, weight, window, init
        )
        loss = _held_out_mixture_nll(flow.flows_, validation, weight is not None)
    return flow, w_trace, loss


class _SignalFlow(ConditionalFlowDensity):
    """ConditionalFlowDensity whose module is a :class:`_MixtureSignalModel`.

    It overrides the two declared extension hooks of
    :class:`~skranode.ConditionalFlowDensity`: :meth:`build_module` (the
    mixture model) and :meth:`flow_inputs` (the mass Jacobian in the joint
    mode). Configured by :meth:`configure` (not a parameter: this class is
    internal and never cloned). In the joint mode densities are in (x, m).
    """

    _progress_label = "R-ANODE signal model"

    def configure(self, w, learn_w, window, n_frozen):
        """Set the mixture weight, whether it is learned, the mass window and the frozen epochs."""
        self.mixture_w = float(w)
        self.learn_w = bool(learn_w)
        self.window = window  # mass window (in m) for joint=True, else None
        self.n_frozen = n_frozen
        return self

    def build_module(self, n_features):
        window = None
        if self.window is not None:
            window = tuple(float(v) for v in self.context(np.asarray(self.window))[:, 0])
        flow = super().build_module(n_features)
        return _MixtureSignalModel(flow, self.mixture_w, window)

    def flow_inputs(self, features, mass):
        y, c, log_jac = super().flow_inputs(features, mass)
        if self.window is not None:
            log_jac = log_jac - math.log(self.mass_scale_)  # p(m) = p(c) / scale
        return y, c, log_jac

    def sample_joint(self, n_samples, random_state):
        """Draw (features, mass) from the joint signal model.

        Each event comes from one kept epoch chosen at random: its mass from
        that epoch's p_S(m), its features from that epoch's p_S(x | m).
        """
        rng = check_random_state(random_state)
        seed = draw_seed(rng)
        member = rng.randint(len(self.flows_), size=n_samples)
        y = np.empty((n_samples, self.flow_mean_.shape[0]))
        c = np.empty(n_samples)
        with seeded(seed, self.device_), torch.inference_mode():
            for k, model in enumerate(self.flows_):
                idx = np.flatnonzero(member == k)
                for part in batch_slices(idx.size, self.inference_batch_size):
                    part = idx[part]
                    c_k = model.sample_mass(part.size)
                    y_k, _ = model.sample(part.size, context=c_k)
                    y[part] = y_k.double().cpu().numpy()
                    c[part] = c_k[:, 0].double().cpu().numpy()
        features, mass = self.from_flow_space(y, c)
        # the clamped inverse CDF can land a rounding error outside the window
        return features, np.clip(mass, *self.window)


class ResidualANODE(_BackgroundRatioBase):
    """R-ANODE: learn only the signal density, with the background held fixed.

    In the signal region the data are modelled as the mixture

        p_data = w p_S + (1 - w) p_B,

    where p_B is a fixed, already fitted background model (a
    :class:`~skranode.SidebandDensity`, or any estimator with the same
    ``score_samples(X, m)``) and only the signal model p_S, a conditional
    normalizing flow, is trained, by maximising the mixture likelihood. The
    background log-density of the training events is evaluated once per
    :meth:`fit`. The anomaly score is the log likelihood ratio
    ``log p_S - log p_B``.

    Two variants, as published: ``joint=False`` models p_S(x | m) against
    p_B(x | m); ``joint=True`` models p_S(x, m) = p_S(x | m) p_S(m), with p_S(m)
    a normal distribution in m truncated to the signal region (location and
    width learned), against p_B(x, m) = p_B(x | m) p_B(m) from
    ``background.score_samples(X, m, joint=True)``.

    The weight ``w`` is either fixed (the default; tune it with
    :class:`~sklearn.model_selection.GridSearchCV`, whose default scoring is
    the held-out mixture likelihood :meth:`score`) or learned together with
    p_S (``learn_w=True``, ``w`` is then the initial value).

    Parameters
    ----------
    background : estimator or None, default=None
        Fitted background model: ``score_samples(X, m)`` returns
        log p_B(x | m) (and, for ``joint=True``, ``score_samples(X, m,
        joint=True)`` returns log p_B(x, m)). Typically
        ``SidebandDensity().fit(X_all, m_all)``. It is used as it is: never
        refitted, and shared (not copied) by :func:`~sklearn.base.clone`, so a
        grid search over ``w`` trains only signal models. A
        :class:`~sklearn.frozen.FrozenEstimator` works too. None raises an
        error in :meth:`fit`.
    w : float in (0, 1), default=0.01
        Signal fraction in the mixture: fixed, or the initial value when
        ``learn_w=True``.
    learn_w : bool, default=False
        Learn ``w`` (``w`` being the initial value) together with the signal
        model: after holding it fixed for the first quarter of the epochs, the
        end of every epoch sets it to the maximum of the mixture likelihood of
        the signal model's held-out validation events (its
        ``validation_fraction``, never trained on) under the current p_S (the
        M-step of EM carried to convergence; no learning rate, so it is not
        limited by the number of optimizer steps), and each kept member
        finally gets the ``w`` its own p_S supports on those events. Held out,
        the learned ``w`` does not count the training events' fluctuations
        that p_S fits; it still counts any mismodelling of the background, and
        a p_S broader than the signal needs a larger ``w``: both push it above
        the truth (and above 0 without signal). It rests on the validation
        events only (a fifth by default), so it is noisy. For an estimate of
        ``w`` with an interval and a significance, pass this estimator as the template of
        :func:`skranode.inference.w_cross_fit`, which evaluates learned-w models
        on events they were not trained on; the user guide gives the measured
        bias and coverage.
    joint : bool, default=False
        Model p_S(x, m) instead of p_S(x | m) (see above).
    flow : ConditionalFlowDensity or None, default=None
        Template of the signal model (its settings are copied; its
        ``mass_column`` is ignored). None uses :func:`default_signal_flow`.
    mass_column : int or None, default=None
        None: the mass is passed as ``m``. An int: the mass is that column of
        ``X`` (then ``m`` is ignored), the layout for pipelines. The background
        receives the mass in its own layout.
    random_state : int, RandomState instance or None, default=None
        Seeds the signal model when given (overrides its own ``random_state``).
    verbose : bool, default=False
        Show the training progress of the signal model (a bar over its
        epochs, labelled "R-ANODE signal model").

    Attributes
    ----------
    flow_ : ConditionalFlowDensity
        The fitted signal model (its ``flows_`` are the kept epochs).
    w_ : float
        The signal fraction: ``w``, or the learned value averaged over the kept
        epochs.
    mass_window_ : tuple of float or None
        Mass range on which p_S(m) is normalised (``joint=True``): the
        background's ``signal_region`` when it has one, otherwise the range of
        the masses seen in :meth:`fit`.
    history_ : dict
        Training curves: ``train_loss`` and ``val_loss`` (mean negative mixture
        log-likelihood per epoch), ``best_epochs``, ``stopped_early`` and ``w``
        (the weight during each epoch) of the kept training; ``init_val_loss``
        (the held-out mean negative log-likelihood of each restart, the
        data density averaged over its kept epochs) and ``best_init`` (the index
        of the kept one).
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    See Also
    --------
    ANODE : learns the data density instead.
    SidebandDensity : the background model.
    default_signal_flow : the default signal model and training recipe.

    Notes
    -----
    The mixture log-likelihood is evaluated with ``logaddexp`` of
    ``log w + log p_S`` and ``log(1 - w) + log p_B``, so it neither underflows
    nor needs a floor on the densities.

    ``ResidualANODE(w=0.006).fit(X_sr, m_sr)`` without a background raises a
    ValueError that says to pass ``background=SidebandDensity().fit(X, m)``;
    ``score_samples(X)`` without masses raises one that says to pass ``m`` or
    to construct the estimator with ``mass_column``.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode import ConditionalFlowDensity, ResidualANODE
    >>> rng = np.random.default_rng(0)
    >>> m = rng.uniform(3.3, 3.7, 4000)
    >>> X = rng.normal(size=(4000, 2))
    >>> X[:40] = rng.normal(2.0, 0.1, size=(40, 2))  # 1 % signal
    >>> bkg = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=5)
    >>> bkg = bkg.fit(rng.normal(size=(4000, 2)), m)
    >>> signal_flow = ConditionalFlowDensity("rqs", n_layers=2, n_hidden=16, max_epochs=5)
    >>> ranode = ResidualANODE(bkg, w=0.01, flow=signal_flow, random_state=0).fit(X, m)
    >>> ranode.score_samples(X[:3], m[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "background": [HasMethods(["score_samples"]), None],
        "w": [Interval(numbers.Real, 0, 1, closed="neither")],
        "learn_w": ["boolean"],
        "joint": ["boolean"],
        "flow": [ConditionalFlowDensity, None],
        "mass_column": [numbers.Integral, None],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        background=None,
        *,
        w=0.01,
        learn_w=False,
        joint=False,
        flow=None,
        mass_column=None,
        n_init=3,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        self.background = background
        self.w = w
        self.learn_w = learn_w
        self.joint = joint
        self.flow = flow
        self.mass_column = mass_column
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Train the signal model on the signal-region events.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Signal-region events (plus the mass column when ``mass_column`` is set).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights (Monte Carlo event weights): the mixture w p_S + (1 - w) p_B
            is trained on the weighted likelihood, an event of weight 2
            counting as that event twice. With ``learn_w=True`` the
            profiled ``w`` is the weighted maximum too.

        Returns
        -------
        self : ResidualANODE
        """
        self._validate_params()
        self._check_background()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        window = self._mass_window(mass) if self.joint else None
        bkg_protocol.check_signal_region_events(self._check_background(), mass, "ResidualANODE")
        bkg_protocol.check_feature_names(
            self._check_background(), getattr(self, "feature_names_in_", None)
        )
        bkg_protocol.check_support(self._check_background(), features, mass)
        # evaluated once; the training loop only reads it
        log_pb = self._background_log_density(features, mass, joint=self.joint)
        weight = check_event_weights(sample_weight, features.shape[0], X=X)
        template = self._make_flow(_SignalFlow)
        if self.n_init > 1 and not isinstance(template.random_state, numbers.Integral):
            # one split for every restart, so that they are compared on the same events
            template.set_params(random_state=draw_seed(template.random_state))
        # restarts at once in worker processes, one torch thread each; in this
        # process, with the caller's threads, when they run one after another
        n_threads = None if self.n_init == 1 or effective_n_jobs(self.n_jobs) == 1 else 1
        restarts = Parallel(n_jobs=self.n_jobs if self.n_init > 1 else 1, prefer="processes")(
            delayed(_fit_restart)(
                self, clone(template), features, mass, log_pb, weight, window, init, n_threads
            )
            for init in range(self.n_init)
        )
        init_losses = [loss for _, _, loss in restarts]
        best_init = int(np.argmin(init_losses))
        flow, w_trace, _ = restarts[best_init]
        self.flow_ = flow
        self.mass_window_ = window
        if self.learn_w:
            self.w_ = float(np.mean([member.weight() for member in flow.flows_]))
        else:
            self.w_ = float(self.w)
        self.history_ = dict(
            flow.history_, w=w_trace, init_val_loss=init_losses, best_init=best_init
        )
        return self

    def _fit_signal_flow(self, flow, features, mass, log_pb, weight, window, init):
        """One training of the signal model (restart ``init``): (flow, w per epoch, held-out)."""
        # a learned w is held at its initial value while p_S first finds the excess
        n_frozen = _FROZEN_W_FRACTION * flow.max_epochs if self.learn_w else 0
        flow.configure(self.w, self.learn_w, window, n_frozen)
        w_trace = []
        held_out = []

        def on_epoch_end(epoch, model, validation):
            # a learned w: profiled under the current p_S on the held-out events
            # (p_S is not trained on them, so an overfitted p_S does not inflate
            # it) once p_S has had the frozen epochs
            if not held_out:
                held_out.append(validation)
            if self.learn_w and epoch >= n_frozen:
                model.set_weight(_profiled_weight(model, validation))
            w_trace.append(model.weight())

        # the weights travel with the events as the last extra input, so that the
        # hook's held-out events carry theirs (the loss ignores that input)
        extra = (log_pb,) if weight is None else (log_pb, weight)
        flow.fit_flow(
            features,
            mass,
            loss=_mixture_nll,
            extra=extra,
            on_epoch_end=on_epoch_end,
            sample_weight=weight,
            init=init,
        )
        if self.learn_w:
            # the kept members may be snapshots of early epochs, whose w was still
            # near its start: each gets the w that its own p_S supports
            for member in flow.flows_:
                member.set_weight(_profiled_weight(member, held_out[0]))
        return flow, w_trace, held_out[0]

    def _mass_window(self, mass):
        region = getattr(self.background, "signal_region", None)
        if region is None:
            # the range of the training masses, as a half-open window holding its maximum
            return float(mass.min()), float(np.nextafter(mass.max(), np.inf))
        try:
            window = MassWindow.from_params(region)
        except ValueError as exc:
            raise ValueError(
                f"The background's signal_region {region!r} is not a pair (low, high): {exc}"
            ) from exc
        self._check_inside(mass, window.bounds)
        return window.bounds

    @staticmethod
    def _check_inside(mass, window):
        MassWindow.from_params(window).check_masses_inside(mass, "joint=True models p_S(m)")

    def _log_signal(self, features, mass):
        if self.joint:
            self._check_inside(mass, self.mass_window_)
        return self.flow_.score_samples(features, mass)

    def signal_log_density(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """``log p_S`` of each event under the learned signal model.

        ``log p_S(x | m)``, or ``log p_S(x, m)`` with ``joint=True``: the
        numerator of the anomaly score and the signal term of the mixture.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        features, mass = self._check_input(X, m)
        return self._log_signal(features, mass)

    def score_samples(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Anomaly score: the log likelihood ratio ``log p_S - log p_B`` of each event.

        Conditional (``joint=False``): ``log p_S(x | m) - log p_B(x | m)``;
        joint: ``log p_S(x, m) - log p_B(x, m)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        score : ndarray of shape (n_samples,)
            Larger is more signal-like.
        """
        features, mass = self._check_input(X, m)
        log_ps = self._log_signal(features, mass)
        return self._log_ratio(
            log_ps, self._background_log_density(features, mass, joint=self.joint)
        )

    def _log_likelihood(self, X, m):
        """``log(w p_S + (1 - w) p_B)`` with ``w = w_``: what :meth:`score` averages."""
        features, mass = self._check_input(X, m)
        log_ps = self._log_signal(features, mass)
        log_pb = self._background_log_density(features, mass, joint=self.joint)
        with np.errstate(divide="ignore"):  # w_ of exactly 0 or 1: log 0 = -inf is right
            log_w, log_1mw = np.log(self.w_), np.log1p(-self.w_)
        return np.logaddexp(log_w + log_ps, log_1mw + log_pb)

    def sample(
        self, n_samples: int = 1, m: ArrayLike | None = None, random_state: Seed = None
    ) -> tuple[np.ndarray | pd.DataFrame, np.ndarray]:
        """Draw events from the learned signal model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of events.
        m : float, array-like of shape (n_samples,) or None, default=None
            Masses at which to sample x from p_S(x | m) (a single value is
            repeated). None draws the masses from the learned p_S(m), which
            only ``joint=True`` has.
        random_state : int, RandomState instance or None, default=None
            Seed for the draw.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            Events in the layout of ``X`` in :meth:`fit` (with the mass in
            ``mass_column`` when it is set). A DataFrame with the columns of
            ``feature_names_in_`` when fitted on a DataFrame.
        m : ndarray of shape (n_samples,)
            Their masses.
        """
        check_is_fitted(self, "flow_")
        if m is None:
            if not self.joint:
                raise ValueError(
                    "With joint=False the signal model is p_S(x | m): pass the masses m "
                    "at which to sample, or use joint=True to learn p_S(m) too."
                )
            n_samples = self._check_n_samples(n_samples)
            features, mass = self.flow_.sample_joint(n_samples, random_state)
        else:
            mass = self._sample_masses(n_samples, m)
            features = self.flow_.sample(mass, random_state=random_state)
        return sampled_events(self, features, mass), mass
