"""The serving database, room by room; :class:`serving.storage.Store` assembles them.

``engine`` (engine and migrations), ``jsonclean`` (JSON cleaning and hashes), ``values``
(checks of untyped values), ``base`` (what every part shares), then one part per table
group: ``decisions``, ``feedback``, ``erasure``, ``keys``, and ``queue`` (the pages'
handoff queue queries).
"""
