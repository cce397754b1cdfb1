#include "storage/migration.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

#include "kernel/records.hpp"
#include "modes/registry.hpp"
#include "policy/registry.hpp"
#include "util/json.hpp"

namespace macp::storage {

namespace fs = std::filesystem;

std::vector<std::string> registry_namespaces() {
    return {modes::kModeNamespace, policy::kPolicyNamespace};
}

// --- Sides --------------------------------------------------------------------------------------

std::string Side::describe() const {
    if (location_key.empty()) return backend;
    return backend + " (" + location_key + "=" + location + ")";
}

std::optional<std::string> location_key(const std::string& backend) {
    if (backend == "file") return "MACP_DATA_DIR";
    if (backend == "rocksdb") return "MACP_ROCKSDB_PATH";
    if (backend == "redis") return "MACP_REDIS_URL";
    return std::nullopt;
}

Result<Side, std::string> resolve_side(const SideSpec& spec, const std::map<std::string, std::string>& shared,
                                       const std::set<std::string>& defaulted) {
    const auto colon = spec.text.find(':');
    Side side;
    side.backend = spec.text.substr(0, colon);
    const bool has_location = colon != std::string::npos;
    const std::string location = has_location ? spec.text.substr(colon + 1) : std::string();
    const auto valid_name = [](const std::string& name) {
        return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
            return std::islower(c) != 0 || std::isdigit(c) != 0 || c == '-' || c == '_';
        });
    };
    if (!valid_name(side.backend)) {
        return fail("'" + spec.text + "' is not BACKEND[:LOCATION] (e.g. file:/var/lib/macp or rocksdb:/var/lib/db)");
    }
    if (side.backend == "memory") {
        return fail(std::string("the memory backend keeps nothing between runs; it cannot be migrated from or to"));
    }
    if (has_location && location.empty()) return fail("'" + spec.text + "': the LOCATION after ':' is empty");
    const auto key = location_key(side.backend);
    if (has_location && !key) {
        return fail("'" + spec.text + "': backend '" + side.backend +
                    "' has no LOCATION shorthand; give its keys with --from-set/--to-set KEY=VALUE");
    }
    side.plugin = "storage-" + side.backend;
    side.settings = shared;
    side.settings["MACP_STORAGE_BACKEND"] = side.backend;
    side.settings.erase("MACP_MEMORY_ONLY");
    for (const auto& [name, value] : spec.extras) {
        if (name.rfind("MACP_", 0) != 0) return fail("'" + name + "=" + value + "': only MACP_* keys can be set");
        side.settings[name] = value;
    }
    if (key && has_location) side.settings[*key] = location;
    const bool own_data_dir = (side.backend == "file" && has_location) || spec.extras.count("MACP_DATA_DIR") != 0;
    const bool own_rocksdb = (side.backend == "rocksdb" && has_location) || spec.extras.count("MACP_ROCKSDB_PATH") != 0;
    if (own_data_dir && !own_rocksdb && defaulted.count("MACP_ROCKSDB_PATH") != 0) {
        side.settings["MACP_ROCKSDB_PATH"] = (fs::path(side.settings["MACP_DATA_DIR"]) / "rocksdb").string();
    }
    if (key) {
        side.location_key = *key;
        side.location = side.settings[*key];
    }
    return side;
}

bool same_store(const Side& from, const Side& to) {
    if (from.backend != to.backend) return false;
    if (from.location_key.empty()) return from.settings == to.settings;
    if (from.location_key == "MACP_REDIS_URL") return from.location == to.location;
    std::error_code ea;
    std::error_code eb;
    const auto a = fs::weakly_canonical(from.location, ea);
    const auto b = fs::weakly_canonical(to.location, eb);
    return (ea || eb) ? from.location == to.location : a == b;
}

// --- Sources ------------------------------------------------------------------------------------

namespace {

class BackendSource final : public MigrationSource {
public:
    BackendSource(StorageBackend& backend, std::string description)
        : backend_(backend), description_(std::move(description)) {}

    [[nodiscard]] std::string describe() const override { return description_; }

    Result<std::vector<std::string>, std::string> session_ids() override {
        auto ids = backend_.list_session_ids();
        if (!ids) return fail("cannot list sessions: " + ids.error().message);
        std::sort(ids->begin(), ids->end());
        return std::move(ids.value());
    }

