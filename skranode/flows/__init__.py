"""Conditional normalizing flows on normflows.

:class:`ConditionalFlowDensity` is the density estimator p(x | m) every method
of skranode builds on; :func:`build_flow` and the layers are the torch modules
inside it. The training loop they share is :mod:`skranode.training`
(``train_flow`` here is an alias of :func:`skranode.training.train_model`, kept
for older code).
"""

from skranode.flows._estimator import ConditionalFlowDensity
from skranode.flows._layers import MADE, BatchNormFlow, MaskedAffineFlow, build_flow
from skranode.flows._spline import AutoregressiveSplineFlow, rational_quadratic_spline
from skranode.training import TrainingResult as TrainingResult
from skranode.training import train_model

train_flow = train_model

__all__ = [
    "MADE",
    "AutoregressiveSplineFlow",
    "BatchNormFlow",
    "ConditionalFlowDensity",
    "MaskedAffineFlow",
    "build_flow",
    "rational_quadratic_spline",
]
