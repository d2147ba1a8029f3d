#!/usr/bin/env bash
# Crash test of delivery to a referrer's endpoint (the outbox): the gateway is killed with
# SIGKILL at random moments while referrals move through their lifecycle and their Task
# versions are pushed, restarted on the same data folder, and in the end the referrer holds
# every Task once, in its final state, having seen the versions in order.
#
#   tests/crash/kill9_delivery.sh BUILD_DIR [--rounds N] [--referrals R]
#
# Uses BUILD_DIR/gateway/fhir-gateway and BUILD_DIR/tests/hoa-mock-referrer, fresh
# development certificates (certs/make-dev-certs.sh) and one data folder for every round,
# all in a temporary folder that is removed on exit (both programs are stopped on exit).
#   - hoa-mock-referrer runs for the whole test on a free loopback port: HTTPS with the
#     development server certificate, client certificate required, every 5th request
#     answered 503 (--fail-every 5) so retries happen too;
#   - between the gateway and the mock, a TCP relay (python3; TLS passes through) holds every
#     chunk the mock sends for 50 ms: a slow referrer, so that deliveries are in flight long
#     enough for the kills to catch some after the mock has stored them (resends);
#   - the gateway runs with gateway/config/development.json plus a delivery section: an
#     endpoint for practice 900001 (referrer-a) at the relay (CA ca.crt, client certificate
#     clinic.crt), initialBackoffMs 50, maxBackoffMs 500, idlePollMs 50, maxAttempts 100000.
# Each round (default 6) starts the gateway (GET /readyz within a time limit: SQLite WAL
# recovery), runs a driver (python3) that submits R (default 20) referrals as referrer-a
# (identifiers REF-CRASH-DLV-<run>-<n>, the three transport forms in turn) and moves each
# one step at a time, as the clinic, received -> under-assessment -> accepted (care start
# deadline) -> in-progress, records an intake QuestionnaireResponse
# (POST /clinic/referrals/{id}/questionnaire-responses) and completes it; the driver reads
# the current state before every step, so a step whose answer the kill swallowed is not
# repeated; it pauses between steps so that the lifecycle spreads over the rounds. 0.5-2 s
# (random) after the driver's first answer the gateway is killed with SIGKILL. After the last round
# the gateway is restarted, the driver finishes what is left, and once
# GET /clinic/deliveries/counters shows nothing pending or in flight (time limit), it checks:
#   - every restart is ready in time; the driver got no answer other than the expected ones
#     (no 409 from a repeated step); the gateway stops on SIGTERM with exit status 0;
#   - every referral is completed at the gateway with Task version 5 and one
#     QuestionnaireResponse; the outbox holds one delivered event per Task version and
#     QuestionnaireResponse, none failed (dead-lettered), none pending;
#   - the mock's GET /_dump: for every referral exactly one Task (creates 1), status equal
#     to the gateway's Task (businessStatus), the last lastModified equal to the gateway
#     Task's, lastModified non-decreasing in arrival order (no version overtook an earlier
#     one) with as many distinct values as the Task has versions (none lost); exactly one
#     QuestionnaireResponse per referral (creates 1); nothing else.
# Prints PASS/FAIL per check and a summary (rounds, referrals, events, attempts, resends);
# exit status 0 when all pass, 1 otherwise, 77 (skipped) when curl or openssl is missing.
#
# Environment:
#   HOA_TEST_CERTS_DIR  use certificates made beforehand (ca.crt, server.*, referrer-a.*,
#                       clinic.*) instead of running certs/make-dev-certs.sh
#   HOA_CRASH_KEEP=1    keep the temporary folder (logs, data, configuration) and print its path
#   HOA_CRASH_SEED=N    seed for the random kill delays and the driver's pace (printed; default random)
#   HOA_CRASH_READY_TIMEOUT    seconds the gateway may take to become ready (default 120)
#   HOA_CRASH_DELIVERY_TIMEOUT seconds to wait for the outbox to drain at the end (default 180)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
source "$SRC/tests/lib/gateway_test_lib.sh"

