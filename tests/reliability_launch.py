"""``python tests/reliability_launch.py ARGS`` runs ``engage ARGS`` through the real entry point,
as ``python -m engage`` does. The only difference: when ENGAGE_TEST_X_BASE is set, tweepy's fixed
``https://api.twitter.com`` host is sent to that loopback address (a fake X behind a fault proxy),
because X, unlike Mastodon and Bluesky, has no configurable server address. And when
ENGAGE_TEST_KILL_AT is set, the process kills itself at that exact point (see ``_kill_at``)."""

from __future__ import annotations

import os
import sys


def _kill_at(spec: str) -> None:
    """``METHOD:N``: the process SIGKILLs itself when ``Store.METHOD`` is called the Nth time,
    before that call does anything (a crash at an exact point, for deterministic trials)."""
    import signal

    from engage.store import Store

    method, _, nth = spec.partition(":")
    real = getattr(Store, method)
    calls = {"n": 0}

    def dying(self: Store, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] >= int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, *args, **kwargs)

    setattr(Store, method, dying)


def main() -> None:
    kill_at = os.environ.get("ENGAGE_TEST_KILL_AT")
    if kill_at:
        _kill_at(kill_at)
    base = os.environ.get("ENGAGE_TEST_X_BASE")
    if base:
        from reliability_rigs import x_session_mounter

        import connectors.x as cx

        cx.prepare_session = x_session_mounter(base)
    from engage._entry import main as entry

    sys.argv = ["engage", *sys.argv[1:]]
    entry()


if __name__ == "__main__":
    main()
