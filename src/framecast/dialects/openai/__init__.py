"""The OpenAI dialect: the videos API (``/v1/videos``, what the official ``openai`` SDK's
``client.videos`` calls) served by Seedance models, and the one shared
``POST /v1/images/generations`` handler for both OpenAI and AI/ML API image clients (Seedream).

``wire.py`` holds the vendor's models, ``body.py`` reads multipart/JSON create bodies,
``translate.py`` video wire ⇄ core, ``images.py`` image wire ⇄ core, ``paging.py`` the cursor
pagination of the list, ``router.py`` the thin handlers and ``errors.py`` the one mapping of
every error to the vendor's envelope. See ``docs/openai.md``.
"""
