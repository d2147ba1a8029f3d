#include "fhir/definitions.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "fhir/snapshot.h"

namespace hoa::fhir {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kCoreBase = "http://hl7.org/fhir/StructureDefinition/";
constexpr std::string_view kFhirTypeExtension =
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";

// Resource types whose instances in a package are definitions rather than examples.
const std::set<std::string, std::less<>> kConformanceTypes = {
    "StructureDefinition", "ValueSet",          "CodeSystem",           "SearchParameter",
    "ConceptMap",          "OperationDefinition", "NamingSystem",       "CompartmentDefinition",
    "Questionnaire",       "ImplementationGuide", "CapabilityStatement", "StructureMap"};

bool readWholeFile(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size < 0) return false;
  out.resize(static_cast<size_t>(size));
  in.seekg(0);
  in.read(out.data(), size);
  return static_cast<bool>(in);
}

JsonKind jsonKindOf(std::string_view primitive) {
  if (primitive == "boolean") return JsonKind::Boolean;
  if (primitive == "integer" || primitive == "positiveInt" || primitive == "unsignedInt")
    return JsonKind::Integer;
  if (primitive == "decimal") return JsonKind::Decimal;
  if (primitive == "xhtml") return JsonKind::Xhtml;
  return JsonKind::String;
}

uint32_t parseMax(std::string_view max) {
  if (max == "*") return kUnbounded;
  uint32_t v = 0;
  for (char c : max) {
    if (c < '0' || c > '9') return kUnbounded;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v;
}

uint32_t numberOr(const json::Value* v, uint32_t def) {
  if (!v || v->type != json::Type::Number) return def;
  return static_cast<uint32_t>(std::strtoul(std::string(v->text).c_str(), nullptr, 10));
}

bool hasRepresentation(const json::Value& ed, std::string_view rep) {
  const json::Value* reps = ed.find("representation");
  if (!reps || !reps->isArray()) return false;
  for (const json::Value* r : *reps)
    if (r->isString() && r->text == rep) return true;
  return false;
}

// The FHIR type code of an ElementDefinition.type entry; the System.* codes of ids, urls
// and primitive values carry their FHIR type in an extension.
std::string_view typeCode(const json::Value& type) {
  std::string_view code = type.getString("code");
  if (code.starts_with("http://hl7.org/fhirpath/System.")) {
    if (const json::Value* exts = type.find("extension"); exts && exts->isArray()) {
      for (const json::Value* e : *exts) {
        if (e->getString("url") == kFhirTypeExtension) {
          std::string_view v = e->getString("valueUrl");
          if (v.empty()) v = e->getString("valueUri");
          if (!v.empty()) return v;
        }
      }
    }
    return "string";
  }
  return code;
}

std::string upperFirst(std::string_view s) {
  std::string r(s);
  if (!r.empty() && r[0] >= 'a' && r[0] <= 'z') r[0] = static_cast<char>(r[0] - 'a' + 'A');
  return r;
}

}  // namespace

const ElementType* ElementDef::typeFor(std::string_view code) const {
  for (const ElementType& t : types)
    if (t.code == code) return &t;
  return nullptr;
}

const ElementDef* TypeInfo::element(std::string_view n) const {
  for (const ElementDef& e : elements)
    if (e.name == n) return &e;
  return nullptr;
}

bool TypeInfo::isA(std::string_view other) const {
  for (const TypeInfo* t = this; t; t = t->base)
    if (t->name == other) return true;
  return false;
}

std::string propertyName(const ElementDef& element, const TypeInfo& type) {
  if (!element.isChoice) return element.name;
  return element.name + upperFirst(type.name);
}

struct Registry::Impl {
  std::deque<json::Document> docs;
  StringMap<const json::Value*> byUrl;
  StringMap<std::vector<const json::Value*>> byType;
  std::vector<std::unique_ptr<TypeInfo>> types;  // owns every TypeInfo, backbones included
  StringMap<TypeInfo*> typesByName;
  StringMap<TypeInfo*> typesByUrl;
  size_t sdCount = 0;
  bool finalized = false;

  // Gives each constraint profile loaded with only a differential its generated snapshot,
  // so that everything reached through byUrl/byType (profiles, extension definitions)
  // has one. The original stays in `docs`; the lookups point to the completed copy.
  bool completeSnapshots(std::string& error) {
    std::vector<GeneratedSnapshot> generated;
    auto find = [this](std::string_view url) -> const json::Value* {
      auto it = byUrl.find(url);
      return it == byUrl.end() ? nullptr : it->second;
    };
    if (!generateMissingSnapshots(byType["StructureDefinition"], find, generated, error)) return false;
    if (generated.empty()) return true;
    std::unordered_map<const json::Value*, const json::Value*> replaced;
    for (GeneratedSnapshot& g : generated) {
      replaced[g.original] = g.document.root();
      docs.push_back(std::move(g.document));
    }
    for (auto& [url, v] : byUrl)
      if (auto it = replaced.find(v); it != replaced.end()) v = it->second;
    for (const json::Value*& v : byType["StructureDefinition"])
      if (auto it = replaced.find(v); it != replaced.end()) v = it->second;
    return true;
  }

