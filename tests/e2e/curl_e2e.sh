#!/usr/bin/env bash
# End-to-end test of the gateway with curl against a real server (HTTPS, mutual TLS).
#
#   tests/e2e/curl_e2e.sh BUILD_DIR
#
# Starts BUILD_DIR/gateway/fhir-gateway on a free loopback port with the development
# configuration (gateway/config/development.json), fresh development certificates
# (certs/make-dev-certs.sh) and an empty data folder, all in a temporary folder that is
# removed on exit (the server is stopped on exit too). Then, as the referrers and the
# clinic would, it checks:
#   - /healthz and /readyz; the CapabilityStatement in JSON and XML (_format, Accept);
#   - every transport form (REST create, transaction, $process-message) x JSON/XML accepted,
#     the Task found by GET /fhir/Task?focus=ServiceRequest/{id} (received, deadline set);
#   - resubmission (also in another transport form) gives 200 and the same ServiceRequest;
#   - invalid referrals (priority urgent -> 422, broken JSON/XML -> 400) store nothing;
#   - referrer-b neither reads referrer-a's referrals (404) nor sends for its practice (403);
#     no client certificate -> the TLS handshake is refused;
#   - 415 for an unknown content type, 406 for an unsupported Accept, 413 over the body limit;
#   - the clinic moves a referral received -> under-assessment -> accepted, the referrer
#     sees Task version 3 (and its history), illegal transitions give 409;
#   - revocation with PUT + If-Match: stale 412, current 200, Task cancelled.
# Prints PASS/FAIL per check; exit status 0 when all pass, 1 otherwise, 77 (skipped) when
# curl or openssl is missing.
#
# Environment:
#   HOA_TEST_CERTS_DIR  use certificates made beforehand (ca.crt, server.*, referrer-a.*,
#                       referrer-b.*, clinic.*) instead of running certs/make-dev-certs.sh
#   HOA_E2E_KEEP=1      keep the temporary folder (server log, data) and print its path
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
source "$SRC/tests/lib/gateway_test_lib.sh"

