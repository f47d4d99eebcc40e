"""Entry point of the frozen relay: the same ``quietroom-relay`` command as the wheel gives."""

import sys

from telehealth.relay_cli import main

if __name__ == "__main__":
    sys.exit(main())
