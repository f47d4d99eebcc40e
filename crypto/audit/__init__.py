"""The tamper-evident audit log: entries, their canonical encoding, the keyed MAC chain, its
verification, and the action vocabulary."""
