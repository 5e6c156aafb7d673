"""The Ark dialect: the BytePlus / Volcengine ModelArk API (Seedance video tasks, Seedream
images) under ``/api/v3``.

``wire.py`` holds the vendor's models, ``flags.py`` the ``--flag value`` prompt parameters,
``translate.py`` wire ⇄ core, ``router.py`` the thin handlers and ``errors.py`` the one
mapping of every error to the vendor's envelope. See ``docs/ark.md``.
"""
