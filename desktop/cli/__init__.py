"""The ``quietroom`` command: with no subcommand it starts the desktop app; subcommands do
everything a person or a script does without the UI.

Exit status: 0 success, 1 a failed check (wrong passphrase, verification failed), 2 bad usage.
"""

from desktop.cli.main import main

__all__ = ["main"]
