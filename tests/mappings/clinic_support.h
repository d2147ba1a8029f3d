#pragma once
// Test support for the clinic layer: the FHIR R4 core package plus the clinic's package
// (mappings/package), loaded once per test process and shared read-only.
#include <string>

#include "fhir/definitions.h"
#include "fhir/validator.h"

namespace hoa::testing {

// nullptr when the core package is absent (tests skip, saying so); a load error of the
// clinic's own package fails the calling test with the message in clinicLoadError().
const fhir::Registry* clinicRegistry();
const fhir::Validator* clinicValidator();
const std::string& clinicLoadError();

}  // namespace hoa::testing

// Skips the test when the core FHIR package is absent, fails it when the clinic's package
// does not load; else binds `reg` and `validator`.
#define HOA_REQUIRE_CLINIC_REGISTRY(reg, validator)                                                    \
  const ::hoa::fhir::Registry* reg = ::hoa::testing::clinicRegistry();                                 \
  if (!reg && ::hoa::testing::clinicLoadError().empty())                                              \
    GTEST_SKIP() << "FHIR package hl7.fhir.r4.examples#4.0.1 not found: run ./dev setup";             \
  ASSERT_NE(reg, nullptr) << ::hoa::testing::clinicLoadError();                                        \
  const ::hoa::fhir::Validator* validator = ::hoa::testing::clinicValidator();                         \
  (void)validator
