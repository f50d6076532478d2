"""Torch plumbing shared by the estimators: seeds, devices, pickling."""

import contextlib

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["TorchStateMixin", "as_tensor", "draw_seed", "seeded"]


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
