"""`linli` invocations forked from a process that has already imported it.

Why: a `linli` process spends ~0.6 s of CPU importing grpc, httpx, rich, typer and the protos
before it does anything, and the CLI tests start ~200 of them; on 2 cores that was more than a
minute of `make test`. A forkserver (multiprocessing's, started once per test session) imports
the CLI and every command module once; each invocation is then a fork of it — a process of its
own as before, with its own environment, argv, stdout, stderr and exit code, starting the same
`linli_cli.app:app` the console script starts — for a few milliseconds. The forkserver never
opens a gRPC channel, so no gRPC state crosses a fork.

`tests/e2e/cli/test_session_and_org.py` still starts the installed console script itself (the
device-flow login), so the entry point stays covered.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from multiprocessing.context import ForkServerContext
from pathlib import Path

_CONTEXT: ForkServerContext | None = None


def _context() -> ForkServerContext:
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        # Imported once in the server: the app, every command module it loads lazily, and this
        # module (the children's entry point).
        from linli_cli.app import COMMANDS

        context.set_forkserver_preload(["linli_cli.app", __name__, *sorted({m for m, _ in COMMANDS.values()})])
        _CONTEXT = context
    return _CONTEXT


def _main(argv: list[str], env: dict[str, str], out: str, err: str, status: str) -> None:
    """In the forked child: become `linli argv…` with `env`, writing to the files `out`/`err`,
    and its exit code to the file `status` as it exits (`run`: why)."""
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.argv = ["linli", *argv]
    code: int = 0
    try:
        from linli_cli.app import app

        app(args=argv, prog_name="linli")
    except SystemExit as done:
        if done.code is None:
            code = 0
        elif isinstance(done.code, int):
            code = done.code
        else:  # sys.exit("message"): Python prints it and exits 1
            print(done.code, file=sys.stderr)
            code = 1
    except BaseException:  # what the interpreter would do with an uncaught exception
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    Path(status).write_text(str(code), encoding="ascii")
    os._exit(code)


def run(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `linli argv…` run with exactly `env`.

    The exit code is the one the child wrote as it exited. The forkserver's own report of it
    (`process.exitcode`) is read only when the child wrote none (it died first): that report
    once came back as 255, multiprocessing's stand-in when it cannot read the forkserver's
    answer, after the CLI had printed its error and exited 3."""
    with tempfile.TemporaryDirectory(prefix="linli-cli-") as folder:
        out, err, status = Path(folder) / "out", Path(folder) / "err", Path(folder) / "status"
        process = _context().Process(target=_main, args=(argv, env, str(out), str(err), str(status)))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise TimeoutError(f"linli {' '.join(argv)} ran over {timeout} s")
        written = status.read_text(encoding="ascii") if status.exists() else ""
        return (int(written) if written else process.exitcode,
                out.read_text(encoding="utf-8", errors="replace") if out.exists() else "",
                err.read_text(encoding="utf-8", errors="replace") if err.exists() else "")
