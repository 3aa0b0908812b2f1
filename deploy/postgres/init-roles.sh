#!/bin/sh
# Compose `db`, first start only (mounted into /docker-entrypoint-initdb.d): create the roles and
# the database (roles.sql), then let network clients in only over TLS with a password.
set -eu
SMARTCODERS_DB_NAME=smartcoders psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -f /etc/smartcoders/postgres/roles.sql
# The image's entrypoint allowed every network address with a password ("host all all all
# scram-sha-256"); make that hostssl, so a connection without TLS finds no entry and is refused.
sed -i 's/^host all all all /hostssl all all all /' "$PGDATA/pg_hba.conf"
grep -q '^hostssl all all all ' "$PGDATA/pg_hba.conf"
