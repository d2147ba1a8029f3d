#!/usr/bin/env python3
"""Compare `fhir-gateway validate` with the HL7 Java reference validator on the R4 cases of
FHIR/fhir-test-cases (validator/manifest.json).  Standard library only.  See README.md.

  python3 tests/hl7-validator-cases/run.py [--cases DIR] [--gateway PATH] [--out DIR]

Writes OUT/report.md (analysis, totals, per module, every disagreement) and OUT/results.json.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

FHIR_NS = "http://hl7.org/fhir"
R4_VERSIONS = ("4.0", "4.0.1")  # "4.0.1" is the same release; 13 cases are written that way
TX_MODULES = ("tx", "tx-advanced")
# Modules whose inputs are not FHIR resources or need a logical model / a non-FHIR parser.
NON_FHIR_MODULES = {
    "cda": "CDA document (logical model)",
    "cdshooks": "CDS Hooks JSON (logical model)",
    "shc": "SMART Health Card (JWS/JWT, not a FHIR resource)",
    "logical": "logical model instance",
    "matchetype": "matchetype pattern test (not validation)",
}
# Resource types our registry loads from a package folder (fhir/definitions.cc kConformanceTypes).
LOADABLE_TYPES = {
    "StructureDefinition", "ValueSet", "CodeSystem", "SearchParameter", "ConceptMap",
    "OperationDefinition", "NamingSystem", "CompartmentDefinition", "Questionnaire",
    "ImplementationGuide", "CapabilityStatement", "StructureMap",
}
# Manifest keys that switch on Java-validator behaviour we do not emulate (recorded per case).
JAVA_OPTIONS = (
    "security-checks", "best-practice", "for-publication", "allowed-extension-domain",
    "assumeValidRestReferences", "validateReference", "examples", "language", "bundle-param",
    "advisor", "allow-comments", "no-tx", "ids-in-errors", "wrong-displays", "crumb-trail",
    "validateContains", "noHtmlInMarkdown", "no-experimental-content", "ips", "scoring",
    "fetcher", "r5-bundle-relative-reference-policy", "enforceAggregationOutsideBundles",
    "new-xver-mode", "package-map", "tags", "certificate",
)
ERROR_SEVERITIES = ("error", "fatal")


# ----------------------------------------------------------------------------------------------
# Paths

_COMMENT = re.compile(r"/\*.*?\*/")
_URL_SELECTOR = re.compile(r"\[url='[^']*'\]")  # Java: Patient.extension[1][url='x']
_ZERO_INDEX = re.compile(r"\[0\]")
_ANY_INDEX = re.compile(r"\[\d+\]")


def norm_path(p):
    """Java writes `Bundle.entry[0].resource/*Patient/123*/.name[0]` and
    `Patient.extension[1][url='x']`: drop the comments and the url selectors."""
    p = _COMMENT.sub("", p or "").strip()
    return _URL_SELECTOR.sub("", p)


def drop_zero(p):
    return _ZERO_INDEX.sub("", p)


def drop_index(p):
    return _ANY_INDEX.sub("", p)


# ----------------------------------------------------------------------------------------------
# Outcomes

def issue_path(issue, keys=("expression", "location")):
    for key in keys:
        v = issue.get(key)
        if v:
            return v[0]
    return ""


def java_line(issue):
    m = re.match(r"\[(\d+),\s*(\d+)\]", issue.get("diagnostics") or "")
    return int(m.group(1)) if m else None


def our_line(issue):
    for loc in issue.get("location") or []:
        m = re.match(r"line (\d+), col (\d+)", loc)
        if m:
            return int(m.group(1))
    return None


def issues_of(outcome, line_of, keys=("expression", "location")):
    """Java: expression, else location (an XPath for some XML issues).  Ours: expression
    only (our location is 'line L, col C')."""
    out = []
    for i in (outcome or {}).get("issue") or []:
        out.append({
            "severity": i.get("severity", ""),
            "code": i.get("code", ""),
            "path": norm_path(issue_path(i, keys)),
            "message": ((i.get("details") or {}).get("text") or i.get("diagnostics") or ""),
            "line": line_of(i),
        })
    return out


def load_expected(cases_dir, java):
    """The Java expectation: a file under outcomes/, or an inline object ({outcome} or
    {errorCount, output}).  Returns (issues or None, errorCount or None, note)."""
    if isinstance(java, str):
        f = os.path.join(cases_dir, "outcomes", java)
        if not os.path.exists(f):
            return None, None, "Java outcome file missing from the repository: " + java
        with open(f, encoding="utf-8") as fh:
            oo = json.load(fh)
        iss = issues_of(oo, java_line)
        return iss, sum(1 for i in iss if i["severity"] in ERROR_SEVERITIES), None
    if isinstance(java, dict):
        if "outcome" in java:
            iss = issues_of(java["outcome"], java_line)
            return iss, sum(1 for i in iss if i["severity"] in ERROR_SEVERITIES), None
        if java.get("output"):  # legacy "SEVERITY: path: message" lines
            iss = []
            for line in java["output"]:
                m = re.match(r"(\w+):\s*([^:]*):\s*(.*)", line)
                if m:
                    iss.append({"severity": m.group(1).lower(), "code": "", "line": None,
                                "path": norm_path(m.group(2)), "message": m.group(3)})
            return iss, java.get("errorCount", sum(
                1 for i in iss if i["severity"] in ERROR_SEVERITIES)), None
        if "errorCount" in java:
            return None, java["errorCount"], None
    return None, None, "no Java expectation"


# ----------------------------------------------------------------------------------------------
# Input sniffing

def sniff(path):
    """('json'|'xml', resourceType or None, parse_ok) or (None, None, False) for other files."""
    with open(path, "rb") as fh:
        data = fh.read()
    ext = path.rsplit(".", 1)[-1].lower()
    if ext == "json":
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except Exception:
            return "json", None, False
        return "json", doc.get("resourceType") if isinstance(doc, dict) else None, True
    if ext == "xml":
        try:
            root = ET.fromstring(data)
        except Exception:
            return "xml", None, False
        m = re.match(r"\{(.*)\}(.*)", root.tag)
        if m and m.group(1) == FHIR_NS:
            return "xml", m.group(2), True
        return "xml", None, True
    return None, None, False


# ----------------------------------------------------------------------------------------------
# Case selection

def case_inputs(case):
    return list(case.get("supporting") or []) + list(case.get("profiles") or [])


def select(manifest, cases_dir):
    """Returns (runs, skipped): runs are dicts {case, step}, skipped (name, module, reason)."""
    selected, skipped = [], []
    for case in manifest["test-cases"]:
        if case.get("version") not in R4_VERSIONS:
            continue
        name, module = case["name"], case.get("module") or "(none)"

        def skip(reason):
            skipped.append({"name": name, "module": module, "reason": reason})

        if case.get("use-test") is False:
            skip("use-test: false")
            continue
        pk = [p for p in case.get("packages") or [] if not p.startswith("hl7.fhir.r4.core")]
        if pk:
            skip("needs packages (" + ", ".join(pk[:3]) + (", ..." if len(pk) > 3 else "") + ")")
            continue
        if case.get("logical"):
            skip("logical model")
            continue
        if module in NON_FHIR_MODULES:
            skip("module " + module + ": " + NON_FHIR_MODULES[module])
            continue
        java = case.get("java")
        if java is None or java == {}:
            skip("no Java expectation")
            continue
        fpath = os.path.join(cases_dir, case["file"])
        if not os.path.exists(fpath):
            skip("input file missing from the repository")
            continue
        fmt, rt, ok = sniff(fpath)
        if fmt is None:
            skip("input is not JSON/XML (." + case["file"].rsplit(".", 1)[-1] + ")")
            continue
        if ok and rt is None:
            skip("input is not a FHIR resource (" + fmt + " without resourceType/FHIR namespace)")
            continue
        _, _, note = load_expected(cases_dir, java)
        if note:
            skip(note)
            continue
        selected.append({"case": case, "step": "base"})
        prof = case.get("profile")
        if prof:
            pnote = None
            if prof.get("use-test") is False:
                pnote = "profile step: use-test: false"
            elif [p for p in prof.get("packages") or [] if not p.startswith("hl7.fhir.r4.core")]:
                pnote = "profile step: needs packages"
            elif not os.path.exists(os.path.join(cases_dir, prof.get("source", ""))):
                pnote = "profile step: profile source is not a local file (" + \
                        str(prof.get("source")) + ")"
            elif not prof.get("java") or load_expected(cases_dir, prof["java"])[2]:
                pnote = "profile step: " + (load_expected(cases_dir, prof["java"])[2]
                                            if prof.get("java") else "no Java expectation")
            if pnote:
                skipped.append({"name": name, "module": module, "reason": pnote})
            else:
                selected.append({"case": case, "step": "profile"})
    return selected, skipped


# ----------------------------------------------------------------------------------------------
# Running

class Gateway:
    def __init__(self, exe, timeout):
        self.exe, self.timeout = exe, timeout
        self._json_cache = {}

    def to_json(self, path):
        """JSON text of a JSON/XML resource file (XML converted by the gateway), or raises."""
        if path in self._json_cache:
            return self._json_cache[path]
        if path.lower().endswith(".json"):
            with open(path, encoding="utf-8-sig") as fh:
                text = fh.read()
        else:
            p = subprocess.run([self.exe, "convert", "--to", "json", path], capture_output=True,
                               timeout=self.timeout)
            if p.returncode != 0 and b"schemaLocation" in p.stderr:
                # Our XML parser rejects xsi:schemaLocation; supporting files only: drop it.
                with open(path, "rb") as fh:
                    data = re.sub(rb'\s+xsi:schemaLocation="[^"]*"', b"", fh.read())
                p = subprocess.run([self.exe, "convert", "--to", "json", "-"], input=data,
                                   capture_output=True, timeout=self.timeout)
            if p.returncode != 0:
                msg = p.stderr.decode("utf-8", "replace").strip().splitlines()
                raise RuntimeError("convert failed: " + (msg[0][:200] if msg else ""))
            text = p.stdout.decode("utf-8")
        self._json_cache[path] = text
        return text

    def parses(self, file):
        p = subprocess.run([self.exe, "convert", "--to", "json", file], capture_output=True,
                           timeout=self.timeout)
        return p.returncode == 0

    def validate(self, file, packages, profiles):
        cmd = [self.exe, "validate"]
        for p in profiles:
            cmd += ["--profile", p]
        for p in packages:
            cmd += ["--package", p]
        cmd.append(file)
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return None, "timeout after %ss" % self.timeout
        out = p.stdout.decode("utf-8", "replace").strip()
        if p.returncode not in (0, 1) or not out:
            err = p.stderr.decode("utf-8", "replace").strip()
            return None, "exit %d: %s" % (p.returncode, err[:300])
        try:
            return json.loads(out.splitlines()[0])["outcome"], None
        except Exception as e:  # noqa: BLE001
            return None, "unreadable output: %s" % e


def build_package(gw, cases_dir, files, workdir):
    """A package folder with the conformance resources of `files` (Bundles unpacked, XML
    converted).  Returns (dir or None, notes, profile url by file)."""
    notes, urls = [], {}
    if not files:
        return None, notes, urls
    pkg = tempfile.mkdtemp(prefix="pkg-", dir=workdir)
    with open(os.path.join(pkg, "package.json"), "w") as fh:
        json.dump({"name": "fhir-test-cases.supporting", "version": "0.0.0",
                   "fhirVersions": ["4.0.1"]}, fh)
    n = 0
    seen_urls = set()
    for rel in files:
        src = os.path.join(cases_dir, rel)
        if not os.path.exists(src):
            notes.append("supporting file missing: " + rel)
            continue
        if not re.search(r"\.(json|xml)$", rel, re.I):
            notes.append("supporting file not JSON/XML: " + rel)
            continue
        try:
            doc = json.loads(gw.to_json(src))
        except Exception as e:  # noqa: BLE001
            notes.append("supporting file unreadable (%s): %s" % (rel, e))
            continue
        resources = [doc]
        if doc.get("resourceType") == "Bundle":
            resources = [e.get("resource") for e in doc.get("entry") or [] if e.get("resource")]
        for r in resources:
            rt = r.get("resourceType")
            if r is doc and rt == "StructureDefinition":
                urls[rel] = r.get("url")
            if rt not in LOADABLE_TYPES:
                notes.append("supporting %s not loadable by our registry: %s" % (rt, rel))
                continue
            if r.get("url") in seen_urls:  # the same file listed twice (supporting + profile)
                continue
            seen_urls.add(r.get("url"))
            n += 1
            with open(os.path.join(pkg, "%s-%03d.json" % (rt, n)), "w", encoding="utf-8") as fh:
                json.dump(r, fh)
    return pkg, notes, urls


def run_one(gw, cases_dir, workdir, item):
    case, step = item["case"], item["step"]
    res = {"name": case["name"], "module": case.get("module") or "(none)", "step": step,
           "file": case["file"], "notes": [],
           "options": sorted(k for k in JAVA_OPTIONS if k in case)}
    files = case_inputs(case)
    profiles = []
    if step == "profile":
        prof = case["profile"]
        files = files + list(prof.get("supporting") or []) + [prof["source"]]
        java = prof["java"]
        res["profile_source"] = prof["source"]
    else:
        java = case["java"]
    res["java"] = java if isinstance(java, str) else "(inline in manifest.json)"
    exp_issues, exp_count, _ = load_expected(cases_dir, java)
    pkg, notes, urls = build_package(gw, cases_dir, files, workdir)
    res["notes"] += notes
    if step == "profile":
        url = urls.get(case["profile"]["source"])
        if not url:
            res["notes"].append("profile source has no StructureDefinition url")
            res["error"] = "no profile url"
        else:
            profiles = [url]
            res["profile_url"] = url
    outcome, err = (None, res.get("error"))
    if not err:
        outcome, err = gw.validate(os.path.join(cases_dir, case["file"]),
                                   [pkg] if pkg else [], profiles)
    if pkg:
        shutil.rmtree(pkg, ignore_errors=True)
    res["expected"] = [i for i in exp_issues or []]
    res["expected_error_count"] = exp_count
    res["expected_paths_known"] = exp_issues is not None
    if err:
        res["error"] = err
        res["ours"] = [{"severity": "fatal", "code": "exception", "path": "",
                        "message": "[harness] our validator did not run: " + err, "line": None}]
    else:
        res["ours"] = issues_of(outcome, our_line, ("expression",))
        # The CLI validates only what parses cleanly: with parse errors (bad JSON/XML
        # structure, unknown elements, invalid primitive lexical forms) it stops there.
        res["parse_failed"] = bool(errors(res["ours"])) and not gw.parses(
            os.path.join(cases_dir, case["file"]))
    compare(res)
    return res


# ----------------------------------------------------------------------------------------------
# Comparison

def errors(issues):
    return [i for i in issues if i["severity"] in ERROR_SEVERITIES]


def compare(res):
    ours = errors(res["ours"])
    exp_n = res["expected_error_count"]
    res["our_error_count"] = len(ours)
    res["verdict_agree"] = (exp_n == 0) == (len(ours) == 0)
    res["count_agree"] = exp_n == len(ours)
    if res["expected_paths_known"]:
        exp = errors(res["expected"])
        ep = collections.Counter(i["path"] for i in exp)
        op = collections.Counter(i["path"] for i in ours)
        res["path_agree"] = ep == op
        res["path_agree_no0"] = (collections.Counter(drop_zero(p) for p in ep.elements()) ==
                                 collections.Counter(drop_zero(p) for p in op.elements()))
    else:
        res["path_agree"] = res["path_agree_no0"] = None
    res["agree"] = res["verdict_agree"] and res["count_agree"] and res["path_agree"] is not False
    pair(res)


def nested(a, b):
    """One path is the other's parent/child, at most two levels apart."""
    if not a or not b or a == b:
        return False
    short_, long_ = (a, b) if len(a) < len(b) else (b, a)
    return long_.startswith(short_ + ".") and long_[len(short_) + 1:].count(".") <= 1


