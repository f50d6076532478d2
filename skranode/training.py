"""The one training loop of skranode's torch models (flows, signal models, the MLP).

:func:`train_model` minimises the mean of a per-event loss with AdamW. Data are
moved to the device once; batches are index slices of a shuffled permutation
drawn from a seeded generator; the epoch loss is accumulated on the device and
read back once per epoch (no per-batch host synchronisation). The ``n_best``
epochs with the lowest validation loss are kept in memory
(:meth:`TrainingResult.members` turns them into frozen copies of the model).
A method that needs per-epoch state (R-ANODE's learned signal fraction) passes
``on_epoch_end``; the loss itself never keeps state.

:func:`batch_slices` and :func:`evaluate_in_batches` are the batching used for
inference everywhere.
"""

import copy
import functools
import math

import torch
from tqdm.auto import tqdm

from skranode.utils._torch import adamw, torch_threads, training_threads

__all__ = [
    "CONVERGENCE_TOLERANCE",
    "EARLY_STOP_FRACTION",
    "INFERENCE_BATCH",
    "MIN_CONVERGED_STEPS",
    "TrainingResult",
    "auto_batch_size",
    "batch_slices",
    "evaluate_in_batches",
    "convergence_note",
    "has_converged",
    "resolve_batch_size",
    "train_model",
]

#: Events per batch when a model only evaluates (scores, samples, validation
#: losses). On one CPU thread the activations of larger batches leave the
#: cache: a 6x64 affine flow scored 293k events/s in batches of 16384 against
#: 127k in batches of 65536, and sampled 80k/s against 33k/s; the spline flow
#: 87k/s against 72k/s (AVX2 EPYC, best of 3 under load).
INFERENCE_BATCH = 16384

#: The validation loss counts as no longer falling when the best of the last
#: fifth of the epochs (at least two) improved on the best before by at most
#: this many nats per event.
CONVERGENCE_TOLERANCE = 2e-3

#: With the cosine schedule the learning rate of a training's last epochs is
#: near zero, so its loss curve flattens (and early stopping may fire) at the
#: end of any budget, however short. A flat end therefore shows convergence
#: only after at least this many optimizer steps. Measured on 30 000
#: LHCO-like events (tests/test_training_budget.py): 84 steps of 4096 events
#: stopped early 0.02 nats per event short of a converged training; on the
#: 264 000 sideband events of the demo 2000 steps ended 0.002 short of 4900.
MIN_CONVERGED_STEPS = 1000

#: Early stopping before this fraction of the epoch budget, while the
#: learning rate is still high, is convergence whatever the number of steps
#: (a small sample that starts to overfit).
EARLY_STOP_FRACTION = 0.7

#: ``batch_size='auto'``: the power of two nearest to the training events
#: divided by this, clipped to ``AUTO_BATCH_RANGE``: an epoch has about 32
#: optimizer steps or more, whatever the size of the data.
AUTO_BATCH_STEPS = 32
AUTO_BATCH_RANGE = (256, 2048)


def auto_batch_size(n_train):
    """The batch size of ``batch_size='auto'`` for ``n_train`` training events.

    The power of two nearest to ``n_train / AUTO_BATCH_STEPS``, clipped to
    :data:`AUTO_BATCH_RANGE`: small samples get small batches and so the
    optimizer steps a fixed budget of epochs would otherwise lack; large
    samples get the batches a CPU runs fastest per event.

    Parameters
    ----------
    n_train : int
        Number of training events.

    Returns
    -------
    batch_size : int
    """
    target = max(float(n_train) / AUTO_BATCH_STEPS, 1.0)
    low, high = AUTO_BATCH_RANGE
    return int(min(max(2 ** round(math.log2(target)), low), high))


def resolve_batch_size(batch_size, n_train, epoch_size=None):
    """The batch size a training uses: ``batch_size``, or :func:`auto_batch_size` for ``'auto'``.

    Parameters
    ----------
    batch_size : int or 'auto'
    n_train : int
        Number of training events.
    epoch_size : int or None, default=None
        Events per epoch when each epoch trains on a random subset
        (``max_samples_per_epoch``).

    Returns
    -------
    batch_size : int
    """
    if batch_size != "auto":
        return int(batch_size)
    return auto_batch_size(n_train if epoch_size is None else min(n_train, epoch_size))


