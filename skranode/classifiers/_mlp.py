"""TorchMLPClassifier: the published CATHODE classifier, a small torch MLP."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from skranode.training import INFERENCE_BATCH, batch_slices, train_model
from skranode.utils._fitting import fit_all_or_nothing
from skranode.utils._torch import TorchStateMixin, as_tensor, draw_seed, seeded
from skranode.utils._validation import check_event_weights, check_numeric_frame, resolve_device

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from typing_extensions import Self

__all__ = ["TorchMLPClassifier"]


def _network(n_in, hidden, n_out):
    layers, width = [], n_in
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    layers.append(torch.nn.Linear(width, n_out))
    return torch.nn.Sequential(*layers)


def _weighted_cross_entropy(model, x, y, w):
    return torch.nn.functional.cross_entropy(model(x), y, reduction="none") * w


class TorchMLPClassifier(TorchStateMixin, ClassifierMixin, BaseEstimator):
    """Fully connected ReLU network trained with cross-entropy, averaged over its best epochs.

    The defaults are the classifier of the CATHODE paper (Hallin et al.,
    arXiv:2109.00546): three hidden layers of 64 units, Adam with learning rate
    1e-3, batches of 128 events, 100 epochs, and the predictions of the 10
    epochs with the lowest validation loss averaged. The features are
    standardised with the mean and standard deviation of the training part.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 64, 64)
        Width of each hidden layer.
    learning_rate : float, default=1e-3
        Learning rate of the optimiser (AdamW; with ``weight_decay=0`` it is Adam).
    weight_decay : float, default=0.0
        AdamW weight decay.
    batch_size : int, default=128
        Training batch size.
    max_epochs : int, default=100
        Number of epochs.
    patience : int or None, default=None
        Stop after this many epochs without a new best validation loss; None
        trains all ``max_epochs`` (as published).
    n_best : int, default=10
        Number of epochs with the lowest validation loss whose predicted
        probabilities are averaged.
    validation_fraction : float, default=0.2
        Fraction of the events held out to rank the epochs.
    device : {'auto', 'cpu', 'cuda'} or str, default='auto'
        Where torch runs; ``'auto'`` uses CUDA when available.
    inference_batch_size : int, default=16384
        Events per batch in :meth:`predict_proba`
        (:data:`~skranode.training.INFERENCE_BATCH`).
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the initialisation and the shuffles.
    verbose : bool, default=False
        Show a progress bar over epochs.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    networks_ : torch.nn.ModuleList
        The ``n_best`` networks (on ``device_``).
    history_ : dict
        ``train_loss`` and ``val_loss`` per epoch and ``best_epochs``.
    device_ : torch.device
        Device of the fitted networks.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode.classifiers import TorchMLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = TorchMLPClassifier(max_epochs=20, batch_size=32, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _torch_attributes = ("networks_",)

    _parameter_constraints = {
        "hidden_layer_sizes": [tuple, list],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "patience": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_best": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "device": [str, torch.device],
        "inference_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64, 64, 64),
        *,
        learning_rate=1e-3,
        weight_decay=0.0,
        batch_size=128,
        max_epochs=100,
        patience=None,
        n_best=10,
        validation_fraction=0.2,
        device="auto",
        inference_batch_size=INFERENCE_BATCH,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.n_best = n_best
        self.validation_fraction = validation_fraction
        self.device = device
        self.inference_batch_size = inference_batch_size
        self.random_state = random_state
        self.verbose = verbose

    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, y: ArrayLike | None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Train the network.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training events.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-event weights of the loss (for example class weights).

        Returns
        -------
        self : TorchMLPClassifier
        """
        self._validate_params()
        hidden = tuple(self.hidden_layer_sizes)
        if not all(isinstance(h, numbers.Integral) and h >= 1 for h in hidden):
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers; got {self.hidden_layer_sizes!r}."
            )
        check_numeric_frame(X, type(self).__name__)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        weight = check_event_weights(sample_weight, X.shape[0])
        if weight is None:
            weight = np.ones(X.shape[0])
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if self.classes_.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs events of at least two classes; y holds one "
                f"class only ({self.classes_[0]!r})."
            )
        codes = encoder.transform(y)
        n = X.shape[0]
        n_val = int(round(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"{type(self).__name__} got n_samples={n}: too few events for a training "
                f"and a validation set with validation_fraction={self.validation_fraction}."
            )
        rng = check_random_state(self.random_state)
        perm = rng.permutation(n)
        train_idx, val_idx = perm[n_val:], perm[:n_val]
        self._mean = X[train_idx].mean(axis=0)
        std = X[train_idx].std(axis=0)
        self._scale = np.where(std > 1e-12, std, 1.0)
        x = (X - self._mean) / self._scale
        self.device_ = resolve_device(self.device)
        seed = draw_seed(rng)

        def tensors(idx):
            return (
                as_tensor(x[idx], self.device_),
                torch.as_tensor(codes[idx], dtype=torch.long, device=self.device_),
                as_tensor(weight[idx], self.device_),
            )

        with seeded(seed, self.device_):
            model = _network(X.shape[1], hidden, self.classes_.size).to(self.device_)
            generator = torch.Generator(device=self.device_).manual_seed(seed)
            result = train_model(
                model,
                _weighted_cross_entropy,
                tensors(train_idx),
                tensors(val_idx),
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                weight_decay=self.weight_decay,
                max_epochs=self.max_epochs,
                patience=self.max_epochs + 1 if self.patience is None else self.patience,
                n_best=self.n_best,
                generator=generator,
                progress=bool(self.verbose),
                desc=type(self).__name__,
            )
        self.networks_ = result.members(model)
        history = result.history()
        del history["stopped_early"]
        self.history_ = history
        return self

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, averaged over the kept epochs.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "networks_")
        check_numeric_frame(X, type(self).__name__)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        # Standardised values beyond +-1e4 (far outside any training event) are
        # clipped there, so that float32 cannot overflow into NaN probabilities.
        x = as_tensor(np.clip((X - self._mean) / self._scale, -1e4, 1e4), self.device_)
        n_classes = self.classes_.size
        out = np.empty((X.shape[0], n_classes))
        with torch.inference_mode():
            for part in batch_slices(X.shape[0], self.inference_batch_size):
                probs = torch.stack([torch.softmax(net(x[part]), dim=1) for net in self.networks_])
                out[part] = probs.mean(dim=0).double().cpu().numpy()
        return out

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable class of each event.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
