"""The ``framecast`` command: ``serve``, ``worker``, ``mcp``, ``models``, ``keys``, and the
client commands ``video``, ``image`` and ``tasks`` (on the SDK, against a server or in-process).

Owns: the command line and serve's process layouts. May import: ``api`` (the composition
root), every layer below it, and the SDK (``framecast.client``).
"""

from __future__ import annotations

import sys

import typer

from framecast.cli import client, keys, server

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Framecast: a self-hosted Seedance / Seedream compatible generation server.")
server.register(app)
keys.register(app)
client.register(app)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="framecast")


if __name__ == "__main__":
    sys.exit(main())
