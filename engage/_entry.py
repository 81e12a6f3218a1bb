"""Console-script entry point.

``engage prompt`` runs inside every shell prompt, so it must start in a few tens of
milliseconds: it is answered here from the prompt cache without importing the CLI framework,
DuckDB or scikit-learn. Everything else goes to the full CLI.
"""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["prompt"]:
        try:
            from engage.prompt import fast_main
        except ImportError:  # the prompt command arrives with the goal tracker
            pass
        else:
            sys.exit(fast_main(argv[1:]))
    from engage.cli import main as cli_main

    cli_main()
