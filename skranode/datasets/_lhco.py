"""Loaders for the LHC Olympics 2020 R&D data and the CATHODE signal-region arrays."""

import contextlib
import hashlib
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import get_data_home

from skranode.datasets._base import COLUMNS, to_output
from skranode.exceptions import SkranodeWarning

__all__ = [
    "LHCO_RND",
    "RemoteFileMetadata",
    "fetch_lhco_rnd",
    "lhco_sr_path",
    "load_lhco_rnd",
    "load_lhco_sr",
]

#: Columns of ``events_anomalydetection_v2.features.h5`` (momenta and masses in GeV).
RND_COLUMNS = (
    "pxj1", "pyj1", "pzj1", "mj1", "tau1j1", "tau2j1", "tau3j1",
    "pxj2", "pyj2", "pzj2", "mj2", "tau1j2", "tau2j2", "tau3j2",
    "label",
)  # fmt: skip

#: Environment variable that points to the directory of the signal-region arrays.
LHCO_SR_ENV = "SKRANODE_LHCO_SR"

_GEV_PER_TEV = 1000.0
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFileMetadata:
    """Where a remote data file lives and how to check it.

    Parameters
    ----------
    filename : str
        Name of the file in the cache directory.
    url : str
        Download address.
    sha256 : str or None
        Expected SHA-256 hex digest, or None when not known.
    md5 : str or None, default=None
        Expected MD5 hex digest (Zenodo publishes MD5), used when ``sha256`` is None.
    subdir : str, default="lhco"
        Sub-directory of the data home that holds the file.
    """

    filename: str
    url: str
    sha256: str | None
    md5: str | None = None
    subdir: str = "lhco"


#: The LHC Olympics 2020 R&D high-level features (1.1 M events), Zenodo record 4536377.
#: The published checksum of this file could not be confirmed while writing this module,
#: so both digests are None: :func:`fetch_lhco_rnd` then records the SHA-256 of the first
#: successful download next to the file and checks the cache against it afterwards.
#: Set ``sha256`` (or ``md5``, as listed on the Zenodo page) to pin the exact file.
LHCO_RND = RemoteFileMetadata(
    filename="events_anomalydetection_v2.features.h5",
    url="https://zenodo.org/records/4536377/files/events_anomalydetection_v2.features.h5?download=1",
    sha256=None,
    md5=None,
)


def _invariant_mass(p1, m1, p2, m2):
    """Invariant mass of two four-vectors given 3-momenta (n, 3) and masses (n,)."""
    e1 = np.sqrt(np.einsum("ij,ij->i", p1, p1) + m1**2)
    e2 = np.sqrt(np.einsum("ij,ij->i", p2, p2) + m2**2)
    p = p1 + p2
    m2_sum = (e1 + e2) ** 2 - np.einsum("ij,ij->i", p, p)
    # rounding can push a massless pair a hair below zero
    return np.sqrt(np.maximum(m2_sum, 0.0))


def _tau21(tau1, tau2):
    """tau2 / tau1, set to 0 where tau1 == 0 (then tau2 == 0 too: no substructure)."""
    out = np.zeros_like(tau1)
    np.divide(tau2, tau1, out=out, where=tau1 > 0)
    return out


