#pragma once
// The gateway's configuration: every key with its default in code (docs/configuration.md
// lists them). A JSON file (`serve --config FILE`) overrides the defaults; command-line
// options override the file.
//
// Thread-safety: a loaded GatewayConfig is immutable and shared read-only.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace Poco::Util {
class AbstractConfiguration;
}

namespace hoa::gateway {

// Who a client certificate is: matched by the certificate's subject common name (and,
// when given, its SHA-256 fingerprint too), after the TLS layer has verified it against
// the trusted CA.
struct ClientConfig {
  enum class Kind { Referrer, Clinic };
  std::string name;         // for logs and audit
  Kind kind = Kind::Referrer;
  std::string commonName;   // subject CN of the client certificate
  std::string sha256;       // optional: hex fingerprint (colons and case ignored)
  std::vector<std::string> herIds;  // referrers: the practices it may send for
};

// A referrer practice's own FHIR endpoint: where its Tasks and questionnaire responses
// are pushed (issue 7). Practices without one are pull-only.
struct EndpointConfig {
  std::string herId;            // the practice
  std::string baseUrl;          // its FHIR base, https://… (http:// only for tests)
  std::string caFile;           // CA that signs its server certificate ("" = system CAs)
  std::string certificateFile;  // the gateway's client certificate for it (optional)
  std::string privateKeyFile;
  std::string bearerToken;      // optional Authorization: Bearer …
};

struct DeliveryConfig {
  bool enabled = true;
  int maxAttempts = 20;          // then the event is dead-lettered (state failed)
  int maxAgeHours = 72;          // … or when it is older than this
  int initialBackoffMs = 1000;   // first retry delay; doubles per attempt, with jitter
  int maxBackoffMs = 300000;
  int timeoutSeconds = 10;       // connect, send and receive
  int idlePollMs = 5000;         // a worker rechecks at least this often
  std::vector<std::string> pushQuestionnaires = {"intake", "end-of-treatment"};
  std::vector<EndpointConfig> endpoints;

  const EndpointConfig* endpointFor(std::string_view herId) const {
    for (const EndpointConfig& e : endpoints)
      if (e.herId == herId) return &e;
    return nullptr;
  }
};

struct GatewayConfig {
  // server
  std::string host = "127.0.0.1";
  int port = 8443;
  std::string publicBase;          // base URL of the FHIR API; default https://localhost:<port>/fhir
  int maxThreads = 64;             // request threads (each keep-alive connection holds one)
  int maxQueued = 256;             // accepted connections waiting for a thread
  int keepAliveSeconds = 15;
  int timeoutSeconds = 30;         // socket receive/send timeout
  int64_t maxBodyBytes = 4 << 20;  // larger requests: 413
  // paths
  std::string dataDir = "./var";
  std::string certsDir;            // default <dataDir>/certs
  std::string fhirPackageDir;      // default ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package
  std::string mappingsDir;         // default: the clinic's package in the source tree
  // tls
  std::string caFile, certificateFile, privateKeyFile;  // defaults in certsDir
  std::string cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES";
  bool requireClientCertificate = true;
  // clinic
  std::string clinicHerId = "900100";
  std::string canonicalBase = "https://fhir.sthf.no/helse-og-arbeid";
  bool allowSyntheticIds = false;
  // store
  std::string databaseFile;        // default <dataDir>/gateway.db
  int groupCommitMaxBatch = 256;
  bool synchronousFull = true;
  int writerCacheMiB = 64;
  int readerCacheMiB = 2;
  int mmapMiB = 256;
  int checkpointPages = 8192;      // background WAL checkpoint threshold (0: SQLite's automatic)
  int pageSize = 4096;             // page size of a new database file
  bool pipelinedSync = true;       // durable commits flushed by a sync thread (see store.h)
  // search
  int defaultCount = 50;
  int maxCount = 500;
  // delivery to referrers' endpoints (the outbox)
  DeliveryConfig delivery;
  // clients (defaults: the development certificates of certs/make-dev-certs.sh)
  std::vector<ClientConfig> clients;

  // Fills the derived defaults (paths under dataDir/certsDir, publicBase).
  void finish();
};

// The defaults (development clients included).
GatewayConfig defaultConfig();

// Applies the keys present in `source` over `config`. Fails (false, `error` naming the
// key) on a value of the wrong type or out of range, and on unknown top-level sections.
bool applyConfiguration(const Poco::Util::AbstractConfiguration& source, GatewayConfig& config, std::string& error);

// Reads a JSON configuration file over the defaults.
bool loadConfigFile(const std::string& path, GatewayConfig& config, std::string& error);

}  // namespace hoa::gateway
