#!/bin/sh
# Compose `redis` command: TLS only (no plain port), a password, and neither the key nor the
# password readable by anyone but the redis user. The password goes into a config file rather
# than onto the command line, which `ps` shows.
set -eu
install -d -o redis -g redis -m 0700 /run/redis-tls
install -o redis -g redis -m 0600 /run/certs/redis.key /run/redis-tls/redis.key
install -o redis -g redis -m 0644 /run/certs/redis.crt /run/redis-tls/redis.crt
umask 077
printf 'requirepass "%s"\n' "$REDIS_PASSWORD" >/run/redis-tls/auth.conf
chown redis:redis /run/redis-tls/auth.conf
exec docker-entrypoint.sh redis-server /run/redis-tls/auth.conf \
    --port 0 \
    --tls-port 6379 \
    --tls-cert-file /run/redis-tls/redis.crt \
    --tls-key-file /run/redis-tls/redis.key \
    --tls-ca-cert-file /run/certs/ca.crt \
    --tls-auth-clients no \
    --tls-protocols "TLSv1.2 TLSv1.3"
