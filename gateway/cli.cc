#include "gateway/cli.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fhir/definitions.h"
#include "fhir/fhirpath.h"
#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/terminology.h"
#include "fhir/validator.h"
#include "mappings/clinic_package.h"
#include "mappings/intake.h"
#include "mappings/referral.h"
#include "gateway/http.h"
#include "gateway/server.h"
#include "gateway/timeutil.h"

namespace hoa::gateway {
namespace {

constexpr const char* kUsage =
    "usage: fhir-gateway <command> [options]\n"
    "\n"
    "commands:\n"
    "  convert [--to json|xml] [--pretty] [--package DIR] FILE|-\n"
    "      Reads a FHIR R4 resource (JSON or XML, detected from the content) and writes it\n"
    "      in the other format (or the one --to names) to stdout. Exit 0 on success; on\n"
    "      bad input the problems, with line/column and element path, go to stderr and\n"
    "      the exit code is 1. Usage errors exit 2.\n"
    "\n"
    "  fhirpath [--input FILE|-] [--package DIR] [--] EXPR...\n"
    "      Evaluates each FHIRPath expression with the resource in FILE (JSON or XML) as\n"
    "      the focus and %resource, or on an empty input without --input; with an input,\n"
    "      expressions are checked against its type. Prints one line per expression, in\n"
    "      order: a JSON array of {\"type\": T, \"value\": V}, T the FHIRPath type name\n"
    "      (\"string\", \"integer\", \"HumanName\", \"Patient\", ...), V the FHIRPath string form\n"
    "      of a System value or FHIR primitive, the FHIR JSON object of a complex element\n"
    "      or resource (of its id and extensions for a primitive without a value), and\n"
    "      {\"namespace\", \"name\"} for the result of type(); or {\"error\": MESSAGE} when the\n"
    "      expression does not compile (the message gives line and column) or fails to\n"
    "      evaluate. Exit 0, or 1 when any line is an error; 2 on usage errors (no\n"
    "      expression, unreadable or invalid input: the problems go to stderr).\n"
    "\n"
    "  validate [--profile URL]... [--package DIR]... FILE...\n"
    "      Validates each FHIR R4 resource (JSON or XML) against the loaded definitions:\n"
    "      the core R4 package, then every further --package folder (profiles, value\n"
    "      sets, code systems), and the profiles each --profile names or the resource\n"
    "      claims in meta.profile. Prints one line per file: {\"file\": NAME, \"outcome\":\n"
    "      OperationOutcome}. Exit 0 when no file has an error or fatal issue, 1 otherwise,\n"
    "      2 on usage errors.\n"
    "\n"
    "  map [--lang nb|en] [--allow-synthetic-ids] [--clinic-her-id ID] [--received-at INSTANT]\n"
    "      [--id ID] [--mappings DIR] FILE|-\n"
    "      Validates one referral (a ServiceRequest with contained resources, a transaction\n"
    "      Bundle or a message Bundle; JSON or XML) against FHIR R4, the clinic's profiles\n"
    "      and business rules, and maps it to the clinic's internal model. Accepted: exit 0\n"
    "      and {\"referral\": MODEL, \"outcome\": OperationOutcome (warnings)}. Rejected:\n"
    "      exit 1 and {\"outcome\": OperationOutcome}. Messages in bokmål unless --lang en.\n"
    "      --received-at defaults to now (it sets the assessment deadline), --id to a new\n"
    "      UUID; synthetic test national ids are refused unless --allow-synthetic-ids.\n"
    "      --mappings: the folder with package/ and referral.map.json (default\n"
    "      $HOA_MAPPINGS_DIR or this source tree's mappings/). Usage errors exit 2.\n"
    "\n"
    "  serve [--config FILE] [--port N] [--data-dir DIR] [--certs DIR]\n"
    "      Runs the gateway: FHIR REST (/fhir) and the clinic API (/clinic) over HTTPS\n"
    "      with client certificates, storing in SQLite, until SIGINT or SIGTERM.\n"
    "      Defaults: port 8443, data in ./var, certificates in ./var/certs; the keys of\n"
    "      the JSON configuration file are in docs/configuration.md.\n"
    "\n"
    "options:\n"
    "  --package DIR   convert, fhirpath: the FHIR R4 core package folder (default\n"
    "                  $HOA_FHIR_PACKAGE_DIR or ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package);\n"
    "                  validate: a further package to load beside that core (repeatable)\n";

bool readInput(const std::string& name, std::istream& in, std::string& text, std::string& error) {
  std::ostringstream ss;
  if (name == "-") {
    ss << in.rdbuf();
  } else {
    std::ifstream f(name, std::ios::binary);
    if (!f) {
      error = "cannot read " + name;
      return false;
    }
    ss << f.rdbuf();
  }
  text = std::move(ss).str();
  return true;
}

int convert(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
            std::ostream& err) {
  std::string to, file, packageDir;
  bool pretty = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--to" && i + 1 < args.size()) {
      to = args[++i];
      if (to != "json" && to != "xml") {
        err << "fhir-gateway convert: --to takes json or xml, not '" << to << "'\n";
        return 2;
      }
    } else if (a == "--pretty") {
      pretty = true;
    } else if (a == "--package" && i + 1 < args.size()) {
      packageDir = args[++i];
    } else if ((a.starts_with("--") && a != "-") || !file.empty()) {
      err << "fhir-gateway convert: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    } else {
      file = a;
    }
  }
  if (file.empty()) {
    err << "fhir-gateway convert: no input file (use - for standard input)\n" << kUsage;
    return 2;
  }
  fhir::Registry registry;
  std::string error;
  if (!registry.loadPackage(packageDir.empty() ? fhir::Registry::defaultCorePackageDir()
                                               : std::filesystem::path(packageDir),
                            error)) {
    err << "fhir-gateway: cannot load the FHIR definitions: " << error << "\n";
    return 2;
  }
  std::string text;
  if (!readInput(file, in, text, error)) {
    err << "fhir-gateway convert: " << error << "\n";
    return 1;
  }
  auto format = fhir::sniffFormat(text);
  if (to.empty()) to = format == fhir::Format::Xml ? "json" : "xml";
  fhir::ParseResult result = fhir::parse(registry, std::move(text));
  const std::string where = file == "-" ? "<stdin>" : file;
  if (!result.ok()) {
    for (const fhir::Issue& i : result.issues.items)
      err << where << ": " << fhir::severityCode(i.severity) << ": " << i.toString() << "\n";
    return 1;
  }
  fhir::WriteOptions wo;
  wo.pretty = pretty;
  if (to == "json") {
    out << fhir::writeJson(*result.doc.root(), wo) << "\n";
    return 0;
  }
  std::string xml;
  fhir::Issues issues;
  if (!fhir::writeXml(*result.doc.root(), xml, issues, wo)) {
    for (const fhir::Issue& i : issues.items)
      err << where << ": " << fhir::severityCode(i.severity) << ": " << i.toString() << "\n";
    return 1;
  }
  out << xml;
  if (!pretty) out << "\n";
  return 0;
}


