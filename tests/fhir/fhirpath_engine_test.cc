// FHIRPath engine behaviour beyond the official suite: compile errors and their
// positions, limits on untrusted expressions, environment variables, resolve(),
// %resource in contained resources, strict checking, thread safety, and spec details
// the suite does not test.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fhir/fhirpath.h"
#include "fhir/format.h"
#include "tests/test_env.h"

namespace hoa::fhir::fhirpath {
namespace {

using hoa::testing::CoreRegistryTest;

class FhirPathEngine : public CoreRegistryTest {
 protected:
  ParseResult load(const std::string& json) {
    ParseResult r = parseJson(*reg_, json);
    EXPECT_TRUE(r.ok()) << (r.issues.items.empty() ? "" : r.issues.items[0].toString());
    return r;
  }

  // Evaluates and renders the result as "type:value" items joined by ", ", or
  // "error: ..." / "compile error: ...".
  std::string run(const std::string& expr, const Node* focus = nullptr, const Environment& env = {},
                  CompileOptions opts = {}) {
    CompileError err;
    if (focus && !opts.focusType) opts.focusType = focus->type;
    auto e = compile(*reg_, expr, err, opts);
    if (!e) return "compile error: " + err.toString();
    Result r = evaluate(*e, focus, env);
    if (!r.ok()) return "error: " + r.error;
    std::string s;
    for (const Item& i : r.items) {
      if (!s.empty()) s += ", ";
      s += i.typeName() + ":" + i.toString();
    }
    return s;
  }
};

const char* kPatient = R"({
  "resourceType": "Patient", "id": "p1",
  "contained": [{"resourceType": "Organization", "id": "org1", "name": "Helse og arbeid"}],
  "extension": [{"url": "http://example.org/ext", "valueString": "x"}],
  "name": [{"use": "official", "family": "Ærlig", "given": ["Åse", "Øyvind"]},
           {"use": "nickname", "given": ["Øy"]}],
  "birthDate": "1980-01-31",
  "managingOrganization": {"reference": "#org1"},
  "generalPractitioner": [{"reference": "Practitioner/gp1"}]
})";

TEST_F(FhirPathEngine, CompileErrorsCarryTheirPosition) {
  CompileError err;
  EXPECT_EQ(compile(*reg_, "name.where(", err), nullptr);
  EXPECT_EQ(err.line, 1u);
  EXPECT_EQ(err.column, 12u) << err.toString();

  EXPECT_EQ(compile(*reg_, "name\n  .frobnicate()", err), nullptr);
  EXPECT_EQ(err.line, 2u);
  EXPECT_EQ(err.column, 4u);
  EXPECT_NE(err.message.find("unknown function 'frobnicate'"), std::string::npos) << err.message;

  EXPECT_EQ(compile(*reg_, "name.substring()", err), nullptr);
  EXPECT_NE(err.message.find("takes 1 to 2 arguments, not 0"), std::string::npos) << err.message;

  EXPECT_EQ(compile(*reg_, "'unterminated", err), nullptr);
  EXPECT_NE(err.message.find("string is not closed"), std::string::npos) << err.message;

  EXPECT_EQ(compile(*reg_, "name.is(NoSuchType)", err), nullptr);
  EXPECT_NE(err.message.find("unknown type 'NoSuchType'"), std::string::npos) << err.message;

  EXPECT_EQ(compile(*reg_, "%undeclared", err), nullptr);
  EXPECT_NE(err.message.find("unknown variable '%undeclared'"), std::string::npos) << err.message;

  EXPECT_EQ(compile(*reg_, "@T14:34:28Z", err), nullptr);  // a Time has no timezone
  EXPECT_EQ(compile(*reg_, "1 2", err), nullptr);
  EXPECT_NE(err.message.find("unexpected '2'"), std::string::npos) << err.message;
}

