"""The practice domain: everything a therapist does with the vault, with no Qt import."""
