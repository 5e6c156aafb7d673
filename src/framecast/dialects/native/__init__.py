"""The native API's hook for the webhook sender, which renders a task's body with
``framecast.dialects.<task.dialect>.translate.webhook_body``. The native API itself lives in
``framecast.native`` (it is Framecast's own API, not a vendor's dialect)."""
