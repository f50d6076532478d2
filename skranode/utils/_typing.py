"""Type aliases of the public signatures (imported only by type checkers)."""

import numpy as np

#: What ``random_state`` accepts, as in scikit-learn.
Seed = int | np.random.RandomState | None