ROUNDS=6
REFERRALS=20
gw_parse_args "BUILD_DIR [--rounds N] [--referrals R]" --rounds=ROUNDS --referrals=REFERRALS -- "$@"
gw_set_paths
MOCK=$BUILD_DIR/tests/hoa-mock-referrer
BASE_CONFIG=$DEV_CONFIG
READY_TIMEOUT=${HOA_CRASH_READY_TIMEOUT:-120}
DELIVERY_TIMEOUT=${HOA_CRASH_DELIVERY_TIMEOUT:-180}

gw_require_tools "the kill -9 delivery test"
[[ -x $MOCK ]] || { echo "FAIL: no mock referrer at $MOCK (build the hoa-mock-referrer target)" >&2; exit 1; }
gw_require_config "$BASE_CONFIG"
gw_require_examples referral-rest-create.json referral-transaction.json referral-message.json questionnaireresponse-intake.json

SEED=${HOA_CRASH_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$SEED
STARTED=$(date +%s)
gw_make_work hoa-crash-dlv
DATA=$WORK/data
CONFIG=$WORK/gateway.json
SERVER_PID=
MOCK_PID=
DRIVER_PID=
PORT=
MOCK_PORT=
LOG=
VERIFIED=  # set once the checks have run: failures are then reported by them, not by the log
MOCK_LOG=$WORK/mock.log
RELAY_PID=
RELAY_PORT=
RELAY_LOG=$WORK/relay.log
RELAY_DELAY_MS=50

# The exit trap (gw_cleanup) stops the driver before the gateway, the relay and the mock after it.
cleanup_before_server() {
  if [[ -n $DRIVER_PID ]]; then kill -TERM "$DRIVER_PID" 2>/dev/null || true; wait "$DRIVER_PID" 2>/dev/null || true; fi
}
cleanup_after_server() {
  gw_stop_pid "$RELAY_PID" || true
  gw_stop_pid "$MOCK_PID" || true
}
GW_KEEP_VAR=HOA_CRASH_KEEP
gw_install_traps

# --- python3: configuration, the lifecycle driver, and the final verification -----------------
cat >"$WORK/crash.py" <<'PY'
import datetime, http.client, json, os, random, re, socket, ssl, sys, threading, time, urllib.parse

SYS = "https://ehr.example.no/fhir/NamingSystem/referral-id"
FORMS = [("rest-create", "/fhir/ServiceRequest"), ("transaction", "/fhir"), ("message", "/fhir/$process-message")]


class Gone(Exception):
    """The gateway stopped answering (killed)."""


class Client:
    """One keep-alive HTTPS connection with a client certificate. GETs are retried on a new
    connection; a POST is never resent (the caller decides from the state what to do)."""

    def __init__(self, port, certs, who):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(certs, who + ".crt"), os.path.join(certs, who + ".key"))
        self.conn = None
        self.used = 0.0

    def call(self, method, path, body=None, ctype=None):
        tries = 3 if method == "GET" else 1
        if method != "GET" and self.conn is not None and time.time() - self.used > 5:
            self.conn.close()  # no POST on a connection the server may be closing for idleness
            self.conn = None
        for attempt in range(tries):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection("localhost", self.port, context=self.ctx, timeout=60)
                headers = {"Content-Type": ctype} if ctype else {}
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                self.used = time.time()
                try:
                    doc = json.loads(data) if data else None
                except ValueError:
                    doc = data[:300]
                return r.status, doc
            except (OSError, http.client.HTTPException) as e:
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == tries - 1:
                    raise Gone("%s %s: %s: %s" % (method, path, type(e).__name__, e))
                time.sleep(0.05)

    def get(self, path):
        return self.call("GET", path)


def q(s):
    return urllib.parse.quote(s, safe="")


def ident(run, n):
    return "REF-CRASH-DLV-%s-%d" % (run, n)


def lookup(a, value):
    st, b = a.get("/fhir/ServiceRequest?identifier=" + q(SYS + "|" + value))
    if st != 200:
        raise RuntimeError("identifier search %s: HTTP %s" % (value, st))
    return [e["resource"]["id"] for e in b.get("entry", [])]


