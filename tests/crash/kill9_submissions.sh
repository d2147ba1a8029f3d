#!/usr/bin/env bash
# Crash test of referral submission: the gateway is killed with SIGKILL while referrals are
# being submitted, restarted on the same data folder, and nothing acknowledged may be lost
# or stored twice.
#
#   tests/crash/kill9_submissions.sh BUILD_DIR [--rounds N] [--clients C]
#
# Uses BUILD_DIR/gateway/fhir-gateway with the development configuration
# (gateway/config/development.json), fresh development certificates
# (certs/make-dev-certs.sh) and one data folder for every round, all in a temporary folder
# that is removed on exit (the gateway is stopped on exit too). Each round (default 10):
#   - starts the gateway on a free loopback port and checks it is ready (GET /readyz within
#     a time limit: SQLite WAL recovery after the previous kill) and that the ServiceRequest
#     total, the Task total and the clinic's list agree;
#   - runs C (default 4) concurrent submitters as referrer-a: curl loops, each with its own
#     identifiers (REF-CRASH-<run>-r<round>-c<client>-<n>), rotating the three transport
#     forms (REST create, transaction, $process-message), mixed with resubmissions of
#     identifiers already acknowledged (also in another transport form) and retries of
#     identifiers whose submission got no answer;
#   - after a random 0.5-2 s kills the gateway with SIGKILL while requests are in flight,
#     and waits for the submitters to stop.
# Then it restarts the gateway once more and checks, with one keep-alive client per
# certificate (python3):
#   - every identifier that got a 2xx (201 or 200; also when the body was cut off) is found
#     exactly once (GET /fhir/ServiceRequest?identifier=system|value: total 1, the id the
#     answers named), with exactly one Task (GET /fhir/Task?focus=ServiceRequest/{id}),
#     status and businessStatus received;
#   - every resubmission of an acknowledged identifier was answered 200 with X-Duplicate-Of
#     naming the same ServiceRequest; first submissions 201 (REST) or 200 (bundles) without
#     it; no answer other than 2xx or none at all;
#   - identifiers that never got an answer are stored 0 or 1 times, never 2;
#   - the clinic's list (GET /clinic/referrals) has no identifier twice, holds only this
#     run's identifiers, and its length equals the ServiceRequest and Task totals;
#   - the gateway then stops on SIGTERM with exit status 0.
# Prints PASS/FAIL per check and a summary (rounds, submissions, acknowledged, verified);
# exit status 0 when all pass, 1 otherwise, 77 (skipped) when curl or openssl is missing.
#
# Environment:
#   HOA_TEST_CERTS_DIR  use certificates made beforehand (ca.crt, server.*, referrer-a.*,
#                       clinic.*) instead of running certs/make-dev-certs.sh
#   HOA_CRASH_KEEP=1    keep the temporary folder (gateway logs, data, answers) and print its path
#   HOA_CRASH_SEED=N    seed for the random kill delays and submission mix (printed; default random)
#   HOA_CRASH_READY_TIMEOUT  seconds the gateway may take to become ready (default 120)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
source "$SRC/tests/lib/gateway_test_lib.sh"

ROUNDS=10
CLIENTS=4
gw_parse_args "BUILD_DIR [--rounds N] [--clients C]" --rounds=ROUNDS --clients=CLIENTS -- "$@"
gw_set_paths
CONFIG=$DEV_CONFIG
READY_TIMEOUT=${HOA_CRASH_READY_TIMEOUT:-120}

gw_require_tools "the kill -9 submission test"
gw_require_config "$CONFIG"
gw_require_examples referral-rest-create.json referral-transaction.json referral-message.json