_STOP = {"value", "found", "allowed", "required", "minimum", "maximum", "element", "elements",
         "profile", "resource", "extension", "constraint", "failed", "there", "which", "where",
         "should", "must", "cannot", "this", "that", "with", "from", "only", "have", "defined",
         "does", "match", "valid", "invalid", "type", "types", "more", "than", "then", "been",
         "when", "also", "into", "some", "other", "http", "https", "null", "true", "false"}
_TOKEN = re.compile(r"[A-Za-z0-9_:/.#|\-]{4,}")


def related(m1, m2):
    """The two messages share a significant token (a quoted value, URL, element name...)."""
    def toks(m):
        return {t.strip(".:|-").lower() for t in _TOKEN.findall(m or "")} - _STOP - {""}
    return bool(toks(m1) & toks(m2))


_OFTYPE = re.compile(r"\.(\w+)\.ofType\((\w)(\w*)\)")


def json_choice_name(p):
    """Java `Observation.value.ofType(integer)` -> `Observation.valueInteger` (our form)."""
    return _OFTYPE.sub(lambda m: "." + m.group(1) + m.group(2).upper() + m.group(3), p)


def _xpath_like(p):
    return not p or p.startswith("/") or "/f:" in p or p.startswith("(")


_SYNTAX_THEIRS = re.compile(r"Error parsing JSON|JSON|XML|[Cc]omma|quotes|[Cc]omments")
_SYNTAX_OURS = re.compile(r"^invalid (JSON|XML)")


