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

const Node* findContained(const Node* resource, std::string_view id) {
  if (!resource) return nullptr;
  for (const Node* c : resource->children) {
    if (c->def->name != "contained") continue;
    const Node* i = c->child("id");
    if (i && i->value == id) return c;
  }
  return nullptr;
}

const Node* findBundleEntry(const Node& bundle, std::string_view ref) {
  if (ref.empty()) return nullptr;
  std::string_view typeId = ref;
  size_t hist = typeId.find("/_history/");
  if (hist != std::string_view::npos) typeId = typeId.substr(0, hist);
  for (const Node* e : bundle.children) {
    if (e->def->name != "entry") continue;
    const Node* fu = e->child("fullUrl");
    const Node* res = e->child("resource");
    if (!res) continue;
    if (fu && fu->value == ref) return res;
    const Node* id = res->child("id");
    if (!id || !id->hasValue) continue;
    // typeId is "Type/id" or ends with "/Type/id".
    const std::string& type = res->type->name;
    std::string_view v = id->value;
    size_t keyLen = type.size() + 1 + v.size();
    if (typeId.size() < keyLen || !typeId.ends_with(v)) continue;
    std::string_view head = typeId.substr(typeId.size() - keyLen, type.size() + 1);
    if (head.substr(0, type.size()) != type || head.back() != '/') continue;
    if (typeId.size() == keyLen || typeId[typeId.size() - keyLen - 1] == '/') return res;
  }
  return nullptr;
}

}  // namespace hoa::fhir