if (($# < 1)); then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
gw_set_paths
CONFIG=$DEV_CONFIG

gw_require_tools "the curl end-to-end test"
gw_require_config "$CONFIG"

STARTED=$(date +%s)
gw_make_work hoa-e2e
SERVER_PID=
LOG=$WORK/server.log
DATA=$WORK/data
RESP_BODY=$WORK/resp.body
RESP_HDRS=$WORK/resp.headers
PORT=
READY_TIMEOUT=120  # loading the definitions
GW_READY_POLL=0.1
GW_READY_PROBE=healthz_ok
GW_STOP_WARNING="warning: the gateway did not stop within 15 s of SIGTERM; killing it"
GW_KEEP_VAR=HOA_E2E_KEEP
GW_LOG_LABEL="server log"
GW_LOG_LINES=40
gw_install_traps

# --- checks (pass, fail, check, check_true: gateway_test_lib.sh) ------------------------------
show_body() { [[ -s $RESP_BODY ]] && head -c 800 "$RESP_BODY" | sed 's/^/      | /' && echo; return 0; }
expect_status() {
  local want=$1 desc=$2
  if [[ $STATUS == "$want" ]]; then
    pass "$desc (HTTP $STATUS)"
  else
    fail "$desc: expected HTTP $want, got $STATUS (curl exit $CURL_RC)"
    show_body
  fi
}

# --- JSON/XML helpers (python3) ------------------------------------------------------------
gw_write_python_lib
cat >"$WORK/fx.py" <<'PY'
import json, re, sys, datetime
import xml.etree.ElementTree as ET
from gateway_answers import srid_json, tail_id

NS = "{http://hl7.org/fhir}"


def load(path):
    data = open(path, "rb").read()
    if data.lstrip().startswith(b"<"):
        return "xml", ET.fromstring(data)
    return "json", json.loads(data)


def srid(path):
    """The ServiceRequest id in a submission's answer (any transport form, JSON or XML)."""
    kind, d = load(path)
    if kind == "json":
        return srid_json(d)
    tag = d.tag.replace(NS, "")
    if tag == "ServiceRequest":
        return d.find(NS + "id").get("value")
    if tag == "Bundle":
        btype = d.find(NS + "type").get("value")
        if btype == "transaction-response":
            for loc in d.iter(NS + "location"):
                if loc.get("value", "").startswith("ServiceRequest/"):
                    return tail_id(loc.get("value"))
        if btype == "message":
            for task in d.iter(NS + "Task"):
                ref = task.find(NS + "focus/" + NS + "reference")
                if ref is not None:
                    return tail_id(ref.get("value"))
    return ""


def days_from_today(date_text):
    return (datetime.date.fromisoformat(date_text[:10]) - datetime.date.today()).days


cmd = sys.argv[1]
try:
    if cmd == "get":  # get FILE EXPR: EXPR evaluated with d = the JSON document
        d = json.load(open(sys.argv[2]))
        v = eval(sys.argv[3], {"d": d, "re": re, "days_from_today": days_from_today, "len": len, "any": any,
                               "all": all, "sum": sum})
        if v is None:
            v = ""
        print(json.dumps(v) if isinstance(v, (dict, list)) else v)
    elif cmd == "xget":  # xget FILE PATH: the value attribute of the first element at PATH ('' = root tag)
        d = ET.parse(sys.argv[2]).getroot()
        if sys.argv[3] == "":
            print(d.tag.replace(NS, "{fhir}"))
        else:
            path = "/".join(NS + p for p in sys.argv[3].split("/"))
            el = d.find(path)
            print("" if el is None else el.get("value", ""))
    elif cmd == "srid":
        print(srid(sys.argv[2]))
    elif cmd == "edit":  # edit IN OUT PYTHON-STATEMENTS: d = the JSON document, written to OUT
        d = json.load(open(sys.argv[2]))
        exec(sys.argv[4], {"d": d})
        json.dump(d, open(sys.argv[3], "w"))
    elif cmd == "date":  # date DAYS: today + DAYS as YYYY-MM-DD
        print((datetime.date.today() + datetime.timedelta(days=int(sys.argv[2]))).isoformat())
    else:
        raise SystemExit("unknown command " + cmd)
except SystemExit:
    raise
except Exception as e:  # the checks compare the output; never abort the shell script here
    print("<error: %s: %s>" % (type(e).__name__, e))
PY
gw_find_python
fx() { "$PY" "$WORK/fx.py" "$@"; }
jget() { fx get "$RESP_BODY" "$1"; }   # jget EXPR on the last answer
header() {                            # header NAME of the last answer
  grep -i "^$1:" "$RESP_HDRS" 2>/dev/null | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//' || true
}

# --- certificates and server ---------------------------------------------------------------
gw_setup_certs ca.crt server.crt server.key referrer-a.crt referrer-a.key referrer-b.crt referrer-b.key clinic.crt clinic.key

# call WHO METHOD PATH [curl options...]: WHO is referrer-a, referrer-b, clinic or none.
# Sets STATUS (HTTP status, 000 when there was none) and CURL_RC; the answer is in
# $RESP_BODY and $RESP_HDRS.
call() {
  local who=$1 method=$2 path=$3
  shift 3
  CURL_RC=0
  : >"$RESP_BODY"
  : >"$RESP_HDRS"
  STATUS=$(gw_curl "$who" "$PORT" "$path" --max-time 120 --connect-timeout 5 \
    -X "$method" -o "$RESP_BODY" -D "$RESP_HDRS" -w '%{http_code}' "$@" 2>"$WORK/curl.err") || CURL_RC=$?
  [[ -n $STATUS ]] || STATUS=000
}
# healthz_ok: the readiness probe of gw_start_server: GET /healthz as referrer-a answers 200.
healthz_ok() {
  call referrer-a GET /healthz
  [[ $STATUS == 200 ]]
}

mkdir -p "$DATA"
echo "gateway: $BIN"
echo "work folder: $WORK"
if ! gw_start_server; then
  echo "FAIL: the gateway did not start (log below)"
  exit 1
fi
echo "gateway listening on https://localhost:$PORT (pid $SERVER_PID), started in $(($(date +%s) - STARTED)) s"

RUN=$(date +%s)-$$
SYS='https://ehr.example.no/fhir/NamingSystem/referral-id'
TODAY=$(fx date 0)

# referral FORM FORMAT IDENTIFIER -> file with the example's identifier replaced
referral() {
  local out=$WORK/$3.$2
  sed "s/REF-2026-000123/$3/g" "$EXAMPLES/referral-$1.$2" >"$out"
  echo "$out"
}
route() {
  case $1 in
    rest-create) echo /fhir/ServiceRequest ;;
    transaction) echo /fhir ;;
    message) echo '/fhir/$process-message' ;;
  esac
}
mime() { [[ $1 == xml ]] && echo application/fhir+xml || echo application/fhir+json; }
# submit WHO FORM FORMAT FILE [curl options]
submit() {
  local who=$1 form=$2 fmt=$3 file=$4
  shift 4
  call "$who" POST "$(route "$form")" -H "Content-Type: $(mime "$fmt")" --data-binary "@$file" "$@"
}
# totals: ServiceRequest and Task searchset totals for referrer-a, clinic list length
totals() {
  local sr task list
  call referrer-a GET '/fhir/ServiceRequest?_count=1'
  sr=$(jget 'd["total"]')
  call referrer-a GET '/fhir/Task?_count=1'
  task=$(jget 'd["total"]')
  call clinic GET '/clinic/referrals?_count=1000'
  list=$(jget 'len(d)')
  echo "$sr/$task/$list"
}
identifier_total() {  # identifier_total VALUE [WHO]: searchset total for SYSTEM|VALUE
  call "${2:-referrer-a}" GET "/fhir/ServiceRequest?identifier=$SYS|$1"
  jget 'd["total"]'
}

