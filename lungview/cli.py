"""Command line: ``lungview [PATH]`` opens the GUI; subcommands do the headless work.

Each subcommand lives in ``lungview/commands/<name>.py`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int``. Modules are imported only when their
command is used, so ``lungview --version`` and ``lungview info`` never import TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lungview import __version__

#: subcommand name -> module under lungview.commands
COMMANDS = {
    "info": "info",
    "predict": "predict",
    "train": "train",
    "evaluate": "evaluate",
    "explain": "explain",
    "evaluate-cams": "evaluate_cams",
    "review": "review",
    "publish-model": "publish_model",
}


class _Parser(argparse.ArgumentParser):
    """argparse exits with status 2 on bad usage, which is our contract too; this only
    makes the message start with ``lungview: error:`` like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"lungview: error: {message}\n")
        raise SystemExit(2)


def build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = _Parser(prog="lungview", description=(
        "Lung CT viewer with an explainable classifier. Research use only, not a "
        "medical device. With no command, opens the GUI on PATH (or the demo case)."))
    parser.add_argument("--version", action="version", version=f"lungview {__version__}")
    if command is None:
        parser.add_argument("path", nargs="?", help="image, DICOM file or folder to open")
        parser.add_argument("--presentation", action="store_true",
                            help="hide patient identifiers (for demos)")
        parser.add_argument("--self-test", action="store_true",
                            help="check this installation offscreen (model, DICOM decoders, "
                                 "prediction, every CAM, overlay, window) and exit 0 if it works")
        parser.add_argument("--model", metavar="PATH",
                            help="with --self-test: check this model (card beside it) "
                                 "instead of the bundled one")
        parser.epilog = "commands: " + ", ".join(COMMANDS) + " (lungview COMMAND --help)"
        return parser
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    module = importlib.import_module(f"lungview.commands.{COMMANDS[command]}")
    module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if command is None and args.self_test:
        from lungview.selftest import run_self_test

        return run_self_test(args.model)
    if command is None and args.model:
        parser.error("--model is only used with --self-test")
    if command is None:
        from lungview.ui.app import run_gui  # Qt only when the GUI is wanted

        return run_gui(args.path, presentation=args.presentation)
    module = importlib.import_module(f"lungview.commands.{COMMANDS[command]}")
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
