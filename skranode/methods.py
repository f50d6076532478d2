"""The registry of anomaly-detection methods that the main job (and a scan) runs per window.

A :class:`Method` says how to fit one method on the inputs of one signal region
(:class:`MethodInputs`) and how to score events with the fitted model (larger
is more signal-like). The main job runs the methods named in its ``methods``
argument, in order, skipping those whose inputs are missing; adding a method to
the table is one :func:`register_method` call, for example ANODE::

    from skranode import ANODE
    from skranode.methods import Method, register_method

    def fit_anode(inputs):
        return ANODE(inputs.background, random_state=inputs.seed).fit(inputs.X_sr, inputs.m_sr)

    register_method(Method("ANODE", fit_anode, lambda model, X, m: model.score_samples(X, m)))

and then ``run_analysis(..., methods=[*DEFAULT_METHODS, "ANODE"])``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skranode.anode import ResidualANODE
from skranode.classifiers import (
    CATHODEClassifier,
    IdealAD,
    SupervisedClassifier,
)
from skranode.curtains import CURTAINs
from skranode.flows import ConditionalFlowDensity
from skranode.inference import W_START

__all__ = [
    "DEFAULT_METHODS",
    "Method",
    "MethodInputs",
    "get_method",
    "register_method",
    "registered_methods",
]


@dataclass
class MethodInputs:
    """What a method's ``fit`` gets for one signal region.

    Attributes
    ----------
    X_sr : DataFrame
        Features of the signal-region data events.
    m_sr : ndarray
        Their masses.
    background : object
        The fitted background model of this window (the protocol of
        :mod:`skranode.background`).
    window : MassWindow
        The signal region.
    reference : DataFrame or None
        A true background sample in the signal region (features and ``mjj``).
    labelled : DataFrame or None
        Labelled signal-region events (features and ``label``).
    seed : int
        Seed of the fit.
    n_ensemble : int
        Classifiers per ensemble (from the preset).
    feature_names : list of str
        The feature columns.
    X_all, m_all : DataFrame and ndarray, or None
        Every event of the analysis (signal region and sidebands), for the
        methods that learn from the sidebands themselves (CURTAINs); None when
        the data has no sidebands.
    """

    X_sr: Any
    m_sr: np.ndarray
    background: Any
    window: Any
    reference: Any = None
    labelled: Any = None
    seed: int = 0
    n_ensemble: int = 1
    feature_names: list = field(default_factory=list)
    X_all: Any = None
    m_all: Any = None


@dataclass(frozen=True)
class Method:
    """One anomaly-detection method of the main job.

    Attributes
    ----------
    name : str
        Its row in the table and key in ``results.json``.
    fit : callable
        ``fit(inputs: MethodInputs) -> model``.
    score : callable
        ``score(model, X, m) -> ndarray``: the anomaly score of events
        (``X`` a DataFrame of the features, ``m`` their masses).
    requires : tuple of str, default=()
        Inputs it cannot run without: ``'reference'``, ``'labelled'`` and/or
        ``'X_all'`` (the sidebands).
    stage : str or None, default=None
        Progress label; None uses the name.
    """

    name: str
    fit: Callable
    score: Callable
    requires: tuple = ()
    stage: str = None

    def missing(self, inputs):
        """The reason this method cannot run on ``inputs``, or None."""
        reasons = {
            "reference": "no true background sample",
            "labelled": "no labelled sample",
            "X_all": "no sideband events",
        }
        for need in self.requires:
            if getattr(inputs, need) is None:
                return reasons[need]
        return None


_REGISTRY = {}


def register_method(method, *, replace=False):
    """Add a method to the registry.

    Parameters
    ----------
    method : Method
        The method.
    replace : bool, default=False
        Replace a registered method of the same name; otherwise that is an error.

    Returns
    -------
    method : Method
    """
    if not isinstance(method, Method):
        raise TypeError(f"register_method takes a Method; got {type(method).__name__}.")
    if method.name in _REGISTRY and not replace:
        raise ValueError(
            f"A method named {method.name!r} is registered already; pass replace=True "
            "to replace it."
        )
    _REGISTRY[method.name] = method
    return method


def get_method(name):
    """The registered method called ``name``.

    Parameters
    ----------
    name : str
        Its name.

    Returns
    -------
    method : Method
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown method {name!r}; registered: {sorted(_REGISTRY)}.") from None


def registered_methods():
    """Names of the registered methods, in registration order."""
    return list(_REGISTRY)


# ----------------------------------------------------------------- built-in methods
def _fit_ranode(inputs):
    est = ResidualANODE(inputs.background, w=W_START, learn_w=True, random_state=inputs.seed)
    return est.fit(inputs.X_sr, inputs.m_sr)


def _fit_cathode(inputs):
    est = CATHODEClassifier(
        inputs.background,
        signal_region=inputs.window.bounds,
        n_ensemble=inputs.n_ensemble,
        random_state=inputs.seed,
    )
    return est.fit(inputs.X_sr, inputs.m_sr)


def _fit_curtains(inputs):
    window = inputs.window
    # the base density: the recipe of the window's own background flow, one kept epoch
    flow = getattr(inputs.background, "density_", None)
    base = None
    if isinstance(flow, ConditionalFlowDensity):
        base = ConditionalFlowDensity(**{**flow.get_params(deep=False), "n_best": 1})
    background = CURTAINs(
        window.bounds, sideband=window.sideband, base=base, random_state=inputs.seed
    )
    background.fit(inputs.X_all, inputs.m_all)
    est = CATHODEClassifier(
        background,
        signal_region=window.bounds,
        n_ensemble=inputs.n_ensemble,
        random_state=inputs.seed,
    )
    return est.fit(inputs.X_sr, inputs.m_sr)


def _fit_iad(inputs):
    Z = np.r_[inputs.X_sr.to_numpy(), inputs.reference[inputs.feature_names].to_numpy()]
    y = np.r_[np.ones(len(inputs.X_sr)), np.zeros(len(inputs.reference))]
    return IdealAD(n_ensemble=inputs.n_ensemble, random_state=inputs.seed).fit(Z, y)


def _fit_supervised(inputs):
    est = SupervisedClassifier(n_ensemble=inputs.n_ensemble, random_state=inputs.seed)
    labelled = inputs.labelled
    return est.fit(labelled[inputs.feature_names].to_numpy(), labelled["label"].to_numpy())


def _density_ratio_score(model, X, m):
    return model.score_samples(X, m)


def _classifier_score(model, X, m):
    return model.predict_proba(X)[:, 1]


def _array_classifier_score(model, X, m):
    return model.predict_proba(np.asarray(X))[:, 1]  # fitted on arrays


register_method(
    Method(
        "R-ANODE (learned w)",
        _fit_ranode,
        _density_ratio_score,
        stage="R-ANODE with the signal fraction learned",
    )
)
register_method(Method("CATHODE", _fit_cathode, _classifier_score))
register_method(
    Method(
        "CURTAINs",
        _fit_curtains,
        _classifier_score,
        requires=("X_all",),
        stage="CURTAINs: sideband events morphed into the SR, then CATHODE",
    )
)
register_method(
    Method(
        "IAD",
        _fit_iad,
        _array_classifier_score,
        requires=("reference",),
        stage="idealized anomaly detector (IAD)",
    )
)
register_method(
    Method(
        "supervised",
        _fit_supervised,
        _array_classifier_score,
        requires=("labelled",),
        stage="supervised (truth labels)",
    )
)

#: The methods of ``skranode demo`` and ``skranode run``, in table order.
DEFAULT_METHODS = ("R-ANODE (learned w)", "CATHODE", "IAD", "supervised")
