#include "gateway/tree_edit.h"

#include <algorithm>

namespace hoa::gateway {

using fhir::Node;

const fhir::TypeInfo* structureOf(const Node* n) {
  if (n->def && n->def->inlineType) return n->def->inlineType;
  return n->type;
}

namespace {

Node* newChild(fhir::Document& doc, Node* parent, std::string_view name) {
  const fhir::TypeInfo* st = structureOf(parent);
  if (!st) return nullptr;
  const fhir::TypeInfo::Property* prop = st->property(name);
  if (!prop || !prop->element || !prop->type) return nullptr;
  Node* child = doc.newNode(prop->element, prop->type);
  fhir::Document::insertChild(parent, child);
  return child;
}

}  // namespace

Node* ensureChild(fhir::Document& doc, Node* parent, std::string_view name) {
  if (Node* c = parent->child(name)) return c;
  return newChild(doc, parent, name);
}

Node* addChild(fhir::Document& doc, Node* parent, std::string_view name) { return newChild(doc, parent, name); }

bool setPrimitive(fhir::Document& doc, Node* parent, std::string_view name, std::string_view value) {
  Node* c = ensureChild(doc, parent, name);
  if (!c) return false;
  c->value = doc.copy(value);
  c->hasValue = true;
  return true;
}

void removeChildren(Node* parent, std::string_view name) {
  auto& ch = parent->children;
  ch.erase(std::remove_if(ch.begin(), ch.end(), [&](const Node* c) { return c->name() == name; }), ch.end());
}

void setIdAndMeta(fhir::Document& doc, Node* resource, std::string_view id, int version,
                  std::string_view lastUpdated) {
  setPrimitive(doc, resource, "id", id);
  if (Node* meta = ensureChild(doc, resource, "meta")) {
    setPrimitive(doc, meta, "versionId", std::to_string(version));
    setPrimitive(doc, meta, "lastUpdated", lastUpdated);
  }
}

void forEachReference(Node* n, const std::function<void(Node&)>& fn) {
  if (n->type && n->type->name == "Reference") {
    if (Node* r = n->child("reference"); r && r->hasValue) fn(*r);
  }
  for (Node* c : n->children) {
    if (c->def && c->def->isResource && c->def->name == "resource") continue;  // Bundle.entry.resource
    forEachReference(c, fn);
  }
}

}  // namespace hoa::gateway
