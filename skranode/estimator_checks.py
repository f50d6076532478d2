"""scikit-learn's estimator checks: which ones each skranode estimator fails, and why.

skranode's test suite runs every public estimator through
:func:`sklearn.utils.estimator_checks.parametrize_with_checks`. A few checks
assume conventions that a resonant anomaly detector does not follow: the
second argument of ``fit`` is the resonant mass ``m``, not labels ``y``, and
the weakly supervised classifiers make their own classes. This module is the
one place that lists those expected failures with their reasons;
:func:`expected_failed_checks` returns them for an estimator in the form that
``parametrize_with_checks(..., expected_failed_checks=...)`` and
:func:`sklearn.utils.estimator_checks.check_estimator` take, so that a class
built on a skranode estimator can be checked the same way. The user guide's
page "scikit-learn compatibility" prints the same table.

:class:`~skranode.mass_spectrum.DijetMassSpectrum` fits one column of masses:
it declares one-dimensional input (``input_tags.two_d_array = False``, as
scikit-learn's own :class:`~sklearn.isotonic.IsotonicRegression` does), for
which scikit-learn runs none of its common checks.
"""

__all__ = ["MASS_NOT_LABELS", "check_table", "expected_failed_checks"]

#: Classifier checks that feed ``y`` as class labels, for the estimators whose
#: second argument is the mass (CWoLa and CATHODE).
MASS_NOT_LABELS = {
    "check_fit_score_takes_y": "the second argument of fit is the mass m, not labels y",
    "check_classifier_not_supporting_multiclass": (
        "the second argument is the mass, so any numbers are valid; the classes are "
        "always the two the estimator makes itself"
    ),
    "check_classifiers_regression_target": (
        "a continuous second argument is a valid mass, not a regression target"
    ),
    "check_supervised_y_2d": "a mass of shape (n, 1) is read as 1-D, without a warning",
}

# The mass is the second argument of fit and score of every density estimator.
_MASS_ARGUMENT = {
    "check_fit_score_takes_y": (
        "the mass argument is named m, not y (Pipeline and GridSearchCV pass it "
        "positionally, as they pass y)"
    ),
    "check_n_features_in_after_fitting": (
        "the check calls score(X, y=y) by keyword; score takes the mass as m (the same "
        "check with m is tests/test_sklearn_checks.py::test_score_checks_n_features)"
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "the check calls fit(X, y=y) by keyword (the mass is m); and "
        + "training draws a random validation split and random batches, so an event of "
        "weight 2 is the event repeated twice only in the loss (tests/test_sample_weight.py "
        "checks that, and that the weighted fits recover the weighted distribution)"
    ),
}

_RQS_SUBSET = {
    "check_methods_subset_invariance": (
        "float32 rounding of the spline flow's log-density can depend on the batch (its "
        "size and an event's place in it): the check allows 1e-7 on log-densities of order "
        "10, below float32 resolution; normflows' masked spline differed by about 5e-7, "
        "the package's spline passes it locally, and "
        "tests/test_sklearn_checks.py::test_rqs_subset_invariance_to_float32_precision "
        "checks 1e-5"
    ),
    "check_methods_sample_order_invariance": (
        "the same float32 rounding: permuted events' scores differed by 4.8e-7 in one CI "
        "run with normflows' spline where the check allows 1e-7 "
        "(tests/test_sklearn_checks.py::test_rqs_subset_invariance_to_float32_precision "
        "checks the order too)"
    ),
}

_HGB_WEIGHTS = (
    "its base classifiers (histogram gradient boosting bins on unweighted "
    "quantiles) fail it too, as scikit-learn expects"
)

_STOCHASTIC_WEIGHTS = (
    "training draws a random validation split and random batches, so an event of "
    "weight 2 is not the same as the event repeated twice"
)

# by class name, so that this module imports no estimator (and no torch)
_BY_CLASS = {
    "LogitScaler": {},
    "ClassifierEnsemble": {},
    "IdealAD": {
        # the data class is stated, not guessed from the sort order of the labels
        "check_classifiers_classes": "string labels need data_label= naming the data class",
    },
    "CWoLaClassifier": {
        **MASS_NOT_LABELS,
        "check_classifiers_classes": "string labels passed as m are not masses",
        "check_sample_weight_equivalence_on_dense_data": _HGB_WEIGHTS,
    },
    "CATHODEClassifier": {
        **MASS_NOT_LABELS,
        # with mass_column set the second argument is ignored, so y plays no role:
        # the classes are signal-region data (1) against generated background (0)
        "check_classifiers_train": "y is ignored; CATHODE's classes are data vs samples",
        "check_classifiers_one_label": "y is ignored; CATHODE's classes are data vs samples",
        "check_classifiers_classes": "y is ignored; ``classes_`` is always [0, 1]",
        "check_supervised_y_no_nan": "y is ignored (the mass is a column of X)",
        "check_sample_weight_equivalence_on_dense_data": (
            "the background samples are random draws, whose number follows the number "
            "of events, not their weights; and "
        )
        + _HGB_WEIGHTS,
    },
    "TorchMLPClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _STOCHASTIC_WEIGHTS,
    },
    "SupervisedClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _HGB_WEIGHTS,
    },
}

#: Estimators whose expected failures are those of the mass argument.
_DENSITIES = (
    "ConditionalFlowDensity",
    "SidebandDensity",
    "CURTAINs",
    "DensityEnsemble",
    "ResidualANODE",
    "ANODE",
)


def expected_failed_checks(estimator):
    """The scikit-learn checks ``estimator`` is expected to fail, with the reasons.

    Parameters
    ----------
    estimator : estimator instance
        A skranode estimator (or an instance of a subclass of one).

    Returns
    -------
    expected : dict of str to str
        Check name to reason; empty for an estimator that passes every check.

    Raises
    ------
    ValueError
        For an estimator that is not skranode's.

    Examples
    --------
    >>> from skranode import CWoLaClassifier
    >>> from skranode.estimator_checks import expected_failed_checks
    >>> sorted(expected_failed_checks(CWoLaClassifier((3.3, 3.7))))[:2]
    ['check_classifier_not_supporting_multiclass', 'check_classifiers_classes']
    """
    for cls in type(estimator).__mro__:
        name = cls.__name__
        if not cls.__module__.startswith("skranode"):
            continue
        if name in _BY_CLASS:
            return dict(_BY_CLASS[name])
        if name in _DENSITIES:
            expected = dict(_MASS_ARGUMENT)
            flow = getattr(estimator, "flow", None)
            if name == "ConditionalFlowDensity" and flow == "rqs":
                expected.update(_RQS_SUBSET)
            return expected
    raise ValueError(
        f"{type(estimator).__name__} is not a skranode estimator; its expected check "
        "failures are not listed here."
    )


def check_table():
    """Every (estimator class, check, reason) of this module, for the documentation.

    Returns
    -------
    rows : list of tuple of str
        ``(class name, check name, reason)``, classes in the order of the
        documentation page.
    """
    rows = []
    for name, checks in _BY_CLASS.items():
        rows += [(name, check, reason) for check, reason in checks.items()]
    for name in _DENSITIES:
        rows += [(name, check, reason) for check, reason in _MASS_ARGUMENT.items()]
    rows += [
        ("ConditionalFlowDensity (flow='rqs')", check, reason)
        for check, reason in _RQS_SUBSET.items()
    ]
    return rows
