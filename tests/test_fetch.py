"""Tests of fetch_lhco_rnd against a local HTTP server (no internet needed)."""

import dataclasses
import hashlib
import http.server
import threading

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
    """Serves a few byte strings and counts the requests."""

    def __init__(self):
        self.files = {}
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                body = server.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
