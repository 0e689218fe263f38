"""Keep ``requirements.lock`` honest: it records which dependency declarations it was made from.

    python tools/lockfile.py stamp requirements.lock   # after `uv pip compile` (make lock does it)
    python tools/lockfile.py check requirements.lock   # before installing (make does it)

The lock is ``uv pip compile`` output: every package, pinned, for every platform and Python
version the project supports. ``stamp`` writes a fingerprint of what it was compiled from —
``[project]`` dependencies, the ``dev`` extra, ``requires-python`` and ``[tool.uv]``'s
overrides in ``pyproject.toml`` — as the lock's first line. ``check`` recomputes that
fingerprint and fails with the fix (``make lock``) when ``pyproject.toml`` declares
something the lock was not made from, so nobody installs a set that was never resolved
together. Standard library only: it runs before the virtual environment exists.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

MARK = "# inputs-sha256: "
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def fingerprint(pyproject: Path = PYPROJECT) -> str:
    """sha256 of the declarations the lock is compiled from (order of lists kept, formatting not)."""
    data = tomllib.loads(pyproject.read_text())
    project = data.get("project", {})
    inputs = {
        "dependencies": project.get("dependencies", []),
        "dev": project.get("optional-dependencies", {}).get("dev", []),
        "requires-python": project.get("requires-python", ""),
        "overrides": data.get("tool", {}).get("uv", {}).get("override-dependencies", []),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded(lock: Path) -> str | None:
    for line in lock.read_text().splitlines()[:5]:
        if line.startswith(MARK):
            return line[len(MARK) :].strip()
    return None


def stamp(lock: Path) -> None:
    lines = [line for line in lock.read_text().splitlines() if not line.startswith(MARK)]
    lock.write_text("\n".join([MARK + fingerprint(), *lines]) + "\n")


def check(lock: Path) -> int:
    if not lock.exists():
        print(f"fde: {lock.name} is missing: run `make lock` and commit it", file=sys.stderr)
        return 1
    if recorded(lock) != fingerprint():
        print(
            f"fde: {lock.name} was not made from pyproject.toml's current dependencies "
            f"(they changed since it was locked): run `make lock`, then commit {lock.name}",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("stamp", "check"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: lockfile.py stamp|check requirements.lock", file=sys.stderr)
        return 2
    lock = Path(argv[1])
    if argv[0] == "stamp":
        stamp(lock)
        return 0
    return check(lock)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
