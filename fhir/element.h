#pragma once
// The element model: one typed tree for any FHIR resource, whatever format it came in.
//
// A Node is an element (or a resource): its definition in the parent, its concrete type,
// for primitives the value's text exactly as received, and its children in definition
// order (repeats of one element stay together, in their original order). Primitive
// nodes hold their `id` and `extension` as children. Choice elements (value[x]) are
// resolved: the node's type is the chosen type. A narrative `div` is a primitive of type
// xhtml whose value is the XHTML text.
//
// Thread-safety: a Document may be read from many threads when no thread modifies it.
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"

namespace hoa::fhir {

class Document;

struct Node {
  const ElementDef* def = nullptr;  // the element in its parent; null for a root resource
  const TypeInfo* type = nullptr;   // the concrete type (resource, data type, backbone)
  std::string_view value;           // primitives: the value's text (valid if hasValue)
  bool hasValue = false;
  uint32_t line = 0;  // where the element started in the source, 1-based; 0 if unknown
  uint32_t column = 0;
  std::pmr::vector<Node*> children;

  explicit Node(std::pmr::memory_resource* mr) : children(mr) {}

  // The element name ("value" for valueQuantity); a root resource's is its type name.
  std::string_view name() const { return def ? std::string_view(def->name) : type->name; }
  bool isPrimitive() const { return type->kind == TypeKind::Primitive; }
  bool isResource() const { return type->kind == TypeKind::Resource; }
  // The first child with this element name, or nullptr.
  const Node* child(std::string_view name) const;
  Node* child(std::string_view name);
  // All children with this element name.
  std::vector<const Node*> childrenNamed(std::string_view name) const;
};

// Resolution inside a document, shared by FHIRPath's resolve(), the validator and the
// clinic's intake:
// The contained resource of `resource` with this id (without the '#'), or nullptr.
const Node* findContained(const Node* resource, std::string_view id);
// The resource of the entry of `bundle` that `reference` names: by fullUrl, or by
// "Type/id" — also as the tail of an absolute URL, and with any "/_history/v" ignored —
// or nullptr.
const Node* findBundleEntry(const Node& bundle, std::string_view reference);

// Owns a tree: its nodes and the text they point to.
class Document {
 public:
  Document();
  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;
  ~Document();

  Node* root() const { return root_; }
  void setRoot(Node* n) { root_ = n; }

  Node* newNode(const ElementDef* def, const TypeInfo* type);
  // Copies text into the document's arena.
  std::string_view copy(std::string_view s);
  // Keeps `owner` alive as long as the document, so views into what it owns stay valid.
  void keepAlive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }
  std::pmr::memory_resource* arena() const { return arena_.get(); }

  // Inserts `child` into `parent` keeping definition order (after existing repeats).
  static void insertChild(Node* parent, Node* child);

 private:
  std::unique_ptr<std::pmr::monotonic_buffer_resource> arena_;
  std::vector<std::shared_ptr<const void>> owners_;
  Node* root_ = nullptr;
};

}  // namespace hoa::fhir
