"""The classifier family of weakly supervised resonant anomaly detection.

Every estimator here ends in the same classifier stage (an averaged ensemble of
histogram gradient boosting classifiers by default, or the published 64-64-64
MLP, or any scikit-learn classifier, trained with class weights) and follows
the scikit-learn classifier contract: ``classes_``, ``predict``,
``predict_proba`` of shape ``(n_samples, 2)`` (column 1 is the signal-like
class) and ``decision_function`` (larger is more signal-like). They differ in
what the classifier is trained to separate, and so in what ``fit`` takes:

* :class:`CATHODEClassifier`, ``fit(X, m)``: signal-region data (1) vs
  samples of a background model learned outside it (0); with ``latent=True``
  the classifier works in the background flow's latent space (LaCATHODE);
* :class:`CWoLaClassifier`, ``fit(X, m)``: signal region (1) vs sidebands (0),
  labels made from ``m``;
* :class:`IdealAD`, ``fit(X, y)``: data (``y=1``) vs a true background sample
  (``y=0``) stacked into one ``X``;
* :class:`SupervisedClassifier`, ``fit(X, y)``: truth labels (signal vs
  background), the upper bound.

``m`` is the resonant mass (or, with ``mass_column=k``, column ``k`` of ``X``,
the layout for pipelines). The classifiers never see the mass as a feature: the
mass column is dropped before the classifier stage.
"""

from skranode.classifiers._baselines import CWoLaClassifier, IdealAD, SupervisedClassifier
from skranode.classifiers._cathode import CATHODEClassifier
from skranode.classifiers._mlp import TorchMLPClassifier
from skranode.classifiers._stage import make_base_classifier

__all__ = [
    "CATHODEClassifier",
    "CWoLaClassifier",
    "IdealAD",
    "SupervisedClassifier",
    "TorchMLPClassifier",
    "make_base_classifier",
]
