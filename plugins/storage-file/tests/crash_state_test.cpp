// Power-loss crash states: a deterministic workload runs through FileStorage on CrashFs, the
// machine "crashes" after every possible number of mutating syscalls, and for each crash point
// several disk images are built from what could have survived (only synced state, everything,
// torn or zero-filled unsynced appends, per-directory mixes). A new FileStorage must open each
// image, recover() it, and then hold exactly what was acknowledged:
//   * every session's log is its acknowledged records, in order, each once, followed at most by
//     a prefix of the records of the one call that was in flight at the crash;
//   * snapshots and registry records hold the last acknowledged value, or the in-flight one;
//   * an acknowledged delete stays deleted, an acknowledged create stays listed;
//   * recovery never fails, a second recover() finds nothing left to repair, and new appends
//     land right after the recovered records.
// Recovery itself is crashed too, at each of its syscalls, for one image per crash point.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>

#include "crash_fs.hpp"
#include "test_support.hpp"

namespace macp::storage_file::testing {
namespace {

const std::string kDataDir = "/var/lib/macp/data";

struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

struct Op {
    enum Kind { create, append, batch, save, put, del_record, replace, del_session } kind = append;
    std::string session;
    std::string value;                                       // record, snapshot or blob
    std::vector<std::pair<std::string, std::string>> items;  // batch: (session, record)
    std::vector<std::string> records;                        // replace_log
    std::string ns, key;
};

std::string describe(const Op& op) {
    std::ostringstream out;
    switch (op.kind) {
        case Op::create: out << "create_session_storage(" << op.session << ")"; break;
        case Op::append: out << "append_log_entry(" << op.session << ", " << op.value << ")"; break;
        case Op::batch:
            out << "append_log_batch(";
            for (const auto& [s, r] : op.items) out << "[" << s << ", " << r << "] ";
            out << ")";
            break;
        case Op::save: out << "save_session(" << op.session << ", " << op.value << ")"; break;
        case Op::put: out << "put_record(" << op.ns << ", " << op.key << ", " << op.value << ")"; break;
        case Op::del_record: out << "delete_record(" << op.ns << ", " << op.key << ")"; break;
        case Op::replace: out << "replace_log(" << op.session << ", " << op.records.size() << " records)"; break;
        case Op::del_session: out << "delete_session(" << op.session << ")"; break;
    }
    return out.str();
}

const std::vector<std::string> kSessions = {"crash-session-aaaaaaaaaaaa", "crash-session-bbbbbbbbbbbb",
                                            "crash-session-cccccccccccc", "crash-session-dddddddddddd",
                                            "crash-session-eeeeeeeeeeee"};
const std::vector<std::string> kNamespaces = {"policy", "ext.modes/v1"};
const std::vector<std::string> kKeys = {"k1", "k2", "a/b c"};

std::vector<Op> make_workload(uint64_t seed, int count) {
    Rng rng{seed};
    int serial = 0;
    auto filler = [&] {
        static const char* const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789{}\":,";
        std::string s;
        const size_t len = 1 + rng.below(40);
        for (size_t i = 0; i < len; ++i) s += alphabet[rng.below(41)];
        return s;
    };
    auto record = [&](const std::string& sid) {
        return "{\"s\":\"" + sid.substr(sid.size() - 2) + "\",\"n\":" + std::to_string(++serial) + ",\"p\":\"" +
               filler() + "\"}";
    };
    auto any_session = [&] { return kSessions[rng.below(kSessions.size())]; };

    std::vector<Op> ops;
    for (size_t i = 0; i < 3; ++i) ops.push_back(Op{Op::create, kSessions[i], {}, {}, {}, {}, {}});
    for (int n = 0; n < count; ++n) {
        Op op;
        const size_t r = rng.below(100);
        if (r < 28) {
            op.kind = Op::append;
            op.session = any_session();
            op.value = record(op.session);
        } else if (r < 48) {
            // Several sessions, 1-3 records each, interleaved; each session's records in order.
            op.kind = Op::batch;
            std::vector<std::string> chosen = kSessions;
            for (size_t i = chosen.size(); i > 1; --i) std::swap(chosen[i - 1], chosen[rng.below(i)]);
            chosen.resize(2 + rng.below(3));
            std::vector<std::string> slots;
            for (const auto& s : chosen) {
                for (size_t k = 1 + rng.below(3); k > 0; --k) slots.push_back(s);
            }
            for (size_t i = slots.size(); i > 1; --i) std::swap(slots[i - 1], slots[rng.below(i)]);
            for (const auto& s : slots) op.items.emplace_back(s, record(s));
        } else if (r < 54) {
            op.kind = Op::batch;  // one session: the fdatasync path
            const std::string s = any_session();
            for (size_t k = 1 + rng.below(3); k > 0; --k) op.items.emplace_back(s, record(s));
        } else if (r < 64) {
            op.kind = Op::save;
            op.session = any_session();
            op.value = "{\"snapshot\":" + std::to_string(++serial) + ",\"x\":\"" + filler() + "\"}";
        } else if (r < 72) {
            op.kind = Op::put;
            op.ns = kNamespaces[rng.below(kNamespaces.size())];
            op.key = kKeys[rng.below(kKeys.size())];
            op.value = "blob-" + std::to_string(++serial) + "-" + filler();
        } else if (r < 76) {
            op.kind = Op::del_record;
            op.ns = kNamespaces[rng.below(kNamespaces.size())];
            op.key = kKeys[rng.below(kKeys.size())];
        } else if (r < 81) {
            op.kind = Op::replace;
            op.session = any_session();
            for (size_t k = rng.below(4); k > 0; --k) op.records.push_back("compacted-" + record(op.session));
        } else if (r < 85) {
            op.kind = Op::del_session;
            op.session = any_session();
        } else if (r < 91) {
            op.kind = Op::create;
            op.session = any_session();
        } else {
            op.kind = Op::append;  // creates and appends weigh more toward the end
            op.session = kSessions[rng.below(kSessions.size())];
            op.value = record(op.session);
        }
        ops.push_back(std::move(op));
    }
    return ops;
}

// What the workload did: how far it got, and which items were acknowledged.
struct Run {
    bool constructed = false;
    size_t ops_run = 0;                    // ops attempted, including the one in flight
    std::vector<std::vector<bool>> acked;  // per op, per item (one item for non-batch ops)
    std::vector<std::string> unexpected;   // exceptions other than sdk::Error
};

Run run_workload(const std::shared_ptr<CrashFs>& fs, const std::vector<Op>& ops, const JournalOptions& journal) {
    Run run;
    std::unique_ptr<FileStorage> store;
    try {
        store = open_store(fs, kDataDir, journal);
    } catch (const sdk::Error&) {
        return run;
    }
    run.constructed = true;
    for (const Op& op : ops) {
        ++run.ops_run;
        std::vector<bool> acked;
        try {
            switch (op.kind) {
                case Op::batch: {
                    const auto status = append_batch(*store, op.items);
                    for (const macp_status st : status) acked.push_back(st == MACP_STATUS_OK);
                    break;
                }
                case Op::create:
                    acked.push_back(attempt([&] { store->create_session_storage(op.session); }).ok());
                    break;
                case Op::append:
                    acked.push_back(attempt([&] { store->append_log_entry(op.session, op.value); }).ok());
                    break;
                case Op::save: acked.push_back(attempt([&] { store->save_session(op.session, op.value); }).ok()); break;
                case Op::put: acked.push_back(attempt([&] { store->put_record(op.ns, op.key, op.value); }).ok()); break;
                case Op::del_record: acked.push_back(attempt([&] { store->delete_record(op.ns, op.key); }).ok()); break;
                case Op::replace: {
                    const std::vector<std::string_view> views(op.records.begin(), op.records.end());
                    acked.push_back(attempt([&] { store->replace_log(op.session, views); }).ok());
                    break;
                }
                case Op::del_session: acked.push_back(attempt([&] { store->delete_session(op.session); }).ok()); break;
            }
        } catch (const std::exception& e) {
            run.unexpected.push_back(describe(op) + ": " + e.what());
            acked.assign(std::max<size_t>(1, op.items.size()), false);
        }
        run.acked.push_back(std::move(acked));
        if (fs->crashed()) break;
        // Without a crash every op must succeed: the workload is valid.
        for (const bool ok : run.acked.back()) {
            if (!ok) run.unexpected.push_back(describe(op) + " failed without a crash");
        }
    }
    return run;
}

// The acknowledged state, plus the one call that was in flight when the machine died.
struct Model {
    struct Session {
        std::vector<std::string> log;
        std::optional<std::string> snapshot;
        bool exists = false;
    };
    std::map<std::string, Session> sessions;
    std::map<std::string, std::map<std::string, std::string>> registry;
    const Op* in_flight = nullptr;
    std::vector<bool> in_flight_acked;
};

Model build_model(const std::vector<Op>& ops, const Run& run) {
    Model m;
    if (!run.constructed) return m;
    for (size_t i = 0; i < run.ops_run; ++i) {
        const Op& op = ops[i];
        const std::vector<bool>& acked = run.acked[i];
        const bool all = std::all_of(acked.begin(), acked.end(), [](bool b) { return b; });
        if (op.kind == Op::batch) {
            for (size_t k = 0; k < op.items.size(); ++k) {
                if (!acked[k]) continue;
                auto& s = m.sessions[op.items[k].first];
                s.log.push_back(op.items[k].second);
                s.exists = true;
            }
        } else if (all) {
            auto& s = m.sessions[op.session];
            switch (op.kind) {
                case Op::create: s.exists = true; break;
                case Op::append:
                    s.log.push_back(op.value);
                    s.exists = true;
                    break;
                case Op::save:
                    s.snapshot = op.value;
                    s.exists = true;
                    break;
                case Op::replace:
                    s.log = op.records;
                    s.exists = true;
                    break;
                case Op::del_session: s = Model::Session{}; break;
                case Op::put: m.registry[op.ns][op.key] = op.value; break;
                case Op::del_record: m.registry[op.ns].erase(op.key); break;
                case Op::batch: break;
            }
        }
        if (!all) {
            m.in_flight = &op;
            m.in_flight_acked = acked;
        }
    }
    return m;
}

template <class T>
std::string show(const std::vector<T>& v) {
    std::ostringstream out;
    out << "[";
    for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
    out << "]";
    return out.str();
}

std::string show(const std::optional<std::string>& v) {
    return v ? "\"" + *v + "\"" : "(none)";
}

// Empty if `store` holds a state the model allows; otherwise what is wrong.
std::string check_state(FileStorage& store, const Model& m) {
    const Op* f = m.in_flight;
    const auto listed_v = session_ids(store);
    const std::set<std::string> listed(listed_v.begin(), listed_v.end());
    if (listed.size() != listed_v.size()) return "list_session_ids reports a session twice: " + show(listed_v);

    for (const std::string& sid : kSessions) {
        const auto it = m.sessions.find(sid);
        const Model::Session s = it == m.sessions.end() ? Model::Session{} : it->second;
        const bool touched =
            f != nullptr && (f->session == sid || std::any_of(f->items.begin(), f->items.end(),
                                                              [&](const auto& p) { return p.first == sid; }));

        std::vector<std::vector<std::string>> logs{s.log};
        std::vector<std::optional<std::string>> snaps{s.snapshot};
        if (touched) {
            switch (f->kind) {
                case Op::append:
                    logs.push_back(s.log);
                    logs.back().push_back(f->value);
                    break;
                case Op::batch: {
                    std::vector<std::string> prefix = s.log;
                    for (size_t k = 0; k < f->items.size(); ++k) {
                        if (f->items[k].first != sid || m.in_flight_acked[k]) continue;
                        prefix.push_back(f->items[k].second);
                        logs.push_back(prefix);
                    }
                    break;
                }
                case Op::replace: logs.push_back(f->records); break;
                case Op::save: snaps.push_back(f->value); break;
                case Op::del_session:
                    logs.emplace_back();
                    snaps.emplace_back();
                    break;
                default: break;
            }
        }
        const auto log = load_log(store, sid);
        if (std::find(logs.begin(), logs.end(), log) == logs.end()) {
            std::string allowed;
            for (const auto& l : logs) allowed += "\n    " + show(l);
            return "session " + sid + ": log " + show(log) + " is none of the allowed:" + allowed;
        }
        const auto snap = store.load_session(sid);
        if (std::find(snaps.begin(), snaps.end(), snap) == snaps.end()) {
            return "session " + sid + ": snapshot " + show(snap) + ", expected " + show(s.snapshot) +
                   (touched ? " or the in-flight value" : "");
        }
        const bool is_listed = listed.count(sid) != 0;
        const bool may_vanish = touched && f->kind == Op::del_session;
        const bool may_appear = touched && f->kind != Op::del_session;
        if (s.exists && !is_listed && !may_vanish) return "session " + sid + " was acknowledged but is not listed";
        if (!s.exists && is_listed && !may_appear)
            return "session " + sid + " is listed but was never acknowledged (or was deleted)";
    }
    for (const std::string& sid : listed) {
        if (std::find(kSessions.begin(), kSessions.end(), sid) == kSessions.end())
            return "unknown session listed: " + sid;
    }

    for (const std::string& ns : kNamespaces) {
        const auto records = list_records(store, ns);
        const auto mit = m.registry.find(ns);
        const std::map<std::string, std::string> expected =
            mit == m.registry.end() ? std::map<std::string, std::string>{} : mit->second;
        for (const std::string& key : kKeys) {
            const auto e = expected.find(key);
            const auto a = records.find(key);
            const std::optional<std::string> want = e == expected.end() ? std::nullopt : std::optional(e->second);
            const std::optional<std::string> got = a == records.end() ? std::nullopt : std::optional(a->second);
            if (got == want) continue;
            if (f != nullptr && f->ns == ns && f->key == key) {
                if (f->kind == Op::put && got == f->value) continue;
                if (f->kind == Op::del_record && !got) continue;
            }
            return "record " + ns + "/" + key + ": " + show(got) + ", expected " + show(want);
        }
        if (records.size() > kKeys.size()) return "unknown records in " + ns;
    }
    return {};
}

// Opens, recovers and checks one crash image, then checks that the store works on from there.
std::string check_image(const std::shared_ptr<CrashFs>& image, const Model& m, const JournalOptions& journal) {
    try {
        auto store = open_store(image, kDataDir, journal);
        recover(*store);
        if (auto problem = check_state(*store, m); !problem.empty()) return problem;
        if (const auto again = recover(*store); !again.empty()) return "second recover() still repairs: " + again[0];

        // Life goes on: one more record per session lands right after the recovered ones.
        std::map<std::string, std::vector<std::string>> before;
        std::vector<std::pair<std::string, std::string>> items;
        for (const std::string& sid : kSessions) {
            before[sid] = load_log(*store, sid);
            items.emplace_back(sid, "after-crash-" + sid);
        }
        Outcome call;
        append_batch(*store, items, &call);
        if (!call.ok()) return "append after recovery failed: " + call.message;
        store->append_log_entry(kSessions[0], "after-crash-2");
        before[kSessions[0]].push_back("after-crash-" + kSessions[0]);
        before[kSessions[0]].push_back("after-crash-2");
        for (size_t i = 1; i < kSessions.size(); ++i) before[kSessions[i]].push_back("after-crash-" + kSessions[i]);
        for (const std::string& sid : kSessions) {
            if (load_log(*store, sid) != before[sid]) {
                return "after recovery, appends to " + sid + " read back as " + show(load_log(*store, sid));
            }
        }
        return {};
    } catch (const std::exception& e) {
        return std::string("recovery failed: ") + e.what();
    }
}

const std::vector<ImageSpec> kSpecs = {
    {ImageSpec::Meta::durable, ImageSpec::Data::durable, 0},
    {ImageSpec::Meta::current, ImageSpec::Data::current, 0},
    {ImageSpec::Meta::current, ImageSpec::Data::durable, 0},
    {ImageSpec::Meta::durable, ImageSpec::Data::current, 0},
    {ImageSpec::Meta::durable, ImageSpec::Data::all_but_last, 0},
    {ImageSpec::Meta::current, ImageSpec::Data::half_tail, 0},
    {ImageSpec::Meta::current, ImageSpec::Data::zero_tail, 0},
    {ImageSpec::Meta::mixed, ImageSpec::Data::mixed, 1},
    {ImageSpec::Meta::mixed, ImageSpec::Data::mixed, 2},
};

struct Tally {
    long crash_points = 0;
    long states = 0;
    long recovery_crash_states = 0;
    int failures = 0;
};

void report_failure(Tally& tally, const std::string& what) {
    ++tally.failures;
    if (tally.failures <= 5) FAIL_CHECK(what);
}

void check_seed(uint64_t seed, int op_count, Tally& tally, const JournalOptions& journal) {
    const std::vector<Op> ops = make_workload(seed, op_count);

    // The whole workload once, without a crash: how many crash points there are.
    auto clean = std::make_shared<CrashFs>();
    const Run full = run_workload(clean, ops, journal);
    REQUIRE(full.unexpected.empty());
    REQUIRE(full.ops_run == ops.size());
    const long total = clean->mutations();

    for (long n = 0; n <= total && tally.failures <= 5; ++n) {
        auto fs = std::make_shared<CrashFs>();
        fs->crash_after(n);
        const Run run = run_workload(fs, ops, journal);
        ++tally.crash_points;
        for (const auto& u : run.unexpected) {
            if (u.find("failed without a crash") == std::string::npos) report_failure(tally, u);
        }
        const Model model = build_model(ops, run);
        const std::string where =
            "seed " + std::to_string(seed) + ", crash after " + std::to_string(n) + " of " + std::to_string(total) +
            " mutating calls, in flight: " + (model.in_flight ? describe(*model.in_flight) : std::string("nothing"));
        for (const ImageSpec& spec0 : kSpecs) {
            ImageSpec spec = spec0;
            spec.seed = spec0.seed * 1000003 + static_cast<uint64_t>(n) + seed * 7919;
            const auto image = fs->crash_image(spec);
            ++tally.states;
            if (const auto problem = check_image(image, model, journal); !problem.empty()) {
                report_failure(
                    tally, where + ", image " + describe(spec) + ": " + problem + "\n" + fs->crash_image(spec)->dump());
            }
        }

        // Crash recovery itself, at each of its mutating calls, on a torn mixed image.
        const ImageSpec torn{ImageSpec::Meta::mixed, ImageSpec::Data::mixed, static_cast<uint64_t>(n) * 31 + seed};
        for (long k = 0;; ++k) {
            auto image = fs->crash_image(torn);
            image->crash_after(k);
            try {
                auto store = open_store(image, kDataDir, journal);
                recover(*store);
            } catch (const sdk::Error&) {
            }
            if (!image->crashed()) break;  // recovery finished within k calls
            ++tally.recovery_crash_states;
            const ImageSpec again{ImageSpec::Meta::mixed, ImageSpec::Data::mixed, static_cast<uint64_t>(k) + 17};
            if (const auto problem = check_image(image->crash_image(again), model, journal); !problem.empty()) {
                report_failure(tally, where + ", recovery crashed after " + std::to_string(k) + " calls: " + problem);
            }
        }
    }
}

void check_all_seeds(const JournalOptions& journal, const char* what) {
    const auto start = std::chrono::steady_clock::now();
    Tally tally;
    for (const uint64_t seed : {1u, 2u, 3u, 4u}) check_seed(seed, 90, tally, journal);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "storage-file crash states (" << what << "): " << tally.crash_points << " crash points, "
              << tally.states << " disk images checked, plus " << tally.recovery_crash_states
              << " crashes during recovery, in " << secs << " s\n";
    CHECK(tally.failures == 0);
    CHECK(tally.states >= 1000);
}

}  // namespace

TEST_CASE("every crash state recovers to exactly what was acknowledged", "[crash]") {
    SECTION("without the journal") {
        check_all_seeds(no_journal(), "no journal");
    }
    // 512-byte segments: a checkpoint every few operations, so crashes hit rotations, recycled
    // segments and replays of several segments.
    SECTION("with the journal, small segments") {
        check_all_seeds(inline_journal(512), "journal, 512 B segments");
    }
    SECTION("with the journal, one segment") {
        check_all_seeds(inline_journal(64 << 10), "journal, one segment");
    }
}

}  // namespace macp::storage_file::testing
