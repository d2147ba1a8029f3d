#include "fhir/snapshot.h"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace hoa::fhir {
namespace {

constexpr std::string_view kCoreBase = "http://hl7.org/fhir/StructureDefinition/";

// A mutable JSON value. The loaded definitions are immutable json::Values; a snapshot
// is built from copies of their elements, edited, then written out and parsed into a
// json::Document like any loaded resource.
struct MMember;
struct MValue {
  json::Type type = json::Type::Null;
  bool boolean = false;
  std::string text;  // String: the text; Number: the literal
  std::vector<MValue> items;
  std::vector<MMember> members;

  static MValue copy(const json::Value& v);
  static MValue string(std::string_view s);
  static MValue fromBool(bool b);
  static MValue object();
  static MValue array();

  const MValue* find(std::string_view key) const;
  MValue* find(std::string_view key);
  std::string_view str(std::string_view key) const;
  void erase(std::string_view key);
  // Sets member `key`: in place when present, else at its place in ElementDefinition's
  // member order (so generated elements read like published ones).
  void set(std::string_view key, MValue v);
  void write(std::string& out) const;
};
struct MMember {
  std::string key;
  MValue value;
};

MValue MValue::copy(const json::Value& v) {
  MValue m;
  m.type = v.type;
  m.boolean = v.boolean;
  switch (v.type) {
    case json::Type::String:
    case json::Type::Number:
      m.text = std::string(v.text);
      break;
    case json::Type::Array:
      m.items.reserve(v.size);
      for (const json::Value* item : v) m.items.push_back(copy(*item));
      break;
    case json::Type::Object:
      m.members.reserve(v.size);
      for (uint32_t i = 0; i < v.size; ++i)
        m.members.push_back({std::string(v.members[i].key), copy(*v.members[i].value)});
      break;
    default:
      break;
  }
  return m;
}

MValue MValue::string(std::string_view s) {
  MValue m;
  m.type = json::Type::String;
  m.text = std::string(s);
  return m;
}

MValue MValue::fromBool(bool b) {
  MValue m;
  m.type = json::Type::Bool;
  m.boolean = b;
  return m;
}

MValue MValue::object() {
  MValue m;
  m.type = json::Type::Object;
  return m;
}

MValue MValue::array() {
  MValue m;
  m.type = json::Type::Array;
  return m;
}

const MValue* MValue::find(std::string_view key) const {
  for (const MMember& m : members)
    if (m.key == key) return &m.value;
  return nullptr;
}

MValue* MValue::find(std::string_view key) {
  for (MMember& m : members)
    if (m.key == key) return &m.value;
  return nullptr;
}

std::string_view MValue::str(std::string_view key) const {
  const MValue* v = find(key);
  return v && v->type == json::Type::String ? std::string_view(v->text) : std::string_view();
}

void MValue::erase(std::string_view key) {
  std::erase_if(members, [&](const MMember& m) { return m.key == key; });
}

// The choice families of ElementDefinition ("fixedUri" is of family "fixed").
constexpr std::string_view kChoiceFamilies[] = {"defaultValue", "fixed", "pattern", "minValue", "maxValue"};

std::string_view choiceFamily(std::string_view key) {
  for (std::string_view f : kChoiceFamilies)
    if (key.size() > f.size() && key.starts_with(f) && key[f.size()] >= 'A' && key[f.size()] <= 'Z') return f;
  return {};
}

int elementKeyRank(std::string_view key) {
  static constexpr std::string_view kOrder[] = {
      "id",         "extension",    "modifierExtension", "path",           "representation",
      "sliceName",  "sliceIsConstraining", "label",      "code",           "slicing",
      "short",      "definition",   "comment",           "requirements",   "alias",
      "min",        "max",          "base",              "contentReference", "type",
      "defaultValue", "meaningWhenMissing", "orderMeaning", "fixed",        "pattern",
      "example",    "minValue",     "maxValue",          "maxLength",      "condition",
      "constraint", "mustSupport",  "isModifier",        "isModifierReason", "isSummary",
      "binding",    "mapping"};
  if (key.starts_with('_')) key.remove_prefix(1);
  std::string_view family = choiceFamily(key);
  if (!family.empty()) key = family;
  for (size_t i = 0; i < std::size(kOrder); ++i)
    if (kOrder[i] == key) return static_cast<int>(i);
  return static_cast<int>(std::size(kOrder));
}

void MValue::set(std::string_view key, MValue v) {
  if (MValue* existing = find(key)) {
    *existing = std::move(v);
    return;
  }
  int rank = elementKeyRank(key);
  auto at = std::find_if(members.begin(), members.end(),
                         [&](const MMember& m) { return elementKeyRank(m.key) > rank; });
  members.insert(at, MMember{std::string(key), std::move(v)});
}

void writeJson(const json::Value& v, std::string& out) {
  switch (v.type) {
    case json::Type::Null:
      out += "null";
      break;
    case json::Type::Bool:
      out += v.boolean ? "true" : "false";
      break;
    case json::Type::Number:
      out += v.text;
      break;
    case json::Type::String:
      json::appendQuoted(out, v.text);
      break;
    case json::Type::Array: {
      out += '[';
      for (uint32_t i = 0; i < v.size; ++i) {
        if (i) out += ',';
        writeJson(*v.items[i], out);
      }
      out += ']';
      break;
    }
    case json::Type::Object: {
      out += '{';
      for (uint32_t i = 0; i < v.size; ++i) {
        if (i) out += ',';
        json::appendQuoted(out, v.members[i].key);
        out += ':';
        writeJson(*v.members[i].value, out);
      }
      out += '}';
      break;
    }
  }
}

void MValue::write(std::string& out) const {
  switch (type) {
    case json::Type::Null:
      out += "null";
      break;
    case json::Type::Bool:
      out += boolean ? "true" : "false";
      break;
    case json::Type::Number:
      out += text;
      break;
    case json::Type::String:
      json::appendQuoted(out, text);
      break;
    case json::Type::Array:
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        items[i].write(out);
      }
      out += ']';
      break;
    case json::Type::Object:
      out += '{';
      for (size_t i = 0; i < members.size(); ++i) {
        if (i) out += ',';
        json::appendQuoted(out, members[i].key);
        out += ':';
        members[i].value.write(out);
      }
      out += '}';
      break;
  }
}

