"""``python -m bp_autodiff.cli``: the ``bp`` command without the console script."""

import sys

from bp_autodiff.cli import main

sys.exit(main())
