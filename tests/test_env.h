#pragma once
// Where the tests find their data. Every function returns an empty path when the
// data is absent; tests that need it skip loudly, naming what is missing.
#include <filesystem>
#include <string>

namespace hoa::testing {

// ../shared beside the checkout (override: HOA_SHARED_DIR).
std::filesystem::path sharedDir();
// The FHIR R4 core package folder holding the *.json files (override: HOA_FHIR_PACKAGE_DIR);
// default ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package.
std::filesystem::path fhirPackageDir();
// tests/data in the source tree.
std::filesystem::path testDataDir();
// The repository root.
std::filesystem::path sourceDir();
// Reads a whole file; throws std::runtime_error when it cannot.
std::string readFile(const std::filesystem::path& p);

}  // namespace hoa::testing

namespace hoa::fhir {
class Registry;
}
namespace hoa::testing {
// The FHIR R4 core definitions, loaded once per process; nullptr when the package is
// absent (tests then skip, saying so).
const hoa::fhir::Registry* coreRegistry();
}  // namespace hoa::testing

#include <gtest/gtest.h>

namespace hoa::testing {
// Base for tests that need the core definitions: skips loudly when the package is
// absent. Base is ::testing::Test or ::testing::TestWithParam<T>.
template <class Base = ::testing::Test>
class CoreRegistryTestBase : public Base {
 protected:
  void SetUp() override {
    reg_ = coreRegistry();
    if (!reg_) GTEST_SKIP() << "FHIR package hl7.fhir.r4.examples#4.0.1 not found: run ./dev setup";
  }
  const hoa::fhir::Registry* reg_ = nullptr;
};
using CoreRegistryTest = CoreRegistryTestBase<>;
}  // namespace hoa::testing