    Result<SessionData, std::string> session(const std::string& id) override {
        SessionData out;
        out.id = id;
        auto log = backend_.load_log(id);
        if (!log) return fail("cannot read its log: " + log.error().message);
        out.log = std::move(log.value());
        auto snapshot = backend_.load_session(id);
        if (!snapshot) return fail("cannot read its snapshot: " + snapshot.error().message);
        out.snapshot = std::move(snapshot.value());
        return out;
    }

    Result<std::vector<std::pair<std::string, std::string>>, std::string> records(const std::string& ns) override {
        auto r = backend_.list_records(ns);
        if (!r) return fail("cannot list records of namespace '" + ns + "': " + r.error().message);
        std::sort(r->begin(), r->end());
        return std::move(r.value());
    }

private:
    StorageBackend& backend_;
    std::string description_;
};

Result<std::optional<std::string>, std::string> read_file(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::optional<std::string>();
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot open " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return fail("cannot read " + path.string());
    return std::optional<std::string>(text.str());
}

// Reads `path` as a JSON object (absent file: nullopt).
Result<bool, std::string> read_object(const fs::path& path, rapidjson::Document& doc) {
    auto text = read_file(path);
    if (!text) return fail(text.error());
    if (!text->has_value()) return false;
    if (!util::parse_json_stored(**text, doc)) return fail(path.string() + " is not valid JSON");
    if (!doc.IsObject()) return fail(path.string() + " is not a JSON object (session id -> value)");
    return true;
}

class LegacySource final : public MigrationSource {
public:
    explicit LegacySource(fs::path dir) : dir_(std::move(dir)) {}

    Result<void, std::string> load() {
        rapidjson::Document sessions;
        rapidjson::Document logs;
        auto has_sessions = read_object(dir_ / "sessions.json", sessions);
        if (!has_sessions) return fail(has_sessions.error());
        auto has_logs = read_object(dir_ / "logs.json", logs);
        if (!has_logs) return fail(has_logs.error());
        if (*has_sessions) {
            for (auto it = sessions.MemberBegin(); it != sessions.MemberEnd(); ++it) {
                Entry& e = entries_[std::string(it->name.GetString(), it->name.GetStringLength())];
                if (it->value.IsString()) {
                    e.data.snapshot = std::string(it->value.GetString(), it->value.GetStringLength());
                } else if (it->value.IsObject()) {
                    e.data.snapshot = util::to_json(it->value);
                } else {
                    e.problem = "its sessions.json entry is not a JSON object";
                }
            }
        }
        if (*has_logs) {
            for (auto it = logs.MemberBegin(); it != logs.MemberEnd(); ++it) {
                Entry& e = entries_[std::string(it->name.GetString(), it->name.GetStringLength())];
                e.has_log = true;
                if (!it->value.IsArray()) {
                    e.problem = "its logs.json entry is not an array of log entries";
                    continue;
                }
                size_t n = 0;
                for (const auto& entry : it->value.GetArray()) {
                    ++n;
                    if (!entry.IsObject()) {
                        e.problem = "log entry " + std::to_string(n) + " is not a JSON object";
                        break;
                    }
                    e.data.log.push_back(util::to_json(entry));
                }
            }
        }
        for (auto& [id, e] : entries_) {
            e.data.id = id;
            if (e.problem.empty() && !e.has_log)
                e.problem = "it has a snapshot in sessions.json but no log in logs.json";
        }
        return {};
    }

    [[nodiscard]] std::string describe() const override {
        return "reference legacy layout in " + dir_.string() + " (sessions.json/logs.json)";
    }

    Result<std::vector<std::string>, std::string> session_ids() override {
        std::vector<std::string> ids;
        ids.reserve(entries_.size());
        for (const auto& [id, e] : entries_) ids.push_back(id);
        return ids;
    }

    Result<SessionData, std::string> session(const std::string& id) override {
        const auto found = entries_.find(id);
        if (found == entries_.end()) return fail(std::string("not in the source"));
        if (!found->second.problem.empty()) return fail(found->second.problem);
        return found->second.data;
    }

    // The legacy layout predates the keyed registry records.
    Result<std::vector<std::pair<std::string, std::string>>, std::string> records(const std::string&) override {
        return std::vector<std::pair<std::string, std::string>>{};
    }

private:
    struct Entry {
        SessionData data;
        bool has_log = false;
        std::string problem;
    };
    fs::path dir_;
    std::map<std::string, Entry> entries_;
};

}  // namespace

