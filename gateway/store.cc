#include "gateway/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>

namespace hoa::gateway {
namespace {

// Migrations in order; each runs in its own transaction and records its number.
const char* const kMigrations[] = {
    // 1: resources with history, search index, referrals, audit trail.
    R"sql(
CREATE TABLE resource_version (
  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
  last_updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, json TEXT NOT NULL,
  PRIMARY KEY (type, id, version)
) WITHOUT ROWID;
CREATE TABLE resource (
  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
  last_updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, practice TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX resource_by_update ON resource (type, last_updated);
CREATE TABLE search_index (
  type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
  system TEXT NOT NULL DEFAULT '', value TEXT NOT NULL DEFAULT '',
  lo TEXT NOT NULL DEFAULT '', hi TEXT NOT NULL DEFAULT ''
);
CREATE INDEX search_by_value ON search_index (type, param, value);
CREATE INDEX search_by_resource ON search_index (type, id);
CREATE TABLE referral (
  id TEXT PRIMARY KEY, practice TEXT NOT NULL,
  identifier_system TEXT NOT NULL, identifier_value TEXT NOT NULL,
  task_id TEXT NOT NULL, status TEXT NOT NULL, received_at TEXT NOT NULL, deadline TEXT NOT NULL,
  transport TEXT NOT NULL, model TEXT NOT NULL, state TEXT NOT NULL, refs TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (practice, identifier_system, identifier_value)
);
CREATE INDEX referral_by_status ON referral (status, deadline);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, recorded TEXT NOT NULL, request_id TEXT NOT NULL,
  principal TEXT NOT NULL, principal_kind TEXT NOT NULL, action TEXT NOT NULL,
  interaction TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,
  outcome TEXT NOT NULL, entity TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (recorded);
)sql",
    // 2: the outbox of deliveries to referrers' endpoints.
    R"sql(
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, practice TEXT NOT NULL, referral_id TEXT NOT NULL,
  resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, resource_version INTEGER NOT NULL,
  identifier_system TEXT NOT NULL, identifier_value TEXT NOT NULL, created_at TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '', last_status INTEGER NOT NULL DEFAULT 0,
  delivered_at TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (practice, state, next_attempt_at);
CREATE INDEX outbox_by_referral ON outbox (referral_id, id);
CREATE INDEX outbox_by_state ON outbox (state, id);
)sql",
    // 3: resource versions in a rowid table. In the WITHOUT ROWID table of migration 1
    // every version over about 1 KB spilled into a mostly empty overflow page, so the file
    // (and each commit's WAL) was more than twice the size of the JSON it held.
    R"sql(
CREATE TABLE resource_version_3 (
  seq INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
  last_updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, json TEXT NOT NULL
);
INSERT INTO resource_version_3 (type, id, version, last_updated, deleted, json)
  SELECT type, id, version, last_updated, deleted, json FROM resource_version ORDER BY last_updated, type, id, version;
DROP TABLE resource_version;
ALTER TABLE resource_version_3 RENAME TO resource_version;
CREATE UNIQUE INDEX resource_version_key ON resource_version (type, id, version);
)sql",
    // 4: _id is matched on the resource table; its pseudo rows in the search index go.
    R"sql(
DELETE FROM search_index WHERE param = '_id';
)sql",
    // 5: keys that lead with the resource id. Ids are time-ordered and unique, so the
    // resources of a referral (9 types) are inserted at one place in each B-tree instead
    // of one place per type: a group commit dirties far fewer pages.
    R"sql(
CREATE TABLE resource_5 (
  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
  last_updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, practice TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (id, type)
) WITHOUT ROWID;
INSERT INTO resource_5 (type, id, version, last_updated, deleted, practice)
  SELECT type, id, version, last_updated, deleted, practice FROM resource;
DROP TABLE resource;
ALTER TABLE resource_5 RENAME TO resource;
CREATE INDEX resource_by_update ON resource (type, last_updated);
DROP INDEX resource_version_key;
CREATE UNIQUE INDEX resource_version_key ON resource_version (id, type, version);
DROP INDEX search_by_resource;
CREATE INDEX search_by_resource ON search_index (id, type, param);
)sql",
};

constexpr int kMigrationCount = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

void configureConnection(sql::Database& db, bool synchronousFull) {
  db.exec("PRAGMA busy_timeout = 10000");
  db.exec(synchronousFull ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
}

void migrate(sql::Database& db, int& version, int target) {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  version = static_cast<int>(db.queryInt("SELECT MAX(version) FROM schema_migrations").value_or(0));
  if (version > kMigrationCount)
    throw sql::SqliteError("the database has schema version " + std::to_string(version) +
                               ", newer than this program's " + std::to_string(kMigrationCount),
                           SQLITE_ERROR);
  for (int v = version + 1; v <= (target > 0 ? std::min(target, kMigrationCount) : kMigrationCount); ++v) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(kMigrations[v - 1]);
      sql::Statement s(db.handle(),
                       "INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))");
      s.bind(1, v).run();
      db.exec("COMMIT");
    } catch (...) {
      db.exec("ROLLBACK");
      throw;
    }
    version = v;
  }
}

