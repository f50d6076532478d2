"""skranode: scikit-learn compatible resonant anomaly detection.

The estimators learn densities with conditional normalizing flows (torch and
normflows do the work) and follow scikit-learn's conventions, so they plug into
pipelines, cross-validation and joblib parallelism.
"""

__version__ = "0.1.0"

from skranode.flows import ConditionalFlowDensity
from skranode.preprocessing import LogitScaler
from skranode.sideband import SidebandDensity

__all__ = [
    "ConditionalFlowDensity",
    "LogitScaler",
    "SidebandDensity",
    "__version__",
]