TEST_F(FhirPathEngine, UntrustedExpressionsAreBounded) {
  CompileError err;
  std::string deep(5000, '(');
  deep += "1";
  deep += std::string(5000, ')');
  EXPECT_EQ(compile(*reg_, deep, err), nullptr);
  EXPECT_NE(err.message.find("nests too deeply"), std::string::npos) << err.message;

  std::string chain = "1";
  for (int i = 0; i < 3000; ++i) chain += " + 1";
  EXPECT_EQ(compile(*reg_, chain, err), nullptr) << "left-deep operator chains count as nesting too";
  EXPECT_NE(err.message.find("nests too deeply"), std::string::npos) << err.message;
  std::string path = "name";
  for (int i = 0; i < 3000; ++i) path += ".given";
  EXPECT_EQ(compile(*reg_, path, err), nullptr) << "so do long paths";
  std::string unary(3000, '-');
  EXPECT_EQ(compile(*reg_, unary + "1", err), nullptr);

  CompileOptions small;
  small.maxLength = 10;
  EXPECT_EQ(compile(*reg_, "name.given.first()", err, small), nullptr);
  EXPECT_NE(err.message.find("longer than the limit"), std::string::npos);

  // A collection that would explode is stopped with an error, not by running out of memory.
  auto e = compile(*reg_, "(1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).combine((1|2|3|4|5|6|7|8|9|10)))"
                          ".select($this.combine($this))", err);
  ASSERT_NE(e, nullptr) << err.toString();
  Environment env;
  env.maxItems = 100;
  Result r = evaluate(*e, nullptr, env);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("limit"), std::string::npos) << r.error;

  // Regular expressions run in linear time on any input; the work is still bounded.
  std::string big(300000, 'x');
  Environment withBig;
  withBig.variables["big"] = {Item::string(big)};
  CompileOptions vars;
  vars.variables = {"big"};
  auto m = compile(*reg_, "%big.matches('(x|y)*z') | %big.matches('^(x+x+)+$')", err, vars);
  ASSERT_NE(m, nullptr) << err.toString();
  Result mr = evaluate(*m, nullptr, withBig);
  ASSERT_TRUE(mr.ok()) << mr.error;
  ASSERT_EQ(mr.items.size(), 2u);
  EXPECT_FALSE(mr.items[0].boolean());
  EXPECT_TRUE(mr.items[1].boolean());
  std::string huge;
  for (char c = 'a'; c < 'a' + 15; ++c) huge += std::string(1, c) + "{1000}";
  auto w = compile(*reg_, "%big.matches('" + huge + "')", err, vars);
  ASSERT_NE(w, nullptr) << err.toString();
  Result wr = evaluate(*w, nullptr, withBig);
  EXPECT_FALSE(wr.ok());
  EXPECT_NE(wr.error.find("work limit"), std::string::npos) << wr.error;
  EXPECT_EQ(compile(*reg_, "'a'.matches('(a)\\\\1')", err), nullptr) << "back-references are refused";
  EXPECT_NE(err.message.find("invalid regular expression"), std::string::npos) << err.message;
}

TEST_F(FhirPathEngine, EnvironmentVariablesAndBuiltIns) {
  auto p = load(kPatient);
  Environment env;
  env.variables["clinic"] = {Item::string("Helse og arbeid")};
  CompileOptions opts;
  opts.variables = {"clinic"};
  EXPECT_EQ(run("contained.name = %clinic", p.doc.root(), env, opts), "boolean:true");
  EXPECT_EQ(run("%ucum & '|' & %sct & '|' & %loinc", nullptr),
            "string:http://unitsofmeasure.org|http://snomed.info/sct|http://loinc.org");
  EXPECT_EQ(run("%`vs-administrative-gender`"), "string:http://hl7.org/fhir/ValueSet/administrative-gender");
  EXPECT_EQ(run("%`ext-patient-birthTime`"), "string:http://hl7.org/fhir/StructureDefinition/patient-birthTime");
  EXPECT_EQ(run("%context.id", p.doc.root()), "id:p1");
  EXPECT_EQ(run("%resource.id", p.doc.root()), "id:p1");
}