// --- fhirpath ---------------------------------------------------------------------------

// FHIR JSON of a node's children (the members of its object), for results that are not
// whole resources: fhir::writeJson writes resources only (it always starts with
// "resourceType"). Repeating elements become arrays (ElementDef::max), primitives are
// written by TypeInfo::jsonKind (numbers and booleans unquoted), a primitive's id and
// extension go to the "_name" form; nested resources are written by fhir::writeJson.
class NodeJsonWriter {
 public:
  explicit NodeJsonWriter(std::string& out) : out_(out) {}

  void value(const fhir::Node& n) {
    if (n.isResource()) {
      out_ += fhir::writeJson(n);
      return;
    }
    out_ += '{';
    members(n);
    out_ += '}';
  }

 private:
  void key(std::string_view k, bool& first) {
    if (!first) out_ += ',';
    first = false;
    json::appendQuoted(out_, k);
    out_ += ':';
  }

  void primitive(const fhir::Node& n) {
    if (!n.hasValue) {
      out_ += "null";
      return;
    }
    switch (n.type->jsonKind) {
      case fhir::JsonKind::Boolean:
      case fhir::JsonKind::Integer:
      case fhir::JsonKind::Decimal:
        out_ += n.value;
        break;
      default:
        json::appendQuoted(out_, n.value);
    }
  }

