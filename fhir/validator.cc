#include "fhir/validator.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "fhir/fhirpath.h"
#include "fhir/format.h"
#include "fhir/format_common.h"
#include "fhir/primitives.h"
#include "fhir/profile.h"
#include "fhir/terminology.h"

namespace hoa::fhir {
namespace {

// Constraints evaluated natively because they run on every element: the native code is
// exactly the FHIRPath expression (tests compare the two on the whole example corpus).
enum class NativeCheck : uint8_t { None, Ele1 };
constexpr std::string_view kEle1Expression = "hasValue() or (children().count() > id.count())";

struct Constraint {
  NativeCheck native = NativeCheck::None;
  std::string key;
  Severity severity = Severity::Error;
  std::string human;
  fhirpath::ExpressionPtr expr;  // null when it does not compile (reported once)
  std::string compileError;
};

struct Binding {
  enum class Strength : uint8_t { Required, Extensible, Preferred, Example } strength = Strength::Example;
  std::string valueSet;  // canonical, without version
};

// What the validator needs of one element definition, prepared once.
struct ElementRules {
  std::vector<std::shared_ptr<const Constraint>> constraints;
  std::optional<Binding> binding;
  std::optional<size_t> maxLength;
};

std::string_view stripVersion(std::string_view url) {
  size_t bar = url.find('|');
  return bar == std::string_view::npos ? url : url.substr(0, bar);
}

// Definitions published with FHIR R4 itself (as opposed to a profile's package).
bool isCoreDefinition(std::string_view url) {
  return url.starts_with("http://hl7.org/fhir/") || url.starts_with("http://terminology.hl7.org/");
}

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool isReferenceFormat(std::string_view ref) {
  if (ref.empty()) return false;
  if (ref[0] == '#') return true;  // '#' alone is the container (R4 references.html)
  if (ref.starts_with("urn:uuid:")) {
    std::string_view u = ref.substr(9);
    if (u.size() != 36) return false;
    for (size_t i = 0; i < u.size(); ++i) {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash ? u[i] != '-' : !isHex(u[i])) return false;
    }
    return true;
  }
  if (ref.starts_with("urn:oid:")) {
    std::string_view o = ref.substr(8);
    if (o.empty() || o.front() == '.' || o.back() == '.') return false;
    for (char c : o)
      if (!((c >= '0' && c <= '9') || c == '.')) return false;
    return o.find("..") == std::string_view::npos;
  }
  if (ref.find("://") != std::string_view::npos) return true;  // absolute
  // Type/id(/_history/vid)
  size_t slash = ref.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  for (char c : ref.substr(0, slash))
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  std::string_view id = ref.substr(slash + 1);
  size_t hist = id.find("/_history/");
  if (hist != std::string_view::npos) {
    std::string_view version = id.substr(hist + 10);
    if (version.empty() || version.size() > 64) return false;
    id = id.substr(0, hist);
  }
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return false;
  return true;
}

}  // namespace

struct Validator::Impl {
  const Registry& reg;
  std::unique_ptr<RegistryTerminology> ownTerminology;
  const fhirpath::Terminology* terminology;
  const RegistryTerminology* codeSystems;  // code and display lookups in loaded CodeSystems
  PrimitiveRules primitives;

  // Distinguishes validator instances in the per-thread rules cache (addresses are reused).
  static inline std::atomic<uint64_t> nextSerial{1};
  const uint64_t serial = nextSerial.fetch_add(1);

  mutable std::shared_mutex mutex;
  struct PairHash {
    size_t operator()(const std::pair<const void*, const void*>& p) const {
      return std::hash<const void*>{}(p.first) * 31 + std::hash<const void*>{}(p.second);
    }
  };
  // By (ElementDef*, TypeInfo*): a resource slot or a choice holds several types.
  mutable std::unordered_map<std::pair<const void*, const void*>, std::shared_ptr<const ElementRules>, PairHash> rules;
  mutable std::unordered_map<std::string, std::shared_ptr<const Constraint>> compiled;  // by key|expr|type
  mutable std::unordered_map<std::string, std::shared_ptr<const profile::Profile>> profiles;  // by URL

  std::shared_ptr<const profile::Profile> profileFor(const std::string& url, const json::Value& sd) const {
    {
      std::shared_lock lock(mutex);
      auto it = profiles.find(url);
      if (it != profiles.end()) return it->second;
    }
    std::string error;
    auto p = profile::build(sd, error);
    std::unique_lock lock(mutex);
    return profiles.emplace(url, std::move(p)).first->second;
  }

  Impl(const Registry& r, const fhirpath::Terminology* t)
      : reg(r), ownTerminology(t ? nullptr : std::make_unique<RegistryTerminology>(r)),
        terminology(t ? t : ownTerminology.get()),
        codeSystems(dynamic_cast<const RegistryTerminology*>(terminology)), primitives(r) {}