  TypeInfo* newType() {
    types.push_back(std::make_unique<TypeInfo>());
    return types.back().get();
  }

  // Builds the elements under `prefix` from snapshot elements [i, n).
  void buildElements(TypeInfo& t, const std::string& prefix, const json::Value& elems, size_t& i,
                     StringMap<TypeInfo*>& backbones) {
    const size_t n = elems.size;
    while (i < n) {
      const json::Value& ed = *elems.items[i];
      std::string_view path = ed.getString("path");
      if (path.size() <= prefix.size() + 1 || !path.starts_with(prefix) ||
          path[prefix.size()] != '.')
        return;  // not below prefix: the caller's sibling
      std::string_view rest = path.substr(prefix.size() + 1);
      if (rest.find('.') != std::string_view::npos || ed.find("sliceName")) {
        ++i;  // slices and orphans are not structure
        continue;
      }
      ++i;
      if (t.kind == TypeKind::Primitive && rest == "value") continue;  // the value itself
      ElementDef def;
      def.path = std::string(path);
      def.isChoice = rest.ends_with("[x]");
      def.name = std::string(def.isChoice ? rest.substr(0, rest.size() - 3) : rest);
      def.min = numberOr(ed.find("min"), 0);
      def.max = parseMax(ed.getString("max", "1"));
      def.xmlAttr = hasRepresentation(ed, "xmlAttr");
      if (const json::Value* m = ed.find("isModifier")) def.isModifier = m->boolean;
      if (const json::Value* s = ed.find("isSummary")) def.isSummary = s->boolean;
      def.definition = &ed;
      def.index = static_cast<uint16_t>(t.elements.size());
      if (const json::Value* types = ed.find("type"); types && types->isArray()) {
        for (const json::Value* ty : *types) {
          ElementType et;
          et.code = std::string(typeCode(*ty));
          // R4 declares Resource.id as System.String with FHIR type string, while the
          // specification (and FHIRPath's type()) says id.
          if (t.kind == TypeKind::Resource && rest == "id" && prefix == t.name && et.code == "string")
            et.code = "id";
          et.raw = ty;
          def.types.push_back(std::move(et));
        }
      }
      def.isResource = def.types.size() == 1 &&
                       (def.types[0].code == "Resource" || def.types[0].code == "DomainResource");
      // Inline children: the next snapshot element lies below this one.
      if (i < n) {
        std::string_view next = elems.items[i]->getString("path");
        if (next.size() > path.size() && next.starts_with(path) && next[path.size()] == '.') {
          TypeInfo* bb = newType();
          bb->name = def.path;
          bb->kind = TypeKind::Backbone;
          buildElements(*bb, def.path, elems, i, backbones);
          backbones[def.path] = bb;
          def.inlineType = bb;
        }
      }
      t.elements.push_back(std::move(def));
    }
  }