  void members(const fhir::Node& n) {
    bool first = true;
    const auto& kids = n.children;
    for (size_t i = 0; i < kids.size();) {
      size_t j = i + 1;
      while (j < kids.size() && kids[j]->def == kids[i]->def) ++j;
      const fhir::Node& head = *kids[i];
      const fhir::ElementDef* def = head.def;
      const std::string name = def ? fhir::propertyName(*def, *head.type) : std::string(head.name());
      const bool repeats = def && def->repeats();
      if (head.isPrimitive()) {
        bool anyValue = false, anyExtras = false;
        for (size_t k = i; k < j; ++k) {
          anyValue |= kids[k]->hasValue;
          anyExtras |= !kids[k]->children.empty();
        }
        if (anyValue) {
          key(name, first);
          if (repeats) out_ += '[';
          for (size_t k = i; k < (repeats ? j : i + 1); ++k) {
            if (k > i) out_ += ',';
            primitive(*kids[k]);
          }
          if (repeats) out_ += ']';
        }
        if (anyExtras) {
          key("_" + name, first);
          if (repeats) out_ += '[';
          for (size_t k = i; k < (repeats ? j : i + 1); ++k) {
            if (k > i) out_ += ',';
            if (kids[k]->children.empty()) {
              out_ += "null";
            } else {
              out_ += '{';
              members(*kids[k]);
              out_ += '}';
            }
          }
          if (repeats) out_ += ']';
        }
      } else {
        key(name, first);
        if (repeats) out_ += '[';
        for (size_t k = i; k < (repeats ? j : i + 1); ++k) {
          if (k > i) out_ += ',';
          value(*kids[k]);
        }
        if (repeats) out_ += ']';
      }
      i = j;
    }
  }

  std::string& out_;
};

void appendItem(std::string& out, const fhir::fhirpath::Item& item) {
  using fhir::fhirpath::ItemKind;
  out += "{\"type\":";
  json::appendQuoted(out, item.typeName());
  out += ",\"value\":";
  if (item.kind() == ItemKind::TypeSpec) {
    out += "{\"namespace\":";
    json::appendQuoted(out, item.typeSpec().ns);
    out += ",\"name\":";
    json::appendQuoted(out, item.typeSpec().name);
    out += '}';
  } else if (item.isNode() && (!item.node()->isPrimitive() || !item.node()->hasValue)) {
    // A complex element or resource; or a primitive with only an id and extensions,
    // written as its "_name" object.
    NodeJsonWriter(out).value(*item.node());
  } else {
    json::appendQuoted(out, item.toString());
  }
  out += '}';
}

void appendError(std::string& out, std::string_view message) {
  out += "{\"error\":";
  json::appendQuoted(out, message);
  out += '}';
}

