// End-to-end tests: a real gateway on a loopback port, real HTTPS clients with the
// development client certificates (Poco's client; tests/e2e has the curl variant).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "gateway/timeutil.h"
#include "tests/gateway/server_support.h"

namespace hoa::gateway::testing {
namespace {

// A parsed JSON body with path lookups: "entry.0.resource.id".
class Json {
 public:
  explicit Json(const std::string& text) { doc_ = json::Document::parse(text, error_); }
  bool ok() const { return doc_.root() != nullptr; }
  const json::Value* at(std::string_view path) const {
    const json::Value* v = doc_.root();
    while (v && !path.empty()) {
      size_t dot = path.find('.');
      std::string_view part = path.substr(0, dot);
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
      if (v->isArray()) {
        size_t i = std::stoul(std::string(part));
        v = i < v->size ? v->items[i] : nullptr;
      } else if (v->isObject()) {
        v = v->find(part);
      } else {
        v = nullptr;
      }
    }
    return v;
  }
  std::string str(std::string_view path) const {
    const json::Value* v = at(path);
    return v && (v->isString() || v->type == json::Type::Number) ? std::string(v->text) : std::string();
  }
  size_t size(std::string_view path) const {
    const json::Value* v = at(path);
    return v && (v->isArray() || v->isObject()) ? v->size : 0;
  }

 private:
  json::Error error_;
  json::Document doc_;
};

std::string idFromLocation(const std::string& location) {
  // https://host/fhir/ServiceRequest/{id}/_history/1
  size_t h = location.find("/_history/");
  std::string s = location.substr(0, h);
  return s.substr(s.rfind('/') + 1);
}

class GatewayServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOA_REQUIRE_TEST_SERVER(server_);
  }
  TestClient client(const std::string& name) { return server_->client(name); }

  // Submits a fresh REST-create referral as referrer-a; returns its ServiceRequest id.
  std::string createReferral(const std::string& identifier = uniqueIdentifier()) {
    Reply r = client("referrer-a").post("/fhir/ServiceRequest", exampleReferral("referral-rest-create.json", identifier));
    EXPECT_EQ(r.status, 201) << r.body;
    return idFromLocation(r.header("location"));
  }
  size_t total(const TestClient& c, const std::string& query) {
    Reply r = c.get(query);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return std::stoul(Json(r.body).str("total").empty() ? "0" : Json(r.body).str("total"));
  }

  // The body is valid FHIR R4 (and valid against the profiles its resources claim).
  void expectValidFhir(const std::string& body) {
    const Services& s = server_->server().api().services();
    fhir::ParseResult p = fhir::parse(*s.registry, body);
    ASSERT_TRUE(p.ok()) << (p.issues.empty() ? "" : p.issues.items[0].toString()) << "\n" << body.substr(0, 400);
    fhir::Issues issues = s.validator->validate(*p.doc.root());
    for (const fhir::Issue& i : issues.items)
      EXPECT_TRUE(i.severity != fhir::Severity::Error && i.severity != fhir::Severity::Fatal)
          << i.toString() << "\n" << body.substr(0, 400);
  }

  TestServer* server_ = nullptr;
};

TEST_F(GatewayServerTest, HealthAndReadiness) {
  TestClient c = client("referrer-a");
  EXPECT_EQ(c.get("/healthz").status, 200);
  Reply ready = c.get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(Json(ready.body).str("status"), "ready");
}

TEST_F(GatewayServerTest, CapabilityStatementInJsonAndXml) {
  TestClient c = client("referrer-a");
  Reply j = c.get("/fhir/metadata");
  ASSERT_EQ(j.status, 200);
  EXPECT_EQ(Json(j.body).str("resourceType"), "CapabilityStatement");
  EXPECT_EQ(Json(j.body).str("fhirVersion"), "4.0.1");
  expectValidFhir(j.body);
  Reply x = c.get("/fhir/metadata?_format=xml");
  ASSERT_EQ(x.status, 200);
  EXPECT_NE(x.header("content-type").find("application/fhir+xml"), std::string::npos);
  EXPECT_NE(x.body.find("<CapabilityStatement xmlns=\"http://hl7.org/fhir\""), std::string::npos);
  Reply a = c.get("/fhir/metadata", {{"Accept", "application/fhir+xml"}});
  EXPECT_NE(a.body.find("<CapabilityStatement"), std::string::npos);
}

