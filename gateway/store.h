#pragma once
// Durable storage on SQLite: versioned FHIR resources with their search index, the
// clinic's referrals, and the audit trail.
//
// Durability: WAL journal with synchronous=FULL, so a COMMIT has reached the disk when it
// returns; write() returns only after the COMMIT of the transaction that holds its job.
// Throughput comes from group commit: one writer thread takes every job that is waiting
// (up to StoreConfig::maxBatch), runs each inside its own SAVEPOINT of one transaction,
// and commits them together with one fsync. A job that throws is rolled back to its
// savepoint alone; the others commit. Idempotency is the UNIQUE constraint on
// (practice, identifier system, identifier value) of the referral table: jobs run one at a
// time on the writer, and the second of two simultaneous duplicates sees the constraint.
//
// Reads use a pool of separate connections (WAL readers never block the writer).
//
// Schema versions are migrations applied in order at open (table schema_migrations);
// a database newer than this program is refused.
//
// Thread-safety: all public functions may be called from any thread.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/sqlite.h"

namespace hoa::gateway {

struct StoreConfig {
  std::string path;          // the database file
  size_t maxBatch = 256;     // jobs per group commit
  size_t readers = 8;        // pooled read connections
  bool synchronousFull = true;
  int writerCacheMiB = 64;   // page cache of the writer connection
  int readerCacheMiB = 2;    // page cache of each read connection
  int mmapMiB = 256;         // memory-mapped reads of the database file (0: off)
  // The WAL is checkpointed by a background thread (PASSIVE, never blocking a commit)
  // once it holds this many pages; 0 leaves it to SQLite's automatic checkpoint in the
  // committing thread.
  int checkpointPages = 8192;
  // With synchronousFull: commit with synchronous=NORMAL and make each commit durable
  // by an fdatasync of the WAL in a separate thread before the writers are answered, so
  // the next group commit is built while the previous one is being flushed.
  bool pipelinedSync = true;
  int pageSize = 4096;       // page size of a new database file (512..65536, a power of two)
  int migrateTo = 0;         // tests of upgrades: stop at this schema version (0: the latest)
};

// A search index row of a resource: tokens (system, value), references (value =
// "Type/id"), uris (value), dates (lo..hi, normalised UTC instants, inclusive).
struct IndexRow {
  std::string param;
  std::string system;
  std::string value;
  std::string lo, hi;
};

struct ResourceRecord {
  std::string type, id;
  int version = 0;
  std::string lastUpdated;  // FHIR instant, UTC
  std::string json;
  std::string practice;     // HER-id of the referrer practice the resource belongs to
  bool deleted = false;
};

struct ResourceWrite {
  ResourceRecord record;
  std::vector<IndexRow> index;
};

struct ReferralRow {
  std::string id;                 // = the ServiceRequest's id
  std::string practice;           // the referrer practice's HER-id
  std::string identifierSystem;   // ServiceRequest.identifier (the idempotency key)
  std::string identifierValue;
  std::string taskId;
  std::string status;             // referral-status code
  std::string receivedAt;
  std::string deadline;           // YYYY-MM-DD (assessment deadline)
  std::string transport;          // rest-create | transaction | message
  std::string modelJson;          // clinic::Referral as JSON
  std::string stateJson;          // clinic::ReferralState as JSON
  std::string refsJson;           // references the Task makes and the submission's response data
  std::string updatedAt;
};

struct AuditRow {
  int64_t seq = 0;
  std::string recorded;    // instant
  std::string requestId;
  std::string principal;   // the client's name from the configuration ("" when none)
  std::string principalKind;
  std::string action;      // C R U D E (FHIR AuditEvent.action)
  std::string interaction; // create, read, search-type, transaction, operation, ...
  std::string method, path;
  int status = 0;
  std::string outcome;     // 0 | 4 | 8 | 12 (FHIR AuditEvent.outcome)
  std::string entity;      // "Type/id" of the main resource, when known
};

// An event of the outbox: a resource version to push to a referrer's endpoint.
struct OutboxEvent {
  int64_t id = 0;
  std::string practice;      // the referrer practice (its endpoint)
  std::string referralId;    // events of one referral are delivered in id order
  std::string resourceType;  // Task | QuestionnaireResponse
  std::string resourceId;
  int resourceVersion = 0;
  std::string identifierSystem, identifierValue;  // the conditional-update key
  std::string createdAt;
  std::string state = "pending";  // pending | in-flight | delivered | failed
  int attempts = 0;
  std::string nextAttemptAt;
  std::string lastError;
  int lastStatus = 0;        // last HTTP status (0: none / connection error)
  std::string deliveredAt;
  std::string updatedAt;
};

struct OutboxFilter {
  std::string state, practice, referralId;
  size_t count = 100, offset = 0;
};

// One condition of a search: the resource must have an index row of `param` that
// matches any of `anyOf`.
struct SearchMatch {
  enum class Kind { Exact, Date } kind = Kind::Exact;
  bool anySystem = true;   // token without "system|"
  std::string system;      // token system ("" with !anySystem: no system)
  std::string value;
  std::string prefix = "eq";  // dates: eq ne gt lt ge le sa eb
  std::string lo, hi;      // dates: the parameter's range
};

struct SearchCriterion {
  std::string param;  // "_lastUpdated" compares the resource's last update
  std::vector<SearchMatch> anyOf;
};

struct SearchQuery {
  std::string type;
  std::vector<SearchCriterion> all;
  std::optional<std::vector<std::string>> practices;  // restrict to these practices
  size_t count = 50;
  size_t offset = 0;
};

struct SearchPage {
  size_t total = 0;
  std::vector<ResourceRecord> resources;
};

struct ReferralFilter {
  std::string status;
  std::string overdueBefore;  // YYYY-MM-DD: received/under-assessment with deadline before it
  size_t count = 100, offset = 0;
};

// Reads and writes that work on one connection. The writer's WriteTxn adds the writes.
class Queries {
 public:
  explicit Queries(sql::Database& db) : db_(db) {}