# --- 1. health and readiness -------------------------------------------------------------------
echo "== health, readiness, metadata"
call referrer-a GET /healthz
expect_status 200 "GET /healthz"
check "/healthz status" ok "$(jget 'd["status"]')"
call clinic GET /readyz
expect_status 200 "GET /readyz"
check "/readyz says ready" ready "$(jget 'd["status"]')"
check "/readyz store open" open "$(jget 'd["store"]')"

# --- 2. metadata in JSON and XML -----------------------------------------------------------
call referrer-a GET /fhir/metadata
expect_status 200 "GET /fhir/metadata (JSON by default)"
check "metadata is a CapabilityStatement" CapabilityStatement "$(jget 'd["resourceType"]')"
check "metadata fhirVersion" 4.0.1 "$(jget 'd["fhirVersion"]')"
check_true "metadata Content-Type is application/fhir+json" "$([[ $(header Content-Type) == application/fhir+json* ]] && echo True || header Content-Type)"
call referrer-a GET '/fhir/metadata?_format=xml'
expect_status 200 "GET /fhir/metadata?_format=xml"
check "metadata ?_format=xml root element" "{fhir}CapabilityStatement" "$(fx xget "$RESP_BODY" '')"
check "metadata ?_format=xml fhirVersion" 4.0.1 "$(fx xget "$RESP_BODY" fhirVersion)"
check_true "metadata ?_format=xml Content-Type is application/fhir+xml" "$([[ $(header Content-Type) == application/fhir+xml* ]] && echo True || header Content-Type)"
call referrer-a GET /fhir/metadata -H 'Accept: application/fhir+xml'
expect_status 200 "GET /fhir/metadata with Accept: application/fhir+xml"
check "metadata Accept xml root element" "{fhir}CapabilityStatement" "$(fx xget "$RESP_BODY" '')"
call referrer-a GET /fhir/metadata -H 'Accept: application/fhir+json'
check "metadata Accept json" CapabilityStatement "$(jget 'd["resourceType"]')"

