"""``python -m closedloop``: the ``closedloop`` command without the console script.

The entry point of the whole package, not a stage: it only hands over to :mod:`closedloop.cli`.
"""

import sys

from closedloop.cli import main

if __name__ == "__main__":  # guarded so that importing it (e.g. doctest collection) runs nothing
    sys.exit(main())
