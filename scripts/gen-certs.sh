#!/usr/bin/env bash
# Issue a TLS certificate from a local certificate authority, creating the CA on first use.
#
#   scripts/gen-certs.sh DIR NAME [HOSTNAME ...]
#
# Writes DIR/NAME.crt and DIR/NAME.key (a P-256 key, valid 397 days, serverAuth) for the given
# host names (default: NAME), plus localhost, 127.0.0.1 and ::1 so health checks inside a
# container verify too. The CA (DIR/ca.crt, DIR/ca.key, valid ten years) is created when DIR has
# none and reused afterwards, so clients that trust ca.crt keep trusting re-issued certificates.
# Keys are written 0600, certificates 0644. Re-running replaces NAME's certificate and key.
#
# The compose stack needs three (README, "Deploy"):
#   scripts/gen-certs.sh deploy/certs nginx coding.example.org
#   scripts/gen-certs.sh deploy/certs db db
#   scripts/gen-certs.sh deploy/certs redis redis
# A public site may put a certificate from a public CA in nginx.crt/nginx.key instead.
set -euo pipefail

usage() {
    echo "usage: $0 DIR NAME [HOSTNAME ...]" >&2
    exit 2
}
[ $# -ge 2 ] || usage
dir=$1
name=$2
shift 2
case $name in
    ca | *[!A-Za-z0-9._-]*) echo "gen-certs: NAME must be letters, digits, '.', '_' or '-' (and not 'ca')" >&2; exit 2 ;;
esac
[ $# -gt 0 ] || set -- "$name"
command -v openssl >/dev/null || { echo "gen-certs: openssl is not installed" >&2; exit 1; }

mkdir -p "$dir"
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -s "$dir/ca.key" ] || [ ! -s "$dir/ca.crt" ]; then
    cat >"$work/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca_ext
[dn]
CN = SmartCoders local CA
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
    openssl req -new -x509 -sha256 -days 3650 -key "$dir/ca.key" -config "$work/ca.cnf" -out "$dir/ca.crt"
    chmod 0644 "$dir/ca.crt"
    echo "Created the CA: $dir/ca.crt (clients trust this file)"
fi

# subjectAltName: every name given, then the loopback names; IP literals as IP entries.
sans=()
for host in "$@" localhost 127.0.0.1 ::1; do
    if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then
        entry="IP:$host"
    else
        entry="DNS:$host"
    fi
    [[ " ${sans[*]-} " == *" $entry "* ]] || sans+=("$entry")
done
san=$(IFS=,; echo "${sans[*]}")

cat >"$work/leaf.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $1
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $san
EOF
openssl ecparam -name prime256v1 -genkey -noout -out "$work/leaf.key"
openssl req -new -sha256 -key "$work/leaf.key" -config "$work/leaf.cnf" -out "$work/leaf.csr"
openssl x509 -req -sha256 -days 397 -in "$work/leaf.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$work/leaf.cnf" -extensions leaf_ext \
    -out "$work/leaf.crt" 2>/dev/null
openssl verify -CAfile "$dir/ca.crt" "$work/leaf.crt" >/dev/null
mv "$work/leaf.key" "$dir/$name.key"
chmod 0600 "$dir/$name.key"
mv "$work/leaf.crt" "$dir/$name.crt"
chmod 0644 "$dir/$name.crt"
echo "Issued $dir/$name.crt for $san"
