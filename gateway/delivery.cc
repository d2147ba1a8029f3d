#include "gateway/delivery.h"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "fhir/format.h"
#include "gateway/http.h"
#include "gateway/server.h"
#include "gateway/timeutil.h"
#include "gateway/tree_edit.h"

namespace hoa::gateway {

struct Delivery::Worker {
  EndpointConfig endpoint;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable cv;
  bool wake = false;
  Poco::Net::Context::Ptr context;
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  Poco::URI base;
};

Delivery::Delivery(const GatewayConfig& config, const fhir::Registry& registry, Store& store)
    : config_(config), registry_(registry), store_(store) {}

Delivery::~Delivery() { stop(); }

int64_t Delivery::start() {
  int64_t recovered = 0;
  const std::string now = nowInstant();
  store_.write([&](WriteTxn& t) { recovered = t.recoverInFlight(now); });
  if (recovered) logLine("INFO", "delivery: " + std::to_string(recovered) + " in-flight event(s) recovered to pending");
  if (!config_.delivery.enabled) return recovered;
  for (const EndpointConfig& e : config_.delivery.endpoints) {
    auto w = std::make_unique<Worker>();
    w->endpoint = e;
    w->base = Poco::URI(e.baseUrl);
    if (w->base.getScheme() == "https") {
      Poco::Net::Context::Params p;
      p.privateKeyFile = e.privateKeyFile;
      p.certificateFile = e.certificateFile;
      p.caLocation = e.caFile;
      p.loadDefaultCAs = e.caFile.empty();
      p.verificationMode = Poco::Net::Context::VERIFY_STRICT;
      p.cipherList = config_.cipherList;
      w->context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, p);
      w->context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    }
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->thread = std::thread([this, wp] { run(*wp); });
  }
  return recovered;
}

void Delivery::stop() {
  stopping_ = true;
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mutex);
      w->wake = true;
    }
    w->cv.notify_all();
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  workers_.clear();
}

void Delivery::notify(std::string_view practice) {
  for (auto& w : workers_)
    if (w->endpoint.herId == practice) {
      {
        std::lock_guard lock(w->mutex);
        w->wake = true;
      }
      w->cv.notify_all();
    }
}

Delivery::Counters Delivery::counters() const { return {attempts_, delivered_, retried_, failed_}; }

Delivery::Verdict Delivery::classify(int status) {
  if (status >= 200 && status < 300) return Verdict::Delivered;
  if (status == 0 || status == 408 || status == 409 || status == 429 || status >= 500) return Verdict::Retry;
  return Verdict::Permanent;
}

int64_t Delivery::backoffMs(const DeliveryConfig& c, int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double base = static_cast<double>(c.initialBackoffMs);
  for (int i = 1; i < attempt && base < c.maxBackoffMs; ++i) base *= 2;
  base = std::min(base, static_cast<double>(c.maxBackoffMs));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::max<int64_t>(1, static_cast<int64_t>(base * jitter(rng)));
}

int64_t Delivery::retryAfterMs(const std::string& value) {
  if (value.empty()) return -1;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }) && value.size() < 10)
    return std::stoll(value) * 1000;
  // An HTTP date (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"); Poco's parser is lenient,
  // so check the shape first.
  if (value.size() != 29 || value.compare(value.size() - 4, 4, " GMT") != 0 || value[3] != ',') return -1;
  try {
    int tz = 0;
    Poco::DateTime when = Poco::DateTimeParser::parse(Poco::DateTimeFormat::HTTP_FORMAT, value, tz);
    int64_t ms = (when.timestamp().epochMicroseconds() - Poco::Timestamp().epochMicroseconds()) / 1000;
    return std::max<int64_t>(0, ms);
  } catch (const Poco::Exception&) {
    return -1;
  }
}

