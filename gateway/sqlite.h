#pragma once
// A thin RAII layer over the SQLite C API: a connection with a cache of prepared
// statements, and a statement with typed bind/column helpers. Errors throw SqliteError
// (the store catches them at its boundary).
//
// The C API is used rather than Poco::Data because the store needs what Poco::Data hides:
// savepoints inside a group-commit transaction, the exact extended error code of a
// UNIQUE violation (idempotency), and prepared statements reused across calls.
//
// Thread-safety: a Database and its statements belong to one thread at a time.
#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hoa::gateway::sql {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }  // the extended result code
  bool isUniqueViolation() const { return code_ == SQLITE_CONSTRAINT_UNIQUE || code_ == SQLITE_CONSTRAINT_PRIMARYKEY; }
  bool isBusy() const { return (code_ & 0xff) == SQLITE_BUSY || (code_ & 0xff) == SQLITE_LOCKED; }

 private:
  int code_;
};

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds by 1-based index; text is copied (SQLITE_TRANSIENT).
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bindNull(int index);
  // Binds text, or NULL when empty.
  Statement& bindOrNull(int index, std::string_view text);

  // Steps once: true when a row is available, false when done. Throws on error.
  bool step();
  // Steps to completion (statements without rows).
  void run();
  // Resets for reuse and clears the bindings.
  void reset();

  std::string text(int column) const;
  std::string_view textView(int column) const;  // valid until the next step/reset
  int64_t int64(int column) const;
  bool isNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a cached statement when the scope ends (also on exceptions).
class StatementUse {
 public:
  explicit StatementUse(Statement& s) : s_(s) {}
  ~StatementUse() { s_.reset(); }
  Statement* operator->() { return &s_; }
  Statement& operator*() { return s_; }

 private:
  Statement& s_;
};

class Database {
 public:
  // Opens (creating when `create`) the file. `readOnly` opens SQLITE_OPEN_READONLY.
  Database(const std::string& path, bool create, bool readOnly);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  // A prepared statement cached by its SQL text; use it through StatementUse.
  Statement& cached(std::string_view sql);
  int64_t changes() const { return sqlite3_changes64(db_); }
  sqlite3* handle() const { return db_; }
  // A single integer from a query (the first column of the first row), or nullopt.
  std::optional<int64_t> queryInt(std::string_view sql);

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> cache_;
};

[[noreturn]] void throwError(sqlite3* db, int rc, std::string_view what);

}  // namespace hoa::gateway::sql
