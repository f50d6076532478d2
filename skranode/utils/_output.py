"""A job's output folder: one run's results.json and plots, replaced as a whole."""

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

try:  # POSIX; elsewhere the folder is not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

import numpy as np

__all__ = ["output_lock", "round_value", "staged_outputs"]

_STAGING_PREFIX = ".incoming-"


_LOCK_NAME = ".skranode-lock"
_HELD = set()  # the folders this process holds, so that a job may nest output_lock


@contextlib.contextmanager
def output_lock(output):
    """Hold ``output`` for one run: a second run writing there is refused, not mixed in.

    Two scans writing one folder at once removed each other's staging folder
    and mixed their cache entries. The lock is an ``fcntl`` lock on
    ``output/.skranode-lock``, which the system releases when the process
    ends however it ends, so a killed run never leaves the folder locked.
    The same process may take it again (a job that stages its outputs
    inside it).

    Parameters
    ----------
    output : str or Path
        The output folder (created if missing).

    Yields
    ------
    output : Path

    Raises
    ------
    OSError
        When another process holds the folder, naming it and the fix.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    key = str(out.resolve())
    if key in _HELD or fcntl is None:
        yield out
        return
    with open(out / _LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OSError(
                f"Another skranode run ({holder}) is writing to {out}; its results, plots and "
                "cache would mix with this run's. Wait for it to finish, or give this run "
                "another output folder (--output)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        _HELD.add(key)
        try:
            yield out
        finally:
            _HELD.discard(key)


@contextlib.contextmanager
def staged_outputs(output):
    """Write a run's outputs into a fresh folder, then put them in place of the last run's.

    The job writes its plots and ``results.json`` into the yielded staging
    folder (inside ``output``, so that the final renames stay on one file
    system). Nothing in ``output`` changes until the job has finished: an
    interrupted or failed run leaves the previous run's files exactly as they
    were. On success the previous run's ``results.json`` goes first, then the
    files it listed under ``"plots"`` that this run did not make, then the
    new files move in, ``results.json`` last: whenever a ``results.json`` is
    in ``output``, the plots beside it are the ones it lists. Other files in
    ``output`` (a scan's ``cache/``, anything of the user's) are left alone.
    The folder is held (:func:`output_lock`) while the files are staged.

    Parameters
    ----------
    output : str or Path
        The output folder (created if missing).

    Yields
    ------
    staging : Path
        Where the run writes its files; it must write ``results.json``.
    """
    with output_lock(output) as out:
        for stale in out.glob(f"{_STAGING_PREFIX}*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
        try:
            yield staging
            _publish(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _listed(results):
    """The files a results.json says its run wrote (itself and its plots)."""
    try:
        plots = json.loads(results.read_text()).get("plots", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {Path(name).name for name in plots if isinstance(name, str)}


def _publish(staging, out):
    new = sorted(p.name for p in staging.iterdir() if p.is_file())
    if "results.json" not in new:
        raise RuntimeError("the run wrote no results.json")  # a bug of the job, not of the input
    old = _listed(out / "results.json")
    (out / "results.json").unlink(missing_ok=True)  # from here no results.json describes a mix
    for name in sorted(old - set(new)):
        (out / name).unlink(missing_ok=True)
    for name in new:
        if name != "results.json":
            os.replace(staging / name, out / name)
    os.replace(staging / "results.json", out / "results.json")


def round_value(value, digits=5):
    """``value`` rounded to ``digits`` for a report (element-wise for sequences).

    The one rounding of skranode's results: done where a result becomes a
    report (``results.json``, a table), never where it is computed; None,
    infinities and NaN are kept as they are.
    """
    if value is None:
        return None
    if np.ndim(value):
        return [round_value(v, digits) for v in value]
    value = float(value)
    return round(value, digits) if math.isfinite(value) else value
