#include "gateway/server.h"

#include <Poco/Crypto/X509Certificate.h>
#include <Poco/DigestEngine.h>
#include <Poco/Net/AcceptCertificateHandler.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/RejectCertificateHandler.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/X509Certificate.h>
#include <Poco/ThreadPool.h>
#include <Poco/Util/ServerApplication.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>

#include "fhir/validator.h"
#include "gateway/delivery.h"
#include "gateway/timeutil.h"
#include "mappings/clinic_package.h"

namespace hoa::gateway {

namespace {

std::mutex gLogMutex;

std::string lowerHex(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == ':') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// 11-digit runs (national identity numbers) in a path become asterisks.
std::string maskedPath(const std::string& path) {
  std::string out = path;
  size_t i = 0;
  while (i < out.size()) {
    if (!std::isdigit(static_cast<unsigned char>(out[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && std::isdigit(static_cast<unsigned char>(out[j]))) ++j;
    if (j - i == 11)
      for (size_t k = i; k < j; ++k) out[k] = '*';
    i = j;
  }
  return out;
}

bool saneRequestId(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string outcomeCode(int status) {
  if (status < 400) return "0";
  if (status < 500) return "4";
  return "8";
}

}  // namespace

void logLine(std::string_view level, std::string_view text) {
  std::string line = nowInstant();
  line += ' ';
  line += level;
  line += ' ';
  line += text;
  line += '\n';
  std::lock_guard lock(gLogMutex);
  std::cerr << line << std::flush;
}

namespace {
class Connection;
}  // namespace

struct GatewayServer::Impl {
  GatewayConfig config;
  std::unique_ptr<fhir::Registry> registry;
  std::unique_ptr<fhir::Validator> validator;
  std::unique_ptr<clinic::ReferralIntake> intake;
  std::shared_ptr<const clinic::TaskMapping> tasks;
  std::unique_ptr<const clinic::QuestionnaireCatalogue> questionnaires;
  std::unique_ptr<Store> store;
  std::unique_ptr<Delivery> delivery;
  std::unique_ptr<Api> api;
  std::vector<Principal> principals;
  std::vector<ClientConfig> clients;
  Poco::Net::Context::Ptr context;
  std::unique_ptr<Poco::Net::SecureServerSocket> socket;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::TCPServer> server;
  Poco::Net::HTTPServerParams::Ptr params;
  int boundPort = 0;

  // The open connections, for a graceful stop (see GatewayServer::stop).
  std::mutex connectionsMutex;
  std::set<Connection*> connections;
  bool stopping = false;

  const Principal* principalFor(const Poco::Net::X509Certificate& cert) const;
  void handle(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp);
};

const Principal* GatewayServer::Impl::principalFor(const Poco::Net::X509Certificate& cert) const {
  const std::string cn = cert.commonName();
  std::string fingerprint;
  for (size_t i = 0; i < clients.size(); ++i) {
    if (clients[i].commonName != cn) continue;
    if (!clients[i].sha256.empty()) {
      if (fingerprint.empty()) fingerprint = Poco::DigestEngine::digestToHex(cert.fingerprint("SHA256"));
      if (lowerHex(clients[i].sha256) != fingerprint) continue;
    }
    return &principals[i];
  }
  return nullptr;
}

namespace {

// One HTTP/1.1 connection: its requests one after another (keep-alive), each handed to
// GatewayServer::Impl::handle. Our own loop instead of Poco's HTTPServerConnection, so
// that a request that is not valid HTTP gets an OperationOutcome too (Poco answers it
// with an empty 400), and so that a stop can finish the request in progress.
class Connection : public Poco::Net::TCPServerConnection {
 public:
  Connection(const Poco::Net::StreamSocket& socket, GatewayServer::Impl& impl)
      : Poco::Net::TCPServerConnection(socket), impl_(impl) {}

  void run() override {
    {
      std::lock_guard lock(impl_.connectionsMutex);
      if (impl_.stopping) return;
      impl_.connections.insert(this);
    }
    try {
      serve();
    } catch (const Poco::Exception& e) {
      logLine("WARN", "connection: " + e.displayText());
    } catch (const std::exception& e) {
      logLine("ERROR", std::string("connection: ") + e.what());
    }
    std::lock_guard lock(impl_.connectionsMutex);
    impl_.connections.erase(this);
  }

  // Called by a stop: waits for the request in progress (if any) to be answered, then
  // closes the connection.
  void finish() {
    std::lock_guard lock(requestMutex_);
    stopped_ = true;
    try {
      socket().shutdown();
    } catch (const Poco::Exception&) {
    }
  }

 private:
  void serve() {
    Poco::Net::HTTPServerParams::Ptr params = impl_.params;
    Poco::Net::HTTPServerSession session(socket(), params);
    while (session.hasMoreRequests()) {
      std::lock_guard lock(requestMutex_);
      if (stopped_) return;
      try {
        Poco::Net::HTTPServerResponseImpl response(session);
        Poco::Net::HTTPServerRequestImpl request(response, session, params.get());
        response.setVersion(request.getVersion());
        response.setKeepAlive(params->getKeepAlive() && request.getKeepAlive() && session.canKeepAlive());
        response.set("Server", params->getServerName());
        if (request.getExpectContinue()) response.sendContinue();
        impl_.handle(request, response);
        session.setKeepAlive(params->getKeepAlive() && response.getKeepAlive() && session.canKeepAlive());
      } catch (const Poco::Net::NoMessageException&) {
        return;  // the client closed the connection between requests
      } catch (const Poco::Net::MessageException& e) {
        badRequest(session, e.displayText());
        return;
      }
    }
  }

  // A request that is not valid HTTP (request line, header syntax or size): 400 with an
  // OperationOutcome, then the connection is closed.
  void badRequest(Poco::Net::HTTPServerSession& session, const std::string& why) {
    HttpResponse r = errorResponse(*impl_.registry, 400, "structure",
                                   {"Forespørselen er ikke gyldig HTTP/1.1", "The request is not valid HTTP/1.1"},
                                   clinic::Lang::Nb, fhir::Format::Json);
    logLine("WARN", "request not valid HTTP: " + why);
    try {
      Poco::Net::HTTPServerResponseImpl response(session);
      response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
      response.setStatus(Poco::Net::HTTPResponse::HTTP_BAD_REQUEST);
      response.setKeepAlive(false);
      response.setContentType(r.contentType);
      response.setContentLength64(static_cast<Poco::Int64>(r.body.size()));
      response.send().write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
      session.setKeepAlive(false);
    } catch (const Poco::Exception&) {
      // The client is gone.
    }
  }

  GatewayServer::Impl& impl_;
  std::mutex requestMutex_;
  bool stopped_ = false;
};

class ConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  explicit ConnectionFactory(GatewayServer::Impl& impl) : impl_(impl) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new Connection(socket, impl_);
  }

 private:
  GatewayServer::Impl& impl_;
};

}  // namespace

void GatewayServer::Impl::handle(Poco::Net::HTTPServerRequest& preq, Poco::Net::HTTPServerResponse& presp) {
  const auto started = std::chrono::steady_clock::now();
  HttpRequest req;
  req.method = preq.getMethod();
  const std::string& uri = preq.getURI();
  size_t q = uri.find('?');
  req.path = percentDecode(uri.substr(0, q), false);
  if (q != std::string::npos) req.query = parseQuery(std::string_view(uri).substr(q + 1));
  for (const auto& [k, v] : preq) req.headers[k] = v;
  std::string rid = preq.get("X-Request-Id", "");
  req.requestId = saneRequestId(rid) ? rid : newId();

  // The principal: the verified client certificate, mapped by the configuration.
  try {
    auto& impl = static_cast<Poco::Net::HTTPServerRequestImpl&>(preq);
    Poco::Net::SecureStreamSocket ss(impl.socket());
    if (ss.havePeerCertificate()) req.principal = principalFor(ss.peerCertificate());
  } catch (const Poco::Exception&) {
    req.principal = nullptr;
  }

  HttpResponse res;
  bool tooLarge = false;
  if (preq.hasContentLength() && preq.getContentLength64() > config.maxBodyBytes) {
    tooLarge = true;
  } else if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    std::istream& in = preq.stream();
    const size_t limit = static_cast<size_t>(config.maxBodyBytes);
    char buf[16384];
    while (in) {
      in.read(buf, sizeof buf);
      std::streamsize n = in.gcount();
      if (n <= 0) break;
      if (req.body.size() + static_cast<size_t>(n) > limit) {
        tooLarge = true;
        break;
      }
      req.body.append(buf, static_cast<size_t>(n));
    }
  }
  if (tooLarge) {
    // Read (and drop) what the client still sends, up to a bound, so it can read the
    // 413; beyond the bound the connection is simply closed.
    const int64_t drainLimit = 4 * config.maxBodyBytes;
    if (!preq.hasContentLength() || preq.getContentLength64() <= drainLimit) {
      std::istream& in = preq.stream();
      char buf[16384];
      int64_t drained = 0;
      while (in && drained < drainLimit) {
        in.read(buf, sizeof buf);
        if (in.gcount() <= 0) break;
        drained += in.gcount();
      }
    }
    clinic::Lang lang = requestLang(req);
    res = errorResponse(*registry, 413, "too-costly",
                        {"Forespørselen er større enn grensen på " + std::to_string(config.maxBodyBytes) + " byte",
                         "The request is larger than the limit of " + std::to_string(config.maxBodyBytes) + " bytes"},
                        lang, fhir::Format::Json);
    res.interaction = "limit";
    presp.setKeepAlive(false);
  } else {
    res = api->handle(req);
  }

  presp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(res.status));
  presp.set("X-Request-Id", req.requestId);
  for (const auto& [k, v] : res.headers) presp.set(k, v);
  if (res.status == 304 || res.status == 204 || res.body.empty()) {
    presp.setContentLength(0);
    if (!res.contentType.empty() && res.status != 304) presp.setContentType(res.contentType);
    presp.send();
  } else {
    presp.setContentType(res.contentType);
    presp.setContentLength64(static_cast<Poco::Int64>(res.body.size()));
    std::ostream& out = presp.send();
    out.write(res.body.data(), static_cast<std::streamsize>(res.body.size()));
  }

  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  std::ostringstream line;
  line.setf(std::ios::fixed);
  line.precision(2);
  line << "request id=" << req.requestId << " client=" << (req.principal ? req.principal->name : "-")
       << " method=" << req.method << " path=" << maskedPath(req.path) << " status=" << res.status << " ms=" << ms;
  if (!res.error.empty()) line << " error=\"" << res.error << "\"";
  logLine(res.status >= 500 ? "ERROR" : "INFO", line.str());

