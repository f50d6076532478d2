"""Events from ROOT files (analysis ntuples), read with uproot."""

from pathlib import Path

import numpy as np
import pandas as pd

from skranode.datasets._base import COLUMNS, LABEL_NAME, MASS_NAME
from skranode.datasets._lhco import RND_COLUMNS, rnd_features

__all__ = ["ROOT_UNITS", "load_root"]

#: Units of the masses in a ROOT file, and the factor that takes them to TeV.
ROOT_UNITS = {"TeV": 1.0, "GeV": 1e-3}

# the columns that hold masses (converted by the units); the tau21 are ratios
_MASS_COLUMNS = (MASS_NAME, "mjmin", "delta_mj")
# a median mjj above this (TeV) is not a dijet mass in TeV
_SQRT_S_TEV = 13.0


def _uproot():
    try:
        import uproot
    except ImportError as exc:
        raise ImportError(
            "Reading ROOT files needs uproot: pip install 'skranode[root]' (or pip install uproot)."
        ) from exc
    return uproot


def _trees(file):
    return sorted(
        name.split(";")[0]
        for name, cls in file.classnames(recursive=True).items()
        if cls.startswith(("TTree", "TNtuple", "ROOT::RNTuple"))
    )


def _pick_tree(file, tree, path):
    names = _trees(file)
    if tree is None:
        if len(names) != 1:
            raise ValueError(
                f"{path} holds {len(names)} trees ({', '.join(names) or 'none'}); name the "
                "one with the events: tree='NAME' (skranode run --tree NAME)."
            )
        tree = names[0]
    if tree not in names:
        raise ValueError(
            f"{path} has no tree {tree!r}; its trees are: {', '.join(names) or 'none'}."
        )
    return tree, file[tree]


def _layout(available, branches, path, tree):
    """Map skranode's columns to branch names, or decide on the R&D jet branches."""
    if branches is not None:
        unknown = sorted(set(branches) - set(COLUMNS))
        if unknown:
            raise ValueError(
                f"branches maps unknown column(s) {unknown}; the columns are {list(COLUMNS)}."
            )
        mapping = {col: branches.get(col, col) for col in COLUMNS}
    else:
        mapping = {col: col for col in COLUMNS}
    missing = [col for col in COLUMNS[:-1] if mapping[col] not in available]
    if not missing:
        return "features", mapping
    if branches is None and all(c in available for c in RND_COLUMNS):
        return "jets", None
    raise ValueError(
        f"Tree {tree!r} of {path} has no branch for {missing} (looked for "
        f"{[mapping[c] for c in missing]}); its branches are {sorted(available)}. Map "
        "them: branches={'mjj': 'Mjj', ...} (skranode run --branch mjj=Mjj ...), or "
        f"provide the LHCO R&D jet branches {list(RND_COLUMNS)}."
    )


def _read(tree, names, path):
    arrays = tree.arrays(names, library="np")
    out = {}
    for name in names:
        values = arrays[name]
        if values.dtype == object or values.ndim != 1:
            raise ValueError(
                f"Branch {name!r} of {path} does not hold one number per event (a jagged or "
                "array branch); write one value per event, for example the leading jets' "
                "quantities."
            )
        if values.dtype.kind not in "biuf":
            raise ValueError(f"Branch {name!r} of {path} is not numeric (dtype {values.dtype}).")
        out[name] = values.astype(np.float64)
    return out


def load_root(path, tree=None, *, branches=None, units="TeV"):
    """Read events from a TTree of a ROOT file into a skranode event table.

    Needs uproot (``pip install 'skranode[root]'``). The tree (a TTree, or an
    RNTuple, which uproot writes by default) holds one entry per event, with
    either

    * one branch per column of :data:`~skranode.datasets.COLUMNS`
      (``mjj, mjmin, delta_mj, tau21_min, tau21_max``, and ``label`` when the
      truth is known), named so or mapped with ``branches``; or
    * the jet branches of the LHCO R&D features file (``pxj1 ... tau3j2``,
      ``label``, in GeV), from which :func:`~skranode.datasets.load_lhco_rnd`'s
      features are computed.

    Parameters
    ----------
    path : str or path-like
        The ``.root`` file.
    tree : str or None, default=None
        Name of the tree; None takes the file's only tree.
    branches : dict or None, default=None
        Column name to branch name, for the columns whose branch is named
        otherwise (``{"mjj": "Mjj", "label": "isSignal"}``).
    units : {'TeV', 'GeV'}, default='TeV'
        Units of the masses (``mjj``, ``mjmin``, ``delta_mj``) in the file;
        skranode works in TeV. Ignored for the R&D jet branches (GeV).

    Returns
    -------
    frame : DataFrame
        The columns of :data:`~skranode.datasets.COLUMNS` (without ``label``
        when the tree has no label branch), masses in TeV, in the tree's order.

    Raises
    ------
    ImportError
        Without uproot.
    ValueError
        For a file that is not ROOT, a tree or branch that is not there, a
        branch that is not one number per event, NaN or infinity, labels other
        than 0 and 1, or masses that are not TeV.

    Examples
    --------
    >>> from skranode.datasets import load_root
    >>> frame = load_root(  # doctest: +SKIP
    ...     "ntuple.root", tree="events", branches={"mjj": "Mjj"}, units="GeV"
    ... )
    """
    uproot = _uproot()
    if units not in ROOT_UNITS:
        raise ValueError(f"units must be one of {sorted(ROOT_UNITS)}; got {units!r}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No ROOT file at {path}.")
    try:
        file = uproot.open(path)
    except Exception as exc:  # noqa: BLE001 - uproot raises many kinds for a bad file
        raise ValueError(
            f"{path} is not a readable ROOT file ({type(exc).__name__}: {exc})."
        ) from exc
    with file:
        name, events = _pick_tree(file, tree, path)
        available = set(events.keys())
        kind, mapping = _layout(available, branches, path, name)
        if kind == "jets":
            frame = pd.DataFrame(_read(events, list(RND_COLUMNS), path))
            data, label = rnd_features(frame)
            out = pd.DataFrame(data, columns=list(COLUMNS[:-1]))
            out[LABEL_NAME] = label
            return out
        wanted = [c for c in COLUMNS if mapping[c] in available]
        values = _read(events, [mapping[c] for c in wanted], path)
    out = pd.DataFrame({col: values[mapping[col]] for col in wanted})
    if len(out) == 0:
        raise ValueError(f"Tree {name!r} of {path} holds no events.")
    bad = ~np.isfinite(out.to_numpy()).all(axis=1)
    if bad.any():
        raise ValueError(
            f"Tree {name!r} of {path} has NaN or infinity in {int(bad.sum())} event(s) (first "
            f"at entry {int(np.flatnonzero(bad)[0])}); skranode does not drop events silently."
        )
    for col in _MASS_COLUMNS:
        out[col] *= ROOT_UNITS[units]
    typical = float(np.median(out[MASS_NAME]))
    if typical > _SQRT_S_TEV:
        raise ValueError(
            f"The median mjj of {path} is {typical:.4g}, above sqrt(s) = 13 TeV: the masses "
            "look like GeV. Pass units='GeV' (skranode run --units GeV)."
        )
    if LABEL_NAME in out:
        if not np.isin(out[LABEL_NAME], (0.0, 1.0)).all():
            raise ValueError(
                f"The label branch {mapping[LABEL_NAME]!r} of {path} must hold only 0 and 1."
            )
        out[LABEL_NAME] = out[LABEL_NAME].astype(np.int64)
    return out
