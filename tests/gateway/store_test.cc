// The store: migrations, group commit, per-job rollback, the idempotency constraint,
// versions and search.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "gateway/search.h"
#include "gateway/store.h"

namespace hoa::gateway {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hoa-store-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void open() {
    store_.reset();
    std::string error;
    store_ = Store::open({dir_ + "/db.sqlite"}, error);
    ASSERT_TRUE(store_) << error;
  }
  static ResourceWrite resource(const std::string& type, const std::string& id, int version, const std::string& json,
                                const std::string& practice = "900001", const std::string& at = "2026-11-20T10:00:00.000Z") {
    ResourceWrite w;
    w.record = {type, id, version, at, json, practice, false};
    w.index = indexRows(type, json);
    return w;
  }
  static ReferralRow referral(const std::string& id, const std::string& value) {
    ReferralRow r;
    r.id = id;
    r.practice = "900001";
    r.identifierSystem = "urn:x";
    r.identifierValue = value;
    r.taskId = "t-" + id;
    r.status = "received";
    r.receivedAt = "2026-11-20T10:00:00.000Z";
    r.deadline = "2026-12-04";
    r.transport = "rest-create";
    r.modelJson = "{}";
    r.stateJson = "{}";
    r.refsJson = "{}";
    r.updatedAt = r.receivedAt;
    return r;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, MigratesToTheLatestSchemaAndKeepsDataAcrossReopen) {
  EXPECT_EQ(store_->schemaVersion(), latestSchemaVersion());
  store_->write([](WriteTxn& t) { t.put(resource("Patient", "p1", 1, R"({"resourceType":"Patient","id":"p1"})")); });
  open();
  EXPECT_EQ(store_->schemaVersion(), latestSchemaVersion());
  auto r = store_->read([](Queries& q) { return q.current("Patient", "p1"); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 1);
  EXPECT_EQ(r->practice, "900001");
}

TEST_F(StoreTest, UpgradesADatabaseOfSchemaVersion2WithItsData) {
  store_.reset();
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  std::string error;
  StoreConfig old{dir_ + "/db.sqlite"};
  old.migrateTo = 2;
  store_ = Store::open(old, error);
  ASSERT_TRUE(store_) << error;
  ASSERT_EQ(store_->schemaVersion(), 2);
  std::string big(3000, 'x');  // over the old table's in-page limit
  store_->write([&](WriteTxn& t) {
    t.put(resource("Patient", "p1", 1, R"({"resourceType":"Patient","id":"p1"})"));
    t.put(resource("Patient", "p1", 2, R"({"resourceType":"Patient","id":"p1","text":")" + big + R"("})"));
    t.put(resource("Task", "t1", 1, R"({"resourceType":"Task","id":"t1"})"));
  });
  open();
  EXPECT_EQ(store_->schemaVersion(), latestSchemaVersion());
  auto current = store_->read([](Queries& q) { return q.current("Patient", "p1"); });
  ASSERT_TRUE(current);
  EXPECT_EQ(current->version, 2);
  EXPECT_NE(current->json.find(big), std::string::npos);
  auto first = store_->read([](Queries& q) { return q.version("Patient", "p1", 1); });
  ASSERT_TRUE(first);
  EXPECT_EQ(first->json, R"({"resourceType":"Patient","id":"p1"})");
  EXPECT_TRUE(store_->read([](Queries& q) { return q.current("Task", "t1"); }));
  // New versions go on after the upgrade, and the key is still unique.
  store_->write([](WriteTxn& t) { t.put(resource("Patient", "p1", 3, R"({"resourceType":"Patient","id":"p1"})")); });
  EXPECT_ANY_THROW(store_->write(
      [](WriteTxn& t) { t.put(resource("Patient", "p1", 3, R"({"resourceType":"Patient","id":"p1"})")); }));
}

TEST_F(StoreTest, TheWalStaysBoundedUnderContinuousCommits) {
  store_.reset();
  std::string error;
  StoreConfig c{dir_ + "/db.sqlite"};
  c.checkpointPages = 64;  // 256 KB
  store_ = Store::open(c, error);
  ASSERT_TRUE(store_) << error;
  std::string body(2000, 'y');
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        std::string id = "p" + std::to_string(t) + "-" + std::to_string(i);
        store_->write([&](WriteTxn& w) {
          w.put(resource("Patient", id, 1, R"({"resourceType":"Patient","id":")" + id + R"(","x":")" + body + R"("})"));
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(store_->checkpoints(), 0u);
  // 1,200 commits of over 2 KB each went through a WAL that was reset again and again.
  auto wal = fs::file_size(dir_ + "/db.sqlite-wal");
  EXPECT_LT(wal, 2u * 1024 * 1024) << "the WAL grew to " << wal << " bytes";
  auto n = store_->read([](Queries& q) { return q.current("Patient", "p3-299"); });
  EXPECT_TRUE(n);
}

TEST_F(StoreTest, ConcurrentWritersAllCommit) {
  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string id = "p" + std::to_string(t) + "-" + std::to_string(i);
        store_->write([&](WriteTxn& txn) { txn.put(resource("Patient", id, 1, R"({"resourceType":"Patient"})")); });
      }
    });
  for (auto& th : threads) th.join();
  SearchQuery q;
  q.type = "Patient";
  q.count = 0;
  EXPECT_EQ(store_->read([&](Queries& qq) { return qq.search(q); }).total, static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(store_->committedJobs(), static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LE(store_->commits(), store_->committedJobs());
}

TEST_F(StoreTest, AFailingJobRollsBackAloneAndItsErrorReachesTheCaller) {
  std::atomic<bool> go{false};
  std::thread other([&] {
    while (!go) std::this_thread::yield();
    store_->write([](WriteTxn& t) { t.put(resource("Patient", "kept", 1, "{}")); });
  });
  go = true;
  EXPECT_THROW(store_->write([](WriteTxn& t) {
    t.put(resource("Patient", "dropped", 1, "{}"));
    throw std::runtime_error("refused");
  }),
               std::runtime_error);
  other.join();
  EXPECT_FALSE(store_->read([](Queries& q) { return q.current("Patient", "dropped"); }));
  EXPECT_TRUE(store_->read([](Queries& q) { return q.current("Patient", "kept"); }));
}

TEST_F(StoreTest, FailingJobsInBusyBatchesAreUndoneAloneAndTheOthersCommitOnce) {
  // 8 threads x 60 jobs; every 7th job writes and then fails. Batches mix failing and
  // good jobs, so the optimistic pass is rolled back and rerun with savepoints.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        const std::string id = "p" + std::to_string(t) + "-" + std::to_string(i);
        const bool fail = (t * 60 + i) % 7 == 0;
        try {
          store_->write([&](WriteTxn& w) {
            w.put(resource("Patient", id, 1, R"({"resourceType":"Patient","id":")" + id + R"("})"));
            if (fail) throw std::runtime_error("refused " + id);
          });
          EXPECT_FALSE(fail) << id;
        } catch (const std::runtime_error& e) {
          EXPECT_TRUE(fail) << e.what();
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  int present = 0;
  for (int t = 0; t < 8; ++t)
    for (int i = 0; i < 60; ++i) {
      const std::string id = "p" + std::to_string(t) + "-" + std::to_string(i);
      auto r = store_->read([&](Queries& q) { return q.current("Patient", id); });
      EXPECT_EQ(bool(r), (t * 60 + i) % 7 != 0) << id;
      if (r) {
        ++present;
        EXPECT_EQ(r->version, 1);
      }
    }
  EXPECT_EQ(failures.load(), 69);
  EXPECT_EQ(present, 480 - 69);
  EXPECT_EQ(store_->committedJobs(), 480u - 69u);
}

TEST_F(StoreTest, CommitsAreMadeDurableByTheSyncThreadBeforeWritersReturn) {
  // Pipelined: each committed batch is answered after an fdatasync of the WAL, and a
  // flush covers every batch committed before it (at most one per commit).
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::string id = "s" + std::to_string(t) + "-" + std::to_string(i);
        store_->write([&](WriteTxn& w) { w.put(resource("Patient", id, 1, "{}")); });
        // Answered: flushed, and visible to readers.
        EXPECT_TRUE(store_->read([&](Queries& q) { return q.current("Patient", id); })) << id;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_GE(store_->walSyncs(), 1u);
  EXPECT_LE(store_->walSyncs(), store_->commits());
  EXPECT_EQ(store_->committedJobs(), 240u);

  // Without pipelining (synchronous=FULL in the commit itself) there is no sync thread.
  store_.reset();
  StoreConfig c{dir_ + "/db.sqlite"};
  c.pipelinedSync = false;
  std::string error;
  store_ = Store::open(c, error);
  ASSERT_TRUE(store_) << error;
  store_->write([](WriteTxn& w) { w.put(resource("Patient", "plain", 1, "{}")); });
  EXPECT_EQ(store_->walSyncs(), 0u);
  EXPECT_TRUE(store_->read([](Queries& q) { return q.current("Patient", "s5-39"); }));
}

TEST_F(StoreTest, TheReferralIdentifierIsUniquePerPractice) {
  bool first = false, second = true, otherPractice = false;
  store_->write([&](WriteTxn& t) { first = t.insertReferral(referral("r1", "A-1")); });
  store_->write([&](WriteTxn& t) { second = t.insertReferral(referral("r2", "A-1")); });
  ReferralRow b = referral("r3", "A-1");
  b.practice = "900002";
  store_->write([&](WriteTxn& t) { otherPractice = t.insertReferral(b); });
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  EXPECT_TRUE(otherPractice);
  auto found = store_->read([](Queries& q) { return q.referralByIdentifier("900001", "urn:x", "A-1"); });
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, "r1");
}

TEST_F(StoreTest, VersionsMustFollowEachOther) {
  store_->write([](WriteTxn& t) { t.put(resource("Task", "t1", 1, R"({"resourceType":"Task","status":"received"})")); });
  EXPECT_THROW(store_->write([](WriteTxn& t) { t.put(resource("Task", "t1", 3, "{}")); }), sql::SqliteError);
  store_->write([](WriteTxn& t) {
    t.put(resource("Task", "t1", 2, R"({"resourceType":"Task","status":"accepted"})", "900001", "2026-11-21T10:00:00.000Z"));
  });
  auto h = store_->read([](Queries& q) { return q.history("Task", "t1"); });
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].version, 2);
  EXPECT_EQ(h[1].version, 1);
  auto v1 = store_->read([](Queries& q) { return q.version("Task", "t1", 1); });
  ASSERT_TRUE(v1);
  EXPECT_NE(v1->json.find("received"), std::string::npos);
  // The index follows the current version only.
  auto s = parseSearch("Task", {{"status", "received"}}, 10, 10);
  EXPECT_EQ(store_->read([&](Queries& q) { return q.search(s.query); }).total, 0u);
  s = parseSearch("Task", {{"status", "accepted"}}, 10, 10);
  EXPECT_EQ(store_->read([&](Queries& q) { return q.search(s.query); }).total, 1u);
}

TEST_F(StoreTest, SearchByTokenReferenceDateAndPractice) {
  store_->write([](WriteTxn& t) {
    t.put(resource("QuestionnaireResponse", "q1", 1,
                   R"({"resourceType":"QuestionnaireResponse","id":"q1","identifier":{"system":"urn:s","value":"v1"},)"
                   R"("basedOn":[{"reference":"ServiceRequest/sr1"}],"subject":{"reference":"Patient/p1","identifier":{"system":"urn:oid:2.16.578.1.12.4.1.4.1","value":"14838512470"}},)"
                   R"("questionnaire":"https://x/Questionnaire/intake|0.1.0","status":"completed","authored":"2026-11-25T18:40:00+01:00"})"));
    t.put(resource("QuestionnaireResponse", "q2", 1,
                   R"({"resourceType":"QuestionnaireResponse","id":"q2","basedOn":[{"reference":"https://other/fhir/ServiceRequest/sr2/_history/4"}],)"
                   R"("questionnaire":"https://x/Questionnaire/end","status":"in-progress","authored":"2026-12-01"})",
                   "900002"));
  });
  auto count = [&](std::vector<std::pair<std::string, std::string>> params,
                   std::optional<std::vector<std::string>> practices = std::nullopt) {
    SearchRequest s = parseSearch("QuestionnaireResponse", params, 10, 10);
    EXPECT_TRUE(s.error.empty()) << s.error;
    s.query.practices = practices;
    return store_->read([&](Queries& q) { return q.search(s.query); }).total;
  };
  EXPECT_EQ(count({{"identifier", "urn:s|v1"}}), 1u);
  EXPECT_EQ(count({{"identifier", "v1"}}), 1u);
  EXPECT_EQ(count({{"identifier", "urn:other|v1"}}), 0u);
  EXPECT_EQ(count({{"based-on", "ServiceRequest/sr1"}}), 1u);
  EXPECT_EQ(count({{"based-on", "sr2"}}), 1u);  // absolute reference normalised, bare id typed
  EXPECT_EQ(count({{"subject:identifier", "urn:oid:2.16.578.1.12.4.1.4.1|14838512470"}}), 1u);
  EXPECT_EQ(count({{"questionnaire", "https://x/Questionnaire/intake"}}), 1u);
  EXPECT_EQ(count({{"status", "completed,in-progress"}}), 2u);
  EXPECT_EQ(count({{"status", "completed"}, {"based-on", "sr2"}}), 0u);
  // authored 2026-11-25T18:40+01:00; a date without a zone is a Norwegian day.
  EXPECT_EQ(count({{"authored", "2026-11-25"}}), 1u);
  EXPECT_EQ(count({{"authored", "ge2026-11-26"}}), 1u);
  EXPECT_EQ(count({{"authored", "lt2026-11-25"}}), 0u);
  EXPECT_EQ(count({{"authored", "le2026-11-25"}}), 1u);
  EXPECT_EQ(count({{"authored", "ne2026-12-01"}}), 1u);
  EXPECT_EQ(count({}, std::vector<std::string>{"900001"}), 1u);
  EXPECT_EQ(count({}, std::vector<std::string>{}), 0u);
  EXPECT_EQ(count({{"_id", "q2"}}), 1u);
}

TEST(SearchParse, ReportsUnsupportedParametersAndBadValues) {
  SearchRequest s = parseSearch("Task", {{"owner", "x"}, {"status:not", "y"}, {"_count", "5"}}, 20, 100);
  EXPECT_TRUE(s.error.empty());
  EXPECT_EQ(s.ignored, (std::vector<std::string>{"owner", "status:not"}));
  EXPECT_EQ(s.query.count, 5u);
  EXPECT_EQ(parseSearch("Task", {{"_count", "5000"}}, 20, 100).query.count, 100u);
  EXPECT_FALSE(parseSearch("Task", {{"_count", "-1"}}, 20, 100).error.empty());
  EXPECT_FALSE(parseSearch("Task", {{"_lastUpdated", "yesterday"}}, 20, 100).error.empty());
  EXPECT_FALSE(parseSearch("Task", {{"focus", "a/b/c/"}}, 20, 100).error.empty());
  EXPECT_FALSE(parseSearch("Task", {{"identifier", "urn:x|"}}, 20, 100).error.empty());
}

}  // namespace
}  // namespace hoa::gateway
