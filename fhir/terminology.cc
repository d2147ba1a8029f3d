#include "fhir/terminology.h"

#include <algorithm>
#include <functional>

namespace hoa::fhir {
namespace {

std::string key(std::string_view system, std::string_view code) {
  std::string k;
  k.reserve(system.size() + code.size() + 1);
  k.append(system).append("|").append(code);
  return k;
}

// The concept objects of a CodeSystem, depth first, with their parent chain.
void walkConcepts(const json::Value* list, std::vector<std::string_view>& parents,
                  const std::function<void(const json::Value&, const std::vector<std::string_view>&)>& fn) {
  if (!list || !list->isArray()) return;
  for (const json::Value* c : *list) {
    fn(*c, parents);
    std::string_view code = c->getString("code");
    parents.push_back(code);
    walkConcepts(c->find("concept"), parents, fn);
    parents.pop_back();
  }
}

bool hasProperty(const json::Value& c, std::string_view property, std::string_view value) {
  const json::Value* props = c.find("property");
  if (!props || !props->isArray()) return false;
  for (const json::Value* p : *props) {
    if (p->getString("code") != property) continue;
    for (const char* k : {"valueCode", "valueString", "valueCoding", "valueBoolean", "valueInteger"}) {
      const json::Value* v = p->find(k);
      if (!v) continue;
      if (v->isObject() && v->getString("code") == value) return true;
      if (v->text == value) return true;
    }
  }
  return false;
}

}  // namespace

bool Expansion::contains(std::string_view system, std::string_view code) const {
  if (!system.empty()) return codes.count(key(system, code)) > 0;
  for (const std::string& k : codes) {
    size_t bar = k.rfind('|');
    if (bar != std::string::npos && std::string_view(k).substr(bar + 1) == code) return true;
  }
  return false;
}

std::shared_ptr<const Expansion> RegistryTerminology::expand(std::string_view url) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(std::string(url));
    if (it != cache_.end()) return it->second;
  }
  auto e = build(url, 0);
  std::lock_guard<std::mutex> lock(mutex_);
  cache_.emplace(std::string(url), e);
  return e;
}

std::optional<bool> RegistryTerminology::codeExists(std::string_view system, std::string_view code) const {
  auto c = lookup(system, code);
  if (!c) return std::nullopt;
  return c->found;
}

std::optional<RegistryTerminology::Concept> RegistryTerminology::lookup(std::string_view system,
                                                                        std::string_view code) const {
  std::shared_ptr<const Displays> displays;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = systems_.find(std::string(system));
    if (it != systems_.end()) {
      cached = true;
      displays = it->second;
    }
  }
  if (!cached) {
    const json::Value* cs = reg_.resource(system);
    std::shared_ptr<Displays> d;
    if (cs && cs->getString("resourceType") == "CodeSystem" && cs->getString("content") == "complete") {
      d = std::make_shared<Displays>();
      std::vector<std::string_view> parents;
      walkConcepts(cs->find("concept"), parents, [&](const json::Value& c, const std::vector<std::string_view>&) {
        d->emplace(std::string(c.getString("code")), std::string(c.getString("display")));
      });
    }
    std::lock_guard<std::mutex> lock(mutex_);
    displays = systems_.emplace(std::string(system), d).first->second;
  }
  if (!displays) return std::nullopt;
  Concept c;
  auto it = displays->find(std::string(code));
  if (it != displays->end()) {
    c.found = true;
    c.display = it->second;
  }
  return c;
}

