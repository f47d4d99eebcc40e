"""The Quietroom desktop application: ``core`` (the practice domain, no Qt), ``ui`` (PySide6) and
the ``quietroom`` command line."""