TEST_F(FhirPathEngine, ResolvesContainedAndBundleReferences) {
  auto p = load(kPatient);
  EXPECT_EQ(run("managingOrganization.resolve().name", p.doc.root()), "string:Helse og arbeid");
  EXPECT_EQ(run("generalPractitioner.resolve()", p.doc.root()), "") << "no resolver: unresolved is empty";

  auto b = load(R"({"resourceType": "Bundle", "type": "transaction", "entry": [
    {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
     "resource": {"resourceType": "Patient", "id": "a", "name": [{"family": "Nordmann"}]}},
    {"fullUrl": "http://example.org/fhir/Practitioner/gp1",
     "resource": {"resourceType": "Practitioner", "id": "gp1", "name": [{"family": "Lege"}]}},
    {"resource": {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
      "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
      "requester": {"reference": "Practitioner/gp1"}}}]})");
  EXPECT_EQ(run("entry.resource.ofType(ServiceRequest).subject.resolve().name.family", b.doc.root()),
            "string:Nordmann");
  EXPECT_EQ(run("entry.resource.ofType(ServiceRequest).requester.resolve().name.family", b.doc.root()),
            "string:Lege");

  // A resolver supplied by the store is asked for what the resource itself cannot resolve.
  struct Store : ReferenceResolver {
    const Node* target = nullptr;
    const Node* resolve(std::string_view ref) const override { return ref == "Practitioner/gp1" ? target : nullptr; }
  } store;
  auto gp = load(R"({"resourceType": "Practitioner", "id": "gp1", "name": [{"family": "Fastlege"}]})");
  store.target = gp.doc.root();
  Environment env;
  env.resolver = &store;
  EXPECT_EQ(run("generalPractitioner.resolve().name.family", p.doc.root(), env), "string:Fastlege");
}

TEST_F(FhirPathEngine, ResourceVariablesInsideContainedResources) {
  auto p = load(kPatient);
  const Node* org = p.doc.root()->child("contained");
  ASSERT_NE(org, nullptr);
  Environment env;
  env.resource = org;
  env.rootResource = p.doc.root();
  EXPECT_EQ(run("%resource.id & '/' & %rootResource.id", org, env), "string:org1/p1");
}

TEST_F(FhirPathEngine, StrictCheckingKnowsTheDefinitions) {
  auto p = load(kPatient);
  EXPECT_EQ(run("name.given1", p.doc.root()),
            "compile error: line 1, column 6: 'given1' is not an element of HumanName");
  auto obs = load(R"({"resourceType": "Observation", "status": "final", "code": {"text": "vekt"},
                      "valueQuantity": {"value": 80.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}})");
  EXPECT_EQ(run("valueQuantity.value", obs.doc.root()),
            "compile error: line 1, column 1: 'valueQuantity' is not an element name in FHIRPath: write "
            "value.ofType(Quantity)");
  EXPECT_EQ(run("value.ofType(Quantity).value", obs.doc.root()), "decimal:80.50");
  // Without a focus type the lenient form is understood.
  CompileError err;
  auto e = compile(*reg_, "valueQuantity.value", err);
  ASSERT_NE(e, nullptr);
  Result r = evaluate(*e, obs.doc.root());
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].toString(), "80.50");
  // Polymorphic slots are not guessed at: any element of any resource may follow.
  auto b = load(R"({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": )" + std::string(kPatient) + "}]}");
  EXPECT_EQ(run("entry.resource.name.given.first()", b.doc.root()), "string:Åse");
  EXPECT_EQ(run("name.family.startsWith('Æ')", p.doc.root()), "boolean:true");
  EXPECT_EQ(run("name.startsWith('x')", p.doc.root()).rfind("compile error", 0), 0u);
}

