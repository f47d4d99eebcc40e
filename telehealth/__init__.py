"""Quietroom calls: invitations, the sealed signalling protocol, the verification code, the call
lifecycle, the signalling relay and the call engine.

Owns everything a video session needs below the user interface. No Qt, no vault: this package
imports neither ``desktop`` nor ``crypto`` (it uses ``cryptography`` directly for its own few
primitives). Errors raised here all derive from :class:`telehealth.errors.TelehealthError`.
"""