def qr_ids(a, sid):
    st, b = a.get("/fhir/QuestionnaireResponse?based-on=" + q("ServiceRequest/" + sid))
    if st != 200:
        raise RuntimeError("QuestionnaireResponse search for %s: HTTP %s" % (sid, st))
    return [e["resource"] for e in b.get("entry", [])]


def drive(port, certs, examples, run, count, pace_ms, seed):
    """Moves every referral one step at a time, round robin, until all are completed.
    Exit 0: all completed; 3: the gateway went away; 1: an unexpected answer."""
    rnd = random.Random(seed)
    a, clinic = Client(port, certs, "referrer-a"), Client(port, certs, "clinic")
    templates = {f: open(os.path.join(examples, "referral-%s.json" % f), encoding="utf-8").read() for f, _ in FORMS}
    qr_body = open(os.path.join(examples, "questionnaireresponse-intake.json"), "rb").read()
    deadline = (datetime.date.today() + datetime.timedelta(days=60)).isoformat()
    ids, done, steps, problems = {}, set(), 0, []

    def expect(what, st, want, body):
        if st not in want:
            problems.append("%s: HTTP %s (expected %s): %s" % (what, st, "/".join(map(str, want)), json.dumps(body)[:400]))

    order = list(range(1, count + 1))
    try:
        while len(done) < count and not problems:
            for n in order:
                if n in done or problems:
                    continue
                value = ident(run, n)
                changed = False
                if n not in ids:
                    found = lookup(a, value)
                    if not steps:
                        print("STARTED", flush=True)  # the kill timer starts now
                    if len(found) > 1:
                        problems.append("%s stored %d times: %s" % (value, len(found), found))
                        break
                    if found:
                        ids[n] = found[0]
                    else:
                        form, path = FORMS[n % 3]
                        changed = True
                        st, b = a.call("POST", path, templates[form].replace("REF-2026-000123", value).encode(),
                                       "application/fhir+json")
                        expect("submit %s (%s)" % (value, form), st, (200, 201), b)
                        found = lookup(a, value)
                        if len(found) != 1:
                            problems.append("%s: found %d times after a %s answer" % (value, len(found), st))
                            break
                        ids[n] = found[0]
                else:
                    sid = ids[n]
                    st, row = clinic.get("/clinic/referrals/" + sid)
                    expect("read referral %s" % sid, st, (200,), row)
                    if st != 200:
                        break
                    status = row.get("status")
                    move = None
                    if status == "received":
                        move = {"to": "under-assessment"}
                    elif status == "under-assessment":
                        move = {"to": "accepted", "careStartDeadline": deadline}
                    elif status == "accepted":
                        move = {"to": "in-progress", "offering": "coping-group"}
                    elif status == "in-progress":
                        if not qr_ids(a, sid):
                            changed = True
                            st, b = clinic.call("POST", "/clinic/referrals/%s/questionnaire-responses" % sid, qr_body,
                                                "application/fhir+json")
                            expect("questionnaire response for %s" % sid, st, (201,), b)
                        else:
                            move = {"to": "completed"}
                    elif status == "completed":
                        done.add(n)
                    else:
                        problems.append("referral %s in unexpected state %s" % (sid, status))
                    if move:
                        changed = True
                        st, b = clinic.call("POST", "/clinic/referrals/%s/transitions" % sid, json.dumps(move).encode(),
                                            "application/json")
                        expect("%s -> %s for %s" % (status, move["to"], sid), st, (200,), b)
                steps += 1
                if pace_ms and changed:  # a pause after each change, none after reading
                    time.sleep(rnd.uniform(0, pace_ms) / 1000.0)
    except Gone as e:
        print("GONE after %d steps, %d of %d seen completed (%s)" % (steps, len(done), count, e))
        for p in problems:
            print("FAIL: driver: " + p)
        return 1 if problems else 3
    for p in problems:
        print("FAIL: driver: " + p)
    print("DRIVER %d steps, %d of %d completed" % (steps, len(done), count))
    return 1 if problems else 0


def counters(port, certs):
    st, b = Client(port, certs, "clinic").get("/clinic/deliveries/counters")
    if st != 200:
        raise RuntimeError("counters: HTTP %s" % st)
    return b


