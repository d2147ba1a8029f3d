#include "tests/mappings/clinic_support.h"

#include <filesystem>
#include <memory>

#include "mappings/clinic_package.h"

namespace hoa::testing {
namespace {

struct Loaded {
  std::unique_ptr<fhir::Registry> registry;
  std::unique_ptr<fhir::Validator> validator;
  std::string error;
};

const Loaded& loaded() {
  static const Loaded l = [] {
    Loaded out;
    if (!std::filesystem::exists(fhir::Registry::defaultCorePackageDir())) return out;
    auto reg = std::make_unique<fhir::Registry>();
    if (!clinic::loadClinicRegistry(*reg, clinic::defaultMappingsDir(), out.error)) return out;
    out.validator = std::make_unique<fhir::Validator>(*reg);
    out.registry = std::move(reg);
    return out;
  }();
  return l;
}

}  // namespace

const fhir::Registry* clinicRegistry() { return loaded().registry.get(); }
const fhir::Validator* clinicValidator() { return loaded().validator.get(); }
const std::string& clinicLoadError() { return loaded().error; }

}  // namespace hoa::testing
