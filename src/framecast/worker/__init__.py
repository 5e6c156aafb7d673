"""Workers: a supervisor that claims, heartbeats and kills, and spawned engine children.

``framecast.worker.supervisor.Supervisor`` runs in the API process (``framecast serve``) or
alone (``framecast worker``); ``framecast.worker.child`` is what each engine slot's spawned
process runs. This package imports nothing heavy so a child starts quickly.
"""