  AuditRow a;
  a.recorded = nowInstant();
  a.requestId = req.requestId;
  a.principal = req.principal ? req.principal->name : "";
  a.principalKind = req.principal ? std::string(req.principal->kindName()) : "";
  a.action = res.action;
  a.interaction = res.interaction;
  a.method = req.method;
  a.path = maskedPath(req.path);
  a.status = res.status;
  a.outcome = outcomeCode(res.status);
  a.entity = res.entity;
  if (res.interaction != "health") store->writeAsync([a](WriteTxn& t) { t.addAudit(a); });
}

GatewayServer::GatewayServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GatewayServer::~GatewayServer() { stop(); }

std::unique_ptr<GatewayServer> GatewayServer::create(const GatewayConfig& cfg, std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->config = cfg;
  GatewayConfig& c = impl->config;
  c.finish();
  namespace fs = std::filesystem;
  for (const auto& [what, path] : {std::pair<const char*, std::string>{"CA certificate", c.caFile},
                                   {"server certificate", c.certificateFile},
                                   {"server private key", c.privateKeyFile}})
    if (!fs::exists(path)) {
      error = std::string("the ") + what + " " + path + " does not exist (make development certificates with certs/make-dev-certs.sh " +
              c.certsDir + ")";
      return nullptr;
    }

  // Definitions: the core package and the clinic's package.
  impl->registry = std::make_unique<fhir::Registry>();
  fs::path mappings = c.mappingsDir.empty() ? clinic::defaultMappingsDir() : fs::path(c.mappingsDir);
  if (!c.fhirPackageDir.empty()) setenv("HOA_FHIR_PACKAGE_DIR", c.fhirPackageDir.c_str(), 1);
  if (!clinic::loadClinicRegistry(*impl->registry, mappings, error)) return nullptr;
  impl->validator = std::make_unique<fhir::Validator>(*impl->registry);
  clinic::IntakeConfig ic;
  ic.clinicHerId = c.clinicHerId;
  ic.allowSyntheticIds = c.allowSyntheticIds;
  ic.canonicalBase = c.canonicalBase;
  impl->intake = clinic::ReferralIntake::create(*impl->registry, *impl->validator,
                                                (mappings / "referral.map.json").string(), ic, error);
  if (!impl->intake) return nullptr;
  impl->tasks = clinic::TaskMapping::loadFile(*impl->registry, (mappings / "task.map.json").string(), error);
  if (!impl->tasks) return nullptr;
  clinic::QuestionnaireCatalogue::Options qo;
  qo.canonicalBase = c.canonicalBase;
  impl->questionnaires = clinic::QuestionnaireCatalogue::load(*impl->registry, qo, error);
  if (!impl->questionnaires) return nullptr;

  StoreConfig sc;
  sc.path = c.databaseFile;
  sc.maxBatch = static_cast<size_t>(c.groupCommitMaxBatch);
  sc.synchronousFull = c.synchronousFull;
  sc.writerCacheMiB = c.writerCacheMiB;
  sc.readerCacheMiB = c.readerCacheMiB;
  sc.mmapMiB = c.mmapMiB;
  sc.checkpointPages = c.checkpointPages;
  sc.pageSize = c.pageSize;
  sc.pipelinedSync = c.pipelinedSync;
  sc.readers = static_cast<size_t>(c.maxThreads);  // one pooled read connection per request thread
  impl->store = Store::open(sc, error);
  if (!impl->store) return nullptr;

  Services s;
  s.config = &impl->config;
  s.registry = impl->registry.get();
  s.validator = impl->validator.get();
  s.intake = impl->intake.get();
  s.tasks = impl->tasks.get();
  s.questionnaires = impl->questionnaires.get();
  s.store = impl->store.get();
  impl->delivery = std::make_unique<Delivery>(impl->config, *impl->registry, *impl->store);
  s.delivery = impl->delivery.get();
  impl->api = std::make_unique<Api>(s);

  impl->clients = c.clients;
  for (const ClientConfig& cl : c.clients) impl->principals.push_back({cl.name, cl.kind, cl.herIds});

  try {
    Poco::Net::initializeSSL();
    Poco::Net::Context::Params p;
    p.privateKeyFile = c.privateKeyFile;
    p.certificateFile = c.certificateFile;
    p.caLocation = c.caFile;
    p.verificationMode = c.requireClientCertificate ? Poco::Net::Context::VERIFY_STRICT : Poco::Net::Context::VERIFY_RELAXED;
    p.verificationDepth = 4;
    p.loadDefaultCAs = false;
    p.cipherList = c.cipherList;
    impl->context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
    impl->context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    impl->context->enableSessionCache(true, "hoa-fhir-gateway");
    // OpenSSL verifies the client's chain against the CA (VERIFY_STRICT). Poco's
    // "extended" check would also match the client certificate's name against the
    // client's address, which is meaningless for client certificates.
    impl->context->enableExtendedCertificateVerification(false);
    Poco::SharedPtr<Poco::Net::InvalidCertificateHandler> reject = new Poco::Net::RejectCertificateHandler(true);
    Poco::Net::SSLManager::instance().initializeServer(nullptr, reject, impl->context);
    impl->socket = std::make_unique<Poco::Net::SecureServerSocket>(
        Poco::Net::SocketAddress(c.host, static_cast<Poco::UInt16>(c.port)), 128, impl->context);
    impl->boundPort = impl->socket->address().port();
    // Port 0 (any free port): the default public base names the port actually bound.
    if (cfg.publicBase.empty() && c.port == 0)
      c.publicBase = "https://localhost:" + std::to_string(impl->boundPort) + "/fhir";
  } catch (const Poco::Exception& e) {
    error = "TLS server set-up failed: " + e.displayText();
    return nullptr;
  }
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(c.maxThreads);
  params->setMaxQueued(c.maxQueued);
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(c.keepAliveSeconds, 0));
  params->setTimeout(Poco::Timespan(c.timeoutSeconds, 0));
  params->setMaxKeepAliveRequests(0);
  params->setServerName("hoa-fhir-gateway");
  params->setSoftwareVersion("hoa-fhir-gateway/0.1.0");
  impl->pool = std::make_unique<Poco::ThreadPool>(2, c.maxThreads + 4, 60);
  impl->params = params;
  Impl& ref = *impl;
  // Shared: the TCPServer and the connections (through impl->params) hold the same
  // reference-counted parameters.
  impl->server = std::make_unique<Poco::Net::TCPServer>(new ConnectionFactory(ref), *impl->pool, *impl->socket,
                                                        Poco::Net::TCPServerParams::Ptr(params, true));
  return std::unique_ptr<GatewayServer>(new GatewayServer(std::move(impl)));
}

