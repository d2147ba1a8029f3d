#pragma once
// Where the clinic's declarative files live and how to load them: the FHIR package
// (mappings/package) and the mapping files (mappings/*.map.json).
//
// Thread-safety: pure functions; the registry is filled before it is shared.
#include <filesystem>
#include <string>

#include "fhir/definitions.h"

namespace hoa::clinic {

// Reads a whole (mapping or package) file; false and `error` when it cannot.
bool readTextFile(const std::filesystem::path& path, std::string& text, std::string& error);

// $HOA_MAPPINGS_DIR, else the mappings/ folder of the source tree this was built from.
std::filesystem::path defaultMappingsDir();

// Loads the FHIR R4 core package (Registry::defaultCorePackageDir()) and the clinic's
// package (<mappingsDir>/package) into `registry`.
bool loadClinicRegistry(fhir::Registry& registry, const std::filesystem::path& mappingsDir, std::string& error);

}  // namespace hoa::clinic