std::unique_ptr<MigrationSource> backend_source(StorageBackend& backend, std::string description) {
    return std::make_unique<BackendSource>(backend, std::move(description));
}

DirLayout inspect_data_dir(const fs::path& dir) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) return DirLayout::Missing;
    if (!fs::is_directory(dir, ec)) return DirLayout::Unknown;
    if (fs::is_empty(dir, ec)) return DirLayout::Empty;
    const bool legacy = fs::exists(dir / "sessions.json", ec) || fs::exists(dir / "logs.json", ec);
    const bool current = fs::exists(dir / "storage_version.json", ec) || fs::is_directory(dir / "sessions", ec);
    if (legacy && current) {
        // The reference leaves sessions/ in place after it split the legacy files; an empty
        // sessions/ next to legacy files is the legacy layout.
        const auto sessions = dir / "sessions";
        const bool has_sessions = fs::is_directory(sessions, ec) && !fs::is_empty(sessions, ec);
        return has_sessions ? DirLayout::Mixed : DirLayout::Legacy;
    }
    if (legacy) return DirLayout::Legacy;
    if (current) return DirLayout::Current;
    return DirLayout::Unknown;
}

std::string describe_layout(DirLayout layout) {
    switch (layout) {
        case DirLayout::Missing: return "does not exist";
        case DirLayout::Empty: return "is empty";
        case DirLayout::Legacy: return "holds the legacy sessions.json/logs.json layout";
        case DirLayout::Current: return "holds the current (v3) layout";
        case DirLayout::Mixed:
            return "holds both the legacy sessions.json/logs.json files and sessions in sessions/; move one away";
        case DirLayout::Unknown:
            return "is not a MACP data directory (no storage_version.json, sessions/, sessions.json or logs.json)";
    }
    return "?";
}

Result<std::unique_ptr<MigrationSource>, std::string> legacy_file_source(const fs::path& dir) {
    auto source = std::make_unique<LegacySource>(dir);
    if (auto loaded = source->load(); !loaded) return fail(loaded.error());
    return std::unique_ptr<MigrationSource>(std::move(source));
}

std::optional<std::string> check_session(const SessionData& session) {
    if (session.log.empty()) return std::nullopt;
    bool checkpoint = false;
    for (size_t i = 0; i < session.log.size(); ++i) {
        auto e = kernel::decode_entry(session.log[i]);
        if (!e) return "log record " + std::to_string(i + 1) + " does not decode: " + e.error();
        if (e->kind == kernel::EntryKind::Checkpoint) {
            checkpoint = true;
            if (auto snap = kernel::decode_snapshot(e->payload, false); !snap) {
                return "the checkpoint at log record " + std::to_string(i + 1) +
                       " is not a snapshot this runtime reads: " + snap.error();
            }
        }
    }
    auto first = kernel::decode_entry(session.log.front());
    const bool starts = first->kind == kernel::EntryKind::Incoming && first->message_type == "SessionStart";
    if (!checkpoint && !starts) return std::string("its log does not begin with a SessionStart");
    if (!checkpoint && first->mode.empty()) return std::string("its SessionStart names no mode");
    return std::nullopt;
}

// --- Copy ---------------------------------------------------------------------------------------

namespace {

Status write_log(StorageBackend& target, const std::string& id, const std::vector<std::string>& log, size_t batch) {
    if (target.supports_replace_log()) return target.replace_log(id, log);
    std::vector<LogAppend> items;
    for (size_t start = 0; start < log.size(); start += batch) {
        items.clear();
        for (size_t i = start; i < std::min(log.size(), start + batch); ++i) items.push_back({id, log[i]});
        for (auto& status : target.append_log_batch(items)) {
            if (!status) return status;
        }
    }
    return {};
}

std::string copy_session(StorageBackend& target, const SessionData& s, bool replace, size_t batch) {
    if (replace) {
        if (auto st = target.delete_session(s.id); !st) return "cannot remove the target's copy: " + st.error().message;
    }
    if (auto st = target.create_session_storage(s.id); !st) return "cannot create it: " + st.error().message;
    if (auto st = write_log(target, s.id, s.log, batch); !st) return "cannot write its log: " + st.error().message;
    if (s.snapshot) {
        if (auto st = target.save_session(s.id, *s.snapshot); !st) {
            return "cannot write its snapshot: " + st.error().message;
        }
    }
    return {};
}

}  // namespace

