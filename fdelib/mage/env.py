"""Mage's own environment: a virtualenv beside the course's, created on demand by the project's files.

mage-ai 0.9.80 pins ipykernel 6.15, jupyter_client 7.4, ipython 8.10, tornado 6.4.2, setuptools 70
... — versions the course's JupyterLab cannot use — so Mage gets a virtualenv of its own:
``.venv-mage/`` in the project (``FDE_MAGE_VENV`` puts it elsewhere). It is installed from
``mage/requirements.lock`` (every package pinned, compiled from ``mage/requirements.in``: mage-ai
and what fdelib.etl needs beyond Mage's packages, ``mage/requirements.txt``), by uv with the bytecode
compiled, so a ``mage run`` does not recompile Mage's imports each time. fdelib goes on its path
without its dependencies (a ``.pth`` file naming the project, as an editable install does): the
blocks run the notebooks' fdelib code.

A stamp records what the environment was built from (the lock, the interpreter, the project);
:func:`ensure` rebuilds it when one of them changed and returns at once otherwise. An inter-process
lock lets notebooks, the CLI and test workers call it together: one builds, the others wait.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..config import Settings, get_settings
from ..errors import FdeError
from . import PROJECT

# mage-ai 0.9.80's pins (numpy 1.26, Pillow 10.3) have wheels for these Pythons, not for newer ones
PYTHONS = ((3, 11), (3, 12))
UV_REQUIREMENT = "uv>=0.4,<1"  # the pip fallback's way to uv, when none is on PATH
STAMP = ".fde-mage-env"


class MageEnvError(FdeError):
    """Mage's environment could not be created."""


def venv_dir(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    chosen = os.environ.get("FDE_MAGE_VENV", "").strip()
    return Path(chosen).expanduser().resolve() if chosen else settings.project_root / ".venv-mage"


def lock_file(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).project_root / PROJECT / "requirements.lock"


def bin_dir(settings: Settings | None = None) -> Path:
    return venv_dir(settings) / "bin"


def mage_command(settings: Settings | None = None) -> list[str]:
    """How to call Mage's CLI in its environment."""
    return [str(bin_dir(settings) / "python"), "-m", "mage_ai.cli.main"]


def fingerprint(settings: Settings | None = None) -> str:
    """What the environment is built from: the lock's bytes and the project it puts on the path."""
    settings = settings or get_settings()
    digest = hashlib.sha256(lock_file(settings).read_bytes())
    digest.update(f"|{settings.project_root}".encode())
    return digest.hexdigest()[:16]


def ready(settings: Settings | None = None) -> bool:
    """True when the environment exists, its interpreter too, and it was built from the current files."""
    settings = settings or get_settings()
    try:
        stamp = (venv_dir(settings) / STAMP).read_text().strip()
    except OSError:
        return False
    # a venv's python is a link to the interpreter it was made from: gone if that was removed
    return stamp == fingerprint(settings) and (bin_dir(settings) / "python").exists()


def ensure(settings: Settings | None = None, *, echo: bool = False) -> Path:
    """The environment's folder, created (or rebuilt) first if it is missing or out of date.

    ``echo``: say what is being done (the CLI); uv's output goes to ``<venv>.log`` either way."""
    import fasteners

    settings = settings or get_settings()
    venv = venv_dir(settings)
    venv.parent.mkdir(parents=True, exist_ok=True)
    if ready(settings):
        return venv
    with fasteners.InterProcessLock(str(venv.with_name(venv.name + ".lock"))):
        if ready(settings):  # another process built it while this one waited
            return venv
        if echo:
            print(
                f"installing Mage's environment into {settings.display_path(venv)} "
                f"(about 1.4 GB, from {settings.display_path(lock_file(settings))}) ...",
                flush=True,
            )
        _build(settings, venv)
    return venv


def _build(settings: Settings, venv: Path) -> None:
    log = venv.with_name(venv.name + ".log")
    python = interpreter()
    shutil.rmtree(venv, ignore_errors=True)
    with open(log, "w") as out:
        uv = find_uv(out)
        if uv:
            _run([uv, "venv", "--quiet", "--python", python, str(venv)], out, log)
            _run(
                [
                    uv,
                    "pip",
                    "install",
                    "--compile-bytecode",
                    "--python",
                    str(venv / "bin" / "python"),
                    "-r",
                    str(lock_file(settings)),
                ],
                out,
                log,
            )
        else:  # no uv to be had: the slow way (minutes), same pins
            _run([python, "-m", "venv", str(venv)], out, log)
            _run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(lock_file(settings))],
                out,
                log,
            )
            _run([str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", str(_site(venv))], out, log)
    (_site(venv) / "fde_workbench.pth").write_text(f"{settings.project_root}\n")
    (venv / STAMP).write_text(fingerprint(settings) + "\n")


def interpreter() -> str:
    """A Python that mage-ai 0.9.80 installs on: this one if it is 3.11 or 3.12, else one on PATH."""
    if sys.version_info[:2] in PYTHONS:
        return sys.executable
    for major, minor in reversed(PYTHONS):
        found = shutil.which(f"python{major}.{minor}")
        if found:
            return found
    if find_uv():
        return "3.12"  # uv finds one, or downloads a managed CPython 3.12
    raise MageEnvError(
        "Mage 0.9.80 needs Python 3.11 or 3.12 (its pinned numpy and Pillow have no wheels "
        f"for Python {sys.version_info.major}.{sys.version_info.minor}); install python3.12"
    )


def find_uv(log=None) -> str | None:
    """uv: on PATH, or beside this Python; else (``log`` given) installed into this environment with pip —
    pip itself bootstrapped by ``ensurepip`` if the environment has none (uv makes such environments);
    None if all that fails."""
    found = shutil.which("uv") or _beside_python("uv")
    if found or log is None:
        return found
    quiet = {"stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
    if subprocess.run([sys.executable, "-m", "pip", "--version"], **quiet).returncode != 0:
        subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], **quiet)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", UV_REQUIREMENT], **quiet)
    return _beside_python("uv")


def _beside_python(name: str) -> str | None:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else None


def _run(command: list[str], out, log: Path) -> None:
    out.write(f"$ {' '.join(command)}\n")
    out.flush()
    done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        out.flush()
        tail = log.read_text()[-800:].strip()
        raise MageEnvError(
            f"creating Mage's environment failed ({command[0]} exited {done.returncode}); see {log}:\n{tail}"
        )


def _site(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise MageEnvError(f"{venv} has no site-packages folder")
    return found[0]


def summary(settings: Settings | None = None, names=("mage-ai", "ipykernel", "ipython", "tornado")) -> str:
    """What the lock pins, in a line: a few of Mage's versions and how many packages in all."""
    pins = dict(
        line.split(" ")[0].split("==")
        for line in lock_file(settings).read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    )
    shown = ", ".join(f"{name} {pins[name]}" for name in names if name in pins)
    return f"{shown} — {len(set(pins))} packages pinned in {PROJECT}/{lock_file(settings).name}"


def describe(settings: Settings | None = None) -> str:
    """One line for ``fde status``: where the environment is and whether it is current."""
    settings = settings or get_settings()
    venv = venv_dir(settings)
    if ready(settings):
        return f"installed in {settings.display_path(venv)}"
    if venv.exists():
        return f"out of date in {settings.display_path(venv)} (fde mage install rebuilds it)"
    return "not installed (fde mage install creates it, ~1.4 GB)"