int validateCommand(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                    std::ostream& err) {
  std::vector<std::string> files, packages;
  fhir::ValidationOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--profile" && i + 1 < args.size()) {
      options.profiles.push_back(args[++i]);
    } else if (a == "--package" && i + 1 < args.size()) {
      packages.push_back(args[++i]);
    } else if (a.starts_with("--")) {
      err << "fhir-gateway validate: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    err << "fhir-gateway validate: no file to validate (use - for standard input)\n" << kUsage;
    return 2;
  }
  std::string error;
  fhir::Registry registry;
  if (!registry.loadPackage(fhir::Registry::defaultCorePackageDir(), error)) {
    err << "fhir-gateway: cannot load the FHIR definitions: " << error << "\n";
    return 2;
  }
  std::error_code ec;
  const auto core = std::filesystem::weakly_canonical(fhir::Registry::defaultCorePackageDir(), ec);
  for (const std::string& p : packages) {
    if (std::filesystem::weakly_canonical(p, ec) == core) continue;  // the core is loaded already
    if (!registry.loadPackage(p, error)) {
      err << "fhir-gateway validate: cannot load the package " << p << ": " << error << "\n";
      return 2;
    }
  }
  fhir::Validator validator(registry);
  int code = 0;
  for (const std::string& file : files) {
    std::string text;
    if (!readInput(file, in, text, error)) {
      err << "fhir-gateway validate: " << error << "\n";
      return 2;
    }
    fhir::ParseResult parsed = fhir::parse(registry, std::move(text));
    fhir::Issues issues = parsed.issues;
    if (parsed.doc.root()) {  // as the HL7 validator does, go on after parse errors
      fhir::Issues more = validator.validate(*parsed.doc.root(), options);
      issues.items.insert(issues.items.end(), more.items.begin(), more.items.end());
    }
    if (issues.hasErrors()) code = 1;
    std::string line = "{\"file\":";
    json::appendQuoted(line, file == "-" ? "<stdin>" : file);
    line += ",\"outcome\":";
    line += issues.toOperationOutcomeJson(false);
    line += "}\n";
    out << line;
  }
  return code;
}

int fhirpathCommand(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                    std::ostream& err) {
  std::string input, packageDir;
  bool haveInput = false;
  std::vector<std::string> exprs;
  bool optionsDone = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (optionsDone || !a.starts_with("--")) {
      exprs.push_back(a);
    } else if (a == "--") {
      optionsDone = true;
    } else if (a == "--input" && i + 1 < args.size()) {
      if (haveInput) {
        err << "fhir-gateway fhirpath: --input given twice\n" << kUsage;
        return 2;
      }
      input = args[++i];
      haveInput = true;
    } else if (a == "--package" && i + 1 < args.size()) {
      packageDir = args[++i];
    } else {
      err << "fhir-gateway fhirpath: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (exprs.empty()) {
    err << "fhir-gateway fhirpath: no expression\n" << kUsage;
    return 2;
  }
  if (haveInput && input.empty()) {
    err << "fhir-gateway fhirpath: --input needs a file name (use - for standard input)\n";
    return 2;
  }
  std::string text, error;
  // Read the input before loading the definitions: an unreadable file fails fast.
  if (haveInput && !readInput(input, in, text, error)) {
    err << "fhir-gateway fhirpath: " << error << "\n";
    return 2;
  }
  fhir::Registry registry;
  if (!registry.loadPackage(packageDir.empty() ? fhir::Registry::defaultCorePackageDir()
                                               : std::filesystem::path(packageDir),
                            error)) {
    err << "fhir-gateway: cannot load the FHIR definitions: " << error << "\n";
    return 2;
  }
  fhir::ParseResult parsed;
  const fhir::Node* focus = nullptr;
  if (haveInput) {
    parsed = fhir::parse(registry, std::move(text));
    if (!parsed.ok()) {
      const std::string where = input == "-" ? "<stdin>" : input;
      for (const fhir::Issue& i : parsed.issues.items)
        err << where << ": " << fhir::severityCode(i.severity) << ": " << i.toString() << "\n";
      return 2;
    }
    focus = parsed.doc.root();
  }

  fhir::fhirpath::CompileOptions options;
  options.focusType = focus ? focus->type : nullptr;
  // memberOf() expands value sets from the loaded definitions.
  fhir::RegistryTerminology terminology(registry);
  fhir::fhirpath::Environment env;
  env.terminology = &terminology;
  int code = 0;
  std::string line;
  for (const std::string& expr : exprs) {
    line.clear();
    fhir::fhirpath::CompileError cerr;
    fhir::fhirpath::ExpressionPtr compiled = fhir::fhirpath::compile(registry, expr, cerr, options);
    if (!compiled) {
      appendError(line, cerr.toString());
      code = 1;
    } else {
      fhir::fhirpath::Result result = fhir::fhirpath::evaluate(*compiled, focus, env);
      if (!result.ok()) {
        appendError(line, result.error);
        code = 1;
      } else {
        line += '[';
        for (size_t k = 0; k < result.items.size(); ++k) {
          if (k) line += ',';
          appendItem(line, result.items[k]);
        }
        line += ']';
      }
    }
    line += '\n';
    out << line;
  }
  out.flush();
  return code;
}

}  // namespace

