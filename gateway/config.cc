#include "gateway/config.h"

#include <Poco/AutoPtr.h>
#include <Poco/Exception.h>
#include <Poco/Util/AbstractConfiguration.h>
#include <Poco/Util/JSONConfiguration.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace hoa::gateway {

void GatewayConfig::finish() {
  namespace fs = std::filesystem;
  if (certsDir.empty()) certsDir = (fs::path(dataDir) / "certs").string();
  if (caFile.empty()) caFile = (fs::path(certsDir) / "ca.crt").string();
  if (certificateFile.empty()) certificateFile = (fs::path(certsDir) / "server.crt").string();
  if (privateKeyFile.empty()) privateKeyFile = (fs::path(certsDir) / "server.key").string();
  if (databaseFile.empty()) databaseFile = (fs::path(dataDir) / "gateway.db").string();
  if (publicBase.empty()) publicBase = "https://localhost:" + std::to_string(port) + "/fhir";
  while (!publicBase.empty() && publicBase.back() == '/') publicBase.pop_back();
}

GatewayConfig defaultConfig() {
  GatewayConfig c;
  c.clients = {
      {"referrer-a", ClientConfig::Kind::Referrer, "referrer-a", "", {"900001"}},
      {"referrer-b", ClientConfig::Kind::Referrer, "referrer-b", "", {"900002"}},
      {"clinic", ClientConfig::Kind::Clinic, "clinic", "", {}},
  };
  return c;
}

namespace {

struct Reader {
  const Poco::Util::AbstractConfiguration& src;
  std::string& error;

  bool str(const std::string& key, std::string& out) {
    if (!src.has(key)) return true;
    out = src.getString(key);
    return true;
  }
  bool integer(const std::string& key, int& out, int min, int max) {
    int64_t v = out;
    if (!integer64(key, v, min, max)) return false;
    out = static_cast<int>(v);
    return true;
  }
  bool integer64(const std::string& key, int64_t& out, int64_t min, int64_t max) {
    if (!src.has(key)) return true;
    try {
      int64_t v = src.getInt64(key);
      if (v < min || v > max) {
        error = "configuration key " + key + ": " + std::to_string(v) + " is outside " + std::to_string(min) + ".." +
                std::to_string(max);
        return false;
      }
      out = v;
      return true;
    } catch (const Poco::Exception&) {
      error = "configuration key " + key + ": not an integer";
      return false;
    }
  }
  bool boolean(const std::string& key, bool& out) {
    if (!src.has(key)) return true;
    try {
      out = src.getBool(key);
      return true;
    } catch (const Poco::Exception&) {
      error = "configuration key " + key + ": not true or false";
      return false;
    }
  }
};

}  // namespace