struct TransportCase {
  std::string file, path, contentType;
};

TEST_F(GatewayServerTest, AcceptsEveryTransportFormInJsonAndXmlAndCreatesTheTask) {
  const std::vector<TransportCase> cases = {
      {"referral-rest-create.json", "/fhir/ServiceRequest", "application/fhir+json"},
      {"referral-rest-create.xml", "/fhir/ServiceRequest", "application/fhir+xml"},
      {"referral-transaction.json", "/fhir", "application/fhir+json"},
      {"referral-transaction.xml", "/fhir", "application/fhir+xml"},
      {"referral-message.json", "/fhir/$process-message", "application/fhir+json"},
      {"referral-message.xml", "/fhir/$process-message", "application/fhir+xml"},
  };
  TestClient a = client("referrer-a");
  for (const TransportCase& tc : cases) {
    SCOPED_TRACE(tc.file);
    const std::string ident = uniqueIdentifier("TR");
    Reply r = a.post(tc.path, exampleReferral(tc.file, ident), tc.contentType, {{"Accept", "application/fhir+json"}});
    std::string srId;
    if (tc.path == "/fhir/ServiceRequest") {
      ASSERT_EQ(r.status, 201) << r.body;
      srId = idFromLocation(r.header("location"));
      EXPECT_EQ(Json(r.body).str("id"), srId);
      EXPECT_EQ(r.header("etag"), "W/\"1\"");
    } else if (tc.path == "/fhir") {
      ASSERT_EQ(r.status, 200) << r.body;
      Json b(r.body);
      EXPECT_EQ(b.str("type"), "transaction-response");
      for (size_t i = 0; i < b.size("entry"); ++i) {
        std::string loc = b.str("entry." + std::to_string(i) + ".response.location");
        EXPECT_EQ(b.str("entry." + std::to_string(i) + ".response.status"), "201 Created");
        if (loc.rfind("ServiceRequest/", 0) == 0) srId = idFromLocation("/" + loc);
      }
    } else {
      ASSERT_EQ(r.status, 200) << r.body;
      Json b(r.body);
      EXPECT_EQ(b.str("type"), "message");
      EXPECT_EQ(b.str("entry.0.resource.resourceType"), "MessageHeader");
      EXPECT_EQ(b.str("entry.0.resource.response.code"), "ok");
      EXPECT_EQ(b.str("entry.1.resource.resourceType"), "Task");
      std::string focus = b.str("entry.1.resource.focus.reference");
      srId = focus.substr(focus.find('/') + 1);
    }
    ASSERT_FALSE(srId.empty());
    expectValidFhir(r.body);
    Reply sr = a.get("/fhir/ServiceRequest/" + srId);
    ASSERT_EQ(sr.status, 200) << sr.body;
    EXPECT_EQ(Json(sr.body).str("identifier.0.value"), ident);
    Reply tasks = a.get("/fhir/Task?focus=ServiceRequest/" + srId);
    ASSERT_EQ(tasks.status, 200);
    Json t(tasks.body);
    ASSERT_EQ(t.str("total"), "1") << tasks.body;
    expectValidFhir(tasks.body);
    EXPECT_EQ(t.str("entry.0.resource.status"), "received");
    EXPECT_EQ(t.str("entry.0.resource.businessStatus.coding.0.code"), "received");
    EXPECT_EQ(t.str("entry.0.resource.restriction.period.end").size(), 10u);
    EXPECT_EQ(t.str("entry.0.resource.basedOn.0.reference"), "ServiceRequest/" + srId);
    if (tc.path != "/fhir/ServiceRequest") {
      // Bundle forms: references point at the stored resources.
      std::string subject = Json(sr.body).str("subject.reference");
      EXPECT_EQ(subject.rfind("Patient/", 0), 0u) << subject;
      EXPECT_EQ(a.get("/fhir/" + subject).status, 200);
      EXPECT_EQ(t.str("entry.0.resource.for.reference"), subject);
    }
  }
}

TEST_F(GatewayServerTest, ResubmissionReturnsTheExistingReferral) {
  TestClient a = client("referrer-a");
  const std::string body = exampleReferral("referral-rest-create.json", uniqueIdentifier("DUP"));
  Reply first = a.post("/fhir/ServiceRequest", body);
  ASSERT_EQ(first.status, 201) << first.body;
  Reply second = a.post("/fhir/ServiceRequest", body);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(idFromLocation(second.header("location")), idFromLocation(first.header("location")));
  EXPECT_EQ(Json(second.body).str("id"), idFromLocation(first.header("location")));
}

