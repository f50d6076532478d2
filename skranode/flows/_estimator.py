"""ConditionalFlowDensity: a scikit-learn density estimator for p(x | m)."""

from __future__ import annotations

import numbers
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skranode.exceptions import SkranodeWarning
from skranode.flows._layers import build_flow
from skranode.preprocessing import LogitScaler
from skranode.training import (
    INFERENCE_BATCH,
    batch_slices,
    evaluate_in_batches,
    resolve_batch_size,
    train_model,
)
from skranode.utils._fitting import fit_all_or_nothing
from skranode.utils._math import log_mean_exp
from skranode.utils._scores import MeanLogLikelihoodMixin
from skranode.utils._torch import TorchStateMixin, as_tensor, draw_seed, seeded
from skranode.utils._validation import (
    check_event_weights,
    check_mass,
    feature_spread_problems,
    mass_units_hint,
    resolve_device,
    sampled_events,
    split_features_and_mass,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike
    from typing_extensions import Self

    from skranode.utils._typing import Seed

__all__ = ["ConditionalFlowDensity"]


#: Masses more than this factor below or above the range of the training masses
#: are refused (wrong units, labels or garbage). Scoring the whole spectrum with
#: a signal-region model (a scan's sidebands, a plot over all events) stays
#: inside; a model fitted on masses that are not all positive uses 20 standard
#: deviations of its training masses instead.
MASS_EXTRAPOLATION_FACTOR = 4.0


class ConditionalFlowDensity(TorchStateMixin, MeanLogLikelihoodMixin, DensityMixin, BaseEstimator):
    """Conditional normalizing flow density p(x | m) as a scikit-learn estimator.

    The features are mapped to an unbounded space by a :class:`LogitScaler`
    followed by standardisation; the mass (the context) is standardised. A
    feature value outside the range seen in :meth:`fit` (widened by
    ``logit_margin``) is clipped onto the edge of that range when scoring
    (``LogitScaler(out_of_range='clip')``): the event keeps its place in the
    output and gets the finite density of the edge; no event is ever dropped. A
    conditional flow built on normflows is trained by maximum likelihood with
    AdamW, a random train/validation split and early stopping. The
    ``n_best`` epochs with the lowest validation loss are kept and their
    densities averaged in probability space. All densities are reported in the
    original feature units (the preprocessing log-Jacobian is included).

    Parameters
    ----------
    flow : {'maf', 'rqs'}, default='maf'
        ``'maf'``: masked affine autoregressive flow (the published ANODE/CATHODE
        background model is 15 layers of 128 hidden units). ``'rqs'``:
        autoregressive rational-quadratic spline flow (normflows' layers).
    n_layers : int, default=15
        Number of autoregressive layers.
    n_hidden : int, default=128
        Hidden units per layer of each autoregressive network.
    n_hidden_layers : int, default=2
        Hidden layers of each MADE (``'maf'``) or residual blocks (``'rqs'``).
    batch_norm : bool, default=True
        Batch normalisation layer after each autoregressive layer.
    n_bins : int, default=8
        Spline bins (``'rqs'`` only).
    tail_bound : float, default=4.0
        Spline interval half-width in standardised units (``'rqs'`` only).
    batch_size : int or 'auto', default=2048
        Training batch size. Large batches run much faster on a CPU.
        ``'auto'``: :func:`~skranode.training.auto_batch_size` of the
        training events (the power of two nearest to a 32nd of them, between
        256 and 2048), so that a small sample still gets enough optimizer
        steps per epoch.
    learning_rate : float, default=1e-3
        AdamW learning rate.
    weight_decay : float, default=1e-6
        AdamW weight decay.
    max_epochs : int, default=100
        Maximum number of epochs.
    max_steps : int or None, default=None
        Ceiling on the optimizer steps (the epochs are capped at
        ``max_steps // steps_per_epoch``; the cosine schedule spans them):
        a budget that means the same training whatever the size of the data.
        None: only ``max_epochs`` and ``patience`` end the training.
    max_samples_per_epoch : int or None, default=None
        Train each epoch on a fresh random subset of this many training
        events instead of all of them: the cost of a training then stops
        growing with the data beyond this size, while over the epochs it
        still sees every event. ``None`` trains on every event each epoch.
        The scan uses it (:data:`~skranode.presets.SCAN_PRESETS`) so that a
        window of a million events costs what one of about a hundred thousand
        does.
    patience : int, default=10
        Stop after this many epochs without a new best validation loss.
    n_best : int, default=5
        Number of best epochs whose densities are averaged.
    validation_fraction : float, default=0.2
        Fraction of events held out for validation.
    grad_clip : float or None, default=None
        Clip the gradient norm to this value.
    lr_schedule : {'cosine', 'constant'}, default='cosine'
        ``'cosine'`` anneals the learning rate to zero over ``max_epochs``.
    precision : {'float32', 'bfloat16'}, default='float32'
        ``'bfloat16'`` runs the MAF conditioner networks' matrix products in
        bfloat16 (about twice as fast on CPUs and GPUs with bfloat16 units). The
        transform itself and its log-determinant stay in float32, so the density
        is still exactly normalised. Ignored by ``flow='rqs'``.
    logit_margin : float, default=0.02
        ``margin`` of the :class:`LogitScaler`.
    mass_column : int or None, default=None
        None: the mass is passed as ``m``. An int: the mass is that column of
        ``X`` (then ``m`` is ignored), the layout for pipelines.
    device : {'auto', 'cpu', 'cuda'} or str, default='auto'
        Where torch runs; ``'auto'`` uses CUDA when available.
    inference_batch_size : int, default=16384
        Events per batch in :meth:`score_samples` and :meth:`sample`
        (:data:`~skranode.training.INFERENCE_BATCH`: larger batches leave
        the CPU's cache and run slower).
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the initialisation and the shuffles.
    verbose : bool, default=False
        Show a progress bar over epochs.

    Attributes
    ----------
    flows_ : torch.nn.ModuleList
        The ``n_best`` trained flows (on ``device_``).
    scaler_ : LogitScaler
        Fitted feature transform.
    flow_mean_, flow_scale_ : ndarray of shape (n_features,)
        Mean and standard deviation of the logit-scaled features: the flow's
        inputs are ``(scaler_.transform(x) - flow_mean_) / flow_scale_``.
    mass_mean_, mass_scale_ : float
        Mean and standard deviation of the training masses: the flow's
        context is ``(m - mass_mean_) / mass_scale_``.
    history_ : dict
        ``train_loss`` and ``val_loss`` per epoch (mean negative log-likelihood
        in original units), ``best_epochs``, ``stopped_early``, the
        ``batch_size`` trained with, ``n_steps`` (optimizer steps) and
        ``converged`` (:func:`~skranode.training.has_converged`: False when the
        validation loss was still falling at the last epoch, so that
        ``max_steps`` or ``max_epochs``, not the data, ended the training).
    device_ : torch.device
        Device of the fitted flows.
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    Notes
    -----
    Methods built on this density (R-ANODE's signal model, LaCATHODE, the
    w inference) use only its public methods: :meth:`score_samples`,
    :meth:`sample`, :meth:`transform_latent`, :meth:`fit_flow` (training with a
    custom per-event loss and an ``on_epoch_end`` hook), :meth:`flow_inputs`
    and :meth:`from_flow_space` (the map to the flow's space and back) and
    :meth:`context`. A subclass changes the model by overriding the two
    declared extension hooks :meth:`build_module` (the torch module trained)
    and :meth:`flow_inputs` (the inputs and log-Jacobian it sees), as R-ANODE's
    signal model does to add the mixture weight and p_S(m).

    Examples
    --------
    >>> import numpy as np
    >>> from skranode import ConditionalFlowDensity
    >>> rng = np.random.default_rng(0)
    >>> m = rng.uniform(3, 4, 2000)
    >>> X = np.c_[rng.normal(m, 0.1), rng.normal(0, 1, 2000)]
    >>> est = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=3, random_state=0)
    >>> est.fit(X, m).score_samples(X[:3], m[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "flow": [StrOptions({"maf", "rqs"})],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_hidden": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_hidden_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_norm": ["boolean"],
        "n_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "tail_bound": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_steps": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "max_samples_per_epoch": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_best": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "grad_clip": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "precision": [StrOptions({"float32", "bfloat16"})],
        "logit_margin": [Interval(numbers.Real, 0, None, closed="neither")],
        "mass_column": [numbers.Integral, None],
        "device": [str, torch.device],
        "inference_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        flow="maf",
        *,
        n_layers=15,
        n_hidden=128,
        n_hidden_layers=2,
        batch_norm=True,
        n_bins=8,
        tail_bound=4.0,
        batch_size=2048,
        learning_rate=1e-3,
        weight_decay=1e-6,
        max_epochs=100,
        max_steps=None,
        max_samples_per_epoch=None,
        patience=10,
        n_best=5,
        validation_fraction=0.2,
        grad_clip=None,
        lr_schedule="cosine",
        precision="float32",
        logit_margin=0.02,
        mass_column=None,
        device="auto",
        inference_batch_size=INFERENCE_BATCH,
        random_state=None,
        verbose=False,
    ):
        self.flow = flow
        self.n_layers = n_layers
        self.n_hidden = n_hidden
        self.n_hidden_layers = n_hidden_layers
        self.batch_norm = batch_norm
        self.n_bins = n_bins
        self.tail_bound = tail_bound
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.max_samples_per_epoch = max_samples_per_epoch
        self.patience = patience
        self.n_best = n_best
        self.validation_fraction = validation_fraction
        self.grad_clip = grad_clip
        self.lr_schedule = lr_schedule
        self.precision = precision
        self.logit_margin = logit_margin
        self.mass_column = mass_column
        self.device = device
        self.inference_batch_size = inference_batch_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Fit the flow to events ``X`` at masses ``m``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features (plus the mass column when ``mass_column`` is set).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights: the fit maximises the weighted
            likelihood ``sum_i w_i log p(x_i | m_i) / sum_i w_i`` (training
            and validation loss alike), so that an event of weight 2 counts
            as that event twice. Negative weights are refused
            (:func:`~skranode.utils._validation.check_event_weights` says
            why). The preprocessing (feature range and standardisation) is
            unweighted: it only reparametrises the flow.

        Returns
        -------
        self : ConditionalFlowDensity
        """
        self._validate_params()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        check_event_weights(sample_weight, features.shape[0], X=X)
        n_in, names = self.n_features_in_, getattr(self, "feature_names_in_", None)
        # the public training hook, also for subclasses
        self.fit_flow(features, mass, sample_weight=sample_weight)
        self.n_features_in_ = n_in  # what validate_data saw: the mass column included
        if names is not None:
            self.feature_names_in_ = names
        return self

    def _fit_preprocessing(self, features, mass):
        constant, heavy = feature_spread_problems(
            features, getattr(self, "feature_names_in_", None)
        )
        if constant:
            raise ValueError(f"{type(self).__name__}: " + " ".join(constant))
        for message in heavy:
            warnings.warn(f"{type(self).__name__}: {message}", SkranodeWarning, stacklevel=4)
        self.scaler_ = LogitScaler(margin=self.logit_margin).fit(features)
        y = self.scaler_.transform(features)
        self.flow_mean_ = y.mean(axis=0)
        self.flow_scale_ = _safe_scale(y.std(axis=0))
        self.mass_mean_ = float(mass.mean())
        self.mass_scale_ = float(_safe_scale(np.atleast_1d(mass.std()))[0])
        self.mass_range_ = (float(mass.min()), float(mass.max()))

    def context(self, mass) -> np.ndarray:
        """The flow's context: the standardised mass, shape ``(n_samples, 1)``.

        Parameters
        ----------
        mass : ndarray of shape (n_samples,)
            Masses.

        Returns
        -------
        c : ndarray of shape (n_samples, 1)
        """
        mass = np.asarray(mass, dtype=np.float64)
        c = (mass - self.mass_mean_) / self.mass_scale_
        far = self._far_masses(mass, c)
        if far.any():
            raise ValueError(self._far_mass_message(mass, far))
        return c[:, None]

    def _allowed_masses(self):
        """(low, high) of the masses this model evaluates."""
        low, high = getattr(self, "mass_range_", (self.mass_mean_, self.mass_mean_))
        if low > 0:
            return low / MASS_EXTRAPOLATION_FACTOR, high * MASS_EXTRAPOLATION_FACTOR
        return self.mass_mean_ - 20 * self.mass_scale_, self.mass_mean_ + 20 * self.mass_scale_

    def _far_masses(self, mass, c):
        low, high = self._allowed_masses()
        return (mass < low) | (mass > high)

    def _far_mass_message(self, mass, far):
        low, high = getattr(self, "mass_range_", (self.mass_mean_, self.mass_mean_))
        allowed = self._allowed_masses()
        message = (
            f"{int(far.sum())} of {mass.shape[0]} mass(es) (first m={mass[far][0]:.6g}) lie "
            f"outside [{allowed[0]:.4g}, {allowed[1]:.4g}], far from the masses "
            f"{type(self).__name__} was fitted on ({low:.4g} to {high:.4g}): a conditional "
            "density cannot extrapolate that far. "
        )
        return message + mass_units_hint(mass[far], max(abs(low), abs(high)))

    def flow_inputs(self, features, mass):
        """Events in the flow's space (extension hook).

        Parameters
        ----------
        features : ndarray of shape (n_samples, n_features)
            Validated features in their original units.
        mass : ndarray of shape (n_samples,)
            Their masses.

        Returns
        -------
        y : ndarray of shape (n_samples, n_features)
            Logit-scaled, standardised features.
        c : ndarray of shape (n_samples, 1)
            :meth:`context` of the masses.
        log_jac : ndarray of shape (n_samples,)
            ``log |det dy/dx|``, added to the flow's log-density to give the
            density in the original units. A subclass that models the mass too
            adds the mass Jacobian here.
        """
        y = (self.scaler_.transform(features) - self.flow_mean_) / self.flow_scale_
        log_jac = self.scaler_.log_abs_det_jacobian(features) - np.log(self.flow_scale_).sum()
        return y, self.context(mass), log_jac

    def from_flow_space(self, y, c):
        """Inverse of :meth:`flow_inputs`: features and masses from the flow's space.

        Parameters
        ----------
        y : ndarray of shape (n_samples, n_features)
            Points of the flow's space.
        c : ndarray of shape (n_samples,) or (n_samples, 1)
            Their contexts.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features)
        mass : ndarray of shape (n_samples,)
        """
        c = np.asarray(c, dtype=np.float64).reshape(-1)
        features = self.scaler_.inverse_transform(y * self.flow_scale_ + self.flow_mean_)
        return features, c * self.mass_scale_ + self.mass_mean_

    def _split(self, n, rng):
        n_val = int(round(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 2:
            raise ValueError(
                f"{type(self).__name__} got n_samples={n} event(s): too few for a training "
                f"set and a validation set with validation_fraction="
                f"{self.validation_fraction}."
            )
        perm = rng.permutation(n)
        return perm[n_val:], perm[:n_val]

    @fit_all_or_nothing
    def fit_flow(
        self,
        features: np.ndarray,
        mass: np.ndarray,
        *,
        loss=None,
        extra=(),
        on_epoch_end=None,
        sample_weight: ArrayLike | None = None,
        init: int = 0,
    ) -> Self:
        """Fit on validated arrays, optionally with a custom loss (the training hook).

        The preprocessing is fitted on all the events, then the module of
        :meth:`build_module` is trained by :func:`skranode.training.train_model`
        on a random training part, with early stopping on the rest.

        Parameters
        ----------
        features : ndarray of shape (n_samples, n_features)
            Features, already validated (no mass column).
        mass : ndarray of shape (n_samples,)
            Their masses.
        loss : callable or None, default=None
            ``loss(module, y, c, log_jac, *extra) -> (batch,)`` per-event
            losses, with the inputs of :meth:`flow_inputs`; None is
            ``-log p(x | m)`` in the original units.
        extra : tuple of ndarray, default=()
            Per-event arrays batched with the events and handed to ``loss``
            (R-ANODE passes the fixed log p_B).
        on_epoch_end : callable or None, default=None
            ``on_epoch_end(epoch, module, validation)`` after each epoch's
            validation pass; ``validation`` is the tuple of the held-out
            events' tensors ``(y, c, log_jac, *extra)`` on the device (the
            events not trained on, the same every epoch), so that a parameter
            set in the hook can be fitted out of sample. A method that needs
            the held-out events' weights there passes them in ``extra`` too.
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights of the loss (see :meth:`fit`).
        init : int, default=0
            Index of the restart: the training/validation split depends on
            ``random_state`` only, the initialisation and the shuffles on
            ``random_state`` and ``init``, so restarts with the same
            ``random_state`` are compared on the same held-out events.
            ``init=0`` is the training of :meth:`fit`.

        Returns
        -------
        self : ConditionalFlowDensity
        """
        if isinstance(init, bool) or not isinstance(init, numbers.Integral) or init < 0:
            raise ValueError(f"init must be a non-negative int, got {init!r}.")
        weight = check_event_weights(sample_weight, features.shape[0])
        self._fit_arrays(
            features,
            mass,
            loss=loss,
            extra=extra,
            on_epoch_end=on_epoch_end,
            weight=weight,
            init=int(init),
        )
        # fitted on arrays: the features are the columns, without names
        self.n_features_in_ = features.shape[1]
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _fit_arrays(
        self, features, mass, *, loss=None, extra=(), on_epoch_end=None, weight=None, init=0
    ):
        n = features.shape[0]
        if self.batch_norm and self.batch_size != "auto" and self.batch_size < 2:
            raise ValueError(
                f"batch_size={self.batch_size} with batch_norm=True: batch normalisation "
                "needs at least 2 events per batch; raise batch_size or set batch_norm=False."
            )
        self.device_ = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        train_idx, val_idx = self._split(n, rng)
        batch_size = resolve_batch_size(self.batch_size, train_idx.size, self.max_samples_per_epoch)
        for _ in range(init + 1):
            seed = draw_seed(rng)  # restart k: the (k+1)-th seed after the split
        train_weight = val_weight = None
        if weight is not None:
            for part, idx in (("training", train_idx), ("validation", val_idx)):
                if not weight[idx].any():
                    raise ValueError(
                        f"Every event of the random {part} part has zero sample_weight, so "
                        "the weighted loss there is undefined: give more events a non-zero "
                        "weight, or change random_state or validation_fraction."
                    )
            train_weight = as_tensor(weight[train_idx], self.device_)
            val_weight = as_tensor(weight[val_idx], self.device_)
        # The preprocessing sees every event (training and validation): a
        # validation event outside a training-only range would be clipped onto
        # the edge and dominate the validation loss with log p ~ -1000.
        self._fit_preprocessing(features, mass)
        y, c, log_jac = self.flow_inputs(features, mass)
        arrays = (y, c, log_jac, *extra)
        train = tuple(as_tensor(a[train_idx], self.device_) for a in arrays)
        val = tuple(as_tensor(a[val_idx], self.device_) for a in arrays)
        loss = _nll if loss is None else loss
        with seeded(seed, self.device_):
            model = self.build_module(features.shape[1]).to(self.device_)
            generator = torch.Generator(device=self.device_).manual_seed(seed)
            result = train_model(
                model,
                loss,
                train,
                val,
                batch_size=batch_size,
                learning_rate=self.learning_rate,
                weight_decay=self.weight_decay,
                max_epochs=self.max_epochs,
                max_steps=self.max_steps,
                patience=self.patience,
                n_best=self.n_best,
                generator=generator,
                grad_clip=self.grad_clip,
                cosine_schedule=self.lr_schedule == "cosine",
                progress=bool(self.verbose),
                desc=getattr(self, "_progress_label", None) or type(self).__name__,
                on_epoch_end=on_epoch_end,
                epoch_size=self.max_samples_per_epoch,
                train_weight=train_weight,
                val_weight=val_weight,
            )
        self.flows_ = result.members(model)
        self.history_ = result.history()
        return self

    def build_module(self, n_features):
        """The torch module to train (extension hook).

        Parameters
        ----------
        n_features : int
            Number of features.

        Returns
        -------
        module : torch.nn.Module
            A normflows conditional flow with ``log_prob(y, c)``,
            ``sample(n, context)`` and ``inverse(y, c)``, built from the
            parameters.
        """
        return build_flow(
            self.flow,
            n_features,
            1,
            n_layers=self.n_layers,
            n_hidden=self.n_hidden,
            n_hidden_layers=self.n_hidden_layers,
            batch_norm=self.batch_norm,
            n_bins=self.n_bins,
            tail_bound=self.tail_bound,
            low_precision=self.precision == "bfloat16",
        )

    # ---------------------------------------------------------------- inference
    def _check_input(self, X, m):
        check_is_fitted(self, "flows_")
        return split_features_and_mass(self, X, m, reset=False, mass_column=self.mass_column)

    def _log_prob(self, features, mass):
        """log p(x | m) in original units, averaged over the kept epochs."""
        y, c, log_jac = self.flow_inputs(features, mass)
        y_t, c_t = as_tensor(y, self.device_), as_tensor(c, self.device_)

        def member_average(yb, cb):
            return log_mean_exp(torch.stack([f.log_prob(yb, cb) for f in self.flows_]))

        with torch.inference_mode():
            out = evaluate_in_batches(member_average, (y_t, c_t), self.inference_batch_size)
        log_p = out.double().cpu().numpy() + log_jac
        bad = ~np.isfinite(log_p)
        if bad.any():
            raise ValueError(
                f"log p(x | m) is not finite for {int(bad.sum())} event(s) (first at row "
                f"{np.flatnonzero(bad)[0]}): their mass (up to {np.abs(c[bad]).max():.3g} "
                "standard deviations from the training masses) or features lie too far "
                "outside the data seen in fit for the flow to evaluate. Check the units."
            )
        return log_p

    def score_samples(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Log density ``log p(x | m)`` of each event, in the original feature units.

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
        return self._log_prob(features, mass)

    def sample(self, m: ArrayLike, random_state: Seed = None) -> np.ndarray | pd.DataFrame:
        """Draw one event at each given mass.

        Because the density is the average of ``n_best`` flows, each event is
        drawn from one of them chosen uniformly at random.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Masses at which to sample.
        random_state : int, RandomState instance or None, default=None
            Seed for the draw.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            Sampled events in the layout of ``X`` in :meth:`fit` (with the mass
            in ``mass_column`` when it is set). A DataFrame with the columns of
            ``feature_names_in_`` when fitted on a DataFrame.
        """
        check_is_fitted(self, "flows_")
        mass = check_mass(m, None)
        features = self._sample_features(mass, random_state)
        return sampled_events(self, features, mass)

    def _sample_features(self, mass, random_state):
        """Draws of the flow at the given masses, in the original feature units.

        The logit scaling leaves a margin beyond the training range, and the
        flow puts a little probability there: about 2 % of the draws of the
        demo's background model have a negative ``delta_mj``. They are kept:
        redrawing them (sampling the density truncated to the fitted range)
        lowered CATHODE's max SIC on ``make_lhco_like`` at S/B 0.6 % from 17.9,
        17.7, 17.9 to 10.2, 15.0, 16.5 (three classifier seeds), so a user who
        needs physical draws selects them.
        """
        return self._draw_features(mass, check_random_state(random_state))

    def _draw_features(self, mass, rng):
        seed = draw_seed(rng)
        member = rng.randint(len(self.flows_), size=mass.shape[0])
        c = as_tensor(self.context(mass), self.device_)
        y = torch.empty((mass.shape[0], self.flow_mean_.shape[0]), device=self.device_)
        with seeded(seed, self.device_), torch.inference_mode():
            for k, flow in enumerate(self.flows_):
                idx = np.flatnonzero(member == k)
                for part in batch_slices(idx.size, self.inference_batch_size):
                    sel = torch.as_tensor(idx[part]).to(self.device_)
                    z, _ = flow.sample(sel.numel(), context=c[sel])
                    y[sel] = z
        y = y.double().cpu().numpy()
        bad = ~np.isfinite(y).all(axis=1)
        if bad.any():
            raise ValueError(
                f"Sampling gave non-finite values at {int(bad.sum())} mass(es) (first "
                f"m={mass[bad][0]:.6g}): they lie too far outside the masses seen in fit "
                "for the flow to evaluate. Check the units of m."
            )
        features, _ = self.from_flow_space(y, self.context(mass))
        return features

    def transform_latent(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Map events to the latent (standard normal) space of the best kept flow.

        The flow of the epoch with the lowest validation loss maps each event,
        at its mass, to the base distribution: where the model is right,
        background events are standard normal at every mass (LaCATHODE
        classifies there).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features)
        """
        features, mass = self._check_input(X, m)
        y, c, _ = self.flow_inputs(features, mass)
        flow = self.flows_[0]  # the epoch with the lowest validation loss
        y_t, c_t = as_tensor(y, self.device_), as_tensor(c, self.device_)
        out = np.empty_like(y)
        with torch.inference_mode():
            for part in batch_slices(y.shape[0], self.inference_batch_size):
                out[part] = flow.inverse(y_t[part], c_t[part]).double().cpu().numpy()
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags


def _nll(model, y, c, log_jac):
    return -(model.log_prob(y, c) + log_jac)


def _safe_scale(scale):
    scale = np.asarray(scale, dtype=np.float64)
    return np.where(scale > 1e-12, scale, 1.0)
