#pragma once
// Delivery of status and outcomes to referrers: the outbox's workers.
//
// Every Task version and every pushed QuestionnaireResponse gets an outbox row in the
// same transaction that stores it (gateway/workflow.cc), for practices that have an
// endpoint in the configuration. One worker per endpoint sends the events of its
// practice with a conditional update on the resource's stable identifier:
//   PUT [base]/Task?identifier=<system>|<value>
//   PUT [base]/QuestionnaireResponse?identifier=<system>|<value>
// so a repeated delivery changes nothing at the receiver. Per referral, events go in
// outbox order: an event waits while an earlier one of its referral is not delivered
// (also while that one is dead-lettered, until it is retried).
//
// Outcomes: 2xx delivered; connection errors, timeouts, 408, 409, 429 (Retry-After
// honoured) and 5xx are retried with exponential backoff and jitter; other statuses are
// permanent (state failed). After DeliveryConfig::maxAttempts attempts or maxAgeHours, an
// event is failed (dead-lettered); the clinic can retry it (POST /clinic/deliveries/{id}/retry).
//
// Crash safety: an event is marked in-flight (committed) before it is sent and its result
// is committed after; start() first turns in-flight events back into pending ones (the
// receiver absorbs the resend), then starts the workers. Workers of different endpoints
// are independent: a referrer that is down only delays its own events.
//
// Thread-safety: notify(), counters() and retry() may be called from any thread.
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fhir/definitions.h"
#include "gateway/config.h"
#include "gateway/store.h"

namespace hoa::gateway {

class Delivery {
 public:
  Delivery(const GatewayConfig& config, const fhir::Registry& registry, Store& store);
  ~Delivery();
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  // Recovery, then one worker per configured endpoint. Returns the number of events
  // recovered from in-flight.
  int64_t start();
  void stop();
  // Wakes the worker of a practice (after a commit that added events for it).
  void notify(std::string_view practice);

  struct Counters {
    uint64_t attempts = 0, delivered = 0, retried = 0, failed = 0;
  };
  Counters counters() const;

  // What is pushed for a stored resource version: the resource without its id, versionId
  // and lastUpdated (the receiver keeps its own), with relative references made absolute
  // against the gateway's public base URL. Empty on unreadable input.
  static std::string pushPayload(const fhir::Registry& registry, const std::string& json, const std::string& publicBase);

  enum class Verdict { Delivered, Retry, Permanent };
  // The verdict of an HTTP status (0: no response — connection error or timeout).
  static Verdict classify(int status);
  // The delay before retry `attempt` (1-based): initial × 2^(attempt-1), capped, with
  // jitter in [50 %, 100 %].
  static int64_t backoffMs(const DeliveryConfig& c, int attempt);
  // Retry-After: delta-seconds or an HTTP date; milliseconds from now, or -1.
  static int64_t retryAfterMs(const std::string& value);

 private:
  struct Worker;
  void run(Worker& w);
  struct Attempt {
    int status = 0;
    std::string error;       // connection error, or a short description of the response
    std::string retryAfter;  // the Retry-After header
  };
  Attempt send(Worker& w, const OutboxEvent& ev, const std::string& payload);

  const GatewayConfig& config_;
  const fhir::Registry& registry_;
  Store& store_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> attempts_{0}, delivered_{0}, retried_{0}, failed_{0};
};

}  // namespace hoa::gateway
