"""``python -m handlers.cli``: the same as the ``thermostat`` console script."""

import sys

from handlers.cli import main

sys.exit(main())
