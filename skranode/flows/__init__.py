"""Conditional normalizing flows on normflows, and their training loop."""

from skranode.flows._estimator import ConditionalFlowDensity
from skranode.flows._layers import BatchNormFlow, MaskedAffineFlow, build_flow
from skranode.flows._training import TrainingResult, train_flow

__all__ = [
    "BatchNormFlow",
    "ConditionalFlowDensity",
    "MaskedAffineFlow",
    "TrainingResult",
    "build_flow",
    "train_flow",
]
