"""Every `facegen …` command shown in the README and the guide parses against the CLI as it is: a renamed
command or flag, a dropped option or a value of the wrong type fails here instead of in a user's shell."""

import re
import shlex
from pathlib import Path

import pytest
import typer

from facegen.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, str]]:
    """(file:line, command, whole) for each facegen command in code: lines of fenced or indented blocks are whole
    commands; inline `code` mentions one (its command and flag names are checked, not what it leaves out)."""
    found = []
    for path in DOCS:
        fenced = False
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip().startswith("```"):
                fenced = not fenced
                continue
            whole = fenced or line.startswith("    ")
            code = [line.strip()] if whole else re.findall(r"`([^`]+)`", line)
            for text in code:
                for part in text.split("&&"):
                    part = part.strip().removeprefix("$ ")
                    part = re.split(r"\s+#", part)[0]  # a shell comment after the command
                    if part.startswith("facegen ") and "…" not in part and "..." not in part:
                        found.append((f"{path.relative_to(ROOT)}:{n}", part, whole))
    return found


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) > 30 and any("pack" in c for _, c, _ in COMMANDS)


@pytest.mark.parametrize("where,command,whole", COMMANDS, ids=[w for w, _, _ in COMMANDS])
def test_documented_command_parses(where, command, whole):
    args = shlex.split(command)[1:]
    cmd = typer.main.get_command(app)
    path = ["facegen"]
    while hasattr(cmd, "list_commands") and args and not args[0].startswith("-"):
        sub = cmd.get_command(cmd.context_class(cmd), args[0])
        assert sub is not None, f"{where}: no command {' '.join(path + args[:1])!r}"
        path.append(args.pop(0))
        cmd = sub
    if not whole:
        known = {opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts)}
        unknown = [a.split("=")[0] for a in args if a.startswith("--") and a.split("=")[0] not in known]
        assert not unknown, f"{where}: {' '.join(path)} has no {', '.join(unknown)}"
        return
    try:
        cmd.make_context(" ".join(path), list(args))
    except Exception as e:  # click's UsageError family, from whichever click typer carries
        if not callable(getattr(e, "format_message", None)):
            raise
        pytest.fail(f"{where}: `{command}`: {e.format_message()}")