def pair(res):
    """Pairs expected and our errors, greedily, stage by stage: same path; same path without
    [0]; without any index; Java's `x.ofType(T)` read as our JSON name `xT`; a direct
    parent/child path; both syntax errors of the input; and, when Java gives an XPath or no
    path (issues found while parsing), the same line.  Unpaired errors are 'missed' (Java only)
    and 'extra' (ours only); pairs after the first stage are path-format differences."""
    exp = errors(res["expected"]) if res["expected_paths_known"] else []
    ours = errors(res["ours"])
    eu, ou = list(range(len(exp))), list(range(len(ours)))
    pairs = []
    stages = (
        ("exact", lambda i: i["path"], lambda i: i["path"], None),
        ("no[0]", lambda i: drop_zero(i["path"]), lambda i: drop_zero(i["path"]), None),
        ("noindex", lambda i: drop_index(i["path"]), lambda i: drop_index(i["path"]), None),
        ("choice", lambda i: drop_index(json_choice_name(i["path"])) if ".ofType(" in i["path"]
         else None, lambda i: drop_index(i["path"]), None),
        ("nesting", lambda i: i, lambda i: i, lambda a, b: nested(a["path"], b["path"]) and
         related(a["message"], b["message"])),
        ("syntax", lambda i: "syntax" if _SYNTAX_THEIRS.search(i["message"] or "") else None,
         lambda i: "syntax" if _SYNTAX_OURS.search(i["message"] or "") else None, None),
        ("line", lambda i: i["line"] if _xpath_like(i["path"]) else None,
         lambda i: i["line"], None),
    )
    for how, key_e, key_o, match in stages:
        for a in list(eu):
            ka = key_e(exp[a])
            if ka is None or ka == "":
                continue
            for b in ou:
                kb = key_o(ours[b])
                if kb is not None and (match(ka, kb) if match else kb == ka):
                    pairs.append((a, b, how))
                    eu.remove(a)
                    ou.remove(b)
                    break
    res["pairs"] = [{"how": h, "expected": exp[a], "ours": ours[b]} for a, b, h in pairs]
    res["missed"] = [exp[a] for a in eu]
    res["extra"] = [ours[b] for b in ou]


# ----------------------------------------------------------------------------------------------
# Categories: the cause on our side.  Every missed Java error (Java only), extra error (ours
# only) and pair matched only after path normalisation gets the first category whose test
# matches; a run's categories are the union.  The rules were written by reading every
# disagreement of a full run (see README.md); "other" buckets catch the rest.

def _rx(pattern):
    rx = re.compile(pattern)
    return lambda i, r: bool(rx.search(i["message"] or ""))


def _path(pattern):
    rx = re.compile(pattern)
    return lambda i, r: bool(rx.match(i["path"] or ""))


