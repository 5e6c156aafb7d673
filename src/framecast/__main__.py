"""``python -m framecast``."""

from framecast.cli import main

main()
