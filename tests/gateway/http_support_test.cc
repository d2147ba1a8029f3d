// Content negotiation, languages, query parsing, times and configuration.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gateway/config.h"
#include "gateway/http.h"
#include "gateway/timeutil.h"
#include "gateway/workflow.h"

namespace hoa::gateway {
namespace {

HttpRequest withHeader(const std::string& name, const std::string& value) {
  HttpRequest r;
  r.headers[name] = value;
  return r;
}

TEST(Negotiation, ResponseFormatFromFormatAcceptAndFallback) {
  EXPECT_EQ(responseFormat(HttpRequest{}), fhir::Format::Json);
  EXPECT_EQ(responseFormat(HttpRequest{}, fhir::Format::Xml), fhir::Format::Xml);
  EXPECT_EQ(responseFormat(withHeader("Accept", "application/fhir+xml")), fhir::Format::Xml);
  EXPECT_EQ(responseFormat(withHeader("accept", "application/xml;q=0.5, application/fhir+json")), fhir::Format::Json);
  EXPECT_EQ(responseFormat(withHeader("Accept", "application/fhir+json;q=0.2, application/fhir+xml;q=0.9")),
            fhir::Format::Xml);
  EXPECT_EQ(responseFormat(withHeader("Accept", "*/*")), fhir::Format::Json);
  EXPECT_EQ(responseFormat(withHeader("Accept", "text/html")), std::nullopt);
  HttpRequest f;
  f.query = {{"_format", "xml"}};
  f.headers["Accept"] = "application/fhir+json";
  EXPECT_EQ(responseFormat(f), fhir::Format::Xml);
  f.query = {{"_format", "text/csv"}};
  EXPECT_EQ(responseFormat(f), std::nullopt);
}

TEST(Negotiation, RequestFormatFromContentTypeOrBody) {
  EXPECT_EQ(requestFormat(withHeader("Content-Type", "application/fhir+json; charset=utf-8")), fhir::Format::Json);
  EXPECT_EQ(requestFormat(withHeader("Content-Type", "application/fhir+xml")), fhir::Format::Xml);
  EXPECT_EQ(requestFormat(withHeader("Content-Type", "text/plain")), std::nullopt);
  HttpRequest sniff;
  sniff.body = "  <Patient/>";
  EXPECT_EQ(requestFormat(sniff), fhir::Format::Xml);
}

TEST(Negotiation, LanguageIsBokmalUnlessEnglishIsPreferred) {
  EXPECT_EQ(requestLang(HttpRequest{}), clinic::Lang::Nb);
  EXPECT_EQ(requestLang(withHeader("Accept-Language", "en")), clinic::Lang::En);
  EXPECT_EQ(requestLang(withHeader("Accept-Language", "en-GB,en;q=0.8")), clinic::Lang::En);
  EXPECT_EQ(requestLang(withHeader("Accept-Language", "nb-NO,nb;q=0.9,en;q=0.8")), clinic::Lang::Nb);
  EXPECT_EQ(requestLang(withHeader("Accept-Language", "de, en;q=0.5")), clinic::Lang::En);
  EXPECT_EQ(requestLang(withHeader("Accept-Language", "sv")), clinic::Lang::Nb);
}

TEST(Query, DecodesPairsInOrder) {
  auto q = parseQuery("identifier=urn%3Aoid%3A1%7C123&status=active,revoked&x&_count=5&name=a+b");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0].second, "urn:oid:1|123");
  EXPECT_EQ(q[1].second, "active,revoked");
  EXPECT_EQ(q[2].first, "x");
  EXPECT_EQ(q[4].second, "a b");
  EXPECT_EQ(percentDecode("/fhir/a%2Fb+c", false), "/fhir/a/b+c");
}

TEST(Versions, ETagsAreWeakVersionNumbers) {
  EXPECT_EQ(parseETag("W/\"3\""), 3);
  EXPECT_EQ(parseETag("\"12\""), 12);
  EXPECT_EQ(parseETag("7"), 7);
  EXPECT_EQ(parseETag("W/\"x\""), std::nullopt);
  EXPECT_EQ(parseETag(""), std::nullopt);
}

TEST(Ids, AreTimeOrderedVersion7Uuids) {
  std::string a = newId(), b = newId();
  EXPECT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '7');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b') << a;
  EXPECT_NE(a, b);
  // The first 48 bits are the Unix time in milliseconds: now, and ordered.
  auto ms = std::stoull(a.substr(0, 8) + a.substr(9, 4), nullptr, 16);
  auto now = static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count());
  EXPECT_LE(ms, now);
  EXPECT_GT(ms + 60000, now);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_LT(a, newId());
}

