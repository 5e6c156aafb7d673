"""The playground: a static web page served by the API process at ``/`` (``web/router.py``)."""
