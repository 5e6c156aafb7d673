"""What every API package stands on: the ``Dialect`` contract, the one error-envelope
mechanism, API-key owners, request bodies and the typed accessors to the app's state.

Owns: the edge between HTTP and the service. May import: ``service`` and every layer below.
"""