TEST_F(GatewayServerTest, TwentySimultaneousDuplicatesCreateExactlyOneReferral) {
  const std::string ident = uniqueIdentifier("CONC");
  const std::string body = exampleReferral("referral-transaction.json", ident);
  std::vector<Reply> replies(20);
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&, i] { replies[static_cast<size_t>(i)] = client("referrer-a").post("/fhir", body); });
  for (auto& t : threads) t.join();
  int created = 0, existing = 0;
  std::set<std::string> srIds;
  for (const Reply& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body;
    Json b(r.body);
    std::string status = b.str("entry.0.response.status");
    created += status == "201 Created";
    existing += status == "200 OK";
    for (size_t i = 0; i < b.size("entry"); ++i) {
      std::string loc = b.str("entry." + std::to_string(i) + ".response.location");
      if (loc.rfind("ServiceRequest/", 0) == 0) srIds.insert(idFromLocation("/" + loc));
    }
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(existing, 19);
  EXPECT_EQ(srIds.size(), 1u);
  EXPECT_EQ(total(client("referrer-a"),
                  "/fhir/ServiceRequest?identifier=https://ehr.example.no/fhir/NamingSystem/referral-id|" + ident),
            1u);
}

TEST_F(GatewayServerTest, InvalidInputStoresNothing) {
  TestClient a = client("referrer-a");
  TestClient clinic = client("clinic");
  const size_t before = total(a, "/fhir/ServiceRequest?_count=0");
  const size_t tasksBefore = total(clinic, "/fhir/Task?_count=0");
  std::string urgent = exampleReferral("referral-rest-create.json", uniqueIdentifier("BAD"));
  size_t at = urgent.find("\"priority\": \"routine\"");
  ASSERT_NE(at, std::string::npos);
  urgent.replace(at, 21, "\"priority\": \"urgent\"");
  Reply r = a.post("/fhir/ServiceRequest", urgent);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(Json(r.body).str("resourceType"), "OperationOutcome");
  expectValidFhir(r.body);
  Reply broken = a.post("/fhir/ServiceRequest", "{\"resourceType\": \"ServiceRequest\", ");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(Json(broken.body).str("resourceType"), "OperationOutcome");
  Reply wrongType = a.post("/fhir/ServiceRequest", exampleFile("referral-transaction.json"));
  EXPECT_EQ(wrongType.status, 400);
  EXPECT_EQ(total(a, "/fhir/ServiceRequest?_count=0"), before);
  EXPECT_EQ(total(clinic, "/fhir/Task?_count=0"), tasksBefore);
}

TEST_F(GatewayServerTest, MessagesInEnglishOnRequest) {
  TestClient a = client("referrer-a");
  std::string urgent = exampleReferral("referral-rest-create.json", uniqueIdentifier("LANG"));
  urgent.replace(urgent.find("\"priority\": \"routine\""), 21, "\"priority\": \"urgent\"");
  Reply nb = a.post("/fhir/ServiceRequest", urgent);
  Reply en = a.post("/fhir/ServiceRequest", urgent, "application/fhir+json", {{"Accept-Language", "en"}});
  ASSERT_EQ(nb.status, 422);
  ASSERT_EQ(en.status, 422);
  EXPECT_NE(nb.body, en.body);
  EXPECT_NE(en.body.find("legevakt"), std::string::npos);  // the clinic's advice, in both
}

TEST_F(GatewayServerTest, ContentNegotiationErrors) {
  TestClient a = client("referrer-a");
  Reply unsupported = a.post("/fhir/ServiceRequest", "hello", "text/plain");
  EXPECT_EQ(unsupported.status, 415);
  EXPECT_EQ(Json(unsupported.body).str("resourceType"), "OperationOutcome");
  Reply notAcceptable = a.get("/fhir/metadata", {{"Accept", "text/html"}});
  EXPECT_EQ(notAcceptable.status, 406);
  Reply method = a.request("DELETE", "/fhir/ServiceRequest/abc");
  EXPECT_EQ(method.status, 405);
  EXPECT_FALSE(method.header("allow").empty());
  Reply unknown = a.get("/fhir/Foo/1");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Json(unknown.body).str("resourceType"), "OperationOutcome");
  std::string big(2 << 20, ' ');
  Reply tooLarge = a.post("/fhir/ServiceRequest", big);
  EXPECT_EQ(tooLarge.status, 413);
}

