#include "tests/gateway/server_support.h"

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mappings/clinic_package.h"
#include "tests/test_env.h"

namespace hoa::gateway::testing {

namespace fs = std::filesystem;

TestClient::TestClient(int port, const std::string& certsDir, const std::string& name) : port_(port) {
  context_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, certsDir + "/" + name + ".key",
                                    certsDir + "/" + name + ".crt", certsDir + "/ca.crt",
                                    Poco::Net::Context::VERIFY_STRICT);
}

Reply TestClient::request(const std::string& method, const std::string& path, const std::string& body,
                          const std::map<std::string, std::string>& headers) const {
  Poco::Net::HTTPSClientSession session("localhost", static_cast<Poco::UInt16>(port_), context_);
  session.setTimeout(Poco::Timespan(60, 0));
  Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST" || method == "PUT") req.setContentLength64(static_cast<Poco::Int64>(body.size()));
  std::ostream& out = session.sendRequest(req);
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
  Poco::Net::HTTPResponse resp;
  std::istream& in = session.receiveResponse(resp);
  Reply r;
  r.status = resp.getStatus();
  std::ostringstream ss;
  Poco::StreamCopier::copyStream(in, ss);
  r.body = ss.str();
  for (const auto& [k, v] : resp) {
    std::string lk = k;
    for (char& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[lk] = v;
  }
  return r;
}

std::string TestClient::raw(const std::string& bytes) const {
  Poco::Net::SecureStreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port_)), "localhost",
                                       context_);
  socket.setReceiveTimeout(Poco::Timespan(10, 0));
  socket.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
  std::string out;
  char buf[4096];
  try {
    for (;;) {
      int n = socket.receiveBytes(buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  } catch (const Poco::Exception&) {
    // timeout or reset: return what came
  }
  return out;
}

TestServer* TestServer::instance(std::string& why) {
  static std::unique_ptr<TestServer> server;
  static std::string failure;
  static bool tried = false;
  if (tried) {
    why = failure;
    return server.get();
  }
  tried = true;
  if (hoa::testing::fhirPackageDir().empty()) {
    failure = "the FHIR core package is not installed (run ./dev setup)";
    why = failure;
    return nullptr;
  }
  auto s = std::make_unique<TestServer>();
  char tmpl[] = "/tmp/hoa-server-test.XXXXXX";
  if (!mkdtemp(tmpl)) {
    failure = "cannot make a temp dir";
    why = failure;
    return nullptr;
  }
  s->root_ = tmpl;
  s->certsDir_ = s->root_ + "/certs";
  s->dataDir_ = s->root_ + "/data";
  std::string script = std::string(HOA_SOURCE_DIR) + "/certs/make-dev-certs.sh";
  std::string cmd = "bash '" + script + "' '" + s->certsDir_ + "' > '" + s->root_ + "/certs.log' 2>&1";
  // HOA_TEST_CERTS_DIR: use certificates made beforehand (same names as the script's).
  if (const char* given = std::getenv("HOA_TEST_CERTS_DIR"); given && *given) {
    s->certsDir_ = given;
  } else if (std::system(cmd.c_str()) != 0) {
    failure = "certs/make-dev-certs.sh failed (see " + s->root_ + "/certs.log)";
    why = failure;
    return nullptr;
  }
  GatewayConfig c = defaultConfig();
  c.port = 0;
  c.host = "127.0.0.1";
  c.dataDir = s->dataDir_;
  c.certsDir = s->certsDir_;
  c.allowSyntheticIds = true;
  c.maxBodyBytes = 1 << 20;
  c.defaultCount = 20;
  c.clients.push_back({"unknown-client", ClientConfig::Kind::Referrer, "not-the-unknown-client", "", {"999999"}});
  std::string error;
  s->server_ = GatewayServer::create(c, error);
  if (!s->server_) {
    failure = "the gateway did not start: " + error;
    why = failure;
    return nullptr;
  }
  s->server_->start();
  server = std::move(s);
  std::atexit([] {
    if (server) {
      std::string root = server->root_;
      server->server_->stop();
      server.reset();
      std::error_code ec;
      fs::remove_all(root, ec);
    }
  });
  return server.get();
}

std::string exampleFile(const std::string& file) {
  fs::path p = clinic::defaultMappingsDir() / "package" / "examples" / file;
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string exampleReferral(const std::string& file, const std::string& identifier) {
  std::string text = exampleFile(file);
  const std::string from = "REF-2026-000123";
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + identifier.size()))
    text.replace(at, from.size(), identifier);
  return text;
}

std::string uniqueIdentifier(const std::string& prefix) {
  static std::atomic<int> n{0};
  static const long stamp = static_cast<long>(std::time(nullptr));
  return prefix + "-" + std::to_string(stamp) + "-" + std::to_string(++n);
}

}  // namespace hoa::gateway::testing
