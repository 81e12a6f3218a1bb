"""Console-script entry point.

``engage prompt`` runs inside every shell prompt, so it must start in a few tens of
milliseconds: it is answered here from the prompt cache without importing the CLI framework,
DuckDB or scikit-learn. Everything else goes to the full CLI.
"""

from __future__ import annotations

import os
import sys


def _split_global(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--db FILE`` / ``--db=FILE`` given before the command, and the rest; ``(None, argv)``
    when other global options come first (the full CLI handles those)."""
    if argv[:1] == ["--db"] and len(argv) > 1:
        return argv[1], argv[2:]
    if argv[:1] and argv[0].startswith("--db="):
        return argv[0][5:], argv[1:]
    return None, argv


def _one_blas_thread() -> None:
    """One OpenBLAS thread (numpy's and scipy's), unless the user chose otherwise: the
    classifier's matrix products are small, and a second BLAS thread spins between them on the
    core DuckDB is writing with (a 100,000-tweet import: 0.3 s of CPU and 0.13 s of its 3.4 s
    on two cores). Must run before numpy loads."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    _one_blas_thread()
    argv = sys.argv[1:]
    db, rest = _split_global(argv)
    # the goal tracker's fast paths: answered from the goal cache, before click or DuckDB load;
    # None means "let the full CLI answer" (help, --live, no fresh cache)
    if rest[:1] == ["prompt"]:
        from engage.prompt import fast_main

        code = fast_main(rest[1:], db=db)
        if code is not None:
            sys.exit(code)
    elif rest[:1] == ["nudge"]:
        from engage.nudge import fast_main as nudge_fast

        code = nudge_fast(rest[1:], db=db)
        if code is not None:
            sys.exit(code)
    from engage.cli import main as cli_main

    cli_main()
