"""The vendor APIs Framecast speaks, one package each: ``ark``, ``openai``, ``aiml``,
``acedata``, ``wiro``. Each exports one ``Dialect`` (router, error envelope, webhook body).

Owns: the vendors' wire shapes and words. May import: ``edge``, ``service`` and the layers
below; no dialect imports another.
"""