  std::optional<ResourceRecord> current(std::string_view type, std::string_view id);
  std::optional<ResourceRecord> version(std::string_view type, std::string_view id, int version);
  std::vector<ResourceRecord> history(std::string_view type, std::string_view id, size_t limit = 1000);
  SearchPage search(const SearchQuery& query);

  std::optional<ReferralRow> referral(std::string_view id);
  std::optional<ReferralRow> referralByIdentifier(std::string_view practice, std::string_view system,
                                                  std::string_view value);
  std::vector<ReferralRow> referrals(const ReferralFilter& filter);

  // Audit rows, newest first; `recorded` must satisfy every (operator, instant) pair
  // (operators >=, >, <=, <).
  std::vector<AuditRow> audit(const std::vector<std::pair<std::string, std::string>>& recorded, std::string_view principal,
                              size_t count, size_t offset);

  // The outbox. nextDue: the oldest pending event of `practice` due at `now` whose
  // referral has no earlier event that is not yet delivered (per-referral order).
  std::optional<OutboxEvent> nextDue(std::string_view practice, std::string_view now);
  // When the next pending event of `practice` falls due ("" when none is pending).
  std::string nextDueTime(std::string_view practice);
  std::optional<OutboxEvent> outboxEvent(int64_t id);
  std::vector<OutboxEvent> outbox(const OutboxFilter& filter);
  // Events per state, for one practice or all ("").
  std::vector<std::pair<std::string, int64_t>> outboxCounts(std::string_view practice);

