#!/usr/bin/env bash
# Test of certs/make-dev-certs.sh: the files, their purposes and names, key permissions,
# idempotency and --force.   tests/certs/make_dev_certs_test.sh
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRIPT=$SRC/certs/make-dev-certs.sh
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl is not installed" >&2; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hoa-certs-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # description, command...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "PASS: $what"; else fail=$((fail + 1)); echo "FAIL: $what"; fi
}
d=$tmp/certs
check "the script makes the certificates" bash "$SCRIPT" "$d"
for f in ca server clinic referrer-a referrer-b unknown; do
  check "$f.crt and $f.key exist" test -s "$d/$f.crt" -a -s "$d/$f.key"
  check "$f.key is readable by the owner only" test "$(stat -c %a "$d/$f.key")" = 600
  check "$f key matches its certificate" test "$(openssl x509 -in "$d/$f.crt" -noout -pubkey)" = "$(openssl pkey -in "$d/$f.key" -pubout)"
  [[ $f == ca ]] || check "$f.crt is signed by ca.crt" openssl verify -CAfile "$d/ca.crt" "$d/$f.crt"
done
cn() { openssl x509 -in "$d/$1.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p'; }
check "server CN localhost" test "$(cn server)" = localhost
check "clinic CN clinic" test "$(cn clinic)" = clinic
check "referrer-a CN referrer-a" test "$(cn referrer-a)" = referrer-a
check "referrer-b CN referrer-b" test "$(cn referrer-b)" = referrer-b
check "unknown CN unknown-client" test "$(cn unknown)" = unknown-client
text=$(openssl x509 -in "$d/server.crt" -noout -text)
check "server SAN has localhost" grep -q "DNS:localhost" <<<"$text"
check "server SAN has 127.0.0.1" grep -q "IP Address:127.0.0.1" <<<"$text"
check "server certificate is for TLS servers" openssl verify -purpose sslserver -CAfile "$d/ca.crt" "$d/server.crt"
check "referrer-a certificate is for TLS clients" openssl verify -purpose sslclient -CAfile "$d/ca.crt" "$d/referrer-a.crt"
check "referrer-a certificate is not for TLS servers" bash -c "! openssl verify -purpose sslserver -CAfile '$d/ca.crt' '$d/referrer-a.crt'"
serial=$(openssl x509 -in "$d/ca.crt" -noout -serial)
check "a second run keeps the certificates" bash "$SCRIPT" "$d"
check "the CA is unchanged" test "$(openssl x509 -in "$d/ca.crt" -noout -serial)" = "$serial"
rm "$d/clinic.key"
check "a missing file makes everything anew" bash "$SCRIPT" "$d"
check "clinic.key is back" test -s "$d/clinic.key"
check "the CA was renewed" test "$(openssl x509 -in "$d/ca.crt" -noout -serial)" != "$serial"
serial=$(openssl x509 -in "$d/ca.crt" -noout -serial)
check "--force renews" bash "$SCRIPT" --force "$d"
check "the CA serial changed with --force" test "$(openssl x509 -in "$d/ca.crt" -noout -serial)" != "$serial"
check "no directory argument is a usage error" bash -c "bash '$SCRIPT'; test \$? = 2"
check "--days 0 is refused" bash -c "bash '$SCRIPT' --days 0 '$tmp/x'; test \$? = 2"
echo "make-dev-certs test: $pass passed, $fail failed"
((fail == 0))