def rnd_features(frame):
    """Compute ``mjj`` and the four CATHODE features from an R&D feature table.

    Parameters
    ----------
    frame : DataFrame
        Table with the columns of ``events_anomalydetection_v2.features.h5``
        (momenta and masses in GeV).

    Returns
    -------
    data : ndarray of shape (n_events, 5)
        ``mjj, mjmin, delta_mj, tau21_min, tau21_max`` (masses in TeV).
    label : ndarray of shape (n_events,)
        The file's truth label as int64.
    """
    missing = [c for c in RND_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The R&D table lacks the column(s) {missing}; expected the columns of "
            f"events_anomalydetection_v2.features.h5: {list(RND_COLUMNS)}."
        )
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in RND_COLUMNS}
    bad = ~np.all([np.isfinite(v) for v in values.values()], axis=0)
    if bad.any():
        raise ValueError(
            f"The R&D table has NaN or infinity in {int(bad.sum())} event(s) (first at row "
            f"{int(np.flatnonzero(bad)[0])}); skranode does not drop events silently."
        )
    p1 = np.column_stack([values["pxj1"], values["pyj1"], values["pzj1"]])
    p2 = np.column_stack([values["pxj2"], values["pyj2"], values["pzj2"]])
    mj1, mj2 = values["mj1"], values["mj2"]
    mjj = _invariant_mass(p1, mj1, p2, mj2)
    tau21_1 = _tau21(values["tau1j1"], values["tau2j1"])
    tau21_2 = _tau21(values["tau1j2"], values["tau2j2"])
    # ties (mj1 == mj2): jet 1 counts as the lighter one; both masses are equal anyway
    first_lighter = mj1 <= mj2
    data = np.column_stack(
        [
            mjj,
            np.minimum(mj1, mj2),
            np.abs(mj1 - mj2),
            np.where(first_lighter, tau21_1, tau21_2),
            np.where(first_lighter, tau21_2, tau21_1),
        ]
    )
    data[:, :3] /= _GEV_PER_TEV
    label = values["label"]
    if not np.isin(label, (0.0, 1.0)).all():
        raise ValueError("The R&D label column must contain only 0 and 1.")
    return data, label.astype(np.int64)


def load_lhco_rnd(path, *, as_frame=True):
    """Load the LHC Olympics 2020 R&D file and compute the CATHODE features.

    Reads ``events_anomalydetection_v2.features.h5`` (a pandas HDF table with
    the columns ``pxj1 pyj1 pzj1 mj1 tau1j1 tau2j1 tau3j1 pxj2 ... tau3j2
    label``, in GeV; needs PyTables) and returns, in TeV:

    * ``mjj``: invariant mass of the two jets, with ``E = sqrt(|p|**2 + m**2)``;
    * ``mjmin = min(mj1, mj2)`` and ``delta_mj = |mj1 - mj2|``;
    * ``tau21_min`` and ``tau21_max``: ``tau2 / tau1`` of the lighter and of
      the heavier jet. Where ``tau1 == 0`` (a jet with no resolvable
      substructure, for which ``tau2 == 0`` too) tau21 is set to 0, as is common
      practice; such events are kept, never dropped.

    Parameters
    ----------
    path : str or path-like
        Path of the HDF file.
    as_frame : bool, default=True
        Return a DataFrame with the columns ``mjj, mjmin, delta_mj, tau21_min,
        tau21_max, label`` when True, ``(X, y)`` otherwise.

    Returns
    -------
    frame : DataFrame of shape (n_events, 6)
        When ``as_frame=True``, in the file's event order.
    X : ndarray of shape (n_events, 5)
        When ``as_frame=False``: features with the mass first.
    y : ndarray of shape (n_events,)
        When ``as_frame=False``: 1 signal, 0 background.

    Raises
    ------
    ValueError
        If the file lacks one of the expected columns or holds NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No LHCO R&D file at {path}.")
    _check_hdf5_signature(path)
    problem = _unreadable(path)
    if problem is not None and "crashed" in problem:
        raise ValueError(
            f"{path} is not a readable LHCO R&D HDF file: {problem}. Download it again "
            "(fetch_lhco_rnd) or check its checksum."
        )
    try:
        frame = pd.read_hdf(path)
    except ImportError as exc:
        raise ImportError(
            "Reading the LHCO R&D HDF file needs PyTables: pip install tables (or skranode[lhco])."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unreadable file
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise ValueError(
            f"{path} is not a readable LHCO R&D HDF file ({type(exc).__name__}: {first[:200]}); "
            "download it again (fetch_lhco_rnd) or check the path."
        ) from exc
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{path} does not hold a pandas DataFrame.")
    data, label = rnd_features(frame)
    return to_output(data, label, as_frame)


#: The 8 bytes an HDF5 file starts with (at offset 0, 512, 1024, ... with a user block).
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _unreadable(path, *, timeout=600):
    """Why PyTables cannot read ``path`` as a table, or None when it can.

    The read runs in a child process: a corrupted HDF5 file can crash the HDF5
    library (a segmentation fault), which must not take the caller with it.
    """
    code = (
        "import sys, pandas as pd\n"
        "frame = pd.read_hdf(sys.argv[1])\n"
        "assert len(frame) > 0, 'no rows'\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"reading it took more than {timeout} s"
    if result.returncode == 0:
        return None
    if result.returncode < 0:
        try:
            name = signal.Signals(-result.returncode).name
        except ValueError:
            name = f"signal {-result.returncode}"
        return f"reading it crashed the HDF5 library ({name}): the file is corrupted"
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return lines[-1][:200] if lines else f"exit status {result.returncode}"


def _check_hdf5_signature(path):
    """Refuse a file that is not HDF5 before PyTables reads it (empty, text, truncated)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            if f.read(8) == _HDF5_SIGNATURE:
                return
            offset = 512 if offset == 0 else 2 * offset
    raise ValueError(
        f"{path} is not an HDF5 file ({size} bytes, no HDF5 signature): an empty, truncated "
        "or wrong file. Download the LHCO R&D features file again (fetch_lhco_rnd)."
    )


