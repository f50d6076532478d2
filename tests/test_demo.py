"""The main job end to end, at the 'fast' preset."""

import json

import pytest

from skranode.cli import main


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The log-likelihood stays within")
def test_demo_fast_preset_runs_and_writes_plots(tmp_path):
    pytest.importorskip("skranode.inference")
    out = tmp_path / "demo"
    # an earlier run's outputs, a file of the user's and a killed run's staging folder
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"seed": 7, "plots": ["old_plot.png"]}))
    (out / "old_plot.png").write_bytes(b"old")
    (out / "my_notes.txt").write_text("mine")
    (out / ".incoming-killed").mkdir()
    assert (
        main(
            [
                "demo",
                "--preset",
                "fast",
                "--output",
                str(out),
                "--seed",
                "1",
                "--n-signal",
                "3000",
                "--device",
                "cpu",
                "--curtains",
                "--quiet",
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    for name in res["plots"]:
        assert (out / name).stat().st_size > 10_000
    # the folder holds this run's files as results.json lists them, and the user's file
    assert res["seed"] == 1
    # (and the folder's lock file, which stays: see utils._output.output_lock)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*res["plots"], "results.json", "my_notes.txt", ".skranode-lock"]
    )
    assert set(res["max_sic"]) == {
        "R-ANODE (learned w)",
        "CATHODE",
        "CURTAINs",
        "IAD",
        "supervised",
    }
    # CATHODE on the morphed sideband events finds the strong planted signal too
    assert res["max_sic"]["CURTAINs"] > 1.5
    # the supervised bound separates a strong planted signal
    assert res["max_sic"]["supervised"] > 3
    assert 0 < res["w_learned"] < 1
    assert res["n_sr_signal"] > 0
    # the background model's draws beyond the sideband events' range are counted, and
    # a note names them when they are frequent
    frac = res["background_draws_outside_range"]
    assert 0 <= frac <= 1
    assert any("outside the range of the events" in n for n in res["notes"]) == (frac >= 0.005)


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--preset", "huge"])
    assert "invalid choice" in capsys.readouterr().err
