"""docker-compose.yaml, checked statically (no Docker engine runs on these machines).

What must hold: it parses; the services exist; every `${VAR:-default}` agrees with
fdelib.config.DEFAULTS; published ports are the settings' ports, bound to FDE_BIND_ADDRESS
(127.0.0.1 unless asked); the exposure check (docker/check-exposure.sh, run here with sh) refuses
a wider bind while a secret is default, and every published service waits for it; PostgreSQL's
superuser is not the notebooks' role; the JupyterLab service reaches PostgreSQL and Conductor by
service name with the same credentials fdelib uses; and .env.example documents exactly the
variables that compose and fdelib read.
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
FDELIB_VARS = {
    "DATABASE_URL",
    "CONDUCTOR_SERVER_URL",
    "ALPHAVANTAGE_API_KEY",
    "OPENFIGI_API_KEY",
    "PERMID_API_KEY",
    "GLEIF_BIC_LEI_URL",
    "GLEIF_ISIN_LEI_URL",
    "FDE_HOME",
    "FDE_DATA_DIR",
    "FDE_RUNS_DIR",
    "FDE_MODE",
    "DATABASE_ADMIN_URL",
    "BANK_APP_PASSWORD",
}


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
    assert set(compose["services"]) == {"exposure-check", "postgres", "pgadmin", "conductor", "jupyterlab", "mage"}
    assert compose["services"]["jupyterlab"]["build"] == "."


def test_every_default_agrees_with_fdelib():
    found = INTERPOLATION.findall(COMPOSE.read_text())
    assert found
    for name, default in found:
        if name in config.DEFAULTS:
            assert default == config.DEFAULTS[name], f"{name}: compose {default!r} vs fdelib"


def test_published_ports_are_the_settings_ports(compose):
    expected = {
        "postgres": {("POSTGRES_PORT", "5432")},
        "pgadmin": {("PGADMIN_PORT", "80")},
        "conductor": {("CONDUCTOR_PORT", "8080"), ("CONDUCTOR_UI_PORT", "5000")},
        "jupyterlab": {("JUPYTER_PORT", "8888")},
        "mage": {("MAGE_PORT", "6789")},
    }
    for service, pairs in expected.items():
        published = set()
        for mapping in compose["services"][service]["ports"]:
            host, container = mapping.rsplit(":", 1)
            published.add((INTERPOLATION.findall(host)[-1][0], container))
        assert published == pairs, service


PUBLISHED_BY_US = ("postgres", "pgadmin", "jupyterlab", "mage")


def test_conductor_has_no_authentication_so_it_listens_on_loopback_unless_asked_separately(compose):
    assert config.DEFAULTS["CONDUCTOR_BIND_ADDRESS"] == "127.0.0.1"
    for mapping in compose["services"]["conductor"]["ports"]:
        assert mapping.startswith("${CONDUCTOR_BIND_ADDRESS:-127.0.0.1}:"), mapping
        assert interpolate(mapping).startswith("127.0.0.1:")


def test_mage_signs_in_with_the_stack_secret_not_its_builtin_owner(compose):
    env = compose["services"]["mage"]["environment"]
    assert env["DEFAULT_OWNER_PASSWORD"] == "${MAGE_ADMIN_PASSWORD:-fde-mage}"
    assert interpolate(env["DEFAULT_OWNER_PASSWORD"]) == config.DEFAULTS["MAGE_ADMIN_PASSWORD"] != "admin"
    assert compose["services"]["exposure-check"]["environment"]["MAGE_ADMIN_PASSWORD"] == env["DEFAULT_OWNER_PASSWORD"]


def test_postgres_pgadmin_jupyterlab_and_mage_listen_on_loopback_unless_asked(compose):
    assert config.DEFAULTS["FDE_BIND_ADDRESS"] == "127.0.0.1"
    for service in PUBLISHED_BY_US:
        for mapping in compose["services"][service]["ports"]:
            assert mapping.startswith("${FDE_BIND_ADDRESS:-127.0.0.1}:"), (service, mapping)
            assert interpolate(mapping).startswith("127.0.0.1:")
        # ... and none starts before the exposure check has passed
        assert compose["services"][service]["depends_on"]["exposure-check"] == {
            "condition": "service_completed_successfully"
        }


def test_the_exposure_check_sees_the_secrets_the_services_use(compose):
    check = compose["services"]["exposure-check"]
    assert check["entrypoint"] == ["sh", "/fde/check-exposure.sh"]
    assert "./docker/check-exposure.sh:/fde/check-exposure.sh:ro" in check["volumes"]
    env = check["environment"]
    services = compose["services"]
    used = {
        "POSTGRES_ADMIN_PASSWORD": services["postgres"]["environment"]["POSTGRES_PASSWORD"],
        "POSTGRES_PASSWORD": services["postgres"]["environment"]["FDE_APP_PASSWORD"],
        "PGADMIN_DEFAULT_PASSWORD": services["pgadmin"]["environment"]["PGADMIN_DEFAULT_PASSWORD"],
        "JUPYTER_TOKEN": services["jupyterlab"]["environment"]["JUPYTER_TOKEN"],
        "BANK_APP_PASSWORD": services["jupyterlab"]["environment"]["BANK_APP_PASSWORD"],
    }
    assert {k: env[k] for k in used} == used
    assert env["FDE_BIND_ADDRESS"] == "${FDE_BIND_ADDRESS:-127.0.0.1}"


STRONG = {
    "POSTGRES_ADMIN_PASSWORD": "a-long-admin-secret",
    "POSTGRES_PASSWORD": "a-long-app-secret",
    "BANK_APP_PASSWORD": "a-long-bank-secret",
    "PGADMIN_DEFAULT_PASSWORD": "a-long-pgadmin-pw",
    "JUPYTER_TOKEN": "a-long-jupyter-token",
    "MAGE_ADMIN_PASSWORD": "a-long-mage-password",
}


def check_exposure(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(ROOT / "docker" / "check-exposure.sh")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def defaults_of_the_check(compose) -> dict:
    return {k: interpolate(v) for k, v in compose["services"]["exposure-check"]["environment"].items()}


def test_the_default_stack_passes_the_exposure_check(compose):
    result = check_exposure(defaults_of_the_check(compose))
    assert result.returncode == 0 and "127.0.0.1 (this machine only)" in result.stdout


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.168.1.20"])
def test_a_wider_bind_with_default_secrets_is_refused(compose, bind):
    env = defaults_of_the_check(compose) | {"FDE_BIND_ADDRESS": bind}
    result = check_exposure(env)
    assert result.returncode == 1
    assert f"refusing to publish PostgreSQL, pgAdmin, JupyterLab and Mage on {bind}" in result.stderr
    assert all(name in result.stderr for name in STRONG)
    one_weak = env | STRONG | {"JUPYTER_TOKEN": "short"}  # set, but guessable
    result = check_exposure(one_weak)
    assert result.returncode == 1 and result.stderr.split("characters:")[1].splitlines()[0].split() == ["JUPYTER_TOKEN"]
    result = check_exposure(env | STRONG | {"POSTGRES_PASSWORD": ""})  # empty
    assert result.returncode == 1 and "POSTGRES_PASSWORD" in result.stderr
    result = check_exposure(env | STRONG)
    assert result.returncode == 0 and f"published on {bind}; every secret is set" in result.stdout


def test_postgres_superuser_is_not_the_notebooks_role(compose):
    pg = compose["services"]["postgres"]
    assert interpolate(pg["environment"]["POSTGRES_USER"]) == config.DEFAULTS["POSTGRES_ADMIN_USER"] == "postgres"
    assert interpolate(pg["environment"]["FDE_APP_USER"]) == config.DEFAULTS["POSTGRES_USER"]
    assert "./docker/postgres:/docker-entrypoint-initdb.d:ro" in pg["volumes"]
    script = ROOT / "docker" / "postgres" / "10-application-role.sh"
    assert script.stat().st_mode & 0o111  # the image runs executable init scripts (else sources them)
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in script.read_text()


def test_jupyterlab_reaches_services_with_fdelib_credentials(compose):
    env = compose["services"]["jupyterlab"]["environment"]
    url = config.normalise_database_url(interpolate(env["DATABASE_URL"]))
    d = config.DEFAULTS
    assert url == config.compose_database_url(
        d["POSTGRES_USER"], d["POSTGRES_PASSWORD"], "postgres", 5432, d["POSTGRES_DB"]
    )
    admin = config.normalise_database_url(interpolate(env["DATABASE_ADMIN_URL"]))
    assert admin == config.compose_database_url(
        d["POSTGRES_ADMIN_USER"], d["POSTGRES_ADMIN_PASSWORD"], "postgres", 5432, d["POSTGRES_DB"]
    )
    assert interpolate(env["BANK_APP_PASSWORD"]) == d["BANK_APP_PASSWORD"]
    assert env["CONDUCTOR_SERVER_URL"] == "http://conductor:8080/api"
    pg = compose["services"]["postgres"]["environment"]
    assert {k: interpolate(v) for k, v in pg.items()} == {
        "POSTGRES_USER": d["POSTGRES_ADMIN_USER"],
        "POSTGRES_PASSWORD": d["POSTGRES_ADMIN_PASSWORD"],
        "POSTGRES_DB": d["POSTGRES_DB"],
        "FDE_APP_USER": d["POSTGRES_USER"],
        "FDE_APP_PASSWORD": d["POSTGRES_PASSWORD"],
    }
    servers = (ROOT / "docker" / "pgadmin" / "servers.json").read_text()
    assert '"Host": "postgres"' in servers and f'"Username": "{d["POSTGRES_USER"]}"' in servers


def test_mage_service_runs_the_repository_project_with_the_stack_settings(compose):
    mage = compose["services"]["mage"]
    image, tag = mage["image"].split(":")
    assert image == "mageai/mageai" and tag[0].isdigit()  # the official image, a pinned tag
    lock = (ROOT / "mage" / "requirements.lock").read_text()
    assert f"mage-ai=={tag}" in lock  # the version `fde mage` installs
    env = mage["environment"]
    assert env["DATABASE_URL"] == compose["services"]["jupyterlab"]["environment"]["DATABASE_URL"]
    assert env["FDE_MODE"] == "${FDE_MODE:-offline}" and env["USER_CODE_PATH"] == "/home/src/mage"
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in mage["volumes"]}
    assert mounts["./mage"] == env["USER_CODE_PATH"] and mounts["./fdelib"] == f"{env['FDE_PROJECT_ROOT']}/fdelib"
    assert mage["command"].split()[-1] == Path(env["USER_CODE_PATH"]).name
    assert mage["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_env_example_documents_what_compose_and_fdelib_read():
    documented = set(env_example())
    used = {name for name, _ in INTERPOLATION.findall(COMPOSE.read_text())}
    assert used <= documented, f"undocumented: {sorted(used - documented)}"
    assert (FDELIB_VARS | set(config.DEFAULTS)) <= documented
    assert documented <= used | FDELIB_VARS | set(config.DEFAULTS), sorted(
        documented - used - FDELIB_VARS - set(config.DEFAULTS)
    )


def test_env_example_loads_as_settings(tmp_path):
    example = tmp_path / ".env"
    example.write_text((ROOT / ".env.example").read_text())
    settings = config.Settings.from_env(environ={}, env_file=example, project_root=tmp_path)
    assert settings.embedded and settings.mode == "offline" and settings.conductor_server_url is None
    for key, value in env_example().items():
        if key in config.DEFAULTS and value:
            assert value == config.DEFAULTS[key], key


@pytest.mark.skipif(
    not (shutil.which("docker-compose")),
    reason="no docker-compose CLI here (Docker's compose plugin is absent on these machines); checked statically above",
)
def test_compose_cli_accepts_the_file():
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not (shutil.which("docker-compose")), reason="no docker-compose CLI here")
def test_compose_publishes_where_asked():
    """docker-compose's own interpolation: loopback by default, the asked address otherwise."""

    def published(env: dict) -> set[str]:
        result = subprocess.run(
            ["docker-compose", "-f", str(COMPOSE), "config"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", **env},
        )
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        return {str(p) for name in PUBLISHED_BY_US for p in services[name]["ports"]}

    assert published({}) == {
        "127.0.0.1:5432:5432/tcp",
        "127.0.0.1:5050:80/tcp",
        "127.0.0.1:8888:8888/tcp",
        "127.0.0.1:6789:6789/tcp",
    }
    assert published({"FDE_BIND_ADDRESS": "0.0.0.0"}) == {
        "0.0.0.0:5432:5432/tcp",
        "0.0.0.0:5050:80/tcp",
        "0.0.0.0:8888:8888/tcp",
        "0.0.0.0:6789:6789/tcp",
    }