def load_lhco_sr(path, *, as_frame=True):
    """Load a CATHODE-style signal-region array (``.npy``, six columns).

    The file holds a float array of shape ``(n_events, 6)`` with the columns
    ``mjj, mjmin, delta_mj, tau21_min, tau21_max, label`` (masses in TeV; label 1
    signal, 0 background), as the arrays described in
    ``shared/data/lhco-sr/README.md``.

    Parameters
    ----------
    path : str or path-like
        Path of the ``.npy`` file (see :func:`lhco_sr_path`).
    as_frame : bool, default=True
        Return a DataFrame with those six columns when True, ``(X, y)`` otherwise.

    Returns
    -------
    frame : DataFrame of shape (n_events, 6)
        When ``as_frame=True``.
    X : ndarray of shape (n_events, 5)
        When ``as_frame=False``: mass first, then the four features.
    y : ndarray of shape (n_events,)
        When ``as_frame=False``: int64 labels.

    Raises
    ------
    ValueError
        If the array does not have six columns, holds NaN, or has labels other
        than 0 and 1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No signal-region array at {path}.")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - a bad header raises many different errors
        raise ValueError(
            f"{path} is not a readable .npy array ({type(exc).__name__}: {exc}); expected a "
            f"float array of shape (n_events, {len(COLUMNS)}) written by numpy.save."
        ) from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise ValueError(
            f"{path} does not hold a numeric array (dtype "
            f"{getattr(array, 'dtype', type(array).__name__)}); expected floats."
        )
    if array.ndim != 2 or array.shape[1] != len(COLUMNS):
        raise ValueError(
            f"{path} holds an array of shape {array.shape}; expected (n_events, "
            f"{len(COLUMNS)}) with the columns {list(COLUMNS)}."
        )
    if array.shape[0] == 0:
        raise ValueError(f"{path} holds no events (shape {array.shape}).")
    array = np.asarray(array, dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(f"{path} contains NaN or infinity in {int(bad.any(axis=1).sum())} rows.")
    label = array[:, -1]
    if not np.isin(label, (0.0, 1.0)).all():
        raise ValueError(f"The label column of {path} must contain only 0 and 1.")
    return to_output(array[:, :-1], label, as_frame)


def _repo_root():
    return Path(__file__).resolve().parents[2]


def lhco_sr_path(name=None):
    """Locate the directory of the LHCO signal-region arrays (or one file in it).

    The directory is ``$SKRANODE_LHCO_SR`` when that variable is set (and only
    then, even if it does not exist); otherwise ``../shared/data/lhco-sr``
    relative to the skranode source checkout, then relative to the current
    working directory.

    Parameters
    ----------
    name : str, default=None
        A file in that directory, such as ``"sr_data_part1"`` or
        ``"sr_data_part1.npy"`` (the ``.npy`` suffix is optional).

    Returns
    -------
    path : pathlib.Path or None
        The directory (``name=None``) or the file, or None when absent.
    """
    env = os.environ.get(LHCO_SR_ENV)
    if env:
        candidates = [Path(env).expanduser()]
    else:
        rel = Path("..", "shared", "data", "lhco-sr")
        candidates = [_repo_root() / rel, Path.cwd() / rel]
    for directory in candidates:
        if not directory.is_dir():
            continue
        if name is None:
            return directory.resolve()
        for candidate in (directory / name, directory / f"{name}.npy"):
            if candidate.is_file():
                return candidate.resolve()
        return None
    return None


# -- download ---------------------------------------------------------------


def _file_digest(path, algorithm):
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path):
    return path.with_name(path.name + ".sha256")


def _expected_digest(meta, path):
    """(algorithm, hexdigest) the cached file must match, or None if nothing is known."""
    if meta.sha256:
        return "sha256", meta.sha256.lower()
    if meta.md5:
        return "md5", meta.md5.lower()
    sidecar = _sidecar(path)
    if sidecar.is_file():
        recorded = sidecar.read_text().split()
        if recorded:
            return "sha256", recorded[0].lower()
    return None


def _cache_is_valid(meta, path):
    expected = _expected_digest(meta, path)
    if expected is None:
        # nothing to compare with (file put there by hand): accept it as it is
        return True
    algorithm, digest = expected
    return _file_digest(path, algorithm) == digest


def _atomic_write_text(path, text):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _partial(path):
    """Where a download in progress accumulates (kept across calls, so that it resumes)."""
    return path.with_name(path.name + ".part")


@contextlib.contextmanager
def _cache_lock(path):
    """Hold an exclusive lock on the cache directory (POSIX; elsewhere none is taken)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _total_size(resp, offset):
    """The whole file's size from Content-Range or Content-Length, or None."""
    content_range = resp.headers.get("Content-Range", "")
    if content_range.startswith("bytes ") and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        return int(total) if total.isdigit() else None
    length = resp.headers.get("Content-Length")
    return offset + int(length) if length and length.strip().isdigit() else None