# --- 3. every transport form x JSON/XML --------------------------------------------------------
echo "== submissions: 3 transport forms x JSON/XML"
declare -A SRID FILE IDENT
FORMS=(rest-create transaction message)
for form in "${FORMS[@]}"; do
  for fmt in json xml; do
    key=$form-$fmt
    IDENT[$key]=E2E-$RUN-$key
    FILE[$key]=$(referral "$form" "$fmt" "${IDENT[$key]}")
    submit referrer-a "$form" "$fmt" "${FILE[$key]}"
    want=200
    [[ $form == rest-create ]] && want=201
    expect_status $want "$key: POST $(route "$form") accepted"
    check_true "$key: answer in $fmt" "$([[ $(header Content-Type) == "$(mime "$fmt")"* ]] && echo True || header Content-Type)"
    id=$(fx srid "$RESP_BODY")
    SRID[$key]=$id
    if [[ $id =~ ^[A-Za-z0-9.-]{1,64}$ ]]; then pass "$key: ServiceRequest id $id in the answer"; else fail "$key: no ServiceRequest id in the answer ($id)"; show_body; fi
    case $form in
      rest-create)
        loc=$(header Location)
        check_true "$key: Location names ServiceRequest/$id" "$([[ $loc == */ServiceRequest/"$id"/_history/1 ]] && echo True || echo "$loc")"
        check "$key: ETag" 'W/"1"' "$(header ETag)"
        ;;
      transaction)
        if [[ $fmt == json ]]; then
          check "$key: transaction-response" transaction-response "$(jget 'd["type"]')"
          check "$key: every entry 201 Created" True "$(jget 'all(e["response"]["status"] == "201 Created" for e in d["entry"])')"
        else
          check "$key: transaction-response" transaction-response "$(fx xget "$RESP_BODY" type)"
        fi
        ;;
      message)
        if [[ $fmt == json ]]; then
          check "$key: response message MessageHeader.response.code" ok "$(jget 'd["entry"][0]["resource"]["response"]["code"]')"
        else
          check "$key: response message MessageHeader.response.code" ok "$(fx xget "$RESP_BODY" entry/resource/MessageHeader/response/code)"
        fi
        ;;
    esac
    [[ -n $id ]] || continue
    call referrer-a GET "/fhir/Task?focus=ServiceRequest/$id"
    expect_status 200 "$key: GET /fhir/Task?focus=ServiceRequest/$id"
    check "$key: one Task" 1 "$(jget 'd["total"]')"
    check "$key: Task.status" received "$(jget 'd["entry"][0]["resource"]["status"]')"
    check "$key: Task.businessStatus" received "$(jget 'd["entry"][0]["resource"]["businessStatus"]["coding"][0]["code"]')"
    check "$key: Task.focus" "ServiceRequest/$id" "$(jget 'd["entry"][0]["resource"]["focus"]["reference"]')"
    end=$(jget 'd["entry"][0]["resource"]["restriction"]["period"]["end"]')
    check_true "$key: Task.restriction.period.end ($end) is 10 working days ahead" \
      "$(fx get "$RESP_BODY" '12 <= days_from_today(d["entry"][0]["resource"]["restriction"]["period"]["end"]) <= 40')"
    check "$key: one ServiceRequest with the identifier" 1 "$(identifier_total "${IDENT[$key]}")"
  done
done
call referrer-a GET "/fhir/Task?focus=ServiceRequest/${SRID[rest-create-json]}&_format=xml"
expect_status 200 "Task search with _format=xml"
check "Task search in XML: total" 1 "$(fx xget "$RESP_BODY" total)"
call referrer-a GET "/fhir/ServiceRequest/${SRID[message-xml]}"
expect_status 200 "GET /fhir/ServiceRequest/{id}"
check "read ServiceRequest id" "${SRID[message-xml]}" "$(jget 'd["id"]')"
check "read ServiceRequest identifier" "${IDENT[message-xml]}" "$(jget 'd["identifier"][0]["value"]')"

# --- 4. resubmission ---------------------------------------------------------------------------
echo "== resubmission is idempotent"
BEFORE=$(totals)
check "6 referrals stored (ServiceRequest/Task/clinic list)" 6/6/6 "$BEFORE"
for form in "${FORMS[@]}"; do
  for fmt in json xml; do
    key=$form-$fmt
    submit referrer-a "$form" "$fmt" "${FILE[$key]}"
    expect_status 200 "$key: resubmission"
    check "$key: resubmission names the same ServiceRequest" "${SRID[$key]}" "$(fx srid "$RESP_BODY")"
    check "$key: X-Duplicate-Of" "ServiceRequest/${SRID[$key]}" "$(header X-Duplicate-Of)"
  done
done
# The same identifier in another transport form and format: still the same referral.
other=$(referral message xml "${IDENT[rest-create-json]}")
submit referrer-a message xml "$other"
expect_status 200 "rest-create-json's identifier resubmitted as a message in XML"
check "... names the same ServiceRequest" "${SRID[rest-create-json]}" "$(fx srid "$RESP_BODY")"
check "no referral added by the resubmissions" "$BEFORE" "$(totals)"

