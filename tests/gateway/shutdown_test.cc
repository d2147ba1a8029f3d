// Stopping the gateway: a request in progress is finished and answered, idle keep-alive
// connections are closed, and what was answered is stored.
#include <gtest/gtest.h>

#include <Poco/Net/Context.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SocketAddress.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "gateway/server.h"
#include "gateway/store.h"
#include "tests/gateway/server_support.h"

namespace hoa::gateway::testing {
namespace {

namespace fs = std::filesystem;

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServer* shared = nullptr;  // makes the certificates, checks the definitions
    HOA_REQUIRE_TEST_SERVER(shared);
    certs_ = shared->certsDir();
    char tmpl[] = "/tmp/hoa-shutdown-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    GatewayConfig c = defaultConfig();
    c.port = 0;
    c.dataDir = dir_;
    c.certsDir = certs_;
    c.allowSyntheticIds = true;
    std::string error;
    gateway_ = GatewayServer::create(c, error);
    ASSERT_TRUE(gateway_) << error;
    gateway_->start();
  }
  void TearDown() override {
    gateway_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  Poco::Net::SecureStreamSocket connect(const std::string& who) {
    Poco::Net::Context::Ptr context =
        new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, certs_ + "/" + who + ".key", certs_ + "/" + who + ".crt",
                               certs_ + "/ca.crt", Poco::Net::Context::VERIFY_STRICT);
    Poco::Net::SecureStreamSocket s(
        Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(gateway_->port())), "localhost", context);
    s.setReceiveTimeout(Poco::Timespan(20, 0));
    return s;
  }
  static std::string readAll(Poco::Net::SecureStreamSocket& s) {
    std::string out;
    char buf[4096];
    try {
      for (int n; (n = s.receiveBytes(buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    } catch (const Poco::Exception&) {
    }
    return out;
  }

  std::string certs_, dir_;
  std::unique_ptr<GatewayServer> gateway_;
};

TEST_F(ShutdownTest, ARequestInProgressIsAnsweredAndStoredWhileIdleConnectionsAreClosed) {
  const std::string body = exampleReferral("referral-rest-create.json", uniqueIdentifier("STOP"));
  const std::string head = "POST /fhir/ServiceRequest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\n"
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  // An idle keep-alive connection (one request answered, the connection left open).
  Poco::Net::SecureStreamSocket idle = connect("referrer-a");
  const std::string ping = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  idle.sendBytes(ping.data(), static_cast<int>(ping.size()));
  char buf[1024];
  ASSERT_GT(idle.receiveBytes(buf, sizeof buf), 0);

  // A submission whose body is still arriving when the stop begins.
  Poco::Net::SecureStreamSocket busy = connect("referrer-a");
  const std::string first = head + body.substr(0, body.size() / 2);
  busy.sendBytes(first.data(), static_cast<int>(first.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the server is reading the body
  auto stopped = std::async(std::launch::async, [&] { gateway_->stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "the stop did not wait for the request in progress";
  const std::string rest = body.substr(body.size() / 2);
  busy.sendBytes(rest.data(), static_cast<int>(rest.size()));
  const std::string answer = readAll(busy);
  EXPECT_EQ(answer.rfind("HTTP/1.1 201", 0), 0u) << answer.substr(0, 300);
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(20)), std::future_status::ready);

  // The idle connection was closed by the stop, and the answered referral is stored.
  EXPECT_EQ(readAll(idle), "");
  EXPECT_EQ(gateway_->store().read([](Queries& q) { return q.referrals({}); }).size(), 1u);
}

}  // namespace
}  // namespace hoa::gateway::testing
