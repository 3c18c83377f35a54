"""The command-line reference (``docs/cli.md``), written from the commands themselves.

``python -m ckn.api.clidoc > docs/cli.md`` writes it; a test fails when the file and the commands differ,
so the reference cannot drift from what ``ckn`` does.
"""

from __future__ import annotations

import inspect
import sys
from enum import Enum
from typing import Any

import typer.main

from ckn.api.cli import app


def _param(param: Any) -> str:
    argument = param.param_type_name == "argument"
    if argument:
        name = f"`{(param.metavar or param.name).upper()}`" + ("…" if param.nargs == -1 else "")
    else:
        name = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
    help_text = " ".join((getattr(param, "help", None) or "").split())
    default = param.default
    shown = "" if default in (None, False, (), []) or param.required else f" (default: `{default}`)"
    choices = ""
    bare = getattr(param, "bare_type", None)
    if isinstance(bare, type) and issubclass(bare, Enum):
        choices = " One of " + ", ".join(f"`{c.value}`" for c in bare) + "."
    required = " Required." if param.required and not argument else ""
    return f"| {name} | {help_text}{choices}{shown}{required} |"


def _command(path: str, command: Any) -> list[str]:
    doc = inspect.cleandoc(command.help or "")
    usage = " ".join(command.collect_usage_pieces(command.context_class(command)))
    lines = [f"## `{path}`", "", f"```\n{path} {usage}\n```", "", doc, ""]
    params = [p for p in command.params if p.name != "help"]
    if params:
        lines += ["| argument or option | meaning |", "| --- | --- |", *map(_param, params), ""]
    return lines


def reference() -> str:
    """The whole reference, as Markdown."""
    group: Any = typer.main.get_command(app)  # typer's own click: its classes are not the click package's
    lines = [
        "# Command-line reference",
        "",
        "Written from the commands by `python -m ckn.api.clidoc > docs/cli.md`; a test keeps it current.",
        "",
        inspect.cleandoc(group.help or ""),
        "",
        "Global options, before the command:",
        "",
        "| argument or option | meaning |",
        "| --- | --- |",
        *(_param(p) for p in group.params if p.name != "help"),
        "",
    ]
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            for sub, subcommand in sorted(command.commands.items()):
                lines += _command(f"ckn {name} {sub}", subcommand)
        else:
            lines += _command(f"ckn {name}", command)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference())
