"""Entry point of the frozen app: the same ``quietroom`` command as ``pip install`` gives."""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
