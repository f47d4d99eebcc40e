"""The PySide6 user interface: the only Qt code in Quietroom."""