# --- 5. invalid referrals store nothing --------------------------------------------------------
echo "== invalid referrals"
BEFORE=$(totals)
bad=$WORK/urgent.json
fx edit "$(referral rest-create json "E2E-$RUN-urgent")" "$bad" 'd["priority"] = "urgent"' >/dev/null
submit referrer-a rest-create json "$bad"
expect_status 422 "priority urgent refused"
check "422 answer is an OperationOutcome" OperationOutcome "$(jget 'd["resourceType"]')"
check "422 names ServiceRequest.priority" True "$(jget 'any("priority" in " ".join(i.get("expression", [])) for i in d["issue"])')"
bad=$WORK/urgent-tx.json
fx edit "$(referral transaction json "E2E-$RUN-urgent-tx")" "$bad" \
  '[e["resource"].__setitem__("priority", "urgent") for e in d["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]' >/dev/null
submit referrer-a transaction json "$bad"
expect_status 422 "priority urgent in a transaction refused"
head -c 600 "$(referral rest-create json "E2E-$RUN-broken")" >"$WORK/broken.json"
submit referrer-a rest-create json "$WORK/broken.json"
expect_status 400 "broken JSON refused"
check "400 answer is an OperationOutcome" OperationOutcome "$(jget 'd["resourceType"]')"
head -c 600 "$(referral transaction xml "E2E-$RUN-broken-xml")" >"$WORK/broken.xml"
submit referrer-a transaction xml "$WORK/broken.xml"
expect_status 400 "broken XML refused"
call referrer-a POST /fhir/ServiceRequest -H 'Content-Type: application/fhir+json' --data-binary '{"resourceType":"ServiceRequest","status":"active","intent":"order","bogus":1}'
expect_status 400 "unknown element refused"
check "nothing stored by invalid referrals" "$BEFORE" "$(totals)"
for v in urgent urgent-tx broken broken-xml; do
  check "identifier E2E-...-$v not stored" 0 "$(identifier_total "E2E-$RUN-$v")"
done

# --- 6. practices and certificates --------------------------------------------------------------
echo "== access control"
A_ID=${SRID[rest-create-json]}
call referrer-b GET "/fhir/ServiceRequest/$A_ID"
expect_status 404 "referrer-b reads referrer-a's ServiceRequest"
call referrer-b GET "/fhir/ServiceRequest/$A_ID/_history"
expect_status 404 "referrer-b reads referrer-a's ServiceRequest history"
call referrer-b GET "/fhir/Task?focus=ServiceRequest/$A_ID"
check "referrer-b finds no Task of referrer-a" 0 "$(jget 'd["total"]')"
check "referrer-b finds no referral of referrer-a by identifier" 0 "$(identifier_total "${IDENT[rest-create-json]}" referrer-b)"
BEFORE=$(totals)
submit referrer-b rest-create json "$(referral rest-create json "E2E-$RUN-from-b")"
expect_status 403 "referrer-b sends a referral for practice 900001"
submit referrer-b message xml "$(referral message xml "E2E-$RUN-from-b-msg")"
expect_status 403 "referrer-b sends a message for practice 900001"
check "nothing stored by referrer-b's attempts" "$BEFORE" "$(totals)"
check "referrer-b's identifier not stored" 0 "$(identifier_total "E2E-$RUN-from-b")"
call referrer-b GET /clinic/referrals
expect_status 403 "referrer-b on the clinic API"
call referrer-a GET /clinic/referrals
expect_status 403 "referrer-a on the clinic API"
call none GET /fhir/metadata
if [[ $CURL_RC != 0 && $STATUS == 000 ]]; then
  pass "no client certificate: TLS handshake refused (curl exit $CURL_RC: $(head -c 120 "$WORK/curl.err" | tr '\n' ' '))"
else
  fail "no client certificate: expected the handshake to fail, got HTTP $STATUS (curl exit $CURL_RC)"
fi
call none GET /healthz
check_true "no client certificate: /healthz refused too" "$([[ $CURL_RC != 0 && $STATUS == 000 ]] && echo True || echo "HTTP $STATUS")"

