#!/bin/sh
# Compose `db` command: give postgres a private copy of its TLS key (PostgreSQL refuses a key
# other users can read, and a bind-mounted file keeps the host's owner), then start the server the
# way the image does, with TLS on (the app connects with sslmode=verify-full).
set -eu
install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/tls
install -o postgres -g postgres -m 0600 /run/certs/db.key /var/lib/postgresql/tls/server.key
install -o postgres -g postgres -m 0644 /run/certs/db.crt /var/lib/postgresql/tls/server.crt
exec docker-entrypoint.sh postgres \
    -c ssl=on \
    -c ssl_cert_file=/var/lib/postgresql/tls/server.crt \
    -c ssl_key_file=/var/lib/postgresql/tls/server.key \
    -c ssl_min_protocol_version=TLSv1.2 \
    -c password_encryption=scram-sha-256
