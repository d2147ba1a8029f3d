# Shared helpers of the shell tests that run a real gateway (fhir-gateway serve) over HTTPS
# with mutual TLS: tests/e2e/curl_e2e.sh, tests/crash/kill9_submissions.sh and
# tests/crash/kill9_delivery.sh. Sourced, never run:
#
#   source "$SRC/tests/lib/gateway_test_lib.sh"
#
# It only defines functions and the PASS/FAIL counters; nothing runs when it is sourced.
# The functions read and set these variables of the caller (set by the caller unless said):
#   SRC          the source tree (certs/make-dev-certs.sh, gateway/config, mappings/package/examples)
#   BUILD_DIR    the build tree; gw_set_paths sets from it and SRC:
#                  BIN          BUILD_DIR/gateway/fhir-gateway
#                  DEV_CONFIG   SRC/gateway/config/development.json
#                  EXAMPLES     SRC/mappings/package/examples
#                  CERT_SCRIPT  SRC/certs/make-dev-certs.sh
#   WORK         the temporary folder (gw_make_work sets it; removed on exit unless kept)
#   CONFIG, DATA the gateway's configuration file and data folder (gw_start_server)
#   CERTS        the certificate folder (gw_setup_certs sets it)
#   PORT, SERVER_PID, LOG, READY_MS, SERVER_RC  the gateway's port, process, log file,
#                start-up time and exit status (gw_start_server / stop_server set them)
#   READY_TIMEOUT     seconds the gateway may take to answer its readiness probe
#   GW_READY_POLL     seconds between two readiness probes (default 0.05)
#   GW_READY_PROBE    the function telling that the gateway is ready (default gw_readyz_ok)
#   GW_STOP_WARNING   printed on stderr when the gateway needs SIGKILL after SIGTERM (default none)
#   GW_KEEP_VAR       name of the environment variable that keeps WORK when it is 1
#   GW_LOG_LINES, GW_LOG_LABEL  how much of LOG to show when the script fails, and its title
#                (default 30 lines, "gateway log <file name>")
#   VERIFIED     set by the caller once its checks have run: the log is then not shown on failure
#   PY           the python3 interpreter (gw_find_python sets it)
#   PASSES, FAILS, FAILED  the check counters and the failed checks' texts (pass/fail set them)
# Optional hooks the caller may define: cleanup_before_server and cleanup_after_server (run
# by the exit trap before and after the gateway is stopped: other processes of the test).

# --- checks ------------------------------------------------------------------------------------
PASSES=0
FAILS=0
FAILED=()
# pass TEXT / fail TEXT: print "PASS: TEXT" / "FAIL: TEXT" and count it.
pass() { echo "PASS: $*"; PASSES=$((PASSES + 1)); }
fail() {
  echo "FAIL: $*"
  FAILS=$((FAILS + 1))
  FAILED+=("$*")
}
# check DESCRIPTION WANT GOT: passes when GOT equals WANT.
check() {
  if [[ $3 == "$2" ]]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}
# check_true DESCRIPTION PYTHON-CONDITION-RESULT ("True" passes)
check_true() {
  if [[ $2 == True ]]; then pass "$1"; else fail "$1 (got: $2)"; fi
}
# gw_collect_checks FILE LABEL: prints the output of a python3 part (FILE) without its
# "CHECKS passes fails" and "SUMMARY ..." lines and adds its counts (no CHECKS line: 1 failure).
gw_collect_checks() {
  local vp vf
  grep -v '^CHECKS \|^SUMMARY ' "$1" || true
  read -r _ vp vf < <(grep '^CHECKS ' "$1" || echo "CHECKS 0 1")
  PASSES=$((PASSES + vp))
  FAILS=$((FAILS + vf))
  ((vf == 0)) || FAILED+=("$2: $vf check(s) failed (above)")
}
# gw_finish: the last lines of a script: the failed checks and "RESULT: FAIL" (exit 1), or
# "RESULT: PASS" (the script then ends with status 0).
gw_finish() {
  if ((FAILS > 0)); then
    printf '  failed: %s\n' "${FAILED[@]}"
    echo "RESULT: FAIL"
    exit 1
  fi
  echo "RESULT: PASS"
}

