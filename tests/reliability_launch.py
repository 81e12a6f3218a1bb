"""``python tests/reliability_launch.py ARGS`` runs ``engage ARGS`` through the real entry point,
as ``python -m engage`` does. The only difference: when ENGAGE_TEST_X_BASE is set, tweepy's fixed
``https://api.twitter.com`` host is sent to that loopback address (a fake X behind a fault proxy),
because X, unlike Mastodon and Bluesky, has no configurable server address."""

from __future__ import annotations

import os
import sys


def main() -> None:
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
