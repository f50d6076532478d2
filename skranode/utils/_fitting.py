"""All-or-nothing fits: the one owner of the rule that a failed fit changes nothing."""

import functools

import torch

__all__ = ["fit_all_or_nothing", "fit_weighted"]


def fit_all_or_nothing(fit):
    """Make a ``fit``-like method change its estimator only when it returns.

    The estimator's attributes are recorded before the call. When the call
    raises anything at all (a ``ValueError`` from bad input, a
    ``KeyboardInterrupt`` from Ctrl-C or SIGINT, a ``MemoryError`` halfway
    through training), they are put back exactly as they were, so that a refit
    never leaves new fitted parts beside old ones (a new scaler with the old
    flows, say) and a first fit leaves the estimator unfitted. The exception
    is then raised again unchanged. The process-wide torch settings a fit
    changes for its duration (gradient mode, number of threads) are put back
    too: an interrupt can land between a context manager's body and its exit.

    The record is shallow: this relies on the skranode convention that a fit
    builds its fitted state from new objects (a clone, a new module) and never
    trains an earlier fitted object in place.

    Parameters
    ----------
    fit : callable
        ``fit(self, *args, **kwargs)``.

    Returns
    -------
    wrapped : callable
        The same method, all or nothing.
    """

    @functools.wraps(fit)
    def wrapped(self, *args, **kwargs):
        before = dict(vars(self))
        grad_enabled, n_threads = torch.is_grad_enabled(), torch.get_num_threads()
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            torch.set_grad_enabled(grad_enabled)
            if torch.get_num_threads() != n_threads:
                torch.set_num_threads(n_threads)
            state = vars(self)
            state.clear()
            state.update(before)
            raise

    return wrapped


def fit_weighted(estimator, *args, sample_weight=None, role="model"):
    """``estimator.fit(*args, sample_weight=...)``, or a clear error if it takes no weights.

    The one place where a skranode estimator hands event weights to a part it
    fits (the background flow of :class:`~skranode.SidebandDensity`, the
    classifiers of CATHODE): without weights the part is fitted as before.

    Parameters
    ----------
    estimator : estimator
        The part to fit.
    *args
        Positional arguments of its ``fit``.
    sample_weight : ndarray or None, default=None
        Validated weights, one per event of ``args[0]``.
    role : str, default="model"
        What the part is, for the message.

    Returns
    -------
    fitted : estimator
        What ``fit`` returned.
    """
    if sample_weight is None:
        return estimator.fit(*args)
    from sklearn.utils.validation import has_fit_parameter

    if not has_fit_parameter(estimator, "sample_weight"):
        raise TypeError(
            f"sample_weight was given, but the {role} {type(estimator).__name__} does not "
            "accept sample_weight in fit. Use a model that does (every skranode density "
            "and classifier does), or fit without weights."
        )
    return estimator.fit(*args, sample_weight=sample_weight)