class Report:
    def __init__(self):
        self.passes = self.fails = 0

    def check(self, text, problems):
        if problems:
            print("FAIL: %s (%d problem(s))" % (text, len(problems)))
            for p in problems[:15]:
                print("      | " + p)
            if len(problems) > 15:
                print("      | ... and %d more" % (len(problems) - 15))
            self.fails += 1
        else:
            print("PASS: " + text)
            self.passes += 1


def verify(port, certs, run, count, dump_path):
    rep = Report()
    a, clinic = Client(port, certs, "referrer-a"), Client(port, certs, "clinic")
    dump = json.load(open(dump_path))
    referrals, gw_problems = {}, []
    for n in range(1, count + 1):
        value = ident(run, n)
        found = lookup(a, value)
        if len(found) != 1:
            gw_problems.append("%s found %d times" % (value, len(found)))
            continue
        sid = found[0]
        st, b = a.get("/fhir/Task?focus=" + q("ServiceRequest/" + sid))
        tasks = [e["resource"] for e in (b or {}).get("entry", [])]
        if st != 200 or len(tasks) != 1:
            gw_problems.append("%s: %d Tasks (HTTP %s)" % (sid, len(tasks), st))
            continue
        task = tasks[0]
        qrs = qr_ids(a, sid)
        referrals[sid] = dict(value=value, task=task, qrs=qrs)
        bs = task.get("businessStatus", {}).get("coding", [{}])[0].get("code")
        if task.get("status") != "completed" or bs != "completed" or task.get("meta", {}).get("versionId") != "5":
            gw_problems.append("%s: Task %s status %s/%s version %s" % (
                sid, task.get("id"), task.get("status"), bs, task.get("meta", {}).get("versionId")))
        if len(qrs) != 1:
            gw_problems.append("%s: %d QuestionnaireResponses" % (sid, len(qrs)))
    rep.check("gateway: %d referrals, each once, completed (Task version 5) with one QuestionnaireResponse" % count,
              gw_problems)

    # The outbox: one delivered event per Task version and QuestionnaireResponse.
    events, offset = [], 0
    while True:
        st, page = clinic.get("/clinic/deliveries?_count=1000&_offset=%d" % offset)
        if st != 200:
            raise RuntimeError("GET /clinic/deliveries: HTTP %s" % st)
        events += page
        if len(page) < 1000:
            break
        offset += len(page)
    ob_problems = []
    by_resource = {}
    for e in events:
        by_resource.setdefault(e["resource"], []).append(e)
        if e["state"] != "delivered":
            ob_problems.append("event %s (%s, referral %s): %s after %s attempt(s), last %s %s" % (
                e["id"], e["resource"], e["referral"], e["state"], e["attempts"], e["lastStatus"], e["lastError"][:150]))
    expected = set()
    for sid, r in referrals.items():
        for v in range(1, int(r["task"]["meta"]["versionId"]) + 1):
            expected.add("Task/%s/_history/%d" % (r["task"]["id"], v))
        for qr in r["qrs"]:
            expected.add("QuestionnaireResponse/%s/_history/%s" % (qr["id"], qr["meta"]["versionId"]))
    ob_problems += ["no event for %s" % x for x in sorted(expected - set(by_resource))]
    ob_problems += ["unexpected event for %s" % x for x in sorted(set(by_resource) - expected)]
    ob_problems += ["%d events for %s" % (len(v), k) for k, v in by_resource.items() if len(v) > 1]
    c = counters(port, certs)
    states = c.get("states", {})
    if states.get("failed", 0) or states.get("pending", 0) or states.get("in-flight", 0):
        ob_problems.append("counters: %s" % json.dumps(states))
    rep.check("outbox: %d events, one per Task version and QuestionnaireResponse, all delivered, none failed "
              "(counters %s)" % (len(events), json.dumps(states)), ob_problems)

    # The referrer's side.
    task_keys = {k: v for k, v in dump.items() if k.startswith("Task|")}
    qr_keys = {k: v for k, v in dump.items() if k.startswith("QuestionnaireResponse|")}
    other = [k for k in dump if k not in task_keys and k not in qr_keys]
    held, order, lost, qr_problems = [], [], [], []
    resends = 0
    for sid, r in sorted(referrals.items()):
        keys = [k for k in task_keys if k.rsplit("|", 1)[-1] == sid]
        if len(keys) != 1:
            held.append("referral %s (%s): %d Task entries at the referrer %s" % (sid, r["value"], len(keys), keys))
            continue
        s = task_keys[keys[0]]
        task = r["task"]
        bs = task.get("businessStatus", {}).get("coding", [{}])[0].get("code")
        if s["creates"] != 1 or s["status"] != bs:
            held.append("%s: creates %s, status %s at the referrer, %s at the gateway" % (keys[0], s["creates"], s["status"], bs))
        lm = s["lastModified"]
        if any(lm[i] < lm[i - 1] for i in range(1, len(lm))):
            order.append("%s: lastModified out of order: %s" % (keys[0], lm))
        distinct = sorted(set(lm))
        if len(distinct) != int(task["meta"]["versionId"]) or (lm and lm[-1] != task.get("lastModified")):
            lost.append("%s: %d distinct versions %s (last %s), the gateway's Task is version %s (lastModified %s)" % (
                keys[0], len(distinct), distinct, lm[-1] if lm else None, task["meta"]["versionId"], task.get("lastModified")))
        resends += len(lm) - len(distinct)
        for qr in r["qrs"]:
            qk = [k for k in qr_keys if k.rsplit("|", 1)[-1] == qr["id"]]
            if len(qk) != 1 or qr_keys[qk[0]]["creates"] != 1:
                qr_problems.append("QuestionnaireResponse/%s of %s: %s at the referrer" % (
                    qr["id"], sid, [(k, qr_keys[k]["creates"]) for k in qk]))
            else:
                resends += qr_keys[qk[0]]["creates"] + qr_keys[qk[0]]["updates"] - 1
    n_qr = sum(len(r["qrs"]) for r in referrals.values())
    if len(task_keys) != len(referrals):
        held.append("the referrer holds %d Tasks for %d referrals" % (len(task_keys), len(referrals)))
    if len(qr_keys) != n_qr or other:
        qr_problems.append("the referrer holds %d QuestionnaireResponses for %d, and %s" % (len(qr_keys), n_qr, other))
    rep.check("referrer: every Task held exactly once (creates 1), final status as at the gateway", held)
    rep.check("referrer: Task versions arrived in order (lastModified non-decreasing)", order)
    rep.check("referrer: every Task version arrived (distinct lastModified = versions, the last = the gateway's)", lost)
    rep.check("referrer: every QuestionnaireResponse held exactly once", qr_problems)
    attempts = sum(e["attempts"] for e in events)
    print("SUMMARY %d %d %d %d" % (len(referrals), len(events), attempts, resends))
    print("CHECKS %d %d" % (rep.passes, rep.fails))