  std::shared_ptr<const Constraint> constraintFor(const json::Value& c, const TypeInfo* focus) const {
    std::string key(c.getString("key"));
    std::string expression(c.getString("expression"));
    std::string cacheKey = key + "|" + expression + "|" + (focus ? focus->name : std::string());
    {
      std::shared_lock lock(mutex);
      auto it = compiled.find(cacheKey);
      if (it != compiled.end()) return it->second;
    }
    auto con = std::make_shared<Constraint>();
    con->key = key;
    con->severity = c.getString("severity") == "warning" ? Severity::Warning : Severity::Error;
    con->human = std::string(c.getString("human"));
    if (key == "ele-1" && expression == kEle1Expression) con->native = NativeCheck::Ele1;
    if (!expression.empty()) {
      fhirpath::CompileError err;
      fhirpath::CompileOptions opts;
      opts.focusType = focus;
      con->expr = fhirpath::compile(reg, expression, err, opts);
      if (!con->expr && focus) {
        // Some R4 constraints are written for one of several types of a choice, or name
        // elements the type lacks; evaluate them without strict checking.
        opts.focusType = nullptr;
        con->expr = fhirpath::compile(reg, expression, err, opts);
      }
      if (!con->expr) con->compileError = err.toString();
    }
    std::unique_lock lock(mutex);
    return compiled.emplace(cacheKey, std::move(con)).first->second;
  }

  void addConstraints(ElementRules& r, const json::Value* ed, const TypeInfo* focus) const {
    if (!ed) return;
    const json::Value* list = ed->find("constraint");
    if (!list || !list->isArray()) return;
    for (const json::Value* c : *list) {
      std::string_view key = c->getString("key");
      bool dup = false;
      for (const auto& have : r.constraints) dup = dup || have->key == key;
      if (dup || c->getString("expression").empty()) continue;
      r.constraints.push_back(constraintFor(*c, focus));
    }
  }

  // The ElementDefinition a contentReference names ("#Questionnaire.item"), or nullptr.
  const json::Value* contentReferenceTarget(const ElementDef* def) const {
    if (!def->definition) return nullptr;
    std::string_view ref = def->definition->getString("contentReference");
    size_t hash = ref.find('#');
    if (hash == std::string_view::npos) return nullptr;
    std::string_view id = ref.substr(hash + 1);
    const TypeInfo* root = reg.type(id.substr(0, id.find('.')));
    const json::Value* snap = root && root->structureDefinition ? root->structureDefinition->find("snapshot") : nullptr;
    const json::Value* elems = snap ? snap->find("element") : nullptr;
    if (!elems || !elems->isArray()) return nullptr;
    for (const json::Value* e : *elems)
      if (e->getString("id") == id || (e->getString("path") == id && !e->find("sliceName"))) return e;
    return nullptr;
  }

  // The rules of an element (by its definition in the parent) of a given type.
  std::shared_ptr<const ElementRules> rulesFor(const ElementDef* def, const TypeInfo* type) const {
    const std::pair<const void*, const void*> key(def, type);
    {
      std::shared_lock lock(mutex);
      auto it = rules.find(key);
      if (it != rules.end()) return it->second;
    }
    auto r = std::make_shared<ElementRules>();
    const TypeInfo* focus = type;
    if (def && def->types.size() > 1) focus = nullptr;  // a choice: constraints written for one type
    if (def) {
      addConstraints(*r, def->definition, focus);
      // An element defined by contentReference (Questionnaire.item.item → #Questionnaire.item)
      // carries only ele-1 in the snapshot: the referenced element's constraints apply.
      if (const json::Value* target = contentReferenceTarget(def)) addConstraints(*r, target, focus);
      if (const json::Value* b = def->definition ? def->definition->find("binding") : nullptr) {
        Binding bd;
        std::string_view s = b->getString("strength");
        bd.strength = s == "required"     ? Binding::Strength::Required
                      : s == "extensible" ? Binding::Strength::Extensible
                      : s == "preferred"  ? Binding::Strength::Preferred
                                          : Binding::Strength::Example;
        bd.valueSet = std::string(stripVersion(b->getString("valueSet")));
        if (!bd.valueSet.empty()) r->binding = bd;
      }
      if (const json::Value* ml = def->definition ? def->definition->find("maxLength") : nullptr)
        r->maxLength = static_cast<size_t>(std::strtoull(std::string(ml->text).c_str(), nullptr, 10));
    }
    // The type's own root constraints (per-1 on Period, dom-* on resources).
    if (type && type->structureDefinition) {
      const json::Value* snap = type->structureDefinition->find("snapshot");
      const json::Value* elems = snap ? snap->find("element") : nullptr;
      if (elems && elems->isArray() && elems->size > 0) addConstraints(*r, elems->items[0], type);
    }
    std::unique_lock lock(mutex);
    return rules.emplace(key, std::move(r)).first->second;
  }

  // rulesFor() through a per-thread direct-mapped cache: the walk asks for the rules of
  // every element, and a shared lock per element costs more than the rest of the lookup
  // (and contends between threads). Entries point into `rules`, which lives (and never
  // drops an entry) as long as this Impl; `serial` keeps another instance's entries out.
  const ElementRules& cachedRules(const ElementDef* def, const TypeInfo* type) const {
    struct Slot {
      uint64_t serial = 0;
      const void* def = nullptr;
      const void* type = nullptr;
      const ElementRules* rules = nullptr;
    };
    thread_local std::array<Slot, 1024> cache{};
    auto a = reinterpret_cast<uintptr_t>(def) >> 4, b = reinterpret_cast<uintptr_t>(type) >> 4;
    Slot& slot = cache[(a ^ (b * 0x9E3779B1u)) & (cache.size() - 1)];
    if (slot.serial == serial && slot.def == def && slot.type == type) return *slot.rules;
    std::shared_ptr<const ElementRules> r = rulesFor(def, type);
    slot = Slot{serial, def, type, r.get()};
    return *r;
  }
};