ResourceRecord recordFrom(sql::Statement& s, std::string_view type, std::string_view id) {
  // columns: version, last_updated, deleted, json, practice
  ResourceRecord r;
  r.type = std::string(type);
  r.id = std::string(id);
  r.version = static_cast<int>(s.int64(0));
  r.lastUpdated = s.text(1);
  r.deleted = s.int64(2) != 0;
  r.json = s.text(3);
  r.practice = s.text(4);
  return r;
}

ReferralRow referralFrom(sql::Statement& s) {
  ReferralRow r;
  r.id = s.text(0);
  r.practice = s.text(1);
  r.identifierSystem = s.text(2);
  r.identifierValue = s.text(3);
  r.taskId = s.text(4);
  r.status = s.text(5);
  r.receivedAt = s.text(6);
  r.deadline = s.text(7);
  r.transport = s.text(8);
  r.modelJson = s.text(9);
  r.stateJson = s.text(10);
  r.refsJson = s.text(11);
  r.updatedAt = s.text(12);
  return r;
}

constexpr std::string_view kReferralColumns =
    "id, practice, identifier_system, identifier_value, task_id, status, received_at, deadline, transport, model, "
    "state, refs, updated_at";

// The SQL condition of one date match against columns lo/hi (index) or one instant.
std::string dateCondition(const std::string& prefix, std::string_view lo, std::string_view hi) {
  std::string l(lo), h(hi);
  if (prefix == "ne") return "NOT (" + l + " >= ?1 AND " + h + " <= ?2)";
  if (prefix == "gt") return h + " > ?2";
  if (prefix == "lt") return l + " < ?1";
  if (prefix == "ge") return h + " >= ?1";
  if (prefix == "le") return l + " <= ?2";
  if (prefix == "sa") return l + " > ?2";
  if (prefix == "eb") return h + " < ?1";
  return l + " >= ?1 AND " + h + " <= ?2";
}

// Replaces the ?1/?2 placeholders of dateCondition with sequential '?'.
std::string positional(std::string sqlText, int& p1, int& p2, int& next) {
  std::string out;
  p1 = p2 = 0;
  for (size_t i = 0; i < sqlText.size(); ++i) {
    if (sqlText[i] == '?' && i + 1 < sqlText.size() && (sqlText[i + 1] == '1' || sqlText[i + 1] == '2')) {
      int& slot = sqlText[i + 1] == '1' ? p1 : p2;
      if (slot == 0) slot = next++;
      out += "?" + std::to_string(slot);
      ++i;
    } else {
      out += sqlText[i];
    }
  }
  return out;
}

constexpr std::string_view kOutboxColumns =
    "id, practice, referral_id, resource_type, resource_id, resource_version, identifier_system, identifier_value, "
    "created_at, state, attempts, next_attempt_at, last_error, last_status, delivered_at, updated_at";

OutboxEvent outboxFrom(sql::Statement& s) {
  OutboxEvent e;
  e.id = s.int64(0);
  e.practice = s.text(1);
  e.referralId = s.text(2);
  e.resourceType = s.text(3);
  e.resourceId = s.text(4);
  e.resourceVersion = static_cast<int>(s.int64(5));
  e.identifierSystem = s.text(6);
  e.identifierValue = s.text(7);
  e.createdAt = s.text(8);
  e.state = s.text(9);
  e.attempts = static_cast<int>(s.int64(10));
  e.nextAttemptAt = s.text(11);
  e.lastError = s.text(12);
  e.lastStatus = static_cast<int>(s.int64(13));
  e.deliveredAt = s.text(14);
  e.updatedAt = s.text(15);
  return e;
}

}  // namespace

int latestSchemaVersion() { return kMigrationCount; }

// --- Queries ---------------------------------------------------------------------------

std::optional<ResourceRecord> Queries::current(std::string_view type, std::string_view id) {
  sql::StatementUse s(db_.cached(
      "SELECT r.version, r.last_updated, r.deleted, v.json, r.practice FROM resource r JOIN resource_version v "
      "ON v.type = r.type AND v.id = r.id AND v.version = r.version WHERE r.type = ? AND r.id = ?"));
  s->bind(1, type).bind(2, id);
  if (!s->step()) return std::nullopt;
  return recordFrom(*s, type, id);
}

std::optional<ResourceRecord> Queries::version(std::string_view type, std::string_view id, int version) {
  sql::StatementUse s(db_.cached(
      "SELECT v.version, v.last_updated, v.deleted, v.json, r.practice FROM resource_version v JOIN resource r "
      "ON r.type = v.type AND r.id = v.id WHERE v.type = ? AND v.id = ? AND v.version = ?"));
  s->bind(1, type).bind(2, id).bind(3, version);
  if (!s->step()) return std::nullopt;
  return recordFrom(*s, type, id);
}