def _fetch_part(meta, part, *, progress, timeout):
    """Download ``meta.url`` into ``part``, resuming what it holds; return (size, total).

    ``total`` is the size the server announced, or None when it gave none.
    A connection that drops, stalls or is interrupted leaves ``part`` as it
    is, for the next call to resume.
    """
    from tqdm.auto import tqdm

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        resp = urllib.request.urlopen(
            urllib.request.Request(meta.url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing beyond what is held: it is the whole file
            return offset, offset
        raise
    with resp:
        if offset and resp.status != 206:  # the server does not resume: start again
            offset = 0
        total = _total_size(resp, offset)
        with (
            open(part, "ab" if offset else "wb") as out,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=meta.filename,
                disable=not progress,
            ) as bar,
        ):
            try:
                # read1: what has arrived, so that a stalled stream keeps its prefix
                for block in iter(lambda: resp.read1(_CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as exc:
                out.flush()
                raise OSError(
                    f"The download of {meta.url} broke off after {out.tell()} bytes "
                    f"({type(exc).__name__}: {exc}); what arrived is kept in {part.name} "
                    "and the next call resumes from there."
                ) from exc
            size = out.tell()
    return size, total


def _check_download(meta, part, size, total):
    """Raise OSError, deleting ``part`` when it can never become valid, unless it is good."""
    if total is not None and size < total:
        raise OSError(
            f"The download of {meta.url} was cut short: got {size} of {total} bytes; it is "
            f"kept in {part.name} and the next call resumes from there."
        )

    def discard(reason):
        if total is None:  # no announced size: it may be incomplete, let the next call resume
            raise OSError(
                f"The file downloaded from {meta.url} {reason}, and the server gave no size, "
                f"so it may be incomplete: it is kept in {part.name} and the next call "
                "resumes (or discards it if nothing more comes)."
            )
        part.unlink(missing_ok=True)
        raise OSError(f"The file downloaded from {meta.url} {reason}; it was discarded.")

    if total is not None and size > total:
        discard(f"has {size} bytes, more than the {total} announced")
    if meta.sha256 and _file_digest(part, "sha256") != meta.sha256.lower():
        discard(
            f"does not have the expected SHA-256 {meta.sha256} (corrupted download or a "
            "changed remote file)"
        )
    if not meta.sha256 and meta.md5 and _file_digest(part, "md5") != meta.md5.lower():
        discard(
            f"does not have the expected MD5 {meta.md5} (corrupted download or a changed "
            "remote file)"
        )
    with open(part, "rb") as fh:
        if fh.read(len(_HDF5_SIGNATURE)) != _HDF5_SIGNATURE:
            discard("is not an HDF5 file")
    problem = _unreadable(part)
    if problem is not None:
        discard(f"cannot be read as the R&D table ({problem})")


def _download(meta, path, *, progress, timeout=60):
    """Download ``meta.url`` to ``path``, verified before it enters the cache.

    The bytes accumulate in ``<file>.part`` (resumed with an HTTP Range request
    when a call is interrupted, killed or cut off); the file is renamed into
    place only once it has its announced size, matches the checksum when one is
    known, starts with the HDF5 signature and reads as a table (in a child
    process). A part that can never become valid is deleted. Concurrent calls
    wait for each other on ``<file>.lock``.
    """
    part = _partial(path)
    with _cache_lock(path):
        if path.is_file() and _cache_is_valid(meta, path):
            return  # another process finished it while this one waited
        for stale in path.parent.glob(f".{path.name}.*.part"):  # left by older versions
            stale.unlink(missing_ok=True)
        size, total = _fetch_part(meta, part, progress=progress, timeout=timeout)
        _check_download(meta, part, size, total)
        got_sha256 = _file_digest(part, "sha256")
        if not meta.sha256 and not meta.md5:
            warnings.warn(
                f"No published checksum is configured for {meta.filename}; the download "
                "was checked for its size, its HDF5 signature and a readable table. Its "
                f"SHA-256 is {got_sha256}; it is recorded next to the file and used to "
                "check the cache from now on.",
                SkranodeWarning,
                stacklevel=3,
            )
        os.replace(part, path)
        _atomic_write_text(_sidecar(path), f"{got_sha256}  {meta.filename}\n")


def fetch_lhco_rnd(data_home=None, download_if_missing=True, *, as_frame=True, progress=True):
    """Download (once) and load the LHC Olympics 2020 R&D dataset.

    Fetches ``events_anomalydetection_v2.features.h5`` (1 M QCD dijet and
    100 k W' -> X Y signal events) from Zenodo record 4536377 into the
    scikit-learn data home, then returns it through :func:`load_lhco_rnd`.

    The download goes to ``<file>.part`` in the cache directory, is checked,
    and only then renamed into place: an interrupted, killed or cut-off
    download is resumed from there by the next call (an HTTP Range request),
    and the cache never holds a file that did not pass the checks (its
    announced size, the checksum when one is known, the HDF5 signature and a
    readable table, read in a child process). The check uses the SHA-256 (or MD5) in
    :data:`LHCO_RND` when one is set. The published checksum was not available
    when this module was written, so by default the download is checked to be
    an HDF5 file and its SHA-256 is recorded in ``<file>.sha256`` next to it
    (with a warning); later calls check the cache against that record. A cached
    file that fails its check is downloaded again (or, with
    ``download_if_missing=False``, reported as an error), never used.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Cache directory; by default ``sklearn.datasets.get_data_home()``
        (``~/scikit_learn_data`` or ``$SCIKIT_LEARN_DATA``). The file goes to
        its ``lhco`` sub-directory.
    download_if_missing : bool, default=True
        Download the file when it is not cached (or fails its checksum); when
        False, raise :class:`OSError` instead.
    as_frame : bool, default=True
        Return a DataFrame (``mjj, mjmin, delta_mj, tau21_min, tau21_max,
        label``) when True, ``(X, y)`` otherwise.
    progress : bool, default=True
        Show a tqdm progress bar while downloading.

    Returns
    -------
    frame : DataFrame of shape (1_100_000, 6)
        When ``as_frame=True``.
    X : ndarray of shape (1_100_000, 5)
        When ``as_frame=False``.
    y : ndarray of shape (1_100_000,)
        When ``as_frame=False``.

    Raises
    ------
    OSError
        If the file is missing (or corrupted) and ``download_if_missing`` is
        False, if the download fails, or if it does not match the checksum.
    """
    meta = LHCO_RND
    directory = Path(get_data_home(data_home)) / meta.subdir
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / meta.filename
    if path.is_file() and not _cache_is_valid(meta, path):
        if not download_if_missing:
            raise OSError(
                f"The cached {path} fails its checksum (corrupted or incomplete) and "
                "download_if_missing=False; delete it or allow the download."
            )
        path.unlink()
    if not path.is_file():
        if not download_if_missing:
            raise OSError(
                f"{meta.filename} is not in the cache {directory} and "
                f"download_if_missing=False; download it from {meta.url} or call "
                "fetch_lhco_rnd() with download_if_missing=True."
            )
        _download(meta, path, progress=progress)
    return load_lhco_rnd(path, as_frame=as_frame)
