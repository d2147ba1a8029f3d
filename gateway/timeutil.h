#pragma once
// Instants and date ranges for the store and the HTTP layer.
//
// Stored instants (meta.lastUpdated, search index ranges) are normalised UTC with
// milliseconds, "YYYY-MM-DDThh:mm:ss.sssZ", so they compare correctly as text.
//
// Thread-safety: all functions are reentrant.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace hoa::gateway {

// Now, normalised UTC with milliseconds. Strictly increasing within the process (two
// calls in one millisecond give different instants), so versions sort by time.
std::string nowInstant();

// Milliseconds since the epoch of a normalised instant, or nullopt.
std::optional<int64_t> epochMillis(std::string_view instant);
std::string instantFromMillis(int64_t ms);

// The range a FHIR date, dateTime or instant covers, as normalised UTC instants
// [lo, hi] inclusive: "2026-11" covers the whole month. Values without a time zone
// (dates, and dateTimes written without one) are read as Norwegian local time
// (Europe/Oslo). nullopt when the text is not such a value.
std::optional<std::pair<std::string, std::string>> instantRange(std::string_view value);

// RFC 7231 HTTP date ("Sun, 22 Nov 2026 19:55:45 GMT") of a normalised instant.
std::string httpDate(std::string_view instant);

// The date (YYYY-MM-DD) in Norway now.
std::string osloToday();

}  // namespace hoa::gateway