 protected:
  sql::Database& db_;
};

class WriteTxn : public Queries {
 public:
  using Queries::Queries;
  // Writes a version of a resource (the record's version must be the next one: 1 for a
  // new resource) and replaces its search index rows.
  void put(const ResourceWrite& write);
  // Inserts a referral; false (nothing written) when its (practice, identifier) exists.
  bool insertReferral(const ReferralRow& row);
  void updateReferral(const ReferralRow& row);
  void addAudit(const AuditRow& row);
  int64_t addOutbox(const OutboxEvent& event);
  // Writes state, attempts, nextAttemptAt, lastError, lastStatus, deliveredAt, updatedAt.
  void updateOutbox(const OutboxEvent& event);
  // Start-up recovery: in-flight events (a crash between sending and recording) become
  // pending again, due now; returns how many.
  int64_t recoverInFlight(std::string_view now);
  sql::Database& db() { return db_; }
};

class Store {
 public:
  static std::unique_ptr<Store> open(const StoreConfig& config, std::string& error);
  ~Store();  // finishes the jobs already queued, then closes
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `job` in the next group commit and returns once it is durable. An exception
  // the job throws rolls back its changes and is rethrown here; a failed COMMIT throws
  // sql::SqliteError.
  void write(std::function<void(WriteTxn&)> job);
  // Queues `job` without waiting (audit records): it commits with the next group.
  void writeAsync(std::function<void(WriteTxn&)> job);

  // Runs `fn` on a pooled read connection inside one read transaction (a consistent
  // snapshot).
  template <class F>
  auto read(F&& fn) {
    Lease lease(*this);
    lease.db().exec("BEGIN");
    struct End {
      sql::Database& db;
      ~End() {
        try {
          db.exec("COMMIT");
        } catch (...) {
        }
      }
    } end{lease.db()};
    Queries q(lease.db());
    return fn(q);
  }

  bool healthy() const;
  int schemaVersion() const { return schemaVersion_; }
  const StoreConfig& config() const { return config_; }
  // Group-commit counters: transactions committed and jobs in them.
  uint64_t commits() const;
  uint64_t committedJobs() const;
  uint64_t checkpoints() const;
  uint64_t walFrames() const;
  uint64_t writerCpuMicros() const;  // CPU time of the writer thread
  uint64_t walSyncs() const;         // fdatasyncs of the WAL by the sync thread  // pages written to the WAL by commits (with background checkpoints)

 private:
  class Lease {
   public:
    explicit Lease(Store& s);
    ~Lease();
    sql::Database& db() { return *db_; }

   private:
    Store& store_;
    std::unique_ptr<sql::Database> db_;
  };
  struct Job {
    std::function<void(WriteTxn&)> fn;
    bool wait = true;
    bool done = false;
    std::exception_ptr error;
  };

  explicit Store(StoreConfig config) : config_(std::move(config)) {}
  void writerLoop();
  void runBatch(std::vector<std::shared_ptr<Job>>& batch);
  void runBatchWithSavepoints(std::vector<std::shared_ptr<Job>>& batch);
  bool beginBatch(std::vector<std::shared_ptr<Job>>& batch);
  void commitBatch(std::vector<std::shared_ptr<Job>>& batch, size_t ok);
  std::unique_ptr<sql::Database> openReader();

  StoreConfig config_;
  std::unique_ptr<sql::Database> writer_;
  int schemaVersion_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable queued_, finished_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  bool failed_ = false;
  uint64_t commits_ = 0, committedJobs_ = 0;
  std::thread writerThread_;

  // Background checkpoints: the writer's WAL hook signals when the WAL is over the
  // threshold; the checkpointer thread runs a PASSIVE checkpoint on its own connection.
  void checkpointLoop();
  static int walHook(void* self, sqlite3* db, const char* name, int pages);
  std::unique_ptr<sql::Database> checkpointer_;
  std::thread checkpointThread_;
  std::condition_variable checkpointWanted_;
  bool checkpointDue_ = false;
  uint64_t checkpoints_ = 0;
  std::atomic<uint64_t> walFrames_{0};
  std::atomic<uint64_t> writerCpuNs_{0};

  // Pipelined durability: committed batches wait here until the sync thread has flushed
  // the WAL past their commit.
  void syncLoop();
  int walFd_ = -1;
  std::thread syncThread_;
  std::condition_variable syncWanted_;
  std::vector<std::shared_ptr<Job>> syncQueue_;
  bool syncStop_ = false;
  uint64_t walSyncs_ = 0;
  int lastWalPages_ = 0;  // writer thread only

  std::mutex poolMutex_;
  std::vector<std::unique_ptr<sql::Database>> pool_;
};

// The newest schema version this program knows.
int latestSchemaVersion();

}  // namespace hoa::gateway
