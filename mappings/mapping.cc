#include "mappings/mapping.h"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "fhir/json.h"
#include "mappings/clinic_package.h"

namespace hoa::clinic {

namespace fp = fhir::fhirpath;

const fp::Collection& FieldValues::items(std::string_view field) const {
  auto it = mapping_->fieldIndex_.find(field);
  if (it == mapping_->fieldIndex_.end())
    throw std::out_of_range("mapping '" + mapping_->name() + "' has no field '" + std::string(field) + "'");
  return results_[it->second].items;
}

namespace {
std::optional<std::string> itemText(const fp::Item& i) {
  if (i.isNode()) {
    const fhir::Node* n = i.node();
    if (!n->isPrimitive() || !n->hasValue) return std::nullopt;
    return std::string(n->value);
  }
  if (i.kind() == fp::ItemKind::String) return std::string(i.string());
  return i.toString();
}
}  // namespace

std::optional<std::string> FieldValues::text(std::string_view field) const {
  for (const fp::Item& i : items(field))
    if (auto t = itemText(i)) return t;
  return std::nullopt;
}

std::vector<std::string> FieldValues::texts(std::string_view field) const {
  std::vector<std::string> out;
  for (const fp::Item& i : items(field))
    if (auto t = itemText(i)) out.push_back(std::move(*t));
  return out;
}

const fhir::Node* FieldValues::node(std::string_view field) const {
  for (const fp::Item& i : items(field))
    if (i.isNode()) return i.node();
  return nullptr;
}

std::string_view Mapping::constant(std::string_view name) const {
  for (const auto& [k, v] : constants_)
    if (k == name) return v;
  return {};
}

bool Mapping::hasField(std::string_view field) const { return fieldIndex_.find(field) != fieldIndex_.end(); }

std::vector<std::string> Mapping::fieldNames() const {
  std::vector<std::string> out;
  for (const Step& f : fields_) out.push_back(f.name);
  return out;
}

std::shared_ptr<const Mapping> Mapping::loadFile(const fhir::Registry& registry, const std::string& path,
                                                 std::string& error) {
  std::string text;
  if (!readTextFile(path, text, error)) return nullptr;
  auto m = load(registry, text, error);
  if (!m) error = path + ": " + error;
  return m;
}

std::shared_ptr<const Mapping> Mapping::load(const fhir::Registry& registry, std::string_view text,
                                             std::string& error) {
  json::Error jerr;
  json::Document doc = json::Document::parse(std::string(text), jerr);
  if (!doc.root()) {
    error = "line " + std::to_string(jerr.line) + ", column " + std::to_string(jerr.column) + ": " + jerr.message;
    return nullptr;
  }
  const json::Value& root = *doc.root();
  if (!root.isObject()) {
    error = "a mapping file is a JSON object";
    return nullptr;
  }
  auto m = std::shared_ptr<Mapping>(new Mapping());
  m->name_ = std::string(root.getString("name"));
  m->focus_ = std::string(root.getString("focus"));
  const fhir::TypeInfo* focusType = registry.type(m->focus_);
  if (m->name_.empty() || !focusType) {
    error = "the mapping needs a \"name\" and a \"focus\" that names a FHIR type (got '" + m->focus_ + "')";
    return nullptr;
  }
  std::set<std::string, std::less<>> names;
  fp::CompileOptions opts;
  opts.focusType = focusType;
  if (const json::Value* cs = root.find("constants")) {
    if (!cs->isObject()) {
      error = "\"constants\" must be an object of strings";
      return nullptr;
    }
    for (size_t i = 0; i < cs->size; ++i) {
      const json::Value* v = cs->members[i].value;
      std::string key(cs->members[i].key);
      if (!v->isString() || !names.insert(key).second) {
        error = "constant '" + key + "' must be a string and unique";
        return nullptr;
      }
      m->constants_.emplace_back(key, std::string(v->text));
      opts.variables.push_back(key);
    }
  }
  std::set<std::string, std::less<>> fieldNames;
  if (const json::Value* ps = root.find("parameters")) {
    for (const json::Value* v : *ps) {
      std::string key(v->text);
      if (!v->isString() || key.empty() || !names.insert(key).second) {
        error = "parameter '" + key + "' must be a non-empty, unique string";
        return nullptr;
      }
      m->parameters_.push_back(key);
      opts.variables.push_back(key);
    }
  }
  auto compileStep = [&](const json::Value* s, const char* nameKey, Step& out) {
    out.name = std::string(s->getString(nameKey));
    std::string_view expression = s->getString("expression");
    if (out.name.empty() || expression.empty()) {
      error = std::string("each entry needs \"") + nameKey + "\" and \"expression\" (line " +
              std::to_string(s->line) + ")";
      return false;
    }
    // Variables (constants and lets) and fields are two name spaces, each without repeats.
    bool isField = std::string_view(nameKey) == "field";
    if (!(isField ? fieldNames : names).insert(out.name).second) {
      error = std::string(isField ? "field" : "variable") + " '" + out.name + "' is defined twice";
      return false;
    }
    fp::CompileError ce;
    out.expr = fp::compile(registry, expression, ce, opts);
    if (!out.expr) {
      error = "'" + out.name + "': " + ce.toString() + " in: " + std::string(expression);
      return false;
    }
    return true;
  };
  if (const json::Value* lets = root.find("let")) {
    for (const json::Value* s : *lets) {
      Step step;
      if (!compileStep(s, "name", step)) return nullptr;
      opts.variables.push_back(step.name);  // visible to what follows
      m->lets_.push_back(std::move(step));
    }
  }
  const json::Value* fields = root.find("fields");
  if (!fields || !fields->isArray() || fields->size == 0) {
    error = "the mapping has no \"fields\"";
    return nullptr;
  }
  for (const json::Value* s : *fields) {
    Step step;
    if (!compileStep(s, "field", step)) return nullptr;
    m->fieldIndex_.emplace(step.name, m->fields_.size());
    m->fields_.push_back(std::move(step));
  }
  return m;
}

std::vector<std::string> Mapping::missingFields(const std::vector<std::string_view>& needed) const {
  std::vector<std::string> out;
  for (std::string_view f : needed)
    if (!hasField(f)) out.emplace_back(f);
  return out;
}

FieldValues Mapping::evaluate(const fhir::Node& focus, const fhir::Node* rootResource,
                              const std::map<std::string, std::string, std::less<>>& parameters) const {
  FieldValues out;
  out.mapping_ = this;
  fp::Environment env;
  env.resource = &focus;
  env.rootResource = rootResource ? rootResource : &focus;
  for (const auto& [k, v] : constants_) env.variables[k] = fp::Collection{fp::Item::string(v)};
  for (const std::string& k : parameters_) {
    auto it = parameters.find(k);
    env.variables[k] = it == parameters.end() ? fp::Collection{} : fp::Collection{fp::Item::string(it->second)};
  }
  for (const Step& s : lets_) {
    fp::Result r = fp::evaluate(*s.expr, &focus, env);
    if (!r.ok()) out.errors_.push_back(s.name + ": " + r.error);
    env.variables[s.name] = r.items;
    out.lets_.push_back(std::move(r));
  }
  out.results_.reserve(fields_.size());
  for (const Step& s : fields_) {
    fp::Result r = fp::evaluate(*s.expr, &focus, env);
    if (!r.ok()) {
      out.errors_.push_back(s.name + ": " + r.error);
      r.items.clear();
    }
    out.results_.push_back(std::move(r));
  }
  return out;
}

}  // namespace hoa::clinic
