// Delivery of Tasks and questionnaire responses to referrers' endpoints (the outbox):
// a real gateway pushes to mock referrer servers that go down, answer slowly, fail with
// 500/503/429, or drop the connection in the middle of a response.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "fhir/json.h"
#include "gateway/delivery.h"
#include "gateway/store.h"
#include "tests/gateway/mock_referrer_support.h"
#include "tests/gateway/server_support.h"

namespace hoa::gateway::testing {
namespace {

namespace fs = std::filesystem;
using B = MockReferrer::Behaviour;
using M = MockReferrer::Mode;

bool waitUntil(const std::function<bool()>& done, int timeoutMs = 60000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return done();
}

std::string field(const std::string& json, const std::string& path) {
  json::Error err;
  json::Document doc = json::Document::parse(json, err);
  const json::Value* v = doc.root();
  size_t start = 0;
  while (v && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string seg = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v->isArray()) {
      size_t i = std::stoul(seg);
      v = i < v->size ? v->items[i] : nullptr;
    } else {
      v = v->isObject() ? v->find(seg) : nullptr;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return v && (v->isString() || v->type == json::Type::Number) ? std::string(v->text) : std::string();
}

// A gateway of its own (port 0, temp data) pushing practice 900001 to mock A and 900002
// to mock B; retries are fast so the tests are short.
class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServer* shared = nullptr;  // makes the certificates, checks the definitions
    HOA_REQUIRE_TEST_SERVER(shared);
    certs_ = shared->certsDir();
    a_ = std::make_unique<MockReferrer>(certs_, true);
    b_ = std::make_unique<MockReferrer>(certs_, false);
    a_->start();
    b_->start();
    char tmpl[] = "/tmp/hoa-delivery-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    startGateway();
  }
  void TearDown() override {
    gateway_.reset();
    a_.reset();
    b_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void startGateway() {
    GatewayConfig c = defaultConfig();
    c.port = 0;
    c.dataDir = dir_;
    c.certsDir = certs_;
    c.allowSyntheticIds = true;
    c.delivery.initialBackoffMs = 40;
    c.delivery.maxBackoffMs = 300;
    c.delivery.timeoutSeconds = 1;
    c.delivery.idlePollMs = 100;
    c.delivery.maxAttempts = 10000;
    c.delivery.endpoints = {
        {"900001", a_->baseUrl(), certs_ + "/ca.crt", certs_ + "/clinic.crt", certs_ + "/clinic.key", ""},
        {"900002", b_->baseUrl(), certs_ + "/ca.crt", "", "", "token-b"},
    };
    std::string error;
    gateway_ = GatewayServer::create(c, error);
    ASSERT_TRUE(gateway_) << error;
    gateway_->start();
  }
  TestClient client(const std::string& name) { return TestClient(gateway_->port(), certs_, name); }

  // A referral of practice 900001 (referrer-a) or 900002 (referrer-b); its id.
  std::string createReferral(const std::string& practice = "900001") {
    std::string body = exampleReferral("referral-rest-create.json", uniqueIdentifier("DLV"));
    std::string who = "referrer-a";
    if (practice == "900002") {
      for (size_t at = body.find("900001"); at != std::string::npos; at = body.find("900001", at)) body.replace(at, 6, "900002");
      who = "referrer-b";
    }
    Reply r = client(who).post("/fhir/ServiceRequest", body);
    EXPECT_EQ(r.status, 201) << r.body;
    std::string loc = r.header("location");
    std::string s = loc.substr(0, loc.find("/_history/"));
    return s.substr(s.rfind('/') + 1);
  }
  void move(const std::string& id, const std::string& body) {
    Reply r = client("clinic").post("/clinic/referrals/" + id + "/transitions", body, "application/json");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Every event delivered (none pending, in flight or failed).
  bool allDelivered() {
    auto counts = gateway_->store().read([](Queries& q) { return q.outboxCounts(""); });
    for (const auto& [state, n] : counts)
      if (state != "delivered" && n > 0) return false;
    return !counts.empty();
  }
  int64_t count(const std::string& state) {
    auto counts = gateway_->store().read([](Queries& q) { return q.outboxCounts(""); });
    for (const auto& [s, n] : counts)
      if (s == state) return n;
    return 0;
  }
  static std::string taskKey(const std::string& referralId) {
    return "Task|https://fhir.sthf.no/helse-og-arbeid/NamingSystem/referral-id|" + referralId;
  }
  // The receiver holds the Task once, in `finalStatus`, and saw its versions in order.
  void expectReceived(const MockReferrer& m, const std::string& referralId, const std::string& finalStatus,
                      size_t versions) {
    auto stored = m.stored();
    auto it = stored.find(taskKey(referralId));
    ASSERT_NE(it, stored.end()) << "no Task for " << referralId;
    const MockReferrer::Stored& s = it->second;
    EXPECT_EQ(s.creates, 1);
    EXPECT_EQ(field(s.json, "businessStatus.coding.0.code"), finalStatus);
    // Resends repeat a version; a later version never comes before an earlier one.
    std::string last;
    std::vector<std::string> distinct;
    for (const std::string& body : s.history) {
      std::string at = field(body, "lastModified");
      EXPECT_GE(at, last) << "a later Task version overtook an earlier one";
      if (at != last) distinct.push_back(at);
      last = at;
    }
    EXPECT_EQ(distinct.size(), versions);
    // The pushed Task refers back to the gateway with absolute references.
    const std::string base = "https://localhost:" + std::to_string(gateway_->port()) + "/fhir/ServiceRequest/";
    EXPECT_EQ(field(s.json, "focus.reference").rfind(base, 0), 0u) << s.json;
    EXPECT_EQ(field(s.json, "id"), "");
  }

  std::string certs_, dir_;
  std::unique_ptr<MockReferrer> a_, b_;
  std::unique_ptr<GatewayServer> gateway_;
};

TEST_F(DeliveryTest, EveryTaskVersionArrivesInOrderDespiteFailures) {
  a_->script({{M::Status, 500}, {M::Status, 503}, {M::Status, 429, "1"}, {M::Drop}, {M::Slow, 200, "", 1500},
              {M::Status, 502}, {M::Drop}});
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(createReferral());
  for (const std::string& id : ids) {
    move(id, R"({"to": "under-assessment"})");
    move(id, R"({"to": "accepted", "careStartDeadline": "2027-01-15"})");
    move(id, R"({"to": "in-progress", "offering": "coping-group"})");
  }
  Reply qr = client("clinic").post("/clinic/referrals/" + ids[0] + "/questionnaire-responses",
                                   exampleFile("questionnaireresponse-intake.json"));
  ASSERT_EQ(qr.status, 201) << qr.body;
  move(ids[0], R"({"to": "completed"})");
  ASSERT_TRUE(waitUntil([&] { return allDelivered(); })) << "pending " << count("pending") << ", failed "
                                                         << count("failed");
  expectReceived(*a_, ids[0], "completed", 5);
  expectReceived(*a_, ids[1], "in-progress", 4);
  expectReceived(*a_, ids[2], "in-progress", 4);
  // The questionnaire response once, linked to the referral by an absolute reference.
  int qrs = 0;
  for (const auto& [key, s] : a_->stored())
    if (s.type == "QuestionnaireResponse") {
      ++qrs;
      EXPECT_EQ(s.creates, 1);
      EXPECT_NE(field(s.json, "basedOn.0.reference").find("/fhir/ServiceRequest/" + ids[0]), std::string::npos);
    }
  EXPECT_EQ(qrs, 1);
  EXPECT_GT(a_->requestCount(), 16u);  // the failures were retried
  EXPECT_GT(gateway_->delivery().counters().retried, 0u);
}

TEST_F(DeliveryTest, AReferrerThatWasDownGetsEverythingWhenItReturns) {
  a_->stop();
  const std::string id = createReferral();
  move(id, R"({"to": "under-assessment"})");
  move(id, R"({"to": "rejected", "reason": "outside-target-group"})");
  ASSERT_TRUE(waitUntil([&] {
    auto ev = gateway_->store().read([](Queries& q) { return q.outbox({"pending", "900001", "", 10, 0}); });
    return !ev.empty() && ev[0].attempts >= 2 && !ev[0].lastError.empty();
  }));
  EXPECT_EQ(count("delivered"), 0);
  a_->start();
  ASSERT_TRUE(waitUntil([&] { return allDelivered(); }));
  expectReceived(*a_, id, "rejected", 3);
}

TEST_F(DeliveryTest, ADownReferrerDoesNotHoldUpOthers) {
  a_->stop();
  const std::string idA = createReferral("900001");
  const std::string idB = createReferral("900002");
  move(idB, R"({"to": "under-assessment"})");
  ASSERT_TRUE(waitUntil([&] {
    auto s = b_->stored();
    auto it = s.find(taskKey(idB));
    return it != s.end() && field(it->second.json, "businessStatus.coding.0.code") == "under-assessment";
  }, 10000));
  expectReceived(*b_, idB, "under-assessment", 2);
  // Practice B's endpoint gets its bearer token; A's events still wait.
  EXPECT_EQ(b_->requests().front().authorization, "Bearer token-b");
  EXPECT_TRUE(a_->stored().empty());
  EXPECT_GE(count("pending"), 1);
  a_->start();
  ASSERT_TRUE(waitUntil([&] { return allDelivered(); }));
  expectReceived(*a_, idA, "received", 1);
}

TEST_F(DeliveryTest, PermanentErrorsAreDeadLetteredBlockTheReferralAndCanBeRetried) {
  a_->script({{M::Status, 400}});
  const std::string id = createReferral();
  ASSERT_TRUE(waitUntil([&] { return count("failed") == 1; }));
  move(id, R"({"to": "under-assessment"})");
  // The later version waits behind the dead letter (per-referral order).
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(count("pending"), 1);
  EXPECT_TRUE(a_->stored().empty());
  TestClient clinic = client("clinic");
  Reply failed = clinic.get("/clinic/deliveries?state=failed");
  ASSERT_EQ(failed.status, 200);
  const std::string eventId = field(failed.body, "0.id");
  EXPECT_EQ(field(failed.body, "0.lastStatus"), "400");
  EXPECT_NE(field(failed.body, "0.lastError").find("HTTP 400"), std::string::npos);
  Reply retry = clinic.post("/clinic/deliveries/" + eventId + "/retry", "", "application/json");
  ASSERT_EQ(retry.status, 200) << retry.body;
  EXPECT_EQ(field(retry.body, "state"), "pending");
  ASSERT_TRUE(waitUntil([&] { return allDelivered(); }));
  expectReceived(*a_, id, "under-assessment", 2);
  Reply counters = clinic.get("/clinic/deliveries/counters");
  EXPECT_EQ(counters.status, 200);
  EXPECT_EQ(field(counters.body, "states.delivered"), "2");
  EXPECT_EQ(client("referrer-a").get("/clinic/deliveries").status, 403);
  EXPECT_EQ(clinic.post("/clinic/deliveries/999999/retry", "", "application/json").status, 404);
  EXPECT_EQ(clinic.get("/clinic/deliveries?state=lost").status, 400);
  // Replaying a delivered event: refused for the older Task version (the receiver would go
  // back to "received"), accepted for the newest, which the receiver absorbs.
  Reply delivered = clinic.get("/clinic/deliveries?state=delivered&referral=" + id);
  ASSERT_EQ(delivered.status, 200);
  std::string older, newest;
  for (int i = 0; i < 2; ++i) {
    std::string resource = field(delivered.body, std::to_string(i) + ".resource");
    (resource.size() > 11 && resource.compare(resource.size() - 11, 11, "/_history/1") == 0 ? older : newest) =
        field(delivered.body, std::to_string(i) + ".id");
  }
  ASSERT_FALSE(older.empty());
  ASSERT_FALSE(newest.empty());
  Reply refused = clinic.post("/clinic/deliveries/" + older + "/retry", "", "application/json");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("nyere versjon"), std::string::npos) << refused.body;
  Reply replay = clinic.post("/clinic/deliveries/" + newest + "/retry", "", "application/json");
  ASSERT_EQ(replay.status, 200) << replay.body;
  ASSERT_TRUE(waitUntil([&] { return allDelivered(); }));
  expectReceived(*a_, id, "under-assessment", 2);
}

TEST_F(DeliveryTest, InFlightEventsAreResentAfterARestart) {
  a_->stop();
  const std::string id = createReferral();
  ASSERT_TRUE(waitUntil([&] {
    auto ev = gateway_->store().read([](Queries& q) { return q.outbox({"pending", "900001", "", 10, 0}); });
    return !ev.empty() && ev[0].attempts >= 1;
  }));
  gateway_->stop();
  gateway_.reset();
  {
    // As a crash between sending and recording the result leaves it: in flight.
    std::string error;
    auto store = Store::open({dir_ + "/gateway.db"}, error);
    ASSERT_TRUE(store) << error;
    store->write([](WriteTxn& t) { t.db().exec("UPDATE outbox SET state = 'in-flight'"); });
  }
  a_->start();
  startGateway();
  ASSERT_TRUE(waitUntil([&] { return allDelivered(); }));
  expectReceived(*a_, id, "received", 1);
}

TEST(DeliveryPolicy, ClassifiesStatusesAndComputesDelays) {
  using V = Delivery::Verdict;
  EXPECT_EQ(Delivery::classify(200), V::Delivered);
  EXPECT_EQ(Delivery::classify(201), V::Delivered);
  for (int s : {0, 408, 409, 429, 500, 502, 503, 504}) EXPECT_EQ(Delivery::classify(s), V::Retry) << s;
  for (int s : {301, 400, 401, 403, 404, 410, 412, 422}) EXPECT_EQ(Delivery::classify(s), V::Permanent) << s;
  DeliveryConfig c;
  c.initialBackoffMs = 1000;
  c.maxBackoffMs = 60000;
  for (int attempt = 1; attempt <= 12; ++attempt) {
    int64_t d = Delivery::backoffMs(c, attempt);
    int64_t full = std::min<int64_t>(1000LL << (attempt - 1), 60000);
    EXPECT_GE(d, full / 2) << attempt;
    EXPECT_LE(d, full) << attempt;
  }
  EXPECT_EQ(Delivery::retryAfterMs("7"), 7000);
  EXPECT_EQ(Delivery::retryAfterMs(""), -1);
  EXPECT_EQ(Delivery::retryAfterMs("soon"), -1);
  EXPECT_EQ(Delivery::retryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT"), 0);  // in the past: now
}

}  // namespace
}  // namespace hoa::gateway::testing