bool applyConfiguration(const Poco::Util::AbstractConfiguration& src, GatewayConfig& c, std::string& error) {
  static const std::set<std::string> kSections = {"server", "paths", "tls", "clinic", "store", "search", "clients",
                                                  "delivery"};
  Poco::Util::AbstractConfiguration::Keys top;
  src.keys(top);
  for (const std::string& k : top) {
    std::string base = k.substr(0, k.find('['));
    if (!kSections.count(base)) {
      error = "unknown configuration section '" + k + "' (known: server, paths, tls, clinic, store, search, clients, delivery)";
      return false;
    }
  }
  // Every key must be known: a misspelt key would otherwise be ignored without a word.
  static const std::set<std::string> kKeys = {
      "clinic.allowSyntheticIds", "clinic.canonicalBase", "clinic.herId", "delivery.enabled", "delivery.idlePollMs",
      "delivery.initialBackoffMs", "delivery.maxAgeHours", "delivery.maxAttempts", "delivery.maxBackoffMs",
      "delivery.timeoutSeconds", "delivery.pushQuestionnaires", "delivery.endpoints", "paths.certsDir",
      "paths.dataDir", "paths.fhirPackage", "paths.mappings", "search.defaultCount", "search.maxCount", "server.host",
      "server.keepAliveSeconds", "server.maxBodyBytes", "server.maxQueued", "server.maxThreads", "server.port",
      "server.publicBase", "server.timeoutSeconds", "store.checkpointPages", "store.file", "store.groupCommitMaxBatch",
      "store.mmapMiB", "store.pageSize", "store.pipelinedSync", "store.readerCacheMiB", "store.synchronousFull", "store.writerCacheMiB", "tls.caFile",
      "tls.certificateFile", "tls.cipherList", "tls.privateKeyFile", "tls.requireClientCertificate"};
  static const std::set<std::string> kEndpointKeys = {"herId", "baseUrl", "caFile", "certificateFile", "privateKeyFile",
                                                      "bearerToken"};
  static const std::set<std::string> kClientKeys = {"name", "kind", "commonName", "sha256", "herIds"};
  auto unknownIn = [&](const std::string& prefix, const std::set<std::string>& known, bool qualified) -> bool {
    Poco::Util::AbstractConfiguration::Keys keys;
    src.keys(prefix, keys);
    for (const std::string& k : keys) {
      std::string name = k.substr(0, k.find('['));
      if (!known.count(qualified ? prefix + "." + name : name)) {
        error = "unknown configuration key " + prefix + "." + k;
        return true;
      }
    }
    return false;
  };
  for (const char* section : {"server", "paths", "tls", "clinic", "store", "search", "delivery"})
    if (src.has(section) && unknownIn(section, kKeys, true)) return false;
  for (int i = 0; src.has("delivery.endpoints[" + std::to_string(i) + "]"); ++i)
    if (unknownIn("delivery.endpoints[" + std::to_string(i) + "]", kEndpointKeys, false)) return false;
  for (int i = 0; src.has("clients[" + std::to_string(i) + "]"); ++i)
    if (unknownIn("clients[" + std::to_string(i) + "]", kClientKeys, false)) return false;

  Reader r{src, error};
  bool ok = r.str("server.host", c.host) && r.integer("server.port", c.port, 0, 65535) &&
            r.str("server.publicBase", c.publicBase) && r.integer("server.maxThreads", c.maxThreads, 2, 4096) &&
            r.integer("server.maxQueued", c.maxQueued, 1, 65536) &&
            r.integer("server.keepAliveSeconds", c.keepAliveSeconds, 1, 3600) &&
            r.integer("server.timeoutSeconds", c.timeoutSeconds, 1, 3600) &&
            r.integer64("server.maxBodyBytes", c.maxBodyBytes, 1024, int64_t{1} << 30) &&
            r.str("paths.dataDir", c.dataDir) && r.str("paths.certsDir", c.certsDir) &&
            r.str("paths.fhirPackage", c.fhirPackageDir) && r.str("paths.mappings", c.mappingsDir) &&
            r.str("tls.caFile", c.caFile) && r.str("tls.certificateFile", c.certificateFile) &&
            r.str("tls.privateKeyFile", c.privateKeyFile) && r.str("tls.cipherList", c.cipherList) &&
            r.boolean("tls.requireClientCertificate", c.requireClientCertificate) &&
            r.str("clinic.herId", c.clinicHerId) && r.str("clinic.canonicalBase", c.canonicalBase) &&
            r.boolean("clinic.allowSyntheticIds", c.allowSyntheticIds) && r.str("store.file", c.databaseFile) &&
            r.integer("store.groupCommitMaxBatch", c.groupCommitMaxBatch, 1, 100000) &&
            r.boolean("store.synchronousFull", c.synchronousFull) &&
            r.integer("store.writerCacheMiB", c.writerCacheMiB, 1, 65536) &&
            r.integer("store.readerCacheMiB", c.readerCacheMiB, 1, 65536) &&
            r.integer("store.mmapMiB", c.mmapMiB, 0, 1048576) &&
            r.integer("store.checkpointPages", c.checkpointPages, 0, 10000000) &&
            r.integer("store.pageSize", c.pageSize, 512, 65536) &&
            r.boolean("store.pipelinedSync", c.pipelinedSync) &&
            r.integer("search.defaultCount", c.defaultCount, 1, 10000) &&
            r.integer("search.maxCount", c.maxCount, 1, 10000) && r.boolean("delivery.enabled", c.delivery.enabled) &&
            r.integer("delivery.maxAttempts", c.delivery.maxAttempts, 1, 1000000) &&
            r.integer("delivery.maxAgeHours", c.delivery.maxAgeHours, 1, 24 * 365) &&
            r.integer("delivery.initialBackoffMs", c.delivery.initialBackoffMs, 1, 3600000) &&
            r.integer("delivery.maxBackoffMs", c.delivery.maxBackoffMs, 1, 86400000) &&
            r.integer("delivery.timeoutSeconds", c.delivery.timeoutSeconds, 1, 600) &&
            r.integer("delivery.idlePollMs", c.delivery.idlePollMs, 10, 3600000);
  if (!ok) return false;
  if ((c.pageSize & (c.pageSize - 1)) != 0) {
    error = "configuration key store.pageSize: " + std::to_string(c.pageSize) + " is not a power of two";
    return false;
  }
  if (c.defaultCount > c.maxCount) {
    error = "configuration key search.defaultCount: " + std::to_string(c.defaultCount) + " is over search.maxCount (" +
            std::to_string(c.maxCount) + ")";
    return false;
  }
  if (c.delivery.initialBackoffMs > c.delivery.maxBackoffMs) {
    error = "configuration key delivery.initialBackoffMs: over delivery.maxBackoffMs";
    return false;
  }
  Poco::Util::AbstractConfiguration::Keys deliveryKeys;
  src.keys("delivery", deliveryKeys);
  if (std::find(deliveryKeys.begin(), deliveryKeys.end(), "pushQuestionnaires") != deliveryKeys.end()) {
    c.delivery.pushQuestionnaires.clear();
    for (int i = 0;; ++i) {
      std::string k = "delivery.pushQuestionnaires[" + std::to_string(i) + "]";
      if (!src.has(k)) break;
      c.delivery.pushQuestionnaires.push_back(src.getString(k));
    }
  }
  for (int i = 0;; ++i) {
    std::string p = "delivery.endpoints[" + std::to_string(i) + "]";
    if (!src.has(p + ".herId") && !src.has(p + ".baseUrl")) break;
    EndpointConfig e;
    e.herId = src.getString(p + ".herId", "");
    e.baseUrl = src.getString(p + ".baseUrl", "");
    e.caFile = src.getString(p + ".caFile", "");
    e.certificateFile = src.getString(p + ".certificateFile", "");
    e.privateKeyFile = src.getString(p + ".privateKeyFile", "");
    e.bearerToken = src.getString(p + ".bearerToken", "");
    if (e.herId.empty() || e.baseUrl.empty()) {
      error = "configuration key " + p + ": herId and baseUrl are required";
      return false;
    }
    if (e.baseUrl.rfind("https://", 0) != 0 && e.baseUrl.rfind("http://", 0) != 0) {
      error = "configuration key " + p + ".baseUrl: must start with https:// (or http:// for tests)";
      return false;
    }
    if (e.certificateFile.empty() != e.privateKeyFile.empty()) {
      error = "configuration key " + p + ": certificateFile and privateKeyFile go together";
      return false;
    }
    while (!e.baseUrl.empty() && e.baseUrl.back() == '/') e.baseUrl.pop_back();
    if (c.delivery.endpointFor(e.herId)) {
      error = "configuration key " + p + ".herId: practice " + e.herId + " has two endpoints";
      return false;
    }
    c.delivery.endpoints.push_back(std::move(e));
  }
  bool hasClients = false;
  for (const std::string& k : top) hasClients = hasClients || k.substr(0, k.find('[')) == "clients";
  if (hasClients) {
    c.clients.clear();
    for (int i = 0;; ++i) {
      std::string p = "clients[" + std::to_string(i) + "]";
      if (!src.has(p + ".commonName") && !src.has(p + ".name") && !src.has(p + ".kind")) break;
      ClientConfig cl;
      std::string kind = src.getString(p + ".kind", "referrer");
      if (kind == "referrer") cl.kind = ClientConfig::Kind::Referrer;
      else if (kind == "clinic") cl.kind = ClientConfig::Kind::Clinic;
      else {
        error = "configuration key " + p + ".kind: '" + kind + "' is not referrer or clinic";
        return false;
      }
      cl.commonName = src.getString(p + ".commonName", "");
      if (cl.commonName.empty()) {
        error = "configuration key " + p + ".commonName is required";
        return false;
      }
      cl.name = src.getString(p + ".name", cl.commonName);
      cl.sha256 = src.getString(p + ".sha256", "");
      for (int j = 0;; ++j) {
        std::string h = p + ".herIds[" + std::to_string(j) + "]";
        if (!src.has(h)) break;
        cl.herIds.push_back(src.getString(h));
      }
      if (cl.kind == ClientConfig::Kind::Referrer && cl.herIds.empty()) {
        error = "configuration key " + p + ".herIds: a referrer needs at least one practice HER-id";
        return false;
      }
      c.clients.push_back(std::move(cl));
    }
  }
  return true;
}

bool loadConfigFile(const std::string& path, GatewayConfig& config, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read the configuration file " + path;
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    std::istringstream is(ss.str());
    Poco::AutoPtr<Poco::Util::JSONConfiguration> json(new Poco::Util::JSONConfiguration(is));
    if (!applyConfiguration(*json, config, error)) {
      error = path + ": " + error;
      return false;
    }
  } catch (const Poco::Exception& e) {
    error = path + ": not valid JSON configuration: " + e.displayText();
    return false;
  }
  return true;
}

}  // namespace hoa::gateway
