"""Small numerical helpers shared by the estimators."""

import math

import numpy as np
import torch
from scipy.special import logsumexp

__all__ = ["log_mean_exp", "weighted_mean"]


def log_mean_exp(log_values, axis=0):
    """``log(mean(exp(log_values)))`` along ``axis``, without overflow.

    The average in probability space of several log-densities (the members
    of an ensemble, the kept epochs of a flow). Works on numpy arrays (or
    sequences of them, stacked along ``axis``) and on torch tensors.
    """
    if isinstance(log_values, torch.Tensor):
        return torch.logsumexp(log_values, dim=axis) - math.log(log_values.shape[axis])
    values = np.stack(log_values, axis=axis) if isinstance(log_values, list) else log_values
    values = np.asarray(values, dtype=np.float64)
    return logsumexp(values, axis=axis) - math.log(values.shape[axis])


def weighted_mean(values, sample_weight=None):
    """Mean of ``values`` (the ``score`` of a density), weighted by ``sample_weight``.

    The weights are validated by
    :func:`~skranode.utils._validation.check_event_weights`.
    """
    from skranode.utils._validation import check_event_weights

    values = np.asarray(values, dtype=np.float64)
    weight = check_event_weights(sample_weight, values.shape[0])
    return float(np.mean(values) if weight is None else np.average(values, weights=weight))
