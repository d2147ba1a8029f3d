#include "tests/gateway/mock_referrer_support.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <sstream>

#include "fhir/json.h"
#include <thread>

namespace hoa::gateway::testing {

namespace {

class MockHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit MockHandler(MockReferrer& m) : m_(m) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    std::ostringstream body;
    Poco::StreamCopier::copyStream(req.stream(), body);
    MockReferrer::Reply r = m_.handle(req.getMethod(), req.getURI(), body.str(), req.get("Authorization", ""));
    if (r.delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r.delayMs));
    resp.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status));
    resp.setContentType("application/fhir+json");
    if (!r.retryAfter.empty()) resp.set("Retry-After", r.retryAfter);
    if (r.drop) {
      // Promise a body, send part of it, and hang up.
      resp.setContentLength(1000);
      std::ostream& out = resp.send();
      out << "{\"resourceType\":";
      out.flush();
      static_cast<Poco::Net::HTTPServerRequestImpl&>(req).socket().close();
      return;
    }
    resp.setContentLength64(static_cast<Poco::Int64>(r.body.size()));
    resp.send() << r.body;
  }

 private:
  MockReferrer& m_;
};

class MockFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit MockFactory(MockReferrer& m) : m_(m) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new MockHandler(m_);
  }

 private:
  MockReferrer& m_;
};

}  // namespace

MockReferrer::MockReferrer(std::string certsDir, bool requireClientCertificate, int port)
    : certsDir_(std::move(certsDir)), requireClientCertificate_(requireClientCertificate), port_(port) {
  if (!certsDir_.empty()) {
    Poco::Net::Context::Params p;
    p.privateKeyFile = certsDir_ + "/server.key";
    p.certificateFile = certsDir_ + "/server.crt";
    p.caLocation = certsDir_ + "/ca.crt";
    p.verificationMode =
        requireClientCertificate_ ? Poco::Net::Context::VERIFY_STRICT : Poco::Net::Context::VERIFY_NONE;
    p.loadDefaultCAs = false;
    context_ = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
    context_->enableExtendedCertificateVerification(false);
    context_->enableSessionCache(true, "hoa-mock-referrer");
  }
}

MockReferrer::~MockReferrer() { stop(); }

void MockReferrer::start() {
  if (running_) return;
  Poco::Net::SocketAddress addr("127.0.0.1", static_cast<Poco::UInt16>(port_));
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(8);
  params->setKeepAlive(true);
  params->setTimeout(Poco::Timespan(30, 0));
  if (context_) {
    Poco::Net::SecureServerSocket socket(addr, 64, context_);
    port_ = socket.address().port();
    server_ = std::make_unique<Poco::Net::HTTPServer>(new MockFactory(*this), socket, params);
  } else {
    Poco::Net::ServerSocket socket(addr, 64);
    port_ = socket.address().port();
    server_ = std::make_unique<Poco::Net::HTTPServer>(new MockFactory(*this), socket, params);
  }
  server_->start();
  running_ = true;
}

void MockReferrer::stop() {
  if (!server_) return;
  server_->stopAll(true);
  server_.reset();
  running_ = false;
}

std::string MockReferrer::baseUrl() const {
  return std::string(context_ ? "https" : "http") + "://localhost:" + std::to_string(port_) + "/fhir";
}

void MockReferrer::script(std::vector<Behaviour> next) {
  std::lock_guard lock(mutex_);
  for (auto& b : next) script_.push_back(b);
}

void MockReferrer::setDefault(Behaviour b) {
  std::lock_guard lock(mutex_);
  default_ = b;
}

std::map<std::string, MockReferrer::Stored> MockReferrer::stored() const {
  std::lock_guard lock(mutex_);
  return stored_;
}

std::string MockReferrer::dump() const {
  std::lock_guard lock(mutex_);
  std::string out = "{";
  bool first = true;
  for (const auto& [key, s] : stored_) {
    if (!first) out += ",";
    first = false;
    json::appendQuoted(out, key);
    out += ":{\"creates\":" + std::to_string(s.creates) + ",\"updates\":" + std::to_string(s.updates);
    json::Error err;
    json::Document last = json::Document::parse(s.json, err);
    std::string status;
    if (last.root() && last.root()->isObject()) {
      if (const json::Value* bs = last.root()->find("businessStatus"); bs && bs->isObject())
        if (const json::Value* c = bs->find("coding"); c && c->isArray() && c->size)
          status = std::string(c->items[0]->getString("code"));
    }
    out += ",\"status\":";
    json::appendQuoted(out, status);
    out += ",\"lastModified\":[";
    for (size_t i = 0; i < s.history.size(); ++i) {
      json::Document h = json::Document::parse(s.history[i], err);
      if (i) out += ",";
      json::appendQuoted(out, h.root() && h.root()->isObject() ? h.root()->getString("lastModified") : "");
    }
    out += "]}";
  }
  out += "}";
  return out;
}

std::vector<MockReferrer::Request> MockReferrer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

size_t MockReferrer::requestCount() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

MockReferrer::Reply MockReferrer::handle(const std::string& method, const std::string& uri, const std::string& body,
                                         const std::string& auth) {
  if (method == "GET" && uri == "/_dump") {
    Reply d;
    d.body = dump();
    return d;
  }
  std::lock_guard lock(mutex_);
  requests_.push_back({method, uri, body, auth});
  Behaviour b = default_;
  if (failEvery_ > 0 && ++seen_ % failEvery_ == 0) b = {Mode::Status, 503};
  if (!script_.empty()) {
    b = script_.front();
    script_.pop_front();
  }
  Reply r;
  switch (b.mode) {
    case Mode::Status:
      r.status = b.status;
      r.retryAfter = b.retryAfter;
      r.body = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]})";
      return r;
    case Mode::Drop:
      r.drop = true;
      // The update happens before the connection breaks: the resend must be absorbed.
      break;
    case Mode::Slow: r.delayMs = b.delayMs; break;
    case Mode::Normal: break;
  }
  // Conditional update: PUT /fhir/{type}?identifier=system|value.
  Poco::URI u(uri);
  std::string path = u.getPath();
  std::string type = path.substr(path.rfind('/') + 1);
  std::string identifier;
  for (const auto& [k, v] : u.getQueryParameters())
    if (k == "identifier") identifier = v;
  json::Error err;
  json::Document doc = json::Document::parse(body, err);
  const bool bodyOk = doc.root() && doc.root()->isObject() && doc.root()->getString("resourceType") == type &&
                      !doc.root()->find("id");  // a conditional update carries no server id
  if (method != "PUT" || identifier.empty() || (type != "Task" && type != "QuestionnaireResponse") || !bodyOk) {
    r.status = 400;
    r.drop = false;
    r.body = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]})";
    return r;
  }
  std::string key = type + "|" + identifier;
  Stored& s = stored_[key];
  const bool created = s.creates == 0;
  if (created) ++s.creates;
  else ++s.updates;
  s.type = type;
  s.identifier = identifier;
  s.json = body;
  s.history.push_back(body);
  if (!r.drop) {
    r.status = created ? 201 : 200;
    r.body = body;
  }
  return r;
}

}  // namespace hoa::gateway::testing
