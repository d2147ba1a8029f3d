#include "gateway/timeutil.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace hoa::gateway {
namespace {

int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civilFromDays(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

unsigned daysInMonth(int y, unsigned m) {
  static const unsigned k[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : k[m - 1];
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// Last Sunday of a month, as days since the epoch.
int64_t lastSunday(int y, unsigned m) {
  int64_t day = daysFromCivil(y, m, daysInMonth(y, m));
  int64_t weekday = ((day % 7) + 7 + 4) % 7;  // 1970-01-01 was a Thursday (4); 0 = Sunday
  return day - weekday;
}

// Europe/Oslo offset in minutes for a local wall-clock time (ms since epoch as if UTC).
int64_t osloOffsetForLocal(int64_t localMs, int year) {
  const int64_t start = lastSunday(year, 3) * 86400000LL + 3600000LL;
  const int64_t end = lastSunday(year, 10) * 86400000LL + 3600000LL;
  int64_t utcIfWinter = localMs - 3600000LL;
  int64_t utcIfSummer = localMs - 7200000LL;
  if (utcIfSummer >= start && utcIfWinter < end && utcIfSummer < end) return 120;
  return 60;
}

}  // namespace

std::string instantFromMillis(int64_t ms) {
  int64_t days = ms >= 0 ? ms / 86400000LL : -((-ms + 86399999LL) / 86400000LL);
  int64_t rest = ms - days * 86400000LL;
  int y;
  unsigned m, d;
  civilFromDays(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d, static_cast<int>(rest / 3600000),
                static_cast<int>(rest / 60000 % 60), static_cast<int>(rest / 1000 % 60), static_cast<int>(rest % 1000));
  return buf;
}

std::string nowInstant() {
  static std::atomic<int64_t> last{0};
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  int64_t prev = last.load();
  for (;;) {
    int64_t next = ms > prev ? ms : prev + 1;
    if (last.compare_exchange_weak(prev, next)) {
      ms = next;
      break;
    }
  }
  return instantFromMillis(ms);
}

std::optional<int64_t> epochMillis(std::string_view s) {
  auto r = instantRange(s);
  if (!r) return std::nullopt;
  int y, mo, d, h, mi, se, ms;
  const std::string& lo = r->first;
  if (!digits(lo, 0, 4, y) || !digits(lo, 5, 2, mo) || !digits(lo, 8, 2, d) || !digits(lo, 11, 2, h) ||
      !digits(lo, 14, 2, mi) || !digits(lo, 17, 2, se) || !digits(lo, 20, 3, ms))
    return std::nullopt;
  return daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400000LL + h * 3600000LL +
         mi * 60000LL + se * 1000LL + ms;
}

std::optional<std::pair<std::string, std::string>> instantRange(std::string_view s) {
  int y = 0, mo = 1, d = 1, h = 0, mi = 0, se = 0;
  if (!digits(s, 0, 4, y)) return std::nullopt;
  size_t i = 4;
  enum { Year, Month, Day, Second } precision = Year;
  if (i < s.size()) {
    if (s[i] != '-' || !digits(s, 5, 2, mo) || mo < 1 || mo > 12) return std::nullopt;
    precision = Month;
    i = 7;
  }
  if (i < s.size()) {
    if (s[i] != '-' || !digits(s, 8, 2, d) || d < 1 || static_cast<unsigned>(d) > daysInMonth(y, static_cast<unsigned>(mo)))
      return std::nullopt;
    precision = Day;
    i = 10;
  }
  int fracMs = 0;
  bool hasFraction = false;
  int64_t offsetMin = 0;
  bool hasZone = false;
  if (i < s.size()) {
    if (s[i] != 'T' || !digits(s, 11, 2, h) || s.size() < 16 || s[13] != ':' || !digits(s, 14, 2, mi) || h > 23 ||
        mi > 59)
      return std::nullopt;
    i = 16;
    if (i < s.size() && s[i] == ':') {
      if (!digits(s, 17, 2, se) || se > 60) return std::nullopt;
      i = 19;
    } else {
      return std::nullopt;  // FHIR dateTime needs seconds
    }
    precision = Second;
    if (i < s.size() && s[i] == '.') {
      ++i;
      size_t start = i;
      int scale = 100;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (scale > 0) fracMs += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
      if (i == start) return std::nullopt;
      hasFraction = true;
    }
    std::string_view tz = s.substr(i);
    if (tz == "Z") {
      hasZone = true;
    } else if (tz.size() == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':') {
      int oh, om;
      if (!digits(tz, 1, 2, oh) || !digits(tz, 4, 2, om) || oh > 14 || om > 59) return std::nullopt;
      offsetMin = (tz[0] == '-' ? -1 : 1) * (oh * 60 + om);
      hasZone = true;
    } else if (!tz.empty()) {
      return std::nullopt;
    }
  }
  int64_t localLo = daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400000LL +
                    h * 3600000LL + mi * 60000LL + (se > 59 ? 59 : se) * 1000LL + fracMs;
  int64_t localHi = localLo;
  switch (precision) {
    case Year: localHi = daysFromCivil(y + 1, 1, 1) * 86400000LL - 1; break;
    case Month:
      localHi = daysFromCivil(y, static_cast<unsigned>(mo), daysInMonth(y, static_cast<unsigned>(mo))) * 86400000LL +
                86400000LL - 1;
      break;
    case Day: localHi = localLo + 86400000LL - 1; break;
    case Second: localHi = hasFraction ? localLo : localLo + 999; break;
  }
  if (!hasZone) {
    offsetMin = osloOffsetForLocal(localLo, y);
    int64_t offHi = osloOffsetForLocal(localHi, y);
    return std::make_pair(instantFromMillis(localLo - offsetMin * 60000LL), instantFromMillis(localHi - offHi * 60000LL));
  }
  return std::make_pair(instantFromMillis(localLo - offsetMin * 60000LL), instantFromMillis(localHi - offsetMin * 60000LL));
}

std::string httpDate(std::string_view instant) {
  auto ms = epochMillis(instant);
  if (!ms) return {};
  std::time_t t = static_cast<std::time_t>(*ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string osloToday() {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  int y;
  unsigned m, d;
  civilFromDays(ms / 86400000LL, y, m, d);
  const int64_t start = lastSunday(y, 3) * 86400000LL + 3600000LL;
  const int64_t end = lastSunday(y, 10) * 86400000LL + 3600000LL;
  int64_t local = ms + ((ms >= start && ms < end) ? 7200000LL : 3600000LL);
  civilFromDays(local / 86400000LL, y, m, d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

}  // namespace hoa::gateway