std::string upperFirst(std::string_view s) {
  std::string r(s);
  if (!r.empty() && r[0] >= 'a' && r[0] <= 'z') r[0] = static_cast<char>(r[0] - 'a' + 'A');
  return r;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

const json::Value* snapshotElements(const json::Value& sd) {
  const json::Value* snap = sd.find("snapshot");
  const json::Value* elems = snap ? snap->find("element") : nullptr;
  return elems && elems->isArray() && elems->size > 0 ? elems : nullptr;
}

// An element's id; the path (with the slice name) for definitions written without ids.
std::string elementId(const json::Value& ed) {
  std::string id(ed.getString("id"));
  if (!id.empty()) return id;
  id = std::string(ed.getString("path"));
  std::string_view slice = ed.getString("sliceName");
  if (!slice.empty()) id += ":" + std::string(slice);
  return id;
}

// One element of the snapshot under construction.
struct Slot {
  std::string id;
  MValue ed;        // the element as this profile makes it
  MValue pristine;  // as inherited, before the differential: what new slices copy
  bool inherited = false;  // from the base snapshot, or a copy of such (copied into new slices)
};

class Generator {
 public:
  Generator(const json::Value& sd, const DefinitionResolver& resolve)
      : sd_(sd), resolve_(resolve), url_(sd.getString("url")) {}

  bool run(json::Document& out, std::string& error) {
    bool ok = build() && write(out);
    if (!ok) error = error_;
    return ok;
  }
  bool dependencyFailed() const { return dependencyFailed_; }

 private:
  const json::Value& sd_;
  const DefinitionResolver& resolve_;
  std::string url_;
  std::vector<Slot> slots_;
  long last_ = -1;  // the element the previous differential element matched
  // Choice elements this profile sliced by type because of renamed paths
  // (Observation.valueQuantity): their type list is the renamed types.
  std::unordered_set<std::string> restrictedChoices_;
  std::string error_;
  bool dependencyFailed_ = false;

  // A failure because a definition it needs (base, type, type profile) is missing.
  bool failDependency(std::string_view elementId, const std::string& message) {
    dependencyFailed_ = true;
    return fail(elementId, message);
  }

  bool fail(std::string_view elementId, const std::string& message) {
    error_ = "cannot generate the snapshot of StructureDefinition " + url_ + ": ";
    if (!elementId.empty()) error_ += "element '" + std::string(elementId) + "': ";
    error_ += message;
    return false;
  }

  std::optional<size_t> findId(std::string_view id) const {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].id == id) return i;
    return std::nullopt;
  }

  static bool isBelow(std::string_view id, std::string_view parent, char sep) {
    return id.size() > parent.size() + 1 && id.starts_with(parent) && id[parent.size()] == sep;
  }

  bool hasDescendants(size_t i) const {
    return i + 1 < slots_.size() && isBelow(slots_[i + 1].id, slots_[i].id, '.');
  }

  void insertSlots(size_t at, std::vector<Slot> added) {
    if (static_cast<long>(at) <= last_) last_ += static_cast<long>(added.size());
    slots_.insert(slots_.begin() + static_cast<long>(at), std::make_move_iterator(added.begin()),
                  std::make_move_iterator(added.end()));
  }

  static void setId(Slot& s, const std::string& id) {
    s.id = id;
    s.ed.set("id", MValue::string(id));
    s.pristine.set("id", MValue::string(id));
  }

  bool build() {
    if (sd_.getString("derivation") != "constraint")
      return fail({}, "only constraint profiles (derivation 'constraint') get generated snapshots");
    std::string_view baseUrl = sd_.getString("baseDefinition");
    if (baseUrl.empty()) return fail({}, "it has no baseDefinition");
    const json::Value* base = resolve_(baseUrl);
    if (!base) return failDependency({}, "its base " + std::string(baseUrl) + " is unknown");
    const json::Value* baseElems = snapshotElements(*base);
    if (!baseElems) return failDependency({}, "its base " + std::string(baseUrl) + " has no snapshot");
    if (base->getString("type") != sd_.getString("type"))
      return fail({}, "its type '" + std::string(sd_.getString("type")) + "' is not its base's type '" +
                          std::string(base->getString("type")) + "'");
    slots_.reserve(baseElems->size + 16);
    for (const json::Value* e : *baseElems) {
      Slot s;
      s.ed = MValue::copy(*e);
      s.id = elementId(*e);
      if (s.ed.str("id").empty()) s.ed.set("id", MValue::string(s.id));
      s.pristine = s.ed;
      s.inherited = true;
      slots_.push_back(std::move(s));
    }
    const json::Value* diff = sd_.find("differential");
    const json::Value* diffElems = diff ? diff->find("element") : nullptr;
    if (!diffElems || !diffElems->isArray()) return fail({}, "it has no differential");
    std::vector<std::string> ids = differentialIds(*diffElems);
    for (uint32_t i = 0; i < diffElems->size; ++i) {
      const json::Value& d = *diffElems->items[i];
      if (!d.isObject()) return fail(ids[i], "a differential element is not an object");
      size_t at = 0;
      if (!locate(ids[i], at)) return false;
      if (static_cast<long>(at) == last_) return fail(ids[i], "appears twice in the differential");
      if (static_cast<long>(at) < last_)
        return fail(ids[i], "out of order: the differential must follow the order of the base, and it comes after '" +
                                slots_[static_cast<size_t>(last_)].id + "'");
      last_ = static_cast<long>(at);
      merge(d, slots_[at]);
    }
    return true;
  }

  // The id of each differential element; for elements without one (older authoring),
  // the path with the slice names of the enclosing slices, as the ids would have it.
  static std::vector<std::string> differentialIds(const json::Value& elems) {
    std::vector<std::string> ids;
    std::vector<std::pair<std::string, std::string>> slices;  // (path, id) of open slices
    for (const json::Value* d : elems) {
      std::string id(d->getString("id"));
      std::string path(d->getString("path"));
      std::string_view sliceName = d->getString("sliceName");
      while (!slices.empty() &&
             !(isBelow(path, slices.back().first, '.') || (path == slices.back().first && sliceName.empty())))
        slices.pop_back();
      if (id.empty()) {
        if (slices.empty())
          id = path;
        else if (path == slices.back().first)
          id = slices.back().second;
        else
          id = slices.back().second + path.substr(slices.back().first.size());
        if (!sliceName.empty()) id += ":" + std::string(sliceName);
      }
      if (!sliceName.empty()) slices.emplace_back(path, id);
      ids.push_back(std::move(id));
    }
    return ids;
  }

  // Finds the snapshot element of a differential id, creating slices and expanding
  // types on the way.
  bool locate(const std::string& diffId, size_t& out) {
    std::vector<std::string_view> segs = split(diffId, '.');
    if (segs[0] != slots_[0].id)
      return fail(diffId, "does not start with the profiled type '" + slots_[0].id + "'");
    size_t cur = 0;
    for (size_t k = 1; k < segs.size(); ++k) {
      std::string_view seg = segs[k];
      size_t colon = seg.find(':');
      std::string name(seg.substr(0, colon));
      std::string slice(colon == std::string_view::npos ? std::string_view() : seg.substr(colon + 1));
      bool isLast = k + 1 == segs.size();
      if (name.empty()) return fail(diffId, "has an empty path segment");
      std::string childId = slots_[cur].id + "." + name;
      std::optional<size_t> child = findId(childId);
      if (!child && !hasDescendants(cur)) {
        if (!expand(cur, diffId)) return false;
        child = findId(childId);
      }
      std::string renamedType;
      if (!child) {
        child = findRenamedChoice(cur, name, renamedType);
        if (child && !slice.empty())
          return fail(diffId, "a renamed choice element ('" + name + "') cannot carry a slice name");
      }
      if (!child)
        return fail(diffId, "no element '" + name + "' below '" + slots_[cur].id + "' in the base or its type");
      if (!renamedType.empty()) {
        restrictChoice(*child, renamedType);
        slice = name;
      }
      cur = *child;
      if (!slice.empty() && !locateSlice(cur, slice, isLast || !renamedType.empty(), diffId)) return false;
    }
    out = cur;
    return true;
  }

  // `cur` is the unsliced element; walks (and creates the last of) "a/b" re-slices.
  bool locateSlice(size_t& cur, const std::string& slice, bool mayCreate, const std::string& diffId) {
    const std::string unsliced = slots_[cur].id;
    std::vector<std::string_view> parts = split(slice, '/');
    std::string name;
    for (size_t j = 0; j < parts.size(); ++j) {
      if (parts[j].empty()) return fail(diffId, "has an empty slice name");
      if (!name.empty()) name += '/';
      name += parts[j];
      std::string sliceId = unsliced + ":" + name;
      std::optional<size_t> s = findId(sliceId);
      if (!s) {
        if (j + 1 < parts.size() || !mayCreate)
          return fail(diffId, "the slice '" + sliceId +
                                  "' is not defined: the differential must declare it before constraining inside it");
        size_t created = 0;
        if (!createSlice(cur, sliceId, name, diffId, created)) return false;
        s = created;
      }
      cur = *s;
    }
    return true;
  }

  static MValue defaultSlicing(std::string_view discriminatorType, std::string_view path, std::string_view rules) {
    MValue d = MValue::object();
    d.members.push_back({"type", MValue::string(discriminatorType)});
    d.members.push_back({"path", MValue::string(path)});
    MValue slicing = MValue::object();
    MValue ds = MValue::array();
    ds.items.push_back(std::move(d));
    slicing.members.push_back({"discriminator", std::move(ds)});
    slicing.members.push_back({"ordered", MValue::fromBool(false)});
    slicing.members.push_back({"rules", MValue::string(rules)});
    return slicing;
  }

  static std::string_view lastName(std::string_view id) {
    size_t dot = id.rfind('.');
    std::string_view last = dot == std::string_view::npos ? id : id.substr(dot + 1);
    return last.substr(0, last.find(':'));
  }

  // A new slice of slots_[slicedIndex] (an unsliced element, or a slice being re-sliced):
  // a copy of the sliced element as inherited and of its inherited descendants, placed
  // after the sliced element's descendants and existing slices.
  bool createSlice(size_t slicedIndex, const std::string& sliceId, const std::string& sliceName,
                   const std::string& diffId, size_t& out) {
    Slot& sliced = slots_[slicedIndex];
    const bool reslice = !sliced.ed.str("sliceName").empty();
    std::string_view name = lastName(sliced.id);
    if (!sliced.ed.find("slicing")) {
      // What every tool assumes when the author leaves it out.
      if (!reslice && (name == "extension" || name == "modifierExtension"))
        sliced.ed.set("slicing", defaultSlicing("value", "url", "open"));
      else if (!reslice && name.ends_with("[x]"))
        sliced.ed.set("slicing", defaultSlicing("type", "$this", "open"));
      else if (!reslice && sliced.ed.str("max") == "1")
        return fail(diffId, "'" + sliced.id + "' does not repeat and is not sliced: it cannot have slices");
      else
        return fail(diffId, "'" + sliced.id + "' is not sliced: the differential must give its slicing before its slices");
    }
    std::vector<Slot> added;
    Slot head;
    head.ed = sliced.pristine;
    head.ed.erase("slicing");
    head.ed.set("sliceName", MValue::string(sliceName));
    // The sliced element's minimum counts all its slices together: a slice is required
    // only when the differential says so.
    if (MValue* min = head.ed.find("min")) {
      min->type = json::Type::Number;
      min->text = "0";
    }
    // A type slice named for its type (value[x]:valueQuantity) allows that type only.
    if (!reslice && name.ends_with("[x]")) {
      std::string_view choice = name.substr(0, name.size() - 3);
      if (MValue* types = head.ed.find("type")) {
        for (const MValue& t : types->items) {
          if (std::string(choice) + upperFirst(t.str("code")) == sliceName) {
            MValue only = MValue::array();
            only.items.push_back(t);
            *types = std::move(only);
            break;
          }
        }
      }
    }
    head.pristine = head.ed;
    head.inherited = true;
    setId(head, sliceId);
    added.push_back(std::move(head));
    size_t at = slicedIndex + 1;
    for (; at < slots_.size() && isBelow(slots_[at].id, sliced.id, '.'); ++at) {
      if (!slots_[at].inherited) continue;
      Slot c;
      c.ed = slots_[at].pristine;
      c.pristine = c.ed;
      c.inherited = true;
      setId(c, sliceId + slots_[at].id.substr(sliced.id.size()));
      added.push_back(std::move(c));
    }
    while (at < slots_.size() && isBelow(slots_[at].id, sliced.id, reslice ? '/' : ':')) ++at;
    out = at;
    insertSlots(at, std::move(added));
    return true;
  }

  // R4's renamed choice: `name` is "valueQuantity" and `cur` has a child "value[x]"
  // allowing Quantity.
  std::optional<size_t> findRenamedChoice(size_t cur, std::string_view name, std::string& type) const {
    const std::string& parent = slots_[cur].id;
    for (size_t j = cur + 1; j < slots_.size() && isBelow(slots_[j].id, parent, '.'); ++j) {
      std::string_view rest = std::string_view(slots_[j].id).substr(parent.size() + 1);
      if (rest.find_first_of(".:") != std::string_view::npos || !rest.ends_with("[x]")) continue;
      std::string_view choice = rest.substr(0, rest.size() - 3);
      if (name.size() <= choice.size() || !name.starts_with(choice)) continue;
      if (const MValue* types = slots_[j].pristine.find("type")) {
        for (const MValue& t : types->items) {
          if (upperFirst(t.str("code")) == name.substr(choice.size())) {
            type = std::string(t.str("code"));
            return j;
          }
        }
      }
    }
    return std::nullopt;
  }

  // Slices a choice element by type for a renamed path, as the R4 publisher does: closed
  // type slicing, the element's types narrowed to the renamed ones.
  void restrictChoice(size_t index, const std::string& type) {
    Slot& s = slots_[index];
    if (!s.ed.find("slicing")) {
      s.ed.set("slicing", defaultSlicing("type", "$this", "closed"));
      s.ed.set("type", MValue::array());
      restrictedChoices_.insert(s.id);
    } else if (!restrictedChoices_.count(s.id)) {
      return;  // sliced already: its types are the author's
    }
    MValue* types = s.ed.find("type");
    for (const MValue& t : types->items)
      if (t.str("code") == type) return;
    if (const MValue* all = s.pristine.find("type"))
      for (const MValue& t : all->items)
        if (t.str("code") == type) types->items.push_back(t);
  }

  // Inserts the children of slots_[index] from its type (or single type profile, or
  // content reference), so the differential can constrain them.
  bool expand(size_t index, const std::string& diffId) {
    const Slot& s = slots_[index];
    const json::Value* def = nullptr;
    std::string rootId, what;
    std::string_view ref = s.ed.str("contentReference");
    if (!ref.empty()) {
      size_t hash = ref.find('#');
      std::string_view target = hash == std::string_view::npos ? ref : ref.substr(hash + 1);
      std::string url = std::string(kCoreBase) + std::string(target.substr(0, target.find('.')));
      def = resolve_(url);
      if (!def || !snapshotElements(*def))
        return failDependency(diffId, "the definition " + url + " that '" + s.id + "' refers to is not loaded");
      rootId = std::string(target);
      what = "content reference " + std::string(ref);
    } else {
      const MValue* types = s.ed.find("type");
      std::vector<std::string> codes, profiles;
      if (types) {
        for (const MValue& t : types->items) {
          std::string code(t.str("code"));
          if (std::find(codes.begin(), codes.end(), code) == codes.end()) codes.push_back(code);
          if (const MValue* ps = t.find("profile"))
            for (const MValue& p : ps->items)
              if (std::find(profiles.begin(), profiles.end(), p.text) == profiles.end()) profiles.push_back(p.text);
        }
      }
      if (codes.empty()) return fail(diffId, "'" + s.id + "' has no type whose children could be constrained");
      if (codes.size() > 1) {
        std::string list;
        for (const std::string& c : codes) list += (list.empty() ? "" : ", ") + c;
        return fail(diffId, "'" + s.id + "' has several types (" + list +
                                "): restrict it to one type, or use a type slice, before constraining its children");
      }
      if (profiles.size() == 1) {
        // An extension slice's definition, or a profiled data type: its own snapshot.
        def = resolve_(profiles[0]);
        if (!def) return failDependency(diffId, "the type profile " + profiles[0] + " of '" + s.id + "' is unknown");
        if (!snapshotElements(*def))
          return failDependency(diffId, "the type profile " + profiles[0] + " of '" + s.id + "' has no snapshot");
        what = "type profile " + profiles[0];
      } else {
        // Several profiles constrain the same type: only the type is common to them.
        std::string url = codes[0].find(':') != std::string::npos ? codes[0] : std::string(kCoreBase) + codes[0];
        def = resolve_(url);
        if (!def || !snapshotElements(*def))
          return failDependency(diffId, "the type '" + codes[0] + "' of '" + s.id + "' is not loaded");
        what = "type " + codes[0];
      }
      rootId = elementId(*snapshotElements(*def)->items[0]);
    }
    const json::Value* elems = snapshotElements(*def);
    // The path of the root the children hang from, to rewrite their paths.
    std::string rootPath;
    for (const json::Value* e : *elems) {
      if (elementId(*e) == rootId) {
        rootPath = std::string(e->getString("path"));
        break;
      }
    }
    if (rootPath.empty()) return fail(diffId, "'" + rootId + "' is not in " + what);
    const std::string path(s.ed.str("path"));
    std::vector<Slot> added;
    for (const json::Value* e : *elems) {
      std::string id = elementId(*e);
      std::string_view p = e->getString("path");
      if (!isBelow(id, rootId, '.') || !isBelow(p, rootPath, '.')) continue;
      Slot c;
      c.ed = MValue::copy(*e);
      c.ed.set("path", MValue::string(path + std::string(p.substr(rootPath.size()))));
      c.pristine = c.ed;
      setId(c, s.id + id.substr(rootId.size()));
      added.push_back(std::move(c));
    }
    if (added.empty()) return fail(diffId, "'" + s.id + "' (" + what + ") has no children to constrain");
    insertSlots(index + 1, std::move(added));
    return true;
  }

  // Appends the items of `from` that are not yet in `to` (by `same`).
  template <class Same>
  static void appendUnique(MValue& to, const json::Value& from, Same same) {
    for (const json::Value* item : from) {
      MValue v = MValue::copy(*item);
      bool present = std::any_of(to.items.begin(), to.items.end(), [&](const MValue& x) { return same(x, v); });
      if (!present) to.items.push_back(std::move(v));
    }
  }

  static MValue& arrayMember(MValue& ed, std::string_view key) {
    MValue* a = ed.find(key);
    if (!a || a->type != json::Type::Array) {
      ed.set(key, MValue::array());
      a = ed.find(key);
    }
    return *a;
  }

  // Applies a differential element to the snapshot element it matched.
  void merge(const json::Value& diff, Slot& s) {
    for (uint32_t i = 0; i < diff.size; ++i) {
      std::string_view key = diff.members[i].key;
      const json::Value& v = *diff.members[i].value;
      if (key == "id" || key == "path") continue;  // the snapshot's own (renamed choices, slices)
      if (key == "sliceName") {
        if (s.ed.str("sliceName").empty()) s.ed.set(key, MValue::copy(v));
        continue;
      }
      if (key == "constraint" && v.isArray()) {
        // Inherited constraints stay; a differential constraint with an inherited key
        // replaces it; new ones say where they come from.
        MValue& list = arrayMember(s.ed, key);
        for (const json::Value* c : v) {
          MValue mc = MValue::copy(*c);
          if (mc.type == json::Type::Object && !mc.find("source")) {
            auto at = std::find_if(mc.members.begin(), mc.members.end(),
                                   [](const MMember& m) { return m.key == "xpath"; });
            if (at != mc.members.end()) ++at;
            mc.members.insert(at, MMember{"source", MValue::string(url_)});
          }
          auto same = std::find_if(list.items.begin(), list.items.end(),
                                   [&](const MValue& x) { return x.str("key") == c->getString("key"); });
          if (same != list.items.end())
            *same = std::move(mc);
          else
            list.items.push_back(std::move(mc));
        }
        continue;
      }
      if (key == "condition" && v.isArray()) {
        appendUnique(arrayMember(s.ed, key), v, [](const MValue& a, const MValue& b) { return a.text == b.text; });
        continue;
      }
      if (key == "mapping" && v.isArray()) {
        appendUnique(arrayMember(s.ed, key), v, [](const MValue& a, const MValue& b) {
          return a.str("identity") == b.str("identity") && a.str("map") == b.str("map");
        });
        continue;
      }
      if (key == "extension" && v.isArray()) {
        // Extensions on the definition are inherited; the differential's replace those
        // with the same URL.
        MValue& list = arrayMember(s.ed, key);
        for (const json::Value* e : v) {
          MValue me = MValue::copy(*e);
          auto same = std::find_if(list.items.begin(), list.items.end(),
                                   [&](const MValue& x) { return x.str("url") == e->getString("url"); });
          if (same != list.items.end())
            *same = std::move(me);
          else
            list.items.push_back(std::move(me));
        }
        continue;
      }
      if ((key == "slicing" || key == "binding") && v.isObject()) {
        // Member by member: a profile on a profile may only close the slicing or
        // strengthen the binding, keeping the inherited discriminators or value set.
        MValue* inherited = s.ed.find(key);
        if (inherited && inherited->type == json::Type::Object) {
          for (uint32_t j = 0; j < v.size; ++j) {
            MValue item = MValue::copy(*v.members[j].value);
            if (MValue* same = inherited->find(v.members[j].key))
              *same = std::move(item);
            else
              inherited->members.push_back({std::string(v.members[j].key), std::move(item)});
          }
          continue;
        }
      }
      std::string_view family = choiceFamily(key.starts_with('_') ? key.substr(1) : key);
      if (!family.empty()) {
        // fixedUri replaces an inherited fixedString: one value per family.
        std::erase_if(s.ed.members, [&](const MMember& m) {
          std::string_view k = m.key;
          if (k.starts_with('_')) k.remove_prefix(1);
          return choiceFamily(k) == family;
        });
      }
      s.ed.set(key, MValue::copy(v));
    }
    if (const json::Value* types = diff.find("type")) addProfileConstraints(*types, s);
  }

  // An element whose type the differential sets to one profile (SimpleQuantity, an
  // extension definition) also carries the invariants of that profile's root, as the
  // published R4 snapshots do. Best effort: a profile that cannot be found adds nothing
  // here (the validator reports unknown profiles where they matter).
  void addProfileConstraints(const json::Value& types, Slot& s) {
    std::string_view profile;
    for (const json::Value* t : types) {
      const json::Value* ps = t->find("profile");
      if (!ps || !ps->isArray()) continue;
      for (const json::Value* p : *ps) {
        if (!profile.empty() && profile != p->text) return;
        profile = p->text;
      }
    }
    if (profile.empty()) return;
    const json::Value* def = resolve_(profile);
    const json::Value* elems = def ? snapshotElements(*def) : nullptr;
    const json::Value* constraints = elems ? elems->items[0]->find("constraint") : nullptr;
    if (!constraints || !constraints->isArray()) return;
    MValue& list = arrayMember(s.ed, "constraint");
    for (const json::Value* c : *constraints) {
      std::string_view key = c->getString("key");
      bool present = std::any_of(list.items.begin(), list.items.end(),
                                 [&](const MValue& x) { return x.str("key") == key; });
      if (!present) list.items.push_back(MValue::copy(*c));
    }
  }

  bool write(json::Document& out) {
    std::string text;
    text.reserve(slots_.size() * 2048);
    text += '{';
    bool first = true;
    auto member = [&](std::string_view key) {
      if (!first) text += ',';
      first = false;
      json::appendQuoted(text, key);
      text += ':';
    };
    auto writeSnapshot = [&] {
      member("snapshot");
      text += "{\"element\":[";
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (i) text += ',';
        slots_[i].ed.write(text);
      }
      text += "]}";
    };
    for (uint32_t i = 0; i < sd_.size; ++i) {
      std::string_view key = sd_.members[i].key;
      if (key == "snapshot") continue;
      if (key == "differential") writeSnapshot();
      member(key);
      writeJson(*sd_.members[i].value, text);
    }
    text += '}';
    json::Error err;
    out = json::Document::parse(std::move(text), err);
    if (err) return fail({}, "the generated snapshot does not parse: " + err.message);
    return true;
  }
};