TEST(Times, RangesAreUtcAndDatesAreNorwegianDays) {
  auto winter = instantRange("2026-11-20");
  ASSERT_TRUE(winter);
  EXPECT_EQ(winter->first, "2026-11-19T23:00:00.000Z");
  EXPECT_EQ(winter->second, "2026-11-20T22:59:59.999Z");
  auto summer = instantRange("2026-07-01");
  ASSERT_TRUE(summer);
  EXPECT_EQ(summer->first, "2026-06-30T22:00:00.000Z");
  auto zoned = instantRange("2026-11-25T18:40:00+01:00");
  ASSERT_TRUE(zoned);
  EXPECT_EQ(zoned->first, "2026-11-25T17:40:00.000Z");
  EXPECT_EQ(zoned->second, "2026-11-25T17:40:00.999Z");
  auto exact = instantRange("2026-11-25T17:40:00.123Z");
  EXPECT_EQ(exact->first, exact->second);
  auto month = instantRange("2024-02");
  ASSERT_TRUE(month);
  EXPECT_EQ(month->first, "2024-01-31T23:00:00.000Z");
  EXPECT_EQ(month->second, "2024-02-29T22:59:59.999Z");
  auto year = instantRange("2026Z");
  EXPECT_FALSE(year);
  EXPECT_FALSE(instantRange("2026-02-30"));
  EXPECT_FALSE(instantRange("2026-11-20T10:00"));
  EXPECT_EQ(httpDate("2026-11-22T19:55:45.000Z"), "Sun, 22 Nov 2026 19:55:45 GMT");
  std::string a = nowInstant(), b = nowInstant();
  EXPECT_LT(a, b);
  EXPECT_EQ(a.size(), 24u);
}

class ConfigFile : public ::testing::Test {
 protected:
  void write(const std::string& text) {
    path_ = std::filesystem::temp_directory_path() / ("hoa-config-test-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path_) << text;
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
};

TEST_F(ConfigFile, OverridesDefaultsAndReplacesClients) {
  write(R"({"server": {"port": 9443, "maxBodyBytes": 2048}, "clinic": {"herId": "123"},
            "clients": [{"name": "gp", "commonName": "gp.example", "herIds": ["555", "556"]},
                        {"commonName": "clinic", "kind": "clinic"}]})");
  GatewayConfig c = defaultConfig();
  std::string error;
  ASSERT_TRUE(loadConfigFile(path_.string(), c, error)) << error;
  EXPECT_EQ(c.port, 9443);
  EXPECT_EQ(c.maxBodyBytes, 2048);
  EXPECT_EQ(c.clinicHerId, "123");
  ASSERT_EQ(c.clients.size(), 2u);
  EXPECT_EQ(c.clients[0].herIds, (std::vector<std::string>{"555", "556"}));
  EXPECT_EQ(c.clients[1].kind, ClientConfig::Kind::Clinic);
  EXPECT_EQ(c.clients[1].name, "clinic");
  c.finish();
  EXPECT_EQ(c.databaseFile, "./var/gateway.db");
  EXPECT_EQ(c.caFile, "./var/certs/ca.crt");
  EXPECT_EQ(c.publicBase, "https://localhost:9443/fhir");
}

TEST_F(ConfigFile, RefusesWrongTypesUnknownSectionsAndIncompleteClients) {
  GatewayConfig c = defaultConfig();
  std::string error;
  write(R"({"server": {"port": "many"}})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_NE(error.find("server.port"), std::string::npos) << error;
  write(R"({"serer": {"port": 1}})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_NE(error.find("serer"), std::string::npos) << error;
  write(R"({"server": {"port": 70000}})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  write(R"({"clients": [{"commonName": "gp"}]})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_NE(error.find("herIds"), std::string::npos) << error;
  write("{not json");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_FALSE(loadConfigFile("/nonexistent/config.json", c, error));
  // A misspelt key is an error, not silently ignored (in sections, endpoints and clients).
  write(R"({"server": {"maxThread": 8}})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_NE(error.find("server.maxThread"), std::string::npos) << error;
  write(R"({"delivery": {"endpoints": [{"herId": "900001", "baseUrl": "https://x", "token": "t"}]}})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_NE(error.find("token"), std::string::npos) << error;
  write(R"({"clients": [{"commonName": "gp", "herIds": ["1"], "herID": "2"}]})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_NE(error.find("herID"), std::string::npos) << error;
  write(R"({"search": {"defaultCount": 600}})");
  EXPECT_FALSE(loadConfigFile(path_.string(), c, error));
  EXPECT_NE(error.find("maxCount"), std::string::npos) << error;
}

TEST_F(ConfigFile, TheShippedDevelopmentConfigurationLoads) {
  GatewayConfig c = defaultConfig();
  std::string error;
  EXPECT_TRUE(loadConfigFile(std::string(HOA_SOURCE_DIR) + "/gateway/config/development.json", c, error)) << error;
  EXPECT_TRUE(c.allowSyntheticIds);
}

}  // namespace
}  // namespace hoa::gateway
