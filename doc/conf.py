"""Sphinx configuration of the skranode documentation.

Build with ``python -m sphinx -W --keep-going -b html doc doc/_build/html``
(warnings are errors). sphinx-gallery runs every ``examples/plot_*.py`` script
and renders the gallery; set ``SKRANODE_DOCS_PLOT_GALLERY=0`` to skip running
them. The build needs no network: intersphinx is off unless
``SKRANODE_DOCS_INTERSPHINX=1`` (it fetches the inventories of Python, NumPy,
scikit-learn... from the web).
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))  # gallery_order
sys.path.insert(0, str(HERE.parent))  # skranode from this checkout

import skranode
from skranode.estimator_checks import check_table


def _write_check_table(path):
    """The table of expected scikit-learn check failures, from its one owner."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 30 48",
        "",
        "   * - Estimator",
        "     - Check",
        "     - Why it fails",
    ]
    for name, check, reason in check_table():
        lines += [f"   * - ``{name}``", f"     - ``{check}``", f"     - {reason}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


# .inc, not .rst: included by sklearn_compatibility.rst, not a page of its own
_write_check_table(HERE / "generated" / "sklearn_checks_table.inc")

# -- project -----------------------------------------------------------------
project = "skranode"
author = "the skranode developers"
copyright = "the skranode developers"
release = skranode.__version__
version = ".".join(release.split(".")[:2])

# -- general -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "sphinxext", "Thumbs.db", ".DS_Store"]
default_role = "literal"
root_doc = "index"

# -- API reference -------------------------------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False  # a module's documented names are its __all__
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc docstrings carry the types
numpydoc_show_class_members = False  # the class template lists the methods itself
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- intersphinx: offline unless asked for ------------------------------------------
if os.environ.get("SKRANODE_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
        "pandas": ("https://pandas.pydata.org/docs", None),
        "torch": ("https://pytorch.org/docs/stable", None),
    }

# -- gallery -------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "plot_gallery": os.environ.get("SKRANODE_DOCS_PLOT_GALLERY", "True"),
    "doc_module": ("skranode",),
    "backreferences_dir": None,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 0,
    # one example per core: each trains on its own threads, set in the example
    "parallel": min(os.cpu_count() or 1, 4),
    "show_memory": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    # show the repr of a cell's last value (an estimator, a table), not of a Text or Legend
    "ignore_repr_types": r"matplotlib\.(text|legend|axes|figure|lines|collections|container)",
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skranode {release}"
html_static_path = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "header_links_before_dropdown": 6,
}
html_sidebars = {"install": [], "user_guide": []}


# -- hooks ---------------------------------------------------------------------
def _skip_member(app, what, name, obj, skip, options):
    """Leave out members that would only repeat or clutter the class pages.

    The ``set_*_request`` methods scikit-learn adds for metadata routing, and
    the field accessors of named tuples (the fields are documented in the
    Attributes section of the class).
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    if str(getattr(obj, "__doc__", "") or "").startswith("Alias for field number"):
        return True
    return None


def _data_docstring(app, what, name, obj, options, lines):
    """Document a module-level constant by its ``#:`` comment, never by its type's docstring.

    A constant re-exported by a package (``skranode.datasets.COLUMNS`` is
    defined in ``skranode.datasets._base``) has no doc-comment in the package
    itself, and autodoc would fall back to the docstring of its type (that of
    ``tuple``). Look the comment up in the module and its submodules instead.
    """
    if what != "data":
        return
    import importlib
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    modname, _, attr = name.rpartition(".")
    module = importlib.import_module(modname)
    candidates = [modname]
    if hasattr(module, "__path__"):
        candidates += [f"{modname}.{info.name}" for info in pkgutil.iter_modules(module.__path__)]
    for candidate in candidates:
        try:
            comment = ModuleAnalyzer.for_module(candidate).find_attr_docs().get(("", attr))
        except Exception:  # a module the analyzer cannot read
            continue
        if comment:
            lines[:] = list(comment)
            return
    lines[:] = []


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    # before numpydoc (priority 500) reformats the docstring
    app.connect("autodoc-process-docstring", _data_docstring, priority=100)