namespace {

struct Walk {
  const Validator::Impl& v;
  const ValidationOptions& opts;
  Issues& issues;
  fhirpath::Evaluator evaluator;
  const Node* resource = nullptr;
  const Node* rootResource = nullptr;
  bool truncated = false;
  const Node* bundle = nullptr;  // the nearest enclosing Bundle, for references between entries
  std::string pathBuf;           // the FHIRPath location of the element being walked

  // Marks the issues added while it lives as coming from a definition outside FHIR core
  // (Issue::fromProfile): a package's own CodeSystem or extension, like a profile.
  struct FromPackage {
    Issues& issues;
    size_t first;
    bool active;
    FromPackage(Issues& i, bool a) : issues(i), first(i.size()), active(a) {}
    ~FromPackage() {
      if (active)
        for (size_t k = first; k < issues.size(); ++k) issues.items[k].fromProfile = true;
    }
  };

  void add(Severity sev, std::string code, std::string message, const std::string& path, const Node* at) {
    if (issues.size() >= opts.maxIssues) {
      if (!truncated) {
        truncated = true;
        issues.add(Issue{Severity::Information, "too-costly",
                         "more than " + std::to_string(opts.maxIssues) + " issues: the rest are not reported", path,
                         at ? at->line : 0, at ? at->column : 0});
      }
      return;
    }
    issues.add(Issue{sev, std::move(code), std::move(message), path, at ? at->line : 0, at ? at->column : 0});
  }

  void cardinality(const Node* node, const std::string& path) {
    const TypeInfo* t = node->type;
    if (node->isPrimitive()) return;
    size_t ci = 0;
    const auto& kids = node->children;
    for (const ElementDef& e : t->elements) {
      size_t count = 0;
      while (ci < kids.size() && kids[ci]->def == &e) {
        ++count;
        ++ci;
      }
      if (count == 0) {
        // Children may be out of definition order only if the parser kept them so; count
        // the slow way then.
        for (const Node* k : kids) count += k->def == &e;
      }
      if (count < e.min)
        add(Severity::Error, "required",
            path + "." + e.name + ": minimum required = " + std::to_string(e.min) + ", but only found " +
                std::to_string(count),
            path, node);
      if (e.max != kUnbounded && count > e.max)
        add(Severity::Error, "structure",
            path + "." + e.name + ": maximum allowed = " + std::to_string(e.max) + ", but found " +
                std::to_string(count),
            path, node);
    }
  }

  void binding(const Node* node, const ElementRules& r, const std::string& path) {
    if (!r.binding || !v.terminology) return;
    const Binding& b = *r.binding;
    if (b.strength == Binding::Strength::Preferred || b.strength == Binding::Strength::Example) return;
    const std::string& tn = node->type->name;
    auto report = [&](std::string_view system, std::string_view code) {
      bool required = b.strength == Binding::Strength::Required;
      std::string what(1, '\'');
      if (!system.empty()) what.append(system).append(1, '#');
      what.append(code).append(1, '\'');
      add(required ? Severity::Error : Severity::Warning, "code-invalid",
          "The code " + what + " is not in the value set " + b.valueSet + ", which is " +
              (required ? "required" : "extensible"),
          path, node);
    };
    if (node->isPrimitive()) {
      if (!node->hasValue || (tn != "code" && tn != "string" && tn != "uri")) return;
      auto m = v.terminology->memberOf("", node->value, b.valueSet);
      if (m && !*m) report("", node->value);
      return;
    }
    auto coding = [&](const Node* c) -> std::optional<bool> {
      const Node* sys = c->child("system");
      const Node* code = c->child("code");
      if (!code || !code->hasValue) return std::nullopt;
      return v.terminology->memberOf(sys && sys->hasValue ? sys->value : std::string_view(), code->value, b.valueSet);
    };
    if (tn == "Coding") {
      auto m = coding(node);
      if (m && !*m) {
        const Node* sys = node->child("system");
        report(sys ? sys->value : std::string_view(), node->child("code")->value);
      }
    } else if (tn == "CodeableConcept") {
      bool any = false, known = true;
      const Node* first = nullptr;
      for (const Node* c : node->children) {
        if (c->def->name != "coding") continue;
        if (!first) first = c;
        auto m = coding(c);
        if (!m) known = false;
        else if (*m) any = true;
      }
      if (!first) {
        if (b.strength == Binding::Strength::Required)
          add(Severity::Error, "code-invalid",
              "No code provided, and a code from the value set " + b.valueSet + " is required", path, node);
        return;
      }
      if (!any && known) {
        const Node* sys = first->child("system");
        const Node* code = first->child("code");
        report(sys ? sys->value : std::string_view(), code ? code->value : std::string_view());
      }
    } else if (tn == "Quantity" || node->type->isA("Quantity")) {
      const Node* code = node->child("code");
      const Node* sys = node->child("system");
      if (code && code->hasValue) {
        auto m = v.terminology->memberOf(sys ? sys->value : std::string_view(), code->value, b.valueSet);
        if (m && !*m) report(sys ? sys->value : std::string_view(), code->value);
      }
    }
  }

  // The resource a Reference (or a reference string) points to within the instance: a
  // contained resource of `res`/`root`, or an entry of the enclosing Bundle; else nullptr.
  const Node* resolveNode(const Node* refNode, const Node* res, const Node* root) const {
    const Node* ref = refNode->isPrimitive() ? refNode : refNode->child("reference");
    if (!ref || !ref->hasValue) return nullptr;
    std::string_view r = ref->value;
    if (r.size() > 1 && r[0] == '#') {
      const Node* c = findContained(res, r.substr(1));
      return c ? c : findContained(root, r.substr(1));
    }
    return bundle ? findBundleEntry(*bundle, r) : nullptr;
  }