TEST_F(FhirPathEngine, StringsCountCharactersNotBytes) {
  auto p = load(kPatient);
  EXPECT_EQ(run("name.family.length()", p.doc.root()), "integer:5");
  EXPECT_EQ(run("name.family.upper()", p.doc.root()), "string:ÆRLIG");
  EXPECT_EQ(run("'ÆØÅ'.lower()"), "string:æøå");
  EXPECT_EQ(run("'Åse Øyvind'.indexOf('Ø')"), "integer:4");
  EXPECT_EQ(run("'Åse Øyvind'.substring(4, 2)"), "string:Øy");
  EXPECT_EQ(run("'blåbær'.toChars().count()"), "integer:6");
  EXPECT_EQ(run("'2024-05-01'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '$3.$2.$1')"), "string:01.05.2024");
  EXPECT_EQ(run("'Bjørn'.matches('^Bj.rn$')"), "boolean:true") << "'.' is one code point";
  EXPECT_EQ(run("'Ærøskøbing'.replaceMatches('[æøåÆØÅ]', '_')"), "string:_r_sk_bing");
  EXPECT_EQ(run("'A\nB'.matches('A.B')"), "boolean:true") << "single-line mode";
  // N1 5.6.10's own example (the FHIRPath text has '\\b', the pattern \b).
  EXPECT_EQ(run(R"('11/30/1972'.replaceMatches('\\b(?<month>\\d{1,2})/(?<day>\\d{1,2})/(?<year>\\d{2,4})\\b', '${day}-${month}-${year}'))"),
            "string:30-11-1972");
}

TEST_F(FhirPathEngine, DecimalsAreExact) {
  EXPECT_EQ(run("0.1 + 0.2 = 0.3"), "boolean:true");
  EXPECT_EQ(run("0.1 + 0.2"), "decimal:0.3");
  EXPECT_EQ(run("1.50 * 2"), "decimal:3.00");
  EXPECT_EQ(run("10 / 4"), "decimal:2.5");
  EXPECT_EQ(run("1 / 3"), "decimal:0.33333333");
  EXPECT_EQ(run("7 div 2 + 7 mod 2"), "integer:4");
  EXPECT_EQ(run("12345678901234567890.5 + 1"), "decimal:12345678901234567891.5");
  EXPECT_EQ(run("2.5.round()"), "decimal:3");
  EXPECT_EQ(run("(-2.5).round()"), "decimal:-3");
}

TEST_F(FhirPathEngine, DatesFollowTheCalendar) {
  EXPECT_EQ(run("@2020-01-31 + 1 month"), "date:2020-02-29");
  EXPECT_EQ(run("@2021-01-31 + 1 month"), "date:2021-02-28");
  EXPECT_EQ(run("@2024-02-29 + 1 year"), "date:2025-02-28");
  EXPECT_EQ(run("@2024-03-01 - 1 day"), "date:2024-02-29");
  EXPECT_EQ(run("@2024-05-17T23:30:00+02:00 = @2024-05-17T21:30:00Z"), "boolean:true");
  EXPECT_EQ(run("@2024-05 < @2024-05-17"), "") << "unknown at different precisions";
  EXPECT_EQ(run("@2024 < @2025-01-01"), "boolean:true") << "decided before the precisions differ";
  auto p = load(kPatient);
  EXPECT_EQ(run("birthDate + 1 month", p.doc.root()), "date:1980-02-29");
  Environment env;
  env.now = Temporal::parseLiteral("2026-11-22T10:00:00.000+01:00");
  EXPECT_EQ(run("today()", nullptr, env), "date:2026-11-22");
  EXPECT_EQ(run("now() = now()", nullptr, env), "boolean:true");
  EXPECT_EQ(run("(today() - 18 years) > @2008-11-22", nullptr, env), "boolean:false");
}

TEST_F(FhirPathEngine, QuantitiesConvertUnits) {
  EXPECT_EQ(run("80 'kg' = 80000 'g'"), "boolean:true");
  EXPECT_EQ(run("1 '[lb_av]' < 1 'kg'"), "boolean:true");
  EXPECT_EQ(run("120 'mm[Hg]' > 10 'kPa'"), "boolean:true");
  EXPECT_EQ(run("2 weeks = 14 days"), "boolean:true");
  EXPECT_EQ(run("1 'kg' = 1 'm'"), "") << "not comparable: unknown";
  EXPECT_EQ(run("1 'kg' ~ 1 'm'"), "boolean:false");
  EXPECT_EQ(run("50 '%' = 0.5 '1'"), "boolean:true");
}

