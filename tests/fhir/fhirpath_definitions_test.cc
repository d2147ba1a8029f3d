// Acceptance: every FHIRPath expression the R4 core package carries compiles: the
// constraints (invariants) of every StructureDefinition, in the snapshot and in the
// differential, without a focus type and with the type the element's path resolves to;
// and the expressions of every SearchParameter.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/fhirpath.h"
#include "fhir/json.h"
#include "tests/test_env.h"

namespace hoa::testing {
namespace {
namespace fp = hoa::fhir::fhirpath;

// Compiles each (expression, focus type) once; remembers the error ("" when it compiled).
class CompileCache {
 public:
  explicit CompileCache(const fhir::Registry& reg) : reg_(reg) {}
  const std::string& error(std::string_view text, const fhir::TypeInfo* focusType) {
    auto key = std::make_pair(std::string(text), focusType);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    fp::CompileOptions opts;
    opts.focusType = focusType;
    fp::CompileError ce;
    std::string err;
    try {
      if (!fp::compile(reg_, text, ce, opts)) err = ce.toString();
    } catch (const std::exception& e) {
      err = std::string("exception: ") + e.what();
    }
    return cache_.emplace(std::move(key), std::move(err)).first->second;
  }
  size_t size() const { return cache_.size(); }

 private:
  const fhir::Registry& reg_;
  std::map<std::pair<std::string, const fhir::TypeInfo*>, std::string> cache_;
};

// The type an element path of a StructureDefinition stands for ("Observation.component.
// value[x]"), or nullptr when it cannot be resolved (a choice of several types, a logical
// model). `element` is the ElementDefinition: a single type code of its own narrows a
// choice (profiles, extensions).
const fhir::TypeInfo* resolveElementType(const fhir::Registry& reg, const json::Value& sd,
                                         const json::Value& element) {
  std::string_view path = element.getString("path");
  size_t dot = path.find('.');
  const fhir::TypeInfo* t = reg.type(path.substr(0, dot));
  if (!t) t = reg.type(sd.getString("type"));
  while (t && dot != std::string_view::npos) {
    size_t next = path.find('.', dot + 1);
    std::string_view seg =
        path.substr(dot + 1, next == std::string_view::npos ? next : next - dot - 1);
    dot = next;
    if (seg.ends_with("[x]")) seg.remove_suffix(3);
    const fhir::ElementDef* e = t->element(seg);
    if (!e) {
      t = nullptr;
      break;
    }
    if (e->inlineType)
      t = e->inlineType;
    else if (e->types.size() == 1)
      t = e->types[0].type;
    else
      t = nullptr;  // a choice of several types: the element's own type may narrow it
  }
  // The element's own type list, when it names exactly one concrete type.
  if (!t || t->kind != fhir::TypeKind::Backbone) {
    const json::Value* types = element.find("type");
    if (types && types->isArray() && types->size == 1) {
      std::string_view code = types->items[0]->getString("code");
      if (code != "Element" && code != "BackboneElement")
        if (const fhir::TypeInfo* own = reg.type(code)) t = own;
    }
  }
  return t;
}

// Constraints that are wrong for the type that carries them in R4: they compile without a
// focus type, but the type check rightly rejects them. (StructureDefinition url, key, why.)
struct TypedException {
  const char* url;
  const char* key;
  const char* why;
};
const TypedException kTypedExceptions[] = {
    {"http://hl7.org/fhir/StructureDefinition/ChargeItemDefinition", "cid-0",
     "name.matches(...) comes from the canonical-resource pattern, but R4's "
     "ChargeItemDefinition has no element 'name'"},
    {"http://hl7.org/fhir/StructureDefinition/allergyintolerance-substanceExposureRisk", "inv-1",
     "'substanceExposureRisk.exists() and code.empty()' names elements an Extension does not "
     "have: the extension's parts are the sub-extensions 'substance' and 'exposureRisk'"},
};

class FhirPathDefinitions : public CoreRegistryTest {};

TEST_F(FhirPathDefinitions, EveryCoreConstraintCompiles) {
  const auto& sds = reg_->resourcesOfType("StructureDefinition");
  ASSERT_EQ(sds.size(), 655u);
  CompileCache cache(*reg_);
  size_t constraints = 0, withType = 0, failures = 0, typedFailures = 0, excepted = 0;
  std::set<const TypedException*> used;
  std::string messages;
  auto fail = [&](std::string line) {
    if (++failures <= 60) messages += line + "\n";
  };
  for (const json::Value* sd : sds) {
    std::string_view url = sd->getString("url");
    for (const char* part : {"snapshot", "differential"}) {
      const json::Value* p = sd->find(part);
      const json::Value* elements = p ? p->find("element") : nullptr;
      if (!elements) continue;
      for (const json::Value* element : *elements) {
        const json::Value* list = element->find("constraint");
        if (!list) continue;
        const fhir::TypeInfo* type = nullptr;
        bool typeResolved = false;
        for (const json::Value* c : *list) {
          std::string_view expr = c->getString("expression");
          if (expr.empty()) continue;
          ++constraints;
          std::string where = std::string(url) + " " + part + " " +
                              std::string(element->getString("id", element->getString("path"))) +
                              " " + std::string(c->getString("key")) + ": " + std::string(expr);
          if (const std::string& err = cache.error(expr, nullptr); !err.empty()) {
            fail(where + "\n    untyped: " + err);
            continue;
          }
          if (!typeResolved) {
            type = resolveElementType(*reg_, *sd, *element);
            typeResolved = true;
          }
          if (!type) continue;
          ++withType;
          if (const std::string& err = cache.error(expr, type); !err.empty()) {
            const TypedException* ex = nullptr;
            for (const TypedException& e : kTypedExceptions)
              if (url == e.url && c->getString("key") == e.key) ex = &e;
            if (ex) {
              used.insert(ex);
              ++excepted;
              continue;
            }
            ++typedFailures;
            fail(where + "\n    with focus type " + type->name + ": " + err);
          }
        }
      }
    }
  }
  std::printf(
      "[          ] %zu constraint expressions in %zu StructureDefinitions (%zu compiles); "
      "%zu also checked with their focus type; %zu failures (%zu of them typed); %zu listed "
      "exceptions\n",
      constraints, sds.size(), cache.size(), withType, failures, typedFailures, excepted);
  RecordProperty("constraints", static_cast<int>(constraints));
  RecordProperty("with_type", static_cast<int>(withType));
  RecordProperty("failures", static_cast<int>(failures));
  EXPECT_GT(constraints, 10000u);
  EXPECT_GT(withType, constraints * 9 / 10) << "too few element paths resolve to a type";
  EXPECT_EQ(failures, 0u) << failures << " constraints do not compile (first 60):\n" << messages;
  for (const TypedException& e : kTypedExceptions)
    if (!used.count(&e))
      ADD_FAILURE() << "listed exception does not occur: " << e.url << " " << e.key;
}

TEST_F(FhirPathDefinitions, EverySearchParameterExpressionCompiles) {
  const auto& params = reg_->resourcesOfType("SearchParameter");
  ASSERT_EQ(params.size(), 1400u);
  CompileCache cache(*reg_);
  size_t expressions = 0, failures = 0;
  std::string messages;
  for (const json::Value* sp : params) {
    std::string_view expr = sp->getString("expression");
    if (expr.empty()) continue;
    ++expressions;
    if (const std::string& err = cache.error(expr, nullptr); !err.empty())
      if (++failures <= 60)
        messages +=
            std::string(sp->getString("url")) + ": " + std::string(expr) + "\n    " + err + "\n";
  }
  std::printf(
      "[          ] %zu of %zu SearchParameters have an expression (%zu distinct); %zu "
      "failures\n",
      expressions, params.size(), cache.size(), failures);
  RecordProperty("expressions", static_cast<int>(expressions));
  RecordProperty("failures", static_cast<int>(failures));
  EXPECT_GT(expressions, 1000u);
  EXPECT_EQ(failures, 0u) << failures
                          << " search parameter expressions do not compile (first 60):\n"
                          << messages;
}

}  // namespace
}  // namespace hoa::testing