  // The resource type a Reference points to, when it can be told: an entry of the
  // enclosing Bundle, a contained resource, a relative or RESTful absolute URL. Format
  // problems are reported when `report` is set; an empty result means "not known".
  std::string_view targetTypeOf(const Node* node, const std::string& path, bool report) {
    const Node* ref = node->child("reference");
    if (!ref || !ref->hasValue) return {};
    std::string_view r = ref->value;
    if (!isReferenceFormat(r)) {
      if (report)
        add(Severity::Error, "invalid", "Invalid reference '" + std::string(r.substr(0, 100)) + "'",
            path + ".reference", ref);
      return {};
    }
    // A reference to another entry of the enclosing Bundle: by fullUrl, or Type/id.
    if (bundle && r[0] != '#')
      if (const Node* target = findBundleEntry(*bundle, r)) return target->type->name;
    if (r == "#") {
      const Node* container = rootResource ? rootResource : resource;
      return container ? std::string_view(container->type->name) : std::string_view();
    }
    if (r[0] == '#') {
      const Node* container = rootResource ? rootResource : resource;
      const Node* found = findContained(container, r.substr(1));
      if (const Node* own = findContained(resource, r.substr(1))) found = own;
      if (!found) {
        if (report)
          add(Severity::Error, "not-found", "The contained resource '" + std::string(r) + "' is not found",
              path + ".reference", ref);
        return {};
      }
      return found->type->name;
    }
    if (r.find("://") == std::string_view::npos && !r.starts_with("urn:")) {
      std::string_view type = r.substr(0, r.find('/'));
      if (!v.reg.resourceType(type)) {
        if (report)
          add(Severity::Error, "invalid", "Reference '" + std::string(r) + "' names an unknown resource type",
              path + ".reference", ref);
        return {};
      }
      return type;
    }
    if (r.find("://") != std::string_view::npos) {
      // A RESTful absolute URL: .../Type/id(/_history/v).
      std::string_view u = r;
      size_t hist = u.find("/_history/");
      if (hist != std::string_view::npos) u = u.substr(0, hist);
      size_t last = u.rfind('/');
      size_t prev = last == std::string_view::npos || last == 0 ? std::string_view::npos : u.rfind('/', last - 1);
      if (prev != std::string_view::npos) {
        std::string_view type = u.substr(prev + 1, last - prev - 1);
        if (v.reg.resourceType(type)) return type;
      }
    }
    return {};
  }

  // A reference's target type against the targetProfiles of an ElementDefinition.type
  // (the core definition, or a profile's narrower one).
  void checkTargets(const Node* node, std::string_view targetType, const json::Value* tps, const std::string& path,
                    const std::string& profileUrl) {
    if (targetType.empty() || !tps || !tps->isArray() || tps->size == 0) return;
    const TypeInfo* t = v.reg.resourceType(targetType);
    for (const json::Value* tp : *tps) {
      std::string_view url = stripVersion(tp->text);
      size_t slash = url.rfind('/');
      std::string_view name = slash == std::string_view::npos ? url : url.substr(slash + 1);
      if (url.starts_with("http://hl7.org/fhir/StructureDefinition/") && (name == "Resource" || name == targetType))
        return;
      if (t && url.starts_with("http://hl7.org/fhir/StructureDefinition/") && t->isA(name)) return;
      // A profile: its type (whether the target conforms to the profile is not checked).
      if (const json::Value* sd = v.reg.resource(url)) {
        std::string_view type = sd->getString("type");
        if (type == targetType || type == "Resource") return;
      } else if (!url.starts_with("http://hl7.org/fhir/StructureDefinition/")) {
        return;  // an unknown profile: its type cannot be told, so nothing is reported
      }
    }
    std::string allowed;
    for (const json::Value* tp : *tps) {
      if (!allowed.empty()) allowed += ", ";
      std::string_view url = stripVersion(tp->text);
      allowed += std::string(url.substr(url.rfind('/') + 1));
    }
    const Node* ref = node->child("reference");
    add(Severity::Error, "structure",
        "Reference to a " + std::string(targetType) + " is not allowed here; allowed targets: " + allowed +
            (profileUrl.empty() ? std::string() : " (profile " + profileUrl + ")"),
        path, ref ? ref : node);
  }

  void reference(const Node* node, const std::string& path) {
    std::string_view targetType = targetTypeOf(node, path, true);
    if (targetType.empty() || !node->def) return;
    const ElementType* et = node->def->typeFor("Reference");
    if (!et || !et->raw) return;
    checkTargets(node, targetType, et->raw->find("targetProfile"), path, {});
  }

  // A Coding of a loaded, complete CodeSystem: the code must exist, the display should
  // be the system's.
  void coding(const Node* node, const std::string& path) {
    if (!v.codeSystems) return;
    const Node* sys = node->child("system");
    const Node* code = node->child("code");
    if (!sys || !sys->hasValue || !code || !code->hasValue) return;
    auto known = v.codeSystems->lookup(sys->value, code->value);
    if (!known) return;
    FromPackage mark(issues, !isCoreDefinition(sys->value));
    if (!known->found) {
      add(Severity::Error, "code-invalid",
          "Unknown code '" + std::string(code->value) + "' in the CodeSystem '" + std::string(sys->value) + "'",
          path + ".code", code);
      return;
    }
    const Node* display = node->child("display");
    if (display && display->hasValue && !known->display.empty() &&
        !equalIgnoringCase(display->value, known->display))
      add(Severity::Warning, "invalid",
          "Wrong display '" + std::string(display->value) + "' for " + std::string(sys->value) + "#" +
              std::string(code->value) + ": the CodeSystem says '" + known->display + "'",
          path + ".display", display);
  }

