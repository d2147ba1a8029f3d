// The quick narrative check (detail::quickXhtmlDivCheck) may only say "well-formed" when
// libxml2 agrees: it lets the validator skip libxml2 on ordinary narratives.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fhir/format.h"
#include "fhir/format_common.h"
#include "fhir/json.h"
#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

bool libxml2Accepts(std::string_view x) {
  std::string canon, error;
  return canonicalXhtml(x, canon, error);
}

TEST(QuickXhtmlCheck, AcceptsOrdinaryNarratives) {
  for (std::string_view x : {
           R"(<div xmlns="http://www.w3.org/1999/xhtml">Kari Nordmann</div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>Henvisning til <b>Helse og arbeid</b></p><br/></div>)",
           R"(<div xmlns='http://www.w3.org/1999/xhtml' lang="nb" xml:lang="nb"><table><tr><td>1 &lt; 2 &amp; &#x2014; &#8212;</td></tr></table></div>)",
           "<div xmlns=\"http://www.w3.org/1999/xhtml\">\n  <!-- note -->\n  <p class=\"a\">æøå</p>\n</div>\n",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><![CDATA[a < b]]></div>)",
       }) {
    EXPECT_TRUE(detail::quickXhtmlDivCheck(x)) << x;
    EXPECT_TRUE(libxml2Accepts(x)) << x;
  }
}

TEST(QuickXhtmlCheck, NeverAcceptsWhatIsNotAWellFormedXhtmlDiv) {
  for (std::string_view x : {
           R"(<div>no namespace</div>)",
           R"(<p xmlns="http://www.w3.org/1999/xhtml">not a div</p>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><b></i></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml">a & b</div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml">&#0;</div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><p a="1" a="2">dup</p></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><p a=1>unquoted</p></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><p a="<">lt in attribute</p></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml">]]></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"></div>trailing)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"></div><div xmlns="http://www.w3.org/1999/xhtml"></div>)",
           R"(<!DOCTYPE div><div xmlns="http://www.w3.org/1999/xhtml"></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><!-- a -- b --></div>)",
           "<div xmlns=\"http://www.w3.org/1999/xhtml\">\x01</div>",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><p x:y="1">undeclared prefix</p></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml">)",
           "",
       }) {
    EXPECT_FALSE(detail::quickXhtmlDivCheck(x)) << x;
    EXPECT_FALSE(libxml2Accepts(x)) << x;
  }
}

// Every narrative div in the FHIR package's examples: where the quick check says yes,
// libxml2 must too; and the quick check must carry most of them (else it saves nothing).
TEST(QuickXhtmlCheck, AgreesWithLibxml2OnThePackageNarratives) {
  std::filesystem::path dir = testing::fhirPackageDir();
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "FHIR package not found at " << dir << " (run ./dev setup)";
  size_t divs = 0, quick = 0, wrong = 0;
  std::string example;
  std::vector<const json::Value*> stack;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    json::Error error;
    json::Document doc = json::Document::parse(testing::readFile(entry.path()), error);
    if (!doc.root()) continue;
    stack.assign(1, doc.root());
    while (!stack.empty()) {
      const json::Value* v = stack.back();
      stack.pop_back();
      if (v->isObject()) {
        for (size_t i = 0; i < v->size; ++i) {
          const json::Value* m = v->members[i].value;
          if (v->members[i].key == "div" && m->type == json::Type::String) {
            ++divs;
            if (detail::quickXhtmlDivCheck(m->text)) {
              ++quick;
              if (!libxml2Accepts(m->text) && wrong++ == 0) example = entry.path().filename().string();
            }
          } else {
            stack.push_back(m);
          }
        }
      } else if (v->isArray()) {
        for (const json::Value* item : *v) stack.push_back(item);
      }
    }
  }
  ASSERT_GT(divs, 3000u) << "the package looks incomplete";
  EXPECT_EQ(wrong, 0u) << "the quick check accepted a div libxml2 rejects, e.g. in " << example;
  EXPECT_GT(quick * 10, divs * 9) << quick << " of " << divs << " divs took the quick path";
  RecordProperty("divs", static_cast<int>(divs));
  RecordProperty("quick", static_cast<int>(quick));
  std::printf("[          ] %zu narrative divs, %zu (%.1f %%) checked without libxml2\n", divs, quick,
              100.0 * static_cast<double>(quick) / static_cast<double>(divs));
}

}  // namespace
}  // namespace hoa::fhir
