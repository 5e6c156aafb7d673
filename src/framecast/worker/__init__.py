"""Workers: a supervisor that claims, heartbeats and kills, and spawned engine children.

``supervisor.Supervisor`` runs in ``framecast serve``'s own process or alone (``framecast
worker``); each slot (``slot.py``) drives one spawned child (``child.py``) through the
messages of ``messages.py``. This package imports nothing heavy so a child starts quickly.

Owns: claims, leases, kills and engine processes. May import: ``engines``, ``media``,
``db``, ``blobs``, ``core``.
"""
