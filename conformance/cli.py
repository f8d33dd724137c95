"""The ``tokenconform`` command: for now only ``tokenconform serve`` (the reference server).

A minimal dispatcher; the suite's own options arrive with the conformance run. Each subcommand
parses its own arguments, so ``tokenconform serve --help`` is the server's help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenconform",
        description="Conformance suite and reference server for JWT access/refresh-token session APIs.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # add_help=False: "serve --help" goes through to the server's own parser.
    commands.add_parser("serve", help="run the reference server", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tokenconform`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        namespace, rest = _parser().parse_known_args(args)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    if namespace.command == "serve":
        from reference_server.cli import main as serve

        return serve(rest)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