// Generates missing snapshots depth-first: a definition's base (or a type profile it
// needs) is completed when the generator asks for it.
class Completer {
 public:
  Completer(const DefinitionResolver& resolve, std::vector<GeneratedSnapshot>& out) : resolve_(resolve), out_(out) {}

  const json::Value* complete(const json::Value* sd, std::string& error) {
    if (!needsSnapshot(*sd)) return sd;
    if (auto it = done_.find(sd); it != done_.end()) return out_[it->second].document.root();
    if (std::find(stack_.begin(), stack_.end(), sd) != stack_.end()) {
      std::string chain;
      for (auto it = std::find(stack_.begin(), stack_.end(), sd); it != stack_.end(); ++it)
        chain += std::string((*it)->getString("url")) + " -> ";
      chain += std::string(sd->getString("url"));
      error = "cannot generate the snapshot of StructureDefinition " + std::string(sd->getString("url")) +
              ": it depends on itself: " + chain;
      return nullptr;
    }
    stack_.push_back(sd);
    // Why the last definition this one needed could not be completed: when generation
    // fails for want of it, that is the message to give.
    std::string nested;
    DefinitionResolver inner = [&](std::string_view url) -> const json::Value* {
      const json::Value* r = resolve_(url);
      if (!r || !needsSnapshot(*r)) return r;
      std::string why;
      const json::Value* completed = complete(r, why);
      if (!completed) nested = why;
      return completed;
    };
    json::Document doc;
    std::string own;
    Generator g(*sd, inner);
    bool ok = g.run(doc, own);
    stack_.pop_back();
    if (!ok) {
      error = g.dependencyFailed() && !nested.empty() ? nested : own;
      return nullptr;
    }
    out_.push_back({sd, std::move(doc)});
    done_[sd] = out_.size() - 1;
    return out_.back().document.root();
  }

 private:
  const DefinitionResolver& resolve_;
  std::vector<GeneratedSnapshot>& out_;
  std::unordered_map<const json::Value*, size_t> done_;
  std::vector<const json::Value*> stack_;
};

}  // namespace

bool needsSnapshot(const json::Value& sd) {
  return sd.isObject() && sd.getString("resourceType") == "StructureDefinition" &&
         sd.getString("derivation") == "constraint" && sd.find("differential") && !sd.find("snapshot");
}

bool generateSnapshot(const json::Value& sd, const DefinitionResolver& resolve, json::Document& out,
                      std::string& error) {
  Generator g(sd, resolve);
  return g.run(out, error);
}

bool generateMissingSnapshots(const std::vector<const json::Value*>& structureDefinitions,
                              const DefinitionResolver& resolve, std::vector<GeneratedSnapshot>& out,
                              std::string& error) {
  Completer c(resolve, out);
  for (const json::Value* sd : structureDefinitions)
    if (needsSnapshot(*sd) && !c.complete(sd, error)) return false;
  return true;
}

}  // namespace hoa::fhir