TEST_F(FhirPathEngine, ThreeValuedLogicAndEmptyPropagation) {
  EXPECT_EQ(run("{} and false"), "boolean:false");
  EXPECT_EQ(run("{} or true"), "boolean:true");
  EXPECT_EQ(run("({} or false).empty()"), "boolean:true");
  EXPECT_EQ(run("{} implies false"), "");
  EXPECT_EQ(run("false implies 1/0"), "boolean:true");
  EXPECT_EQ(run("{} + 1"), "");
  EXPECT_EQ(run("{} = 1"), "");
  EXPECT_EQ(run("{} ~ {}"), "boolean:true");
  EXPECT_EQ(run("{}.where(1/0).exists()"), "boolean:false");
  EXPECT_EQ(run("(1 | 2) + 1"), "error: an arithmetic operator needs a single item but the collection has 2 items");
}

// Spec points found by differential testing against another implementation
// (tests/fhirpath-differential/).
TEST_F(FhirPathEngine, SpecDetailsFromDifferentialTesting) {
  EXPECT_EQ(run("'ÆØÅ' ~ 'æøå'"), "boolean:true") << "N1 6.1.2: ignoring case, not only ASCII";
  EXPECT_EQ(run("'Ærlig  talt ' ~ 'ærlig talt'"), "boolean:true");
  EXPECT_EQ(run("3 'm' + 3 'cm'"), "Quantity:303 'cm'") << "N1 6.6: the more granular unit";
  EXPECT_EQ(run("1 day + 12 hours"), "Quantity:36 hours");
  EXPECT_EQ(run("12 'cm' * 3 'cm'"), "Quantity:36 'cm2'");
  EXPECT_EQ(run("12 'cm2' / 3 'cm'"), "Quantity:4 'cm'");
  EXPECT_EQ(run("@2016 + 365 days"), "date:2017") << "N1 6.7.1";
  EXPECT_EQ(run("@2020-01 + 45 days"), "date:2020-02");
  EXPECT_EQ(run("'\\p\\3'"), "string:p3") << "N1 4.1.2: unknown escapes drop the backslash";
  EXPECT_EQ(run("2147483647 + 1"), "") << "N1 6.6: overflow is empty";
  EXPECT_EQ(run("-2147483648"), "integer:-2147483648");
  EXPECT_EQ(run("9999999999").rfind("compile error", 0), 0u) << "integers are 32-bit";
  EXPECT_EQ(run("9999999999.0"), "decimal:9999999999.0");
  auto p = load(kPatient);
  EXPECT_EQ(run("name.repeat(given).count()", p.doc.root()), "integer:3") << "repeat() adds new items by =";
  auto qr = load(R"({"resourceType": "QuestionnaireResponse", "status": "completed", "item": [
      {"linkId": "1", "answer": [{"valueBoolean": true, "item": [{"linkId": "1.1"}]}]}]})");
  EXPECT_EQ(run("QuestionnaireResponse.repeat(item | answer.item).linkId", qr.doc.root()), "string:1, string:1.1")
      << "repeat() projections are not checked against the input type only";
  auto b = load(R"({"resourceType": "Bundle", "type": "collection", "entry": [{"resource":
      {"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": "x"}]}}}]})");
  EXPECT_EQ(run("Bundle.entry.resource.descendants().ofType(Coding).code", b.doc.root()), "code:x");
  EXPECT_EQ(run("entry.resource.status.is(FHIR.code)", b.doc.root()), "boolean:true");
}

TEST_F(FhirPathEngine, TraceReportsToTheEnvironment) {
  auto p = load(kPatient);
  std::vector<std::string> seen;
  Environment env;
  env.trace = [&](std::string_view name, const Collection& items) {
    seen.push_back(std::string(name) + "=" + std::to_string(items.size()));
  };
  EXPECT_EQ(run("name.trace('names').given.trace('given', $this.length()).count()", p.doc.root(), env), "integer:3");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "names=2");
  EXPECT_EQ(seen[1], "given=3");
}

