"""Windows as tasks: run in parallel workers, each with its result cached on disk.

A :class:`WindowTask` is one window's events, its :class:`WindowOptions`, its
seed and, optionally, where its result is cached (:func:`cache_key` names
it). :func:`run_windows` analyses tasks in joblib workers; a task whose cached
result is complete is read back instead (an interrupted scan resumes where
it stopped).
"""

import dataclasses
import hashlib
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed

import skranode
from skranode.mass_window import MassWindow
from skranode.scan._kfold import WindowResult, analyse_kfold_window
from skranode.scan._options import WindowOptions
from skranode.stats import mixture_profile, with_background_spread

__all__ = ["WindowTask", "cache_key", "run_windows"]

#: Bumped when a cached window's content changes meaning (old caches are not reused).
_CACHE_VERSION = 11  # 10: the hole check of the spectrum; 11: the fit's goodness of fit


@dataclass
class WindowTask:
    """One window to analyse, in a worker of :func:`run_windows`.

    Attributes
    ----------
    features : ndarray of shape (n_events, n_features)
        The events of the window and its sidebands.
    mass : ndarray of shape (n_events,)
        Their masses in TeV.
    window : MassWindow
        The signal region and its sidebands.
    options : WindowOptions
        How the window is analysed.
    random_state : int, default=0
        Seed of the window's folds and models.
    w_start : float or None, default=None
        Start of the fold models' ``w`` (None: truth-free).
    labels : ndarray of shape (n_events,) or None, default=None
        Truth, only to report it.
    cache : str or None, default=None
        Path stem of the window's cached result (``.json`` and ``.npz``): read
        when complete, written when the window is analysed.
    feature_names : list of str or None, default=None
        Names of the feature columns (None: ``x0``, ``x1``, ...).
    """

    features: np.ndarray = field(repr=False)
    mass: np.ndarray = field(repr=False)
    window: MassWindow
    options: WindowOptions
    random_state: int = 0
    w_start: float | None = None
    labels: np.ndarray = field(default=None, repr=False)
    cache: str = None
    feature_names: list | None = None

    def run(self):
        """Analyse the window here (:func:`~skranode.scan.scan_window`)."""
        return analyse_kfold_window(
            self.features,
            self.mass,
            self.window,
            self.options,
            w_start=self.w_start,
            labels=self.labels,
            random_state=self.random_state,
            feature_names=self.feature_names,
        )


