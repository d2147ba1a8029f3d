#include "mappings/clinic_package.h"

#include <cstdlib>

namespace hoa::clinic {

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
