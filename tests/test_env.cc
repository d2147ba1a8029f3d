#include "tests/test_env.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hoa::testing {
namespace fs = std::filesystem;

namespace {
fs::path existing(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) ? p : fs::path();
}
}  // namespace

fs::path sharedDir() {
  if (const char* env = std::getenv("HOA_SHARED_DIR")) return existing(env);
  return existing(HOA_SHARED_DIR_DEFAULT);
}

fs::path fhirPackageDir() {
  if (const char* env = std::getenv("HOA_FHIR_PACKAGE_DIR")) return existing(env);
  const char* home = std::getenv("HOME");
  if (!home) return {};
  return existing(fs::path(home) / ".fhir/packages/hl7.fhir.r4.examples#4.0.1/package");
}

fs::path testDataDir() { return HOA_TESTDATA_DIR; }
fs::path sourceDir() { return HOA_SOURCE_DIR; }

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace hoa::testing

#include <iostream>
#include <memory>

#include "fhir/definitions.h"

namespace hoa::testing {
const hoa::fhir::Registry* coreRegistry() {
  static std::unique_ptr<hoa::fhir::Registry> reg = [] {
    auto dir = fhirPackageDir();
    if (dir.empty()) return std::unique_ptr<hoa::fhir::Registry>();
    auto r = std::make_unique<hoa::fhir::Registry>();
    std::string error;
    if (!r->loadPackage(dir, error)) {
      std::cerr << "cannot load the FHIR package " << dir << ": " << error << "\n";
      return std::unique_ptr<hoa::fhir::Registry>();
    }
    return r;
  }();
  return reg.get();
}
}  // namespace hoa::testing
