"""skranode: scikit-learn compatible resonant anomaly detection.

The estimators learn densities with conditional normalizing flows (torch and
normflows do the work) and follow scikit-learn's conventions, so they plug into
pipelines, cross-validation and joblib parallelism.
"""

__version__ = "0.1.0"

from skranode.anode import ANODE, ResidualANODE
from skranode.classifiers import (
    CATHODEClassifier,
    CWoLaClassifier,
    IdealAD,
    SupervisedClassifier,
    TorchMLPClassifier,
)
from skranode.curtains import CURTAINs
from skranode.ensemble import ClassifierEnsemble, DensityEnsemble
from skranode.flows import ConditionalFlowDensity
from skranode.mass_spectrum import DijetMassSpectrum
from skranode.preprocessing import LogitScaler
from skranode.sideband import SidebandDensity

__all__ = [
    "ANODE",
    "ResidualANODE",
    "CATHODEClassifier",
    "CWoLaClassifier",
    "IdealAD",
    "SupervisedClassifier",
    "TorchMLPClassifier",
    "ClassifierEnsemble",
    "CURTAINs",
    "ConditionalFlowDensity",
    "DensityEnsemble",
    "DijetMassSpectrum",
    "LogitScaler",
    "SidebandDensity",
    "__version__",
]
