#include "mappings/clinic_package.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hoa::clinic {

bool readTextFile(const std::filesystem::path& path, std::string& text, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read the file " + path.string();
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  text = ss.str();
  return true;
}

std::filesystem::path defaultMappingsDir() {
  if (const char* env = std::getenv("HOA_MAPPINGS_DIR"); env && *env) return env;
  return HOA_DEFAULT_MAPPINGS_DIR;
}

bool loadClinicRegistry(fhir::Registry& registry, const std::filesystem::path& mappingsDir, std::string& error) {
  if (!registry.loadPackage(fhir::Registry::defaultCorePackageDir(), error)) {
    error = "cannot load the FHIR R4 core package: " + error;
    return false;
  }
  if (!registry.loadPackage(mappingsDir / "package", error)) {
    error = "cannot load the clinic's package from " + (mappingsDir / "package").string() + ": " + error;
    return false;
  }
  return true;
}

}  // namespace hoa::clinic