std::string Delivery::pushPayload(const fhir::Registry& registry, const std::string& json, const std::string& publicBase) {
  fhir::ParseResult parsed = fhir::parseJson(registry, json);
  fhir::Node* root = parsed.doc.root();
  if (!root) return {};
  removeChildren(root, "id");
  if (fhir::Node* meta = root->child("meta")) {
    removeChildren(meta, "versionId");
    removeChildren(meta, "lastUpdated");
    if (meta->children.empty()) removeChildren(root, "meta");
  }
  forEachReference(root, [&](fhir::Node& ref) {
    std::string_view v = ref.value;
    if (v.empty() || v[0] == '#' || v.find("://") != std::string_view::npos || v.rfind("urn:", 0) == 0) return;
    ref.value = parsed.doc.copy(publicBase + "/" + std::string(v));
  });
  return fhir::writeJson(*root);
}

Delivery::Attempt Delivery::send(Worker& w, const OutboxEvent& ev, const std::string& payload) {
  Attempt a;
  try {
    if (!w.session) {
      const auto port = w.base.getPort();
      if (w.context)
        w.session = std::make_unique<Poco::Net::HTTPSClientSession>(w.base.getHost(), port, w.context);
      else
        w.session = std::make_unique<Poco::Net::HTTPClientSession>(w.base.getHost(), port);
      w.session->setTimeout(Poco::Timespan(config_.delivery.timeoutSeconds, 0));
      w.session->setKeepAlive(true);
    }
    std::string path = w.base.getPath();
    while (!path.empty() && path.back() == '/') path.pop_back();
    path += "/" + ev.resourceType + "?identifier=" + percentEncode(ev.identifierSystem + "|" + ev.identifierValue);
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_PUT, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setContentType("application/fhir+json; charset=utf-8");
    req.set("Accept", "application/fhir+json");
    req.set("X-Request-Id", "delivery-" + std::to_string(ev.id) + "-" + std::to_string(ev.attempts));
    if (!w.endpoint.bearerToken.empty()) req.set("Authorization", "Bearer " + w.endpoint.bearerToken);
    req.setContentLength64(static_cast<Poco::Int64>(payload.size()));
    req.setKeepAlive(true);
    std::ostream& out = w.session->sendRequest(req);
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    Poco::Net::HTTPResponse resp;
    std::istream& in = w.session->receiveResponse(resp);
    // Read the whole body (so the connection can be reused), keeping a short excerpt.
    std::string excerpt;
    char buf[8192];
    size_t total = 0;
    while (in) {
      in.read(buf, sizeof buf);
      std::streamsize n = in.gcount();
      if (n <= 0) break;
      if (excerpt.size() < 300) excerpt.append(buf, std::min<size_t>(static_cast<size_t>(n), 300 - excerpt.size()));
      total += static_cast<size_t>(n);
      if (total > (1u << 20)) break;  // a runaway body: stop reading, drop the connection
    }
    if (resp.hasContentLength() && static_cast<int64_t>(total) < resp.getContentLength64())
      throw Poco::IOException("the response ended early (" + std::to_string(total) + " of " +
                              std::to_string(resp.getContentLength64()) + " bytes)");
    a.status = resp.getStatus();
    a.retryAfter = resp.get("Retry-After", "");
    if (a.status >= 300) {
      for (char& c : excerpt)
        if (c == '\n' || c == '\r') c = ' ';
      a.error = "HTTP " + std::to_string(a.status) + " " + resp.getReason() + (excerpt.empty() ? "" : ": " + excerpt);
    }
    if (!resp.getKeepAlive() || total > (1u << 20)) w.session.reset();
  } catch (const Poco::Exception& e) {
    a.status = 0;
    a.error = e.displayText();
    w.session.reset();
  } catch (const std::exception& e) {
    a.status = 0;
    a.error = e.what();
    w.session.reset();
  }
  return a;
}