def _same_element_reported(i, r):
    """Java has a further error on an element where one of its errors is already paired with
    one of ours: Java reports one problem twice, we once (checked after the specific rules)."""
    p = drop_index(i["path"])
    return any(p == drop_index(pr["expected"]["path"]) or p == drop_index(pr["ours"]["path"])
               for pr in r["pairs"])


PROFILE_MSG = re.compile(r"minimum required|max allowed|[Ss]lice|fixed|pattern|maxValue|minValue|"
                         r"maximum value|minimum value|minimum length|[Pp]rofile|not valid - "
                         r"must be|not a valid Target|allows for the type|value set")


def _snapshot_missing(i, r):
    """Our validator warned 'Profile X has no snapshot; it cannot be checked' in this run and
    the Java error comes from a profile: it names one of those profiles; or (profile step) it
    is not among the Java errors of the base validation; or (base step, the profile named in
    meta.profile) it is a profile-type message."""
    urls = r.get("no_snapshot") or []
    if not urls:
        return False
    if any(u in (i["message"] or "") for u in urls):
        return True
    if r["step"] == "profile":
        return (i["path"], i["message"]) not in r.get("base_errors", ())
    return bool(PROFILE_MSG.search(i["message"] or ""))


def _profile_unresolved(i, r):
    return bool(r.get("unknown_profiles")) and bool(PROFILE_MSG.search(i["message"] or ""))


def _wrong_expectation(i, r):
    return not r["java"].startswith("java/R4") and r["java"] != "(inline in manifest.json)"


CATEGORIES = {  # id: label
    "tx": "needs a terminology server (SNOMED CT, LOINC, UCUM, CVX, ISO 3166 codes and displays, "
          "ECL) — not applicable offline",
    "expectation": "test-case anomaly: an R4 case whose Java expectation is an R5 outcome file",
    "vitals": "we don't apply the vital-signs profiles that R4 requires for Observations with a "
              "vital-signs LOINC code (Java adds bp/bodytemp/... automatically)",
    "double": "Java reports a second error for a problem we report once at the same element "
              "(e.g. 'System URI could not be determined' + 'not in the value set'; "
              "ele-1 + 'Primitive types must have a value')",
    "snapshot": "we don't generate snapshots: profiles given only as a differential (most test "
                "profiles) are skipped with a warning 'has no snapshot', so none of their "
                "constraints are checked",
    "parse-stop": "our validator stops after parse errors (JSON/XML structure, unknown "
                  "elements, invalid primitive lexical forms): nothing else is checked, while "
                  "Java reports them and validates on",
    "profile-unresolved": "we could not resolve a profile Java resolved (versioned canonical "
                          "'|0.2' for version 0.2.1) — its constraints are not checked",
    "type-profile": "we don't validate elements against profiles named in "
                    "ElementDefinition.type.profile / targetProfile (e.g. a HumanName or "
                    "Address profile, or the profile a reference's target must conform to)",
    "xver": "we don't know the cross-version extensions (http://hl7.org/fhir/5.0/"
            "StructureDefinition/extension-…) and their rules",
    "format": "we don't check some primitive/identifier formats (resource id characters in "
              "XML, empty values, decimal places, Identifier.system absolute)",
    "unknown-profile": "we report a meta.profile / entry profile we don't have as a warning; "
                       "Java as an error ('Unknown profile', 'Specified profile … not found')",
    "unknown-ext": "we don't report unresolvable extension URLs as errors (Java: 'could not be "
                   "found so is not allowed here')",
    "ext-rules": "we don't check some extension rules (context of use, sub-extension URLs, "
                 "versioned extension URLs, relative Extension.url)",
    "qr": "we don't validate a QuestionnaireResponse against its Questionnaire (answer types, "
          "options, min/max, lengths, required items, enableWhen, linkIds)",
    "q-def": "we don't check Questionnaire definitions (enableWhen targets; que-12 as Java "
             "corrected it: '> 1', not the R4 '> 2')",
    "bundle-refs": "we don't resolve references inside a Bundle/document (target missing, "
                   "ambiguous or of the wrong type, entries unreachable from the Composition, "
                   "unresolved '#' or contained references)",
    "bundle-rules": "we don't check some Bundle rules (absolute fullUrl, fullUrl required, "
                    "RESTful fullUrl without resource id, search-set ids and types, link "
                    "relations, duplicate ids)",
    "xhtml": "we don't check narrative links, XHTML entities, HTML in markdown, or narrative "
             "language/source rules",
    "security": "we have no security-checks mode (HTML-like content in strings)",
    "dsig": "we don't verify digital signatures",
    "urls": "we don't check URL forms (absolute canonicals, lowercase UUIDs, Coding.system "
            "naming a ValueSet or relative, relative-reference format, example.org URLs, "
            "urn:ietf:rfc:3986 identifiers)",
    "conformance": "we don't check conformance resources' own rules (StructureDefinition "
                   "differential/snapshot generation, obligation profiles, CodeSystem / "
                   "ValueSet / SearchParameter / OperationDefinition / CapabilityStatement / "
                   "ConceptMap consistency)",
    "measure": "we don't check Measure/MeasureReport rules (groups and stratifiers against the "
               "Measure, subject lists, CQL libraries) — Measure/Library are not even "
               "loadable by our registry",
    "attachment": "we don't check Attachment size/data consistency",
    "json-syntax": "our JSON parser stops at the first syntax error; Java recovers and reports "
                   "each JSON problem",
    "xml-structure": "we don't report some XML structure problems (element order, undefined "
                     "elements, text in the wrong place, non-UTF-8 input)",
    "invariant": "an invariant Java evaluates to failure passes with us (e.g. per-1 with "
                 "start/end of different precision: our comparison yields empty = pass)",
    "profile": "we miss a profile or base-definition constraint (cardinality, slices, "
               "fixed/pattern values, min/max value and length, type choices, target "
               "profiles)",
    "binding": "we miss a required-binding error",
    "missed-other": "other missed errors",
    # extra errors (ours only)
    "x-closed-slice": "we report false slicing errors: Bundle entries Java matches to their "
                      "slices (by the entry resource's profile) match none with us ('does not "
                      "match any slice … closed', 'Slice X: minimum required')",
    "x-ref-type": "we check a reference's target type from the reference string alone "
                  "('Patient/x' where only List is allowed); Java does not (it checks resolved "
                  "targets)",
    "x-ext-context": "we report false extension-context errors (context by element path/type: "
                     "Patient.text vs DomainResource.text, Element contexts)",
    "x-unknown-modifier": "we report unknown (example.org) modifier extensions as errors; Java "
                          "allows example URLs",
    "x-dom3": "we report false dom-3 (contained resource not referenced) errors",
    "x-invariant": "we report an invariant failure Java does not (txt-2 on a whitespace-only "
                   "narrative)",
    "x-parse": "we report a parse error where Java reports a different problem (empty "
               "elements, value-less primitives)",
    "x-reference": "we reject reference values Java accepts ('XXX/_history/1', malformed "
                   "urn:uuid, bare ids)",
    "x-json-comments": "we reject JSON with comments; Java accepts them (manifest "
                       "allow-comments / json5 mode)",
    "x-fhirpath": "our FHIRPath engine fails on a core invariant (tim-9: 'in' on a collection)",
    "x-code": "we report a code missing from a local CodeSystem as an error where Java does not",
    "x-format": "we report false primitive/format errors",
    "x-other": "other false errors",
    "x-harness": "our validator did not run (supporting XML not convertible: xsi:schemaLocation, "
                 "element order)",
    "count-only": "error count differs (Java expectation gives only a count)",
}

