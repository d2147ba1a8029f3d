#include "gateway/cli.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fhir/definitions.h"
#include "fhir/format.h"

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
    "options common to all commands:\n"
    "  --package DIR   the FHIR R4 core package folder (default $HOA_FHIR_PACKAGE_DIR or\n"
    "                  ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package)\n";

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

}  // namespace

int runCli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
           std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "convert") return convert(rest, in, out, err);
  err << "fhir-gateway: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}

}  // namespace hoa::gateway