void Delivery::run(Worker& w) {
  const std::string& practice = w.endpoint.herId;
  const DeliveryConfig& dc = config_.delivery;
  while (!stopping_) {
    try {
      const std::string now = nowInstant();
      std::optional<OutboxEvent> ev = store_.read([&](Queries& q) { return q.nextDue(practice, now); });
      if (!ev) {
        std::string due = store_.read([&](Queries& q) { return q.nextDueTime(practice); });
        int64_t waitMs = dc.idlePollMs;
        if (!due.empty() && due > now) {
          auto d = epochMillis(due), n = epochMillis(now);
          if (d && n) waitMs = std::clamp<int64_t>(*d - *n, 1, dc.idlePollMs);
        }
        std::unique_lock lock(w.mutex);
        w.cv.wait_for(lock, std::chrono::milliseconds(waitMs), [&] { return w.wake || stopping_.load(); });
        w.wake = false;
        continue;
      }
      // In flight: committed before sending, so a crash leads to a resend, never a loss.
      ev->state = "in-flight";
      ev->attempts += 1;
      ev->updatedAt = now;
      store_.write([&](WriteTxn& t) { t.updateOutbox(*ev); });
      auto stored = store_.read([&](Queries& q) { return q.version(ev->resourceType, ev->resourceId, ev->resourceVersion); });
      Attempt a;
      if (!stored) {
        a.error = "the stored resource " + ev->resourceType + "/" + ev->resourceId + "/_history/" +
                  std::to_string(ev->resourceVersion) + " is missing";
        a.status = -1;
      } else {
        std::string payload = pushPayload(registry_, stored->json, config_.publicBase);
        if (payload.empty()) {
          a.error = "the stored resource cannot be read";
          a.status = -1;
        } else {
          ++attempts_;
          a = send(w, *ev, payload);
        }
      }
      const std::string done = nowInstant();
      ev->updatedAt = done;
      ev->lastStatus = std::max(0, a.status);
      Verdict v = a.status < 0 ? Verdict::Permanent : classify(a.status);
      if (v == Verdict::Delivered) {
        ev->state = "delivered";
        ev->deliveredAt = done;
        ev->lastError.clear();
        ++delivered_;
      } else {
        ev->lastError = a.error.substr(0, 500);
        auto created = epochMillis(ev->createdAt), at = epochMillis(done);
        bool tooOld = created && at && (*at - *created) > int64_t{dc.maxAgeHours} * 3600000;
        if (v == Verdict::Permanent || ev->attempts >= dc.maxAttempts || tooOld) {
          ev->state = "failed";
          if (v == Verdict::Retry)
            ev->lastError = "gave up after " + std::to_string(ev->attempts) + " attempt(s): " + ev->lastError;
          ++failed_;
          // The log gets the status only: the receiver's answer (kept in lastError for the
          // clinic's /clinic/deliveries) may quote the resource, and logs hold no patient data.
          logLine("WARN", "delivery: event " + std::to_string(ev->id) + " to practice " + practice + " failed after " +
                              std::to_string(ev->attempts) + " attempt(s): " +
                              (a.status > 0 ? "HTTP " + std::to_string(a.status) : std::string("no HTTP answer")));
        } else {
          int64_t delay = backoffMs(dc, ev->attempts);
          int64_t after = retryAfterMs(a.retryAfter);
          if (after > delay) delay = std::min<int64_t>(after, 3600000);
          ev->state = "pending";
          ev->nextAttemptAt = instantFromMillis(at.value_or(0) + delay);
          ++retried_;
        }
      }
      store_.write([&](WriteTxn& t) { t.updateOutbox(*ev); });
    } catch (const std::exception& e) {
      logLine("ERROR", std::string("delivery worker for practice ") + practice + ": " + e.what());
      std::unique_lock lock(w.mutex);
      w.cv.wait_for(lock, std::chrono::milliseconds(1000), [&] { return stopping_.load(); });
    }
  }
}

}  // namespace hoa::gateway
