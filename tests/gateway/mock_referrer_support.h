#pragma once
// A mock referrer FHIR server (the practice's own endpoint) for delivery tests: it takes
// conditional updates `PUT [base]/{Task|QuestionnaireResponse}?identifier=system|value`,
// keeps one resource per identifier (create on the first, update after), records every
// request, and can misbehave on command: be down, be slow, answer an error status, or
// drop the connection in the middle of its response.
//
// Thread-safety: all public functions may be called from any thread.
#include <Poco/Net/Context.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace Poco::Net {
class HTTPServer;
class ServerSocket;
}  // namespace Poco::Net

namespace hoa::gateway::testing {

class MockReferrer {
 public:
  enum class Mode { Normal, Slow, Status, Drop };
  struct Behaviour {
    Mode mode = Mode::Normal;
    int status = 200;          // Mode::Status
    std::string retryAfter;    // Mode::Status: the Retry-After header, if any
    int delayMs = 0;           // Mode::Slow: before answering normally
  };
  struct Stored {
    std::string type, identifier, json;
    int creates = 0, updates = 0;
    std::vector<std::string> history;  // every accepted body, in arrival order
  };
  struct Request {
    std::string method, uri, body, authorization;
  };

  // https when `certsDir` is given (server.crt/.key, clients verified against ca.crt when
  // `requireClientCertificate`), else plain http. Port 0: any free port (kept on restart).
  MockReferrer(std::string certsDir, bool requireClientCertificate, int port = 0);
  ~MockReferrer();

  void start();
  void stop();  // down: connections refused until start()
  bool running() const { return running_; }
  int port() const { return port_; }
  std::string baseUrl() const;

  // Behaviours for the next requests, in order; then Normal (or `setDefault`).
  void script(std::vector<Behaviour> next);
  void setDefault(Behaviour b);
  // Every k-th update request answers 503 (0: never).
  void setFailEvery(int k) { failEvery_ = k; }
  // What it holds, as JSON (the answer to GET /_dump).
  std::string dump() const;

  std::map<std::string, Stored> stored() const;  // by "Type|system|value"
  std::vector<Request> requests() const;
  size_t requestCount() const;

  // Internal: handles one request (called by the server's handler).
  struct Reply {
    int status = 200;
    std::string body, retryAfter;
    bool drop = false;
    int delayMs = 0;
  };
  Reply handle(const std::string& method, const std::string& uri, const std::string& body, const std::string& auth);

 private:
  std::string certsDir_;
  bool requireClientCertificate_;
  std::atomic<bool> running_{false};
  std::atomic<int> failEvery_{0};
  int seen_ = 0;
  int port_ = 0;
  Poco::Net::Context::Ptr context_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;

  mutable std::mutex mutex_;
  std::deque<Behaviour> script_;
  Behaviour default_;
  std::map<std::string, Stored> stored_;
  std::vector<Request> requests_;
};

}  // namespace hoa::gateway::testing
