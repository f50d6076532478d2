import sys

from skranode.cli import main

sys.exit(main())
