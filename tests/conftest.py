import numpy as np
import pytest
import torch


def pytest_configure(config):
    # small models train much faster on one thread than on two contended ones
    torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
