#!/usr/bin/env bash
# Makes the DEVELOPMENT certificates of the gateway (never use them in a real deployment).
#
#   certs/make-dev-certs.sh [--force] [--days N] DIR
#
# In DIR (created when missing) it makes, with openssl only:
#   ca.crt / ca.key                  a development certificate authority ("HOA Development CA")
#   server.crt / server.key          the gateway's server certificate: CN=localhost,
#                                    SAN DNS:localhost, IP:127.0.0.1, IP:::1 (serverAuth)
#   clinic.crt / clinic.key          client certificate of the clinic (CN=clinic)
#   referrer-a.crt / referrer-a.key  demo referrer practice A (CN=referrer-a, HER-id 900001)
#   referrer-b.crt / referrer-b.key  demo referrer practice B (CN=referrer-b, HER-id 900002)
#   unknown.crt / unknown.key        a client signed by the same CA that no configuration
#                                    maps to a principal (CN=unknown-client; tests expect 401)
#   README.txt                       what the files are
# The mapping of certificates to principals (referrer HER-ids, clinic) is in the gateway's
# configuration (gateway/config/development.json), by the certificate's common name.
#
# Keys are EC P-256 (fast to make, accepted by every TLS 1.2+ client), written with mode 600.
# The script is idempotent: when every file is there, the CA signs the leaf certificates and
# none expires within a day, it changes nothing. --force makes everything anew.
set -euo pipefail

usage() {
  echo "usage: $0 [--force] [--days N] DIR" >&2
  exit 2
}

force=0
days=825
dir=""
while (($#)); do
  case "$1" in
    --force) force=1 ;;
    --days)
      shift
      (($#)) || usage
      days=$1
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      [[ -z "$dir" ]] || usage
      dir=$1
      ;;
  esac
  shift
done
[[ -n "$dir" ]] || usage
[[ "$days" =~ ^[0-9]+$ ]] && ((days > 0 && days <= 3650)) || {
  echo "make-dev-certs: --days must be 1..3650" >&2
  exit 2
}
command -v openssl >/dev/null 2>&1 || {
  echo "make-dev-certs: openssl is not installed (apt-get install openssl)" >&2
  exit 1
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
umask 077

leaves=(server clinic referrer-a referrer-b unknown)

all_present_and_valid() {
  local f
  for f in ca.crt ca.key; do [[ -s "$dir/$f" ]] || return 1; done
  openssl x509 -in "$dir/ca.crt" -noout -checkend 86400 >/dev/null 2>&1 || return 1
  for f in "${leaves[@]}"; do
    [[ -s "$dir/$f.crt" && -s "$dir/$f.key" ]] || return 1
    openssl x509 -in "$dir/$f.crt" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$dir/ca.crt" "$dir/$f.crt" >/dev/null 2>&1 || return 1
  done
  return 0
}

if ((force == 0)) && all_present_and_valid; then
  echo "make-dev-certs: development certificates in $dir are present and valid (use --force to renew)"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hoa-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# The CA.
newkey "$work/ca.key"
cat >"$work/ca.ext" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = Helse og arbeid DEVELOPMENT
CN = HOA Development CA
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
openssl req -new -x509 -key "$work/ca.key" -days "$days" -sha256 -config "$work/ca.ext" \
  -set_serial "0x$(openssl rand -hex 16)" -out "$work/ca.crt"

# A leaf: name, common name, extended key usage, subjectAltName (optional).
leaf() {
  local name=$1 cn=$2 eku=$3 san=${4:-}
  newkey "$work/$name.key"
  openssl req -new -key "$work/$name.key" -subj "/O=Helse og arbeid DEVELOPMENT/CN=$cn" \
    -out "$work/$name.csr" 2>/dev/null
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature, keyAgreement"
    echo "extendedKeyUsage = $eku"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid"
    [[ -z "$san" ]] || echo "subjectAltName = $san"
  } >"$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 -extfile "$work/$name.ext" \
    -out "$work/$name.crt" 2>/dev/null
}

leaf server localhost serverAuth "DNS:localhost, IP:127.0.0.1, IP:::1"
leaf clinic clinic clientAuth
leaf referrer-a referrer-a clientAuth
leaf referrer-b referrer-b clientAuth
leaf unknown unknown-client clientAuth

for f in ca "${leaves[@]}"; do
  if [[ "$f" != ca ]]; then
    openssl verify -CAfile "$work/ca.crt" "$work/$f.crt" >/dev/null
  fi
done

cat >"$work/README.txt" <<EOF
DEVELOPMENT certificates of the Helse og arbeid FHIR gateway, made $(date -u +%Y-%m-%dT%H:%M:%SZ)
by certs/make-dev-certs.sh. Never use them in a real deployment.

ca.crt / ca.key                  development CA (trusted by the gateway and the clients)
server.crt / server.key          gateway server certificate (localhost, 127.0.0.1, ::1)
clinic.crt / clinic.key          the clinic (CN=clinic)
referrer-a.crt / referrer-a.key  demo referrer practice A (CN=referrer-a, HER-id 900001)
referrer-b.crt / referrer-b.key  demo referrer practice B (CN=referrer-b, HER-id 900002)
unknown.crt / unknown.key        signed by the CA but mapped to no principal (CN=unknown-client)

Example: curl --cacert ca.crt --cert referrer-a.crt --key referrer-a.key https://localhost:8443/fhir/metadata
EOF

# Move into place (keys 600, certificates 644).
for f in ca "${leaves[@]}"; do
  install -m 600 "$work/$f.key" "$dir/$f.key"
  install -m 644 "$work/$f.crt" "$dir/$f.crt"
done
install -m 644 "$work/README.txt" "$dir/README.txt"
echo "make-dev-certs: made development certificates in $dir"
