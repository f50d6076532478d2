"""A job's output folder holds one run's files, replaced as a whole (issue 16)."""

import json
import subprocess
import sys
import time

import pytest

from skranode.utils._output import output_lock, staged_outputs


def _run(out, seed, plots, fail=False):
    with staged_outputs(out) as staging:
        for name in plots:
            (staging / name).write_text(f"{name} of seed {seed}")
        if fail:
            raise KeyboardInterrupt
        (staging / "results.json").write_text(json.dumps({"seed": seed, "plots": plots}))


def _names(out):
    return sorted(p.name for p in out.iterdir() if p.name != ".skranode-lock")


def _state(out):
    # the lock file stays (removing a locked file races with the next run's lock)
    return {
        p.name: p.read_text() for p in out.iterdir() if p.is_file() and p.name != ".skranode-lock"
    }


def test_a_new_run_replaces_the_last_runs_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "out"
    _run(out, 1, ["a.png", "b.png"])
    (out / "mine.txt").write_text("user")
    (out / "cache").mkdir()
    (out / "cache" / "window_0.json").write_text("{}")
    _run(out, 2, ["a.png"])
    assert _state(out) == {
        "a.png": "a.png of seed 2",
        "mine.txt": "user",
        "results.json": json.dumps({"seed": 2, "plots": ["a.png"]}),
    }
    assert (out / "cache" / "window_0.json").is_file()
    assert _names(out) == ["a.png", "cache", "mine.txt", "results.json"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_an_interrupted_or_failed_run_leaves_the_last_run_untouched(tmp_path, error):
    out = tmp_path / "out"
    _run(out, 1, ["a.png", "b.png"])
    before = _state(out)
    with pytest.raises(error):
        with staged_outputs(out) as staging:
            (staging / "a.png").write_text("half-written plot of seed 2")
            raise error
    assert _state(out) == before
    assert _names(out) == ["a.png", "b.png", "results.json"]


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    (out / ".incoming-abc").mkdir(parents=True)
    (out / ".incoming-abc" / "a.png").write_text("of a killed run")
    _run(out, 3, ["a.png"])
    assert _names(out) == ["a.png", "results.json"]
    assert (out / "a.png").read_text() == "a.png of seed 3"


def test_a_run_without_results_json_changes_nothing(tmp_path):
    out = tmp_path / "out"
    _run(out, 1, ["a.png"])
    before = _state(out)
    with pytest.raises(RuntimeError, match="no results.json"):
        with staged_outputs(out) as staging:
            (staging / "a.png").write_text("new")
    assert _state(out) == before


def test_a_second_run_in_a_held_folder_is_refused_and_a_killed_holder_frees_it(tmp_path):
    """Issue 42: two scans writing one folder failed on each other's staging folder."""
    import pandas as pd

    from skranode.scan_job import run_scan

    out = tmp_path / "out"
    _run(out, 1, ["a.png"])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom skranode.utils._output import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OSError, match=r"Another skranode run \(pid \d+, started .*--output"):
            _run(out, 2, ["b.png"])
        data = pd.DataFrame({"mjj": [3.5], "mjmin": [0.1], "delta_mj": [0.1],
                             "tau21_min": [0.5], "tau21_max": [0.5]})
        with pytest.raises(OSError, match="Another skranode run"):
            run_scan(data, mass_range=(3.0, 4.0), output=out, verbose=False)
        assert _state(out) == {"a.png": "a.png of seed 1", "results.json": json.dumps(
            {"seed": 1, "plots": ["a.png"]})}
    finally:
        holder.kill()
        holder.wait()
    _run(out, 3, ["c.png"])  # the system released the killed holder's lock
    assert json.loads((out / "results.json").read_text())["seed"] == 3
    with output_lock(out), output_lock(out):  # the same process may nest it
        time.sleep(0)