# --- arguments and prerequisites ----------------------------------------------------------------
# gw_usage USAGE: prints "usage: <script> USAGE" on stderr and exits 2.
gw_usage() {
  echo "usage: $0 $1" >&2
  exit 2
}
# gw_parse_args USAGE --OPTION=VAR... -- ARG...: sets BUILD_DIR (absolute) from the first ARG,
# then each "--OPTION N" (N a positive whole number) among the other ARGs sets VAR to N; no
# ARG, an unknown option or a bad number: gw_usage USAGE.
gw_parse_args() {
  local usage=$1
  shift
  local -A var=()
  while [[ $1 != -- ]]; do
    var[${1%%=*}]=${1#*=}
    shift
  done
  shift
  (($# >= 1)) || gw_usage "$usage"
  BUILD_DIR=$(cd "$1" && pwd)
  shift
  while (($#)); do
    [[ -n $1 && -n ${var[$1]:-} && ${2:-} =~ ^[1-9][0-9]*$ ]] || gw_usage "$usage"
    printf -v "${var[$1]}" '%s' "$2"
    shift 2
  done
}
# gw_set_paths: sets BIN, DEV_CONFIG, EXAMPLES and CERT_SCRIPT from BUILD_DIR and SRC.
gw_set_paths() {
  BIN=$BUILD_DIR/gateway/fhir-gateway
  DEV_CONFIG=$SRC/gateway/config/development.json
  EXAMPLES=$SRC/mappings/package/examples
  CERT_SCRIPT=$SRC/certs/make-dev-certs.sh
}
# gw_require_tools TEST-NAME: exit 77 (skipped) when curl or openssl is missing, exit 1
# when python3 or the gateway binary BIN is missing.
gw_require_tools() {
  local tool
  for tool in curl openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $tool is not installed; $1 needs curl and openssl" >&2
      exit 77
    fi
  done
  command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 is needed to read the JSON answers" >&2; exit 1; }
  [[ -x $BIN ]] || { echo "FAIL: no gateway binary at $BIN (build the fhir-gateway target)" >&2; exit 1; }
}
# gw_require_config FILE: exit 1 when the configuration FILE is missing.
gw_require_config() {
  [[ -f $1 ]] || { echo "FAIL: no configuration at $1" >&2; exit 1; }
}
# gw_require_examples NAME...: exit 1 when EXAMPLES/NAME is missing.
gw_require_examples() {
  local f
  for f in "$@"; do
    [[ -f $EXAMPLES/$f ]] || { echo "FAIL: $EXAMPLES/$f is missing" >&2; exit 1; }
  done
}
# gw_find_python: sets PY to the python3 interpreter itself (not a version manager's shim:
# each call would start a shell).
gw_find_python() {
  PY=$(python3 -c 'import sys; print(sys.executable)')
}
# gw_write_python_lib: writes WORK/gateway_answers.py, a module the scripts' python3 parts
# (written to WORK too) import: tail_id(ref, typ) and srid_json(d), the ServiceRequest id in a
# submission's JSON answer d (any transport form; '' if none).
gw_write_python_lib() {
  cat >"$WORK/gateway_answers.py" <<'PY'
import re


def tail_id(ref, typ="ServiceRequest"):
    m = re.search(typ + r"/([A-Za-z0-9.\-]{1,64})", ref or "")
    return m.group(1) if m else ""


def srid_json(d):
    rt = d.get("resourceType")
    if rt == "ServiceRequest":
        return d.get("id", "")
    if rt == "Bundle" and d.get("type") == "transaction-response":
        for e in d.get("entry", []):
            loc = e.get("response", {}).get("location", "")
            if loc.startswith("ServiceRequest/"):
                return tail_id(loc)
    if rt == "Bundle" and d.get("type") == "message":
        for e in d.get("entry", []):
            r = e.get("resource", {})
            if r.get("resourceType") == "Task":
                return tail_id(r.get("focus", {}).get("reference", ""))
    return ""
PY
}
# gw_free_port: prints a free loopback TCP port.
gw_free_port() {
  "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# --- temporary folder, clean-up on exit --------------------------------------------------------
# gw_make_work PREFIX: sets WORK to a new temporary folder ${TMPDIR:-/tmp}/PREFIX.XXXXXX.
gw_make_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
}
# gw_cleanup: the exit trap (gw_install_traps). Runs cleanup_before_server if defined, stops
# the gateway, runs cleanup_after_server if defined; when the script fails before VERIFIED is
# set, shows the last GW_LOG_LINES lines of LOG; removes WORK unless $GW_KEEP_VAR is 1 (then
# prints its path). Exits with the script's status.
gw_cleanup() {
  local rc=$?
  trap - EXIT
  if declare -F cleanup_before_server >/dev/null; then cleanup_before_server || true; fi
  stop_server || true
  if declare -F cleanup_after_server >/dev/null; then cleanup_after_server || true; fi
  if ((rc != 0)) && [[ -z ${VERIFIED:-} && -n ${LOG:-} && -f $LOG ]]; then
    echo "--- ${GW_LOG_LABEL:-gateway log $(basename "$LOG")} (last ${GW_LOG_LINES:-30} lines) ---" >&2
    tail -n "${GW_LOG_LINES:-30}" "$LOG" >&2 || true
  fi
  if [[ ${!GW_KEEP_VAR:-} == 1 ]]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
# gw_install_traps: gw_cleanup on exit; SIGINT ends the script with 130, SIGTERM with 143.
gw_install_traps() {
  trap gw_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# --- certificates ------------------------------------------------------------------------------
# gw_setup_certs [--absolute] FILE...: sets CERTS to HOA_TEST_CERTS_DIR (made absolute with
# --absolute) or to WORK/certs made by certs/make-dev-certs.sh (its output in WORK/certs.log,
# shown when it fails); exit 1 when that fails or one of the FILEs is missing in CERTS.
gw_setup_certs() {
  local absolute= f
  if [[ ${1:-} == --absolute ]]; then absolute=1; shift; fi
  if [[ -n ${HOA_TEST_CERTS_DIR:-} ]]; then
    if [[ -n $absolute ]]; then CERTS=$(cd "$HOA_TEST_CERTS_DIR" && pwd); else CERTS=$HOA_TEST_CERTS_DIR; fi
  else
    [[ -f $CERT_SCRIPT ]] || { echo "FAIL: $CERT_SCRIPT is missing" >&2; exit 1; }
    CERTS=$WORK/certs
    if ! bash "$CERT_SCRIPT" "$CERTS" >"$WORK/certs.log" 2>&1; then
      echo "FAIL: certs/make-dev-certs.sh failed:" >&2
      cat "$WORK/certs.log" >&2
      exit 1
    fi
  fi
  for f in "$@"; do
    [[ -f $CERTS/$f ]] || { echo "FAIL: certificate file $CERTS/$f is missing" >&2; exit 1; }
  done
}

# --- curl with client certificates -------------------------------------------------------------
# gw_curl WHO PORT PATH [curl options...]: curl -sS https://localhost:PORT/PATH (localhost
# resolved to 127.0.0.1), trusting CERTS/ca.crt, with WHO's client certificate
# (CERTS/WHO.crt and .key; WHO none: without one). Its status is curl's.
gw_curl() {
  local who=$1 port=$2 path=$3
  shift 3
  local cert=()
  [[ $who == none ]] || cert=(--cert "$CERTS/$who.crt" --key "$CERTS/$who.key")
  curl -sS --resolve "localhost:$port:127.0.0.1" --cacert "$CERTS/ca.crt" "${cert[@]}" "$@" "https://localhost:$port$path"
}
# gw_readyz_ok: succeeds when GET /readyz (as clinic) on PORT answers 200.
gw_readyz_ok() {
  [[ $(gw_curl clinic "$PORT" /readyz -o /dev/null -w '%{http_code}' --max-time 10 --connect-timeout 2 2>/dev/null || true) == 200 ]]
}

# --- processes ---------------------------------------------------------------------------------
# gw_stop_pid PID [WARNING]: SIGTERM, then SIGKILL after 15 s (printing WARNING on stderr if
# given); waits for it and sets STOP_RC to its exit status (empty when PID is empty).
gw_stop_pid() {
  local pid=$1 warning=${2:-} i
  STOP_RC=
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      [[ -z $warning ]] || echo "$warning" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  STOP_RC=0
  wait "$pid" 2>/dev/null || STOP_RC=$?
}
# stop_server: stops the gateway (gw_stop_pid SERVER_PID GW_STOP_WARNING); sets SERVER_RC
# (and STOP_RC) to its exit status, SERVER_PID to empty.
stop_server() {
  gw_stop_pid "$SERVER_PID" "${GW_STOP_WARNING:-}"
  SERVER_RC=$STOP_RC
  SERVER_PID=
}
# gw_start_server [NAME]: starts BIN serve (CONFIG, DATA, CERTS) on a free loopback port,
# its output appended to LOG (with NAME: LOG=WORK/gateway-NAME.log), and waits until it logs
# "listening on https://" and GW_READY_PROBE succeeds, within READY_TIMEOUT seconds; sets
# PORT, SERVER_PID and READY_MS (milliseconds from the start). When another process took the
# port first it tries another one (5 times). Fails (status 1) with the gateway stopped.
gw_start_server() {
  local attempt t0 deadline
  [[ -z ${1:-} ]] || LOG=$WORK/gateway-$1.log
  for attempt in 1 2 3 4 5; do
    PORT=$(gw_free_port)
    t0=$(date +%s%N)
    deadline=$(($(date +%s) + READY_TIMEOUT))
    "$BIN" serve --config "$CONFIG" --port "$PORT" --data-dir "$DATA" --certs "$CERTS" >>"$LOG" 2>&1 &
    SERVER_PID=$!
    while (($(date +%s) < deadline)); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      if grep -qs "listening on https://" "$LOG" && "${GW_READY_PROBE:-gw_readyz_ok}"; then
        READY_MS=$((($(date +%s%N) - t0) / 1000000))
        return 0
      fi
      sleep "${GW_READY_POLL:-0.05}"
    done
    stop_server
    # Another process took the port between choosing and binding it: try another one.
    grep -qi "already in use" "$LOG" || return 1
  done
  return 1
}
# gw_start_helper VAR-PID VAR-PORT LOGFILE READY-TEXT COMMAND...: starts COMMAND (a helper
# process of the test; the word PORT in it is replaced by a free port) in the background, its
# output appended to LOGFILE, and waits up to 10 s until LOGFILE holds READY-TEXT and
# GET /_dump (as clinic) on the port succeeds; sets the variables named VAR-PID and VAR-PORT.
# 5 attempts, each with another port; fails (status 1) when none came up.
gw_start_helper() {
  local pid_var=$1 port_var=$2 log=$3 ready=$4
  shift 4
  local attempt i port pid arg cmd
  for attempt in 1 2 3 4 5; do
    port=$(gw_free_port)
    cmd=()
    for arg in "$@"; do [[ $arg == PORT ]] && cmd+=("$port") || cmd+=("$arg"); done
    "${cmd[@]}" >>"$log" 2>&1 &
    pid=$!
    printf -v "$pid_var" '%s' "$pid"
    printf -v "$port_var" '%s' "$port"
    for ((i = 0; i < 200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      if grep -qs "$ready" "$log" && gw_curl clinic "$port" /_dump -f --max-time 30 --connect-timeout 5 >/dev/null 2>&1; then
        return 0
      fi
      sleep 0.05
    done
    gw_stop_pid "$pid"
    printf -v "$pid_var" '%s' ""
  done
  return 1
}

# --- crash rounds ------------------------------------------------------------------------------
# gw_start_ready NAME LABEL [--with-pid]: gw_start_server NAME; when it fails: FAIL "LABEL: the
# gateway did not become ready within READY_TIMEOUT s" and exit 1; else adds READY_MS to
# READY_TIMES and PASS "LABEL: gateway ready in READY_MS ms" (with --with-pid: and its pid, port).
gw_start_ready() {
  if ! gw_start_server "$1"; then
    fail "$2: the gateway did not become ready within ${READY_TIMEOUT} s"
    exit 1
  fi
  READY_TIMES+=("$READY_MS")
  if [[ ${3:-} == --with-pid ]]; then
    pass "$2: gateway ready in ${READY_MS} ms (pid $SERVER_PID, port $PORT)"
  else
    pass "$2: gateway ready in ${READY_MS} ms"
  fi
}
# gw_sleep_ms MS: sleeps MS milliseconds.
gw_sleep_ms() {
  sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
}
# gw_kill9_server ROUND [COMMAND...]: kills the gateway with SIGKILL, runs COMMAND (if any)
# right after the kill, waits for the gateway and sets SERVER_PID empty; FAIL when it had
# ended by itself before (exit status other than 137), with the end of LOG.
gw_kill9_server() {
  local round=$1 grc=0
  shift
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  (($# == 0)) || "$@"
  wait "$SERVER_PID" 2>/dev/null || grc=$?
  SERVER_PID=
  # 137: our SIGKILL; anything else: it had ended by itself (a crash, a sanitizer report).
  if ((grc != 137)); then
    fail "round $round: the gateway ended by itself before the kill (exit status $grc); its log ends:"
    tail -n 20 "$LOG" | sed 's/^/      | /'
  fi
}
# gw_max_ready_ms: prints the largest of READY_TIMES (0 when there is none).
gw_max_ready_ms() {
  local t max=0
  for t in "${READY_TIMES[@]}"; do ((t > max)) && max=$t; done
  echo "$max"
}
