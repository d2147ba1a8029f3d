#include "mappings/questionnaire.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <unordered_map>

#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/json_writer.h"

namespace hoa::clinic {

using fhir::Severity;

namespace {

// ---------------------------------------------------------------------------------------
// Small helpers.

std::optional<double> toNumber(std::string_view t) {
  if (t.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

bool isInteger(std::string_view t) {
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) t.remove_prefix(1);
  if (t.empty()) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
}

size_t codePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string quoted(std::string_view s, Lang lang) {
  return lang == Lang::En ? "'" + std::string(s) + "'" : "«" + std::string(s) + "»";
}

std::string joinQuoted(const std::vector<std::string>& v, Lang lang) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + quoted(s, lang);
  return out;
}

// "valueInteger" → "integer", "answerCoding" → "Coding": the element model's type name of
// the suffix of a choice property.
std::string typeOfSuffix(std::string_view suffix) {
  static const std::set<std::string_view> complex = {"Coding", "Quantity", "Reference", "Attachment"};
  if (suffix.empty() || complex.count(suffix)) return std::string(suffix);
  std::string t(suffix);
  t[0] = static_cast<char>(t[0] - 'A' + 'a');
  return t;
}

// The property name of a value of this type: ("value", "integer") → "valueInteger".
std::string propertyOf(std::string_view prefix, std::string_view type) {
  std::string p(prefix);
  p += type;
  if (!type.empty() && type[0] >= 'a' && type[0] <= 'z') p[prefix.size()] = static_cast<char>(type[0] - 'a' + 'A');
  return p;
}

std::string scalarText(const json::Value& v) {
  if (v.type == json::Type::Bool) return v.boolean ? "true" : "false";
  if (v.type == json::Type::Number || v.type == json::Type::String) return std::string(v.text);
  return {};
}

// The value[x] (or answer[x]) member of a JSON object, or nullopt when it has none.
std::optional<QuestionnaireValue> readChoice(const json::Value& obj, std::string_view prefix) {
  if (!obj.isObject()) return std::nullopt;
  for (uint32_t i = 0; i < obj.size; ++i) {
    std::string_view key = obj.members[i].key;
    if (key.size() <= prefix.size() || key.substr(0, prefix.size()) != prefix) continue;
    char first = key[prefix.size()];
    if (first < 'A' || first > 'Z') continue;
    const json::Value& v = *obj.members[i].value;
    QuestionnaireValue out;
    out.type = typeOfSuffix(key.substr(prefix.size()));
    if (out.type == "Coding") {
      out.system = std::string(v.getString("system"));
      out.code = std::string(v.getString("code"));
      out.display = std::string(v.getString("display"));
    } else if (out.type == "Quantity") {
      if (const json::Value* n = v.find("value")) out.text = scalarText(*n);
      out.system = std::string(v.getString("system"));
      out.code = std::string(v.getString("code"));
      out.display = std::string(v.getString("unit"));
    } else if (out.type == "Reference") {
      out.text = std::string(v.getString("reference"));
    } else {
      out.text = scalarText(v);
    }
    return out;
  }
  return std::nullopt;
}

// The value of the extension with this URL on a JSON element, or nullopt.
std::optional<QuestionnaireValue> extensionValue(const json::Value& element, std::string_view url) {
  const json::Value* exts = element.find("extension");
  if (!exts || !exts->isArray()) return std::nullopt;
  for (const json::Value* e : *exts)
    if (e->isObject() && e->getString("url") == url) return readChoice(*e, "value");
  return std::nullopt;
}

constexpr std::string_view kOrdinalValue = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
constexpr std::string_view kItemWeight = "http://hl7.org/fhir/StructureDefinition/itemWeight";
constexpr std::string_view kMinValue = "http://hl7.org/fhir/StructureDefinition/minValue";
constexpr std::string_view kMaxValue = "http://hl7.org/fhir/StructureDefinition/maxValue";

bool readItems(const json::Value* items, std::vector<QuestionnaireItem>& out, const std::string& where,
               std::string& error) {
  if (!items) return true;
  if (!items->isArray()) {
    error = where + ".item is not an array";
    return false;
  }
  for (uint32_t i = 0; i < items->size; ++i) {
    const json::Value& j = *items->items[i];
    std::string here = where + ".item[" + std::to_string(i) + "]";
    QuestionnaireItem it;
    it.linkId = std::string(j.getString("linkId"));
    it.type = std::string(j.getString("type"));
    if (it.linkId.empty() || it.type.empty()) {
      error = here + " needs linkId and type";
      return false;
    }
    it.text = std::string(j.getString("text"));
    auto flag = [&](std::string_view k) {
      const json::Value* f = j.find(k);
      return f && f->type == json::Type::Bool && f->boolean;
    };
    it.required = flag("required");
    it.repeats = flag("repeats");
    it.readOnly = flag("readOnly");
    if (const json::Value* ml = j.find("maxLength"); ml && ml->type == json::Type::Number)
      if (auto n = toNumber(ml->text); n && *n >= 0) it.maxLength = static_cast<uint32_t>(*n);
    it.minValue = extensionValue(j, kMinValue);
    it.maxValue = extensionValue(j, kMaxValue);
    it.answerValueSet = std::string(j.getString("answerValueSet"));
    if (const json::Value* opts = j.find("answerOption"); opts && opts->isArray()) {
      for (const json::Value* o : *opts) {
        AnswerOption opt;
        auto v = readChoice(*o, "value");
        if (!v) {
          error = here + ".answerOption has no value";
          return false;
        }
        opt.value = std::move(*v);
        // The weight: R4's ordinalValue on the option (this package), itemWeight (R5 and
        // the extensions pack) there, or ordinalValue on the option's Coding.
        std::optional<QuestionnaireValue> w = extensionValue(*o, kOrdinalValue);
        if (!w) w = extensionValue(*o, kItemWeight);
        if (!w)
          if (const json::Value* c = o->find("valueCoding")) w = extensionValue(*c, kOrdinalValue);
        if (w && toNumber(w->text)) opt.weight = w->text;
        it.answerOptions.push_back(std::move(opt));
      }
    }
    if (const json::Value* ews = j.find("enableWhen"); ews && ews->isArray()) {
      for (const json::Value* e : *ews) {
        EnableWhen ew;
        ew.question = std::string(e->getString("question"));
        ew.op = std::string(e->getString("operator"));
        auto a = readChoice(*e, "answer");
        if (ew.question.empty() || ew.op.empty() || !a) {
          error = here + ".enableWhen needs question, operator and answer[x]";
          return false;
        }
        static const std::set<std::string_view> ops = {"exists", "=", "!=", ">", "<", ">=", "<="};
        if (!ops.count(ew.op)) {
          error = here + ".enableWhen has the unknown operator '" + ew.op + "'";
          return false;
        }
        ew.answer = std::move(*a);
        it.enableWhen.push_back(std::move(ew));
      }
    }
    it.enableAll = j.getString("enableBehavior") == "all";
    if (!readItems(j.find("item"), it.items, here, error)) return false;
    out.push_back(std::move(it));
  }
  return true;
}

// A value of the response, as the comparisons see it.
struct ValueView {
  std::string_view type;
  std::string_view text;  // primitives; Quantity.value; Reference.reference
  std::string_view system, code, display;
};

std::string_view childValue(const fhir::Node& n, std::string_view name) {
  const fhir::Node* c = n.child(name);
  return c && c->hasValue ? c->value : std::string_view();
}

ValueView viewOf(const fhir::Node& v) {
  ValueView out;
  out.type = v.type->name;
  if (v.isPrimitive()) {
    if (v.hasValue) out.text = v.value;
  } else if (out.type == "Coding") {
    out.system = childValue(v, "system");
    out.code = childValue(v, "code");
    out.display = childValue(v, "display");
  } else if (out.type == "Quantity") {
    out.text = childValue(v, "value");
    out.system = childValue(v, "system");
    out.code = childValue(v, "code");
    out.display = childValue(v, "unit");
  } else if (out.type == "Reference") {
    out.text = childValue(v, "reference");
  }
  return out;
}

bool isNumeric(std::string_view t) {
  return t == "integer" || t == "decimal";
}

// Orders a response value against a Questionnaire value: -1, 0, 1, or nullopt when the two
// do not compare (different kinds; codings and references have no order).
std::optional<int> compare(const ValueView& a, const QuestionnaireValue& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (isNumeric(a.type) && isNumeric(b.type)) {
    auto x = toNumber(a.text), y = toNumber(b.text);
    if (!x || !y) return std::nullopt;
    return sign(*x, *y);
  }
  if (a.type == "Quantity" && b.type == "Quantity") {
    if (!b.code.empty() && (a.code != b.code || (!b.system.empty() && a.system != b.system))) return std::nullopt;
    auto x = toNumber(a.text), y = toNumber(b.text);
    if (!x || !y) return std::nullopt;
    return sign(*x, *y);
  }
  if (a.type != b.type) return std::nullopt;
  if (a.type == "date" || a.type == "dateTime" || a.type == "time" || a.type == "string" || a.type == "uri")
    return sign(a.text, std::string_view(b.text));
  return std::nullopt;
}

bool equals(const ValueView& a, const QuestionnaireValue& b) {
  if (a.type == "Coding" && b.type == "Coding") return a.code == b.code && (b.system.empty() || a.system == b.system);
  if (a.type == "Reference" && b.type == "Reference") return a.text == b.text;
  if (a.type == "boolean" && b.type == "boolean") return a.text == b.text;
  auto c = compare(a, b);
  return c && *c == 0;
}

std::string valueLabel(const QuestionnaireValue& v) {
  if (v.type == "Coding") return v.code;
  if (v.type == "Quantity") return v.text + (v.display.empty() ? "" : " " + v.display);
  return v.text;
}

std::string valueLabel(const ValueView& v) {
  if (v.type == "Coding")
    return v.system.empty() ? std::string(v.code) : std::string(v.system) + "#" + std::string(v.code);
  return std::string(v.text);
}

// The types an answer to an item may have (the element model's names).
std::vector<std::string> expectedTypes(const QuestionnaireItem& q) {
  const std::string& t = q.type;
  if (t == "boolean" || t == "decimal" || t == "integer" || t == "date" || t == "dateTime" || t == "time") return {t};
  if (t == "string" || t == "text") return {"string"};
  if (t == "url") return {"uri"};
  if (t == "attachment") return {"Attachment"};
  if (t == "reference") return {"Reference"};
  if (t == "quantity") return {"Quantity"};
  if (t == "choice" || t == "open-choice") {
    std::vector<std::string> out;
    for (const AnswerOption& o : q.answerOptions)
      if (std::find(out.begin(), out.end(), o.value.type) == out.end()) out.push_back(o.value.type);
    if (out.empty()) out.push_back("Coding");
    if (t == "open-choice" && std::find(out.begin(), out.end(), "string") == out.end()) out.push_back("string");
    return out;
  }
  return {};
}

std::string typesLabel(const std::vector<std::string>& types, Lang lang) {
  std::string out;
  for (size_t i = 0; i < types.size(); ++i) {
    if (i) out += i + 1 == types.size() ? (lang == Lang::En ? " or " : " eller ") : ", ";
    out += propertyOf("value", types[i]);
  }
  return out;
}

const AnswerOption* matchOption(const QuestionnaireItem& q, const ValueView& v) {
  for (const AnswerOption& o : q.answerOptions)
    if (o.value.type == v.type || (isNumeric(o.value.type) && isNumeric(v.type)))
      if (equals(v, o.value)) return &o;
  return nullptr;
}

std::string conditionLabel(const QuestionnaireItem& q, Lang lang) {
  std::string out;
  for (const EnableWhen& ew : q.enableWhen) {
    if (!out.empty())
      out += q.enableAll ? (lang == Lang::En ? " and " : " og ") : (lang == Lang::En ? " or " : " eller ");
    out += ew.question + " " + ew.op + " " + valueLabel(ew.answer);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Questionnaire

std::shared_ptr<const Questionnaire> Questionnaire::fromJson(const json::Value& r, std::string& error) {
  if (!r.isObject() || r.getString("resourceType") != "Questionnaire") {
    error = "not a Questionnaire";
    return nullptr;
  }
  auto q = std::make_shared<Questionnaire>();
  q->id_ = std::string(r.getString("id"));
  q->url_ = std::string(r.getString("url"));
  q->version_ = std::string(r.getString("version"));
  q->title_ = std::string(r.getString("title"));
  const std::string where = "Questionnaire" + (q->id_.empty() ? "" : "/" + q->id_);
  if (q->url_.empty()) {
    error = where + " has no url";
    return nullptr;
  }
  if (!readItems(r.find("item"), q->items_, where, error)) return nullptr;
  // Index by linkId; the items no longer move, so pointers into them stay valid.
  std::function<bool(const std::vector<QuestionnaireItem>&, const QuestionnaireItem*)> index =
      [&](const std::vector<QuestionnaireItem>& items, const QuestionnaireItem* parent) {
        for (const QuestionnaireItem& it : items) {
          if (!q->index_.emplace(it.linkId, std::make_pair(&it, parent)).second) {
            error = where + ": the linkId '" + it.linkId + "' is used more than once";
            return false;
          }
          if (!index(it.items, &it)) return false;
        }
        return true;
      };
  if (!index(q->items_, nullptr)) return nullptr;
  return q;
}

std::shared_ptr<const Questionnaire> Questionnaire::fromJsonText(std::string_view text, std::string& error) {
  json::Error jerr;
  json::Document doc = json::Document::parse(std::string(text), jerr);
  if (!doc.root()) {
    error = "line " + std::to_string(jerr.line) + ": " + jerr.message;
    return nullptr;
  }
  return fromJson(*doc.root(), error);
}

const QuestionnaireItem* Questionnaire::find(std::string_view linkId) const {
  auto it = index_.find(linkId);
  return it == index_.end() ? nullptr : it->second.first;
}

const QuestionnaireItem* Questionnaire::parentOf(std::string_view linkId) const {
  auto it = index_.find(linkId);
  return it == index_.end() ? nullptr : it->second.second;
}

bool Questionnaire::isNamedBy(std::string_view canonical) const {
  size_t bar = canonical.find('|');
  if (canonical.substr(0, bar) != url_) return false;
  return bar == std::string_view::npos || canonical.substr(bar + 1) == version_;
}

// ---------------------------------------------------------------------------------------
// The rules

const std::vector<Rule>& questionnaireRuleCatalogue() {
  static const std::vector<Rule> rules = {
      // Which questionnaire.
      {"not-questionnaire-response", Severity::Error, "invalid", "Forventet en QuestionnaireResponse (fikk {value}).",
       "A QuestionnaireResponse was expected (got {value})."},
      {"questionnaire-missing", Severity::Error, "required",
       "Skjemasvaret mangler questionnaire: den kanoniske URL-en til spørreskjemaet det svarer på.",
       "The response lacks questionnaire: the canonical URL of the Questionnaire it answers."},
      {"questionnaire-unknown", Severity::Error, "not-found", "«{value}» er ikke et av klinikkens spørreskjema.",
       "'{value}' is not one of the clinic's questionnaires."},
      {"questionnaire-mismatch", Severity::Error, "invalid",
       "Skjemasvaret oppgir at det svarer på «{value}», men kontrolleres mot {expected}.",
       "The response says it answers '{value}' but is checked against {expected}."},
      // The item tree.
      {"item-unknown", Severity::Error, "structure", "Spørreskjemaet har ikke noe spørsmål med linkId «{linkId}».",
       "The Questionnaire has no item with linkId '{linkId}'."},
      {"item-misplaced", Severity::Error, "structure",
       "Spørsmålet «{linkId}» hører ikke hjemme her; i spørreskjemaet står det {expected}.",
       "The item '{linkId}' does not belong here; in the Questionnaire it is {expected}."},
      {"item-order", Severity::Error, "structure",
       "Spørsmålet «{linkId}» står etter «{after}», men kommer før det i spørreskjemaet.",
       "The item '{linkId}' comes after '{after}' but precedes it in the Questionnaire."},
      {"item-repeated", Severity::Error, "structure",
       "Spørsmålet «{linkId}» forekommer flere ganger, men kan ikke gjentas (flere svar på ett spørsmål står i "
       "samme item).",
       "The item '{linkId}' occurs more than once but does not repeat (several answers to one question go in one "
       "item)."},
      {"item-nesting", Severity::Error, "structure",
       "Spørsmålet «{linkId}» hører til svaret på «{parent}» og skal stå i answer.item, ikke i item.item.",
       "The item '{linkId}' belongs to the answer of '{parent}' and goes in answer.item, not in item.item."},
      // Answers.
      {"answer-not-allowed", Severity::Error, "structure", "«{linkId}» er {kind} og kan ikke ha svar.",
       "'{linkId}' is {kind} and cannot have answers."},
      {"answer-type", Severity::Error, "value",
       "Svaret på «{linkId}» (type {itemType}) må være {expected}, ikke {value}.",
       "The answer to '{linkId}' (type {itemType}) must be {expected}, not {value}."},
      {"answer-option-unknown", Severity::Error, "code-invalid",
       "«{value}» er ikke et av svaralternativene til «{linkId}».",
       "'{value}' is not one of the answer options of '{linkId}'."},
      {"answer-option-unchecked", Severity::Warning, "not-supported",
       "Svaret «{value}» på «{linkId}» kunne ikke kontrolleres mot verdisettet {valueSet} ({reason}).",
       "The answer '{value}' to '{linkId}' could not be checked against the value set {valueSet} ({reason})."},
      {"answer-repeats", Severity::Error, "structure", "«{linkId}» kan bare ha ett svar (fikk {count}).",
       "'{linkId}' takes one answer only (got {count})."},
      {"answer-out-of-range", Severity::Error, "value",
       "Svaret {value} på «{linkId}» er utenfor det tillatte området ({range}).",
       "The answer {value} to '{linkId}' is outside the allowed range ({range})."},
      {"answer-too-long", Severity::Error, "too-long", "Svaret på «{linkId}» er {length} tegn; høyst {max} er tillatt.",
       "The answer to '{linkId}' is {length} characters long; at most {max} are allowed."},
      {"answer-disabled", Severity::Error, "business-rule",
       "«{linkId}» har svar selv om spørsmålet ikke er aktivt (enableWhen: {condition}).",
       "'{linkId}' has answers although it is not enabled (enableWhen: {condition})."},
      {"required-missing", Severity::Error, "required", "Det obligatoriske spørsmålet «{linkId}» er ikke besvart.",
       "The required item '{linkId}' is not answered."},
      // Scores.
      {"total-mismatch", Severity::Error, "value",
       "{instrument}-totalskåren i «{linkId}» er {value}, men svarene gir {expected}.",
       "The {instrument} total in '{linkId}' is {value}, but the answers give {expected}."},
      {"total-incomplete", Severity::Warning, "business-rule",
       "«{linkId}» har en {instrument}-totalskår, men ikke alle {instrument}-spørsmålene er besvart ({missing}).",
       "'{linkId}' carries a {instrument} total, but not every {instrument} item is answered ({missing})."},
  };
  return rules;
}

const Rule* findQuestionnaireRule(std::string_view code) { return findRuleIn(questionnaireRuleCatalogue(), code); }

// ---------------------------------------------------------------------------------------
// Scoring

const std::vector<Instrument>& instruments() {
  static const std::vector<Instrument> all = {
      {"phq-9",
       "PHQ-9",
       {"phq-9-1", "phq-9-2", "phq-9-3", "phq-9-4", "phq-9-5", "phq-9-6", "phq-9-7", "phq-9-8", "phq-9-9"},
       "phq-9-total",
       27,
       {{0, 4, "minimal"}, {5, 9, "mild"}, {10, 14, "moderate"}, {15, 19, "moderately-severe"}, {20, 27, "severe"}}},
      {"gad-7",
       "GAD-7",
       {"gad-7-1", "gad-7-2", "gad-7-3", "gad-7-4", "gad-7-5", "gad-7-6", "gad-7-7"},
       "gad-7-total",
       21,
       {{0, 4, "minimal"}, {5, 9, "mild"}, {10, 14, "moderate"}, {15, 21, "severe"}}},
  };
  return all;
}

const Instrument* findInstrument(std::string_view id) {
  for (const Instrument& i : instruments())
    if (i.id == id) return &i;
  return nullptr;
}

std::string_view scoreBand(const Instrument& instrument, int total) {
  for (const ScoreBand& b : instrument.bands)
    if (total >= b.min && total <= b.max) return b.code;
  return {};
}

std::string InstrumentScore::summary(Lang lang) const {
  std::string name = instrument ? std::string(instrument->name) : "?";
  bool en = lang == Lang::En;
  if (complete) return name + ": " + std::to_string(total) + " (" + band + ")";
  std::string out = name + (en ? ": incomplete" : ": ufullstendig");
  std::string why;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (!unanswered.empty()) why += (en ? "not answered: " : "ikke besvart: ") + list(unanswered);
  if (!unscorable.empty())
    why += (why.empty() ? "" : "; ") + std::string(en ? "no score for the answer: " : "svaret gir ingen skår: ") +
           list(unscorable);
  return why.empty() ? out : out + " (" + why + ")";
}

namespace {

// Applies to the instruments a Questionnaire holds: all of the instrument's items.
bool holds(const Questionnaire& q, const Instrument& ins) {
  if (!q.find(ins.id)) return false;
  for (std::string_view l : ins.items)
    if (!q.find(l)) return false;
  return true;
}

// Scores an instrument from the chosen (system, code) of each item; `answerOf` gives
// nullopt for an unanswered item (system may be empty: the code alone then decides).
InstrumentScore scoreWith(
    const Questionnaire& q, const Instrument& ins,
    const std::function<std::optional<std::pair<std::string, std::string>>(std::string_view)>& answerOf) {
  InstrumentScore s;
  s.instrument = &ins;
  double sum = 0;
  for (std::string_view linkId : ins.items) {
    auto a = answerOf(linkId);
    if (!a) {
      s.unanswered.emplace_back(linkId);
      continue;
    }
    const QuestionnaireItem* qi = q.find(linkId);
    std::optional<double> w;
    for (const AnswerOption& o : qi->answerOptions)
      if (o.value.type == "Coding" && o.value.code == a->second &&
          (a->first.empty() || o.value.system.empty() || a->first == o.value.system))
        if (o.weight) w = toNumber(*o.weight);
    if (!w)
      s.unscorable.emplace_back(linkId);
    else
      sum += *w;
  }
  s.complete = s.unanswered.empty() && s.unscorable.empty();
  if (s.complete) {
    s.total = static_cast<int>(std::lround(sum));
    s.band = std::string(scoreBand(ins, s.total));
  }
  return s;
}

// Every item node of a response, depth first (through item.item and answer.item).
void collectItems(const fhir::Node& n, std::vector<const fhir::Node*>& out) {
  for (const fhir::Node* c : n.children) {
    if (c->name() == "item") {
      out.push_back(c);
      collectItems(*c, out);
    } else if (c->name() == "answer") {
      collectItems(*c, out);
    }
  }
}

const fhir::Node* firstItem(const std::vector<const fhir::Node*>& items, std::string_view linkId) {
  for (const fhir::Node* it : items)
    if (childValue(*it, "linkId") == linkId) return it;
  return nullptr;
}

}  // namespace

std::vector<InstrumentScore> scoreResponse(const Questionnaire& q, const fhir::Node& response) {
  std::vector<InstrumentScore> out;
  std::vector<const fhir::Node*> all;
  collectItems(response, all);
  for (const Instrument& ins : instruments()) {
    if (!holds(q, ins)) continue;
    // The instrument's answers are those inside its group: an item with an instrument
    // linkId elsewhere is misplaced (validation says so) and does not count.
    std::vector<const fhir::Node*> items;
    if (const fhir::Node* group = firstItem(all, ins.id)) collectItems(*group, items);
    out.push_back(scoreWith(q, ins, [&](std::string_view linkId) -> std::optional<std::pair<std::string, std::string>> {
      const fhir::Node* it = firstItem(items, linkId);
      if (!it) return std::nullopt;
      for (const fhir::Node* a : it->childrenNamed("answer"))
        if (const fhir::Node* v = a->child("value"); v && v->type->name == "Coding") {
          ValueView c = viewOf(*v);
          return std::make_pair(std::string(c.system), std::string(c.code));
        }
      return std::nullopt;
    }));
  }
  return out;
}

std::vector<InstrumentScore> applyTotals(const Questionnaire& q, RecordedAnswers& answers) {
  std::vector<InstrumentScore> out;
  for (const Instrument& ins : instruments()) {
    if (!holds(q, ins)) continue;
    InstrumentScore s =
        scoreWith(q, ins, [&](std::string_view linkId) -> std::optional<std::pair<std::string, std::string>> {
          auto it = answers.answers.find(linkId);
          if (it == answers.answers.end()) return std::nullopt;
          for (const AnswerValue& v : it->second)
            if (v.kind == AnswerValue::Kind::Code) return std::make_pair(std::string(), v.text);
          return std::nullopt;
        });
    if (q.find(ins.totalLinkId)) {
      if (s.complete)
        answers.answers[std::string(ins.totalLinkId)] = {AnswerValue::integer(s.total)};
      else
        answers.answers.erase(std::string(ins.totalLinkId));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Validation

namespace {

class ResponseCheck {
 public:
  ResponseCheck(const Questionnaire& q, const fhir::Node& root, const ResponseCheckOptions& o, fhir::Issues& out)
      : q_(q), root_(root), o_(o), out_(out) {
    ruleOptions_.ruleSystem = o.ruleSystem;
  }

  void run() {
    const std::string base = o_.path.empty() ? std::string(root_.type->name) : o_.path;
    if (root_.type->name != "QuestionnaireResponse") {
      add("not-questionnaire-response", base, &root_, {{"value", std::string(root_.type->name)}});
      return;
    }
    const fhir::Node* canonical = root_.child("questionnaire");
    if (!canonical || !canonical->hasValue) {
      add("questionnaire-missing", base, &root_);
    } else if (!q_.isNamedBy(canonical->value)) {
      add("questionnaire-mismatch", base + ".questionnaire", canonical,
          {{"value", std::string(canonical->value)}, {"expected", q_.url() + "|" + q_.version()}});
    }
    std::string_view status = childValue(root_, "status");
    requireAnswers_ = status == "completed" || status == "amended";
    index(root_, q_.items());
    checkItems(q_.items(), root_.childrenNamed("item"), &root_, base, true);
    checkTotals(base);
  }

 private:
  using Args = std::map<std::string, std::string>;

  void add(std::string_view code, std::string expression, const fhir::Node* at, const Args& args = {}) {
    out_.add(ruleIssue(*findQuestionnaireRule(code), ruleOptions_, o_.lang, std::move(expression), at, args));
  }
  std::string q(std::string_view s) const { return quoted(s, o_.lang); }

  // Pass 1: every item and answer node's container, and the Questionnaire item each
  // item node stands for (matched by linkId among the items expected in its container).
  void index(const fhir::Node& container, const std::vector<QuestionnaireItem>& expected) {
    for (const fhir::Node* c : container.children) {
      if (c->name() != "item") continue;
      parent_[c] = &container;
      const QuestionnaireItem* qi = nullptr;
      std::string_view linkId = childValue(*c, "linkId");
      for (const QuestionnaireItem& e : expected)
        if (e.linkId == linkId) qi = &e;
      if (qi) qitem_[c] = qi;
      static const std::vector<QuestionnaireItem> none;
      const std::vector<QuestionnaireItem>& children = qi ? qi->items : none;
      index(*c, children);  // item.item (misnested under a question still resolves)
      for (const fhir::Node* a : c->children)
        if (a->name() == "answer") {
          parent_[a] = c;
          index(*a, children);
        }
    }
  }

  const fhir::Node* parentOf(const fhir::Node* n) const {
    auto it = parent_.find(n);
    return it == parent_.end() ? nullptr : it->second;
  }
  const QuestionnaireItem* qitemOf(const fhir::Node* n) const {
    auto it = qitem_.find(n);
    return it == qitem_.end() ? nullptr : it->second;
  }
  // The item node a container belongs to: itself, an answer's item, or null for the root.
  const fhir::Node* enclosingItem(const fhir::Node* container) const {
    if (!container || container == &root_) return nullptr;
    if (container->name() == "answer") return parentOf(container);
    return container;
  }

  // Whether an item node is enabled: its enclosing items are, and its enableWhen holds.
  // An enableWhen cycle counts as disabled rather than recursing forever.
  bool enabled(const fhir::Node* item) {
    auto it = enabled_.find(item);
    if (it != enabled_.end()) return it->second == State::On;
    enabled_[item] = State::Computing;
    bool on = true;
    const fhir::Node* container = parentOf(item);
    if (const fhir::Node* up = enclosingItem(container)) on = enabled(up);
    if (on)
      if (const QuestionnaireItem* qi = qitemOf(item)) on = conditionsHold(*qi, container);
    enabled_[item] = on ? State::On : State::Off;
    return on;
  }

  bool conditionsHold(const QuestionnaireItem& qi, const fhir::Node* container) {
    if (qi.enableWhen.empty()) return true;
    for (const EnableWhen& ew : qi.enableWhen) {
      bool holds = evaluate(ew, container);
      if (qi.enableAll && !holds) return false;
      if (!qi.enableAll && holds) return true;
    }
    return qi.enableAll;
  }

  bool evaluate(const EnableWhen& ew, const fhir::Node* container) {
    std::vector<ValueView> answers = answersOf(ew.question, container);
    if (ew.op == "exists") return answers.empty() == (ew.answer.text == "false");
    if (ew.op == "!=") {
      for (const ValueView& a : answers)
        if (equals(a, ew.answer)) return false;
      return true;
    }
    for (const ValueView& a : answers) {
      if (ew.op == "=") {
        if (equals(a, ew.answer)) return true;
        continue;
      }
      auto c = compare(a, ew.answer);
      if (!c) continue;
      if ((ew.op == ">" && *c > 0) || (ew.op == "<" && *c < 0) || (ew.op == ">=" && *c >= 0) ||
          (ew.op == "<=" && *c <= 0))
        return true;
    }
    return false;
  }

  // The values of the answers to `linkId` seen from `container`: the nearest enclosing
  // container that holds such an item decides; disabled items have no answers.
  std::vector<ValueView> answersOf(std::string_view linkId, const fhir::Node* container) {
    std::vector<ValueView> out;
    for (const fhir::Node* c = container; c; c = c == &root_ ? nullptr : parentOf(c)) {
      std::vector<const fhir::Node*> items;
      collectItems(*c, items);
      bool found = false;
      for (const fhir::Node* it : items) {
        if (childValue(*it, "linkId") != linkId) continue;
        found = true;
        if (!enabled(it)) continue;
        for (const fhir::Node* a : it->childrenNamed("answer"))
          if (const fhir::Node* v = a->child("value")) out.push_back(viewOf(*v));
      }
      if (found) break;
    }
    return out;
  }

  static bool answered(const fhir::Node& item) {
    for (const fhir::Node* a : item.childrenNamed("answer"))
      if (a->child("value")) return true;
    return false;
  }
  static bool anyAnswerBelow(const fhir::Node& n) {
    for (const fhir::Node* c : n.children)
      if (c->name() == "answer" || (c->name() == "item" && anyAnswerBelow(*c))) return true;
    return false;
  }

  std::string expectedPlace(const QuestionnaireItem& where) const {
    const QuestionnaireItem* parent = q_.parentOf(where.linkId);
    if (!parent) return o_.lang == Lang::En ? "at the top level" : "på øverste nivå";
    return "under " + q(parent->linkId);  // the same word in both languages
  }

  // Pass 2: the items of one container against the Questionnaire items expected there.
  void checkItems(const std::vector<QuestionnaireItem>& expected, const std::vector<const fhir::Node*>& nodes,
                  const fhir::Node* container, const std::string& containerPath, bool containerEnabled) {
    std::vector<bool> seen(expected.size(), false);
    constexpr size_t kNone = SIZE_MAX;
    size_t last = kNone;  // the Questionnaire position of the furthest item so far
    std::string_view lastLinkId;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const fhir::Node* n = nodes[i];
      const std::string path = containerPath + ".item[" + std::to_string(i) + "]";
      std::string_view linkId = childValue(*n, "linkId");
      if (linkId.empty()) continue;  // linkId is 1..1: the core validator reports it
      size_t k = 0;
      while (k < expected.size() && expected[k].linkId != linkId) ++k;
      if (k == expected.size()) {
        const QuestionnaireItem* elsewhere = q_.find(linkId);
        if (elsewhere)
          add("item-misplaced", path, n, {{"linkId", std::string(linkId)}, {"expected", expectedPlace(*elsewhere)}});
        else
          add("item-unknown", path, n, {{"linkId", std::string(linkId)}});
        continue;
      }
      const QuestionnaireItem& qi = expected[k];
      if (last != kNone && k < last) {
        add("item-order", path, n, {{"linkId", std::string(linkId)}, {"after", std::string(lastLinkId)}});
      } else {
        if (k == last && !(qi.isGroup() && qi.repeats))
          add("item-repeated", path, n, {{"linkId", std::string(linkId)}});
        last = k;
        lastLinkId = qi.linkId;
      }
      seen[k] = true;
      checkItem(qi, *n, path, containerEnabled);
    }
    if (!requireAnswers_ || !containerEnabled) return;
    for (size_t k = 0; k < expected.size(); ++k)
      if (!seen[k] && expected[k].required && conditionsHold(expected[k], container))
        add("required-missing", containerPath, container, {{"linkId", expected[k].linkId}});
  }

  void checkItem(const QuestionnaireItem& qi, const fhir::Node& n, const std::string& path, bool containerEnabled) {
    const bool on = containerEnabled && enabled(&n);
    const std::vector<const fhir::Node*> answers = n.childrenNamed("answer");
    const std::vector<const fhir::Node*> subItems = n.childrenNamed("item");
    // Report a disabled item with answers once, at the outermost disabled item.
    if (containerEnabled && !on && anyAnswerBelow(n))
      add("answer-disabled", answers.empty() ? path : path + ".answer[0]", answers.empty() ? &n : answers[0],
          {{"linkId", qi.linkId}, {"condition", conditionLabel(qi, o_.lang)}});
    if (!qi.isQuestion()) {
      if (!answers.empty()) {
        std::string kind = qi.isGroup() ? (o_.lang == Lang::En ? "a group" : "en gruppe")
                                        : (o_.lang == Lang::En ? "a display item" : "en visningstekst");
        add("answer-not-allowed", path + ".answer[0]", answers[0], {{"linkId", qi.linkId}, {"kind", kind}});
      }
      checkItems(qi.items, subItems, &n, path, on);
      return;
    }
    if (answers.size() > 1 && !qi.repeats)
      add("answer-repeats", path + ".answer[1]", answers[1],
          {{"linkId", qi.linkId}, {"count", std::to_string(answers.size())}});
    for (size_t j = 0; j < answers.size(); ++j) {
      const std::string ap = path + ".answer[" + std::to_string(j) + "]";
      if (const fhir::Node* v = answers[j]->child("value"))
        checkValue(qi, *v, ap + ".value.ofType(" + std::string(v->type->name) + ")");
      checkItems(qi.items, answers[j]->childrenNamed("item"), answers[j], ap, on);
    }
    if (!subItems.empty()) {
      if (qi.items.empty()) {
        checkItems({}, subItems, &n, path, on);
      } else {
        for (size_t i = 0; i < subItems.size(); ++i)
          add("item-nesting", path + ".item[" + std::to_string(i) + "]", subItems[i],
              {{"linkId", std::string(childValue(*subItems[i], "linkId"))}, {"parent", qi.linkId}});
      }
    }
    if (requireAnswers_ && on && qi.required && !answered(n))
      add("required-missing", path, &n, {{"linkId", qi.linkId}});
  }

  void checkValue(const QuestionnaireItem& qi, const fhir::Node& v, const std::string& vp) {
    const ValueView view = viewOf(v);
    const std::vector<std::string> types = expectedTypes(qi);
    if (std::find(types.begin(), types.end(), view.type) == types.end()) {
      add("answer-type", vp, &v,
          {{"linkId", qi.linkId},
           {"itemType", qi.type},
           {"expected", typesLabel(types, o_.lang)},
           {"value", propertyOf("value", view.type)}});
      return;
    }
    const bool freeText = qi.type == "open-choice" && view.type == "string";
    if ((qi.type == "choice" || qi.type == "open-choice") && !freeText) {
      if (!qi.answerOptions.empty()) {
        if (!matchOption(qi, view))
          add("answer-option-unknown", vp, &v, {{"linkId", qi.linkId}, {"value", valueLabel(view)}});
      } else if (!qi.answerValueSet.empty() && view.type == "Coding") {
        checkValueSet(qi, view, v, vp);
      }
    }
    if (view.text.empty()) return;
    auto below = qi.minValue ? compare(view, *qi.minValue) : std::nullopt;
    auto above = qi.maxValue ? compare(view, *qi.maxValue) : std::nullopt;
    if ((below && *below < 0) || (above && *above > 0)) {
      std::string range;
      if (qi.minValue && qi.maxValue)
        range = qi.minValue->text + "–" + qi.maxValue->text;
      else if (qi.minValue)
        range = "≥ " + qi.minValue->text;
      else
        range = "≤ " + qi.maxValue->text;
      add("answer-out-of-range", vp, &v, {{"linkId", qi.linkId}, {"value", std::string(view.text)}, {"range", range}});
    }
    if (qi.maxLength && (view.type == "string" || view.type == "uri") && codePoints(view.text) > *qi.maxLength)
      add("answer-too-long", vp, &v,
          {{"linkId", qi.linkId},
           {"length", std::to_string(codePoints(view.text))},
           {"max", std::to_string(*qi.maxLength)}});
  }

  void checkValueSet(const QuestionnaireItem& qi, const ValueView& view, const fhir::Node& v, const std::string& vp) {
    const bool en = o_.lang == Lang::En;
    auto unchecked = [&](std::string reason) {
      add("answer-option-unchecked", vp, &v,
          {{"linkId", qi.linkId}, {"value", valueLabel(view)}, {"valueSet", qi.answerValueSet}, {"reason", reason}});
    };
    if (!o_.terminology) {
      unchecked(en ? "no terminology" : "ingen terminologi");
      return;
    }
    std::shared_ptr<const fhir::Expansion> exp = o_.terminology->expand(qi.answerValueSet);
    if (!exp) {
      unchecked(en ? "the value set is not known" : "verdisettet er ukjent");
      return;
    }
    if (exp->contains(view.system, view.code)) return;
    if (exp->complete)
      add("answer-option-unknown", vp, &v, {{"linkId", qi.linkId}, {"value", valueLabel(view)}});
    else
      unchecked(exp->why);
  }

  // The readOnly totals against the answers: a total is the Questionnaire's to compute,
  // so a wrong one is an error, and one over unanswered items a warning.
  void checkTotals(const std::string& base) {
    std::vector<const fhir::Node*> items;
    collectItems(root_, items);
    for (const InstrumentScore& s : scoreResponse(q_, root_)) {
      const fhir::Node* group = firstItem(items, s.instrument->id);
      std::vector<const fhir::Node*> inGroup;
      if (group) collectItems(*group, inGroup);
      const fhir::Node* total = firstItem(inGroup, s.instrument->totalLinkId);
      if (!total) continue;
      const fhir::Node* value = nullptr;
      for (const fhir::Node* a : total->childrenNamed("answer"))
        if ((value = a->child("value"))) break;
      if (!value || !value->hasValue) continue;
      std::string path = fhir::fhirPathOf(root_, value);
      path = base + path.substr(root_.type->name.size());
      const Args args = {{"linkId", std::string(s.instrument->totalLinkId)},
                         {"instrument", std::string(s.instrument->name)},
                         {"value", std::string(value->value)}};
      if (s.complete) {
        auto given = toNumber(value->value);
        if (!given || *given != s.total) {
          Args a = args;
          a["expected"] = std::to_string(s.total);
          add("total-mismatch", path, value, a);
        }
      } else {
        std::vector<std::string> missing = s.unanswered;
        missing.insert(missing.end(), s.unscorable.begin(), s.unscorable.end());
        Args a = args;
        a["missing"] = joinQuoted(missing, o_.lang);
        add("total-incomplete", path, value, a);
      }
    }
  }

  enum class State { Computing, On, Off };

  const Questionnaire& q_;
  const fhir::Node& root_;
  const ResponseCheckOptions& o_;
  fhir::Issues& out_;
  RuleOptions ruleOptions_;
  bool requireAnswers_ = false;
  std::unordered_map<const fhir::Node*, const fhir::Node*> parent_;
  std::unordered_map<const fhir::Node*, const QuestionnaireItem*> qitem_;
  std::unordered_map<const fhir::Node*, State> enabled_;
};

}  // namespace

fhir::Issues validateResponse(const Questionnaire& questionnaire, const fhir::Node& response,
                              const ResponseCheckOptions& options) {
  fhir::Issues out;
  ResponseCheck(questionnaire, response, options, out).run();
  return out;
}

// ---------------------------------------------------------------------------------------
// The catalogue

std::unique_ptr<const QuestionnaireCatalogue> QuestionnaireCatalogue::load(const fhir::Registry& registry,
                                                                           Options options, std::string& error) {
  std::unique_ptr<QuestionnaireCatalogue> c(new QuestionnaireCatalogue(registry));
  const std::string prefix = options.canonicalBase + "/Questionnaire/";
  for (const json::Value* r : registry.resourcesOfType("Questionnaire")) {
    std::string_view url = r->getString("url");
    if (url.substr(0, std::min(url.size(), prefix.size())) != prefix) continue;
    auto q = Questionnaire::fromJson(*r, error);
    if (!q) return nullptr;
    c->all_.push_back(std::move(q));
  }
  if (c->all_.empty()) {
    error = "no Questionnaire under " + prefix + " is loaded (is the clinic package in the registry?)";
    return nullptr;
  }
  c->options_ = std::move(options);
  c->terminology_ = std::make_unique<fhir::RegistryTerminology>(registry);
  return c;
}

const Questionnaire* QuestionnaireCatalogue::byId(std::string_view id) const {
  for (const auto& q : all_)
    if (q->id() == id) return q.get();
  return nullptr;
}

const Questionnaire* QuestionnaireCatalogue::byCanonical(std::string_view canonical) const {
  for (const auto& q : all_)
    if (q->isNamedBy(canonical)) return q.get();
  return nullptr;
}

ResponseCheckOptions QuestionnaireCatalogue::checkOptions(ResponseCheckOptions o) const {
  o.ruleSystem = options_.canonicalBase + std::string(kQuestionnaireRuleCodeSystemPath);
  o.terminology = terminology_.get();
  return o;
}

fhir::Issues QuestionnaireCatalogue::validate(const fhir::Node& response, ResponseCheckOptions options) const {
  options = checkOptions(std::move(options));
  fhir::Issues out;
  const std::string base = options.path.empty() ? std::string(response.type->name) : options.path;
  RuleOptions ro;
  ro.ruleSystem = options.ruleSystem;
  if (response.type->name != "QuestionnaireResponse") {
    out.add(ruleIssue(*findQuestionnaireRule("not-questionnaire-response"), ro, options.lang, base, &response,
                      {{"value", std::string(response.type->name)}}));
    return out;
  }
  const fhir::Node* canonical = response.child("questionnaire");
  if (!canonical || !canonical->hasValue) {
    out.add(ruleIssue(*findQuestionnaireRule("questionnaire-missing"), ro, options.lang, base, &response));
    return out;
  }
  const Questionnaire* q = byCanonical(canonical->value);
  if (!q) {
    out.add(ruleIssue(*findQuestionnaireRule("questionnaire-unknown"), ro, options.lang, base + ".questionnaire",
                      canonical, {{"value", std::string(canonical->value)}}));
    return out;
  }
  return validateResponse(*q, response, options);
}

std::vector<InstrumentScore> QuestionnaireCatalogue::score(const fhir::Node& response) const {
  const fhir::Node* canonical = response.child("questionnaire");
  const Questionnaire* q = canonical && canonical->hasValue ? byCanonical(canonical->value) : nullptr;
  return q ? scoreResponse(*q, response) : std::vector<InstrumentScore>{};
}

// ---------------------------------------------------------------------------------------
// Building a response from recorded answers

namespace {

using detail::JsonWriter;

class ResponseBuilder {
 public:
  // One recorded value as written: its property and its JSON text.
  struct Written {
    std::string property;
    std::string json;
  };

  ResponseBuilder(const QuestionnaireCatalogue& cat, const Questionnaire& q, const RecordedAnswers& a, Lang lang,
                  fhir::Issues& issues)
      : cat_(cat), q_(q), a_(a), lang_(lang), issues_(issues) {
    ro_.ruleSystem = cat.options().canonicalBase + std::string(kQuestionnaireRuleCodeSystemPath);
  }

  // Reports recorded answers the Questionnaire has no question for.
  void checkLinkIds() {
    for (const auto& [linkId, values] : a_.answers) {
      const QuestionnaireItem* qi = q_.find(linkId);
      if (!qi)
        add("item-unknown", where(linkId), {{"linkId", linkId}});
      else if (!qi->isQuestion() && !values.empty())
        add("answer-not-allowed", where(linkId, 0),
            {{"linkId", linkId},
             {"kind",
              qi->isGroup() ? (en() ? "a group" : "en gruppe") : (en() ? "a display item" : "en visningstekst")}});
    }
  }

  // Turns every recorded answer into its JSON value once (reporting what cannot be
  // written), so that whether an item has content is known before it is written.
  void prepare(const std::vector<QuestionnaireItem>& items) {
    for (const QuestionnaireItem& qi : items) {
      if (qi.isQuestion())
        if (const std::vector<AnswerValue>* values = recorded(qi.linkId)) {
          std::vector<Written>& out = written_[qi.linkId];
          if (values->size() > 1 && !qi.repeats)
            add("answer-repeats", where(qi.linkId, 1),
                {{"linkId", qi.linkId}, {"count", std::to_string(values->size())}});
          for (size_t i = 0; i < values->size(); ++i) {
            const AnswerValue& v = (*values)[i];
            if (v.kind == AnswerValue::Kind::String && v.text.empty()) continue;
            if (auto x = value(qi, v, i)) out.push_back(std::move(*x));
          }
        }
      prepare(qi.items);
    }
  }

  void items(JsonWriter& w, const std::vector<QuestionnaireItem>& items) {
    bool open = false;
    for (const QuestionnaireItem& qi : items) {
      if (!hasContent(qi)) continue;
      if (!open) {
        w.beginArray("item");
        open = true;
      }
      w.beginObject();
      w.string("linkId", qi.linkId);
      if (!qi.text.empty()) w.string("text", qi.text);
      if (qi.isGroup()) {
        this->items(w, qi.items);
      } else {
        answers(w, qi);
      }
      w.endObject();
    }
    if (open) w.endArray();
  }

 private:
  bool en() const { return lang_ == Lang::En; }
  static std::string where(std::string_view linkId) { return "answers['" + std::string(linkId) + "']"; }
  static std::string where(std::string_view linkId, size_t i) { return where(linkId) + "[" + std::to_string(i) + "]"; }
  void add(std::string_view code, std::string expression, const std::map<std::string, std::string>& args) {
    issues_.add(ruleIssue(*findQuestionnaireRule(code), ro_, lang_, std::move(expression), nullptr, args));
  }

  const std::vector<AnswerValue>* recorded(std::string_view linkId) const {
    auto it = a_.answers.find(linkId);
    if (it == a_.answers.end()) return nullptr;
    for (const AnswerValue& v : it->second)
      if (!(v.kind == AnswerValue::Kind::String && v.text.empty())) return &it->second;  // "" is no answer
    return nullptr;
  }

  const std::vector<Written>* writtenOf(std::string_view linkId) const {
    auto it = written_.find(linkId);
    return it == written_.end() || it->second.empty() ? nullptr : &it->second;
  }

  bool hasContent(const QuestionnaireItem& qi) const {
    if (qi.isQuestion() && writtenOf(qi.linkId)) return true;
    for (const QuestionnaireItem& c : qi.items)
      if (hasContent(c)) return true;
    return false;
  }

  // One recorded value for this item, or nullopt (reported).
  std::optional<Written> value(const QuestionnaireItem& qi, const AnswerValue& v, size_t i) {
    using K = AnswerValue::Kind;
    auto str = [](std::string_view s) {
      std::string out;
      json::appendQuoted(out, s);
      return out;
    };
    auto wrongType = [&]() -> std::optional<Written> {
      static const char* kinds[] = {"integer", "decimal", "string", "boolean", "date", "code"};
      add("answer-type", where(qi.linkId, i),
          {{"linkId", qi.linkId},
           {"itemType", qi.type},
           {"expected", typesLabel(expectedTypes(qi), lang_)},
           {"value", std::string(kinds[static_cast<int>(v.kind)]) + " " + quoted(v.text, lang_)}});
      return std::nullopt;
    };
    const std::string& t = qi.type;
    switch (v.kind) {
      case K::Integer:
        if (!isInteger(v.text)) return wrongType();
        if (t == "integer" || t == "decimal") return Written{t == "integer" ? "valueInteger" : "valueDecimal", v.text};
        if (t == "choice" || t == "open-choice") return option(qi, v, i, "integer", "valueInteger", v.text);
        return wrongType();
      case K::Decimal:
        if (!json::isNumberLiteral(v.text)) return wrongType();
        if (t == "decimal") return Written{"valueDecimal", v.text};
        return wrongType();
      case K::Boolean:
        if (t == "boolean") return Written{"valueBoolean", v.text};
        return wrongType();
      case K::Date:
        if (t == "date") return Written{"valueDate", str(v.text)};
        if (t == "dateTime") return Written{"valueDateTime", str(v.text)};
        if (t == "choice" || t == "open-choice") return option(qi, v, i, "date", "valueDate", str(v.text));
        return wrongType();
      case K::String:
        if (t == "string" || t == "text") return Written{"valueString", str(v.text)};
        if (t == "dateTime") return Written{"valueDateTime", str(v.text)};
        if (t == "time") return Written{"valueTime", str(v.text)};
        if (t == "url") return Written{"valueUri", str(v.text)};
        if (t == "open-choice") return Written{"valueString", str(v.text)};
        if (t == "choice") return option(qi, v, i, "string", "valueString", str(v.text));
        return wrongType();
      case K::Code:
        if (t == "choice" || t == "open-choice") return coding(qi, v, i);
        return wrongType();
    }
    return wrongType();
  }

  // A non-Coding option value (integer, date, string options).
  std::optional<Written> option(const QuestionnaireItem& qi, const AnswerValue& v, size_t i, std::string_view type,
                                std::string property, std::string jsonText) {
    for (const AnswerOption& o : qi.answerOptions)
      if (o.value.type == type && o.value.text == v.text) return Written{std::move(property), std::move(jsonText)};
    if (qi.type == "open-choice" && type == "string") return Written{std::move(property), std::move(jsonText)};
    add("answer-option-unknown", where(qi.linkId, i), {{"linkId", qi.linkId}, {"value", v.text}});
    return std::nullopt;
  }

  std::optional<Written> coding(const QuestionnaireItem& qi, const AnswerValue& v, size_t i) {
    std::string system, display;
    bool found = false;
    for (const AnswerOption& o : qi.answerOptions)
      if (o.value.type == "Coding" && o.value.code == v.text) {
        system = o.value.system;
        display = o.value.display;
        found = true;
        break;
      }
    if (!found && qi.answerOptions.empty() && !qi.answerValueSet.empty()) {
      // The value set's code: its system from the expansion, the display from the CodeSystem.
      if (auto exp = cat_.terminology().expand(qi.answerValueSet)) {
        for (const std::string& key : exp->codes) {
          size_t bar = key.rfind('|');
          if (bar != std::string::npos && std::string_view(key).substr(bar + 1) == v.text) {
            system = key.substr(0, bar);
            found = true;
            break;
          }
        }
        if (found)
          if (auto c = cat_.terminology().lookup(system, v.text); c && c->found) display = c->display;
      }
    }
    if (!found) {
      add("answer-option-unknown", where(qi.linkId, i), {{"linkId", qi.linkId}, {"value", v.text}});
      return std::nullopt;
    }
    JsonWriter cw;
    cw.beginObject();
    if (!system.empty()) cw.string("system", system);
    cw.string("code", v.text);
    if (!display.empty()) cw.string("display", display);
    cw.endObject();
    return Written{"valueCoding", cw.take()};
  }

  void answers(JsonWriter& w, const QuestionnaireItem& qi) {
    static const std::vector<Written> none;
    const std::vector<Written>* found = writtenOf(qi.linkId);
    const std::vector<Written>& written = found ? *found : none;
    bool nested = false;
    for (const QuestionnaireItem& c : qi.items) nested = nested || hasContent(c);
    if (written.empty()) {
      // Items under a question go in its answer; without an answer there is nowhere to
      // put them.
      if (nested)
        for (const QuestionnaireItem& c : qi.items)
          if (hasContent(c)) add("item-nesting", where(c.linkId), {{"linkId", c.linkId}, {"parent", qi.linkId}});
      return;
    }
    w.beginArray("answer");
    for (size_t i = 0; i < written.size(); ++i) {
      w.beginObject();
      w.raw(written[i].property, written[i].json);
      if (i == 0 && nested) items(w, qi.items);  // nested questions go with the first answer
      w.endObject();
    }
    w.endArray();
  }

  const QuestionnaireCatalogue& cat_;
  const Questionnaire& q_;
  const RecordedAnswers& a_;
  Lang lang_;
  fhir::Issues& issues_;
  RuleOptions ro_;
  std::map<std::string, std::vector<Written>, std::less<>> written_;  // by linkId
};

std::string escapeXhtml(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

// The narrative a receiver shows (bokmål, like the package): what was answered, when,
// by whom, and the scores. Without it FHIR's dom-6 warns on every response we send.
std::string narrative(const Questionnaire& q, const RecordedAnswers& a, const ResponseRefs& refs,
                      const std::vector<InstrumentScore>& scores, const fhir::RegistryTerminology& terminology,
                      const std::string& bandSystem) {
  std::string div = "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>" +
                    escapeXhtml(q.title().empty() ? q.id() : q.title()) + "</b>";
  if (auto d = Date::parse(std::string_view(a.authored).substr(0, 10))) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d.%02d.%04d", d->day(), d->month(), d->year());
    div += std::string(", besvart ") + buf;
  }
  if (!refs.patientDisplay.empty()) div += " av " + escapeXhtml(refs.patientDisplay);
  div += a.status == "completed" ? "." : " (" + escapeXhtml(a.status) + ").";
  div += "</p>";
  if (!scores.empty()) {
    div += "<p>";
    for (size_t i = 0; i < scores.size(); ++i) {
      const InstrumentScore& sc = scores[i];
      div += (i ? " " : "") + std::string(sc.instrument->name) + ": ";
      if (!sc.complete) {
        div += "ufullstendig.";
        continue;
      }
      std::string band = sc.band;
      if (auto c = terminology.lookup(bandSystem, sc.band); c && c->found && !c->display.empty()) band = c->display;
      if (!band.empty() && band[0] >= 'A' && band[0] <= 'Z') band[0] = static_cast<char>(band[0] - 'A' + 'a');
      div += std::to_string(sc.total) + " (" + escapeXhtml(band) + ").";
    }
    div += "</p>";
  }
  return div + "</div>";
}

}  // namespace

ResponseBuild QuestionnaireCatalogue::build(const RecordedAnswers& recorded, const ResponseRefs& refs,
                                            Lang lang) const {
  ResponseBuild res;
  RuleOptions ro;
  ro.ruleSystem = options_.canonicalBase + std::string(kQuestionnaireRuleCodeSystemPath);
  const Questionnaire* q = byId(recorded.questionnaireId);
  if (!q) {
    res.issues.add(ruleIssue(*findQuestionnaireRule("questionnaire-unknown"), ro, lang, "questionnaireId", nullptr,
                             {{"value", recorded.questionnaireId}}));
    return res;
  }
  RecordedAnswers answers = recorded;
  res.scores = applyTotals(*q, answers);

  ResponseBuilder b(*this, *q, answers, lang, res.issues);
  b.checkLinkIds();
  b.prepare(q->items());
  JsonWriter w;
  w.beginObject();
  w.string("resourceType", "QuestionnaireResponse");
  if (!refs.id.empty()) w.string("id", refs.id);
  w.beginObject("meta");
  w.beginArray("profile");
  w.string(options_.canonicalBase + "/StructureDefinition/hoa-questionnaireresponse");
  w.endArray();
  w.endObject();
  w.beginObject("text");
  w.string("status", "generated");
  w.string("div", narrative(*q, answers, refs, res.scores, *terminology_,
                            options_.canonicalBase + std::string(kScoreBandCodeSystemPath)));
  w.endObject();
  if (!refs.identifier.value.empty()) {
    w.beginObject("identifier");
    if (!refs.identifier.system.empty()) w.string("system", refs.identifier.system);
    w.string("value", refs.identifier.value);
    w.endObject();
  }
  if (!refs.serviceRequest.empty()) {
    w.beginArray("basedOn");
    w.beginObject();
    w.string("reference", refs.serviceRequest);
    w.endObject();
    w.endArray();
  }
  w.string("questionnaire", options_.canonicalBase + "/Questionnaire/" + q->id());
  w.string("status", answers.status.empty() ? "completed" : answers.status);
  if (!refs.patient.empty()) {
    w.beginObject("subject");
    w.string("reference", refs.patient);
    if (!refs.patientDisplay.empty()) w.string("display", refs.patientDisplay);
    w.endObject();
  }
  if (!answers.authored.empty()) w.string("authored", answers.authored);
  b.items(w, q->items());
  w.endObject();
  res.json = w.take();

  // The response as a receiver will see it: parsed, then checked against its Questionnaire.
  fhir::ParseResult parsed = fhir::parseJson(registry_, res.json);
  for (fhir::Issue& i : parsed.issues.items) res.issues.add(std::move(i));
  if (parsed.doc.root()) {
    ResponseCheckOptions o;
    o.lang = lang;
    o.ruleSystem = ro.ruleSystem;
    o.terminology = terminology_.get();
    fhir::Issues check = validateResponse(*q, *parsed.doc.root(), o);
    for (fhir::Issue& i : check.items) res.issues.add(std::move(i));
  }
  return res;
}

}  // namespace hoa::clinic