MISSED_RULES = [  # (category id, test(issue, run)) — first match wins
    ("expectation", _wrong_expectation),
    ("vitals", _rx(r"magic LOINC code|/StructureDefinition/(bp|bodytemp|bodyheight|bodyweight|"
                   r"heartrate|resprate|oxygensat|headcircum|bmi|vitalsigns|vitalspanel)\|")),
    ("tx", _rx(r"Wrong Display Name|Invalid ECL|Unknown code '[^']*' in the CodeSystem "
               r"'(http://snomed|http://loinc|http://unitsofmeasure|http://hl7\.org/fhir/sid|"
               r"urn:iso)|system 'http://snomed|valid in the system http://snomed|in system "
               r"'http://snomed|terminology server|tx\.fhir\.org|Unable to check whether|"
               r"in the system 'urn:iso|not declared in the base CodeSystem http://loinc")),
    ("parse-stop", lambda i, r: bool(r.get("parse_failed"))),
    ("snapshot", _snapshot_missing),
    ("profile-unresolved", _profile_unresolved),
    ("type-profile", _rx(r"Unable to find a match for the specified profile among choices|"
                         r"Unable to find a profile match for|\(validating against ")),
    ("xver", _rx(r"must not be used as an (extension|modifier)|/fhir/[0-9.]+/StructureDefinition/")),
    ("unknown-profile", _rx(r"Unknown profile|Specified profile .* not found|Unable to resolve "
                            r"the profile reference")),
    ("unknown-ext", _rx(r"could not be found so is not allowed here")),
    ("ext-rules", _rx(r"is not allowed to be used at this point|Sub-extension url|extension URL "
                      r"must not contain a version|Extension\.url must be an absolute|"
                      r"Extension .* definition allows for the type")),
    ("qr", _path(r"QuestionnaireResponse")),
    ("q-def", _path(r"Questionnaire")),
    ("bundle-refs", _rx(r"in the bundle|isn't reachable by traversing|Multiple matches in bundle|"
                        r"Matching reference for reference|Bundled or contained reference|"
                        r"Unable to resolve resource with reference|stylesheet reference|"
                        r"matches for fragment|ref-1:|is not referenced to from elsewhere")),
    ("bundle-rules", _rx(r"fullUrl|Search results must have ids|specified search|"
                         r"not an OperationOutcome|link relationship type|Duplicate id value")),
    ("xhtml", _rx(r"Hyperlink|XHTML|xhtml|markdown|narrative for the language")),
    ("security", _rx(r"embedded HTML tags|security")),
    ("dsig", _rx(r"[Ss]ignature")),
    ("urls", _rx(r"Canonical URLs|UUIDs must be valid|Coding\.system must be an absolute|"
                 r"references a value set, not a code system|Relative URLs must be|"
                 r"Example URLs|must be a full URI|is not a valid reference|in the reference "
                 r".* is not (valid|allowed)|refers to a resource that has the wrong type")),
    ("measure", _path(r"Measure(Report)?\b")),
    ("conformance", lambda i, r: bool(
        re.match(r"(StructureDefinition|ValueSet|CodeSystem|SearchParameter|OperationDefinition|"
                 r"CapabilityStatement|ConceptMap|ImplementationGuide)\b", i["path"] or "") or
        re.search(r"Error generating Snapshot|[Oo]bligation|supplement", i["message"] or ""))),
    ("attachment", _rx(r"[Aa]ttachment|base64")),
    ("format", _rx(r"Invalid Resource id|value cannot be empty|Identifier\.system must be an "
                   r"absolute|decimal value is greater|too many decimal")),
    ("json-syntax", _rx(r"JSON|[Cc]omma|quotes|Comments are not allowed")),
    ("xml-structure", _rx(r"out of order|Undefined element|Text should not be present|"
                          r"Primitive types must have a value|Unrecognised|namespace|Undefined attribute")),
    ("double", _same_element_reported),
    ("invariant", _rx(r"Constraint failed")),
    ("profile", _rx(r"minimum required|max allowed|[Ss]lice|fixed|pattern|maxValue|minValue|"
                    r"maximum value|minimum value|minimum length|[Pp]rofile|type .* not valid|"
                    r"not a valid Target|allows for the type")),
    ("binding", _rx(r"value set|ValueSet|[Cc]ode")),
]

EXTRA_RULES = [
    ("expectation", _wrong_expectation),
    ("x-harness", _rx(r"^\[harness\]")),
    ("x-closed-slice", _rx(r"does not match any slice .* slicing is closed|Slice '[^']*' of "
                           r".*minimum required")),
    ("x-ref-type", _rx(r"is not allowed here; allowed targets")),
    ("x-ext-context", _rx(r"is not allowed on .*\(allowed on")),
    ("x-unknown-modifier", _rx(r"Unknown modifier extension")),
    ("x-dom3", _rx(r"dom-3")),
    ("x-invariant", _rx(r"Constraint failed")),
    ("x-parse", _rx(r"^(empty element|element '[^']*' has no value)")),
    ("x-reference", _rx(r"Invalid reference")),
    ("x-json-comments", _rx(r"invalid JSON: unexpected character '/'")),
    ("x-fhirpath", _rx(r"could not be evaluated")),
    ("x-code", _rx(r"Unknown code")),
    ("x-format", _rx(r"does not match|not a valid|invalid")),
]


def categorize(res):
    cats = collections.Counter()
    for m in res["missed"]:
        cats[first_match(MISSED_RULES, m, res, "missed-other")] += 1
    for e in res["extra"]:
        cats[first_match(EXTRA_RULES, e, res, "x-other")] += 1
    for p in res["pairs"]:
        if p["how"] == "syntax" and p["expected"]["path"] != p["ours"]["path"]:
            cats["path:syntax"] += 1
        elif p["how"] != "exact":
            cats["path:" + path_diff_kind(p["expected"]["path"], p["ours"]["path"])] += 1
    if res["expected_error_count"] is not None and not res["expected_paths_known"] and \
            not res["count_agree"]:
        cats["count-only"] += 1
    res["categories"] = dict(cats)