SEED=${HOA_CRASH_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$SEED
STARTED=$(date +%s)
gw_make_work hoa-crash-sub
DATA=$WORK/data
RESULTS=$WORK/results   # one log per client: IDENT FORM KIND STATUS CURL_RC ROUND ANSWER-FILE-PREFIX
ANSWERS=$WORK/answers
STOP=$WORK/stop
SERVER_PID=
SUBMITTER_PIDS=()
PORT=
LOG=
VERIFIED=  # set once the checks have run: failures are then reported by them, not by the log

kill_submitters() {
  local p
  for p in "${SUBMITTER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${SUBMITTER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  SUBMITTER_PIDS=()
}

# The exit trap (gw_cleanup) stops the submitters first.
cleanup_before_server() {
  touch "$STOP" 2>/dev/null || true
  kill_submitters || true
}
GW_KEEP_VAR=HOA_CRASH_KEEP
gw_install_traps

# --- python3: a keep-alive HTTPS client and the final verification --------------------------
gw_write_python_lib
cat >"$WORK/crash.py" <<'PY'
import glob, http.client, json, os, ssl, sys, urllib.parse
import xml.etree.ElementTree as ET
from gateway_answers import srid_json

SYS = "https://ehr.example.no/fhir/NamingSystem/referral-id"


class Client:
    """One keep-alive HTTPS connection with a client certificate."""

    def __init__(self, port, certs, who):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(certs, who + ".crt"), os.path.join(certs, who + ".key"))
        self.conn = None

    def get(self, path):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection("localhost", self.port, context=self.ctx, timeout=120)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                return r.status, json.loads(body) if body else None
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise


def srid(path):
    """The ServiceRequest id in a submission's answer (JSON, any transport form); '' if none."""
    try:
        d = json.load(open(path, "rb"))
    except Exception:
        return ""
    return srid_json(d)


def header(path, name):
    try:
        lines = open(path, "rb").read().decode("latin-1").splitlines()
    except OSError:
        return ""
    value = ""
    for line in lines:
        if line.lower().startswith(name.lower() + ":"):
            value = line.split(":", 1)[1].strip()
    return value


class Report:
    def __init__(self):
        self.passes = self.fails = 0

    def ok(self, text):
        print("PASS: " + text)
        self.passes += 1

    def bad(self, text, examples=()):
        examples = list(examples)
        print("FAIL: " + text)
        for e in examples[:15]:
            print("      | " + e)
        if len(examples) > 15:
            print("      | ... and %d more" % (len(examples) - 15))
        self.fails += 1

    def check(self, text, problems):
        if problems:
            self.bad("%s (%d problem(s))" % (text, len(problems)), problems)
        else:
            self.ok(text)


def clinic_list(clinic):
    rows, offset = [], 0
    while True:
        st, page = clinic.get("/clinic/referrals?_count=1000&_offset=%d" % offset)
        if st != 200 or not isinstance(page, list):
            raise RuntimeError("GET /clinic/referrals: HTTP %s" % st)
        rows += page
        if len(page) < 1000:
            return rows
        offset += len(page)


def totals(port, certs):
    a, c = Client(port, certs, "referrer-a"), Client(port, certs, "clinic")
    sr = a.get("/fhir/ServiceRequest?_count=1")[1]["total"]
    task = a.get("/fhir/Task?_count=1")[1]["total"]
    return "%s/%s/%s" % (sr, task, len(clinic_list(c)))


