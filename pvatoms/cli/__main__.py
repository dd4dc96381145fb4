"""``python -m pvatoms.cli ARGS`` is ``pvatoms ARGS``."""

import sys

from pvatoms.cli.main import main

sys.exit(main())
