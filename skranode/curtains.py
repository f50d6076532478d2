"""CURTAINs with flows for flows: sideband events morphed into the signal region as background.

CURTAINs (Raine, Klein, Sengupta, Golling, arXiv:2203.09470) builds the
signal-region background from *real* sideband events, moved to signal-region
masses by a learned invertible map of the features conditioned on the source
and target masses. CURTAINsF4F (arXiv:2305.04646) trains that map by maximum
likelihood with *flows for flows* (Golling, Klein, Mastandrea, Nachman, Raine,
arXiv:2309.06472). :class:`CURTAINs` follows the latter:

1. **base**: a conditional density ``p_base(y | c)`` of the sideband events
   (a :class:`~skranode.flows.ConditionalFlowDensity`; ``y`` are the
   preprocessed features of its :meth:`~skranode.flows.ConditionalFlowDensity.flow_inputs`,
   ``c`` the standardised mass);
2. **morphing flow** ``y2 = g(y1; c1, c2)`` (:class:`MorphingFlow`): affine
   autoregressive layers whose log-scales and shifts are multiplied by
   ``c2 - c1``, so that ``g`` is exactly the identity when source and target
   masses agree;
3. **training**: every sideband event ``(y2, c2)`` is paired with a source mass
   ``c1`` drawn afresh at every step from the sideband masses (both sides),
   and the morphing flow maximises
   ``log p_base(g^-1(y2; c1, c2) | c1) + log |det dg^-1 / dy2|``: it learns to
   carry the sideband density at ``c1`` onto the data at ``c2``, the base held
   fixed;
4. :meth:`CURTAINs.sample` morphs sideband events, each drawn uniformly at
   random from both sidebands, to the requested masses;
   :meth:`CURTAINs.score_samples` is the density of the construction, the base
   at a source mass pushed through ``g``, averaged over ``n_source_masses``
   source masses at the quantiles of the sideband masses (each term is a
   normalised density, so their average is one).
"""

from __future__ import annotations