TEST_F(GatewayServerTest, RequestsThatAreNotValidHttpGetAnOperationOutcome) {
  TestClient a = client("referrer-a");
  for (const std::string& bad : {std::string("GET /fhir/metadata COFFEE/1.0\r\nHost: localhost\r\n\r\n"),
                                 std::string("GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\nX-Long: ") +
                                     std::string(20000, 'x') + "\r\n\r\n"}) {
    std::string answer = a.raw(bad);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 200);
    EXPECT_NE(answer.find("application/fhir+json"), std::string::npos) << answer.substr(0, 400);
    EXPECT_NE(answer.find("\"resourceType\":\"OperationOutcome\""), std::string::npos) << answer.substr(0, 400);
  }
  // Valid HTTP on a raw connection still works (the loop serves keep-alive requests).
  std::string ok = a.raw("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  size_t first = ok.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << ok;
  EXPECT_NE(ok.find("HTTP/1.1 200", first + 1), std::string::npos) << ok;
}

TEST_F(GatewayServerTest, ReadVreadHistoryAndConditionalRead) {
  TestClient a = client("referrer-a");
  const std::string id = createReferral();
  Reply r = a.get("/fhir/ServiceRequest/" + id);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("etag"), "W/\"1\"");
  EXPECT_FALSE(r.header("last-modified").empty());
  EXPECT_EQ(Json(r.body).str("meta.versionId"), "1");
  EXPECT_EQ(a.get("/fhir/ServiceRequest/" + id, {{"If-None-Match", "W/\"1\""}}).status, 304);
  EXPECT_EQ(a.get("/fhir/ServiceRequest/" + id + "/_history/1").status, 200);
  EXPECT_EQ(a.get("/fhir/ServiceRequest/" + id + "/_history/2").status, 404);
  Reply h = a.get("/fhir/ServiceRequest/" + id + "/_history");
  ASSERT_EQ(h.status, 200);
  EXPECT_EQ(Json(h.body).str("type"), "history");
  expectValidFhir(h.body);
  EXPECT_EQ(Json(h.body).size("entry"), 1u);
  EXPECT_EQ(a.get("/fhir/ServiceRequest/does-not-exist").status, 404);
}

TEST_F(GatewayServerTest, ReferrerSeesOnlyItsOwnPractice) {
  const std::string id = createReferral();
  TestClient b = client("referrer-b");
  EXPECT_EQ(b.get("/fhir/ServiceRequest/" + id).status, 404);
  EXPECT_EQ(b.get("/fhir/ServiceRequest/" + id + "/_history").status, 404);
  EXPECT_EQ(total(b, "/fhir/Task?focus=ServiceRequest/" + id), 0u);
  // referrer-b may not send for practice 900001 (the examples' practice).
  Reply r = b.post("/fhir/ServiceRequest", exampleReferral("referral-rest-create.json", uniqueIdentifier("B")));
  EXPECT_EQ(r.status, 403) << r.body;
  // Referrers have no clinic API and no audit trail.
  EXPECT_EQ(b.get("/clinic/referrals").status, 403);
  EXPECT_EQ(b.get("/fhir/AuditEvent").status, 403);
  // The clinic sees everything.
  EXPECT_EQ(client("clinic").get("/fhir/ServiceRequest/" + id).status, 200);
}

TEST_F(GatewayServerTest, UnknownClientCertificateIsUnauthorised) {
  // The certificate is valid (same CA) but not mapped to any client.
  Reply r = client("unknown").get("/fhir/metadata");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Json(r.body).str("resourceType"), "OperationOutcome");
}

