#!/usr/bin/env bash
# Make a DEVELOPMENT RAUC signing key pair (self-signed, codeSigning).
#
#   image/keys/make-dev-keys.sh [DIR]     (default: image/cache/keys/dev)
#
# The key is made on the build machine and never committed. Images built
# with it carry "development keyring" in /etc/rauc/keyring.pem's subject and
# accept bundles signed by whoever holds this file: never ship them.
# A release build passes the fleet's release certificate instead
# (`build.sh --keyring release-ca.pem`) and signs bundles on the offline
# signing host (`--signing-cert/--signing-key`); build.sh --release refuses
# the development key.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
dir=${1:-$CACHE_DIR/keys/dev}
if [ -f "$dir/cert.pem" ] && [ -f "$dir/key.pem" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"; chmod 700 "$dir"
cat > "$dir/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
x509_extensions = v3
prompt = no
[dn]
O = MeshChain
CN = MeshNode DEVELOPMENT keyring - not for release
[v3]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,codeSigning
subjectKeyIdentifier = hash
CNF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -days 3650 -config "$dir/openssl.cnf" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chmod 600 "$dir/key.pem"
echo "$dir"
