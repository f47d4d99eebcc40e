"""Quietroom's cryptography: Argon2id key derivation, the key hierarchy, the SQLCipher vault, the
tamper-evident audit chain and (later) the backup file format.

Safe recipes live at the top (``crypto.vault``); raw AEAD and KDF calls stay in small private
modules. Nothing here imports Qt, aiortc, ``desktop`` or ``telehealth``.
"""
