"""Order of the examples in the sphinx-gallery (``within_subsection_order``)."""

#: Examples in reading order; any example not listed comes after these, by file name.
#: Add a new example here to place it (the R-ANODE, CATHODE and ensemble examples
#: belong after the background-model ones).
ORDER = (
    "plot_quickstart.py",
    "plot_real_lhco_data.py",
    "plot_pipeline_and_cv.py",
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
