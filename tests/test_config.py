from pathlib import Path

import pytest

from fdelib.config import DEFAULTS, Settings, normalise_database_url, redact, redact_url
from fdelib.errors import ConfigError

NO_FILE = Path("/nonexistent/.env")


def make(tmp_path, env=None, env_file=NO_FILE):
    return Settings.from_env(environ=env or {}, env_file=env_file, project_root=tmp_path)


def test_defaults_are_embedded_and_offline(tmp_path):
    s = make(tmp_path)
    assert s.embedded and s.database_url is None
    assert s.mode == "offline" and not s.live
    assert s.conductor_server_url is None
    assert s.home == tmp_path / ".fde" and s.pgdata == tmp_path / ".fde" / "pgdata"
    assert (s.postgres_user, s.postgres_db) == (DEFAULTS["POSTGRES_USER"], DEFAULTS["POSTGRES_DB"])


def test_environment_beats_env_file_beats_defaults(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("FDE_MODE=live\nPOSTGRES_DB=fromfile\nOPENFIGI_API_KEY=file-key\n")
    s = make(tmp_path, {"POSTGRES_DB": "fromenv"}, env_file)
    assert s.mode == "live"
    assert s.postgres_db == "fromenv"
    assert s.openfigi_api_key == "file-key"


def test_env_file_can_be_switched_off(tmp_path):
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://u:p@h/db\n")
    assert make(tmp_path, {"FDE_ENV_FILE": "none"}, None).embedded
    assert not make(tmp_path, {}, None).embedded


def test_relative_folders_resolve_against_the_project(tmp_path):
    s = make(tmp_path, {"FDE_HOME": "state", "FDE_RUNS_DIR": "/tmp/abs-runs"})
    assert s.home == tmp_path / "state"
    assert s.runs_dir == Path("/tmp/abs-runs")


def test_bad_mode_is_named(tmp_path):
    with pytest.raises(ConfigError, match="FDE_MODE='sometimes'"):
        make(tmp_path, {"FDE_MODE": "sometimes"})


def test_path_with_space_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"FDE_HOME=.*space"):
        make(tmp_path, {"FDE_HOME": "/tmp/my home"})


def test_database_url_gets_the_psycopg2_driver():
    assert normalise_database_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg2://u:p@h:5432/d"
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg2://u@h/d"
    assert normalise_database_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"
    with pytest.raises(ConfigError, match="must start with postgresql://"):
        normalise_database_url("mysql://u:secret@h/d")


def test_redact_hides_only_the_password():
    assert redact_url("postgresql+psycopg2://fde:s3cret@db:5432/fde") == "postgresql+psycopg2://fde:***@db:5432/fde"
    assert "s3cret" not in redact_url("postgresql://fde:s3cret@db/fde")
    assert redact_url("postgresql+psycopg2://fde@/fde?host=/tmp") == "postgresql+psycopg2://fde@/fde?host=/tmp"


def test_display_path_is_relative_to_home_or_project(tmp_path):
    s = make(tmp_path)
    assert s.display_path(s.pgdata) == "$FDE_HOME/pgdata"
    assert s.display_path(tmp_path / "runs") == "./runs"
    assert s.display_path(Path("/elsewhere/x")) == "/elsewhere/x"


SECRET = "Top5ecret!"


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql+psycopg2://fde:{SECRET}@db:5432/fde",
        f"postgresql://fde:{SECRET}@db/fde?sslmode=require",
        "postgresql://fde:p@ss:w/rd@db/fde",  # a raw @ and / in the password
        f"postgresql://fde@db/fde?sslmode=require&password={SECRET}&application_name=x",
        f"postgresql://fde@db/fde?PASSWORD={SECRET}",
        f"postgresql://fde@db/fde?sslpassword={SECRET}",
        f"host=db user=fde password={SECRET} dbname=fde",
        f"host=db user=fde password = '{SECRET} with spaces' dbname=fde",
        f"PGPASSWORD={SECRET} psql -h db fde",
        f"cannot reach DATABASE_URL postgresql://fde:{SECRET}@db/fde: FATAL: no",
    ],
)
def test_redact_removes_every_form_of_password(text):
    redacted = redact(text)
    assert SECRET not in redacted and "p@ss:w/rd" not in redacted and "***" in redacted
    assert "db" in redacted and "fde" in redacted  # where and who stay readable


def test_redact_keeps_what_is_not_a_secret_and_removes_known_values():
    for text in (
        "postgresql+psycopg2://fde@/fde?host=/tmp/fde-x/pgdata",
        "mail ann@example.com",
        "http://example.com/a@b",
        "the password must be longer",
    ):
        assert redact(text) == text
    assert redact(f"a driver said: {SECRET} is wrong", [SECRET, None, "fde"]) == "a driver said: *** is wrong"
    assert redact("fde owns fde", ["fde"]) == "fde owns fde"  # too short to be told from a name


def test_a_query_password_moves_into_the_userinfo_where_sqlalchemy_masks_it(tmp_path):
    import sqlalchemy as sa

    url = normalise_database_url(f"postgresql://fde@db:5432/fde?sslmode=require&password={SECRET}")
    assert url == "postgresql+psycopg2://fde:Top5ecret%21@db:5432/fde?sslmode=require"
    assert SECRET not in repr(sa.create_engine(url)) and SECRET not in str(sa.make_url(url))
    s = make(
        tmp_path,
        {
            "DATABASE_URL": f"postgresql://fde@db/fde?password={SECRET}",
            "DATABASE_ADMIN_URL": "postgresql://postgres:Adm1nSecret@db/fde",
            "OPENFIGI_API_KEY": "figi-key-1",
        },
    )
    from fdelib.config import secrets_of

    assert {SECRET, "Adm1nSecret", "figi-key-1"} <= set(secrets_of(s))
    with pytest.raises(ConfigError, match="DATABASE_URL must start with") as info:
        make(tmp_path, {"DATABASE_URL": f"host=db user=fde password={SECRET}"})
    assert SECRET not in str(info.value)