std::shared_ptr<const Expansion> RegistryTerminology::build(std::string_view url, int depth) const {
  const json::Value* vs = reg_.resource(url);
  if (!vs || vs->getString("resourceType") != "ValueSet") return nullptr;
  auto out = std::make_shared<Expansion>();
  auto incomplete = [&](std::string why) {
    if (out->complete) out->why = std::move(why);
    out->complete = false;
  };
  if (depth > 8) {
    incomplete("value sets import each other too deeply");
    return out;
  }

  // The codes one include/exclude entry stands for; false when it cannot be computed.
  auto entryCodes = [&](const json::Value& inc, std::unordered_set<std::string>& codes, std::string& why) -> bool {
    std::string_view system = inc.getString("system");
    bool computable = true;
    std::optional<std::unordered_set<std::string>> fromSets;
    if (const json::Value* sets = inc.find("valueSet"); sets && sets->isArray()) {
      for (const json::Value* s : *sets) {
        auto sub = build(s->text, depth + 1);
        if (!sub) {
          why = "imported value set " + std::string(s->text) + " is not known";
          return false;
        }
        if (!sub->complete) {
          why = sub->why;
          computable = false;
        }
        if (!fromSets) {
          fromSets = sub->codes;
        } else {
          std::unordered_set<std::string> both;
          for (const std::string& c : *fromSets)
            if (sub->codes.count(c)) both.insert(c);
          fromSets = std::move(both);
        }
      }
    }
    if (system.empty()) {
      if (fromSets) codes = std::move(*fromSets);
      return computable;
    }
    std::unordered_set<std::string> sys;
    if (const json::Value* concepts = inc.find("concept"); concepts && concepts->isArray()) {
      for (const json::Value* c : *concepts) sys.insert(key(system, c->getString("code")));
    } else {
      const json::Value* cs = reg_.resource(system);
      if (!cs || cs->getString("resourceType") != "CodeSystem") {
        why = "code system " + std::string(system) + " is not loaded";
        return false;
      }
      if (cs->getString("content") != "complete") {
        why = "code system " + std::string(system) + " is not complete here";
        return false;
      }
      const json::Value* filters = inc.find("filter");
      std::vector<std::string_view> parents;
      bool filterOk = true;
      walkConcepts(cs->find("concept"), parents, [&](const json::Value& c, const std::vector<std::string_view>& up) {
        std::string_view code = c.getString("code");
        bool in = true;
        if (filters && filters->isArray()) {
          for (const json::Value* f : *filters) {
            std::string_view op = f->getString("op"), prop = f->getString("property"), value = f->getString("value");
            bool ancestor = std::find(up.begin(), up.end(), value) != up.end();
            if (op == "is-a" && prop == "concept") in = in && (code == value || ancestor);
            else if (op == "descendent-of" && prop == "concept") in = in && ancestor;
            else if (op == "is-not-a" && prop == "concept") in = in && !(code == value || ancestor);
            else if (op == "=") in = in && hasProperty(c, prop, value);
            else filterOk = false;
          }
        }
        if (in) sys.insert(key(system, code));
      });
      if (!filterOk) {
        why = "a filter of " + std::string(system) + " cannot be evaluated here";
        return false;
      }
    }
    if (fromSets) {
      std::unordered_set<std::string> both;
      for (const std::string& c : sys)
        if (fromSets->count(c)) both.insert(c);
      codes = std::move(both);
    } else {
      codes = std::move(sys);
    }
    return computable;
  };

  const json::Value* compose = vs->find("compose");
  if (compose) {
    if (const json::Value* incs = compose->find("include"); incs && incs->isArray()) {
      for (const json::Value* inc : *incs) {
        std::unordered_set<std::string> codes;
        std::string why;
        if (!entryCodes(*inc, codes, why)) incomplete(why);
        out->codes.insert(codes.begin(), codes.end());
        if (out->codes.size() > maxCodes_) {
          incomplete("more than " + std::to_string(maxCodes_) + " codes");
          return out;
        }
      }
    }
    if (const json::Value* excs = compose->find("exclude"); excs && excs->isArray()) {
      for (const json::Value* exc : *excs) {
        std::unordered_set<std::string> codes;
        std::string why;
        if (!entryCodes(*exc, codes, why)) {
          // Unknown excludes make membership of anything unknown.
          incomplete(why);
          out->codes.clear();
          return out;
        }
        for (const std::string& c : codes) out->codes.erase(c);
      }
    }
    return out;
  }
  if (const json::Value* expansion = vs->find("expansion")) {
    std::function<void(const json::Value*)> add = [&](const json::Value* contains) {
      if (!contains || !contains->isArray()) return;
      for (const json::Value* c : *contains) {
        if (!c->getString("code").empty()) out->codes.insert(key(c->getString("system"), c->getString("code")));
        add(c->find("contains"));
      }
    };
    add(expansion->find("contains"));
    const json::Value* total = expansion->find("total");
    if (total && std::to_string(out->codes.size()) != total->text) incomplete("the stored expansion is partial");
    return out;
  }
  incomplete("the value set has neither a compose nor an expansion");
  return out;
}

std::optional<bool> RegistryTerminology::memberOf(std::string_view system, std::string_view code,
                                                  std::string_view valueSetUrl) const {
  auto e = expand(valueSetUrl);
  if (!e) return std::nullopt;
  if (e->contains(system, code)) return true;
  if (!e->complete) return std::nullopt;
  return false;
}

}  // namespace hoa::fhir
