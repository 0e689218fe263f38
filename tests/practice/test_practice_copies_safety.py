"""A learner's work survives `fde practice` being killed while it writes, unreadable copies,
duplicated cells and two `fde practice` at once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import fasteners
import nbformat
import pytest

from fdelib import cli
from fdelib.practice import copies, notebook

NAME = "00_start_here"
MY_ANSWER = "%%sql --save latest_close\nSELECT 1 AS mine -- my attempt"
MY_DUPLICATE = "%%sql --save latest_close\nSELECT 2 AS mine -- my other attempt"
MY_NOTES = "my notes, never to be lost"
FDE = [sys.executable, "-c", "from fdelib.cli import entry; entry()"]


def answer_and_check(nb, exercise_id="latest_close"):
    found = next(f for f in notebook.find(nb) if f.id == exercise_id)
    return nb.cells[found.answer], nb.cells[found.check]


def learner_work(dest: Path) -> Path:
    """A copy with the learner's work in it: an answer with outputs, a duplicated answer cell
    (JupyterLab copies its metadata), a cell of their own, outputs of a lesson cell they ran;
    its lesson then "changes" (the recorded fingerprint no longer matches), so the next
    `fde practice` rebuilds it."""
    assert cli.main(["practice", "--dir", str(dest), NAME]) == 0
    path = dest / f"{NAME}.ipynb"
    nb = nbformat.read(path, as_version=4)
    answer, check = answer_and_check(nb)
    answer.source = MY_ANSWER
    answer.outputs = [nbformat.v4.new_output("stream", text="my answer's output")]
    check.outputs = [nbformat.v4.new_output("stream", text="my check's output")]
    duplicate = nbformat.from_dict(dict(answer))
    duplicate.id, duplicate.source = "pasted-by-jupyterlab", MY_DUPLICATE
    duplicate.outputs = [nbformat.v4.new_output("stream", text="my duplicate's output")]
    at = nb.cells.index(answer)
    nb.cells.insert(at, duplicate)  # pasted above the answer: same exercise id in its metadata
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(MY_NOTES))
    ran = next(c for c in nb.cells if c.cell_type == "code" and "fde" not in c.metadata and c.source.strip())
    ran.outputs = [nbformat.v4.new_output("stream", text="what the learner's run printed")]
    nb.metadata["fde_practice"]["fingerprint"] = "an-older-lesson"
    nbformat.write(nb, path)
    return path


def assert_all_kept(path: Path) -> None:
    nb = copies.read_copy(path)
    assert nb is not None, f"{path} is unreadable"
    sources = [c.source for c in nb.cells]
    answer, check = answer_and_check(nb)
    assert answer.source == MY_ANSWER and answer.outputs[0]["text"] == "my answer's output"
    assert check.outputs[0]["text"] == "my check's output"
    assert MY_DUPLICATE in sources and MY_NOTES in sources
    duplicate = nb.cells[sources.index(MY_DUPLICATE)]
    assert duplicate.outputs[0]["text"] == "my duplicate's output"
    assert sources.index(MY_NOTES) < sources.index(MY_DUPLICATE) < sources.index(MY_ANSWER)
    printed = [o.get("text") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert "what the learner's run printed" in printed
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def start_paused(dest: Path, point: str) -> subprocess.Popen:
    """`fde practice` stopped at a named point of its writing (it says so on stderr)."""
    env = dict(os.environ, **{copies.PAUSE_ENV: point})
    proc = subprocess.Popen(
        [*FDE, "practice", "--dir", str(dest), NAME], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    assert line.strip() == f"paused at {point}", line
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


POINTS = ["backup-partial", "backup-written", "backup-renamed", "copy-partial", "copy-written", "copy-renamed"]


@pytest.mark.parametrize("point", POINTS)
def test_a_sigkill_at_any_point_of_writing_loses_no_answer(tmp_path, point):
    path = learner_work(tmp_path)
    kill(start_paused(tmp_path, point))
    on_disk = copies.read_copy(path)
    assert on_disk is not None  # the copy is the previous one or the new one, whole
    assert answer_and_check(on_disk)[0].source == MY_ANSWER
    assert cli.main(["practice", "--dir", str(tmp_path), NAME]) == 0  # the next run finishes the job
    assert_all_kept(path)
    assert not list(tmp_path.rglob("*.tmp"))  # what the killed writer left is cleaned up
    again = nbformat.read(path, as_version=4)
    assert copies.write(dest=tmp_path, lessons=copies.lessons_with_exercises([NAME]))[0].action == "unchanged"
    assert nbformat.read(path, as_version=4) == again


def test_a_sigkill_while_creating_a_copy_leaves_no_broken_copy(tmp_path):
    kill(start_paused(tmp_path, "copy-partial"))
    assert not (tmp_path / f"{NAME}.ipynb").exists()
    assert cli.main(["practice", "--dir", str(tmp_path), NAME]) == 0
    assert copies.read_copy(tmp_path / f"{NAME}.ipynb") is not None


@pytest.mark.parametrize("broken", [b"", b'{"cells": [{"cell_type": "mark', b"[]"])
def test_an_unreadable_copy_is_rebuilt_from_its_backup_and_kept(tmp_path, capsys, broken):
    path = learner_work(tmp_path)
    assert cli.main(["practice", "--dir", str(tmp_path), NAME]) == 0  # rebuilt: a backup exists
    [backup] = (tmp_path / copies.BACKUP_DIR).glob(f"{NAME}.*.ipynb")
    path.write_bytes(broken)  # what a SIGKILL of an older `fde practice` left: 0 bytes, cut short
    capsys.readouterr()
    assert cli.main(["practice", "--dir", str(tmp_path), NAME]) == 0  # no NotJSONError
    out = capsys.readouterr().out
    assert "recovered" in out and "could not be read" in out and str(backup) in out
    assert_all_kept(path)
    [aside] = (tmp_path / copies.BACKUP_DIR).glob(f"{NAME}.*.unreadable.ipynb")
    assert aside.read_bytes() == broken  # the unreadable file is kept as it was
    assert str(aside) in out


def test_an_unreadable_copy_without_backup_is_kept_and_replaced_blank(tmp_path, capsys):
    path = tmp_path / f"{NAME}.ipynb"
    path.write_bytes(b"")
    assert cli.main(["practice", "--dir", str(tmp_path), NAME]) == 0
    assert "no readable backup" in capsys.readouterr().out
    assert copies.read_copy(path) is not None
    [aside] = (tmp_path / copies.BACKUP_DIR).glob(f"{NAME}.*.unreadable.ipynb")
    assert aside.read_bytes() == b""


def test_a_copy_left_empty_by_an_older_version_comes_back_from_the_flat_backup(tmp_path):
    """Earlier versions kept backups in .backup/ directly, then truncated the copy in place."""
    path = learner_work(tmp_path)
    flat = tmp_path / copies.BACKUP_DIR / f"{NAME}.20261201-120000-000000.ipynb"
    flat.parent.mkdir()
    flat.write_bytes(path.read_bytes())
    path.write_bytes(b"")
    [written] = copies.write(dest=tmp_path, lessons=copies.lessons_with_exercises([NAME]))
    assert (written.action, written.recovered_from) == ("recovered", flat)
    assert_all_kept(path)


def test_learner_edits_to_lesson_cells_are_kept_beside_the_new_lesson(tmp_path):
    path = learner_work(tmp_path)
    assert cli.main(["practice", "--dir", str(tmp_path), NAME]) == 0
    nb = nbformat.read(path, as_version=4)
    lesson_cell = next(
        c for c in nb.cells if c.cell_type == "markdown" and "fde" not in c.metadata and c.id != "fde-practice-banner"
    )
    original = lesson_cell.source
    lesson_cell.source = original + "\n\nMy own words in the lesson."
    nb.metadata["fde_practice"]["fingerprint"] = "an-older-lesson"
    nbformat.write(nb, path)
    assert cli.main(["practice", "--dir", str(tmp_path), NAME]) == 0
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert original in sources and original + "\n\nMy own words in the lesson." in sources
    assert sources.index(original + "\n\nMy own words in the lesson.") == sources.index(original) + 1
    assert_all_kept(path)


def test_two_fde_practice_at_once_lose_nothing(tmp_path):
    path = learner_work(tmp_path)
    first = start_paused(tmp_path, "copy-written")  # holds the lock, its new copy not yet in place
    lock = fasteners.InterProcessLock(str(tmp_path / copies.LOCK))
    assert not lock.acquire(blocking=False)  # a second writer would wait
    second = subprocess.Popen([*FDE, "practice", "--dir", str(tmp_path), NAME], stdout=subprocess.PIPE)
    kill(first)  # the first dies holding the lock: the kernel releases it
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    assert_all_kept(path)
    # and two at once without pauses: both finish, nothing lost
    nb = nbformat.read(path, as_version=4)
    nb.metadata["fde_practice"]["fingerprint"] = "an-older-lesson"
    nbformat.write(nb, path)
    both = [subprocess.Popen([*FDE, "practice", "--dir", str(tmp_path), NAME], stdout=subprocess.PIPE) for _ in "ab"]
    outs = [p.communicate(timeout=120)[0].decode() for p in both]
    assert [p.returncode for p in both] == [0, 0]
    assert sorted(o.split()[0] for o in outs) == ["unchanged", "updated"]  # they took turns
    assert_all_kept(path)
