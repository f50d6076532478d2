"""Validation windows: the same procedure next to a window, where it must find nothing.

One owner and one run path for both jobs: :func:`validation_tasks` builds
the tasks of a window's validation windows
(:func:`~skranode.closure.validation_windows`: pseudo-signal regions in its
sidebands), and :func:`run_validated` runs them, next to any other tasks, and
returns their verdict (:func:`~skranode.closure.summarize_validation`). The
scan validates its most significant window; the main job its signal region,
in the same parallel call as the signal region's own k-fold stage.
"""

import dataclasses
from pathlib import Path

import numpy as np

from skranode.closure import summarize_validation, validation_windows
from skranode.scan._tasks import WindowTask, cache_key, run_windows

__all__ = ["run_validated", "validation_tasks"]


def validation_tasks(
    features,
    mass,
    window,
    options,
    *,
    n_signal_region,
    data_range=None,
    random_state=0,
    feature_names=None,
):
    """The validation windows of a window, as tasks of :func:`~skranode.scan.run_windows`.

    Each is the same procedure in a pseudo-signal region next to the signal
    region, with a truth-free start of its signal models, on the events of
    its own range (none of them in the signal region), subsampled at random
    so that its pseudo-signal region holds no more events than the signal
    region: a fluctuation of mismodelling then weighs as much there as here.
    Its bump hunt's peak is scaled with the window (a window of half the size
    fits a peak of half the width). No toys and no extra methods run there.

    Parameters
    ----------
    features, mass : ndarray
        Events (any range: each validation window takes its own).
    window : MassWindow
        The window validated.
    options : WindowOptions
        Its settings.
    n_signal_region : int
        Events in its signal region.
    data_range : tuple of float or None, default=None
        ``(min, max)`` of the masses of the data; None takes those of ``mass``.
    random_state : int, default=0
        Seeds the subsampling; each window gets a seed of its own from it.
    feature_names : list of str or None, default=None
        Names of the feature columns.

    Returns
    -------
    tasks : dict
        ``{name: (task, fraction)}``: the :class:`WindowTask` of each side
        that fits inside the data, and the fraction of its events kept.
    """
    if data_range is None:
        data_range = (float(mass.min()), float(mass.max()))
    seed = int(random_state)
    rng = np.random.default_rng(seed + 1)
    out = {}
    for k, (name, vwin) in enumerate(validation_windows(window, data_range).items()):
        keep = vwin.in_range(mass)
        n_psr = int(vwin.in_signal_region(mass).sum())
        fraction = min(1.0, n_signal_region / n_psr) if n_psr else 1.0
        keep &= rng.random(mass.size) < fraction
        width = options.signal_width * (vwin.width / window.width) * window.center / vwin.center
        vopt = dataclasses.replace(options, signal_width=width, n_toys=0, methods=())
        task = WindowTask(
            features[keep],
            mass[keep],
            vwin,
            vopt,
            random_state=seed + 1 + k,
            feature_names=feature_names,
        )
        out[name] = (task, fraction)
    return out


def run_validated(tasks, named, *, n_jobs=None, threads_per_job=1, cache_dir=None, label="v"):
    """Run ``tasks`` and the validation tasks ``named`` in one parallel call.

    Parameters
    ----------
    tasks : list of WindowTask
        Tasks run next to the validation windows (may be empty).
    named : dict
        From :func:`validation_tasks`.
    n_jobs, threads_per_job
        As :func:`~skranode.scan.run_windows`.
    cache_dir : str, path or None, default=None
        Where the validation windows' results are cached (None: not cached).
    label : str, default='v'
        Part of their cache names.

    Returns
    -------
    results : list of WindowResult
        Those of ``tasks``.
    verdict : ValidationVerdict
        :func:`~skranode.closure.summarize_validation` of the validation windows.
    """
    if cache_dir is not None:
        for name, (task, _) in named.items():
            key = cache_key(task, validation=name)
            task.cache = str(Path(cache_dir) / f"validation_{label}_{name}_{key}")
    everything = list(tasks) + [task for task, _ in named.values()]
    results = list(run_windows(everything, n_jobs=n_jobs, threads_per_job=threads_per_job))
    done = results[len(tasks) :]
    verdict = summarize_validation(
        {
            name: (task.window, fraction, res.summary)
            for (name, (task, fraction)), res in zip(named.items(), done, strict=True)
        }
    )
    return results[: len(tasks)], verdict
