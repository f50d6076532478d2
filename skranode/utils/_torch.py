"""Torch plumbing shared by the estimators: seeds, devices, pickling, threads."""

import contextlib
import os
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "SMALL_BATCH",
    "THREADS_VARIABLE",
    "TorchStateMixin",
    "adamw",
    "as_tensor",
    "draw_seed",
    "seeded",
    "torch_threads",
    "training_threads",
]

#: Trainings with batches of at most this many events run on one torch thread
#: (the thread policy, :func:`training_threads`): their kernels are too small
#: to share between threads, and a second thread that competes with other work
#: for the cores made such trainings up to ten times slower.
SMALL_BATCH = 1024

#: Set to a thread count (``skranode ... --threads N`` sets it), this
#: environment variable switches the thread policy off: every training then
#: keeps torch's own setting (:func:`torch.set_num_threads`).
THREADS_VARIABLE = "SKRANODE_TORCH_THREADS"

_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = None


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run a block with ``torch.set_num_threads(n_threads)``, then restore the setting.

    The setting is global to the process, so concurrent blocks (the threading
    backend, a dask worker with several threads) share one saved value: the
    first block to enter saves it and the last one to leave restores it.
    None runs the block with the setting as it is.
    """
    global _threads_users, _threads_saved
    if n_threads is None:
        yield
        return
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
        _threads_users += 1
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def training_threads(batch_size, device):
    """The torch threads of one training (the thread policy), or None to keep the setting.

    A training on the CPU with batches of at most :data:`SMALL_BATCH` events
    runs on one thread; larger batches keep torch's setting. The policy never
    raises the setting (a joblib worker with one thread stays at one), and it
    is off when :data:`THREADS_VARIABLE` is set (an explicit ``--threads``).

    Parameters
    ----------
    batch_size : int
        Events per training batch.
    device : torch.device
        Where the training runs.

    Returns
    -------
    n_threads : int or None
    """
    if device.type != "cpu" or os.environ.get(THREADS_VARIABLE):
        return None
    if batch_size <= SMALL_BATCH and torch.get_num_threads() > 1:
        return 1
    return None


#: The dtypes of torch's fused AdamW kernel.
_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def adamw(params, *, lr, weight_decay, fused="auto"):
    """The AdamW optimiser of every training, fused where torch has the kernel.

    The fused kernel updates all parameter tensors in one pass (same update
    rule, rounding aside): for the package's flows (about 50 tensors) a step
    takes 0.33 ms instead of 2.4 ms on one thread of an AVX2 EPYC, a tenth of
    a scan window's time (``benchmarks/bench_optimizer.py``).

    Parameters
    ----------
    params : list of torch.nn.Parameter
    lr, weight_decay : float
    fused : 'auto' or bool, default='auto'
        'auto': fused when every tensor is floating-point on one CPU or CUDA
        device (torch >= 2.4 on the CPU).

    Returns
    -------
    optimizer : torch.optim.AdamW
    """
    if fused == "auto":
        devices = {p.device.type for p in params}
        fused = (
            len(devices) == 1
            and devices <= {"cpu", "cuda"}
            and all(p.dtype in _FUSED_DTYPES for p in params)
        )
    if fused:
        try:
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError, TypeError):  # a torch without the CPU kernel
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def draw_seed(random_state):
    """Draw an integer seed in ``[0, 2**31 - 1)`` from a scikit-learn ``random_state``.

    The one way skranode derives the seed of a sub-step (a torch generator, a
    cloned estimator, a fold) from its own random state.
    """
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(seed, device):
    """Run a block with torch's global generator seeded, restoring it afterwards.

    Parameter initialisation and normflows' base-distribution sampling use the
    global generator; forking it keeps the caller's random stream untouched.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class TorchStateMixin:
    """Pickle torch modules on the CPU and restore them where they can run.

    Fitted modules live on ``device_`` for fast inference. Pickles always hold
    CPU tensors, so a model fitted on a GPU loads and scores on a CPU-only
    machine (it then runs on the CPU).
    """

    _torch_attributes = ("flows_",)

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self._torch_attributes:
            module = state.get(name)
            if isinstance(module, torch.nn.Module) and _module_device(module).type != "cpu":
                state[name] = _cpu_copy(module)
        if "device_" in state:
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        device = state.get("device_")
        if device is not None:
            device = torch.device(device)
            if device.type == "cuda" and not torch.cuda.is_available():
                device = torch.device("cpu")
            state["device_"] = device
            for name in self._torch_attributes:
                module = state.get(name)
                if isinstance(module, torch.nn.Module):
                    state[name] = module.to(device)
        self.__dict__.update(state)


def _module_device(module):
    for tensor in module.state_dict().values():
        return tensor.device
    return torch.device("cpu")


def _cpu_copy(module):
    import copy

    clone = copy.deepcopy(module)
    return clone.cpu()


def as_tensor(array, device, dtype=torch.float32):
    """A float32 tensor on ``device`` holding a copy of ``array``."""
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype).to(device)
