"""``python -m spasmscope``: the command line."""

from spasmscope.cli import main

main()