TEST_F(FhirPathEngine, CompiledExpressionsAreSharedBetweenThreads) {
  auto p = load(kPatient);
  CompileError err;
  CompileOptions opts;
  opts.focusType = p.doc.root()->type;
  auto e = compile(*reg_,
                   "name.where(use = 'official').given.select($this.upper() & '-' & $index.toString())"
                   ".join(',') & '|' & managingOrganization.resolve().name & '|' & (birthDate + 1 month).toString()"
                   " & '|' & name.family.matches('^Æ').toString()",
                   err, opts);
  ASSERT_NE(e, nullptr) << err.toString();
  const std::string expected = "ÅSE-0,ØYVIND-1|Helse og arbeid|1980-02-29|true";
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        Result r = evaluate(*e, p.doc.root());
        if (!r.ok() || r.items.size() != 1 || r.items[0].toString() != expected) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  Result r = evaluate(*e, p.doc.root());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.items[0].toString(), expected);
}

TEST_F(FhirPathEngine, EvaluatorIsReusableAndBooleanHelperReportsShape) {
  auto p = load(kPatient);
  CompileError err;
  auto given = compile(*reg_, "name.given", err);
  auto upper = compile(*reg_, "name.family.upper()", err);
  ASSERT_NE(given, nullptr);
  ASSERT_NE(upper, nullptr);
  Evaluator ev;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ev.run(*given, p.doc.root())) << ev.error();
    ASSERT_EQ(ev.items().size(), 3u);
    EXPECT_EQ(ev.items()[2].toString(), "Øy");
    ASSERT_TRUE(ev.run(*upper, p.doc.root())) << ev.error();
    ASSERT_EQ(ev.items().size(), 1u);
    EXPECT_EQ(ev.items()[0].toString(), "ÆRLIG");
  }
  auto bad = compile(*reg_, "name.single()", err);
  EXPECT_FALSE(ev.run(*bad, p.doc.root()));
  EXPECT_NE(ev.error().find("single()"), std::string::npos) << ev.error();

  auto yes = compile(*reg_, "name.exists()", err);
  auto many = compile(*reg_, "name.given", err);
  auto none = compile(*reg_, "name.suffix.exists().not() and {}", err);
  EXPECT_EQ(evaluateBoolean(*yes, p.doc.root()).value, true);
  BoolResult m = evaluateBoolean(*many, p.doc.root());
  EXPECT_FALSE(m.value.has_value());
  EXPECT_NE(m.error.find("3 items"), std::string::npos) << m.error;
  BoolResult n = evaluateBoolean(*none, p.doc.root());
  EXPECT_FALSE(n.value.has_value());
  EXPECT_TRUE(n.error.empty());
}

TEST_F(FhirPathEngine, PrimitiveExtensionsAndValues) {
  auto p = load(R"({"resourceType": "Patient", "birthDate": "1980-01-31",
     "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                   "valueDateTime": "1980-01-31T06:15:00+01:00"}]},
     "name": [{"given": ["Kari", null], "_given": [null, {"extension": [{"url": "http://example.org/x", "valueCode": "unknown"}]}]}]})");
  EXPECT_EQ(run("birthDate.extension(%`ext-patient-birthTime`).value", p.doc.root()),
            "dateTime:1980-01-31T06:15:00+01:00");
  EXPECT_EQ(run("name.given.select(hasValue())", p.doc.root()), "boolean:true, boolean:false");
  EXPECT_EQ(run("name.given.count()", p.doc.root()), "integer:2");
  EXPECT_EQ(run("name.given.first().getValue()", p.doc.root()), "string:Kari");
  EXPECT_EQ(run("name.given.getValue()", p.doc.root()), "") << "getValue() needs a single primitive";
  EXPECT_EQ(run("birthDate.hasExtension(%`ext-patient-birthTime`)", p.doc.root()), "boolean:true");
}

}  // namespace
}  // namespace hoa::fhir::fhirpath
