"""Order of the examples in the sphinx-gallery (``within_subsection_order``)."""

#: Examples in reading order; any example not listed comes after these, by file name.
#: Add a new example here to place it: the background model first, then the
#: methods built on it (R-ANODE, its signal fraction and inference, the
#: classifier-based methods), then ensembles of any of them.
ORDER = (
    "plot_quickstart.py",
    "plot_real_lhco_data.py",
    "plot_pipeline_and_cv.py",
    "plot_ranode.py",
    "plot_gridsearch_w.py",
    "plot_w_profile.py",
    "plot_cathode_iad_supervised.py",
    "plot_ensembles.py",
)


class ExampleOrder:
    """Sort key of sphinx-gallery: the position in :data:`ORDER`, then the file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        try:
            return (ORDER.index(filename), filename)
        except ValueError:
            return (len(ORDER), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
