#pragma once
// FHIR search as the gateway implements it: the search parameters of each resource type
// it serves, the index rows a stored resource gets, and the translation of a search
// request's query into a SearchQuery for the store.
//
// Parameters (docs/rest-api.md):
//   ServiceRequest: _id, identifier, patient, subject, status, _lastUpdated
//   Task: _id, identifier, focus, based-on, patient, status, business-status, _lastUpdated
//   QuestionnaireResponse: _id, identifier, based-on, subject, patient, questionnaire,
//     status, authored, _lastUpdated
//   Patient: _id, identifier, _lastUpdated
// Token values "system|code", "|code" and "code"; reference values "Type/id" or "id",
// and the modifier :identifier ("system|value"); dates with the prefixes eq ne gt lt ge
// le sa eb. Several values in one parameter (comma) are alternatives; repeated
// parameters must all hold. Paging: _count (capped by the configuration).
//
// Thread-safety: the functions are reentrant.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/store.h"

namespace hoa::gateway {

// The index rows of a resource (its FHIR JSON), for the store.
std::vector<IndexRow> indexRows(std::string_view type, std::string_view json);

// Whether the gateway serves search for this type.
bool isSearchable(std::string_view type);

struct SearchRequest {
  SearchQuery query;
  std::vector<std::string> ignored;  // parameters that are not supported (not applied)
  std::string error;                 // a parameter value that cannot be understood
  // The parameters that were applied, as the self link repeats them.
  std::vector<std::pair<std::string, std::string>> applied;
};

// Translates the query parameters of a search on `type`. Parameters starting with '_'
// that only control the result (_count, _format, _pretty, _summary, _elements, _sort,
// _total) are handled by the caller or listed in `ignored` when unsupported.
SearchRequest parseSearch(std::string_view type, const std::vector<std::pair<std::string, std::string>>& params,
                          int defaultCount, int maxCount);

}  // namespace hoa::gateway
