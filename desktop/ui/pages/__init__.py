"""The pages of the unlocked main window, one module each."""