def verify(port, certs, results, run):
    rep = Report()
    a, clinic = Client(port, certs, "referrer-a"), Client(port, certs, "clinic")
    recs = []
    for path in sorted(glob.glob(os.path.join(results, "*.log"))):
        for line in open(path):
            f = line.split()
            if len(f) == 7:
                recs.append(dict(ident=f[0], form=f[1], kind=f[2], status=f[3], rc=int(f[4]), round=f[5], ans=f[6]))
    acked, answered_ids, srids = {}, set(), {}
    unexpected, first_wrong, resub_wrong = [], [], []
    for r in recs:
        st = r["status"]
        if st == "000":
            continue
        if not st.startswith("2"):
            unexpected.append("%s (%s, %s, round %s): HTTP %s: %s" % (
                r["ident"], r["form"], r["kind"], r["round"], st, open(r["ans"] + ".body", "rb").read(300)))
            continue
        acked.setdefault(r["ident"], []).append(r)
        complete = r["rc"] == 0
        sid = srid(r["ans"] + ".body") if complete else ""
        if sid:
            srids.setdefault(r["ident"], set()).add(sid)
        dup = header(r["ans"] + ".headers", "X-Duplicate-Of")
        if r["kind"] == "new" and complete:
            want = "201" if r["form"] == "rest-create" else "200"
            if st != want or dup:
                first_wrong.append("%s (%s): HTTP %s, X-Duplicate-Of '%s'" % (r["ident"], r["form"], st, dup))
        if r["kind"] == "resub" and complete:
            if st != "200" or not dup or (sid and dup != "ServiceRequest/" + sid):
                resub_wrong.append("%s (%s): HTTP %s, X-Duplicate-Of '%s', answer names %s" % (
                    r["ident"], r["form"], st, dup, sid))
    # An identifier acknowledged once stays acknowledged: a later resubmission must be a duplicate.
    seen_ack, late_new = set(), []
    for r in recs:
        if r["status"].startswith("2"):
            if r["ident"] in seen_ack and r["rc"] == 0 and not header(r["ans"] + ".headers", "X-Duplicate-Of"):
                late_new.append("%s (%s, round %s): HTTP %s without X-Duplicate-Of after an earlier 2xx" % (
                    r["ident"], r["form"], r["round"], r["status"]))
            seen_ack.add(r["ident"])
    all_ids = sorted({r["ident"] for r in recs})
    unanswered = [i for i in all_ids if i not in acked]
    rep.check("every answer was 2xx or none (%d submissions)" % len(recs), unexpected)
    rep.check("first submissions: 201 (REST create) or 200 (bundles), no X-Duplicate-Of", first_wrong)
    rep.check("resubmissions of acknowledged identifiers: 200 with X-Duplicate-Of naming the same ServiceRequest",
              resub_wrong + late_new)
    rep.check("every identifier's 2xx answers name one ServiceRequest",
              ["%s: %s" % (i, sorted(s)) for i, s in srids.items() if len(s) > 1])

    def stored(ident):
        st, b = a.get("/fhir/ServiceRequest?identifier=" + urllib.parse.quote(SYS + "|" + ident, safe=""))
        if st != 200:
            raise RuntimeError("identifier search for %s: HTTP %s" % (ident, st))
        return b["total"], [e["resource"]["id"] for e in b.get("entry", [])]

    def task_problem(ident, sid):
        st, b = a.get("/fhir/Task?focus=" + urllib.parse.quote("ServiceRequest/" + sid, safe="/"))
        if st != 200:
            return "%s: Task search HTTP %s" % (ident, st)
        tasks = [e["resource"] for e in b.get("entry", [])]
        if b["total"] != 1 or len(tasks) != 1:
            return "%s: %s Tasks for ServiceRequest/%s" % (ident, b["total"], sid)
        t = tasks[0]
        bs = t.get("businessStatus", {}).get("coding", [{}])[0].get("code")
        if t.get("status") != "received" or bs != "received":
            return "%s: Task %s status %s/%s" % (ident, t.get("id"), t.get("status"), bs)
        return ""

    missing, wrong_task = [], []
    for ident in sorted(acked):
        total, ids = stored(ident)
        if total != 1 or len(ids) != 1:
            missing.append("%s (acknowledged %s in round %s): found %d times %s" % (
                ident, ",".join(r["status"] for r in acked[ident]), acked[ident][0]["round"], total, ids))
            continue
        if ident in srids and ids[0] not in srids[ident]:
            missing.append("%s: stored as ServiceRequest/%s, the answers named %s" % (ident, ids[0], sorted(srids[ident])))
        p = task_problem(ident, ids[0])
        if p:
            wrong_task.append(p)
    rep.check("every acknowledged identifier (%d) found exactly once, with the id its answer named" % len(acked), missing)
    rep.check("each has exactly one Task, status received", wrong_task)
    twice, stored_unanswered = [], 0
    for ident in unanswered:
        total, ids = stored(ident)
        if total > 1:
            twice.append("%s: found %d times %s" % (ident, total, ids))
        elif total == 1:
            stored_unanswered += 1
            p = task_problem(ident, ids[0])
            if p:
                twice.append(p)
    rep.check("identifiers without an answer (%d; %d of them stored anyway) are stored 0 or 1 times, "
              "with one received Task" % (len(unanswered), stored_unanswered), twice)
    rows = clinic_list(clinic)
    keys = {}
    for row in rows:
        si = row.get("sourceIdentifier", {})
        keys.setdefault((si.get("system"), si.get("value")), []).append(row.get("id"))
    rep.check("clinic list: no identifier twice (%d referrals)" % len(rows),
              ["%s|%s: %s" % (k[0], k[1], v) for k, v in keys.items() if len(v) > 1])
    ours = set(all_ids)
    rep.check("clinic list: only this run's identifiers, every acknowledged one included",
              ["unknown %s|%s" % k for k in keys if k[0] != SYS or k[1] not in ours] +
              ["missing %s" % i for i in acked if (SYS, i) not in keys])
    t = totals(port, certs)
    n = len(acked) + stored_unanswered
    want = "%d/%d/%d" % (n, n, n)
    rep.check("ServiceRequest total / Task total / clinic list = acknowledged + stored unanswered (%s)" % t,
              [] if t == want else ["expected %s, got %s" % (want, t)])
    print("SUMMARY %d %d %d %d %d %d %d" % (len(recs), len(all_ids), len(acked), stored_unanswered,
                                            len(unanswered) - stored_unanswered,
                                            sum(1 for r in recs if r["kind"] == "resub"),
                                            sum(1 for r in recs if r["status"] == "000")))
    print("CHECKS %d %d" % (rep.passes, rep.fails))


