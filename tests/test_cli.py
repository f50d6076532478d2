"""The command line's errors: one line naming the problem, exit status 2, never a traceback."""

import numpy as np
import pytest

from skranode.cli import main
from skranode.file_analysis import load_events


@pytest.mark.parametrize(
    "argv, match",
    [
        (["demo", "--n-jobs", "0"], "--n-jobs: must not be 0"),
        (["demo", "--threads", "0"], "--threads: must be >= 1"),
        (["demo", "--n-signal", "-5"], "--n-signal: must be >= 0"),
        (["run", "--data", "x.npy", "--n-signal", "-5"], "--n-signal: must be >= 0"),
        (["scan", "--n-background", "0"], "--n-background: must be >= 1"),
        (["scan", "--n-signal", "many"], "'many' is not an integer"),
        (["demo", "--seed", "-1"], "--seed: must be >= 0"),
    ],
)
def test_bad_arguments_stop_before_any_work(argv, match, capsys, monkeypatch):
    import skranode.demo

    def must_not_run(**kwargs):
        raise AssertionError("the job started despite a bad argument")

    monkeypatch.setattr(skranode.demo, "run_demo", must_not_run)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def _bad_files(tmp_path):
    good = np.c_[np.random.default_rng(0).uniform(3.3, 3.7, (20, 5)), np.zeros(20)]
    np.save(tmp_path / "good.npy", good)
    raw = (tmp_path / "good.npy").read_bytes()
    files = {
        "empty.npy": b"",
        "text.npy": b"mjj,mjmin,delta_mj\n3.5,0.1,0.2\n",
        "bad_header.npy": raw[:10] + b"{'descr': '<f8', 'fortran" + raw[40:],
        "truncated.npy": raw[: len(raw) // 2],
        "empty.h5": b"",
        "text.h5": b"not an hdf5 file\n" * 50,
        "truncated.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 100,
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "no_rows.npy", np.zeros((0, 6)))
    np.save(tmp_path / "strings.npy", np.array([["a"] * 6] * 3))
    np.save(tmp_path / "five_columns.npy", good[:, :5])
    return sorted(set(files) | {"no_rows.npy", "strings.npy", "five_columns.npy"})


BAD_FILES = [
    "bad_header.npy", "empty.h5", "empty.npy", "five_columns.npy", "no_rows.npy",
    "strings.npy", "text.h5", "text.npy", "truncated.h5", "truncated.npy",
]


def test_every_bad_file_is_listed(tmp_path):
    assert _bad_files(tmp_path) == BAD_FILES


@pytest.mark.parametrize("name", BAD_FILES)
def test_an_unreadable_file_is_one_line_naming_it(name, tmp_path, capsys):
    _bad_files(tmp_path)
    path = tmp_path / name
    with pytest.raises(ValueError, match=name):
        load_events(path)
    status = main(["run", "--data", str(path), "--output", str(tmp_path / "out"), "--quiet"])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skranode: error: ") and name in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_missing_file_is_one_line_and_the_traceback_is_on_request(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "missing.h5")
    assert main(["run", "--data", missing, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "No LHCO R&D file" in err and "SKRANODE_TRACEBACK=1" in err
    monkeypatch.setenv("SKRANODE_TRACEBACK", "1")
    with pytest.raises(FileNotFoundError):
        main(["run", "--data", missing, "--quiet"])


def test_an_interrupted_run_says_so_with_status_130(capsys, monkeypatch):
    import skranode.demo

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(skranode.demo, "run_demo", interrupted)
    assert main(["demo", "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == "skranode: interrupted"


def test_version_and_every_subcommand_has_a_description(capsys):
    import skranode
    from skranode.cli import _parser

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skranode {skranode.__version__}"
    sub = next(a for a in _parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        assert parser.description and len(parser.description) > 80, name


@pytest.mark.parametrize("argv, expected", [([], 1), (["--threads", "2"], 2)])
def test_every_command_runs_on_one_thread_per_process_unless_told(monkeypatch, argv, expected):
    import os

    import torch
    from threadpoolctl import threadpool_info

    import skranode.cli as cli
    from skranode.utils._torch import THREADS_VARIABLE

    seen = {}

    def record(args):
        seen["torch"] = torch.get_num_threads()
        seen["env"] = os.environ.get(THREADS_VARIABLE)
        seen["openmp"] = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"}
        return 0

    monkeypatch.setattr(cli, "_run_command", record)
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    torch.set_num_threads(2)
    assert cli.main(["demo", *argv]) == 0
    assert seen["torch"] == expected and seen["env"] == str(expected)
    assert seen["openmp"] <= {expected}
    # the caller's process is left as it was
    assert torch.get_num_threads() == 2 and THREADS_VARIABLE not in os.environ


def test_threads_beyond_the_free_cores_get_a_note(tmp_path, capsys, monkeypatch):
    """Issue 42: --threads 2 on a loaded 2-core machine ran past 290 s without a word."""
    import os

    from skranode.cli import thread_note

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    assert "asks for 2 cores where about 0.0 of 2 are free" in thread_note(2, None)
    assert "asks for 4 cores" in thread_note(2, 2)
    assert "asks for 4 cores" in thread_note(2, -1)  # -1: every core, each with 2 threads
    assert thread_note(1, 8) is None  # one thread per process is the safe default
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert thread_note(2, None) is None and thread_note(2, 2) is not None
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    status = main(["scan", "--data", str(tmp_path / "missing.npy"), "--threads", "2"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("skranode: note: --threads 2 with 1 job(s)"), err
