"""Small numerical helpers shared by the estimators."""

import math

import numpy as np
import torch
from scipy.special import logsumexp

__all__ = ["log_mean_exp"]


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
