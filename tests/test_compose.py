"""docker-compose.yaml, checked statically (no Docker engine runs on these machines).

What must hold: it parses; the four services exist; every `${VAR:-default}` agrees with
fdelib.config.DEFAULTS; published ports are the settings' ports; the JupyterLab service
reaches PostgreSQL and Conductor by service name with the same credentials fdelib uses;
and .env.example documents exactly the variables that compose and fdelib read.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fdelib import config

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
INTERPOLATION = re.compile(r"(?<!\$)\$\{(\w+)(?::?-([^}]*))?\}")
# variables fdelib reads besides DEFAULTS (see fdelib/config.py)
FDELIB_VARS = {"DATABASE_URL", "CONDUCTOR_SERVER_URL", "ALPHAVANTAGE_API_KEY", "OPENFIGI_API_KEY",
               "PERMID_API_KEY", "GLEIF_BIC_LEI_URL", "GLEIF_ISIN_LEI_URL", "FDE_HOME", "FDE_DATA_DIR",
               "FDE_RUNS_DIR", "FDE_MODE", "DATABASE_ADMIN_URL", "BANK_APP_PASSWORD"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(text: str) -> str:
    return INTERPOLATION.sub(lambda m: config.DEFAULTS.get(m.group(1), m.group(2) or ""), text)


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip().lstrip("# ").strip()
        if re.fullmatch(r"[A-Z_]+=.*", line):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_services_exist(compose):
    assert set(compose["services"]) == {"postgres", "pgadmin", "conductor", "jupyterlab"}
    assert compose["services"]["jupyterlab"]["build"] == "."


def test_every_default_agrees_with_fdelib():
    found = INTERPOLATION.findall(COMPOSE.read_text())
    assert found
    for name, default in found:
        if name in config.DEFAULTS:
            assert default == config.DEFAULTS[name], f"{name}: compose {default!r} vs fdelib"


def test_published_ports_are_the_settings_ports(compose):
    expected = {"postgres": {("POSTGRES_PORT", "5432")}, "pgadmin": {("PGADMIN_PORT", "80")},
                "conductor": {("CONDUCTOR_PORT", "8080"), ("CONDUCTOR_UI_PORT", "5000")},
                "jupyterlab": {("JUPYTER_PORT", "8888")}}
    for service, pairs in expected.items():
        published = set()
        for mapping in compose["services"][service]["ports"]:
            host, container = mapping.rsplit(":", 1)
            published.add((INTERPOLATION.search(host).group(1), container))
        assert published == pairs, service


def test_jupyterlab_reaches_services_with_fdelib_credentials(compose):
    env = compose["services"]["jupyterlab"]["environment"]
    url = config.normalise_database_url(interpolate(env["DATABASE_URL"]))
    d = config.DEFAULTS
    assert url == config.compose_database_url(d["POSTGRES_USER"], d["POSTGRES_PASSWORD"],
                                              "postgres", 5432, d["POSTGRES_DB"])
    assert env["CONDUCTOR_SERVER_URL"] == "http://conductor:8080/api"
    pg = compose["services"]["postgres"]["environment"]
    assert {k: interpolate(v) for k, v in pg.items()} == {
        "POSTGRES_USER": d["POSTGRES_USER"], "POSTGRES_PASSWORD": d["POSTGRES_PASSWORD"],
        "POSTGRES_DB": d["POSTGRES_DB"]}
    servers = (ROOT / "docker" / "pgadmin" / "servers.json").read_text()
    assert '"Host": "postgres"' in servers and f'"Username": "{d["POSTGRES_USER"]}"' in servers


def test_env_example_documents_what_compose_and_fdelib_read():
    documented = set(env_example())
    used = {name for name, _ in INTERPOLATION.findall(COMPOSE.read_text())}
    assert used <= documented, f"undocumented: {sorted(used - documented)}"
    assert (FDELIB_VARS | set(config.DEFAULTS)) <= documented
    assert documented <= used | FDELIB_VARS | set(config.DEFAULTS), sorted(
        documented - used - FDELIB_VARS - set(config.DEFAULTS))


def test_env_example_loads_as_settings(tmp_path):
    example = tmp_path / ".env"
    example.write_text((ROOT / ".env.example").read_text())
    settings = config.Settings.from_env(environ={}, env_file=example, project_root=tmp_path)
    assert settings.embedded and settings.mode == "offline" and settings.conductor_server_url is None
    for key, value in env_example().items():
        if key in config.DEFAULTS and value:
            assert value == config.DEFAULTS[key], key


@pytest.mark.skipif(not (shutil.which("docker-compose")), reason="no docker-compose CLI here "
                    "(Docker's compose plugin is absent on these machines); checked statically above")
def test_compose_cli_accepts_the_file():
    result = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
