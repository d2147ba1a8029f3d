#pragma once
// Snapshot generation: turns a constraint StructureDefinition that has only a
// `differential` (as profile authors write them) into one with a `snapshot`, from the
// snapshot of its base. The validator and the profile model work from snapshots only.
//
// What is supported (see docs/validation.md, "Snapshots"): merging differential elements
// into the base's elements by id (path when there is no id); slicing and re-slicing with
// slices copied from the sliced element; extension slices (default slicing by url);
// choice types restricted by type slices (`value[x]:valueQuantity`) or by R4's renamed
// paths (`Observation.valueQuantity`, made a closed type slice as the R4 publisher does);
// constraining children of an element whose children the base does not list, which are
// then expanded from the element's type (or its single type profile, e.g. an extension
// definition) or its contentReference. Errors name the profile and the element id.
//
// Thread-safety: the functions keep no state; the resolver is called from the calling
// thread only.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json.h"

namespace hoa::fhir {

// Finds a StructureDefinition by canonical URL (`url` or `url|version`); nullptr when
// unknown. The definitions it returns must outlive the call that uses the resolver.
using DefinitionResolver = std::function<const json::Value*(std::string_view url)>;

// Whether `sd` is a StructureDefinition whose snapshot must be generated: derivation
// `constraint`, a differential, no snapshot.
bool needsSnapshot(const json::Value& sd);

// Generates the snapshot of the constraint StructureDefinition `sd` from its differential
// and the snapshot of its base (`baseDefinition`). `resolve` finds the base, the types whose
// children the differential constrains and type profiles; they must have snapshots. Any
// snapshot `sd` already has is ignored and replaced. On success `out` holds the whole
// StructureDefinition (its members in order, `snapshot` before `differential`) and the
// result is true; otherwise `error` says which profile and element failed and why.
bool generateSnapshot(const json::Value& sd, const DefinitionResolver& resolve, json::Document& out,
                      std::string& error);

// One StructureDefinition completed by generateMissingSnapshots().
struct GeneratedSnapshot {
  const json::Value* original = nullptr;  // the definition as loaded (no snapshot)
  json::Document document;                // the same definition with its snapshot
};

// Generates the snapshot of every definition in `structureDefinitions` that needsSnapshot(),
// bases first (a profile on a profile, an extension profile used by a profile whose
// differential constrains the extension's children), each once. `resolve` is the loaded
// definitions by URL, as loaded; generated definitions take precedence inside. A cycle
// of bases, an unknown base or an element that cannot be placed fails the whole call.
bool generateMissingSnapshots(const std::vector<const json::Value*>& structureDefinitions,
                              const DefinitionResolver& resolve, std::vector<GeneratedSnapshot>& out,
                              std::string& error);

}  // namespace hoa::fhir
