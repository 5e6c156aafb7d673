"""The one door for every outbound request: input images (``fetch.fetch_image``) and webhook
POSTs (``fetch.guarded_request``) pass the SSRF guard of ``guard.py`` on every connection.

Owns: outbound HTTP. May import: ``core`` only.
"""