# --- 7. content negotiation and limits ---------------------------------------------------------
echo "== negotiation and limits"
call referrer-a POST /fhir/ServiceRequest -H 'Content-Type: text/plain' --data-binary "@${FILE[rest-create-json]}"
expect_status 415 "Content-Type text/plain"
call referrer-a POST /fhir -H 'Content-Type: application/pdf' --data-binary "@${FILE[transaction-json]}"
expect_status 415 "Content-Type application/pdf on a transaction"
call referrer-a GET /fhir/metadata -H 'Accept: text/html'
expect_status 406 "Accept: text/html"
call referrer-a GET '/fhir/metadata?_format=text/csv'
expect_status 406 "_format=text/csv"
call referrer-a POST /fhir/ServiceRequest -H 'Content-Type: application/fhir+json' -H 'Accept: image/png' \
  --data-binary "@$(referral rest-create json "E2E-$RUN-png")"
expect_status 406 "POST with Accept: image/png"
check "406 stored nothing" 0 "$(identifier_total "E2E-$RUN-png")"
BEFORE=$(totals)
"$PY" -c 'import sys; sys.stdout.write("{\"resourceType\":\"ServiceRequest\",\"note\":[{\"text\":\"" + "x" * (5 * 1024 * 1024) + "\"}]}")' >"$WORK/big.json"
call referrer-a POST /fhir/ServiceRequest -H 'Content-Type: application/fhir+json' --data-binary "@$WORK/big.json"
expect_status 413 "5 MB body (limit 4 MiB)"
call referrer-a POST /fhir/ServiceRequest -H 'Content-Type: application/fhir+json' -H 'Transfer-Encoding: chunked' \
  --data-binary "@$WORK/big.json"
expect_status 413 "5 MB chunked body (limit 4 MiB)"
check "nothing stored by the large bodies" "$BEFORE" "$(totals)"
call referrer-a GET /healthz
expect_status 200 "the gateway still answers after the large bodies"

# --- 8. the clinic's transitions -----------------------------------------------------------------
echo "== clinic workflow"
L_ID=${SRID[rest-create-json]}
move() { call clinic POST "/clinic/referrals/$L_ID/transitions" -H 'Content-Type: application/json' --data-binary "$1"; }
call clinic GET '/clinic/referrals?_count=1000'
expect_status 200 "clinic lists the referrals"
check "clinic list has the referral once, received" "1 received" \
  "$(fx get "$RESP_BODY" "' '.join([str(sum(1 for r in d if r['id'] == '$L_ID'))] + [r['status'] for r in d if r['id'] == '$L_ID'])")"
call clinic GET "/clinic/referrals/$L_ID"
expect_status 200 "clinic reads the referral"
check "clinic model identifier" "${IDENT[rest-create-json]}" "$(jget 'd["sourceIdentifier"]["value"]')"
move '{"to": "accepted", "careStartDeadline": "'"$(fx date 60)"'"}'
expect_status 409 "received -> accepted (skips under-assessment)"
check "409 is an OperationOutcome" OperationOutcome "$(jget 'd["resourceType"]')"
check "409 lists the allowed transitions" True "$(jget '"under-assessment" in [e["valueCode"] for e in d["extension"] if e["url"].endswith("/StructureDefinition/allowed-transition")]')"
move '{"to": "under-assessment"}'
expect_status 200 "received -> under-assessment"
check "model status under-assessment" under-assessment "$(jget 'd["status"]')"
move '{"to": "accepted"}'
expect_status 422 "accepted without careStartDeadline"
move '{"to": "accepted", "careStartDeadline": "2000-01-01"}'
expect_status 422 "accepted with a careStartDeadline before receipt"
DEADLINE=$(fx date 60)
move '{"to": "accepted", "careStartDeadline": "'"$DEADLINE"'"}'
expect_status 200 "under-assessment -> accepted (careStartDeadline $DEADLINE)"
check "model status accepted" accepted "$(jget 'd["status"]')"
call referrer-a GET "/fhir/Task?focus=ServiceRequest/$L_ID"
expect_status 200 "referrer reads the Task"
check "Task.status accepted" accepted "$(jget 'd["entry"][0]["resource"]["status"]')"
check "Task.businessStatus accepted" accepted "$(jget 'd["entry"][0]["resource"]["businessStatus"]["coding"][0]["code"]')"
check "Task meta.versionId 3" 3 "$(jget 'd["entry"][0]["resource"]["meta"]["versionId"]')"
check "Task care-start-deadline" "$DEADLINE" \
  "$(jget '[e["valueDate"] for e in d["entry"][0]["resource"]["extension"] if e["url"].endswith("/care-start-deadline")][0]')"
