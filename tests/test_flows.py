"""Flow layers, the training loop and ConditionalFlowDensity."""

import pickle

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from skranode.flows import BatchNormFlow, ConditionalFlowDensity, MaskedAffineFlow, build_flow
from skranode.flows._layers import MADE
from skranode.training import train_model as train_flow

FAST = dict(n_layers=2, n_hidden=16, max_epochs=5, batch_size=256, device="cpu")


def _jacobian_logdet(fn, x, c):
    """log|det J| of fn(x) per event, by autograd (exact derivatives)."""
    out = []
    for i in range(x.shape[0]):
        ci = c[i : i + 1]
        jac = torch.autograd.functional.jacobian(lambda v, ci=ci: fn(v[None], ci)[0], x[i])
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


def _randomize(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


@pytest.mark.parametrize("n_features", [1, 3, 4])
def test_made_is_autoregressive(n_features):
    made = _randomize(MADE(n_features, 2, 16, n_params=2)).double()
    gen = torch.Generator().manual_seed(n_features)
    lower = torch.zeros(n_features, n_features, dtype=torch.float64)
    seen_c = 0.0
    # at several points (the ReLUs active at one point may hide a dependence)
    for _ in range(8):
        x = torch.randn(1, n_features, generator=gen, dtype=torch.float64)
        c = torch.randn(1, 2, generator=gen, dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(lambda v, c=c: made(v, c)[0], x)[:, 0, :]
        for p in range(2):
            block = jac[p * n_features : (p + 1) * n_features]
            # output j may depend on inputs i < j only: the upper triangle incl. diagonal is 0
            assert torch.all(torch.triu(block) == 0)
        lower += torch.tril(jac[:n_features], -1).abs()
        jac_c = torch.autograd.functional.jacobian(lambda v, x=x: made(x, v)[0], c)
        seen_c = seen_c + jac_c.abs().sum(dim=(1, 2))
    if n_features > 1:
        # and it does depend on every earlier input somewhere
        assert torch.all(lower[torch.tril_indices(n_features, n_features, -1).unbind()] > 0)
    assert torch.all(seen_c > 0)  # every output sees the context


@pytest.mark.parametrize(
    "layer",
    [
        lambda: _randomize(MaskedAffineFlow(3, 1, 16)),
        lambda: _randomize(MaskedAffineFlow(3, 1, 16, low_precision=True)),
        lambda: _randomize(BatchNormFlow(3)).eval(),
        lambda: _randomize(build_flow("rqs", 3, 1, n_layers=1, n_hidden=16, batch_norm=False)),
    ],
    ids=["maf", "maf-bfloat16", "batchnorm", "rqs"],
)
def test_log_det_matches_autograd_jacobian_and_inverts(layer):
    torch.manual_seed(0)
    flow = layer().double()
    x = torch.randn(6, 3, dtype=torch.float64)
    c = torch.randn(6, 1, dtype=torch.float64)
    if hasattr(flow, "flows"):  # a whole ConditionalNormalizingFlow: check its first layer
        flow = flow.flows[0]
    z, log_det = flow.inverse(x, context=c)
    expected = _jacobian_logdet(lambda v, cc: flow.inverse(v, context=cc)[0], x, c)
    torch.testing.assert_close(log_det, expected, rtol=1e-7, atol=1e-7)
    x_back, log_det_fwd = flow.forward(z, context=c)
    torch.testing.assert_close(x_back, x, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(log_det_fwd, -log_det, rtol=1e-6, atol=1e-6)


def test_log_det_matches_finite_differences():
    """The density-direction log-Jacobian agrees with central differences."""
    flow = _randomize(MaskedAffineFlow(2, 1, 8), seed=3).double()
    x = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    c = torch.tensor([[0.2]], dtype=torch.float64)
    h = 1e-6
    jac = np.zeros((2, 2))
    for j in range(2):
        dx = torch.zeros_like(x)
        dx[0, j] = h
        up = flow.inverse(x + dx, context=c)[0]
        down = flow.inverse(x - dx, context=c)[0]
        jac[:, j] = ((up - down) / (2 * h)).detach().numpy()[0]
    fd = np.log(abs(np.linalg.det(jac)))
    assert flow.inverse(x, context=c)[1].item() == pytest.approx(fd, abs=1e-6)


def _fit_1d(flow="maf", n=4000, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    m = rng.uniform(3.0, 4.0, n)
    x = rng.gamma(2.0 + m, 0.05)
    est = ConditionalFlowDensity(
        flow, n_layers=3, n_hidden=16, max_epochs=15, batch_size=512, random_state=seed, **kwargs
    ).fit(x[:, None], m)
    return est, x, m


@pytest.mark.parametrize(
    "flow, precision", [("maf", "float32"), ("rqs", "float32"), ("maf", "bfloat16")]
)
def test_density_integrates_to_one_1d(flow, precision):
    est, _, _ = _fit_1d(flow, precision=precision)
    lo = est.scaler_.lower_[0]
    hi = lo + est.scaler_.width_[0]
    for mass in (3.1, 3.5, 3.9):
        grid = np.linspace(lo, hi, 20001)[1:-1]
        dens = np.exp(est.score_samples(grid[:, None], np.full(grid.size, mass)))
        total = integrate.trapezoid(dens, grid)
        assert total == pytest.approx(1.0, abs=0.01), (mass, total)


def test_density_integrates_to_one_2d():
    rng = np.random.default_rng(1)
    n = 4000
    m = rng.uniform(3.0, 4.0, n)
    X = np.c_[rng.normal(0.1 * m, 0.05), rng.beta(2, 3, n)]
    est = ConditionalFlowDensity(
        n_layers=3, n_hidden=16, max_epochs=15, batch_size=512, random_state=0
    ).fit(X, m)
    lo, width = est.scaler_.lower_, est.scaler_.width_
    g0 = np.linspace(lo[0], lo[0] + width[0], 402)[1:-1]
    g1 = np.linspace(lo[1], lo[1] + width[1], 402)[1:-1]
    G0, G1 = np.meshgrid(g0, g1, indexing="ij")
    pts = np.c_[G0.ravel(), G1.ravel()]
    dens = np.exp(est.score_samples(pts, np.full(len(pts), 3.5))).reshape(G0.shape)
    total = integrate.trapezoid(integrate.trapezoid(dens, g1, axis=1), g0)
    assert total == pytest.approx(1.0, abs=0.01)


def test_learns_conditional_density_and_samples_match():
    est, x, m = _fit_1d(n=6000)
    true = stats.gamma(2.0 + m, scale=0.05).logpdf(x)
    # the mean log-likelihood is close to that of the true density
    assert est.score(x[:, None], m) == pytest.approx(true.mean(), abs=0.05)
    # samples at the training masses follow the training distribution
    s = est.sample(m, random_state=0)[:, 0]
    assert stats.ks_2samp(s, x).pvalue > 0.01
    # and the conditional shift with m is reproduced
    hi_m = m > 3.5
    assert np.mean(s[hi_m]) - np.mean(s[~hi_m]) == pytest.approx(
        np.mean(x[hi_m]) - np.mean(x[~hi_m]), abs=0.01
    )


def test_same_seed_identical_different_seed_differs(rng):
    X = rng.normal(size=(600, 2))
    m = rng.uniform(3, 4, 600)
    a = ConditionalFlowDensity(**FAST, random_state=7).fit(X, m).score_samples(X, m)
    b = ConditionalFlowDensity(**FAST, random_state=7).fit(X, m).score_samples(X, m)
    c = ConditionalFlowDensity(**FAST, random_state=8).fit(X, m).score_samples(X, m)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_best_epochs_are_averaged_in_probability_space(rng):
    X = rng.normal(size=(800, 2))
    m = rng.uniform(3, 4, 800)
    est = ConditionalFlowDensity(**{**FAST, "max_epochs": 6}, n_best=3, random_state=0)
    est.fit(X, m)
    assert len(est.flows_) == 3
    assert len(est.history_["best_epochs"]) == 3
    best = np.argsort(est.history_["val_loss"])[:3]
    assert sorted(est.history_["best_epochs"]) == sorted(best.tolist())
    y, c, log_jac = est.flow_inputs(X, m)
    with torch.no_grad():
        members = np.stack(
            [
                f.log_prob(
                    torch.tensor(y, dtype=torch.float32), torch.tensor(c, dtype=torch.float32)
                )
                .double()
                .numpy()
                for f in est.flows_
            ]
        )
    by_hand = special.logsumexp(members, axis=0, b=1.0 / len(members)) + log_jac
    np.testing.assert_allclose(est.score_samples(X, m), by_hand, rtol=1e-5, atol=1e-5)


def test_early_stopping_and_history(rng):
    X = rng.normal(size=(400, 2))
    m = rng.uniform(3, 4, 400)
    est = ConditionalFlowDensity(**{**FAST, "max_epochs": 200}, patience=2, random_state=0)
    est.fit(X, m)
    hist = est.history_
    assert len(hist["train_loss"]) == len(hist["val_loss"]) < 200
    assert hist["stopped_early"]
    assert np.all(np.isfinite(hist["val_loss"]))


def test_epoch_hook_gets_the_held_out_events(rng):
    """``on_epoch_end`` sees the validation events, never trained on, every epoch."""
    n = 300
    X, m = rng.normal(size=(n, 2)), rng.uniform(3, 4, n)
    trained, seen = set(), []

    def loss(model, y, c, log_jac, index):
        if model.training:
            trained.update(index.long().tolist())
        return -(model.log_prob(y, c) + log_jac)

    def hook(epoch, model, validation):
        assert not model.training
        seen.append(validation[-1].long().tolist())

    est = ConditionalFlowDensity(**FAST, random_state=0)
    est.fit_flow(X, m, loss=loss, extra=(np.arange(n, dtype=float),), on_epoch_end=hook)
    assert len(seen) == len(est.history_["val_loss"]) == FAST["max_epochs"]
    assert all(s == seen[0] for s in seen)  # the same events each epoch
    held_out = set(seen[0])
    assert len(held_out) == round(0.2 * n)  # validation_fraction
    assert held_out.isdisjoint(trained) and held_out | trained == set(range(n))


def test_non_finite_loss_stops_with_epoch_in_message():
    model = torch.nn.Linear(1, 1)
    calls = {"n": 0}

    def loss_fn(mod, x):
        calls["n"] += 1
        out = mod(x)[:, 0] ** 2
        return out * float("nan") if calls["n"] > 6 else out

    data = (torch.randn(64, 1),)
    with pytest.raises(FloatingPointError, match="non-finite at epoch 1"):
        train_flow(
            model,
            loss_fn,
            data,
            data,
            batch_size=16,
            learning_rate=1e-3,
            weight_decay=0,
            max_epochs=10,
            patience=10,
            n_best=1,
            generator=torch.Generator().manual_seed(0),
        )


def test_pickle_gives_identical_scores(rng):
    X = rng.normal(size=(500, 3))
    m = rng.uniform(3, 4, 500)
    est = ConditionalFlowDensity(**FAST, random_state=0).fit(X, m)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.score_samples(X, m), again.score_samples(X, m))
    np.testing.assert_array_equal(est.sample(m, random_state=3), again.sample(m, random_state=3))


def test_mass_column_layout_and_pandas(rng):
    pd = pytest.importorskip("pandas")
    m = rng.uniform(3, 4, 500)
    df = pd.DataFrame({"mjj": m, "a": rng.normal(size=500), "b": rng.normal(size=500)})
    est = ConditionalFlowDensity(**FAST, mass_column=0, random_state=0).fit(df)
    sep = ConditionalFlowDensity(**FAST, random_state=0).fit(df[["a", "b"]].to_numpy(), m)
    np.testing.assert_array_equal(
        est.score_samples(df), sep.score_samples(df[["a", "b"]].to_numpy(), m)
    )
    drawn = est.sample(m[:10], random_state=0)
    assert drawn.shape == (10, 3) and list(drawn.columns) == ["mjj", "a", "b"]
    np.testing.assert_array_equal(drawn["mjj"].to_numpy(), m[:10])


def test_errors_name_the_problem(rng):
    X = rng.normal(size=(100, 2))
    m = rng.uniform(3, 4, 100)
    est = ConditionalFlowDensity(**FAST)
    with pytest.raises(ValueError, match="needs the mass"):
        est.fit(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(np.where(np.arange(100)[:, None] == 5, np.nan, X), m)
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(X, np.where(np.arange(100) == 5, np.inf, m))
    with pytest.raises(ValueError, match="99 entries"):
        est.fit(X, m[:99])
    with pytest.raises(ValueError, match="Unknown device"):
        ConditionalFlowDensity(**{**FAST, "device": "tpu"}).fit(X, m)
    fitted = est.fit(X, m)
    with pytest.raises(ValueError, match="features"):
        fitted.score_samples(X[:, :1], m)


def test_epoch_size_trains_each_epoch_on_a_fresh_subset():
    # an index column tells which training events each step saw
    n_train, epoch_size, batch_size, epochs = 1000, 300, 64, 12
    train = (torch.arange(n_train, dtype=torch.float64)[:, None],)
    val = (torch.zeros(10, 1, dtype=torch.float64),)
    model = torch.nn.Linear(1, 1).double()
    steps, seen_per_epoch, current = [], [], []

    def loss_fn(mod, xb):
        if mod.training:
            current.append(xb[:, 0].long())
            steps.append(xb.shape[0])
        return mod(xb).pow(2).squeeze(1)

    def on_epoch_end(epoch, mod, val):
        seen_per_epoch.append(torch.cat(current))
        current.clear()

    train_flow(
        model,
        loss_fn,
        train,
        val,
        batch_size=batch_size,
        learning_rate=1e-3,
        weight_decay=0.0,
        max_epochs=epochs,
        patience=epochs,
        n_best=1,
        generator=torch.Generator().manual_seed(0),
        on_epoch_end=on_epoch_end,
        epoch_size=epoch_size,
    )
    assert len(seen_per_epoch) == epochs
    for seen in seen_per_epoch:
        # epoch_size distinct events per epoch, in ceil(300 / 64) = 5 steps
        assert seen.numel() == epoch_size and seen.unique().numel() == epoch_size
    assert len(steps) == epochs * 5
    # the subsets differ between epochs and together cover almost every event
    assert not torch.equal(seen_per_epoch[0].sort().values, seen_per_epoch[1].sort().values)
    covered = torch.cat(seen_per_epoch).unique().numel()
    assert covered > 0.95 * n_train  # expected 1 - 0.7**12 = 98.6 %


def test_max_samples_per_epoch_at_least_the_data_changes_nothing(rng):
    X = rng.normal(size=(400, 2))
    m = rng.uniform(3, 4, 400)
    full = ConditionalFlowDensity(**FAST, random_state=0).fit(X, m)
    capped = ConditionalFlowDensity(**FAST, max_samples_per_epoch=400, random_state=0).fit(X, m)
    np.testing.assert_array_equal(full.score_samples(X, m), capped.score_samples(X, m))
    small = ConditionalFlowDensity(**FAST, max_samples_per_epoch=100, random_state=0).fit(X, m)
    assert not np.allclose(full.score_samples(X, m), small.score_samples(X, m))
    with pytest.raises(ValueError, match="max_samples_per_epoch"):
        ConditionalFlowDensity(**FAST, max_samples_per_epoch=0).fit(X, m)


def _threads_seen_in_training(batch_size, max_epochs):
    model = torch.nn.Linear(2, 1)
    x = torch.randn(5000, 2)
    seen = []
    train_flow(
        model,
        lambda mod, xb: mod(xb).pow(2).squeeze(1),
        (x[:4000],),
        (x[4000:],),
        batch_size=batch_size,
        learning_rate=1e-3,
        weight_decay=0.0,
        max_epochs=max_epochs,
        patience=max_epochs,
        n_best=1,
        generator=torch.Generator().manual_seed(0),
        on_epoch_end=lambda epoch, mod, val: seen.append(torch.get_num_threads()),
    )
    return seen


@pytest.mark.parametrize(
    "batch_size, explicit, expected",
    [(256, False, 1), (1024, False, 1), (4096, False, 2), (256, True, 2)],
    ids=["small-batch", "at-the-limit", "large-batch", "explicit-threads"],
)
def test_thread_policy_small_batches_train_on_one_thread(
    monkeypatch, batch_size, explicit, expected
):
    from skranode.utils._torch import THREADS_VARIABLE

    if explicit:
        monkeypatch.setenv(THREADS_VARIABLE, "2")
    else:
        monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert _threads_seen_in_training(batch_size, 2) == [expected, expected]
        assert torch.get_num_threads() == 2  # restored
        # the policy never raises a lower setting (a joblib worker on one thread)
        torch.set_num_threads(1)
        assert _threads_seen_in_training(batch_size, 1) == [1]
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("n_bins, tail_bound, n_context", [(4, 4.0, 1), (8, 3.0, None)])
def test_spline_layer_is_normflows_layer_with_the_same_parameters(n_bins, tail_bound, n_context):
    """The CPU spline gives normflows' transform: same initialisation, state_dict, maps."""
    import normflows as nf

    from skranode.flows._spline import AutoregressiveSplineFlow

    torch.manual_seed(0)
    ref = nf.flows.AutoregressiveRationalQuadraticSpline(
        4, 2, 32, num_context_channels=n_context, num_bins=n_bins, tail_bound=tail_bound,
        permute_mask=False, init_identity=True,
    )
    torch.manual_seed(0)
    ours = AutoregressiveSplineFlow(4, 2, 32, n_context=n_context, n_bins=n_bins,
                                    tail_bound=tail_bound)
    same_init = [torch.equal(a, b) for a, b in zip(ref.state_dict().values(),
                                                    ours.state_dict().values(), strict=True)]
    assert all(same_init)
    with torch.no_grad():  # away from the identity: bins of unequal size, curved maps
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours.load_state_dict(ref.state_dict())
    gen = torch.Generator().manual_seed(1)
    x = 2.5 * torch.randn(4000, 4, generator=gen)  # about 10 % outside the tail bound
    context = torch.randn(4000, n_context, generator=gen) if n_context else None
    for direction in ("inverse", "forward"):
        y_ref, ld_ref = getattr(ref, direction)(x, context)
        y, ld = getattr(ours, direction)(x, context)
        assert torch.allclose(y, y_ref, atol=1e-4)
        assert torch.allclose(ld, ld_ref, atol=1e-3)
        assert ld.abs().max() > 0.1  # not the identity


def test_spline_is_the_identity_outside_its_bound_and_inverts_inside():
    from skranode.flows._spline import rational_quadratic_spline

    gen = torch.Generator().manual_seed(0)
    x = torch.linspace(-6, 6, 1201).reshape(-1, 1).repeat(1, 3).requires_grad_(True)
    w, h = (torch.randn(1201, 3, 5, generator=gen) for _ in range(2))
    d = torch.randn(1201, 3, 4, generator=gen)
    y, ld = rational_quadratic_spline(x, w, h, d, tail_bound=4.0)
    out = x.detach().abs() > 4
    assert torch.equal(y[out], x[out]) and torch.all(ld[out] == 0)
    inside = ~out
    assert (y[inside].abs() <= 4 + 1e-6).all()
    # log |dy/dx| against autograd, and finite gradients everywhere (also in the tails)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(ld, torch.log(grad), atol=1e-4)
    x_back, ld_back = rational_quadratic_spline(y.detach(), w, h, d, inverse=True, tail_bound=4.0)
    # float32: a steep bin loses a few digits on the way back (normflows' own spline: 7e-4 here)
    assert torch.allclose(x_back, x.detach(), atol=1e-3)
    assert torch.allclose(ld_back, -ld.detach(), atol=1e-3)