MigrationReport migrate(MigrationSource& source, StorageBackend& target, const MigrationOptions& options) {
    return migrate(
        source, [&target]() -> Result<StorageBackend*, std::string> { return &target; }, options);
}

MigrationReport migrate(MigrationSource& source, const TargetOpener& open_target, const MigrationOptions& options) {
    MigrationReport report;
    report.source = source.describe();

    auto ids = source.session_ids();
    if (!ids) {
        report.errors.push_back("source: " + ids.error());
        return report;
    }
    report.source_sessions = ids->size();
    // Pass 1: which sessions convert. Nothing is written, and the target not even opened, unless
    // every session can be copied (or the operator accepted leaving the unconvertible ones behind).
    std::vector<std::string> convertible;
    for (const auto& id : *ids) {
        auto s = source.session(id);
        std::optional<std::string> why = s ? check_session(*s) : std::optional<std::string>(s.error());
        if (why) {
            report.unconvertible.push_back({id, *why});
        } else {
            convertible.push_back(id);
        }
    }
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> records;
    for (const auto& ns : options.namespaces) {
        auto r = source.records(ns);
        if (!r) {
            report.errors.push_back("source: " + r.error());
            return report;
        }
        records.emplace_back(ns, std::move(r.value()));
    }
    if (!report.unconvertible.empty() && !options.skip_unconvertible) {
        report.errors.push_back("nothing was written: " + std::to_string(report.unconvertible.size()) +
                                " sessions cannot be converted (listed above); pass --skip-unconvertible to "
                                "migrate the others without them");
        return report;
    }

    auto opened = open_target();
    if (!opened) {
        report.errors.push_back("cannot open the target: " + opened.error());
        return report;
    }
    StorageBackend& target = **opened;
    report.target = target.name();
    auto repairs = target.recover();
    if (!repairs) {
        report.errors.push_back("target recovery failed: " + repairs.error().message);
        return report;
    }
    report.target_repairs = std::move(repairs.value());
    auto existing = target.list_session_ids();
    if (!existing) {
        report.errors.push_back("cannot list the target's sessions: " + existing.error().message);
        return report;
    }
    std::set<std::string> in_target(existing->begin(), existing->end());
    report.target_sessions_before = in_target.size();
    std::vector<std::string> holding;
    if (!in_target.empty()) holding.push_back(std::to_string(in_target.size()) + " sessions");
    for (const auto& ns : options.namespaces) {
        auto r = target.list_records(ns);
        if (!r) {
            report.errors.push_back("cannot list the target's records of '" + ns + "': " + r.error().message);
            return report;
        }
        if (!r->empty()) holding.push_back(std::to_string(r->size()) + " " + ns + " records");
    }
    if (!holding.empty() && !options.force) {
        std::string what;
        for (const auto& h : holding) what += (what.empty() ? "" : ", ") + h;
        report.refused = true;
        report.errors.push_back("the target is not empty (" + what +
                                "); refusing to write into it (pass --force to merge, replacing sessions "
                                "and records with the same ids)");
        return report;
    }

    // Pass 2: copy.
    for (const auto& id : convertible) {
        auto s = source.session(id);
        if (!s) {
            report.errors.push_back("session " + id + ": " + s.error());
            continue;
        }
        if (auto problem = copy_session(target, *s, in_target.count(id) != 0, options.batch); !problem.empty()) {
            report.errors.push_back("session " + id + ": " + problem);
            continue;
        }
        ++report.sessions_copied;
        report.log_records += s->log.size();
        if (s->snapshot) ++report.snapshots;
    }
    for (const auto& [ns, list] : records) {
        size_t& count = report.records[ns];
        for (const auto& [key, blob] : list) {
            if (auto st = target.put_record(ns, key, blob); !st) {
                report.errors.push_back("record " + ns + "/" + key + ": " + st.error().message);
            } else {
                ++count;
            }
        }
    }
    if (auto st = target.flush(); !st) report.errors.push_back("flush: " + st.error().message);
    return report;
}