void GatewayServer::start() {
  // Outbox recovery completes before any delivery worker runs (Delivery::start).
  impl_->delivery->start();
  impl_->server->start();
}

void GatewayServer::stop() {
  if (impl_ && impl_->server) {
    // Graceful: no new connections; a request in progress is finished and answered,
    // idle keep-alive connections are closed; then every connection thread has ended.
    impl_->server->stop();
    {
      std::lock_guard lock(impl_->connectionsMutex);
      impl_->stopping = true;
      // A connection takes connectionsMutex only outside its request lock, so waiting
      // here for a request to finish cannot deadlock.
      for (Connection* c : impl_->connections) c->finish();
    }
    impl_->pool->joinAll();
    impl_->server.reset();
  }
  if (impl_ && impl_->delivery) impl_->delivery->stop();
}

Delivery& GatewayServer::delivery() { return *impl_->delivery; }

int GatewayServer::port() const { return impl_->boundPort; }
const Api& GatewayServer::api() const { return *impl_->api; }
Store& GatewayServer::store() { return *impl_->store; }
const GatewayConfig& GatewayServer::config() const { return impl_->config; }

// --- fhir-gateway serve --------------------------------------------------------------------

namespace {

class ServeApp : public Poco::Util::ServerApplication {
 public:
  explicit ServeApp(GatewayConfig config) : config_(std::move(config)) {}