import numbers
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from skranode.exceptions import SkranodeWarning
from skranode.flows import MADE, ConditionalFlowDensity
from skranode.mass_spectrum import fit_window_spectrum
from skranode.mass_window import MassWindow
from skranode.presets import AFFINE_BACKGROUND_FLOW
from skranode.training import INFERENCE_BATCH, batch_slices, resolve_batch_size, train_model
from skranode.utils._fitting import fit_all_or_nothing, fit_weighted
from skranode.utils._math import log_mean_exp
from skranode.utils._scores import MeanLogLikelihoodMixin
from skranode.utils._torch import TorchStateMixin, as_tensor, draw_seed, seeded
from skranode.utils._validation import (
    check_event_weights,
    check_mass,
    mass_units_hint,
    sampled_events,
    split_features_and_mass,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike
    from typing_extensions import Self

    from skranode.utils._typing import Seed

__all__ = ["CURTAINs", "MorphingFlow", "default_curtains_base"]

#: Fewest sideband events :class:`CURTAINs` trains on.
MIN_SIDEBAND_EVENTS = 10


def default_curtains_base():
    """The base density of :class:`CURTAINs` (``base=None``).

    The affine background flow (:data:`~skranode.presets.AFFINE_BACKGROUND_FLOW`:
    six MAF layers of 64 units, at most 2000 optimizer steps on batches
    adapted to the data) with only its best epoch kept: the morphing flow's
    training evaluates the base at every step, and one kept epoch costs a
    fifth of five, affine layers half of splines.

    Returns
    -------
    flow : ConditionalFlowDensity
    """
    return ConditionalFlowDensity(**{**AFFINE_BACKGROUND_FLOW.params(), "n_best": 1})


class MorphingFlow(nn.Module):
    """An invertible map of the features from a source mass to a target mass.

    ``n_layers`` affine autoregressive layers, each conditioned on the source
    and target masses ``(c1, c2, c2 - c1)``. Layer ``k`` maps towards the
    source in one pass,
    ``z = y * exp(d * s_k(y_<, c)) + d * t_k(y_<, c)`` with ``d = c2 - c1``,
    every second layer acting on the features in reversed order; at ``d = 0``
    every layer, hence the map, is the identity.

    Parameters
    ----------
    n_features : int
        Number of features.
    n_layers : int
        Number of autoregressive layers.
    n_hidden : int
        Width of the conditioner networks.
    n_hidden_layers : int, default=2
        Hidden layers of each conditioner.
    scale_bound : float, default=3.0
        Soft bound on ``s_k`` per unit of ``d``.
    """

    def __init__(self, n_features, n_layers, n_hidden, n_hidden_layers=2, scale_bound=3.0):
        super().__init__()
        self.n_features = n_features
        self.scale_bound = float(scale_bound)
        self.mades = nn.ModuleList(
            MADE(n_features, 3, n_hidden, n_hidden_layers, n_params=2) for _ in range(n_layers)
        )

    def _params(self, made, y, cond, delta):
        params = made(y, cond)
        raw, shift = params[:, : self.n_features], params[:, self.n_features :]
        log_scale = self.scale_bound * torch.tanh(raw / self.scale_bound) * delta
        return shift * delta, log_scale

    @staticmethod
    def _condition(c1, c2):
        return torch.cat([c1, c2, c2 - c1], dim=1), c2 - c1

    def to_source(self, y, c1, c2):
        """``g^-1``: target-mass features to source-mass features, in one pass per layer.

        Parameters
        ----------
        y : Tensor of shape (n, n_features)
            Features at the target masses.
        c1, c2 : Tensor of shape (n, 1)
            Source and target masses (the flow's context).

        Returns
        -------
        z : Tensor of shape (n, n_features)
            Features at the source masses.
        log_det : Tensor of shape (n,)
            ``log |det dz / dy|``.
        """
        cond, delta = self._condition(c1, c2)
        log_det = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
        for k, made in enumerate(self.mades):
            u = y.flip(1) if k % 2 else y
            shift, log_scale = self._params(made, u, cond, delta)
            u = u * torch.exp(log_scale) + shift
            y = u.flip(1) if k % 2 else u
            log_det = log_det + log_scale.sum(dim=1)
        return y, log_det

    def to_target(self, z, c1, c2):
        """``g``: source-mass features to target-mass features (the inverse of :meth:`to_source`).

        Parameters
        ----------
        z : Tensor of shape (n, n_features)
            Features at the source masses.
        c1, c2 : Tensor of shape (n, 1)
            Source and target masses.

        Returns
        -------
        y : Tensor of shape (n, n_features)
            Features at the target masses.
        log_det : Tensor of shape (n,)
            ``log |det dy / dz|``.
        """
        cond, delta = self._condition(c1, c2)
        log_det = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
        for k in reversed(range(len(self.mades))):
            out = z.flip(1) if k % 2 else z
            u = torch.zeros_like(out)
            for _ in range(self.n_features):  # autoregressive: one feature per pass
                shift, log_scale = self._params(self.mades[k], u, cond, delta)
                u = (out - shift) * torch.exp(-log_scale)
            z = u.flip(1) if k % 2 else u
            log_det = log_det - log_scale.sum(dim=1)
        return z, log_det


def _base_log_prob(base_flows, y, c):
    """log p_base(y | c) in the base flow's space, averaged over its kept epochs."""
    if len(base_flows) == 1:
        return base_flows[0].log_prob(y, c)
    return log_mean_exp(torch.stack([f.log_prob(y, c) for f in base_flows]))


class CURTAINs(TorchStateMixin, MeanLogLikelihoodMixin, DensityMixin, BaseEstimator):
    """Background model that morphs sideband events into the signal region (CURTAINsF4F).

    ``fit`` takes *all* events and uses the sidebands only: it learns a base
    density of the sideband events and a morphing flow that carries the
    features of an event at one sideband mass to another mass by maximum
    likelihood (flows for flows; see :mod:`skranode.curtains`). Background in
    the signal region is then made from *real* sideband events:
    :meth:`sample` picks sideband events uniformly at random from both sides
    and morphs each to its target mass, so that the generated events inherit
    the data's features up to the learned change with mass. It follows the
    background-model protocol of :mod:`skranode.background`, so that
    ``CATHODEClassifier(background=CURTAINs(...))`` is the published CURTAINs
    method and R-ANODE can use its density.

    Parameters
    ----------
    signal_region : tuple of float or None, default=(3.3, 3.7)
        ``(low, high)``, excluded from the training (``low <= m < high``).
        None takes every event passed to ``fit`` as a sideband event (select
        them yourself); there is then no mass-spectrum fit.
    sideband : tuple of float or None, default=None
        Outer limits of the sidebands; None uses every event outside the
        signal region.
    base : ConditionalFlowDensity, FrozenEstimator or None, default=None
        Base density of the sideband events; None uses
        :func:`default_curtains_base`. It is cloned and fitted in :meth:`fit`.
        A density already fitted to the same sideband events, wrapped in
        :class:`sklearn.frozen.FrozenEstimator` (for example
        ``FrozenEstimator(SidebandDensity(...).fit(X, m).density_)``), is used
        as it is (on its own device) and only the morphing flow is trained:
        the flows-for-flows saving of a scan, whose windows fit that density
        anyway. Each of its kept epochs is evaluated at every training step.
    n_layers : int, default=4
        Layers of the morphing flow.
    n_hidden : int, default=64
        Width of its conditioners.
    n_hidden_layers : int, default=2
        Hidden layers of each conditioner.
    batch_size : int or 'auto', default='auto'
        ``'auto'``: :func:`~skranode.training.auto_batch_size` of the
        training events (about 32 steps per epoch, 256 to 2048 events).
    learning_rate : float, default=1e-3
    weight_decay : float, default=1e-6
    max_epochs : int, default=200
    max_steps : int or None, default=2000
        Ceiling on the optimizer steps of the morphing flow: with
        ``batch_size='auto'`` the budget is the same training whatever the
        number of sideband events (formerly 20 epochs of 2048 events: 2000
        steps for the quick start's sidebands, 300 for 30 000 events).
    max_samples_per_epoch : int or None, default=None
        See :class:`~skranode.flows.ConditionalFlowDensity`.
    patience : int, default=5
        Training settings of the morphing flow (AdamW, cosine schedule, early
        stopping on a held-out part of the sidebands with fixed source masses;
        the epoch with the lowest validation loss is kept).
    validation_fraction : float, default=0.2
    n_source_masses : int, default=8
        Source masses averaged over in :meth:`score_samples`.
    mass_spectrum : estimator or None, default=None
        Model of the sideband mass spectrum for ``joint=True``; None uses
        :class:`~skranode.mass_spectrum.DijetMassSpectrum`.
    mass_column : int or None, default=None
        None: the mass is passed as ``m``; an int: that column of ``X``.
    device : str, default='auto'
    random_state : int, RandomState instance or None, default=None
    verbose : bool, default=False
        Progress bars for the two trainings.

    Attributes
    ----------
    base_ : ConditionalFlowDensity
        The fitted base density of the sideband events.
    morph_ : MorphingFlow
        The trained morphing flow (in the base's flow space).
    source_y_ : ndarray of shape (n_sideband, n_features)
        The sideband events in the base's flow space (float32), the sources
        of :meth:`sample`.
    source_p_ : ndarray of shape (n_sideband,) or None
        Probability of each source event in :meth:`sample` (its normalised
        weight), or None (uniform) for an unweighted fit.
    source_c_ : ndarray of shape (n_sideband,)
        Their standardised masses.
    source_masses_ : ndarray of shape (n_source_masses,)
        Source masses (standardised) of :meth:`score_samples`.
    mass_spectrum_ : estimator or None
        The fitted sideband mass spectrum (None without a signal region).
    n_sideband_ : int
    history_ : dict
        Training and validation loss of the morphing flow per epoch.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Notes
    -----
    A signal region with sidebands on one side only is morphed from that
    side alone (an extrapolation, not an interpolation): :meth:`fit` warns.

    Examples
    --------
    >>> from skranode.curtains import CURTAINs
    >>> from skranode.datasets import make_lhco_like
    >>> from skranode.flows import ConditionalFlowDensity
    >>> df = make_lhco_like(n_background=20000, n_signal=0, random_state=0)
    >>> X, m = df[["mjmin", "delta_mj"]], df["mjj"]
    >>> base = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=2, n_best=1)
    >>> bkg = CURTAINs(base=base, max_epochs=2, random_state=0).fit(X, m)
    >>> bkg.sample([3.4, 3.5], random_state=0).shape
    (2, 2)
    """

    _torch_attributes = ("morph_",)

    _parameter_constraints = {
        "signal_region": [tuple, list, np.ndarray, None],
        "sideband": [tuple, list, np.ndarray, None],
        "base": [HasMethods(["fit", "flow_inputs", "from_flow_space", "context"]), None],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_hidden": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_hidden_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_steps": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "max_samples_per_epoch": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_source_masses": [Interval(numbers.Integral, 1, None, closed="left")],
        "mass_spectrum": [HasMethods(["fit", "log_pdf"]), None],
        "mass_column": [numbers.Integral, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        signal_region=(3.3, 3.7),
        *,
        sideband=None,
        base=None,
        n_layers=4,
        n_hidden=64,
        n_hidden_layers=2,
        batch_size="auto",
        learning_rate=1e-3,
        weight_decay=1e-6,
        max_epochs=200,
        max_steps=2000,
        max_samples_per_epoch=None,
        patience=5,
        validation_fraction=0.2,
        n_source_masses=8,
        mass_spectrum=None,
        mass_column=None,
        device="auto",
        random_state=None,
        verbose=False,
    ):
        self.signal_region = signal_region
        self.sideband = sideband
        self.base = base
        self.n_layers = n_layers
        self.n_hidden = n_hidden
        self.n_hidden_layers = n_hidden_layers
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.max_samples_per_epoch = max_samples_per_epoch
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_source_masses = n_source_masses
        self.mass_spectrum = mass_spectrum
        self.mass_column = mass_column
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def _sidebands(self, mass):
        """The window (None without a signal region) and the mask of the sideband events."""
        if self.signal_region is None:
            window = None
            sb = np.ones(mass.shape[0], dtype=bool)
            if self.sideband is not None:
                sb = MassWindow.from_params(self.sideband).in_signal_region(mass)
        else:
            window = MassWindow.from_params(self.signal_region, self.sideband)
            if window.low >= mass.max() or window.high <= mass.min():
                raise ValueError(
                    f"signal_region {window.bounds} lies outside the mass range of the data "
                    f"[{mass.min():.4g}, {mass.max():.4g}]. "
                    f"{mass_units_hint(mass, window.center)}"
                )
            low, high = window.in_low_sideband(mass), window.in_high_sideband(mass)
            n_low, n_high = int(low.sum()), int(high.sum())
            sb = low | high
        if int(sb.sum()) < MIN_SIDEBAND_EVENTS:
            where = (
                "signal_region=None: every event is a sideband event"
                if window is None
                else f"{n_low} below and {n_high} above signal_region {window.bounds}"
            )
            raise ValueError(
                f"CURTAINs got n_samples={int(sb.sum())} sideband event(s) ({where}); it needs "
                f"at least {MIN_SIDEBAND_EVENTS} to learn how the features change with mass. "
                "Pass all events (sidebands included), widen the sidebands, or use a wider "
                "mass range."
            )
        if window is not None and min(n_low, n_high) == 0:
            side = "below" if n_low == 0 else "above"
            warnings.warn(
                f"No sideband event lies {side} signal_region {window.bounds}: CURTAINs "
                "morphs events from the other side only, an extrapolation of the change "
                "with mass rather than an interpolation between the sidebands, and no "
                "mass-spectrum fit (joint=True is unavailable). Check its closure before "
                "trusting the generated background.",
                SkranodeWarning,
                stacklevel=3,
            )
        return window, sb

    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Learn the base density and the morphing flow from the sideband events.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            All events (sidebands and signal region; the signal region is not
            used).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights of the sideband events: the base
            density (unless it is a frozen, already fitted one), the morphing
            flow and the mass-spectrum fit maximise weighted likelihoods, the
            source masses of the training pairs and the source events of
            :meth:`sample` are drawn in proportion to the weights, and the
            source masses of :meth:`score_samples` are weighted quantiles.

        Returns
        -------
        self : CURTAINs
        """
        self._validate_params()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        weight = check_event_weights(sample_weight, features.shape[0], X=X)
        window, sb = self._sidebands(mass)
        w_sb = None if weight is None else weight[sb]
        if w_sb is not None and not w_sb.any():
            raise ValueError(
                "Every sideband event has zero sample_weight: CURTAINs learns from the "
                "sidebands, so some of their events need a non-zero weight."
            )
        rng = check_random_state(self.random_state)
        base_seed = draw_seed(rng)
        if isinstance(self.base, FrozenEstimator):
            base_ = self._frozen_base(features.shape[1])
        else:
            base = default_curtains_base() if self.base is None else clone(self.base)
            base.set_params(random_state=base_seed, mass_column=None, device=self.device)
            if self.verbose:
                base.set_params(verbose=True)
            base_ = fit_weighted(base, features[sb], mass[sb], sample_weight=w_sb, role="base")
        y, c, log_jac = base_.flow_inputs(features[sb], mass[sb])
        c = c[:, 0]
        morph, history = self._train_morph(base_, y, c, log_jac, rng, w_sb)
        levels = (np.arange(self.n_source_masses) + 0.5) / self.n_source_masses
        spectrum_ = None
        one_sided = window is not None and not (
            window.in_low_sideband(mass).any() and window.in_high_sideband(mass).any()
        )
        if window is not None and not one_sided:
            spectrum_ = fit_window_spectrum(self.mass_spectrum, window, mass, weight)
        # set together, once every step has succeeded
        self.base_ = base_
        self.device_ = base_.device_
        self.morph_ = morph
        self.source_y_ = y.astype(np.float32)
        self.source_c_ = c
        self.source_p_ = None if w_sb is None else w_sb / w_sb.sum()
        self.source_masses_ = _quantiles(c, levels, w_sb)
        self.mass_spectrum_ = spectrum_
        self.n_sideband_ = int(sb.sum())
        self.history_ = history
        return self

    def _frozen_base(self, n_features):
        """The fitted density inside ``base=FrozenEstimator(...)``, checked."""
        inner = self.base.estimator
        try:
            check_is_fitted(inner)
        except NotFittedError:
            raise NotFittedError(
                f"base is a FrozenEstimator of an unfitted {type(inner).__name__}: fit it "
                "on the sideband events first, or pass it unwrapped to have CURTAINs fit it."
            ) from None
        if getattr(inner, "mass_column", None) is not None:
            raise ValueError(
                "The frozen base was fitted with mass_column set; CURTAINs needs a base "
                "fitted with the mass passed as m (mass_column=None)."
            )
        if inner.n_features_in_ != n_features:
            raise ValueError(
                f"The frozen base was fitted on {inner.n_features_in_} features; X has "
                f"{n_features}."
            )
        return inner

    def _train_morph(self, base_, y, c, log_jac, rng, weight=None):
        device = base_.device_
        n = y.shape[0]
        perm = rng.permutation(n)
        n_val = max(1, int(round(self.validation_fraction * n)))
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        batch_size = resolve_batch_size(self.batch_size, train_idx.size, self.max_samples_per_epoch)
        # validation pairs keep one source mass each, so that its loss is comparable;
        # source masses are drawn in proportion to the event weights
        p = None if weight is None else weight / weight.sum()
        c1_val = c[rng.randint(n, size=n_val) if p is None else rng.choice(n, size=n_val, p=p)]
        pool = as_tensor(c[train_idx], device)[:, None]
        pool_w = None if weight is None else as_tensor(weight[train_idx], device)
        for part, idx in (("training", train_idx), ("validation", val_idx)):
            if weight is not None and not weight[idx].any():
                raise ValueError(
                    f"Every sideband event of the random {part} part of the morphing flow "
                    "has zero sample_weight: give more events a non-zero weight, or change "
                    "random_state or validation_fraction."
                )
        seed = draw_seed(rng)
        base_flows = base_.flows_
        generator = torch.Generator(device=device).manual_seed(seed)
        draw_gen = torch.Generator(device=device).manual_seed(seed + 1)

        def loss_fn(model, yb, cb, ljb, c1b):
            if model.training:  # a fresh source mass for every event at every step
                if pool_w is None:
                    pick = torch.randint(
                        pool.shape[0], (yb.shape[0],), generator=draw_gen, device=device
                    )
                else:
                    pick = torch.multinomial(pool_w, yb.shape[0], True, generator=draw_gen)
                c1b = pool[pick]
            z, log_det = model.to_source(yb, c1b, cb)
            return -(_base_log_prob(base_flows, z, c1b) + log_det + ljb)

        def tensors(idx, c1):
            return (
                as_tensor(y[idx], device),
                as_tensor(c[idx], device)[:, None],
                as_tensor(log_jac[idx], device),
                as_tensor(c1, device)[:, None],
            )

        with seeded(seed, device):
            model = MorphingFlow(y.shape[1], self.n_layers, self.n_hidden, self.n_hidden_layers).to(
                device
            )
            result = train_model(
                model,
                loss_fn,
                tensors(train_idx, c[train_idx]),
                tensors(val_idx, c1_val),
                batch_size=batch_size,
                learning_rate=self.learning_rate,
                weight_decay=self.weight_decay,
                max_epochs=self.max_epochs,
                max_steps=self.max_steps,
                patience=self.patience,
                n_best=1,
                generator=generator,
                progress=bool(self.verbose),
                desc="CURTAINs morphing flow",
                epoch_size=self.max_samples_per_epoch,
                train_weight=None if weight is None else pool_w,
                val_weight=None if weight is None else as_tensor(weight[val_idx], device),
            )
        return result.members(model)[0], result.history()

    # ---------------------------------------------------------------- inference
    def _check_input(self, X, m):
        check_is_fitted(self, "morph_")
        return split_features_and_mass(self, X, m, reset=False, mass_column=self.mass_column)

    def morph(self, X: ArrayLike, m_source: ArrayLike, m_target: ArrayLike) -> np.ndarray:
        """Move events from their masses to target masses with the morphing flow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (no mass column), at masses ``m_source``.
        m_source, m_target : array-like of shape (n_samples,)
            Source and target masses.

        Returns
        -------
        X_morphed : ndarray of shape (n_samples, n_features)
            The features at ``m_target``; ``X`` itself (to float precision)
            where ``m_target == m_source``.
        """
        check_is_fitted(self, "morph_")
        features = np.asarray(X, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.source_y_.shape[1]:
            raise ValueError(
                f"X must have shape (n_samples, {self.source_y_.shape[1]}) (the features, "
                f"no mass column); got {features.shape}."
            )
        m1 = check_mass(m_source, features.shape[0], name="m_source")
        m2 = check_mass(m_target, features.shape[0], name="m_target")
        y, c1, _ = self.base_.flow_inputs(features, m1)
        return self._to_target(y, c1[:, 0], self.base_.context(m2)[:, 0])

    def _to_target(self, y, c1, c2):
        out = np.empty_like(y, dtype=np.float64)
        with torch.inference_mode():
            for part in batch_slices(y.shape[0], INFERENCE_BATCH):
                z, _ = self.morph_.to_target(
                    as_tensor(y[part], self.device_),
                    as_tensor(c1[part], self.device_)[:, None],
                    as_tensor(c2[part], self.device_)[:, None],
                )
                out[part] = z.double().cpu().numpy()
        features, _ = self.base_.from_flow_space(out, c2)
        return features

    def sample(self, m: ArrayLike, random_state: Seed = None) -> np.ndarray | pd.DataFrame:
        """Background events at the given masses, morphed from random sideband events.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Target masses, typically in the signal region.
        random_state : int, RandomState instance or None, default=None
            Seed of the choice of source events.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            Events in the layout of ``X`` in :meth:`fit`. A DataFrame with the columns of
            ``feature_names_in_`` when fitted on a DataFrame.
        """
        check_is_fitted(self, "morph_")
        mass = check_mass(m, None)
        c2 = self.base_.context(mass)[:, 0]
        rng = check_random_state(random_state)
        p = getattr(self, "source_p_", None)
        n_source = self.source_y_.shape[0]
        if p is None:
            pick = rng.randint(n_source, size=mass.shape[0])
        else:
            pick = rng.choice(n_source, size=mass.shape[0], p=p)
        features = self._to_target(
            self.source_y_[pick].astype(np.float64), self.source_c_[pick], c2
        )
        return sampled_events(self, features, mass)

    def score_samples(
        self, X: ArrayLike, m: ArrayLike | None = None, *, joint: bool = False
    ) -> np.ndarray:
        """Log density of the flows-for-flows model, in the original feature units.

        ``log p(x | m) = log mean_k [p_base(g^-1(y; c_k, c) | c_k) |det dg^-1/dy|]
        + log |det dy/dx|`` over the source masses ``source_masses_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.
        joint : bool, default=False
            Add ``log p_B(m)``, the sideband mass fit normalised in the signal
            region.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        features, mass = self._check_input(X, m)
        y, c, log_jac = self.base_.flow_inputs(features, mass)
        y_t, c_t = as_tensor(y, self.device_), as_tensor(c, self.device_)
        sources = as_tensor(self.source_masses_, self.device_)
        out = torch.empty(y.shape[0], dtype=torch.float64)
        with torch.inference_mode():
            for part in batch_slices(y.shape[0], 16384):
                yb, cb = y_t[part], c_t[part]
                terms = []
                for c1 in sources:
                    c1b = c1.expand(yb.shape[0], 1)
                    z, log_det = self.morph_.to_source(yb, c1b, cb)
                    terms.append(_base_log_prob(self.base_.flows_, z, c1b) + log_det)
                out[part] = log_mean_exp(torch.stack(terms)).double().cpu()
        log_p = out.numpy() + log_jac
        if joint:
            log_p = log_p + self.log_mass_density(mass)
        return log_p

    def log_mass_density(self, m: ArrayLike) -> np.ndarray:
        """``log p_B(m)`` from the sideband mass fit, normalised inside the signal region.

        Parameters
        ----------
        m : array-like of shape (n_samples,)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "morph_")
        if self.mass_spectrum_ is None:
            raise ValueError(
                "This CURTAINs was fitted with signal_region=None or with sidebands on "
                "one side only, so it has no interpolated mass spectrum; fit it on "
                "events from both sides of a signal region to use joint=True."
            )
        return self.mass_spectrum_.log_pdf(check_mass(m, None), window=tuple(self.signal_region))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


def _quantiles(values, levels, weight=None):
    """Quantiles of ``values`` at ``levels``, weighted by ``weight`` when given."""
    if weight is None:
        return np.quantile(values, levels)
    order = np.argsort(values)
    cum = np.cumsum(weight[order])
    # the midpoint rule: each event's weight centred on its position
    position = (cum - 0.5 * weight[order]) / cum[-1]
    return np.interp(levels, position, values[order])
