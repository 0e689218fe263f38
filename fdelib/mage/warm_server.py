"""The warm Mage interpreter of :mod:`fdelib.mage.warm` (run in Mage's environment, as a script).

It imports what ``mage run`` imports (after pointing Mage at the project, as ``mage run`` does
before its imports), says ``ready``, then serves one request at a time: each is a new process,
forked from this one, that runs Mage's CLI entry point (``mage_ai.cli.main.app``) with the
request's arguments, environment, working folder and output files, exactly as
``python -m mage_ai.cli.main <arguments>`` would, and ends with the CLI's exit code.

Requests and answers are JSON lines on the file descriptors given as arguments. The server ends
when its requester closes the request pipe or ends. It imports nothing of fdelib: the pipeline's
blocks import fdelib in each run's own process, from that run's environment.

Usage: ``python -P warm_server.py PROJECT REQUEST_FD ANSWER_FD``
"""

import contextlib
import importlib
import json
import os
import select
import sys
import traceback

#: what ``mage run`` imports before running a pipeline (mage_ai.cli.main's ``run``)
PRELOAD = (
    "mage_ai.cli.main",
    "mage_ai.data_preparation.executors.executor_factory",
    "mage_ai.data_preparation.models.pipeline",
    "mage_ai.data_preparation.variable_manager",
    "mage_ai.orchestration.db",
    "mage_ai.orchestration.db.models.schedules",
    "mage_ai.server.logger",
)


def preload(project: str) -> None:
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(project)  # before Mage's database module is imported, as `mage run` does
    for module in PRELOAD:
        importlib.import_module(module)


def child(request: dict) -> None:
    """In the forked process: become ``mage <argv>``; never returns."""
    code = 1
    try:
        os.setsid()  # its own process group: a timeout stops the run and what it started
        os.umask(0o077)  # Mage's data private (as its parent's, set by fdelib.mage.warm)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, fd)
            os.close(out)
        sys.argv = ["mage", *request["argv"]]
        from mage_ai.cli.main import app

        try:
            app()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def serve(requests: int, answers: int) -> None:
    parent = os.getppid()
    reader = os.fdopen(requests, "r")
    writer = os.fdopen(answers, "w")

    def answer(message: dict) -> None:
        writer.write(json.dumps(message) + "\n")
        writer.flush()

    answer({"ready": True})
    while True:
        ready, _, _ = select.select([reader], [], [], 1.0)
        if not ready:
            if os.getppid() != parent:
                return  # the requester ended without closing the pipe
            continue
        line = reader.readline()
        if not line:
            return
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            reader.close()
            writer.close()
            child(request)
        answer({"pid": pid})
        _, status = os.waitpid(pid, 0)
        answer({"returncode": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    project, request_fd, answer_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    try:
        preload(project)
    except BaseException:
        traceback.print_exc()
        os.write(answer_fd, b'{"ready": false}\n')
        sys.exit(1)
    serve(request_fd, answer_fd)