void verify(MigrationSource& source, StorageBackend& target, const MigrationOptions& options, MigrationReport& report) {
    const size_t errors_before = report.errors.size();
    const auto error = [&](std::string text) { report.errors.push_back("verify: " + std::move(text)); };
    std::set<std::string> skipped;
    for (const auto& u : report.unconvertible) skipped.insert(u.session_id);
    auto listed = target.list_session_ids();
    if (!listed) return error("cannot list the target's sessions: " + listed.error().message);
    const std::set<std::string> in_target(listed->begin(), listed->end());
    auto ids = source.session_ids();
    if (!ids) return error("source: " + ids.error());
    size_t sessions = 0;
    size_t log_records = 0;
    size_t snapshots = 0;
    for (const auto& id : *ids) {
        if (skipped.count(id) != 0) continue;
        auto s = source.session(id);
        if (!s) {
            error("session " + id + ": source: " + s.error());
            continue;
        }
        if (in_target.count(id) == 0) {
            error("session " + id + " is not listed by the target");
            continue;
        }
        auto log = target.load_log(id);
        if (!log) {
            error("session " + id + ": cannot read its log back: " + log.error().message);
            continue;
        }
        if (log->size() != s->log.size()) {
            error("session " + id + ": the target holds " + std::to_string(log->size()) + " log records, the source " +
                  std::to_string(s->log.size()));
            continue;
        }
        for (size_t i = 0; i < log->size(); ++i) {
            if ((*log)[i] != s->log[i]) {
                error("session " + id + ": log record " + std::to_string(i + 1) + " differs");
                break;
            }
        }
        auto snapshot = target.load_session(id);
        if (!snapshot) {
            error("session " + id + ": cannot read its snapshot back: " + snapshot.error().message);
            continue;
        }
        if (*snapshot != s->snapshot) error("session " + id + ": the snapshot differs");
        ++sessions;
        log_records += log->size();
        if (snapshot->has_value()) ++snapshots;
    }
    if (sessions != report.sessions_copied) {
        error(std::to_string(sessions) + " sessions read back, " + std::to_string(report.sessions_copied) + " copied");
    }
    if (log_records != report.log_records || snapshots != report.snapshots) {
        error(std::to_string(log_records) + " log records and " + std::to_string(snapshots) + " snapshots read back, " +
              std::to_string(report.log_records) + " and " + std::to_string(report.snapshots) + " copied");
    }
    for (const auto& ns : options.namespaces) {
        auto want = source.records(ns);
        auto got = target.list_records(ns);
        if (!want || !got) {
            error("cannot compare namespace '" + ns + "'");
            continue;
        }
        const std::map<std::string, std::string> have(got->begin(), got->end());
        for (const auto& [key, blob] : *want) {
            const auto found = have.find(key);
            if (found == have.end()) {
                error("record " + ns + "/" + key + " is missing from the target");
            } else if (found->second != blob) {
                error("record " + ns + "/" + key + " differs");
            }
        }
    }
    report.verified = report.errors.size() == errors_before;
}

std::string render(const MigrationReport& r) {
    std::ostringstream out;
    out << "storage migration\n  from: " << r.source << "\n  to:   " << r.target << "\n";
    if (r.target_sessions_before > 0) {
        out << "  target already held " << r.target_sessions_before << " sessions (--force)\n";
    }
    for (const auto& repair : r.target_repairs) out << "  target repair: " << repair << "\n";
    out << "  sessions in source:     " << r.source_sessions << "\n"
        << "  sessions copied:        " << r.sessions_copied << "\n"
        << "  log records copied:     " << r.log_records << "\n"
        << "  snapshots copied:       " << r.snapshots << "\n";
    for (const auto& [ns, n] : r.records) out << "  " << ns << " records copied: " << n << "\n";
    out << "  unconvertible sessions: " << r.unconvertible.size() << "\n";
    for (const auto& u : r.unconvertible) out << "    " << u.session_id << ": " << u.reason << "\n";
    for (const auto& e : r.errors) out << "  ERROR: " << e << "\n";
    if (r.verified) {
        out << "  verified: the target was read back and matches the source\n";
    } else {
        out << "  NOT verified\n";
    }
    return out.str();
}

int exit_code(const MigrationReport& r, const MigrationOptions& options) {
    if (!r.errors.empty() || r.refused || !r.verified) return 1;
    if (!r.unconvertible.empty() && !options.skip_unconvertible) return 1;
    return 0;
}

}  // namespace macp::storage