  static bool equalIgnoringCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
      if (x != y) return false;
    }
    return true;
  }

  // An extension against its definition: known URL, value type, where it may be used.
  // `parentLength`: the length of the parent's location at the start of `path`.
  void extension(const Node* ext, const Node* parent, const std::string& path, size_t parentLength) {
    const Node* url = ext->child("url");
    if (!url || !url->hasValue) return;  // ext-1 and the cardinality of url report it
    bool modifier = ext->def->name == "modifierExtension";
    const json::Value* sd = v.reg.resource(url->value);
    if (!sd || sd->getString("resourceType") != "StructureDefinition" || sd->getString("type") != "Extension") {
      // Within a complex extension, sub-extensions are named by relative URLs.
      if (parent->type->name == "Extension" && url->value.find(':') == std::string_view::npos) return;
      if (parent->type->name != "Extension" && url->value.find(':') == std::string_view::npos) {
        add(Severity::Error, "invalid", "Extension.url must be an absolute URL, not '" + std::string(url->value) + "'",
            path, ext);
        return;
      }
      if (modifier)
        add(Severity::Error, "extension",
            "Unknown modifier extension '" + std::string(url->value) +
                "': a modifier extension that is not understood makes the resource unsafe to process",
            path, ext);
      else if (opts.unknownExtensionsAreErrors)
        add(Severity::Error, "structure",
            "The extension " + std::string(url->value) + " could not be found, so it is not allowed here", path, ext);
      else
        add(Severity::Warning, "not-found", "Unknown extension '" + std::string(url->value) + "': it is not checked",
            path, ext);
      return;
    }
    FromPackage mark(issues, !isCoreDefinition(url->value));
    const json::Value* snap = sd->find("snapshot");
    const json::Value* elems = snap ? snap->find("element") : nullptr;
    // modifierExtension holds exactly the extensions defined as modifiers (R4 extensibility).
    if (elems && elems->isArray() && elems->size > 0) {
      const json::Value* m = elems->items[0]->find("isModifier");
      bool definedModifier = m && m->boolean;
      if (definedModifier != modifier)
        add(Severity::Error, "structure",
            modifier ? "The extension " + std::string(url->value) +
                           " is not a modifier extension, so it must not be used in modifierExtension"
                     : "The extension " + std::string(url->value) +
                           " is a modifier extension, so it must be used in modifierExtension, not extension",
            path, ext);
    }
    // The value's type against Extension.value[x] of the definition.
    const Node* value = ext->child("value");
    if (elems && elems->isArray()) {
      for (const json::Value* e : *elems) {
        if (e->getString("path") != "Extension.value[x]" || e->find("sliceName")) continue;
        if (e->getString("max") == "0") {
          if (value)
            add(Severity::Error, "structure",
                "The extension " + std::string(url->value) + " is complex and must not have a value", path, ext);
          // Its sub-extensions (slices of Extension.extension by url) against the definition,
          // which is a profile on Extension: which ones, how many, their value types.
          if (!value) {
            applyProfile(std::string(url->value), *sd, ext, path);
            subExtensionUrls(ext, *elems, url->value, path);
          }
        } else if (value) {
          const json::Value* types = e->find("type");
          bool ok = !types || !types->isArray() || types->size == 0;
          std::string allowed;
          if (types && types->isArray()) {
            for (const json::Value* t : *types) {
              std::string_view code = t->getString("code");
              if (!allowed.empty()) allowed += ", ";
              allowed += std::string(code);
              if (code == value->type->name) ok = true;  // value[x] choices are exact types
            }
          }
          if (!ok)
            add(Severity::Error, "structure",
                "The extension " + std::string(url->value) + " does not allow a value of type " + value->type->name +
                    " (allowed: " + allowed + ")",
                path + ".value.ofType(" + value->type->name + ")", value);
        }
        break;
      }
    }
    // Where it may be used: StructureDefinition.context of type element.
    const json::Value* contexts = sd->find("context");
    if (!contexts || !contexts->isArray() || contexts->size == 0) return;
    std::string parentPath;
    if (parent->def) {
      parentPath = parent->def->path;
      if (parentPath.ends_with("[x]")) parentPath.resize(parentPath.size() - 3);
    }
    for (const json::Value* c : *contexts) {
      std::string_view type = c->getString("type");
      std::string_view expr = c->getString("expression");
      if (type != "element") return;  // fhirpath/extension contexts: not checked here
      if (expr == "Element" || expr == "Base" || parent->type->name == expr || parent->type->isA(expr) ||
          parentPath == expr || (parent->isResource() && (expr == "Resource" || expr == "DomainResource")))
        return;
      // A context naming a resource element path in another form (Patient.name) matches
      // the data type's own path too.
      if (!parentPath.empty() && expr.size() > parentPath.size() && expr.ends_with(parentPath)) return;
      // R4's own snapshots put extensions whose context is ElementDefinition.type.code
      // (structuredefinition-fhir-type, regex) on ElementDefinition.type: accepted, as R4
      // publishes them.
      if (expr == "ElementDefinition.type.code" && parentPath == "ElementDefinition.type") return;
    }
    std::string allowed;
    for (const json::Value* c : *contexts) {
      if (!allowed.empty()) allowed += ", ";
      allowed += std::string(c->getString("expression"));
    }
    add(Severity::Error, "structure",
        "The extension " + std::string(url->value) + " is not allowed on " +
            (parentPath.empty() || parent->isResource() ? parent->type->name : parentPath) + " (allowed on: " +
            allowed + ")",
        path.substr(0, parentLength), parent);
  }

  // The narrative div: well-formed XML, a single XHTML <div> root, no DOCTYPE (R4
  // narrative). A JSON parser keeps the div as text, so this is where JSON input is checked;
  // the element and attribute rules are txt-1/txt-2.
  void xhtml(const Node* node, const std::string& path) {
    if (detail::quickXhtmlDivCheck(node->value)) return;  // the common case, without libxml2
    std::string canon, error;
    if (!canonicalXhtml(node->value, canon, error))
      add(Severity::Error, "invalid", "The narrative is not valid XHTML (well-formed XML with one XHTML <div> root): " + error, path, node);
  }

  void invariants(const Node* node, const ElementRules& r, const std::string& path) {
    if (r.constraints.empty()) return;
    fhirpath::Environment env;
    env.resource = resource;
    env.rootResource = rootResource;
    env.terminology = v.terminology;
    for (const auto& c : r.constraints) {
      if (c->native == NativeCheck::Ele1) {
        if (!ele1Holds(*node))
          add(c->severity, "invariant", "Constraint failed: " + c->key + ": '" + c->human + "'", path, node);
        continue;
      }
      if (!c->expr) continue;
      if (!evaluator.run(*c->expr, node, env)) {
        add(Severity::Error, "invariant",
            "Constraint " + c->key + " could not be evaluated: " + evaluator.error(), path, node);
        continue;
      }
      const auto& items = evaluator.items();
      bool ok = true;
      if (items.size() == 1) {
        const fhirpath::Item& i = items[0];
        if (i.kind() == fhirpath::ItemKind::Boolean) ok = i.boolean();
      }
      if (!ok)
        add(c->severity, "invariant",
            "Constraint failed: " + c->key + ": '" + c->human + "'", path, node);
    }
  }

  // A profile's constraints and binding on an element: those the core definition of the
  // element does not already have.
  void profileRules(const profile::Deferred& d, const Node* res, const Node* root) {
    const Node* node = d.node;
    const ElementRules* core = &v.cachedRules(node->def, node->type);
    ElementRules extra;
    if (const json::Value* list = d.ed->find("constraint"); list && list->isArray()) {
      for (const json::Value* c : *list) {
        std::string_view key = c->getString("key");
        bool known = false;
        for (const auto& have : core->constraints) known = known || have->key == key;
        if (known || c->getString("expression").empty()) continue;
        extra.constraints.push_back(v.constraintFor(*c, node->type));
      }
    }
    if (const json::Value* b = d.ed->find("binding")) {
      std::string vs(stripVersion(b->getString("valueSet")));
      std::string_view st = b->getString("strength");
      if (!vs.empty() && (!core->binding || core->binding->valueSet != vs || st == "required")) {
        Binding bd;
        bd.strength = st == "required" ? Binding::Strength::Required
                      : st == "extensible" ? Binding::Strength::Extensible
                                           : Binding::Strength::Preferred;
        bd.valueSet = vs;
        if (!(core->binding && core->binding->valueSet == vs && core->binding->strength == bd.strength))
          extra.binding = bd;
      }
    }
    const Node* savedR = resource;
    const Node* savedRoot = rootResource;
    resource = res;
    rootResource = root;
    binding(node, extra, d.path);
    invariants(node, extra, d.path);
    if (node->type->name == "Reference" && node->def) narrowedTargets(d);
    resource = savedR;
    rootResource = savedRoot;
  }

  // A profile's targetProfile list on a Reference, when it differs from the core one.
  void narrowedTargets(const profile::Deferred& d) {
    const json::Value* types = d.ed->find("type");
    if (!types || !types->isArray()) return;
    for (const json::Value* t : *types) {
      if (t->getString("code") != "Reference") continue;
      const json::Value* tps = t->find("targetProfile");
      if (!tps || !tps->isArray() || tps->size == 0) return;
      const ElementType* core = d.node->def->typeFor("Reference");
      const json::Value* coreTps = core && core->raw ? core->raw->find("targetProfile") : nullptr;
      if (coreTps && coreTps->size == tps->size) {
        bool same = true;
        for (size_t i = 0; i < tps->size && same; ++i) same = coreTps->items[i]->text == tps->items[i]->text;
        if (same) return;  // the core walk checked these
      }
      std::string_view targetType = targetTypeOf(d.node, d.path, false);
      checkTargets(d.node, targetType, tps, d.path, d.profileUrl);
      return;
    }
  }

  // The Bundle an entry belongs to: the resource being walked when the entry was entered.
  static const Node* findBundle(const Node* res) {
    return res && res->type->name == "Bundle" ? res : nullptr;
  }

  void element(const Node* node, const std::string& path) {
    const ElementRules& r = v.cachedRules(node->def, node->type);
    if (node->isPrimitive()) {
      if (node->hasValue) {
        if (auto msg = v.primitives.check(*node->type, node->value)) add(Severity::Error, "value", *msg, path, node);
        if (node->type->name == "xhtml") xhtml(node, path);
        if (r.maxLength && node->value.size() > *r.maxLength)
          add(Severity::Error, "too-long",
              "The value is longer than the maximum length of " + std::to_string(*r.maxLength), path, node);
      }
    } else {
      cardinality(node, path);
    }
    binding(node, r, path);
    if (node->type->name == "Reference") reference(node, path);
    if (node->type->name == "Coding") coding(node, path);
    invariants(node, r, path);
    if (node->def && !node->isPrimitive() && !node->isResource()) typeProfiles(node, path);
    // Children, in document order, with their FHIRPath location. `path` is this walk's
    // path buffer (element() is always called with pathBuf): each child's location is
    // appended for its subtree and cut off again afterwards.
    std::string_view lastName;
    size_t index = 0;
    for (const Node* c : node->children) {
      if (c->def->name == lastName) ++index;
      else {
        index = 0;
        lastName = c->def->name;
      }
      if (c->isResource() && node->type->name == "Bundle.entry") fullUrlMatchesId(node, c, path);
      if (node->type->name == "Bundle" && c->def->name == "entry") {
        const size_t mark = pathBuf.size();
        profile::appendChildPath(pathBuf, c, index);
        entryFullUrl(node, c, pathBuf);
        pathBuf.resize(mark);
      }
      const size_t mark = pathBuf.size();
      profile::appendChildPath(pathBuf, c, index);
      if (c->type->name == "Extension" && (c->def->name == "extension" || c->def->name == "modifierExtension"))
        extension(c, node, pathBuf, mark);
      if (c->isResource()) {
        // A contained resource or a Bundle entry's resource.
        const Node* savedR = resource;
        const Node* savedRoot = rootResource;
        const Node* savedBundle = bundle;
        bool contained = c->def->name == "contained";
        resource = c;
        rootResource = contained ? savedRoot : c;
        if (node->type->name == "Bundle.entry") bundle = node->children.empty() ? bundle : findBundle(savedR);
        element(c, pathBuf);
        profiles(c, rootResource, pathBuf, nullptr);
        resource = savedR;
        rootResource = savedRoot;
        bundle = savedBundle;
      } else {
        element(c, pathBuf);
      }
      pathBuf.resize(mark);
    }
  }

  // The profiles a resource claims in meta.profile (and, for the root, those the caller
  // names): each known one is checked, an unknown one is reported. Contained resources and
  // Bundle entries are checked against the profiles they claim too.
  void profiles(const Node* res, const Node* root, const std::string& path, const std::vector<std::string>* extra) {
    std::vector<std::string> urls;
    if (extra) urls = *extra;
    if (auto it = opts.profilesByType.find(res->type->name); it != opts.profilesByType.end())
      for (const std::string& u : it->second)
        if (std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
    if (opts.metaProfiles) {
      if (const Node* meta = res->child("meta")) {
        for (const Node* p : meta->children)
          if (p->def->name == "profile" && p->hasValue &&
              std::find(urls.begin(), urls.end(), p->value) == urls.end())
            urls.emplace_back(p->value);
      }
    }
    for (const std::string& url : urls) {
      const json::Value* sd = v.reg.resource(url);
      if (!sd || sd->getString("resourceType") != "StructureDefinition") {
        add(Severity::Warning, "not-found",
            "Profile " + url + " is not known here; the resource was checked against the core definitions only",
            path + ".meta", res);
        continue;
      }
      if (sd->getString("derivation") != "constraint") continue;  // a core type: checked by the walk
      auto p = v.profileFor(url, *sd);
      if (!p) {
        add(Severity::Warning, "not-supported", "Profile " + url + " has no snapshot; it cannot be checked",
            path + ".meta", res);
        continue;
      }
      std::vector<profile::Deferred> deferred;
      profile::Resolver resolver = [this, res, root](const Node* ref) { return resolveNode(ref, res, root); };
      const size_t first = issues.size();
      profile::check(v.reg, *p, *res, path, issues, &deferred, &resolver);
      for (const profile::Deferred& d : deferred) profileRules(d, res, root);
      for (size_t i = first; i < issues.size(); ++i) issues.items[i].fromProfile = true;
    }
  }

  // A complex extension's sub-extensions must be ones its definition names (the fixed
  // url of each Extension.extension slice), as the HL7 validator requires.
  void subExtensionUrls(const Node* ext, const json::Value& elems, std::string_view extUrl, const std::string& path) {
    std::vector<std::string_view> defined;
    for (const json::Value* e : elems) {
      std::string_view id = e->getString("id");
      if (!id.starts_with("Extension.extension:") || !id.ends_with(".url")) continue;
      if (id.substr(20, id.size() - 24).find('.') != std::string_view::npos) continue;  // deeper levels
      std::string_view fixed = e->getString("fixedUri");
      if (!fixed.empty()) defined.push_back(fixed);
    }
    if (defined.empty()) return;
    size_t index = 0;
    for (const Node* c : ext->children) {
      if (c->def->name != "extension") continue;
      const Node* u = c->child("url");
      if (u && u->hasValue && u->value.find(':') == std::string_view::npos &&
          std::find(defined.begin(), defined.end(), u->value) == defined.end())
        add(Severity::Error, "structure",
            "Sub-extension url '" + std::string(u->value) + "' is not defined by the Extension " + std::string(extUrl),
            path + ".extension[" + std::to_string(index) + "]", c);
      ++index;
    }
  }

  // Checks `node` against one constraint StructureDefinition (a profile on a resource, a
  // data type profile such as SimpleQuantity, a complex extension's definition).
  void applyProfile(const std::string& url, const json::Value& sd, const Node* node, const std::string& path) {
    auto p = v.profileFor(url, sd);
    if (!p) return;
    std::vector<profile::Deferred> deferred;
    const Node* res = resource;
    const Node* root = rootResource;
    profile::Resolver resolver = [this, res, root](const Node* ref) { return resolveNode(ref, res, root); };
    profile::check(v.reg, *p, *node, path, issues, &deferred, &resolver);
    for (const profile::Deferred& d : deferred) profileRules(d, res, root);
  }

  // Profiles that the core definition puts on an element's type: Quantity(SimpleQuantity)
  // on Range.low, Dosage.doseAndRate.dose[x], Observation.referenceRange.low, …
  void typeProfiles(const Node* node, const std::string& path) {
    const ElementType* et = node->def->typeFor(node->type->name);
    if (!et || !et->raw) return;
    const json::Value* profs = et->raw->find("profile");
    if (!profs || !profs->isArray()) return;
    for (const json::Value* pr : *profs) {
      std::string url(stripVersion(pr->text));
      const json::Value* sd = v.reg.resource(url);
      if (!sd || sd->getString("derivation") != "constraint" || sd->getString("type") == "Extension") continue;
      applyProfile(url, *sd, node, path);
    }
  }

  // An entry's fullUrl: required except in transactions and batches (and their
  // responses), and absolute when present (R4 Bundle: the identity of the resource).
  void entryFullUrl(const Node* bundleNode, const Node* entry, const std::string& entryPath) {
    const Node* res = entry->child("resource");
    const Node* fu = entry->child("fullUrl");
    if (fu && fu->hasValue) {
      std::string_view u = fu->value;
      if (u.find(':') == std::string_view::npos)
        add(Severity::Error, "invalid", "The fullUrl must be an absolute URL (not '" + std::string(u) + "')", entryPath,
            fu);
      return;
    }
    if (!res) return;
    const Node* type = bundleNode->child("type");
    std::string_view t = type && type->hasValue ? type->value : std::string_view();
    if (t == "transaction" || t == "batch" || t == "transaction-response" || t == "batch-response") return;
    // A search's OperationOutcome entry (search.mode = outcome) has no identity of its own.
    if (const Node* search = entry->child("search"))
      if (const Node* mode = search->child("mode"); mode && mode->value == "outcome") return;
    add(Severity::Error, "required",
        "Except for transactions and batches, each entry in a Bundle must have a fullUrl which is the identity of the "
        "resource in the entry",
        entryPath, entry);
  }

  // fullUrl and resource id agree for RESTful URLs (.../Type/id).
  void fullUrlMatchesId(const Node* entry, const Node* res, const std::string& path) {
    const Node* fu = entry->child("fullUrl");
    const Node* id = res->child("id");
    if (!fu || !fu->hasValue || !id || !id->hasValue || fu->value.find("://") == std::string_view::npos) return;
    std::string tail = "/" + res->type->name + "/" + std::string(id->value);
    std::string_view u = fu->value;
    size_t hist = u.find("/_history/");
    if (hist != std::string_view::npos) u = u.substr(0, hist);
    // RESTful: the segment before the id names a resource type.
    size_t last = u.rfind('/');
    size_t prev = last == std::string_view::npos || last == 0 ? std::string_view::npos : u.rfind('/', last - 1);
    bool restful = prev != std::string_view::npos && v.reg.resourceType(u.substr(prev + 1, last - prev - 1));
    if (restful && !u.ends_with(tail))
      add(Severity::Error, "invalid",
          "The fullUrl '" + std::string(fu->value) + "' looks like a RESTful server URL, so it must end with the "
              "resource's type and id ('" + tail.substr(1) + "')",
          path, fu);
  }
};

}  // namespace