def first_match(rules, issue, res, default):
    for cat, test in rules:
        if test(issue, res):
            return cat
    return default


PATH_KINDS = {
    "path:xpath": "path format differs: Java gives an XPath (`/f:Observation/f:status`) for "
                  "issues found while parsing XML; we give the FHIRPath",
    "path:choice": "path format differs: we name a choice element by its JSON name "
                   "(`Observation.valueInteger`), Java `Observation.value.ofType(integer)`",
    "path:child": "path format differs: we report on a child of the element Java reports on "
                  "(e.g. `Bundle.entry[0].fullUrl` vs `Bundle.entry[0]`, "
                  "`Patient.name[0].extension[0]` vs `Patient.name[0]`)",
    "path:parent": "path format differs: we report on the parent of the element Java reports on",
    "path:[0]": "path format differs: `[0]` index only",
    "path:index": "path format differs: index differs",
    "path:none": "path format differs: one side gives no path",
    "path:syntax": "path format differs on JSON/XML syntax errors: Java gives no path or the "
                   "resource, we give the element being parsed",
    "path:other": "path differs (same line, different element)",
}


def path_diff_kind(theirs, ours):
    if not theirs or not ours:
        return "none"
    if theirs.startswith("/") or "/f:" in theirs or theirs.startswith("(xml)"):
        return "xpath"
    if drop_zero(theirs) == drop_zero(ours):
        return "[0]"
    if drop_index(theirs) == drop_index(ours):
        return "index"
    if ".ofType(" in theirs and drop_index(json_choice_name(theirs)) == drop_index(ours):
        return "choice"
    if ours.startswith(theirs):
        return "child"
    if theirs.startswith(ours):
        return "parent"
    return "other"


def category_label(c):
    return CATEGORIES.get(c) or PATH_KINDS.get(c) or c


# ----------------------------------------------------------------------------------------------
# Report

def pct(a, b):
    return "%.1f %%" % (100.0 * a / b) if b else "-"


def short(s, n=120):
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[:n - 1] + "…"


def md_cell(s):
    return (s or "").replace("|", "\\|").replace("\n", " ")


def issue_list(issues):
    if not issues:
        return "—"
    return "<br>".join(md_cell("`%s`: %s" % (i["path"] or "(no path)", short(i["message"])))
                       for i in issues)


def totals_row(label, runs):
    n = len(runs)
    pk = [r for r in runs if r["path_agree"] is not None]
    return "| %s | %d | %s | %s | %s | %s | %s |" % (
        label, n,
        pct(sum(r["verdict_agree"] for r in runs), n),
        pct(sum(r["count_agree"] for r in runs), n),
        pct(sum(bool(r["path_agree"]) for r in pk), len(pk)),
        pct(sum(bool(r["path_agree_no0"]) for r in pk), len(pk)),
        pct(sum(r["agree"] for r in runs), n))


TOTALS_HEAD = ("| | runs | verdict agrees | error count agrees | error paths agree (exact) | "
               "error paths agree (`[0]` dropped) | full agreement |\n|---|---:|---:|---:|---:|"
               "---:|---:|")


def write_report(out, runs, skipped, meta):
    tx = [r for r in runs if r["module"] in TX_MODULES]
    notx = [r for r in runs if r["module"] not in TX_MODULES]
    dis = [r for r in runs if not r["agree"]]
    L = []
    L.append("# HL7 validator test cases (FHIR/fhir-test-cases) — our validator vs the Java "
             "reference validator\n")
    L.append("Generated by `tests/hl7-validator-cases/run.py`; fhir-test-cases commit `%s`; "
             "gateway `%s` (%s). A *run* is one validation: the base validation of a case, or its "
             "`profile` step (validation against the case's profile). Expected = the Java "
             "validator's OperationOutcome in `validator/outcomes/java/`. Errors = severity "
             "error + fatal; warnings and information are not compared.\n"
             % (meta["commit"], meta["gateway"], meta["label"]))
    L.append("## Analysis\n")
    L.append(analysis(notx, tx))
    L.append("### Disagreement categories, ranked\n")
    L.append("Each missed Java error, extra error of ours, and error paired only after path "
             "normalisation is put in one category by its message (rules in `run.py`: "
             "`MISSED_RULES`, `EXTRA_RULES`). *Runs* = disagreeing non-tx runs with the "
             "category; *fixed alone* = runs where it is the only category, i.e. that fixing "
             "this alone would turn into full agreement; *issues* = errors in the category "
             "(non-tx runs); runs of the tx/tx-advanced modules are counted apart in the "
             "last column. Ranked by *fixed alone*, then *runs*.\n")
    L.append(category_table(dis))
    L.append("\n## Totals\n")
    L.append(TOTALS_HEAD)
    L.append(totals_row("all runs (tx excluded)", notx))
    L.append(totals_row("— base validation", [r for r in notx if r["step"] == "base"]))
    L.append(totals_row("— profile step", [r for r in notx if r["step"] == "profile"]))
    L.append(totals_row("tx / tx-advanced modules (need a terminology server)", tx))
    L.append(totals_row("everything", runs))
    L.append("")
    nj = [r for r in notx if r["expected_error_count"]]
    L.append("Of the %d non-tx runs, Java finds errors in %d (%s of which we also find "
             "errors in); Java finds none in %d (%s of which we also find none).\n" % (
                 len(notx), len(nj), pct(sum(r["our_error_count"] > 0 for r in nj), len(nj)),
                 len(notx) - len(nj),
                 pct(sum(r["our_error_count"] == 0 for r in notx if not r["expected_error_count"]),
                     len(notx) - len(nj))))
    L.append("Path columns count only runs whose expectation lists issues (%d of %d runs; the "
             "others give just an error count)." % (
                 sum(r["path_agree"] is not None for r in runs), len(runs)))
    L.append("Verdict/count/path columns are independent; *full agreement* = verdict, count "
             "and exact paths all agree.\n")
    L.append("## Per module\n")
    L.append(TOTALS_HEAD)
    for mod in sorted({r["module"] for r in runs}):
        L.append(totals_row(mod, [r for r in runs if r["module"] == mod]))
    L.append("\n## Skipped\n")
    L.append("The manifest has %d R4 cases (`version` 4.0 or 4.0.1); %d were run (base "
             "validation), %d of them also with their profile: %d runs. %d cases or profile "
             "steps were not run:\n" % (meta["r4_cases"], sum(r["step"] == "base" for r in runs),
                         sum(r["step"] == "profile" for r in runs), len(runs), len(skipped)))
    L.append("| reason | count | examples |\n|---|---:|---|")
    by = collections.defaultdict(list)
    for s in skipped:
        by[re.sub(r"\(.*", "(...)", s["reason"]) if s["reason"].startswith("needs packages")
           else s["reason"]].append(s["name"])
    for reason, names in sorted(by.items(), key=lambda kv: -len(kv[1])):
        L.append("| %s | %d | %s |" % (md_cell(reason), len(names), md_cell(", ".join(names[:4]))))
    opts = collections.Counter(o for r in runs for o in r["options"])
    if opts:
        L.append("\nRun anyway although they set Java-validator options we have no equivalent "
                 "for: " + ", ".join("`%s` ×%d" % kv for kv in opts.most_common()) + ".\n")
    L.append("\n## Path format\n")
    L.append(meta["path_note"])
    L.append("\n## Every disagreement (%d runs)\n" % len(dis))
    L.append("Sorted by module, then case. *Δ* = our error count − Java's. "
             "Categories are those computed above.\n")
    L.append("| case | module | step | Java errors: path: message | our errors: path: message "
             "| Δ | categories |\n|---|---|---|---|---|---:|---|")
    for r in sorted(dis, key=lambda r: (r["module"], r["name"], r["step"])):
        exp = errors(r["expected"]) if r["expected_paths_known"] else None
        exp_cell = issue_list(exp) if exp is not None else \
            "(count only: %s)" % r["expected_error_count"]
        L.append("| %s | %s | %s | %s | %s | %+d | %s |" % (
            md_cell(r["name"]), r["module"], r["step"], exp_cell, issue_list(errors(r["ours"])),
            r["our_error_count"] - (r["expected_error_count"] or 0),
            md_cell("; ".join(sorted(r["categories"])))))
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(L) + "\n")