def has_converged(val_loss, stopped_early, n_steps=None, epoch_budget=None,
                  tolerance=CONVERGENCE_TOLERANCE):
    """Whether a training ended at convergence rather than at its budget.

    Converged: early stopping before :data:`EARLY_STOP_FRACTION` of the epoch
    budget; or at least :data:`MIN_CONVERGED_STEPS` optimizer steps and a
    validation loss that no longer fell at the end (early stopping, or the best
    of the last fifth of the epochs within ``tolerance`` of the best before).

    Parameters
    ----------
    val_loss : sequence of float
        Validation loss per epoch (nats per event for a likelihood).
    stopped_early : bool
        Whether early stopping ended it.
    n_steps : int or None, default=None
        Optimizer steps taken; None skips the check of their number.
    epoch_budget : int or None, default=None
        The most epochs the training could have run (after ``max_steps``);
        None: any early stop counts only with enough steps.
    tolerance : float, default=CONVERGENCE_TOLERANCE

    Returns
    -------
    converged : bool
    """
    n = len(val_loss)
    if stopped_early and epoch_budget is not None and n <= EARLY_STOP_FRACTION * epoch_budget:
        return True
    if n_steps is not None and n_steps < MIN_CONVERGED_STEPS:
        return False
    if stopped_early:
        return True
    last = max(2, n // 5)
    if n <= last:
        return False
    return min(val_loss[:-last]) - min(val_loss) <= tolerance


class TrainingResult:
    """What :func:`train_flow` returns.

    Attributes
    ----------
    best_states : list of dict
        State dicts of the ``n_best`` epochs with the lowest validation loss,
        best first.
    best_epochs : list of int
        Their epoch numbers (0-based).
    train_loss, val_loss : list of float
        Mean loss per epoch.
    stopped_early : bool
        Whether early stopping ended the training.
    batch_size : int
        The batch size trained with.
    n_steps : int
        Optimizer steps taken.
    epoch_budget : int
        The most epochs it could have run (``max_epochs`` capped by ``max_steps``).
    converged : bool
        :func:`has_converged` of the validation loss and the steps.
    """

    def __init__(
        self, best_states, best_epochs, train_loss, val_loss, stopped_early,
        batch_size=None, n_steps=None, epoch_budget=None,
    ):
        self.best_states = best_states
        self.best_epochs = best_epochs
        self.train_loss = train_loss
        self.val_loss = val_loss
        self.stopped_early = stopped_early
        self.batch_size = batch_size
        self.n_steps = n_steps
        self.epoch_budget = epoch_budget
        self.converged = has_converged(val_loss, stopped_early, n_steps, epoch_budget)

    def members(self, model):
        """Copies of ``model`` holding the kept epochs, in eval mode and frozen.

        Parameters
        ----------
        model : torch.nn.Module
            The trained model (its architecture; its weights are not used).

        Returns
        -------
        members : torch.nn.ModuleList
            One module per kept epoch, best first.
        """
        members = []
        for state in self.best_states:
            member = copy.deepcopy(model)
            member.load_state_dict(state)
            members.append(member.eval().requires_grad_(False))
        return torch.nn.ModuleList(members)

    def history(self):
        """The losses per epoch, ``best_epochs``, ``stopped_early``, ``batch_size``,
        ``n_steps`` and ``converged`` as a dict."""
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "best_epochs": self.best_epochs,
            "stopped_early": self.stopped_early,
            "batch_size": self.batch_size,
            "n_steps": self.n_steps,
            "epoch_budget": self.epoch_budget,
            "converged": self.converged,
        }


