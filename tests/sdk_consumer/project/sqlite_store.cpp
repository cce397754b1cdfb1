// storage-sqlite: a sample third-party storage plugin (one SQLite database, WAL, synchronous=FULL),
// written against the installed SDK headers only.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <macp/plugin/sdk/storage.hpp>

namespace {

using macp::sdk::Error;

constexpr const char* kDataDirKey = "MACP_DATA_DIR";
constexpr const char* kFileKey = "MACP_SQLITE_FILE";

std::string db_path(const macp::sdk::Config& cfg) {
    const std::string dir = cfg.get_or(kDataDirKey, ".macp-data");
    const std::string file = cfg.get_or(kFileKey, "macp.sqlite");
    if (dir.empty() || file.empty())
        throw Error(MACP_STATUS_INVALID_ARGUMENT, "empty MACP_DATA_DIR or MACP_SQLITE_FILE");
    return file.front() == '/' ? file : dir + "/" + file;
}

void check_record(std::string_view record) {
    if (record.empty() || record.find('\n') != std::string_view::npos) {
        throw Error(MACP_STATUS_INVALID_ARGUMENT, "a record must be non-empty and contain no newline");
    }
}

class Statement {
public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& text(int i, std::string_view v) {
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Statement& blob(int i, std::string_view v) {
        sqlite3_bind_blob(stmt_, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    // true while a row is available.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail("step");
        return false;
    }
    void run() {
        while (step()) {
        }
    }
    std::string_view column(int i) {
        const void* p = sqlite3_column_blob(stmt_, i);
        const int n = sqlite3_column_bytes(stmt_, i);
        return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
    }

private:
    [[noreturn]] void fail(const char* what) {
        throw Error(MACP_STATUS_IO_ERROR, std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_));
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

void make_dirs(const std::string& dir) {
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        const std::string prefix = dir.substr(0, pos);
        if (::mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
            throw Error(MACP_STATUS_IO_ERROR, "mkdir " + prefix + ": " + std::strerror(errno));
        }
    }
}

class SqliteStore {
public:
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::append_log_batch | macp::sdk::op::replace_log |
                                                       macp::sdk::op::health | macp::sdk::op::check_config;

    explicit SqliteStore(const macp::sdk::Config& cfg) : path_(db_path(cfg)), log_(cfg.logger()) {
        make_dirs(cfg.get_or(kDataDirKey, ".macp-data"));
        sqlite3* raw = nullptr;
        if (sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
            const std::string why = raw != nullptr ? sqlite3_errmsg(raw) : "out of memory";
            sqlite3_close(raw);
            throw Error(MACP_STATUS_IO_ERROR, "open " + path_ + ": " + why);
        }
        db_.reset(raw);
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");  // a committed transaction survives power loss
        exec("CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY)");
        exec("CREATE TABLE IF NOT EXISTS snapshots(id TEXT PRIMARY KEY, data BLOB NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS logs(id TEXT, seq INTEGER, data BLOB NOT NULL, PRIMARY KEY(id, seq))");
        exec("CREATE TABLE IF NOT EXISTS records(ns TEXT, key TEXT, data BLOB NOT NULL, PRIMARY KEY(ns, key))");
        log_.info("opened " + path_);
    }

    // No side effects: the database's directory must exist (or be creatable) and be writable.
    static void check_config(const macp::sdk::Config& cfg) {
        const std::string path = db_path(cfg);
        // The nearest existing ancestor of the data directory must let create() make the rest.
        std::string probe = cfg.get_or(kDataDirKey, ".macp-data");
        while (::access(probe.c_str(), F_OK) != 0) {
            const auto slash = probe.find_last_of('/');
            probe = slash == std::string::npos ? "." : slash == 0 ? "/" : probe.substr(0, slash);
        }
        if (::access(probe.c_str(), W_OK | X_OK) != 0) {
            throw Error(MACP_STATUS_IO_ERROR, "cannot create " + path + ": " + probe + ": " + std::strerror(errno));
        }
    }

    void create_session_storage(const std::string& id) {
        Statement(db(), "INSERT OR IGNORE INTO sessions VALUES(?)").text(1, id).run();
    }
    void save_session(const std::string& id, std::string_view snapshot) {
        Statement(db(), "INSERT OR REPLACE INTO snapshots VALUES(?, ?)").text(1, id).blob(2, snapshot).run();
    }
    std::optional<std::string> load_session(const std::string& id) {
        Statement s(db(), "SELECT data FROM snapshots WHERE id = ?");
        s.text(1, id);
        if (!s.step()) return std::nullopt;
        return std::string(s.column(0));
    }
    void delete_session(const std::string& id) {
        Transaction t(*this);
        for (const char* sql : {"DELETE FROM sessions WHERE id = ?", "DELETE FROM snapshots WHERE id = ?",
                                "DELETE FROM logs WHERE id = ?"}) {
            Statement(db(), sql).text(1, id).run();
        }
        t.commit();
    }
    void list_session_ids(const macp::sdk::Emitter& out) {
        Statement s(db(), "SELECT id FROM sessions UNION SELECT id FROM snapshots UNION SELECT id FROM logs");
        while (s.step()) out(s.column(0));
    }
    void append_log_entry(const std::string& id, std::string_view record) {
        check_record(record);
        insert_log(id, record);  // autocommit: durable when it returns (synchronous=FULL)
    }
    void load_log(const std::string& id, const macp::sdk::Emitter& out) {
        Statement s(db(), "SELECT data FROM logs WHERE id = ? ORDER BY seq");
        s.text(1, id);
        while (s.step()) out(s.column(0));
    }
    void put_record(const std::string& ns, const std::string& key, std::string_view blob) {
        Statement(db(), "INSERT OR REPLACE INTO records VALUES(?, ?, ?)").text(1, ns).text(2, key).blob(3, blob).run();
    }
    void delete_record(const std::string& ns, const std::string& key) {
        Statement(db(), "DELETE FROM records WHERE ns = ? AND key = ?").text(1, ns).text(2, key).run();
    }
    void list_records(const std::string& ns, const macp::sdk::Emitter& out) {
        Statement s(db(), "SELECT key, data FROM records WHERE ns = ?");
        s.text(1, ns);
        while (s.step()) {
            out(s.column(0));
            out(s.column(1));
        }
    }

    // One transaction for the whole batch: one sync for every session. Bad items fail alone (and
    // stop their session's later items); if the commit fails, the exception fails every item.
    void append_log_batch(const std::vector<macp::sdk::LogAppend>& items, std::vector<macp_status>& status,
                          const macp::sdk::CallContext& call) {
        std::set<std::string_view> broken;
        Transaction t(*this);
        std::vector<size_t> written;
        for (size_t i = 0; i < items.size(); ++i) {
            if (broken.count(items[i].session_id) != 0) {
                status[i] = MACP_STATUS_INVALID_ARGUMENT;
                continue;
            }
            try {
                check_record(items[i].record);
            } catch (const Error& e) {
                status[i] = e.status();
                broken.insert(items[i].session_id);
                call.note(e.what());
                continue;
            }
            insert_log(std::string(items[i].session_id), items[i].record);
            written.push_back(i);
        }
        t.commit();
        for (const size_t i : written) status[i] = MACP_STATUS_OK;
    }
    void replace_log(const std::string& id, const std::vector<std::string_view>& records) {
        for (const auto r : records) check_record(r);
        Transaction t(*this);
        Statement(db(), "DELETE FROM logs WHERE id = ?").text(1, id).run();
        for (const auto r : records) insert_log(id, r);
        t.commit();
    }
    std::string health() { return "sqlite " + path_ + ": WAL, synchronous=FULL (every acknowledged write is synced)"; }

private:
    struct Close {
        void operator()(sqlite3* db) const { sqlite3_close(db); }
    };
    // Rolls back unless committed.
    class Transaction {
    public:
        explicit Transaction(SqliteStore& s) : s_(s) { s_.exec("BEGIN IMMEDIATE"); }
        ~Transaction() {
            if (!done_) sqlite3_exec(s_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
        }
        Transaction(const Transaction&) = delete;
        Transaction& operator=(const Transaction&) = delete;
        void commit() {
            s_.exec("COMMIT");
            done_ = true;
        }

    private:
        SqliteStore& s_;
        bool done_ = false;
    };

    sqlite3* db() { return db_.get(); }
    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
            const std::string why = err != nullptr ? err : "unknown error";
            sqlite3_free(err);
            throw Error(MACP_STATUS_IO_ERROR, std::string("sqlite ") + sql + ": " + why);
        }
    }
    void insert_log(const std::string& id, std::string_view record) {
        Statement(db(), "INSERT INTO logs VALUES(?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM logs WHERE id = ?1), ?2)")
            .text(1, id)
            .blob(2, record)
            .run();
    }

    std::string path_;
    macp::sdk::Logger log_;
    std::unique_ptr<sqlite3, Close> db_;
};

const macp_config_key kKeys[] = {
    macp::sdk::config_key(kDataDirKey, ".macp-data", "Directory of the database (created if missing)",
                          MACP_CONFIG_PATH),
    macp::sdk::config_key(kFileKey, "macp.sqlite", "Database file, relative to MACP_DATA_DIR unless absolute",
                          MACP_CONFIG_PATH),
};

}  // namespace

// Not flagged thread-safe: one connection, so the runtime serializes calls into the instance.
MACP_STORAGE_PLUGIN(SqliteStore, "sqlite", "1.0.0", "SQLite database (sample third-party plugin)", 0, kKeys)