TEST_F(GatewayServerTest, FullTaskLifecycleToCompletedWithQuestionnaireAnswers) {
  TestClient a = client("referrer-a");
  TestClient clinic = client("clinic");
  const std::string id = createReferral();
  auto move = [&](const std::string& body) {
    return clinic.post("/clinic/referrals/" + id + "/transitions", body, "application/json");
  };
  Reply model = clinic.get("/clinic/referrals/" + id);
  ASSERT_EQ(model.status, 200);
  EXPECT_EQ(Json(model.body).str("status"), "received");
  EXPECT_EQ(Json(model.body).str("id"), id);
  ASSERT_EQ(move("{\"to\": \"under-assessment\"}").status, 200);
  // The deadline for the start of care: some weeks after receipt.
  Reply accepted = move("{\"to\": \"accepted\", \"careStartDeadline\": \"2027-01-15\"}");
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  EXPECT_EQ(Json(accepted.body).str("status"), "accepted");
  ASSERT_EQ(move("{\"to\": \"in-progress\", \"offering\": \"coping-group\"}").status, 200);

  // Questionnaire answers recorded by the clinic, linked to the referral.
  Reply qr = clinic.post("/clinic/referrals/" + id + "/questionnaire-responses",
                         exampleFile("questionnaireresponse-intake.json"));
  ASSERT_EQ(qr.status, 201) << qr.body;
  Json qj(qr.body);
  EXPECT_EQ(qj.str("questionnaireResponse.basedOn.0.reference"), "ServiceRequest/" + id);
  EXPECT_EQ(qj.str("scores.0.instrument"), "phq-9");
  EXPECT_EQ(qj.str("scores.0.band"), "moderate");
  // The same response again (a retry): the stored one, 200, not a second response.
  Reply again = clinic.post("/clinic/referrals/" + id + "/questionnaire-responses",
                            exampleFile("questionnaireresponse-intake.json"));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Json(again.body).str("questionnaireResponse.id"), qj.str("questionnaireResponse.id"));
  EXPECT_EQ(total(a, "/fhir/QuestionnaireResponse?based-on=ServiceRequest/" + id), 1u);
  Reply done = move("{\"to\": \"completed\"}");
  ASSERT_EQ(done.status, 200) << done.body;

  Reply tasks = a.get("/fhir/Task?focus=ServiceRequest/" + id);
  Json t(tasks.body);
  ASSERT_EQ(t.str("total"), "1");
  EXPECT_EQ(t.str("entry.0.resource.status"), "completed");
  EXPECT_EQ(t.str("entry.0.resource.businessStatus.coding.0.code"), "completed");
  EXPECT_EQ(t.str("entry.0.resource.meta.versionId"), "5");
  const std::string taskId = t.str("entry.0.resource.id");
  Reply h = a.get("/fhir/Task/" + taskId + "/_history");
  EXPECT_EQ(Json(h.body).size("entry"), 5u);
  expectValidFhir(h.body);
  Reply answers = a.get("/fhir/QuestionnaireResponse?based-on=ServiceRequest/" + id);
  ASSERT_EQ(answers.status, 200);
  EXPECT_EQ(Json(answers.body).str("total"), "1");
  EXPECT_EQ(total(a, "/fhir/QuestionnaireResponse?based-on=ServiceRequest/" + id +
                         "&questionnaire=https://fhir.sthf.no/helse-og-arbeid/Questionnaire/intake"),
            1u);
  EXPECT_EQ(total(client("referrer-b"), "/fhir/QuestionnaireResponse?based-on=ServiceRequest/" + id), 0u);
  EXPECT_EQ(total(a, "/fhir/Task?business-status=completed&_id=" + taskId), 1u);
}

TEST_F(GatewayServerTest, IllegalTransitionsAreRefusedWithTheAllowedOnes) {
  TestClient clinic = client("clinic");
  const std::string id = createReferral();
  Reply r = clinic.post("/clinic/referrals/" + id + "/transitions", "{\"to\": \"completed\"}", "application/json");
  EXPECT_EQ(r.status, 409) << r.body;
  // An OperationOutcome (as the contract says), the allowed transitions as extensions.
  EXPECT_EQ(r.header("content-type").rfind("application/fhir+json", 0), 0u);
  Json j(r.body);
  EXPECT_EQ(j.str("resourceType"), "OperationOutcome");
  EXPECT_EQ(j.str("issue.0.severity"), "error");
  ASSERT_GE(j.size("extension"), 1u);
  std::set<std::string> allowed;
  for (size_t i = 0; i < j.size("extension"); ++i) {
    EXPECT_EQ(j.str("extension." + std::to_string(i) + ".url"),
              "https://fhir.sthf.no/helse-og-arbeid/StructureDefinition/allowed-transition");
    allowed.insert(j.str("extension." + std::to_string(i) + ".valueCode"));
  }
  EXPECT_TRUE(allowed.count("under-assessment"));
  EXPECT_TRUE(allowed.count("cancelled"));
  EXPECT_EQ(Json(clinic.get("/clinic/referrals/" + id).body).str("status"), "received");
  EXPECT_EQ(clinic.post("/clinic/referrals/nope/transitions", "{\"to\": \"cancelled\"}", "application/json").status, 404);
}

