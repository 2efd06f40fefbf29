"""MkDocs hook: the command reference page is every facegen command's --help, rendered from the typer app."""

from __future__ import annotations

MARKER = "<!-- facegen-help -->"
FORMATS_MARKER = "<!-- facegen-pack-formats -->"  # the packed formats' table, from facegen.export.packers


def _helps() -> list[tuple[str, str]]:
    import typer

    from facegen.cli import app

    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path: list[str]) -> None:
        ctx = cmd.context_class(cmd, info_name=" ".join(path))  # typer may carry its own click: use the command's
        out.append((" ".join(path), cmd.get_help(ctx)))
        if hasattr(cmd, "list_commands"):
            for name in sorted(cmd.list_commands(ctx)):
                walk(cmd.get_command(ctx, name), [*path, name])

    walk(root, ["facegen"])
    return out


def on_page_markdown(markdown: str, page, config, files) -> str:
    if FORMATS_MARKER in markdown:
        from facegen.export.packers import format_table

        markdown = markdown.replace(FORMATS_MARKER, format_table())
    if MARKER not in markdown:
        return markdown
    sections = [f"## `{name}`\n\n```text\n{text}\n```\n" for name, text in _helps()]
    return markdown.replace(MARKER, "\n".join(sections))
