"""Run the ``causette`` command as a user would: a process of its own, its exit code and
output."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from click.testing import Result as ClickResult

from tests.servers import SECRET

__all__ = ["CAUSETTE", "Cli", "Result", "causette", "ok", "one_line_error"]

CAUSETTE = str(Path(sys.executable).with_name("causette"))


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def causette(
    *args: str,
    database_url: str,
    stdin: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Result:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CAUSETTE_")}
    environ.update({"CAUSETTE_DATABASE_URL": database_url, "CAUSETTE_SECRET_KEY": SECRET})
    environ.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        CAUSETTE,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=environ,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else b""), timeout
        )
    finally:
        if proc.returncode is None:  # timed out or cancelled: leave no process behind
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


Cli = Callable[..., ClickResult]  # ``cli(url)``'s command: run(*args, stdin=, env=)


def ok(result: ClickResult) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def one_line_error(result: ClickResult, *, code: int, expect: str) -> str:
    """Exit ``code``, nothing on stdout, no traceback; one ``Error:`` line last on stderr,
    after click's ``Usage:`` and ``Try ...`` lines for a usage error (exit 2)."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: "), result.stderr
    if code == 2:
        assert len(lines) == 3 and lines[0].startswith("Usage: causette "), result.stderr
    else:
        assert len(lines) == 1, result.stderr
    assert expect.lower() in lines[-1].lower(), lines[-1]
    return lines[-1]