TASK_ID=$(jget 'd["entry"][0]["resource"]["id"]')
call referrer-a GET "/fhir/Task/$TASK_ID/_history"
expect_status 200 "Task history"
check "Task history has 3 entries" 3/3 "$(jget 'str(d["total"]) + "/" + str(len(d["entry"]))')"
check "Task history: versions" '["3", "2", "1"]' "$(jget 'sorted([e["resource"]["meta"]["versionId"] for e in d["entry"]], reverse=True)')"
call referrer-a GET "/fhir/Task/$TASK_ID/_history/1"
check "Task version 1 was received" received "$(jget 'd["businessStatus"]["coding"][0]["code"]')"
call referrer-a GET "/fhir/Task/$TASK_ID/_history/2"
check "Task version 2 was under-assessment" under-assessment "$(jget 'd["businessStatus"]["coding"][0]["code"]')"
move '{"to": "completed"}'
expect_status 409 "accepted -> completed (illegal)"
move '{"to": "received"}'
expect_status 409 "accepted -> received (illegal)"
call referrer-a GET "/fhir/Task/$TASK_ID"
check "refused transitions left the Task at version 3" 3 "$(jget 'd["meta"]["versionId"]')"
call clinic POST "/clinic/referrals/$L_ID/transitions" -H 'Content-Type: application/json' --data-binary '{"to": '
expect_status 400 "transition with broken JSON"
call clinic POST /clinic/referrals/no-such-referral/transitions -H 'Content-Type: application/json' --data-binary '{"to": "cancelled"}'
expect_status 404 "transition of an unknown referral"

# --- 9. revocation with If-Match -----------------------------------------------------------------
echo "== revocation"
R_ID=${SRID[transaction-json]}
call referrer-a GET "/fhir/ServiceRequest/$R_ID"
expect_status 200 "read the ServiceRequest to revoke"
check "its ETag" 'W/"1"' "$(header ETag)"
fx edit "$RESP_BODY" "$WORK/revoked.json" 'd["status"] = "revoked"' >/dev/null
revoke() { call "$1" PUT "/fhir/ServiceRequest/$R_ID" -H 'Content-Type: application/fhir+json' "${@:2}" --data-binary "@$WORK/revoked.json"; }
revoke referrer-a -H 'If-Match: W/"7"'
expect_status 412 "revoke with a stale If-Match"
call referrer-a GET "/fhir/Task?focus=ServiceRequest/$R_ID"
check "Task still received after 412" received "$(jget 'd["entry"][0]["resource"]["status"]')"
revoke referrer-b -H 'If-Match: W/"1"'
expect_status 404 "referrer-b revokes referrer-a's referral"
revoke referrer-a -H 'If-Match: W/"1"'
expect_status 200 "revoke with the current If-Match"
check "revoked ServiceRequest status" revoked "$(jget 'd["status"]')"
check "revoked ServiceRequest ETag" 'W/"2"' "$(header ETag)"
call referrer-a GET "/fhir/Task?focus=ServiceRequest/$R_ID"
check "Task cancelled" cancelled "$(jget 'd["entry"][0]["resource"]["status"]')"
check "Task businessStatus cancelled" cancelled "$(jget 'd["entry"][0]["resource"]["businessStatus"]["coding"][0]["code"]')"
check "Task statusReason revoked-by-referrer" revoked-by-referrer "$(jget 'd["entry"][0]["resource"]["statusReason"]["coding"][0]["code"]')"
call referrer-a GET "/fhir/ServiceRequest/$R_ID/_history"
check "ServiceRequest history has 2 versions" 2 "$(jget 'd["total"]')"
revoke referrer-a -H 'If-Match: W/"2"'
expect_status 409 "revoke a cancelled referral"
call clinic GET "/clinic/referrals/$R_ID"
check "clinic sees the referral cancelled" cancelled "$(jget 'd["status"]')"

# --- shutdown --------------------------------------------------------------------------------------
echo "== shutdown"
stop_server
check "the gateway stops on SIGTERM with exit status 0" 0 "$SERVER_RC"

ELAPSED=$(($(date +%s) - STARTED))
echo
echo "curl end-to-end: $PASSES passed, $FAILS failed in ${ELAPSED} s"
gw_finish
