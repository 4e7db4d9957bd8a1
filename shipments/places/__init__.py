"""Places: where a milestone happened, with coordinates and a time zone.

A nested app (label ``places``) of the shipments layer, so that the parsers (integrations)
and the timeline display (shipments) both use it: ``data`` (the registry built from data
packages, pure), ``keys`` (how a location as sent is looked up, pure), ``models`` (global
reference places, read-only to the app; tenant places under RLS), ``selectors`` (the batch
resolver and search), ``services`` (tenant places), ``api``. See README.md, "Places".
"""
