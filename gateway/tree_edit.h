#pragma once
// Small edits of a parsed resource before it is stored: the server-assigned id and meta,
// references rewritten to the stored resources, links the gateway sets.
//
// Thread-safety: edits modify the Document; one thread at a time.
#include <functional>
#include <string_view>

#include "fhir/element.h"

namespace hoa::gateway {

// The type whose elements a node's children are (a backbone's inline type, else its type).
const fhir::TypeInfo* structureOf(const fhir::Node* n);
// The first child called `name`, created (empty) when there is none; nullptr when the
// type has no such element.
fhir::Node* ensureChild(fhir::Document& doc, fhir::Node* parent, std::string_view name);
// A new child (for repeating elements), after the existing ones; nullptr when unknown.
fhir::Node* addChild(fhir::Document& doc, fhir::Node* parent, std::string_view name);
// Sets a primitive child's value (created when missing); false when unknown.
bool setPrimitive(fhir::Document& doc, fhir::Node* parent, std::string_view name, std::string_view value);
// Removes every child called `name`.
void removeChildren(fhir::Node* parent, std::string_view name);
// Sets id, meta.versionId and meta.lastUpdated.
void setIdAndMeta(fhir::Document& doc, fhir::Node* resource, std::string_view id, int version,
                  std::string_view lastUpdated);
// Calls `fn` with every Reference.reference primitive node under `n`, contained resources
// included, nested Bundle entries excluded.
void forEachReference(fhir::Node* n, const std::function<void(fhir::Node& referenceValue)>& fn);

}  // namespace hoa::gateway