int mapCommand(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err) {
  std::string file, mappingsDir;
  clinic::IntakeConfig config;
  clinic::IntakeContext ctx;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool hasValue = i + 1 < args.size();
    if (a == "--lang" && hasValue) {
      const std::string& l = args[++i];
      if (l != "nb" && l != "en" && l != "no") {
        err << "fhir-gateway map: --lang is nb or en\n";
        return 2;
      }
      ctx.lang = clinic::langFromTag(l);
    } else if (a == "--allow-synthetic-ids") {
      config.allowSyntheticIds = true;
    } else if (a == "--clinic-her-id" && hasValue) {
      config.clinicHerId = args[++i];
    } else if (a == "--received-at" && hasValue) {
      ctx.receivedAt = args[++i];
      if (!clinic::osloDateOf(ctx.receivedAt)) {
        err << "fhir-gateway map: --received-at needs an instant such as 2026-11-20T09:15:00Z\n";
        return 2;
      }
    } else if (a == "--id" && hasValue) {
      ctx.id = args[++i];
    } else if (a == "--mappings" && hasValue) {
      mappingsDir = args[++i];
    } else if (a.starts_with("--") || !file.empty()) {
      err << "fhir-gateway map: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    } else {
      file = a;
    }
  }
  if (file.empty()) {
    err << "fhir-gateway map: no file (use - for standard input)\n" << kUsage;
    return 2;
  }
  std::string text, error;
  if (!readInput(file, in, text, error)) {
    err << "fhir-gateway map: " << error << "\n";
    return 2;
  }
  if (ctx.receivedAt.empty()) ctx.receivedAt = nowInstant();  // milliseconds, UTC
  if (ctx.id.empty()) ctx.id = newId();
  const std::filesystem::path dir = mappingsDir.empty() ? clinic::defaultMappingsDir() : std::filesystem::path(mappingsDir);
  fhir::Registry registry;
  if (!clinic::loadClinicRegistry(registry, dir, error)) {
    err << "fhir-gateway map: " << error << "\n";
    return 2;
  }
  fhir::Validator validator(registry);
  auto intake = clinic::ReferralIntake::create(registry, validator, (dir / "referral.map.json").string(), config, error);
  if (!intake) {
    err << "fhir-gateway map: " << error << "\n";
    return 2;
  }
  fhir::ParseResult parsed = fhir::parse(registry, std::move(text));
  if (!parsed.doc.root() || parsed.issues.hasErrors()) {
    out << "{\"outcome\":" << parsed.issues.toOperationOutcomeJson(false) << "}\n";
    return 1;
  }
  clinic::IntakeResult result = intake->process(*parsed.doc.root(), ctx);
  fhir::Issues issues = parsed.issues;
  issues.items.insert(issues.items.end(), result.issues.items.begin(), result.issues.items.end());
  if (!result.accepted()) {
    out << "{\"outcome\":" << issues.toOperationOutcomeJson(false) << "}\n";
    return 1;
  }
  out << "{\"referral\":" << clinic::toJson(result.referral) << ",\"outcome\":" << issues.toOperationOutcomeJson(false)
      << "}\n";
  return 0;
}

int runCli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
           std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "convert") return convert(rest, in, out, err);
  if (args[0] == "fhirpath") return fhirpathCommand(rest, in, out, err);
  if (args[0] == "validate") return validateCommand(rest, in, out, err);
  if (args[0] == "map") return mapCommand(rest, in, out, err);
  if (args[0] == "serve") return serveCommand(rest);
  err << "fhir-gateway: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}

}  // namespace hoa::gateway
