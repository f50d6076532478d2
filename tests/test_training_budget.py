"""Training budgets that do not depend on the size of the data (issue 40).

A budget counted in epochs of large batches trains a small sample for a few
dozen optimizer steps: the background model then has not converged, and
nothing said so. These tests pin the budget in optimizer steps
(``max_steps``, ``batch_size='auto'``), the convergence flag and its warning,
and that the default background model reaches the density a long training
reaches on tens of thousands of events.
"""

import warnings

import numpy as np
import pytest
import torch

from skranode import ConditionalFlowDensity, SidebandDensity
from skranode.datasets import FEATURE_NAMES, LHCOLikeBackgroundDensity, make_lhco_like
from skranode.exceptions import SkranodeConvergenceWarning
from skranode.training import (
    AUTO_BATCH_RANGE,
    MIN_CONVERGED_STEPS,
    auto_batch_size,
    convergence_note,
    has_converged,
    train_model,
)

FEATS = list(FEATURE_NAMES)


@pytest.mark.parametrize(
    "n_train, expected",
    [(100, 256), (8_000, 256), (20_000, 512), (31_800, 1024), (60_000, 2048), (10**7, 2048)],
)
def test_auto_batch_gives_about_32_steps_per_epoch(n_train, expected):
    batch = auto_batch_size(n_train)
    assert batch == expected
    low, high = AUTO_BATCH_RANGE
    if low < batch < high:
        assert 16 <= n_train / batch <= 64


def _tiny_training(n, batch_size, max_epochs, max_steps):
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x = torch.randn(n, 1)

    def loss(model, xb):
        return (model(xb)[:, 0] - 2 * xb[:, 0]) ** 2

    return train_model(
        model, loss, (x,), (x[:50],), batch_size=batch_size, learning_rate=1e-2,
        weight_decay=0.0, max_epochs=max_epochs, patience=1000, n_best=1,
        generator=torch.Generator().manual_seed(0), max_steps=max_steps,
    )


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_max_steps_is_a_budget_in_steps_not_epochs(n):
    """The same max_steps gives the same number of steps (to one epoch) whatever n."""
    result = _tiny_training(n, batch_size=100, max_epochs=10_000, max_steps=400)
    steps_per_epoch = n // 100
    assert result.n_steps <= 400
    assert result.n_steps > 400 - steps_per_epoch
    assert len(result.val_loss) == 400 // steps_per_epoch
    assert result.batch_size == 100


def test_max_epochs_still_caps():
    result = _tiny_training(1_000, batch_size=100, max_epochs=3, max_steps=10_000)
    assert len(result.val_loss) == 3
    assert result.n_steps == 30


def test_has_converged():
    falling = list(np.linspace(0.0, -1.0, 20))
    assert not has_converged(falling, stopped_early=False, n_steps=5000)
    plateau = [*np.linspace(0.0, -1.0, 10), *[-1.0 - 1e-4 * k for k in range(10)]]
    assert has_converged(plateau, stopped_early=False, n_steps=5000)
    assert has_converged(falling, stopped_early=True, n_steps=5000)
    assert not has_converged([0.0, -1.0], stopped_early=False)  # too short to tell
    # a flat end after a short budget (the cosine schedule flattens any curve) is not enough,
    # nor is early stopping near the end of the schedule...
    short = MIN_CONVERGED_STEPS - 1
    assert not has_converged(plateau, stopped_early=False, n_steps=short)
    assert not has_converged(plateau, stopped_early=True, n_steps=short, epoch_budget=21)
    # ... but early stopping while the learning rate is still high is convergence
    assert has_converged(plateau, stopped_early=True, n_steps=short, epoch_budget=200)


def test_convergence_note_names_the_settings():
    falling = list(np.linspace(0.0, -0.5, 15))
    history = {"val_loss": falling, "converged": False, "n_steps": 3000, "batch_size": 1024}
    note = convergence_note(history, "the background flow")
    assert note.startswith("the background flow did not converge: its validation loss still")
    assert "max_steps" in note and "batch_size='auto'" in note
    assert "3000 optimizer steps of 1024 events" in note
    short = convergence_note({**history, "n_steps": 120, "batch_size": 4096})
    assert "only 120 optimizer steps of 4096 events, at epoch 15" in short
    assert convergence_note({**history, "converged": True}) is None
    assert convergence_note(None) is None


@pytest.fixture(scope="module")
def small_sample():
    """30 000 background events around the signal region: a high-mass window's sidebands."""
    df = make_lhco_like(n_background=300_000, n_signal=0, random_state=11)
    df = df[(df["mjj"] > 3.3) & (df["mjj"] < 3.7)]
    return df.iloc[:30_000], df.iloc[30_000:50_000]


def test_short_budget_warns_and_reports_not_converged(small_sample):
    train, _ = small_sample
    flow = ConditionalFlowDensity(n_layers=2, n_hidden=16, batch_size=4096, max_epochs=3,
                                  device="cpu")
    with pytest.warns(SkranodeConvergenceWarning, match="did not converge.*max_steps"):
        bkg = SidebandDensity(signal_region=None, density=flow, random_state=0).fit(
            train[FEATS], train["mjj"]
        )
    assert bkg.converged_ is False
    assert bkg.density_.history_["converged"] is False
    assert bkg.density_.history_["n_steps"] == 3 * 6  # 24 000 training events, 6 batches


@pytest.mark.slow
def test_default_background_reaches_a_long_training(small_sample):
    """``SidebandDensity()`` on 30 000 events converges to what a long training reaches.

    The held-out log-likelihood is compared with the exact density of the
    generator (the limit of any training). Measured on these events
    (``benchmarks/bench_defaults_lhco.py`` has the real-data counterpart): the
    default (early stopping after about 400 steps) is 0.011 nats per event
    below the exact density, the same flow on batches of 256 at half the
    learning rate (4400 steps, ten times as long) 0.013, the affine flow with
    the default budget 0.019; the former default (15 epochs of 4096 events:
    84 steps, and a flat loss curve at its end) 0.038.
    """
    train, test = small_sample
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkranodeConvergenceWarning)
        bkg = SidebandDensity(signal_region=None, random_state=0).fit(train[FEATS], train["mjj"])
    assert bkg.converged_
    X, m = test[FEATS].to_numpy(), test["mjj"].to_numpy()
    gap = np.mean(LHCOLikeBackgroundDensity().score_samples(X, m) - bkg.score_samples(X, m))
    assert gap < 0.025