KIND_LABELS = {
    "missing": "a check we lack (Java reports an error we don't)",
    "false": "a false error of ours",
    "path": "the same error reported at a differently written or neighbouring path",
    "counting": "Java reporting one problem as two errors",
    "n/a": "not applicable offline or a test-case anomaly (terminology server, R5 expectation)",
    "harness": "our validator could not be run on the case",
    "unknown": "an error count that differs where Java gives no issue list",
}


def kind(c):
    if c in ("tx", "expectation"):
        return "n/a"
    if c == "double":
        return "counting"
    if c.startswith("path:"):
        return "path"
    if c == "x-harness":
        return "harness"
    if c.startswith("x-"):
        return "false"
    if c in ("count-only", "(none)"):
        return "unknown"
    return "missing"


def analysis(notx, tx):
    n = len(notx)
    agree = [r for r in notx if r["agree"]]
    dis = [r for r in notx if not r["agree"]]
    fn = sum(1 for r in notx if r["expected_error_count"] and not r["our_error_count"])
    fp = sum(1 for r in notx if not r["expected_error_count"] and r["our_error_count"])
    L = []
    L.append("**Headline (%d runs outside the tx modules).** Full agreement (verdict, error "
             "count and error paths) in %d runs = **%s**; verdict agrees in %s, error count in "
             "%s, error paths in %s. Verdict disagreements: %d runs Java finds invalid and we "
             "find valid (missed), %d runs Java finds valid and we find invalid (false alarm). "
             "The %d tx/tx-advanced runs, which need a terminology server, agree fully in %s.\n"
             % (n, len(agree), pct(len(agree), n),
                pct(sum(r["verdict_agree"] for r in notx), n),
                pct(sum(r["count_agree"] for r in notx), n),
                pct(sum(bool(r["path_agree"]) for r in notx),
                    sum(r["path_agree"] is not None for r in notx)),
                fn, fp, len(tx), pct(sum(r["agree"] for r in tx), len(tx))))
    kinds = collections.Counter()
    only = collections.Counter()
    for r in dis:
        ks = {kind(c) for c in r["categories"]} or {"unknown"}
        for k in ks:
            kinds[k] += 1
        if len(ks) == 1:
            only[next(iter(ks))] += 1
    L.append("**What the %d disagreeing runs consist of** (a run can have several causes; "
             "*only* = the run's sole kind of cause):\n" % len(dis))
    L.append("| kind of cause | runs | only |\n|---|---:|---:|")
    for k, v in kinds.most_common():
        L.append("| %s | %d | %d |" % (KIND_LABELS[k], v, only[k]))
    benign = {"path", "counting", "n/a"}
    lenient = len(agree) + sum(1 for r in dis if r["categories"] and
                               {kind(c) for c in r["categories"]} <= benign)
    L.append("\nAccepting path-format and counting differences and leaving out the n/a causes, "
             "%d of %d runs (%s) would agree. The ranking below says which single fixes turn "
             "the most runs into full agreement.\n" % (lenient, n, pct(lenient, n)))
    return "\n".join(L)


def category_rows(dis):
    rows = collections.defaultdict(lambda: {"runs": [], "alone": [], "tx": [], "issues": 0})
    for r in dis:
        cats = r["categories"] or {"(none)": 0}
        for c, n in cats.items():
            if r["module"] in TX_MODULES:
                rows[c]["tx"].append(r)
                continue
            rows[c]["runs"].append(r)
            rows[c]["issues"] += n
            if len(cats) == 1:
                rows[c]["alone"].append(r)
    return sorted(rows.items(), key=lambda kv: (-len(kv[1]["alone"]), -len(kv[1]["runs"]),
                                                -len(kv[1]["tx"])))


def category_table(dis):
    L = ["| # | id | kind | cause on our side | runs | fixed alone | issues | examples | "
         "tx-module runs |", "|---:|---|---|---|---:|---:|---:|---|---:|"]
    for k, (c, v) in enumerate(category_rows(dis), 1):
        ex = (v["alone"] or v["runs"] or v["tx"])[:2]
        L.append("| %d | `%s` | %s | %s | %d | %d | %d | %s | %d |" % (
            k, c, kind(c), md_cell(category_label(c)), len(v["runs"]), len(v["alone"]),
            v["issues"],
            ", ".join("`%s`%s" % (r["name"], " (profile)" if r["step"] == "profile" else "")
                      for r in ex), len(v["tx"])))
    return "\n".join(L)