std::vector<ResourceRecord> Queries::history(std::string_view type, std::string_view id, size_t limit) {
  sql::StatementUse s(db_.cached(
      "SELECT v.version, v.last_updated, v.deleted, v.json, r.practice FROM resource_version v JOIN resource r "
      "ON r.type = v.type AND r.id = v.id WHERE v.type = ? AND v.id = ? ORDER BY v.version DESC LIMIT ?"));
  s->bind(1, type).bind(2, id).bind(3, static_cast<int64_t>(limit));
  std::vector<ResourceRecord> out;
  while (s->step()) out.push_back(recordFrom(*s, type, id));
  return out;
}

SearchPage Queries::search(const SearchQuery& q) {
  // Built per query (the conditions vary); bound parameters only, never spliced values.
  std::string where = "r.type = ?1 AND r.deleted = 0";
  std::vector<std::string> binds{q.type};
  int next = 2;
  auto bindNext = [&](std::string v) {
    binds.push_back(std::move(v));
    return next++;
  };
  if (q.practices) {
    where += " AND r.practice IN (";
    for (size_t i = 0; i < q.practices->size(); ++i) {
      if (i) where += ", ";
      where += "?" + std::to_string(bindNext((*q.practices)[i]));
    }
    if (q.practices->empty()) where += "NULL";
    where += ")";
  }
  for (const SearchCriterion& c : q.all) {
    std::string alternatives;
    for (const SearchMatch& m : c.anyOf) {
      std::string cond;
      if (c.param == "_id") {
        cond = "r.id = ?" + std::to_string(bindNext(m.value));
      } else if (c.param == "_lastUpdated") {
        int p1 = 0, p2 = 0;
        std::string t = positional(dateCondition(m.prefix, "r.last_updated", "r.last_updated"), p1, p2, next);
        binds.resize(static_cast<size_t>(next - 1));
        if (p1) binds[static_cast<size_t>(p1 - 1)] = m.lo;
        if (p2) binds[static_cast<size_t>(p2 - 1)] = m.hi;
        cond = t;
      } else if (m.kind == SearchMatch::Kind::Date) {
        int pp = bindNext(c.param);
        int p1 = 0, p2 = 0;
        std::string t = positional(dateCondition(m.prefix, "i.lo", "i.hi"), p1, p2, next);
        binds.resize(static_cast<size_t>(next - 1));
        if (p1) binds[static_cast<size_t>(p1 - 1)] = m.lo;
        if (p2) binds[static_cast<size_t>(p2 - 1)] = m.hi;
        cond = "EXISTS (SELECT 1 FROM search_index i WHERE i.type = r.type AND i.id = r.id AND i.param = ?" +
               std::to_string(pp) + " AND " + t + ")";
      } else {
        int pp = bindNext(c.param);
        int pv = bindNext(m.value);
        cond = "EXISTS (SELECT 1 FROM search_index i WHERE i.type = r.type AND i.id = r.id AND i.param = ?" +
               std::to_string(pp) + " AND i.value = ?" + std::to_string(pv);
        if (!m.anySystem) cond += " AND i.system = ?" + std::to_string(bindNext(m.system));
        cond += ")";
      }
      if (!alternatives.empty()) alternatives += " OR ";
      alternatives += "(" + cond + ")";
    }
    if (!alternatives.empty()) where += " AND (" + alternatives + ")";
  }
  SearchPage page;
  {
    sql::Statement s(db_.handle(), "SELECT COUNT(*) FROM resource r WHERE " + where);
    for (size_t i = 0; i < binds.size(); ++i) s.bind(static_cast<int>(i + 1), binds[i]);
    if (s.step()) page.total = static_cast<size_t>(s.int64(0));
  }
  if (q.count == 0) return page;
  std::string sqlText =
      "SELECT r.version, r.last_updated, r.deleted, v.json, r.practice, r.id FROM resource r JOIN resource_version v "
      "ON v.type = r.type AND v.id = r.id AND v.version = r.version WHERE " +
      where + " ORDER BY r.last_updated DESC, r.id LIMIT " + std::to_string(q.count) + " OFFSET " +
      std::to_string(q.offset);
  sql::Statement s(db_.handle(), sqlText);
  for (size_t i = 0; i < binds.size(); ++i) s.bind(static_cast<int>(i + 1), binds[i]);
  while (s.step()) page.resources.push_back(recordFrom(s, q.type, s.textView(5)));
  return page;
}

std::optional<ReferralRow> Queries::referral(std::string_view id) {
  sql::StatementUse s(db_.cached("SELECT " + std::string(kReferralColumns) + " FROM referral WHERE id = ?"));
  s->bind(1, id);
  if (!s->step()) return std::nullopt;
  return referralFrom(*s);
}

