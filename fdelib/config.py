"""Settings: one object, read from environment variables and an optional `.env`.

Defaults mean "embedded everything": a PostgreSQL server from a pip wheel whose data
lives under ``$FDE_HOME`` (``.fde/`` in the project), recorded API payloads (offline
mode), and the local workflow engine. The same variable names drive the
``docker-compose.yaml`` stack, so switching to it, or to live APIs, needs no code change.

Precedence: real environment variables, then ``.env`` in the project root, then defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

from dotenv import dotenv_values

from .errors import ConfigError

MODES = ("offline", "live")
ENGINES = ("local", "conductor-oss")  # FDE_ENGINE: fdelib's engine, or the real Conductor OSS server

# Defaults shared with docker-compose.yaml (tests/test_compose.py checks they agree).
DEFAULTS = {
    "POSTGRES_USER": "fde",
    "POSTGRES_PASSWORD": "fde",
    "POSTGRES_DB": "fde",
    "POSTGRES_ADMIN_USER": "postgres",  # compose: the image's superuser (set-up only)
    "POSTGRES_ADMIN_PASSWORD": "fde-admin",
    "BANK_APP_PASSWORD": "bank_app",
    "FDE_BIND_ADDRESS": "127.0.0.1",  # compose: where ports are published
    "POSTGRES_PORT": "5432",
    "PGADMIN_PORT": "5050",
    "PGADMIN_DEFAULT_EMAIL": "admin@fde.example.com",
    "PGADMIN_DEFAULT_PASSWORD": "fde",
    "CONDUCTOR_PORT": "8080",
    "CONDUCTOR_UI_PORT": "5000",
    "JUPYTER_PORT": "8888",
    "JUPYTER_TOKEN": "fde",
    "MAGE_PORT": "6789",
    "MAGE_ADMIN_EMAIL": "admin@fde.example.com",  # compose: Mage's owner (sign-in)
    "MAGE_ADMIN_PASSWORD": "fde-mage",
    "CONDUCTOR_BIND_ADDRESS": "127.0.0.1",  # compose: Conductor has no sign-in; loopback unless asked
    "FDE_MODE": "offline",
    "FDE_ENGINE_PORT": "8127",  # the local workflow engine (compose's Conductor has 8080)
    "FDE_FORK": "auto",  # fork servers for notebooks, kernels, workers and Mage runs: auto = Linux only
    "FDE_ENGINE": "local",  # the Conductor notebooks use without CONDUCTOR_SERVER_URL
    "FDE_CONDUCTOR_OSS_PORT": "8080",  # FDE_ENGINE=conductor-oss: the real server's port, as compose
    # live APIs: the longest wait an HTTP 429 may ask for before a client gives up (seconds)
    "FDE_API_MAX_WAIT": "60",
    # PermID record matching: weaker matches are kept as candidates, not identity links
    "PERMID_MIN_LEVEL": "Good",
    "PERMID_MIN_SCORE": "80",
    # GLEIF's lei-records API: the most pages one listing may read (bulk: the golden copy)
    "GLEIF_MAX_PAGES": "20",
}
PERMID_LEVELS = ("Possible", "Good", "Excellent")  # PermID's match levels, weakest first


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``notebooks/``.

    Looked up from ``FDE_PROJECT_ROOT``, then from this package's location (an editable
    install lives inside the project), then from the working directory. Papermill runs a
    kernel in the caller's cwd and nbval in the notebook's folder; both agree on this.
    """
    env = os.environ.get("FDE_PROJECT_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    candidates = [Path(__file__).resolve().parent, (start or Path.cwd()).resolve()]
    for base in candidates:
        for folder in (base, *base.parents):
            if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
                return folder
    return Path.cwd().resolve()


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything fdelib needs to know about where things are and what to talk to."""

    project_root: Path
    home: Path  # FDE_HOME: embedded server data, logs, engine state
    data_dir: Path  # FDE_DATA_DIR: exports and downloaded files
    runs_dir: Path  # FDE_RUNS_DIR: executed notebooks and run reports
    mode: str  # FDE_MODE: offline (recorded payloads) or live (real APIs)
    database_url: str | None  # DATABASE_URL: None means the embedded server
    postgres_user: str
    postgres_password: str
    postgres_db: str
    conductor_server_url: str | None  # CONDUCTOR_SERVER_URL: None means the local engine
    alphavantage_api_key: str | None
    openfigi_api_key: str | None
    permid_api_key: str | None
    gleif_bic_lei_url: str | None = None  # GLEIF_BIC_LEI_URL: live mode's BIC-to-LEI zip
    gleif_isin_lei_url: str | None = None  # GLEIF_ISIN_LEI_URL: live mode's ISIN-to-LEI zip
    engine_port: int = int(DEFAULTS["FDE_ENGINE_PORT"])  # FDE_ENGINE_PORT: the local engine's port
    # FDE_ENGINE: without CONDUCTOR_SERVER_URL, "local" (fdelib's engine) or "conductor-oss" (the
    # real Conductor OSS server, run from its jar on FDE_CONDUCTOR_OSS_PORT)
    engine: str = DEFAULTS["FDE_ENGINE"]
    conductor_oss_port: int = int(DEFAULTS["FDE_CONDUCTOR_OSS_PORT"])
    # DATABASE_ADMIN_URL: with DATABASE_URL, a privileged login (CREATEROLE, CREATE on the database)
    # that sets up roles and owners, e.g. the bank's; the embedded server needs none (fdelib uses
    # its bootstrap superuser). Never the role notebooks connect as.
    database_admin_url: str | None = None
    bank_app_password: str = "bank_app"  # BANK_APP_PASSWORD: the bank's application role
    api_max_wait: float = 60.0  # FDE_API_MAX_WAIT: longest HTTP 429 wait obeyed (s)
    permid_min_level: str = "Good"  # PERMID_MIN_LEVEL: weakest PermID match level linked
    permid_min_score: float = 80.0  # PERMID_MIN_SCORE: lowest PermID match score (%) linked
    gleif_max_pages: int = 20  # GLEIF_MAX_PAGES: page cap of one lei-records listing
    # FDE_FORK: start notebooks, kernels, workers and Mage runs by forking processes that imported
    # their libraries once (fast; safe on Linux). Elsewhere — macOS, where forking a process that
    # started threads or Apple frameworks is unsafe, and Windows, which has no fork — and with
    # FDE_FORK=0 each starts as a new process. Default "auto": on Linux only.
    fork: bool = sys.platform.startswith("linux")

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def embedded(self) -> bool:
        """True when the database is the embedded server (no DATABASE_URL)."""
        return self.database_url is None

    @property
    def live(self) -> bool:
        return self.mode == "live"

    def display_path(self, path: Path) -> str:
        """A path as a learner should read it: relative to $FDE_HOME or the project."""
        path = Path(path)
        for base, label in ((self.home, "$FDE_HOME"), (self.project_root, ".")):
            try:
                rel = path.resolve().relative_to(base.resolve())
            except ValueError:
                continue
            return f"{label}/{rel.as_posix()}" if str(rel) != "." else label
        return str(path)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None, project_root: Path | None = None
    ) -> Settings:
        root = project_root or find_project_root()
        file_values = {}
        if env_file is None:
            # FDE_ENV_FILE=none turns the .env file off (the test suite does, so a learner's
            # .env can never point the tests at their own data).
            chosen = (os.environ if environ is None else environ).get("FDE_ENV_FILE", "")
            env_file = Path("/nonexistent") if chosen.lower() == "none" else Path(chosen) if chosen else root / ".env"
        if env_file.is_file():
            file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        values = {**DEFAULTS, **file_values, **(os.environ if environ is None else environ)}

        def get(name: str) -> str | None:
            value = values.get(name)
            return value.strip() if value and value.strip() else None

        def folder(name: str, default: Path) -> Path:
            raw = get(name)
            path = Path(raw).expanduser() if raw else default
            if not path.is_absolute():
                path = root / path
            if " " in str(path):
                raise ConfigError(
                    f"{name}={path} contains a space; PostgreSQL sockets and tools need a path without spaces"
                )
            return path

        def number(name: str, kind: type, low: float, high: float):
            raw = get(name) or DEFAULTS[name]
            try:
                value = kind(raw)
            except ValueError:
                value = None
            if value is None or not low <= value <= high:
                raise ConfigError(
                    f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number from {low:g} to {high:g}"
                )
            return value

        def switch(name: str, auto: bool) -> bool:
            raw = (get(name) or DEFAULTS[name]).lower()
            if raw == "auto":
                return auto
            if raw in ("1", "true", "yes", "on"):
                return True
            if raw in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}={raw!r} is not one of auto, 1, 0")

        level = (get("PERMID_MIN_LEVEL") or DEFAULTS["PERMID_MIN_LEVEL"]).capitalize()
        if level not in PERMID_LEVELS:
            raise ConfigError(f"PERMID_MIN_LEVEL={level!r} is not one of {', '.join(PERMID_LEVELS)}")

        mode = (get("FDE_MODE") or "offline").lower()
        if mode not in MODES:
            raise ConfigError(f"FDE_MODE={mode!r} is not one of {', '.join(MODES)}")
        engine = (get("FDE_ENGINE") or DEFAULTS["FDE_ENGINE"]).lower()
        if engine not in ENGINES:
            raise ConfigError(f"FDE_ENGINE={engine!r} is not one of {', '.join(ENGINES)}")

        return cls(
            project_root=root,
            home=folder("FDE_HOME", root / ".fde"),
            data_dir=folder("FDE_DATA_DIR", root / "data"),
            runs_dir=folder("FDE_RUNS_DIR", root / "runs"),
            mode=mode,
            database_url=normalise_database_url(get("DATABASE_URL")),
            postgres_user=get("POSTGRES_USER") or DEFAULTS["POSTGRES_USER"],
            postgres_password=get("POSTGRES_PASSWORD") or DEFAULTS["POSTGRES_PASSWORD"],
            postgres_db=get("POSTGRES_DB") or DEFAULTS["POSTGRES_DB"],
            conductor_server_url=get("CONDUCTOR_SERVER_URL"),
            alphavantage_api_key=get("ALPHAVANTAGE_API_KEY"),
            openfigi_api_key=get("OPENFIGI_API_KEY"),
            permid_api_key=get("PERMID_API_KEY"),
            gleif_bic_lei_url=get("GLEIF_BIC_LEI_URL"),
            gleif_isin_lei_url=get("GLEIF_ISIN_LEI_URL"),
            fork=switch("FDE_FORK", sys.platform.startswith("linux")),
            engine_port=port_number("FDE_ENGINE_PORT", get("FDE_ENGINE_PORT") or DEFAULTS["FDE_ENGINE_PORT"]),
            engine=engine,
            conductor_oss_port=port_number(
                "FDE_CONDUCTOR_OSS_PORT", get("FDE_CONDUCTOR_OSS_PORT") or DEFAULTS["FDE_CONDUCTOR_OSS_PORT"]
            ),
            database_admin_url=normalise_database_url(get("DATABASE_ADMIN_URL"), "DATABASE_ADMIN_URL"),
            bank_app_password=get("BANK_APP_PASSWORD") or DEFAULTS["BANK_APP_PASSWORD"],
            api_max_wait=number("FDE_API_MAX_WAIT", float, 0, 86400),
            permid_min_level=level,
            permid_min_score=number("PERMID_MIN_SCORE", float, 0, 100),
            gleif_max_pages=number("GLEIF_MAX_PAGES", int, 1, 100_000),
        )


def port_number(name: str, raw: str) -> int:
    """A TCP port from a setting, or a ConfigError naming the setting."""
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name}={raw!r} is not a TCP port number (1-65535)")
    return port


def normalise_database_url(url: str | None, name: str = "DATABASE_URL") -> str | None:
    """Make a libpq/compose style URL explicit about its driver, and its password findable.

    SQLAlchemy 2.1 reads a plain ``postgresql://`` as psycopg 3; fdelib uses psycopg2. A
    password given as ``?password=`` (libpq accepts it there) moves into the URL's userinfo,
    where SQLAlchemy masks it (``repr(engine)``) and :func:`redact` finds it.
    """
    if url is None:
        return None
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg2://" + url[len(prefix) :]
            break
    if not url.startswith("postgresql+"):
        raise ConfigError(f"{name} must start with postgresql://, got {redact(url)!r}")
    if "password=" in url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise ConfigError(f"{name} is not a valid URL: {redact(url)!r}") from None
        if "password" in parsed.query:
            password = parsed.query["password"]
            password = password[-1] if isinstance(password, tuple) else password
            url = (
                parsed.difference_update_query(["password"])
                .set(password=password)
                .render_as_string(hide_password=False)
            )
    return url


# What a password looks like in text fdelib may print: a URL's userinfo (user:PASSWORD@host),
# a URL query (?password=..., also sslpassword), a libpq keyword string (password=... or
# password='...'), and a PGPASSWORD= assignment.
_SECRET_NAMES = r"(?:ssl)?password|pgpassword|passwd|pwd"
_USERINFO = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"]*):(?P<secret>[^\s'\"]*)"
    r"@(?=[^\s@'\"]*(?:[\s'\"]|$))"
)  # up to the token's last @: a raw @ in a password
_QUERY = re.compile(rf"(?P<head>[?&](?i:{_SECRET_NAMES})=)(?P<secret>[^&#\s'\"]*)")
_KEYWORD = re.compile(rf"(?P<head>(?<![?&\w])(?i:{_SECRET_NAMES})\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'?|[^\s'\"&]+)")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every password in it replaced by ``***``: URLs' userinfo passwords,
    ``password=`` in URL queries and in libpq keyword strings (quoted or not), and each
    of ``secrets`` (known secret values of 4 characters or more) wherever it appears."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:***@", text)
    text = _QUERY.sub(lambda m: f"{m['head']}***", text)
    text = _KEYWORD.sub(lambda m: f"{m['head']}***", text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and tables)."""
    return redact(url)


def secrets_of(settings: Settings) -> list[str]:
    """The secret values the settings hold (database passwords, API keys), for :func:`redact`."""
    from urllib.parse import parse_qs, unquote, urlsplit

    found = [
        settings.alphavantage_api_key,
        settings.openfigi_api_key,
        settings.permid_api_key,
        settings.bank_app_password if settings.bank_app_password != DEFAULTS["BANK_APP_PASSWORD"] else None,
    ]
    for url in (settings.database_url, settings.database_admin_url, settings.conductor_server_url):
        if not url:
            continue
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        for key, values in parse_qs(parts.query).items():
            if re.fullmatch(_SECRET_NAMES, key, re.IGNORECASE):
                found += values
    if not settings.embedded and settings.postgres_password != DEFAULTS["POSTGRES_PASSWORD"]:
        found.append(settings.postgres_password)
    return [s for s in found if s]


def compose_database_url(user: str, password: str, host: str, port: int | str, db: str) -> str:
    """The URL the compose stack's jupyterlab service uses (same names as the services):
    the application role's (DATABASE_URL), or the superuser's (DATABASE_ADMIN_URL)."""
    return f"postgresql+psycopg2://{quote(user)}:{quote(password)}@{host}:{port}/{quote(db)}"


@functools.lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings.from_env()


def get_settings() -> Settings:
    """The process-wide settings (read once; call :func:`reload` after changing the env)."""
    return _cached()


def reload() -> Settings:
    _cached.cache_clear()
    return _cached()
