#pragma once
// Shared by the benchmark harnesses (format_bench.cc, fhirpath_bench.cc,
// validate_bench.cc): reading files and the package's list of clinical examples.
#include <filesystem>
#include <string>
#include <vector>

namespace hoa::bench {

// Reads a whole file; false when it cannot.
bool readFile(const std::filesystem::path& p, std::string& out);

// Whether a package file is a clinical example: its resourceType is not a conformance
// resource type, and for a Bundle at most half of its entries are conformance resources.
// The npm side (bench/npm-fhir/*.js) applies the same rule. `error` is set when the file
// cannot be read or is not a JSON object.
bool isClinicalExample(const std::filesystem::path& file, std::string& error);

// The clinical examples of a package folder, sorted by name; empty with `error` set when
// a file cannot be read.
std::vector<std::filesystem::path> clinicalExamples(const std::filesystem::path& dir, std::string& error);

}  // namespace hoa::bench
