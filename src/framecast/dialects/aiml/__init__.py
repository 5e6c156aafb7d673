"""The AI/ML API dialect (api.aimlapi.com): Seedance video generations under ``/v2``.

``wire.py`` holds the vendor's per-model request schemas and the generation object,
``translate.py`` wire ⇄ core, ``router.py`` the thin handlers and ``errors.py`` the one
mapping of every error to the vendor's envelope. Seedream image calls
(``POST /v1/images/generations``) are served by the OpenAI dialect's shared handler, which
accepts the union of both vendors' fields. See ``docs/aiml.md``.
"""
