"""The playground: a static web page served by the API process at ``/`` (``web/router.py``);
it talks to the native API over HTTP like any client.

Owns: the page and its static files. May import: nothing of the project but FastAPI's router.
"""