def relay(port, upstream, delay_ms):
    """A TCP relay to the mock that holds every chunk the mock sends for delay_ms: a slow
    referrer, so that deliveries are in flight long enough for the kills to catch some
    (after the mock has stored the update, so the resends are absorbed). TLS passes through."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    print("relay listening", flush=True)

    def pump(src, dst, delay):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()

    while True:
        c, _ = srv.accept()
        try:
            u = socket.create_connection(("127.0.0.1", upstream))
        except OSError:
            c.close()
            continue
        threading.Thread(target=pump, args=(c, u, 0), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, delay_ms / 1000.0), daemon=True).start()


cmd = sys.argv[1]
if cmd == "relay":  # relay PORT UPSTREAM_PORT DELAY_MS
    relay(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "config":  # config BASE OUT MOCK_URL CERTS
    c = json.load(open(sys.argv[2]))
    certs = sys.argv[5]
    c["delivery"] = {
        "enabled": True, "maxAttempts": 100000, "maxAgeHours": 24, "initialBackoffMs": 50, "maxBackoffMs": 500,
        "timeoutSeconds": 5, "idlePollMs": 50, "pushQuestionnaires": ["intake", "end-of-treatment"],
        "endpoints": [{"herId": "900001", "baseUrl": sys.argv[4], "caFile": os.path.join(certs, "ca.crt"),
                       "certificateFile": os.path.join(certs, "clinic.crt"),
                       "privateKeyFile": os.path.join(certs, "clinic.key")}]}
    json.dump(c, open(sys.argv[3], "w"), indent=2)
elif cmd == "drive":  # drive PORT CERTS EXAMPLES RUN COUNT PACE_MS SEED
    try:
        sys.exit(drive(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7]),
                       int(sys.argv[8])))
    except SystemExit:
        raise
    except Exception as e:
        print("FAIL: driver stopped: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
elif cmd == "pending":  # pending PORT CERTS: "pending in-flight failed total" of the outbox
    try:
        s = counters(int(sys.argv[2]), sys.argv[3]).get("states", {})
        print(s.get("pending", 0), s.get("in-flight", 0), s.get("failed", 0), sum(s.values()))
    except Exception as e:
        print("? ? ? ?")
elif cmd == "verify":  # verify PORT CERTS RUN COUNT DUMP
    try:
        verify(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
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
gw_setup_certs --absolute ca.crt server.crt server.key referrer-a.crt referrer-a.key clinic.crt clinic.key

# curl_as WHO PORT PATH: the answer's body on stdout; fails without a 2xx.
curl_as() { gw_curl "$1" "$2" "$3" -f --max-time 30 --connect-timeout 5; }

# --- the mock referrer, the relay, the gateway ---------------------------------------------------
# Each ready once its log says so and GET /_dump (as clinic) through its port succeeds
# (gw_start_helper); the gateway: gw_start_server NAME (log $WORK/gateway-NAME.log, ready when
# GET /readyz answers 200 within READY_TIMEOUT seconds).
start_mock() {
  gw_start_helper MOCK_PID MOCK_PORT "$MOCK_LOG" "listening on" "$MOCK" --port PORT --certs "$CERTS" --fail-every 5
}

# The relay (python3) between the gateway and the mock: every answer held RELAY_DELAY_MS.
start_relay() {
  gw_start_helper RELAY_PID RELAY_PORT "$RELAY_LOG" "relay listening" \
    "$PY" "$WORK/crash.py" relay PORT "$MOCK_PORT" "$RELAY_DELAY_MS"
}
# helper_failed NAME LOGFILE TEXT: shows LOGFILE (titled "NAME log"), FAIL TEXT and exit 1.
helper_failed() {
  echo "--- $1 log ---" >&2
  cat "$2" >&2 || true
  fail "$3"
  exit 1
}

# recovered_in LOG: how many in-flight events the gateway recovered at its start
recovered_in() { { grep -o '[0-9]* in-flight event(s) recovered' "$1" || true; } | awk '{s += $1} END {print s + 0}'; }

mkdir -p "$DATA"
RUN=$(date +%s)-$$
echo "gateway: $BIN"
echo "mock referrer: $MOCK"
echo "work folder: $WORK"
echo "rounds: $ROUNDS, referrals: $REFERRALS, seed: $SEED (HOA_CRASH_SEED)"
start_mock || helper_failed mock "$MOCK_LOG" "the mock referrer did not start"
echo "mock referrer listening on https://localhost:$MOCK_PORT/fhir (pid $MOCK_PID, every 5th request 503)"
start_relay || helper_failed relay "$RELAY_LOG" "the relay to the mock referrer did not start"
MOCK_URL=https://localhost:$RELAY_PORT/fhir
fx config "$BASE_CONFIG" "$CONFIG" "$MOCK_URL" "$CERTS"
echo "the gateway delivers to $MOCK_URL (a relay to the mock, answers held ${RELAY_DELAY_MS} ms)"

# The driver's pace: a random pause of 0..PACE_MS ms after each change, so that the lifecycle
# (6 changes per referral) spreads over the rounds and the kills hit it at every stage.
PACE_MS=$((2 * (ROUNDS * 1600 / (6 * REFERRALS) - 7)))
((PACE_MS > 0)) || PACE_MS=0
READY_TIMES=()
RECOVERED=0
DRIVER_GONE=0
for ((round = 1; round <= ROUNDS; round++)); do
  gw_start_ready "round$round" "round $round" --with-pid
  "$PY" "$WORK/crash.py" drive "$PORT" "$CERTS" "$EXAMPLES" "$RUN" "$REFERRALS" "$PACE_MS" "$((SEED * 100 + round))" >"$WORK/driver-$round.out" 2>&1 &
  DRIVER_PID=$!
  for ((i = 0; i < 600; i++)); do  # the kill comes 0.5-2 s after the driver's first answer
    grep -qs '^STARTED' "$WORK/driver-$round.out" && break
    kill -0 "$DRIVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  delay_ms=$((500 + RANDOM % 1501))
  gw_sleep_ms "$delay_ms"
  gw_kill9_server "$round"
  drc=0
  wait "$DRIVER_PID" || drc=$?
  DRIVER_PID=
  case $drc in
    0 | 3) ;;
    *) fail "round $round: the driver failed (exit $drc)" ;;
  esac
  if ((drc == 3)); then DRIVER_GONE=$((DRIVER_GONE + 1)); fi
  grep '^FAIL' "$WORK/driver-$round.out" || true
  n=$(recovered_in "$LOG")
  RECOVERED=$((RECOVERED + n))
  echo "   round $round: killed after ${delay_ms} ms: $({ grep -h '^GONE\|^DRIVER' "$WORK/driver-$round.out" || true; } | sed 's/ (.*//'); $n in-flight event(s) recovered at its start"
done

# --- finish the lifecycle, drain the outbox, verify --------------------------------------------
gw_start_ready final "final restart"
n=$(recovered_in "$LOG")
RECOVERED=$((RECOVERED + n))
drc=0
fx drive "$PORT" "$CERTS" "$EXAMPLES" "$RUN" "$REFERRALS" 0 "$SEED" >"$WORK/driver-final.out" 2>&1 || drc=$?
grep -v '^DRIVER\|^STARTED' "$WORK/driver-final.out" || true
if ((drc == 0)); then
  pass "final: the driver completed every referral ($(grep -h '^DRIVER' "$WORK/driver-final.out" | cut -c8-))"
else
  fail "final: the driver did not complete the referrals (exit $drc)"
fi
t0=$(date +%s)
drained=
while (($(date +%s) - t0 < DELIVERY_TIMEOUT)); do
  read -r p f x total < <(fx pending "$PORT" "$CERTS")
  if [[ $p == 0 && $f == 0 && $total != 0 ]]; then drained=1; break; fi
  [[ $x == 0 || $x == '?' ]] || break  # failed events: the verification below reports them
  sleep 0.2
done
if [[ -n $drained ]]; then
  pass "the outbox drained in $(($(date +%s) - t0)) s (nothing pending or in flight; $total events)"
else
  fail "the outbox did not drain within ${DELIVERY_TIMEOUT} s (pending $p, in-flight $f, failed $x)"
fi
if curl_as clinic "$MOCK_PORT" /_dump >"$WORK/dump.json"; then
  fx verify "$PORT" "$CERTS" "$RUN" "$REFERRALS" "$WORK/dump.json" >"$WORK/verify.out" 2>&1 || true
  gw_collect_checks "$WORK/verify.out" verification
  read -r _ n_ref n_events n_attempts n_resends < <(grep '^SUMMARY ' "$WORK/verify.out" || echo "SUMMARY ? ? ? ?")
else
  fail "GET /_dump from the mock referrer"
  n_ref='?' n_events='?' n_attempts='?' n_resends='?'
fi
stop_server
if [[ $SERVER_RC == 0 ]]; then pass "the gateway stops on SIGTERM with exit status 0"; else fail "the gateway's exit status on SIGTERM: $SERVER_RC"; fi
VERIFIED=1

max_ready=$(gw_max_ready_ms)
ELAPSED=$(($(date +%s) - STARTED))
echo
echo "kill -9 delivery: $ROUNDS rounds ($ROUNDS kills, $DRIVER_GONE of them cut the driver off), seed $SEED"
echo "  referrals: $n_ref completed; outbox events: $n_events delivered after $n_attempts attempts"
echo "  in-flight events recovered at restarts: $RECOVERED (after $ROUNDS kills); repeated deliveries absorbed by the referrer: $n_resends"
echo "  slowest restart to ready: ${max_ready} ms"
echo "  checks: $PASSES passed, $FAILS failed in ${ELAPSED} s"
gw_finish