  bool build(std::string& error) {
    // 1. One TypeInfo per type-defining StructureDefinition.
    std::vector<std::pair<TypeInfo*, const json::Value*>> defining;
    for (const json::Value* sd : byType["StructureDefinition"]) {
      std::string_view kind = sd->getString("kind");
      if (kind != "primitive-type" && kind != "complex-type" && kind != "resource") continue;
      std::string_view type = sd->getString("type");
      std::string_view url = sd->getString("url");
      if (url.size() != kCoreBase.size() + type.size() || !url.starts_with(kCoreBase) ||
          !url.ends_with(type))
        continue;  // a profile or an extension, not the definition of a type
      if (!sd->find("snapshot")) continue;
      TypeInfo* t = newType();
      t->name = std::string(type);
      t->url = std::string(url);
      t->kind = kind == "primitive-type" ? TypeKind::Primitive
                : kind == "resource"     ? TypeKind::Resource
                                         : TypeKind::Complex;
      if (const json::Value* a = sd->find("abstract")) t->isAbstract = a->boolean;
      t->jsonKind = jsonKindOf(type);
      t->structureDefinition = sd;
      typesByName[t->name] = t;
      typesByUrl[t->url] = t;
      defining.emplace_back(t, sd);
    }
    // 2. Elements from the snapshots.
    StringMap<TypeInfo*> backbones;
    for (auto& [t, sd] : defining) {
      const json::Value* elems = sd->find("snapshot")->find("element");
      if (!elems || !elems->isArray() || elems->size == 0) {
        error = "StructureDefinition " + t->url + " has an empty snapshot";
        return false;
      }
      size_t i = 1;  // element 0 is the type itself
      std::string prefix(elems->items[0]->getString("path"));
      buildElements(*t, prefix, *elems, i, backbones);
    }
    // 3. Resolve type codes, content references and bases.
    for (auto& tp : types) {
      for (ElementDef& def : tp->elements) {
        for (ElementType& et : def.types) {
          auto it = typesByName.find(et.code);
          if (it == typesByName.end()) {
            error = "element " + def.path + " has the unknown type '" + et.code + "'";
            return false;
          }
          et.type = it->second;
        }
        std::string_view ref = def.definition->getString("contentReference");
        if (!ref.empty()) {
          auto hash = ref.find('#');
          auto it = backbones.find(ref.substr(hash == std::string_view::npos ? 0 : hash + 1));
          if (it == backbones.end()) {
            error = "element " + def.path + " has an unresolvable contentReference '" +
                    std::string(ref) + "'";
            return false;
          }
          def.inlineType = it->second;
        }
        if (def.types.empty() && !def.inlineType) {
          error = "element " + def.path + " has no type";
          return false;
        }
      }
    }
    for (auto& [t, sd] : defining) {
      auto it = typesByUrl.find(sd->getString("baseDefinition"));
      if (it != typesByUrl.end() && it->second != t) t->base = it->second;
    }
    // 4. Property names.
    for (auto& tp : types) {
      for (const ElementDef& def : tp->elements) {
        if (def.inlineType) {
          tp->properties_[def.name] = {&def, def.inlineType};
          continue;
        }
        for (const ElementType& et : def.types)
          tp->properties_[propertyName(def, *et.type)] = {&def, et.type};
      }
    }
    finalized = true;
    return true;
  }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

bool Registry::addResource(std::string text, const std::string& origin, std::string& error) {
  json::Error err;
  json::Document doc = json::Document::parse(std::move(text), err);
  if (err) {
    error = origin + ":" + std::to_string(err.line) + ":" + std::to_string(err.column) + ": " +
            err.message;
    return false;
  }
  const json::Value* root = doc.root();
  if (!root->isObject()) {
    error = origin + ": not a JSON object";
    return false;
  }
  std::string_view rt = root->getString("resourceType");
  if (rt.empty()) {
    error = origin + ": no resourceType";
    return false;
  }
  if (rt == "StructureDefinition") ++impl_->sdCount;
  std::string_view url = root->getString("url");
  if (!url.empty()) {
    impl_->byUrl.emplace(std::string(url), root);
    std::string_view version = root->getString("version");
    if (!version.empty())
      impl_->byUrl.emplace(std::string(url) + "|" + std::string(version), root);
  }
  impl_->byType[std::string(rt)].push_back(root);
  impl_->docs.push_back(std::move(doc));
  impl_->finalized = false;
  return true;
}

bool Registry::loadPackage(const fs::path& dirIn, std::string& error, LoadStats* stats) {
  fs::path dir = dirIn;
  std::error_code ec;
  if (!fs::exists(dir / "package.json", ec) && fs::exists(dir / "package" / "package.json", ec))
    dir /= "package";
  if (!fs::is_directory(dir, ec)) {
    error = "FHIR package folder not found: " + dir.string();
    return false;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::string name = entry.path().filename().string();
    if (!name.ends_with(".json") || name == "package.json" || name.starts_with(".")) continue;
    auto dash = name.find('-');
    if (dash == std::string::npos || !kConformanceTypes.count(name.substr(0, dash))) continue;
    files.push_back(entry.path());
  }
  if (ec) {
    error = "cannot list " + dir.string() + ": " + ec.message();
    return false;
  }
  std::sort(files.begin(), files.end());  // deterministic load order
  LoadStats local;
  std::string text;
  for (const fs::path& f : files) {
    if (!readWholeFile(f, text)) {
      error = "cannot read " + f.string();
      return false;
    }
    local.bytes += text.size();
    ++local.files;
    if (!addResource(std::move(text), f.string(), error)) return false;
    text = std::string();
  }
  local.structureDefinitions = impl_->sdCount;
  if (stats) *stats = local;
  return finalize(error);
}

bool Registry::finalize(std::string& error) {
  if (impl_->finalized) return true;
  if (!impl_->completeSnapshots(error)) return false;
  impl_->types.clear();
  impl_->typesByName.clear();
  impl_->typesByUrl.clear();
  return impl_->build(error);
}

const TypeInfo* Registry::type(std::string_view name) const {
  auto it = impl_->typesByName.find(name);
  return it == impl_->typesByName.end() ? nullptr : it->second;
}

const TypeInfo* Registry::resourceType(std::string_view name) const {
  const TypeInfo* t = type(name);
  return t && t->kind == TypeKind::Resource && !t->isAbstract ? t : nullptr;
}

const json::Value* Registry::resource(std::string_view url) const {
  auto it = impl_->byUrl.find(url);
  return it == impl_->byUrl.end() ? nullptr : it->second;
}

const std::vector<const json::Value*>& Registry::resourcesOfType(std::string_view rt) const {
  static const std::vector<const json::Value*> kNone;
  auto it = impl_->byType.find(rt);
  return it == impl_->byType.end() ? kNone : it->second;
}

size_t Registry::structureDefinitionCount() const { return impl_->sdCount; }

fs::path Registry::defaultCorePackageDir() {
  if (const char* env = std::getenv("HOA_FHIR_PACKAGE_DIR")) return env;
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : ".") / ".fhir/packages/hl7.fhir.r4.examples#4.0.1/package";
}

}  // namespace hoa::fhir
