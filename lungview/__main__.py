"""``python -m lungview`` is the same as the ``lungview`` command."""

import sys

from lungview.cli import main

if __name__ == "__main__":
    sys.exit(main())
