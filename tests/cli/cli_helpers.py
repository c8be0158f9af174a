"""Helpers shared by the tests that drive ``confalign``'s commands in-process (imported by name).

``group(commands, groups)`` -> ``typer.Typer``
    A typer group holding the real commands and sub-groups given, as ``confalign`` holds them
    once more than one command is registered (a lone command would become the whole app).
``run_app(app, args)`` -> ``(exit code, stdout, stderr)``
    Runs ``app`` with ``args`` through ``CliRunner``; an exception other than ``SystemExit``
    is raised again, so a crash fails the test with its traceback rather than as exit code 1.
``assert_user_error(code, out, err, *fragments)`` -> ``str``
    A user's mistake as the CLI must report it: exit code 2, stderr exactly one line starting
    ``error: `` and holding every fragment, no traceback anywhere. Returns that line. With
    ``last_line=True`` stderr may hold other output (a model's loading bar) before the error,
    which must be its last line and the only one starting ``error: ``.

Example::

    code, out, err = run_app(group({"report": report_command}), ["report", "missing"])
    assert_user_error(code, out, err, "missing")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import typer
from typer.testing import CliRunner


def group(
    commands: Mapping[str, Callable[..., object]] | None = None,
    groups: Mapping[str, typer.Typer] | None = None,
) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.callback()(lambda: None)
    for name, sub in (groups or {}).items():
        app.add_typer(sub, name=name)
    for name, command in (commands or {}).items():
        app.command(name)(command)
    return app


def run_app(app: typer.Typer, args: Sequence[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_user_error(
    code: int, out: str, err: str, *fragments: str, last_line: bool = False
) -> str:
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    if last_line:  # output written before the error (a model's loading bar) is allowed
        assert lines and [ln for ln in lines if ln.startswith("error: ")] == lines[-1:], err
    else:
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]
