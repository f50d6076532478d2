"""Tests of fetch_lhco_rnd against a local HTTP server (no internet needed)."""

import dataclasses
import hashlib
import http.server
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from skranode.datasets import COLUMNS, _lhco, fetch_lhco_rnd
from skranode.datasets._lhco import RND_COLUMNS, RemoteFileMetadata

pytest.importorskip("tables")

FILENAME = "events_anomalydetection_v2.features.h5"


def _make_rnd_file(path, n=200, seed=0):
    """Write a small HDF file in the schema of the official R&D features file."""
    rng = np.random.default_rng(seed)
    data = {}
    for j in ("1", "2"):
        sign = 1.0 if j == "1" else -1.0
        data[f"pxj{j}"] = sign * rng.uniform(1200, 1800, n)
        data[f"pyj{j}"] = rng.normal(0, 100, n)
        data[f"pzj{j}"] = rng.normal(0, 800, n)
        data[f"mj{j}"] = rng.uniform(20, 600, n)
        tau1 = rng.uniform(0.1, 0.9, n)
        data[f"tau1j{j}"] = tau1
        data[f"tau2j{j}"] = tau1 * rng.uniform(0.1, 0.9, n)
        data[f"tau3j{j}"] = data[f"tau2j{j}"] * rng.uniform(0.3, 0.9, n)
    data["label"] = (rng.random(n) < 0.1).astype(np.float64)
    frame = pd.DataFrame(data)[list(RND_COLUMNS)]
    frame.to_hdf(path, key="df", mode="w")
    return frame