TEST_F(GatewayServerTest, RevocationWithIfMatchCancelsTheTask) {
  TestClient a = client("referrer-a");
  const std::string id = createReferral();
  Reply sr = a.get("/fhir/ServiceRequest/" + id);
  std::string body = sr.body;
  size_t at = body.find("\"status\":\"active\"");
  ASSERT_NE(at, std::string::npos) << body;
  body.replace(at, 17, "\"status\":\"revoked\"");
  size_t authored = body.find("\"authoredOn\":\"");
  ASSERT_NE(authored, std::string::npos) << body;
  body.replace(authored + 14, 4, "1999");  // an edit that revocation must not store
  std::map<std::string, std::string> stale{{"Content-Type", "application/fhir+json"}, {"If-Match", "W/\"7\""}};
  EXPECT_EQ(a.request("PUT", "/fhir/ServiceRequest/" + id, body, stale).status, 412);
  EXPECT_EQ(client("referrer-b").request("PUT", "/fhir/ServiceRequest/" + id, body,
                                           {{"Content-Type", "application/fhir+json"}}).status,
            404);
  Reply ok = a.request("PUT", "/fhir/ServiceRequest/" + id, body,
                       {{"Content-Type", "application/fhir+json"}, {"If-Match", "W/\"1\""}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.header("etag"), "W/\"2\"");
  Json t(a.get("/fhir/Task?focus=ServiceRequest/" + id).body);
  {
    // Only the status changes: other edits in the revoking body are not stored.
    Json v1(a.get("/fhir/ServiceRequest/" + id + "/_history/1").body);
    Json v2(a.get("/fhir/ServiceRequest/" + id + "/_history/2").body);
    EXPECT_EQ(v2.str("status"), "revoked");
    EXPECT_EQ(v2.str("authoredOn"), v1.str("authoredOn"));
    EXPECT_EQ(v2.str("meta.versionId"), "2");
  }
  EXPECT_EQ(t.str("entry.0.resource.status"), "cancelled");
  EXPECT_EQ(t.str("entry.0.resource.statusReason.coding.0.code"), "revoked-by-referrer");
  Reply again = a.request("PUT", "/fhir/ServiceRequest/" + id, body, {{"Content-Type", "application/fhir+json"}});
  EXPECT_EQ(again.status, 409) << again.body;
}

TEST_F(GatewayServerTest, RevocationByConditionalUpdateOnTheIdentifier) {
  TestClient a = client("referrer-a");
  const std::string ident = uniqueIdentifier("COND");
  std::string body = exampleReferral("referral-rest-create.json", ident);
  ASSERT_EQ(a.post("/fhir/ServiceRequest", body).status, 201);
  body.replace(body.find("\"status\": \"active\""), 18, "\"status\": \"revoked\"");
  const std::string query = "/fhir/ServiceRequest?identifier=https://ehr.example.no/fhir/NamingSystem/referral-id|";
  Reply ok = a.request("PUT", query + ident, body, {{"Content-Type", "application/fhir+json"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Json(ok.body).str("status"), "revoked");
  EXPECT_EQ(a.request("PUT", query + "nope", body, {{"Content-Type", "application/fhir+json"}}).status, 404);
  EXPECT_EQ(client("referrer-b").request("PUT", query + ident, body, {{"Content-Type", "application/fhir+json"}}).status,
            404);
  EXPECT_EQ(a.request("PUT", "/fhir/ServiceRequest?status=active", body, {{"Content-Type", "application/fhir+json"}}).status,
            400);
}

TEST_F(GatewayServerTest, SearchPagesWithNextLinks) {
  TestClient a = client("referrer-a");
  for (int i = 0; i < 3; ++i) createReferral();
  Reply page1 = a.get("/fhir/ServiceRequest?_count=2");
  ASSERT_EQ(page1.status, 200);
  Json p(page1.body);
  EXPECT_EQ(p.size("entry"), 2u);
  std::string next;
  for (size_t i = 0; i < p.size("link"); ++i)
    if (p.str("link." + std::to_string(i) + ".relation") == "next") next = p.str("link." + std::to_string(i) + ".url");
  ASSERT_FALSE(next.empty());
  std::string path = next.substr(next.find("/fhir/"));
  Reply page2 = a.get(path);
  ASSERT_EQ(page2.status, 200) << path;
  Json q(page2.body);
  ASSERT_GE(q.size("entry"), 1u);
  EXPECT_NE(q.str("entry.0.resource.id"), p.str("entry.0.resource.id"));
  EXPECT_NE(q.str("entry.0.resource.id"), p.str("entry.1.resource.id"));
  Reply bad = a.get("/fhir/ServiceRequest?_lastUpdated=yesterday");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(total(a, "/fhir/ServiceRequest?_lastUpdated=gt2000-01-01&_count=0") >= 3, true);
  EXPECT_EQ(total(a, "/fhir/ServiceRequest?_lastUpdated=lt2000-01-01"), 0u);
  // Paging and filter values are checked, not guessed.
  EXPECT_EQ(a.get("/fhir/ServiceRequest?_count=many").status, 400);
  TestClient clinic = client("clinic");
  EXPECT_EQ(clinic.get("/fhir/AuditEvent?_count=x").status, 400);
  EXPECT_EQ(clinic.get("/fhir/AuditEvent?_offset=-1").status, 400);
  EXPECT_EQ(clinic.get("/clinic/referrals?_count=ten").status, 400);
  EXPECT_EQ(clinic.get("/clinic/referrals?status=lost").status, 400);
  EXPECT_EQ(clinic.get("/clinic/referrals?status=received&_count=2").status, 200);
  EXPECT_EQ(Json(clinic.get("/clinic/referrals?_count=2").body).size(""), 2u);
  EXPECT_EQ(clinic.get("/clinic/deliveries?_offset=1e3").status, 400);
}

TEST_F(GatewayServerTest, ValidateOperationStoresNothing) {
  TestClient a = client("referrer-a");
  const size_t before = total(a, "/fhir/ServiceRequest?_count=0");
  Reply ok = a.post("/fhir/ServiceRequest/$validate", exampleReferral("referral-rest-create.json", uniqueIdentifier("V")));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Json(ok.body).str("resourceType"), "OperationOutcome");
  std::string urgent = exampleReferral("referral-rest-create.json", uniqueIdentifier("V"));
  urgent.replace(urgent.find("\"priority\": \"routine\""), 21, "\"priority\": \"urgent\"");
  Reply bad = a.post("/fhir/ServiceRequest/$validate", urgent);
  ASSERT_EQ(bad.status, 200);
  EXPECT_EQ(Json(bad.body).str("issue.0.severity"), "error");
  EXPECT_EQ(total(a, "/fhir/ServiceRequest?_count=0"), before);
}

TEST_F(GatewayServerTest, EveryRequestIsAudited) {
  TestClient clinic = client("clinic");
  const std::string id = createReferral();
  // Audit records commit with the next group commit; poll briefly.
  bool found = false;
  for (int i = 0; i < 50 && !found; ++i) {
    Reply r = clinic.get("/fhir/AuditEvent?_count=200");
    ASSERT_EQ(r.status, 200);
    found = r.body.find("ServiceRequest/" + id) != std::string::npos;
    if (found) expectValidFhir(r.body);
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(found);
  // date: eq (a day), ge/gt/le/lt; the submission was today (Oslo) and is after 2000.
  auto has = [&](const std::string& query) {
    Reply r = clinic.get("/fhir/AuditEvent?_count=500&" + query);
    EXPECT_EQ(r.status, 200) << query << " " << r.body;
    return r.body.find("ServiceRequest/" + id) != std::string::npos;
  };
  const std::string today = osloToday();
  EXPECT_TRUE(has("date=" + today));
  EXPECT_TRUE(has("date=eq" + today));
  EXPECT_TRUE(has("date=ge2000-01-01"));
  EXPECT_TRUE(has("date=gt2000-01-01&date=le2999-12-31"));
  EXPECT_FALSE(has("date=lt2000-01-01"));
  EXPECT_FALSE(has("date=gt" + today));
  EXPECT_FALSE(has("date=2000-01-01"));
  EXPECT_EQ(clinic.get("/fhir/AuditEvent?date=sa2000-01-01").status, 400);
  EXPECT_EQ(clinic.get("/fhir/AuditEvent?date=yesterday").status, 400);
}

}  // namespace
}  // namespace hoa::gateway::testing
