"""Records that travel: the client's record set as PDF and FHIR R4 (access requests), the whole
practice in open formats, CSV import from other practice suites, and billing (fees, payments,
superbills). Plain Python, no Qt; reached through ``Practice.records``.

The tables of this package (fees, payments, billing details, import links) are migration
component ``billing`` (``schema.py``)."""
