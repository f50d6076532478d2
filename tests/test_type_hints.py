"""The public estimators' methods carry type hints (PEP 561, ``skranode/py.typed``)."""

import inspect
import typing
from pathlib import Path

import pytest

import skranode

ESTIMATORS = [getattr(skranode, name) for name in skranode.__all__ if name != "__version__"]
METHODS = (
    "fit",
    "score_samples",
    "score",
    "sample",
    "predict_proba",
    "predict",
    "decision_function",
    "transform",
    "transform_latent",
)


def _public_methods(cls):
    for name in METHODS:
        method = getattr(cls, name, None)
        if method is not None and callable(method):
            # sklearn's own mixins (score of a classifier, transform of a
            # transformer) are typed by sklearn, not here
            if inspect.getmodule(method).__name__.startswith("skranode"):
                yield name, method


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_public_methods_are_annotated(cls):
    methods = dict(_public_methods(cls))
    assert "fit" in methods or cls.__name__ in ("IdealAD", "SupervisedClassifier")
    for name, method in methods.items():
        sig = inspect.signature(method)
        assert sig.return_annotation is not inspect.Signature.empty, f"{cls.__name__}.{name}"
        for param in sig.parameters.values():
            if param.name in ("X", "m", "y", "sample_weight", "random_state", "n_samples"):
                assert param.annotation is not inspect.Parameter.empty, (
                    f"{cls.__name__}.{name}({param.name})"
                )


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_the_hints_resolve(cls):
    """The string annotations name real types (a typo would surface only in a type checker)."""
    if not hasattr(typing, "Self"):
        pytest.skip("typing.Self needs Python 3.11")
    import numpy.typing
    import pandas as pd

    from skranode.utils._typing import Seed

    namespace = {"ArrayLike": numpy.typing.ArrayLike, "Self": typing.Self, "pd": pd, "Seed": Seed}
    for _, method in _public_methods(cls):
        typing.get_type_hints(method, globalns={**vars(inspect.getmodule(method)), **namespace})


def test_the_package_says_it_is_typed():
    assert (Path(skranode.__file__).parent / "py.typed").is_file()
