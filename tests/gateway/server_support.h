#pragma once
// A real gateway on a loopback port for end-to-end tests, with HTTPS clients that present
// the development client certificates (certs/make-dev-certs.sh makes them in a temp dir).
#include <Poco/Net/Context.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/server.h"
#include "tests/test_env.h"

namespace hoa::gateway::testing {

struct Reply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string header(const std::string& lowerName) const {
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
  }
};

class TestClient {
 public:
  TestClient(int port, const std::string& certsDir, const std::string& name);
  Reply request(const std::string& method, const std::string& path, const std::string& body = {},
                const std::map<std::string, std::string>& headers = {}) const;
  Reply get(const std::string& path, const std::map<std::string, std::string>& headers = {}) const {
    return request("GET", path, {}, headers);
  }
  Reply post(const std::string& path, const std::string& body, const std::string& contentType = "application/fhir+json",
             std::map<std::string, std::string> headers = {}) const {
    headers["Content-Type"] = contentType;
    return request("POST", path, body, headers);
  }
  // Sends `bytes` as they are over a TLS connection and returns all the server sends
  // back until it closes the connection (or 10 s pass).
  std::string raw(const std::string& bytes) const;

 private:
  int port_;
  Poco::Net::Context::Ptr context_;
};

// The shared server of a test binary: started on first use, stopped at exit.
class TestServer {
 public:
  // Skips (returns nullptr, `why`) when the certificates cannot be made or the
  // definitions are absent.
  static TestServer* instance(std::string& why);
  int port() const { return server_->port(); }
  const std::string& certsDir() const { return certsDir_; }
  const std::string& dataDir() const { return dataDir_; }
  GatewayServer& server() { return *server_; }
  TestClient client(const std::string& name) const { return TestClient(port(), certsDir_, name); }

 private:
  std::string root_, certsDir_, dataDir_;
  std::unique_ptr<GatewayServer> server_;
};

// An example referral of the clinic's package (e.g. "referral-transaction.json") with its
// referral identifier REF-2026-000123 replaced by `identifier`.
std::string exampleReferral(const std::string& file, const std::string& identifier);
// The text of a file of the clinic's package examples.
std::string exampleFile(const std::string& file);
// A fresh identifier for a referral.
std::string uniqueIdentifier(const std::string& prefix = "T");

}  // namespace hoa::gateway::testing

// In a fixture's SetUp: `server` = the shared test server. Without the FHIR package (not
// set up) the test is skipped, saying so; any other reason the server is missing — the
// certificates could not be made, the gateway did not start — fails the test.
#define HOA_REQUIRE_TEST_SERVER(server)                                                          \
  do {                                                                                           \
    std::string hoaWhy;                                                                          \
    (server) = ::hoa::gateway::testing::TestServer::instance(hoaWhy);                            \
    if (!(server)) {                                                                             \
      if (::hoa::testing::fhirPackageDir().empty())                                              \
        GTEST_SKIP() << "FHIR package hl7.fhir.r4.examples#4.0.1 not found: run ./dev setup";    \
      FAIL() << "the test server is not running: " << hoaWhy;                                    \
    }                                                                                            \
  } while (false)
