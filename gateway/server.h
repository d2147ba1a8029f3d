#pragma once
// The running gateway: loads the definitions and the clinic's package, opens the store,
// and serves the Api over HTTPS with mutual TLS (Poco HTTPServer on a SecureServerSocket).
//
//   std::string error;
//   auto server = GatewayServer::create(config, error);   // port 0: any free port
//   server->start();  ...  server->port();  ...  server->stop();
//
// `fhir-gateway serve` wraps it in a Poco::Util::ServerApplication (serveCommand).
//
// Request handling at the edge: a request id (X-Request-Id when the client sent a sane
// one), the principal from the verified client certificate, the body read with the size
// limit (413 beyond it), the Api, the response, one log line (never patient data: no
// bodies, no query strings, 11-digit numbers in paths masked), and an audit record.
//
// Thread-safety: start() and stop() from one thread; requests run on the server's pool.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "gateway/api.h"
#include "gateway/config.h"

namespace hoa::gateway {

class GatewayServer {
 public:
  static std::unique_ptr<GatewayServer> create(const GatewayConfig& config, std::string& error);
  ~GatewayServer();

  void start();
  void stop();
  // The bound port (the configured one, or the one the system chose for port 0).
  int port() const;
  const Api& api() const;
  Store& store();
  class Delivery& delivery();
  const GatewayConfig& config() const;

  struct Impl;

 private:
  explicit GatewayServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `fhir-gateway serve [--config FILE] [--port N] [--data-dir DIR] [--certs DIR]`.
int serveCommand(const std::vector<std::string>& args);

// Writes one line to the server log (standard error), whole lines under a lock.
void logLine(std::string_view level, std::string_view text);

}  // namespace hoa::gateway
