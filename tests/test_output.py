"""A job's output folder holds one run's files, replaced as a whole (issue 16)."""

import json

import pytest

from skranode.utils._output import staged_outputs


def _run(out, seed, plots, fail=False):
    with staged_outputs(out) as staging:
        for name in plots:
            (staging / name).write_text(f"{name} of seed {seed}")
        if fail:
            raise KeyboardInterrupt
        (staging / "results.json").write_text(json.dumps({"seed": seed, "plots": plots}))


def _state(out):
    return {p.name: p.read_text() for p in out.iterdir() if p.is_file()}


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
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "cache", "mine.txt", "results.json"]


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
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "results.json"]


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    (out / ".incoming-abc").mkdir(parents=True)
    (out / ".incoming-abc" / "a.png").write_text("of a killed run")
    _run(out, 3, ["a.png"])
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "results.json"]
    assert (out / "a.png").read_text() == "a.png of seed 3"


def test_a_run_without_results_json_changes_nothing(tmp_path):
    out = tmp_path / "out"
    _run(out, 1, ["a.png"])
    before = _state(out)
    with pytest.raises(RuntimeError, match="no results.json"):
        with staged_outputs(out) as staging:
            (staging / "a.png").write_text("new")
    assert _state(out) == before