std::optional<ReferralRow> Queries::referralByIdentifier(std::string_view practice, std::string_view system,
                                                         std::string_view value) {
  sql::StatementUse s(db_.cached("SELECT " + std::string(kReferralColumns) +
                                 " FROM referral WHERE practice = ? AND identifier_system = ? AND identifier_value = ?"));
  s->bind(1, practice).bind(2, system).bind(3, value);
  if (!s->step()) return std::nullopt;
  return referralFrom(*s);
}

std::vector<ReferralRow> Queries::referrals(const ReferralFilter& f) {
  std::string sqlText = "SELECT " + std::string(kReferralColumns) + " FROM referral WHERE 1 = 1";
  std::vector<std::string> binds;
  if (!f.status.empty()) {
    sqlText += " AND status = ?";
    binds.push_back(f.status);
  }
  if (!f.overdueBefore.empty()) {
    sqlText += " AND status IN ('received', 'under-assessment') AND deadline < ?";
    binds.push_back(f.overdueBefore);
  }
  sqlText += " ORDER BY received_at, id LIMIT " + std::to_string(f.count) + " OFFSET " + std::to_string(f.offset);
  sql::Statement s(db_.handle(), sqlText);
  for (size_t i = 0; i < binds.size(); ++i) s.bind(static_cast<int>(i + 1), binds[i]);
  std::vector<ReferralRow> out;
  while (s.step()) out.push_back(referralFrom(s));
  return out;
}