cmd = sys.argv[1]
if cmd == "totals":  # totals PORT CERTS: ServiceRequest total/Task total/clinic list length
    try:
        print(totals(int(sys.argv[2]), sys.argv[3]))
    except Exception as e:
        print("<error: %s: %s>" % (type(e).__name__, e))
elif cmd == "verify":  # verify PORT CERTS RESULTS-DIR RUN
    try:
        verify(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("FAIL: the verification stopped: %s: %s" % (type(e).__name__, e))
        print("CHECKS 0 1")
else:
    raise SystemExit("unknown command " + cmd)
PY
gw_find_python
fx() { "$PY" "$WORK/crash.py" "$@"; }

# --- certificates ------------------------------------------------------------------------------
gw_setup_certs ca.crt server.crt server.key referrer-a.crt referrer-a.key clinic.crt clinic.key

# The gateway: gw_start_server NAME (log $WORK/gateway-NAME.log; ready when GET /readyz
# answers 200 within READY_TIMEOUT seconds).

# submitter CLIENT ROUND: submits until $STOP exists; appends to $RESULTS/cCLIENT.log.
submitter() {
  local c=$1 round=$2
  local out=$RESULTS/c$c.log n=0 i=0
  local -a acked=() unanswered=()
  local forms=(rest-create transaction message)
  # What earlier rounds of this client got: acknowledged and unanswered identifiers.
  if [[ -f $out ]]; then
    mapfile -t acked < <(awk '$4 ~ /^2/ {print $1}' "$out" | sort -u)
    mapfile -t unanswered < <(awk '$4 ~ /^2/ {a[$1] = 1} $4 == "000" {u[$1] = 1} END {for (k in u) if (!(k in a)) print k}' "$out")
  fi
  trap 'exit 0' TERM
  while [[ ! -e $STOP ]]; do
    local ident kind form path status rc ans
    i=$((i + 1))
    form=${forms[$(((c + i) % 3))]}
    if ((i % 4 == 0 && ${#acked[@]} > 0)); then
      kind=resub
      ident=${acked[$((RANDOM % ${#acked[@]}))]}
    elif ((i % 7 == 0 && ${#unanswered[@]} > 0)); then
      kind=retry
      ident=${unanswered[0]}
      unanswered=("${unanswered[@]:1}")
    else
      kind=new
      n=$((n + 1))
      ident=REF-CRASH-$RUN-r$round-c$c-$n
    fi
    case $form in
      rest-create) path=/fhir/ServiceRequest ;;
      transaction) path=/fhir ;;
      message) path='/fhir/$process-message' ;;
    esac
    ans=$ANSWERS/$ident.$round.$c.$i
    rc=0
    status=$(sed "s/REF-2026-000123/$ident/g" "$EXAMPLES/referral-$form.json" |
      gw_curl referrer-a "$PORT" "$path" --max-time 60 --connect-timeout 5 \
        -X POST -H 'Content-Type: application/fhir+json' --data-binary @- \
        -o "$ans.body" -D "$ans.headers" -w '%{http_code}' 2>"$ans.err") || rc=$?
    [[ -n $status ]] || status=000
    echo "$ident $form $kind $status $rc $round $ans" >>"$out"
    if [[ $status == 2* ]]; then
      [[ $kind == resub ]] || acked+=("$ident")
    elif [[ $status == 000 && $kind != resub ]]; then
      unanswered+=("$ident")
    fi
  done
}

mkdir -p "$DATA" "$RESULTS" "$ANSWERS"
RUN=$(date +%s)-$$
echo "gateway: $BIN"
echo "work folder: $WORK"
echo "rounds: $ROUNDS, clients: $CLIENTS, seed: $SEED (HOA_CRASH_SEED)"

READY_TIMES=()
KILLED=0
for ((round = 1; round <= ROUNDS; round++)); do
  rm -f "$STOP"
  gw_start_ready "round$round" "round $round" --with-pid
  if ((round > 1)); then
    t=$(fx totals "$PORT" "$CERTS")
    if [[ $t =~ ^([0-9]+)/([0-9]+)/([0-9]+)$ && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" && ${BASH_REMATCH[1]} == "${BASH_REMATCH[3]}" ]]; then
      pass "round $round: after the kill, ServiceRequest total = Task total = clinic list ($t)"
    else
      fail "round $round: after the kill, ServiceRequest total / Task total / clinic list disagree ($t)"
    fi
  fi
  for ((c = 1; c <= CLIENTS; c++)); do
    submitter "$c" "$round" &
    SUBMITTER_PIDS+=($!)
  done
  delay_ms=$((500 + RANDOM % 1501))
  gw_sleep_ms "$delay_ms"
  before=$(cat "$RESULTS"/*.log 2>/dev/null | wc -l)
  gw_kill9_server "$round" touch "$STOP"  # the submitters stop right after the kill
  KILLED=$((KILLED + 1))
  for p in "${SUBMITTER_PIDS[@]}"; do wait "$p" || true; done
  SUBMITTER_PIDS=()
  after=$(cat "$RESULTS"/*.log 2>/dev/null | wc -l)
  round_acks=$(awk -v r="$round" '$6 == r && $4 ~ /^2/' "$RESULTS"/*.log 2>/dev/null | wc -l)
  echo "   round $round: killed after ${delay_ms} ms; $after submissions so far ($round_acks acknowledged this round, $((after - before)) cut off or refused by the kill)"
done

# --- final verification ----------------------------------------------------------------------
rm -f "$STOP"
gw_start_ready final "final restart"
echo "== verification"
fx verify "$PORT" "$CERTS" "$RESULTS" "$RUN" >"$WORK/verify.out" 2>&1 || true
gw_collect_checks "$WORK/verify.out" verification
SUMMARY=$(grep '^SUMMARY ' "$WORK/verify.out" || echo "SUMMARY 0 0 0 0 0 0 0")
read -r _ n_sub n_ids n_acked n_stored_unanswered n_absent n_resub n_cut <<<"$SUMMARY"

stop_server
if [[ $SERVER_RC == 0 ]]; then pass "the gateway stops on SIGTERM with exit status 0"; else fail "the gateway's exit status on SIGTERM: $SERVER_RC"; fi
VERIFIED=1
max_ready=$(gw_max_ready_ms)
ELAPSED=$(($(date +%s) - STARTED))
echo
echo "kill -9 submissions: $ROUNDS rounds ($KILLED kills), $CLIENTS clients, seed $SEED"
echo "  submissions: $n_sub ($n_resub resubmissions of acknowledged identifiers; $n_cut got no answer), identifiers: $n_ids"
echo "  identifiers acknowledged (2xx) and verified stored once: $n_acked; never answered: $((n_stored_unanswered + n_absent)) ($n_stored_unanswered stored once, $n_absent not stored)"
echo "  slowest restart to ready: ${max_ready} ms"
echo "  checks: $PASSES passed, $FAILS failed in ${ELAPSED} s"
gw_finish