namespace {
bool findPath(const Node* n, const Node* target, std::string& path) {
  if (n == target) return true;
  std::string_view lastName;
  size_t index = 0;
  for (const Node* c : n->children) {
    if (c->def->name == lastName) ++index;
    else {
      index = 0;
      lastName = c->def->name;
    }
    const size_t mark = path.size();
    profile::appendChildPath(path, c, index);
    if (findPath(c, target, path)) return true;
    path.resize(mark);
  }
  return false;
}
}  // namespace

std::string fhirPathOf(const Node& root, const Node* target) {
  std::string path = root.type->name;
  if (!target || !findPath(&root, target, path)) return {};
  return path;
}

bool ele1Holds(const Node& node) {
  if (node.hasValue) return true;
  for (const Node* c : node.children)
    if (c->def->name != "id") return true;
  return false;
}

Validator::Validator(const Registry& registry, const fhirpath::Terminology* terminology)
    : impl_(std::make_unique<Impl>(registry, terminology)) {}
Validator::~Validator() = default;

Issues Validator::validate(const Node& resource, const ValidationOptions& options) const {
  Issues issues;
  Walk w{*impl_, options, issues, {}, &resource, &resource, false, nullptr, {}};
  w.pathBuf.reserve(256);
  w.pathBuf = resource.type->name;
  w.element(&resource, w.pathBuf);
  w.profiles(&resource, &resource, w.pathBuf, &options.profiles);
  return issues;
}

}  // namespace hoa::fhir
