"""Event samples for resonant anomaly detection.

* :func:`make_lhco_like`: synthetic dijet events resembling the LHC Olympics
  2020 R&D data, over the whole mjj range, with truth labels;
* :func:`load_lhco_rnd` and :func:`fetch_lhco_rnd`: the real R&D dataset
  (Zenodo record 4536377), with the CATHODE features computed from the jets;
* :func:`load_lhco_sr` and :func:`lhco_sr_path`: the CATHODE signal-region arrays;
* :func:`load_root`: events from a TTree of a ROOT file (needs uproot);
* :func:`signal_region_mask`, :func:`sideband_mask` and :func:`inject_signal`:
  region selections and signal injection;
* :class:`LHCOLikeBackgroundDensity`: the exact background density of
  :func:`make_lhco_like`, an ideal background model for tests and benchmarks.

Every event table has the columns :data:`COLUMNS` = ``mjj, mjmin, delta_mj,
tau21_min, tau21_max, label`` (masses in TeV, the mass first, label 1 for signal).
"""

from skranode.datasets._base import COLUMNS, FEATURE_NAMES, LABEL_NAME, MASS_NAME
from skranode.datasets._lhco import (
    LHCO_RND,
    RemoteFileMetadata,
    fetch_lhco_rnd,
    lhco_sr_path,
    load_lhco_rnd,
    load_lhco_sr,
)
from skranode.datasets._regions import inject_signal, sideband_mask, signal_region_mask
from skranode.datasets._root import ROOT_UNITS, load_root
from skranode.datasets._synthetic import (
    DIJET_PARAMS,
    LHCOLikeBackgroundDensity,
    dijet_pdf,
    lhco_like_jet_log_density,
    make_lhco_like,
)

__all__ = [
    "COLUMNS",
    "DIJET_PARAMS",
    "FEATURE_NAMES",
    "LABEL_NAME",
    "LHCOLikeBackgroundDensity",
    "LHCO_RND",
    "MASS_NAME",
    "RemoteFileMetadata",
    "dijet_pdf",
    "fetch_lhco_rnd",
    "inject_signal",
    "lhco_like_jet_log_density",
    "lhco_sr_path",
    "load_lhco_rnd",
    "load_lhco_sr",
    "load_root",
    "ROOT_UNITS",
    "make_lhco_like",
    "sideband_mask",
    "signal_region_mask",
]
