"""``python -m closedloop.cli``: the ``closedloop`` command without the console script."""

import sys

from closedloop.cli import main

if __name__ == "__main__":  # guarded so that importing it (e.g. doctest collection) runs nothing
    sys.exit(main())
