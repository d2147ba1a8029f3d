#include "fhir/element.h"

#include <algorithm>
#include <cstring>

namespace hoa::fhir {

const Node* Node::child(std::string_view n) const {
  for (const Node* c : children)
    if (c->name() == n) return c;
  return nullptr;
}

Node* Node::child(std::string_view n) {
  for (Node* c : children)
    if (c->name() == n) return c;
  return nullptr;
}

std::vector<const Node*> Node::childrenNamed(std::string_view n) const {
  std::vector<const Node*> out;
  for (const Node* c : children)
    if (c->name() == n) out.push_back(c);
  return out;
}

Document::Document() : arena_(std::make_unique<std::pmr::monotonic_buffer_resource>(16384)) {}
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;
Document::~Document() = default;

Node* Document::newNode(const ElementDef* def, const TypeInfo* type) {
  void* mem = arena_->allocate(sizeof(Node), alignof(Node));
  Node* n = new (mem) Node(arena_.get());
  n->def = def;
  n->type = type;
  return n;
}

std::string_view Document::copy(std::string_view s) {
  if (s.empty()) return {};
  char* mem = static_cast<char*>(arena_->allocate(s.size(), 1));
  std::memcpy(mem, s.data(), s.size());
  return {mem, s.size()};
}

void Document::insertChild(Node* parent, Node* child) {
  auto& kids = parent->children;
  uint16_t idx = child->def ? child->def->index : 0;
  auto pos = std::upper_bound(kids.begin(), kids.end(), idx, [](uint16_t i, const Node* n) {
    return i < (n->def ? n->def->index : 0);
  });
  kids.insert(pos, child);
}

}  // namespace hoa::fhir