 protected:
  int main(const std::vector<std::string>&) override {
    std::string error;
    logLine("INFO", "starting: loading definitions and opening the store");
    auto server = GatewayServer::create(config_, error);
    if (!server) {
      logLine("ERROR", "cannot start: " + error);
      return EXIT_CONFIG;
    }
    server->start();
    const GatewayConfig& c = server->config();
    logLine("INFO", "listening on https://" + c.host + ":" + std::to_string(server->port()) + " (FHIR base " +
                        c.publicBase + ", data " + c.databaseFile + ", mutual TLS " +
                        (c.requireClientCertificate ? "required" : "optional") + ")");
    waitForTerminationRequest();
    logLine("INFO", "stopping: finishing requests in progress");
    server->stop();
    server.reset();
    logLine("INFO", "stopped");
    return EXIT_OK;
  }

 private:
  GatewayConfig config_;
};

}  // namespace

int serveCommand(const std::vector<std::string>& args) {
  GatewayConfig config = defaultConfig();
  std::string configFile, port, dataDir, certsDir;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) {
        std::cerr << "fhir-gateway serve: " << a << " needs a value\n";
        return false;
      }
      out = args[++i];
      return true;
    };
    if (a == "--config") {
      if (!value(configFile)) return 2;
    } else if (a == "--port") {
      if (!value(port)) return 2;
    } else if (a == "--data-dir") {
      if (!value(dataDir)) return 2;
    } else if (a == "--certs") {
      if (!value(certsDir)) return 2;
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: fhir-gateway serve [--config FILE] [--port N] [--data-dir DIR] [--certs DIR]\n"
                   "Runs the gateway (HTTPS with client certificates) until SIGINT or SIGTERM.\n"
                   "Defaults: port 8443, data in ./var, certificates in ./var/certs (docs/configuration.md).\n";
      return 0;
    } else {
      std::cerr << "fhir-gateway serve: unexpected argument '" << a << "'\n";
      return 2;
    }
  }
  std::string error;
  if (!configFile.empty() && !loadConfigFile(configFile, config, error)) {
    std::cerr << "fhir-gateway serve: " << error << "\n";
    return 2;
  }
  if (!port.empty()) {
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 0 || p > 65535) {
      std::cerr << "fhir-gateway serve: --port must be 0..65535\n";
      return 2;
    }
    config.port = static_cast<int>(p);
  }
  if (!dataDir.empty()) config.dataDir = dataDir;
  if (!certsDir.empty()) config.certsDir = certsDir;
  // Derived paths follow the overrides unless the file set them explicitly.
  // Paths derived from the folders follow the command line over the file.
  if (!dataDir.empty()) config.databaseFile.clear();
  if (!certsDir.empty()) {
    config.caFile.clear();
    config.certificateFile.clear();
    config.privateKeyFile.clear();
  }
  ServeApp app(config);
  std::vector<std::string> appArgs{"fhir-gateway"};
  return app.run(appArgs);
}

}  // namespace hoa::gateway