std::vector<AuditRow> Queries::audit(const std::vector<std::pair<std::string, std::string>>& recorded,
                                     std::string_view principal, size_t count, size_t offset) {
  std::string sqlText =
      "SELECT seq, recorded, request_id, principal, principal_kind, action, interaction, method, path, status, "
      "outcome, entity FROM audit WHERE 1";
  for (const auto& [op, at] : recorded) {
    if (op != ">=" && op != ">" && op != "<=" && op != "<") throw std::invalid_argument("audit: operator " + op);
    sqlText += " AND recorded " + op + " ?";
  }
  if (!principal.empty()) sqlText += " AND principal = ?";
  sqlText += " ORDER BY seq DESC LIMIT " + std::to_string(count) + " OFFSET " + std::to_string(offset);
  sql::Statement s(db_.handle(), sqlText);
  int n = 0;
  for (const auto& [op, at] : recorded) s.bind(++n, at);
  if (!principal.empty()) s.bind(++n, principal);
  std::vector<AuditRow> out;
  while (s.step()) {
    AuditRow a;
    a.seq = s.int64(0);
    a.recorded = s.text(1);
    a.requestId = s.text(2);
    a.principal = s.text(3);
    a.principalKind = s.text(4);
    a.action = s.text(5);
    a.interaction = s.text(6);
    a.method = s.text(7);
    a.path = s.text(8);
    a.status = static_cast<int>(s.int64(9));
    a.outcome = s.text(10);
    a.entity = s.text(11);
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<OutboxEvent> Queries::nextDue(std::string_view practice, std::string_view now) {
  sql::StatementUse s(db_.cached(
      "SELECT " + std::string(kOutboxColumns) +
      " FROM outbox o WHERE o.practice = ? AND o.state = 'pending' AND o.next_attempt_at <= ? AND NOT EXISTS "
      "(SELECT 1 FROM outbox p WHERE p.referral_id = o.referral_id AND p.id < o.id AND p.state <> 'delivered') "
      "ORDER BY o.next_attempt_at, o.id LIMIT 1"));
  s->bind(1, practice).bind(2, now);
  if (!s->step()) return std::nullopt;
  return outboxFrom(*s);
}

std::string Queries::nextDueTime(std::string_view practice) {
  sql::StatementUse s(db_.cached("SELECT MIN(next_attempt_at) FROM outbox WHERE practice = ? AND state = 'pending'"));
  s->bind(1, practice);
  if (!s->step() || s->isNull(0)) return {};
  return s->text(0);
}

std::optional<OutboxEvent> Queries::outboxEvent(int64_t id) {
  sql::StatementUse s(db_.cached("SELECT " + std::string(kOutboxColumns) + " FROM outbox WHERE id = ?"));
  s->bind(1, id);
  if (!s->step()) return std::nullopt;
  return outboxFrom(*s);
}

std::vector<OutboxEvent> Queries::outbox(const OutboxFilter& f) {
  std::string sqlText = "SELECT " + std::string(kOutboxColumns) + " FROM outbox WHERE 1 = 1";
  std::vector<std::string> binds;
  if (!f.state.empty()) {
    sqlText += " AND state = ?";
    binds.push_back(f.state);
  }
  if (!f.practice.empty()) {
    sqlText += " AND practice = ?";
    binds.push_back(f.practice);
  }
  if (!f.referralId.empty()) {
    sqlText += " AND referral_id = ?";
    binds.push_back(f.referralId);
  }
  sqlText += " ORDER BY id LIMIT " + std::to_string(f.count) + " OFFSET " + std::to_string(f.offset);
  sql::Statement s(db_.handle(), sqlText);
  for (size_t i = 0; i < binds.size(); ++i) s.bind(static_cast<int>(i + 1), binds[i]);
  std::vector<OutboxEvent> out;
  while (s.step()) out.push_back(outboxFrom(s));
  return out;
}

std::vector<std::pair<std::string, int64_t>> Queries::outboxCounts(std::string_view practice) {
  std::string sqlText = "SELECT state, COUNT(*) FROM outbox";
  if (!practice.empty()) sqlText += " WHERE practice = ?";
  sqlText += " GROUP BY state ORDER BY state";
  sql::Statement s(db_.handle(), sqlText);
  if (!practice.empty()) s.bind(1, practice);
  std::vector<std::pair<std::string, int64_t>> out;
  while (s.step()) out.emplace_back(s.text(0), s.int64(1));
  return out;
}

// --- WriteTxn --------------------------------------------------------------------------

void WriteTxn::put(const ResourceWrite& w) {
  const ResourceRecord& r = w.record;
  {
    sql::StatementUse s(db_.cached(
        "INSERT INTO resource_version (type, id, version, last_updated, deleted, json) VALUES (?, ?, ?, ?, ?, ?)"));
    s->bind(1, r.type).bind(2, r.id).bind(3, r.version).bind(4, r.lastUpdated).bind(5, r.deleted ? 1 : 0).bind(6, r.json);
    s->run();
  }
  if (r.version == 1) {
    sql::StatementUse s(db_.cached(
        "INSERT INTO resource (type, id, version, last_updated, deleted, practice) VALUES (?, ?, ?, ?, ?, ?)"));
    s->bind(1, r.type).bind(2, r.id).bind(3, r.version).bind(4, r.lastUpdated).bind(5, r.deleted ? 1 : 0).bind(6, r.practice);
    s->run();
  } else {
    sql::StatementUse s(db_.cached(
        "UPDATE resource SET version = ?, last_updated = ?, deleted = ? WHERE type = ? AND id = ? AND version = ?"));
    s->bind(1, r.version).bind(2, r.lastUpdated).bind(3, r.deleted ? 1 : 0).bind(4, r.type).bind(5, r.id).bind(6, r.version - 1);
    s->run();
    if (db_.changes() != 1)
      throw sql::SqliteError("version conflict writing " + r.type + "/" + r.id, SQLITE_CONSTRAINT);
    sql::StatementUse d(db_.cached("DELETE FROM search_index WHERE type = ? AND id = ?"));
    d->bind(1, r.type).bind(2, r.id);
    d->run();
  }
  sql::StatementUse s(db_.cached(
      "INSERT INTO search_index (type, id, param, system, value, lo, hi) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  for (const IndexRow& i : w.index) {
    s->bind(1, r.type).bind(2, r.id).bind(3, i.param).bind(4, i.system).bind(5, i.value).bind(6, i.lo).bind(7, i.hi);
    s->run();
    s->reset();
  }
}

bool WriteTxn::insertReferral(const ReferralRow& r) {
  sql::StatementUse s(db_.cached("INSERT INTO referral (" + std::string(kReferralColumns) +
                                 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s->bind(1, r.id).bind(2, r.practice).bind(3, r.identifierSystem).bind(4, r.identifierValue).bind(5, r.taskId);
  s->bind(6, r.status).bind(7, r.receivedAt).bind(8, r.deadline).bind(9, r.transport).bind(10, r.modelJson);
  s->bind(11, r.stateJson).bind(12, r.refsJson).bind(13, r.updatedAt);
  try {
    s->run();
  } catch (const sql::SqliteError& e) {
    if (e.code() == SQLITE_CONSTRAINT_UNIQUE) return false;
    throw;
  }
  return true;
}

void WriteTxn::updateReferral(const ReferralRow& r) {
  sql::StatementUse s(db_.cached(
      "UPDATE referral SET status = ?, model = ?, state = ?, refs = ?, updated_at = ?, task_id = ? WHERE id = ?"));
  s->bind(1, r.status).bind(2, r.modelJson).bind(3, r.stateJson).bind(4, r.refsJson).bind(5, r.updatedAt);
  s->bind(6, r.taskId).bind(7, r.id);
  s->run();
  if (db_.changes() != 1) throw sql::SqliteError("no referral " + r.id, SQLITE_NOTFOUND);
}

void WriteTxn::addAudit(const AuditRow& a) {
  sql::StatementUse s(db_.cached(
      "INSERT INTO audit (recorded, request_id, principal, principal_kind, action, interaction, method, path, "
      "status, outcome, entity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s->bind(1, a.recorded).bind(2, a.requestId).bind(3, a.principal).bind(4, a.principalKind).bind(5, a.action);
  s->bind(6, a.interaction).bind(7, a.method).bind(8, a.path).bind(9, a.status).bind(10, a.outcome).bind(11, a.entity);
  s->run();
}

int64_t WriteTxn::addOutbox(const OutboxEvent& e) {
  sql::StatementUse s(db_.cached(
      "INSERT INTO outbox (practice, referral_id, resource_type, resource_id, resource_version, identifier_system, "
      "identifier_value, created_at, state, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
      "'pending', 0, ?, ?)"));
  s->bind(1, e.practice).bind(2, e.referralId).bind(3, e.resourceType).bind(4, e.resourceId).bind(5, e.resourceVersion);
  s->bind(6, e.identifierSystem).bind(7, e.identifierValue).bind(8, e.createdAt).bind(9, e.createdAt).bind(10, e.createdAt);
  s->run();
  return sqlite3_last_insert_rowid(db_.handle());
}

void WriteTxn::updateOutbox(const OutboxEvent& e) {
  sql::StatementUse s(db_.cached(
      "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, last_status = ?, "
      "delivered_at = ?, updated_at = ? WHERE id = ?"));
  s->bind(1, e.state).bind(2, e.attempts).bind(3, e.nextAttemptAt).bind(4, e.lastError).bind(5, e.lastStatus);
  s->bind(6, e.deliveredAt).bind(7, e.updatedAt).bind(8, e.id);
  s->run();
}

int64_t WriteTxn::recoverInFlight(std::string_view now) {
  sql::StatementUse s(db_.cached(
      "UPDATE outbox SET state = 'pending', next_attempt_at = ?, updated_at = ?, last_error = CASE WHEN last_error = '' "
      "THEN 'interrupted (gateway restarted while sending)' ELSE last_error END WHERE state = 'in-flight'"));
  s->bind(1, now).bind(2, now);
  s->run();
  return db_.changes();
}

// --- Store -----------------------------------------------------------------------------

std::unique_ptr<Store> Store::open(const StoreConfig& config, std::string& error) {
  std::unique_ptr<Store> store(new Store(config));
  try {
    std::filesystem::path p(config.path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    store->writer_ = std::make_unique<sql::Database>(config.path, true, false);
    sql::Database& db = *store->writer_;
    std::string mode;
    // The page size of a new database (an existing one keeps its own). Measured: 16 KiB
    // pages write fewer WAL frames but cost the writer more CPU (each savepoint copies
    // whole pages), for no gain in throughput; 4 KiB is the default.
    if (config.pageSize > 0) db.exec("PRAGMA page_size = " + std::to_string(config.pageSize));
    {
      sql::Statement s(db.handle(), "PRAGMA journal_mode = WAL");
      if (s.step()) mode = s.text(0);
    }
    if (mode != "wal") {
      error = "cannot switch " + config.path + " to WAL journal mode (got '" + mode + "')";
      return nullptr;
    }
    const bool pipelined = config.synchronousFull && config.pipelinedSync;
    configureConnection(db, config.synchronousFull && !pipelined);
    db.exec("PRAGMA cache_size = -" + std::to_string(std::max(1, config.writerCacheMiB) * 1024));
    if (config.mmapMiB > 0) db.exec("PRAGMA mmap_size = " + std::to_string(int64_t{config.mmapMiB} << 20));
    // Each job of a group commit runs in a savepoint; its sub-journal (the pages it
    // changed, for ROLLBACK TO) stays in memory instead of a temporary file.
    db.exec("PRAGMA temp_store = MEMORY");
    migrate(db, store->schemaVersion_, config.migrateTo);
    if (pipelined) {
      // The WAL exists now (the migrations opened it); fdatasync through our own
      // descriptor flushes the file whichever descriptor wrote it.
      store->walFd_ = ::open((config.path + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
      if (store->walFd_ < 0) configureConnection(db, true);  // no pipelining: FULL commits
    }
    if (config.checkpointPages > 0) {
      store->checkpointer_ = std::make_unique<sql::Database>(config.path, false, false);
      store->checkpointer_->exec("PRAGMA busy_timeout = 10000");
      configureConnection(*store->checkpointer_, config.synchronousFull && store->walFd_ < 0);
      // Replaces SQLite's automatic checkpoint in the committing thread.
      sqlite3_wal_hook(db.handle(), &Store::walHook, store.get());
    }
  } catch (const std::exception& e) {
    error = e.what();
    return nullptr;
  }
  store->writerThread_ = std::thread([s = store.get()] { s->writerLoop(); });
  if (store->walFd_ >= 0) store->syncThread_ = std::thread([s = store.get()] { s->syncLoop(); });
  if (store->checkpointer_) store->checkpointThread_ = std::thread([s = store.get()] { s->checkpointLoop(); });
  return store;
}

Store::~Store() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  checkpointWanted_.notify_all();
  if (writerThread_.joinable()) writerThread_.join();
  {
    std::lock_guard lock(mutex_);
    syncStop_ = true;
  }
  syncWanted_.notify_all();
  if (syncThread_.joinable()) syncThread_.join();
  if (walFd_ >= 0) ::close(walFd_);
  if (checkpointThread_.joinable()) checkpointThread_.join();
  checkpointer_.reset();
  // The last connection to close checkpoints the WAL into the database file.
}

int Store::walHook(void* self, sqlite3* db, const char* name, int pages) {
  auto* store = static_cast<Store*>(self);
  store->walFrames_ += static_cast<uint64_t>(pages > store->lastWalPages_ ? pages - store->lastWalPages_ : pages);
  store->lastWalPages_ = pages;
  const int threshold = store->config_.checkpointPages;
  if (pages >= threshold) {
    // The background thread has already copied most frames (it started at half the
    // threshold); finishing here, in the committing thread, copies only the newest ones
    // and lets the next transaction start the WAL from the beginning again. Without it a
    // busy gateway would never see the WAL fully checkpointed and the file would grow.
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (pages >= threshold / 2) {
    std::lock_guard lock(store->mutex_);
    if (!store->checkpointDue_) {
      store->checkpointDue_ = true;
      store->checkpointWanted_.notify_one();
    }
  }
  return SQLITE_OK;
}

void Store::checkpointLoop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      checkpointWanted_.wait(lock, [&] { return stopping_ || checkpointDue_; });
      if (stopping_) return;
    }
    // PASSIVE: copies what it can without waiting for readers or blocking the writer.
    // Errors (SQLITE_BUSY when another checkpoint runs) are retried at the next signal.
    int logPages = 0, done = 0;
    sqlite3_wal_checkpoint_v2(checkpointer_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &logPages, &done);
    std::lock_guard lock(mutex_);
    checkpointDue_ = false;
    ++checkpoints_;
  }
}

uint64_t Store::walFrames() const { return walFrames_.load(); }

uint64_t Store::writerCpuMicros() const { return writerCpuNs_.load() / 1000; }

uint64_t Store::checkpoints() const {
  std::lock_guard lock(mutex_);
  return checkpoints_;
}

void Store::write(std::function<void(WriteTxn&)> fn) {
  auto job = std::make_shared<Job>();
  job->fn = std::move(fn);
  {
    std::unique_lock lock(mutex_);
    if (stopping_) throw sql::SqliteError("the store is shutting down", SQLITE_ABORT);
    queue_.push_back(job);
    queued_.notify_one();
    finished_.wait(lock, [&] { return job->done; });
  }
  if (job->error) std::rethrow_exception(job->error);
}

void Store::writeAsync(std::function<void(WriteTxn&)> fn) {
  auto job = std::make_shared<Job>();
  job->fn = std::move(fn);
  job->wait = false;
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  queue_.push_back(std::move(job));
  queued_.notify_one();
}

void Store::writerLoop() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> batch;
    {
      std::unique_lock lock(mutex_);
      // With pipelined syncing, at most one committed batch waits for the sync thread:
      // while it flushes, the next jobs gather into a larger batch (fewer pages written).
      if (walFd_ >= 0) queued_.wait(lock, [&] { return syncQueue_.empty(); });
      queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && batch.size() < config_.maxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    runBatch(batch);
    timespec cpu{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    writerCpuNs_ = static_cast<uint64_t>(cpu.tv_sec) * 1000000000u + static_cast<uint64_t>(cpu.tv_nsec);
    if (walFd_ >= 0) {
      // Answered by the sync thread once the WAL is flushed past this commit.
      {
        std::lock_guard lock(mutex_);
        for (auto& j : batch) syncQueue_.push_back(std::move(j));
      }
      syncWanted_.notify_one();
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      for (auto& j : batch) j->done = true;
    }
    finished_.notify_all();
  }
}

void Store::syncLoop() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> jobs;
    {
      std::unique_lock lock(mutex_);
      syncWanted_.wait(lock, [&] { return syncStop_ || !syncQueue_.empty(); });
      if (syncQueue_.empty() && syncStop_) return;
      jobs.swap(syncQueue_);
    }
    queued_.notify_all();  // the writer may commit the next batch
    // Every batch taken here was committed (its frames written to the WAL) before it was
    // queued, so one flush makes them all durable: a group fsync.
    int rc = ::fdatasync(walFd_);
    std::string why = rc == 0 ? "" : std::strerror(errno);
    {
      std::lock_guard lock(mutex_);
      ++walSyncs_;
      for (auto& j : jobs) {
        if (rc != 0 && !j->error) {
          j->error = std::make_exception_ptr(sql::SqliteError("cannot flush the WAL to disk: " + why, SQLITE_IOERR_FSYNC));
          failed_ = true;
        }
        j->done = true;
      }
    }
    finished_.notify_all();
  }
}

uint64_t Store::walSyncs() const {
  std::lock_guard lock(mutex_);
  return walSyncs_;
}

bool Store::beginBatch(std::vector<std::shared_ptr<Job>>& batch) {
  try {
    writer_->exec("BEGIN IMMEDIATE");
    return true;
  } catch (...) {
    for (auto& j : batch) j->error = std::current_exception();
    std::lock_guard lock(mutex_);
    failed_ = true;
    return false;
  }
}

void Store::commitBatch(std::vector<std::shared_ptr<Job>>& batch, size_t ok) {
  try {
    writer_->exec("COMMIT");
    std::lock_guard lock(mutex_);
    ++commits_;
    committedJobs_ += ok;
    failed_ = false;
  } catch (...) {
    // A failed COMMIT fails every job of the batch.
    auto error = std::current_exception();
    try {
      writer_->exec("ROLLBACK");
    } catch (...) {
    }
    for (auto& j : batch)
      if (!j->error) j->error = error;
    std::lock_guard lock(mutex_);
    failed_ = true;
  }
}

void Store::runBatch(std::vector<std::shared_ptr<Job>>& batch) {
  // Optimistic first: every job straight into one transaction, without savepoints (each
  // savepoint copies the pages its job touches). Jobs almost never fail; when one does,
  // the transaction is rolled back and the batch runs again with a savepoint per job, so
  // the failing job is undone alone. Jobs only read and write through the transaction,
  // so running one again after a rollback is safe.
  if (!beginBatch(batch)) return;
  std::exception_ptr jobError;
  {
    WriteTxn txn(*writer_);
    for (auto& j : batch) {
      try {
        j->fn(txn);
      } catch (...) {
        jobError = std::current_exception();
        break;
      }
    }
  }
  if (!jobError) {
    commitBatch(batch, batch.size());
    return;
  }
  try {
    writer_->exec("ROLLBACK");
  } catch (...) {
  }
  if (batch.size() == 1) {
    batch[0]->error = jobError;
    return;
  }
  runBatchWithSavepoints(batch);
}

void Store::runBatchWithSavepoints(std::vector<std::shared_ptr<Job>>& batch) {
  if (!beginBatch(batch)) return;
  sql::Database& db = *writer_;
  WriteTxn txn(db);
  size_t ok = 0;
  bool broken = false;
  for (auto& j : batch) {
    if (broken) {
      j->error = std::make_exception_ptr(sql::SqliteError("transaction aborted", SQLITE_ABORT));
      continue;
    }
    try {
      db.exec("SAVEPOINT job");
      try {
        j->fn(txn);
        db.exec("RELEASE job");
        ++ok;
      } catch (...) {
        j->error = std::current_exception();
        db.exec("ROLLBACK TO job");
        db.exec("RELEASE job");
      }
    } catch (...) {
      // The savepoint machinery itself failed (disk full, I/O error): give up the batch.
      if (!j->error) j->error = std::current_exception();
      broken = true;
    }
  }
  if (broken) {
    try {
      db.exec("ROLLBACK");
    } catch (...) {
    }
    auto error = std::make_exception_ptr(sql::SqliteError("a savepoint failed; the batch is rolled back", SQLITE_ABORT));
    for (auto& j : batch)
      if (!j->error) j->error = error;
    std::lock_guard lock(mutex_);
    failed_ = true;
    return;
  }
  commitBatch(batch, ok);
}

bool Store::healthy() const {
  std::lock_guard lock(mutex_);
  return !failed_ && !stopping_;
}

uint64_t Store::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

uint64_t Store::committedJobs() const {
  std::lock_guard lock(mutex_);
  return committedJobs_;
}

std::unique_ptr<sql::Database> Store::openReader() {
  auto db = std::make_unique<sql::Database>(config_.path, false, false);
  db->exec("PRAGMA busy_timeout = 10000");
  db->exec("PRAGMA query_only = ON");
  db->exec("PRAGMA cache_size = -" + std::to_string(std::max(1, config_.readerCacheMiB) * 1024));
  if (config_.mmapMiB > 0) db->exec("PRAGMA mmap_size = " + std::to_string(int64_t{config_.mmapMiB} << 20));
  return db;
}

Store::Lease::Lease(Store& s) : store_(s) {
  {
    std::lock_guard lock(s.poolMutex_);
    if (!s.pool_.empty()) {
      db_ = std::move(s.pool_.back());
      s.pool_.pop_back();
    }
  }
  if (!db_) db_ = s.openReader();
}

Store::Lease::~Lease() {
  std::lock_guard lock(store_.poolMutex_);
  if (store_.pool_.size() < store_.config_.readers) store_.pool_.push_back(std::move(db_));
}

}  // namespace hoa::gateway
