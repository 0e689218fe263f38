#!/bin/sh
# The postgres service runs this once, when it initialises an empty volume
# (/docker-entrypoint-initdb.d), as the image's superuser (POSTGRES_USER inside the container,
# POSTGRES_ADMIN_USER in .env). It creates the application role the notebooks connect as
# (FDE_APP_USER, POSTGRES_USER in .env) -- no SUPERUSER, CREATEDB or CREATEROLE -- and makes it
# the owner of the course database: the same arrangement fdelib.stack bootstraps on the
# embedded server. The bank's own roles are created later by fdelib, through DATABASE_ADMIN_URL.
set -eu
if [ "$FDE_APP_USER" = "$POSTGRES_USER" ]; then
    echo "POSTGRES_USER (the notebooks' role, $FDE_APP_USER) must differ from POSTGRES_ADMIN_USER" >&2
    exit 1
fi
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_user="$FDE_APP_USER" -v app_password="$FDE_APP_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'app_user', :'app_password') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'app_user') \gexec
SQL
