"""What `fde lab` opens: the practice copies (written or refreshed first, the learner's work
kept), or with --solutions the lessons, read-only."""

import asyncio
import json
import os
import socket
from pathlib import Path

import nbformat
import pytest
from tornado import web

from fdelib import cli, stack
from fdelib.practice import copies, lab, notebook
from fdelib.practice.readonly import REFUSED, ReadOnlyLessons


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def launched(monkeypatch):
    """What `fde lab` would exec (a fake exec and stack: unit tests only)."""
    seen: dict = {}

    def execv(path, command):
        seen["command"] = command

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.setattr(stack, "up", lambda *a, **k: None)
    return seen


def option(command: list[str], name: str) -> str | None:
    found = [c.split("=", 1)[1] for c in command if c.startswith(f"--{name}=")]
    return found[-1] if found else None


def test_fde_lab_opens_the_practice_copies_and_keeps_an_answer(tmp_path, launched, capsys):
    practice = tmp_path / "practice"
    assert cli.main(["lab", "--port", str(free_port()), "--dir", str(practice)]) == 0
    command = launched["command"]
    assert option(command, "ServerApp.root_dir") == str(practice)
    assert option(command, "LabApp.default_url") == "/lab/tree/00_start_here.ipynb"
    lessons = copies.lessons_with_exercises()
    assert len(list(practice.rglob("*.ipynb"))) == len(lessons) > 10
    out = capsys.readouterr().out
    assert f"{len(lessons)} practice copies ({len(lessons)} created)" in out and 'hint("ID")' in out

    home = practice / "00_start_here.ipynb"
    nb = nbformat.read(home, as_version=4)
    [found, *_] = notebook.find(nb)
    nb.cells[found.answer].source = "%%sql --save latest_close\nSELECT 'mine' AS answer"
    nbformat.write(nb, home)
    assert cli.main(["lab", "--port", str(free_port()), "--dir", str(practice)]) == 0
    assert f"({len(lessons)} unchanged)" in capsys.readouterr().out
    kept = nbformat.read(home, as_version=4).cells[found.answer].source
    assert kept == "%%sql --save latest_close\nSELECT 'mine' AS answer"


def test_fde_lab_solutions_opens_the_lessons_read_only(tmp_path, launched, settings, capsys):
    assert cli.main(["lab", "--port", str(free_port()), "--solutions"]) == 0
    command = launched["command"]
    assert option(command, "ServerApp.root_dir") == str(settings.project_root / "notebooks")
    assert option(command, "ServerApp.contents_manager_class") == "fdelib.practice.readonly.ReadOnlyLessons"
    assert "read-only" in capsys.readouterr().out


def test_fde_lab_notebook_dir_opens_a_folder_as_it_is(tmp_path, launched):
    assert cli.main(["lab", "--port", str(free_port()), "--notebook-dir", str(tmp_path)]) == 0
    command = launched["command"]
    assert option(command, "ServerApp.root_dir") == str(tmp_path)
    assert option(command, "LabApp.default_url") is None
    assert not list(tmp_path.iterdir())  # no copies written there


def test_solutions_and_a_practice_folder_exclude_each_other(tmp_path, launched):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["lab", "--solutions", "--dir", str(tmp_path)])
    assert exit_.value.code == 2 and "command" not in launched


def test_the_read_only_lessons_are_served_but_never_written(tmp_path):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), tmp_path / "a.ipynb")
    before = (tmp_path / "a.ipynb").read_bytes()
    manager = ReadOnlyLessons(root_dir=str(tmp_path))

    async def scenario():
        model = await manager.get("a.ipynb")
        assert model["writable"] is False and model["content"]["cells"][0]["source"] == "1 + 1"
        folder = await manager.get("")
        assert [entry["writable"] for entry in folder["content"]] == [False]
        model["content"]["cells"][0]["source"] = "2 + 2"
        for attempt in (
            manager.save({"type": "notebook", "format": "json", "content": model["content"]}, "a.ipynb"),
            manager.save({"type": "file", "format": "text", "content": "x"}, "b.txt"),
            manager.rename_file("a.ipynb", "c.ipynb"),
            manager.delete_file("a.ipynb"),
        ):
            with pytest.raises(web.HTTPError) as refused:
                await attempt
            assert refused.value.status_code == 403 and refused.value.log_message == REFUSED

    asyncio.run(scenario())
    assert (tmp_path / "a.ipynb").read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb"]


def test_an_opening_names_its_root_and_start():
    opening = lab.Opening(root=Path("/x"), start="00_start_here.ipynb", options=("--a=1",))
    assert opening.arguments() == [
        "--ServerApp.root_dir=/x",
        "--a=1",
        "--LabApp.default_url=/lab/tree/00_start_here.ipynb",
    ]
    assert json.dumps(lab.folder(Path("/y")).arguments()) == '["--ServerApp.root_dir=/y"]'