PATH_NOTE = """Java writes FHIRPath-like locations with every repeating element indexed
(`Patient.name[0].given[0]`), choice elements as `Observation.value.ofType(Quantity)`, a comment
naming the resource after a Bundle entry or contained resource
(`Bundle.entry[0].resource/*Patient/123*/.name[0]`), a selector on some extensions
(`Patient.extension[1][url='x']`), an XPath (`/f:Patient/f:name/f:text`) for some issues found
while parsing XML, and no path for JSON syntax errors. The harness strips the comments and the
`[url=...]` selectors, then compares the multisets of error paths exactly and with every `[0]`
removed.

Our validator (`Issue::expression`) writes the same dotted form with an index on every element
of an array (`Bundle.entry[0].fullUrl`, `Patient.name[0].given[1]`), no comment or selector,
and choice elements as `value.ofType(Quantity)` in validation issues but by their JSON name
(`Observation.valueInteger`) in parse issues; a JSON syntax error gets the element being parsed
(`Bundle.entry[0].resource.name[0]`) or none. So the index conventions agree and dropping `[0]`
changes nothing; the differences are *where* an issue is reported: Java puts cardinality
errors on the parent (`Patient` for `Patient.identifier: minimum required`, we do the same),
fullUrl problems on `Bundle.entry[n]` (we: `Bundle.entry[n].fullUrl`), extension-context
problems on the extended element (we: on the extension).

For the categories, errors are paired stage by stage: same path; without `[0]`; without any
index; Java `x.ofType(T)` read as `xT`; parent/child at most two levels apart when the two
messages share a significant token (URL, quoted value, element name); both JSON/XML syntax
errors; and, when Java gives an XPath or no path, the same line (Java `diagnostics` `[L,C]`, our
`location` `line L, col C`). Pairs after the first stage are *path format differs*.
"""


def write_results(out, runs, skipped, meta):
    data = {"meta": meta, "skipped": skipped, "runs": runs}
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, ensure_ascii=False)


# ----------------------------------------------------------------------------------------------

def extract(gitdir, dest):
    """Extracts validator/ from a git directory blob by blob (the mirror lacks a few large
    blobs, which makes `git archive` stop)."""
    ls = subprocess.run(["git", "-C", gitdir, "ls-tree", "-r", "-z", "HEAD", "validator"],
                        capture_output=True, check=True).stdout.split(b"\0")
    entries = []
    for e in ls:
        if not e:
            continue
        meta, path = e.split(b"\t", 1)
        mode, typ, sha = meta.split()
        if typ == b"blob" and mode != b"120000":
            entries.append((sha.decode(), path.decode()))
    cat = subprocess.Popen(["git", "-C", gitdir, "cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    missing = []
    for sha, path in entries:
        cat.stdin.write((sha + "\n").encode())
        cat.stdin.flush()
        head = cat.stdout.readline().split()
        if head[-1] == b"missing":
            missing.append(path)
            continue
        data = cat.stdout.read(int(head[2]))
        cat.stdout.read(1)
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data)
    cat.stdin.close()
    cat.wait()
    head = subprocess.run(["git", "-C", gitdir, "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    with open(os.path.join(dest, "COMMIT"), "w") as fh:
        fh.write(head + "\n")
    print("extracted %d files to %s (%d blobs missing in the mirror: %s)"
          % (len(entries) - len(missing), dest, len(missing), ", ".join(missing)),
          file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="/tmp/fhir-test-cases/validator",
                    help="the validator/ folder of a fhir-test-cases checkout")
    ap.add_argument("--gateway", default="build/gateway/fhir-gateway")
    ap.add_argument("--out", default="build/hl7-validator-cases")
    ap.add_argument("--extract-from", metavar="GITDIR",
                    help="first extract validator/ from this git directory (HEAD) into the "
                         "parent of --cases")
    ap.add_argument("--only", metavar="REGEX", help="only cases whose name matches")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--label", help="what was built (default: the project's git HEAD)")
    args = ap.parse_args()

    cases_dir = os.path.abspath(args.cases)
    if args.extract_from:
        extract(args.extract_from, os.path.dirname(cases_dir))
    manifest_file = os.path.join(cases_dir, "manifest.json")
    if not os.path.exists(manifest_file):
        sys.exit("no %s: extract fhir-test-cases first (see README.md, or --extract-from)"
                 % manifest_file)
    gateway = os.path.abspath(args.gateway)
    if not os.access(gateway, os.X_OK):
        sys.exit("no executable gateway at %s (--gateway)" % gateway)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    with open(manifest_file, encoding="utf-8") as fh:
        manifest = json.load(fh)

    items, skipped = select(manifest, cases_dir)
    if args.only:
        rx = re.compile(args.only)
        items = [i for i in items if rx.search(i["case"]["name"])]
    gw = Gateway(gateway, args.timeout)
    workdir = tempfile.mkdtemp(prefix="hl7-cases-")
    try:
        # XML supporting files are converted once, before the parallel runs.
        for it in items:
            c = it["case"]
            files = case_inputs(c) + (list(c["profile"].get("supporting") or []) +
                                      [c["profile"]["source"]] if it["step"] == "profile" else [])
            for f in files:
                p = os.path.join(cases_dir, f)
                if os.path.exists(p):
                    try:
                        gw.to_json(p)
                    except Exception:  # noqa: BLE001 - reported per case by build_package
                        pass
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as ex:
            runs = list(ex.map(lambda it: run_one(gw, cases_dir, workdir, it), items))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    base_errors = {r["name"]: {(i["path"], i["message"]) for i in errors(r["expected"])}
                   for r in runs if r["step"] == "base"}
    for r in runs:
        r["no_snapshot"] = sorted({m.group(1) for i in r["ours"] for m in [re.match(
            r"Profile (\S+) has no snapshot", i["message"] or "")] if m})
        r["base_errors"] = base_errors.get(r["name"], set())
        r["unknown_profiles"] = sorted({m.group(1) for i in r["ours"] for m in [re.match(
            r"Profile (\S+) is not known here", i["message"] or "")] if m})
        categorize(r)
        del r["base_errors"]

    commit = "unknown"
    git = os.path.join(os.path.dirname(cases_dir), ".git")
    if os.path.exists(os.path.join(os.path.dirname(cases_dir), "COMMIT")):
        with open(os.path.join(os.path.dirname(cases_dir), "COMMIT")) as fh:
            commit = fh.read().strip()
    elif os.path.isdir(git):
        commit = subprocess.run(["git", "-C", os.path.dirname(cases_dir), "rev-parse", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or commit
    label = args.label or "project HEAD " + (subprocess.run(
        ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True).stdout.strip() or "unknown")
    meta = {"commit": commit, "gateway": gateway, "cases": cases_dir,
            "path_note": PATH_NOTE, "label": label,
            "r4_cases": sum(c.get("version") in R4_VERSIONS for c in manifest["test-cases"])}
    write_report(out, runs, skipped, meta)
    write_results(out, runs, skipped, meta)

    notx = [r for r in runs if r["module"] not in TX_MODULES]
    print("%d runs (%d tx), %d skipped; non-tx: verdict %s, count %s, paths %s, full %s -> %s"
          % (len(runs), len(runs) - len(notx), len(skipped),
             pct(sum(r["verdict_agree"] for r in notx), len(notx)),
             pct(sum(r["count_agree"] for r in notx), len(notx)),
             pct(sum(bool(r["path_agree"]) for r in notx),
                 sum(r["path_agree"] is not None for r in notx)),
             pct(sum(r["agree"] for r in notx), len(notx)),
             os.path.join(out, "report.md")))


if __name__ == "__main__":
    main()