def cache_key(task, **extra):
    """A digest of everything that decides a task's result.

    The events, the labels (they decide the reported truth), the window, the
    options, the seed, the start and the package version.
    """
    config = dict(
        dataclasses.asdict(task.options),
        version=_CACHE_VERSION,
        skranode=skranode.__version__,
        window=[*task.window.bounds, *task.window.sideband],
        seed=int(task.random_state),
        w_start=task.w_start,
        feature_names=task.feature_names,
        **extra,
    )
    digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode())
    for a in (task.features, task.mass):
        digest.update(np.ascontiguousarray(a).tobytes())
    if task.labels is not None:
        digest.update(b"labels")
        digest.update(np.ascontiguousarray(task.labels, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


class _Rejected(Exception):
    """A cache entry that cannot be trusted (the message says why)."""


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _summary_digest(summary):
    return _sha256(json.dumps(summary, sort_keys=True).encode())


def _read_record(path, key):
    """The cache record of ``path``, checked: its key, its summary's digest."""
    try:
        record = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError) as exc:
        raise _Rejected(f"unreadable ({type(exc).__name__})") from None
    if not isinstance(record, dict) or not isinstance(record.get("summary"), dict):
        raise _Rejected("not a skranode cache entry")
    if record.get("key") != key:
        raise _Rejected("written for other events or settings")
    if record.get("summary_sha256") != _summary_digest(record["summary"]):
        raise _Rejected("its numbers were changed after it was written")
    return record


def _read_arrays(path, record, task):
    npz = path.with_suffix(".npz")
    try:
        data = npz.read_bytes()
    except OSError:
        raise _Rejected(f"its arrays ({npz.name}) are missing") from None
    if _sha256(data) != record.get("npz_sha256"):
        raise _Rejected(f"its arrays ({npz.name}) are not the ones written with it")
    arrays = dict(np.load(io.BytesIO(data)))
    if arrays["scores"].shape != (task.mass.size,) or arrays.get("selected") is None or (
        arrays["selected"].shape != (task.mass.size,)
    ):
        raise _Rejected("its scores do not match the window's events")
    return arrays


def _read_cache(path, key, task):
    """The cached result of ``task``; raises _Rejected when the entry cannot be trusted."""
    record = _read_record(path, key)
    summary = record["summary"]
    if summary.get("skipped"):
        return WindowResult(summary)
    arrays = _read_arrays(path, record, task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profile = mixture_profile(arrays["log_ratio"], w_max=task.options.w_max)
        if "templates" in arrays:
            profile = with_background_spread(
                profile,
                arrays["templates"],
                spurious=summary.get("w_hat_sideband") or 0.0,
                signal_model=summary.get("w_std_signal_model") or 0.0,
            )
    summary["cached"] = True
    return WindowResult(
        summary,
        arrays["scores"],
        arrays["selected"].astype(bool),
        profile,
        arrays["signal_samples"],
    )


def _write_cache(path, key, result):
    npz_sha = None
    if result.scores is not None:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            scores=result.scores,
            selected=result.selected,
            log_ratio=result.profile.log_ratio,
            signal_samples=result.signal_samples,
            **({"templates": result.templates} if result.templates is not None else {}),
        )
        npz_sha = _sha256(buffer.getvalue())
        tmp = path.with_name(path.name + ".tmp.npz")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path.with_suffix(".npz"))
    record = dict(
        key=key,
        npz_sha256=npz_sha,
        summary=result.summary,
        summary_sha256=_summary_digest(result.summary),
    )
    # the summary last: a window counts as done only once both files are complete
    tmp = path.with_name(path.name + ".tmp.json")
    tmp.write_text(json.dumps(record))
    tmp.replace(path.with_suffix(".json"))


def _run_task(task, threads):
    """One window in a worker: set its torch threads, reuse or write its cache.

    A cache entry is used only when it is the one written for this task and
    unchanged since; any other is recomputed, with a note that says why.
    """
    path = None if task.cache is None else Path(task.cache)
    key = None if path is None else path.name.rsplit("_", 1)[-1]
    note = None
    if path is not None and path.with_suffix(".json").exists():
        try:
            return _read_cache(path, key, task)
        except _Rejected as exc:
            note = f"the cached result {path.name} was not used ({exc}); recomputed"
    if threads is not None:
        torch.set_num_threads(threads)
    result = task.run()
    result.backgrounds = []  # the fitted flows stay in the worker
    if note is not None:
        result.summary["notes"].append(note)
    if path is not None:
        _write_cache(path, key, result)
    return result


def run_windows(tasks, *, n_jobs=None, threads_per_job=1):
    """Analyse windows in parallel, each in its own worker (joblib).

    Parameters
    ----------
    tasks : list of WindowTask
        The windows.
    n_jobs : int or None, default=None
        Workers (joblib; ``joblib.parallel_config`` selects the backend, for
        example a dask cluster). None or 1 runs them here, one after the other.
    threads_per_job : int or None, default=1
        Torch threads in each parallel worker (one is fastest on a busy
        machine); with ``n_jobs`` None or 1 the caller's setting is kept.

    Returns
    -------
    results : generator of WindowResult
        In the order of ``tasks``, each as soon as it and those before it
        are done; without the fitted background models (they stay in the
        worker).
    """
    threads = threads_per_job if n_jobs not in (None, 1) else None
    calls = (delayed(_run_task)(task, threads) for task in tasks)
    return Parallel(n_jobs=n_jobs, return_as="generator")(calls)