def convergence_note(history, what="the flow"):
    """A one-line note when a training's history says it did not converge, else None.

    The one wording of that warning, for :class:`~skranode.SidebandDensity`,
    the scan's windows and the main job's table and results.json.

    Parameters
    ----------
    history : dict or None
        A fitted flow's ``history_`` (:meth:`TrainingResult.history`); None
        or a history without ``converged`` gives None.
    what : str, default='the flow'
        What was trained, for the note.

    Returns
    -------
    note : str or None
    """
    if not history or history.get("converged", True):
        return None
    val, steps = history["val_loss"], history.get("n_steps")
    last = max(2, len(val) // 5)
    if steps is not None and steps < MIN_CONVERGED_STEPS:
        budget = history.get("epoch_budget")
        why = (
            f"it ended after only {steps} optimizer steps of {history.get('batch_size')} "
            f"events, at epoch {len(val)}"
            + (f" of {budget}" if budget else "")
            + " (the learning rate annealed to zero flattens the loss curve of any short "
            "budget at its end)"
        )
    else:
        gain = min(val[:-last]) - min(val) if len(val) > last else float("nan")
        why = (
            f"its validation loss still fell by {gain:.4f} nats per event in the last "
            f"{last} of {len(val)} epochs ({steps} optimizer steps of "
            f"{history.get('batch_size')} events)"
        )
    return (
        f"{what} did not converge: {why}; raise max_steps (and max_epochs) of its "
        "ConditionalFlowDensity, or use batch_size='auto'"
    )


def _batch_starts(n, batch_size, min_last=1):
    """Start of each batch; a last batch smaller than ``min_last`` joins the one before."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_last:
        starts.pop()
    return starts


def _batches(n, batch_size, perm=None, min_last=1):
    if n == 0:
        return
    starts = _batch_starts(n, batch_size, min_last)
    for start, stop in zip(starts, [*starts[1:], n], strict=True):
        yield slice(start, stop) if perm is None else perm[start:stop]


def batch_slices(n, batch_size):
    """Consecutive slices of at most ``batch_size`` of ``range(n)``.

    Parameters
    ----------
    n : int
        Number of items.
    batch_size : int
        Largest batch.

    Returns
    -------
    slices : iterator of slice
    """
    return _batches(n, batch_size)


def evaluate_in_batches(fn, tensors, batch_size):
    """Apply ``fn(*batch) -> (b,)`` in batches and concatenate, without host syncs.

    Parameters
    ----------
    fn : callable
        Maps a batch of each tensor to one value per event.
    tensors : tuple of torch.Tensor
        Inputs, first dimension the events.
    batch_size : int
        Events per batch.

    Returns
    -------
    out : torch.Tensor of shape (n,)
    """
    n = tensors[0].shape[0]
    out = torch.empty(n, dtype=tensors[0].dtype, device=tensors[0].device)
    for idx in _batches(n, batch_size):
        out[idx] = fn(*(t[idx] for t in tensors))
    return out


def _thread_policy(train_fn):
    """Run a training under the thread policy of :func:`~skranode.utils._torch.training_threads`."""

    @functools.wraps(train_fn)
    def wrapped(model, loss_fn, train, val, *, batch_size, **kwargs):
        with torch_threads(training_threads(batch_size, train[0].device)):
            return train_fn(model, loss_fn, train, val, batch_size=batch_size, **kwargs)

    return wrapped


@_thread_policy
def train_model(
    model,
    loss_fn,
    train,
    val,
    *,
    batch_size,
    learning_rate,
    weight_decay,
    max_epochs,
    patience,
    n_best,
    generator,
    max_steps=None,
    grad_clip=None,
    cosine_schedule=True,
    progress=False,
    desc="training",
    eval_batch_size=INFERENCE_BATCH,
    on_epoch_end=None,
    epoch_size=None,
    train_weight=None,
    val_weight=None,
):
    """Train ``model`` by minimising the (weighted) mean of ``loss_fn(model, *batch)``.

    Parameters
    ----------
    model : torch.nn.Module
        Trainable model, already on the device of the tensors.
    loss_fn : callable
        ``loss_fn(model, *tensors) -> (batch,)`` per-event losses.
    train, val : tuple of torch.Tensor
        Training and validation tensors, first dimension the events.
    batch_size, learning_rate, weight_decay, max_epochs, patience, n_best
        Optimiser (AdamW) and stopping settings; ``patience`` epochs without a
        new best validation loss stop the training.
    generator : torch.Generator
        Source of the shuffles, on the device of the data.
    max_steps : int or None
        Ceiling on the optimizer steps: the epochs are capped at
        ``max_steps // steps_per_epoch`` (at least one), so that the budget of
        a training is the same number of steps whatever the size of the data;
        the cosine schedule spans the capped epochs. None: only
        ``max_epochs``.
    grad_clip : float or None
        Clip the gradient norm to this value.
    cosine_schedule : bool
        Anneal the learning rate to zero over ``max_epochs`` along a cosine;
        otherwise keep it constant.
    progress : bool
        Show a tqdm progress bar over epochs.
    desc : str
        Progress bar label.
    eval_batch_size : int
        Batch size for the validation pass.
    on_epoch_end : callable or None
        ``on_epoch_end(epoch, model, val)``, called after each epoch's
        validation pass (``epoch`` 0-based; the model is in eval mode; ``val``
        the validation tensors as given) and before the next epoch's training:
        the hook for per-epoch state, such as recording or releasing a
        parameter held fixed for the first epochs, or fitting it on the events
        the model is not trained on.
    epoch_size : int or None
        Training events per epoch: each epoch trains on a fresh random subset
        of this many of the training events (drawn without replacement from
        ``generator``), so that the cost of an epoch no longer grows with the
        data. ``None``, or a value of at least the number of training events,
        uses all of them every epoch. The validation pass always uses every
        validation event.
    train_weight, val_weight : torch.Tensor of shape (n,) or None
        Per-event weights of the training and validation events (event or
        generator weights, non-negative; validated by the caller). The
        training loss of a batch is ``mean(weight * loss) / mean(train_weight)``,
        an unbiased estimate of the weighted mean loss over the training
        events, so that an event of weight 2 counts as that event twice; the
        validation loss is ``sum(weight * loss) / sum(weight)``. None is a
        weight of 1 for every event (the same arithmetic, bit for bit, as
        weights of ones).

    Returns
    -------
    result : TrainingResult

    Notes
    -----
    On the CPU, a training with batches of at most
    :data:`~skranode.utils._torch.SMALL_BATCH` events runs on one torch
    thread (the thread policy of
    :func:`~skranode.utils._torch.training_threads`; ``--threads`` or the
    ``SKRANODE_TORCH_THREADS`` environment variable switch it off), and the
    setting is restored afterwards.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    hook = on_epoch_end if on_epoch_end is not None else (lambda epoch, model, val: None)
    optimizer = adamw(params, lr=learning_rate, weight_decay=weight_decay)
    n_train = train[0].shape[0]
    device = train[0].device
    # a last batch of one event would give batch normalisation a zero variance:
    # it joins the batch before (no event is ever left out of an epoch)
    min_last = 2 if batch_size > 1 else 1
    n_epoch = n_train if epoch_size is None else min(int(epoch_size), n_train)
    if train_weight is not None:
        # relative weights: their mean over the training events is 1
        train_weight = train_weight / train_weight.mean()
    steps_per_epoch = len(_batch_starts(n_epoch, batch_size, min_last))
    if max_steps is not None:
        max_epochs = max(1, min(max_epochs, int(max_steps) // steps_per_epoch))
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs * steps_per_epoch)
        if cosine_schedule
        else None
    )
    best = []  # (val_loss, epoch, state) sorted by val_loss
    train_hist, val_hist = [], []
    since_best = 0
    stopped_early = False
    bar = tqdm(range(max_epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        perm = torch.randperm(n_train, generator=generator, device=device)[:n_epoch]
        total = torch.zeros((), dtype=torch.float64, device=device)
        for idx in _batches(n_epoch, batch_size, perm, min_last):
            batch = [t[idx] for t in train]
            losses = loss_fn(model, *batch)
            if train_weight is not None:
                losses = losses * train_weight[idx]
            loss = losses.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.detach() * batch[0].shape[0]
        model.eval()
        with torch.no_grad():
            val_losses = evaluate_in_batches(lambda *b: loss_fn(model, *b), val, eval_batch_size)
            if val_weight is None:
                val_loss = val_losses.mean()
            else:
                val_loss = (val_losses.double() * val_weight).sum() / val_weight.double().sum()
        # the only host synchronisation of the epoch
        train_loss, val_loss = torch.stack([total / n_epoch, val_loss.double()]).tolist()
        train_hist.append(train_loss)
        val_hist.append(val_loss)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise FloatingPointError(
                f"The training loss became non-finite at epoch {epoch} (train {train_loss}, "
                f"validation {val_loss}). Check the input for extreme values, lower "
                "learning_rate, or set grad_clip (for example grad_clip=5.0)."
            )
        hook(epoch, model, val)
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if len(best) < n_best or val_loss < best[-1][0]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best.append((val_loss, epoch, state))
            best.sort(key=lambda item: item[0])
            del best[n_best:]
        if val_loss <= best[0][0]:
            since_best = 0
        else:
            since_best += 1
            if since_best >= patience:
                stopped_early = True
                break
    bar.close()
    return TrainingResult(
        best_states=[copy.copy(s) for _, _, s in best],
        best_epochs=[e for _, e, _ in best],
        train_loss=train_hist,
        val_loss=val_hist,
        stopped_early=stopped_early,
        batch_size=batch_size,
        n_steps=len(train_hist) * steps_per_epoch,
        epoch_budget=max_epochs,
    )