class _Server:
    """Serves a few byte strings, honours Range requests and counts the requests.

    ``faults`` is a list of what the next responses do, one entry used per
    request: ``"truncate"`` (announce the whole length, send half, close),
    ``"drop"`` (no Content-Length, half, close), ``"stall"`` (half, then
    silence), ``"corrupt"`` (flip a byte in the middle), ``"slow"`` (the whole
    body in small, slow pieces), ``"no-range"`` (ignore a Range request).
    """

    def __init__(self):
        self.files = {}
        self.requests = []
        self.ranges = []
        self.faults = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                body = server.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                fault = server.faults.pop(0) if server.faults else None
                start = 0
                wanted = self.headers.get("Range", "")
                server.ranges.append(wanted)
                if wanted.startswith("bytes=") and fault != "no-range":
                    start = int(wanted[len("bytes=") :].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                if fault == "corrupt":
                    rest = bytearray(rest)
                    rest[len(rest) // 2] ^= 0xFF
                    rest = bytes(rest)
                self.send_header("Content-Type", "application/octet-stream")
                if fault != "drop":
                    self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if fault in ("truncate", "drop", "stall"):
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    if fault == "stall":
                        time.sleep(3)
                    return
                if fault == "slow":
                    for i in range(0, len(rest), 2048):
                        self.wfile.write(rest[i : i + 2048])
                        self.wfile.flush()
                        time.sleep(0.05)
                    return
                self.wfile.write(rest)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.timeout = 5
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = _Server()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def remote(server, tmp_path, monkeypatch):
    """Serve a small R&D-like file and point LHCO_RND at it (with its real SHA-256)."""
    src = tmp_path / "source.h5"
    frame = _make_rnd_file(src)
    body = src.read_bytes()
    server.files["/" + FILENAME] = body
    meta = RemoteFileMetadata(
        filename=FILENAME,
        url=f"{server.url}/{FILENAME}?download=1",
        sha256=hashlib.sha256(body).hexdigest(),
    )
    monkeypatch.setattr(_lhco, "LHCO_RND", meta)
    return {"frame": frame, "body": body, "meta": meta, "home": tmp_path / "home"}


def _cache_dir(home):
    return home / "lhco"


def _leftovers(home):
    return sorted(p.name for p in _cache_dir(home).iterdir() if p.name.endswith(".part"))


def _expected(frame):
    data, label = _lhco.rnd_features(frame)
    return data, label


def test_first_download_then_cache_hit(server, remote):
    home = remote["home"]
    df = fetch_lhco_rnd(data_home=home, progress=False)
    assert list(df.columns) == list(COLUMNS)
    data, label = _expected(remote["frame"])
    np.testing.assert_allclose(df[list(COLUMNS[:-1])].to_numpy(), data)
    np.testing.assert_array_equal(df["label"].to_numpy(), label)
    cached = _cache_dir(home) / FILENAME
    assert cached.read_bytes() == remote["body"]
    assert len(server.requests) == 1
    assert _leftovers(home) == []

    # cache hit: the server is not contacted again
    X, y = fetch_lhco_rnd(data_home=home, progress=False, as_frame=False)
    assert len(server.requests) == 1
    np.testing.assert_allclose(X, data)
    fetch_lhco_rnd(data_home=home, download_if_missing=False, progress=False)
    assert len(server.requests) == 1


def test_progress_bar_is_shown(server, remote, capsys):
    fetch_lhco_rnd(data_home=remote["home"], progress=True)
    err = capsys.readouterr().err
    assert FILENAME in err and "100%" in err


def test_corrupted_cache_is_downloaded_again(server, remote):
    home = remote["home"]
    fetch_lhco_rnd(data_home=home, progress=False)
    cached = _cache_dir(home) / FILENAME
    body = bytearray(cached.read_bytes())
    body[len(body) // 2] ^= 0xFF
    cached.write_bytes(bytes(body))

    df = fetch_lhco_rnd(data_home=home, progress=False)
    assert len(server.requests) == 2
    assert cached.read_bytes() == remote["body"]
    assert len(df) == len(remote["frame"])
    assert _leftovers(home) == []


def test_corrupted_cache_without_download_raises(server, remote):
    home = remote["home"]
    fetch_lhco_rnd(data_home=home, progress=False)
    cached = _cache_dir(home) / FILENAME
    cached.write_bytes(b"truncated")
    with pytest.raises(OSError, match="fails its checksum"):
        fetch_lhco_rnd(data_home=home, download_if_missing=False, progress=False)
    assert len(server.requests) == 1


def test_checksum_mismatch_from_server_leaves_nothing(server, remote, monkeypatch):
    home = remote["home"]
    monkeypatch.setattr(_lhco, "LHCO_RND", dataclasses.replace(remote["meta"], sha256="0" * 64))
    with pytest.raises(OSError, match="SHA-256"):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert len(server.requests) == 1
    assert sorted(p.name for p in _cache_dir(home).iterdir()) == []


def test_missing_without_download_raises(server, remote):
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_lhco_rnd(data_home=remote["home"], download_if_missing=False, progress=False)
    assert server.requests == []


def test_http_error_leaves_nothing(server, remote, monkeypatch):
    home = remote["home"]
    meta = dataclasses.replace(remote["meta"], url=f"{server.url}/missing.h5")
    monkeypatch.setattr(_lhco, "LHCO_RND", meta)
    with pytest.raises(OSError):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert sorted(p.name for p in _cache_dir(home).iterdir()) == []


def test_md5_is_verified(server, remote, monkeypatch):
    home = remote["home"]
    good = hashlib.md5(remote["body"]).hexdigest()
    monkeypatch.setattr(
        _lhco, "LHCO_RND", dataclasses.replace(remote["meta"], sha256=None, md5=good)
    )
    fetch_lhco_rnd(data_home=home, progress=False)
    assert (_cache_dir(home) / FILENAME).is_file()
    (_cache_dir(home) / FILENAME).unlink()
    monkeypatch.setattr(
        _lhco, "LHCO_RND", dataclasses.replace(remote["meta"], sha256=None, md5="f" * 32)
    )
    with pytest.raises(OSError, match="MD5"):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert not (_cache_dir(home) / FILENAME).exists()
    assert _leftovers(home) == []


def test_unknown_checksum_records_and_checks_sha256(server, remote, monkeypatch):
    home = remote["home"]
    monkeypatch.setattr(_lhco, "LHCO_RND", dataclasses.replace(remote["meta"], sha256=None))
    with pytest.warns(UserWarning, match="No published checksum"):
        fetch_lhco_rnd(data_home=home, progress=False)
    sidecar = _cache_dir(home) / (FILENAME + ".sha256")
    assert sidecar.read_text().split()[0] == remote["meta"].sha256
    # cache hit checked against the recorded digest
    fetch_lhco_rnd(data_home=home, progress=False)
    assert len(server.requests) == 1
    (_cache_dir(home) / FILENAME).write_bytes(b"garbage")
    with pytest.warns(UserWarning):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert len(server.requests) == 2
    assert (_cache_dir(home) / FILENAME).read_bytes() == remote["body"]


def test_unknown_checksum_rejects_non_hdf5(server, remote, monkeypatch):
    home = remote["home"]
    server.files["/page.html"] = b"<html>rate limited</html>"
    meta = dataclasses.replace(remote["meta"], sha256=None, url=f"{server.url}/page.html")
    monkeypatch.setattr(_lhco, "LHCO_RND", meta)
    with pytest.raises(OSError, match="not an HDF5 file"):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert sorted(p.name for p in _cache_dir(home).iterdir()) == []


def test_default_metadata_points_to_zenodo():
    meta = _lhco.LHCO_RND
    assert meta.filename == FILENAME
    assert meta.url.startswith("https://zenodo.org/records/4536377/files/" + FILENAME)


def test_default_data_home_from_environment(server, remote, monkeypatch, tmp_path):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sk"))
    fetch_lhco_rnd(progress=False)
    assert (tmp_path / "sk" / "lhco" / FILENAME).is_file()


# ---------------------------------------------------------------- broken downloads (issue 16)
def _cached(home):
    return _cache_dir(home) / FILENAME


@pytest.mark.parametrize("checksum", ["known", "unknown"])
@pytest.mark.parametrize("fault", ["truncate", "drop", "stall"])
def test_a_download_cut_off_is_kept_and_resumed_never_cached(
    server, remote, monkeypatch, fault, checksum
):
    home = remote["home"]
    if checksum == "unknown":
        monkeypatch.setattr(_lhco, "LHCO_RND", dataclasses.replace(remote["meta"], sha256=None))
    monkeypatch.setattr(_lhco, "_download", _with_timeout(_lhco._download, 1))
    server.faults = [fault]
    with pytest.raises(OSError, match="kept in .*part.*next call resumes"):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert not _cached(home).exists()  # nothing unverified entered the cache
    assert not (_cache_dir(home) / (FILENAME + ".sha256")).exists()
    part = _cache_dir(home) / (FILENAME + ".part")
    assert 0 < part.stat().st_size < len(remote["body"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df = fetch_lhco_rnd(data_home=home, progress=False)
    assert server.ranges[-1] == f"bytes={part_size_of(server)}-"
    assert _cached(home).read_bytes() == remote["body"]
    assert len(df) == len(remote["frame"]) and not part.exists()
    assert (_cache_dir(home) / (FILENAME + ".sha256")).read_text().split()[0] == remote[
        "meta"
    ].sha256


def part_size_of(server):
    """The offset the last Range request asked for."""
    return int(server.ranges[-1][len("bytes=") :].rstrip("-"))


def _with_timeout(download, timeout):
    def wrapped(meta, path, *, progress, timeout=timeout):
        return download(meta, path, progress=progress, timeout=timeout)

    return wrapped


def test_a_server_that_does_not_resume_gives_the_whole_file_again(server, remote):
    home = remote["home"]
    server.faults = ["truncate", "no-range"]
    with pytest.raises(OSError, match="cut short|broke off"):
        fetch_lhco_rnd(data_home=home, progress=False)
    fetch_lhco_rnd(data_home=home, progress=False)
    assert _cached(home).read_bytes() == remote["body"]


def test_a_corrupted_download_is_discarded_with_a_known_checksum(server, remote):
    home = remote["home"]
    server.faults = ["corrupt"]
    with pytest.raises(OSError, match="SHA-256.*discarded"):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert sorted(p.name for p in _cache_dir(home).iterdir()) == []
    fetch_lhco_rnd(data_home=home, progress=False)  # the next call starts afresh
    assert _cached(home).read_bytes() == remote["body"]


def test_a_truncated_file_without_size_or_checksum_is_never_recorded(server, remote, monkeypatch):
    """The old failure: a dropped connection's prefix became the recorded reference."""
    home = remote["home"]
    monkeypatch.setattr(_lhco, "LHCO_RND", dataclasses.replace(remote["meta"], sha256=None))
    server.faults = ["drop", "drop"]
    for _ in range(2):
        with pytest.raises(OSError):
            fetch_lhco_rnd(data_home=home, progress=False)
        assert not _cached(home).exists()
        assert not (_cache_dir(home) / (FILENAME + ".sha256")).exists()
    with pytest.warns(UserWarning, match="No published checksum"):
        fetch_lhco_rnd(data_home=home, progress=False)
    assert _cached(home).read_bytes() == remote["body"]


_CHILD = """
import dataclasses, sys
from skranode.datasets import _lhco, fetch_lhco_rnd
_lhco.LHCO_RND = dataclasses.replace(_lhco.LHCO_RND, url=sys.argv[1], sha256=sys.argv[2])
print("started", flush=True)
fetch_lhco_rnd(data_home=sys.argv[3], progress=False)
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_download_killed_at_random_points_never_breaks_the_cache(server, remote, how):
    home = remote["home"]
    meta = remote["meta"]
    rng = np.random.default_rng(how.value)
    for delay in rng.uniform(0.0, 1.0, size=2):
        server.faults = ["slow"] * 3
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, meta.url, meta.sha256, str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout.readline().strip() == "started"
        time.sleep(delay)
        child.send_signal(how)
        child.wait(timeout=60)
        if _cached(home).exists():  # it finished first: a later call uses the cache
            assert _cached(home).read_bytes() == remote["body"]
            _cached(home).unlink()
    server.faults = []
    df = fetch_lhco_rnd(data_home=home, progress=False)
    assert len(df) == len(remote["frame"])
    assert sorted(p.name for p in _cache_dir(home).iterdir()) == [FILENAME, FILENAME + ".sha256"]


def test_a_reader_crash_on_a_corrupted_file_is_an_error_not_a_crash(tmp_path, monkeypatch):
    """The HDF5 library may crash (SIGSEGV) on a corrupted file: the read is isolated."""
    path = tmp_path / "events.h5"
    _make_rnd_file(path)
    real_run = subprocess.run

    def crashing_reader(args, **kwargs):  # what a segfault in PyTables looks like
        return real_run(
            [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
            **kwargs,
        )

    monkeypatch.setattr(_lhco.subprocess, "run", crashing_reader)
    with pytest.raises(ValueError, match="crashed the HDF5 library.*SIGSEGV.*corrupted"):
        _lhco.load_lhco_rnd(path)
