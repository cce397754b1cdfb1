// macp_bench: the issue #13 benchmark driver (`make bench`). Benchmark, not a test: it prints
// figures and whether each target is met, and asserts nothing.
//
// In one run, for --rounds rounds (median reported), it starts the no-op ceiling server
// (macp_noop_server) and macp-runtime on each storage backend, each with a fresh temporary data
// directory (redis: a redis-server of its own, appendonly yes + appendfsync always), drives each
// with the same load generator settings (load.hpp) and prints every figure next to its ceiling:
//
//   throughput  acknowledged Sends/s per backend, 64 sessions × depth 1 over 4 channels
//   cpu         server CPU µs per Send (utime+stime from /proc/<pid>/stat) vs the no-op's
//   serial      one session, depth 1, file storage vs the no-op's single-call rate
//   latency     p50 / p99 in an open loop at half of the file peak measured in the same round
//   idle        memory per idle open session (file, then memory-only; VmRSS delta / sessions)
//   recovery    log records/s of a restart (process start -> health SERVING) on a file store
//   fanout      100 passive StreamSession subscribers of one session vs the no-op bidi fan-out,
//               delivered envelopes/s at peak, and p99 delivery at half and at a quarter of the
//               no-op's rate (half of the 50% target)
//
//   macp_bench [--rounds=3] [--seconds=3] [--sessions=64] [--depth=1] [--channels=4]
//              [--backends=memory,file,rocksdb,redis] [--only=PHASE,...] [--skip=PHASE,...]
//              [--idle-sessions=10000] [--recovery-sessions=2000] [--recovery-records=50]
//              [--fanout-subscribers=100] [--fanout-backend=file] [--mix=multi_round]
//   macp_bench --callgrind [--callgrind-sends=2000] [--backends=memory,file]   (default: memory,file)
//
// --callgrind: instead of the above, runs the no-op server and macp-runtime (each backend) under
// valgrind --tool=callgrind and prints instructions per Send: sessions opened and a warm-up done,
// then callgrind_control -z, N Sends, callgrind_control -d; Ir of that dump / N (every thread of
// the server process; deterministic up to background timers, about ±2%).
// A backend whose plugin is not built is skipped with a line saying so.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "fanout.hpp"
#include "harness.hpp"
#include "load.hpp"

using namespace macp::bench;

namespace {

struct Options {
    int rounds = 3;
    double seconds = 3;
    int sessions = 64;
    int depth = 1;
    int channels = 4;
    std::vector<std::string> backends{"memory", "file", "rocksdb", "redis"};
    bool backends_given = false;
    std::set<std::string> phases{"throughput", "cpu", "serial", "latency", "idle", "recovery", "fanout"};
    int idle_sessions = 10000;
    int recovery_sessions = 2000;
    int recovery_records = 50;
    int fanout_subscribers = 100;
    std::string fanout_backend = "file";
    std::string mix = "multi_round";
    bool callgrind = false;
    int callgrind_sends = 2000;
};

std::vector<std::string> split(const std::string& s, char separator = ',') {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, separator)) {
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

const std::set<std::string> kPhases{"throughput", "cpu", "serial", "latency", "idle", "recovery", "fanout"};

std::optional<Options> parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string v;
        const char* a = argv[i];
        if (flag_value(a, "--rounds", v)) {
            o.rounds = std::clamp(std::atoi(v.c_str()), 1, 50);
        } else if (flag_value(a, "--seconds", v)) {
            o.seconds = std::clamp(std::atof(v.c_str()), 0.2, 600.0);
        } else if (flag_value(a, "--sessions", v)) {
            o.sessions = std::clamp(std::atoi(v.c_str()), 1, 100000);
        } else if (flag_value(a, "--depth", v)) {
            o.depth = std::clamp(std::atoi(v.c_str()), 1, 1000);
        } else if (flag_value(a, "--channels", v)) {
            o.channels = std::clamp(std::atoi(v.c_str()), 1, 1000);
        } else if (flag_value(a, "--backends", v)) {
            o.backends = split(v);
            o.backends_given = true;
        } else if (flag_value(a, "--only", v) || flag_value(a, "--skip", v)) {
            const bool only = std::strncmp(a, "--only", 6) == 0;
            std::set<std::string> named;
            for (const auto& p : split(v)) {
                if (kPhases.count(p) == 0) {
                    std::fprintf(stderr,
                                 "unknown phase '%s' (throughput, cpu, serial, latency, idle, recovery, "
                                 "fanout)\n",
                                 p.c_str());
                    return std::nullopt;
                }
                named.insert(p);
            }
            if (only) {
                o.phases = named;
            } else {
                for (const auto& p : named) o.phases.erase(p);
            }
        } else if (flag_value(a, "--idle-sessions", v)) {
            o.idle_sessions = std::clamp(std::atoi(v.c_str()), 100, 1'000'000);
        } else if (flag_value(a, "--recovery-sessions", v)) {
            o.recovery_sessions = std::clamp(std::atoi(v.c_str()), 1, 1'000'000);
        } else if (flag_value(a, "--recovery-records", v)) {
            o.recovery_records = std::clamp(std::atoi(v.c_str()), 1, 100'000);
        } else if (flag_value(a, "--fanout-subscribers", v)) {
            o.fanout_subscribers = std::clamp(std::atoi(v.c_str()), 1, 5000);
        } else if (flag_value(a, "--fanout-backend", v)) {
            o.fanout_backend = v;
        } else if (flag_value(a, "--mix", v)) {
            o.mix = v;
        } else if (std::strcmp(a, "--callgrind") == 0) {
            o.callgrind = true;
        } else if (flag_value(a, "--callgrind-sends", v)) {
            o.callgrind_sends = std::clamp(std::atoi(v.c_str()), 10, 1'000'000);
        } else {
            std::fprintf(stderr, "unknown argument '%s' (see the comment at the top of tests/bench/bench_main.cpp)\n",
                         a);
            return std::nullopt;
        }
    }
    if (o.callgrind && !o.backends_given) o.backends = {"memory", "file"};
    return o;
}

// --- Output --------------------------------------------------------------------------------------

struct Row {
    std::string figure;
    std::string value;
    std::string ceiling;
    std::string ratio;
    std::string target;
    std::optional<bool> met;  // nullopt: informational
};

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string pct(double ratio) {
    return fmt("%.0f%%", ratio * 100);
}

void progress(const std::string& line) {
    std::printf("  %s\n", line.c_str());
    std::fflush(stdout);
}

// Display width of UTF-8 text (code points; the table uses no wide characters).
size_t width(const std::string& s) {
    size_t n = 0;
    for (const unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
    return n;
}

std::string pad(const std::string& s, size_t w, bool right) {
    const std::string fill(w > width(s) ? w - width(s) : 0, ' ');
    return right ? fill + s : s + fill;
}

void print_table(const std::vector<Row>& rows) {
    const std::vector<std::string> head{"figure", "value", "ceiling", "ratio", "target", "met"};
    auto cells = [](const Row& r) {
        return std::vector<std::string>{r.figure, r.value,  r.ceiling,
                                        r.ratio,  r.target, !r.met ? "" : (*r.met ? "met" : "NOT met")};
    };
    std::vector<size_t> w;
    for (const auto& h : head) w.push_back(width(h));
    for (const auto& r : rows) {
        const auto c = cells(r);
        for (size_t i = 0; i < c.size(); ++i) w[i] = std::max(w[i], width(c[i]));
    }
    auto line = [&](const std::vector<std::string>& c) {
        std::string out = "|";
        for (size_t i = 0; i < c.size(); ++i) {
            const bool right = i >= 1 && i <= 3;  // numbers
            out += " " + pad(c[i], w[i], right) + " |";
        }
        std::printf("%s\n", out.c_str());
    };
    line(head);
    std::string sep = "|";
    for (size_t i = 0; i < w.size(); ++i) sep += std::string(w[i] + 2, '-') + "|";
    std::printf("%s\n", sep.c_str());
    for (const auto& r : rows) line(cells(r));
    std::fflush(stdout);
}

// --- Running a server with load ------------------------------------------------------------------

// Starts `backend`, runs `lo` against it, stops it (SIGKILL: nothing of the store is needed).
std::optional<LoadResult> measure(const std::string& backend, const LoadOptions& lo, std::string* error) {
    ServerSpec spec;
    spec.backend = backend;
    Server server(spec);
    if (!server.start(error)) return std::nullopt;
    auto r = run_load(server.address(), server.pid(), lo);
    server.stop(SIGKILL);
    if (!r.ok) {
        *error = r.error;
        return std::nullopt;
    }
    return r;
}

struct Runs {
    std::vector<LoadResult> by_round;  // one per round that ran
    std::map<int, size_t> index;       // round -> position
    void add(int round, const LoadResult& r) {
        index[round] = by_round.size();
        by_round.push_back(r);
    }
    [[nodiscard]] const LoadResult* at(int round) const {
        auto it = index.find(round);
        return it == index.end() ? nullptr : &by_round[it->second];
    }
    template <class F>
    [[nodiscard]] double median_of(F f) const {
        std::vector<double> v;
        for (const auto& r : by_round) v.push_back(f(r));
        return median(v);
    }
};

// Median over rounds of a/b where both ran in the same round.
template <class F>
std::optional<double> median_ratio(const Runs& a, const Runs& b, F f) {
    std::vector<double> v;
    for (const auto& [round, pos] : a.index) {
        const auto* other = b.at(round);
        if (other != nullptr && f(*other) > 0) v.push_back(f(a.by_round[pos]) / f(*other));
    }
    if (v.empty()) return std::nullopt;
    return median(v);
}

std::string backend_label(const std::string& b) {
    if (b == "memory") return "memory-only";
    if (b == "file") return "file (fdatasync per ack)";
    if (b == "rocksdb") return "rocksdb (sync WAL)";
    if (b == "redis") return "redis (AOF always)";
    return b;
}

double target_ratio(const std::string& b) {
    if (b == "memory") return 0.70;
    if (b == "file") return 0.60;
    if (b == "rocksdb") return 0.50;
    if (b == "redis") return 0.40;
    return 0;
}

// --- Phases --------------------------------------------------------------------------------------

class Bench {
public:
    explicit Bench(Options o) : o_(std::move(o)) {
        for (const auto& b : o_.backends) {
            std::string why;
            if (backend_available(b, &why)) {
                backends_.push_back(b);
            } else {
                std::printf("skipping backend %s: %s\n", b.c_str(), why.c_str());
            }
        }
        std::string why;
        if (!backend_available("noop", &why)) {
            std::printf("no ceiling: %s\n", why.c_str());
            noop_ok_ = false;
        }
    }

    int run() {
        LoadOptions base;
        base.sessions = o_.sessions;
        base.depth = o_.depth;
        base.channels = o_.channels;
        base.seconds = o_.seconds;
        base.mix = o_.mix;
        const bool want_tp = has("throughput") || has("cpu") || has("latency");
        for (int round = 1; round <= o_.rounds; ++round) {
            std::printf("round %d/%d\n", round, o_.rounds);
            std::fflush(stdout);
            if (want_tp) {
                // Interleaved: the ceiling and every backend in the same round, so drift hits all alike.
                if (noop_ok_) record("noop", round, base, throughput_["noop"]);
                for (const auto& b : backends_) record(b, round, base, throughput_[b]);
            }
            if (has("serial")) {
                LoadOptions one = base;
                one.sessions = 1;
                one.depth = 1;
                one.channels = 1;
                if (noop_ok_) record("noop", round, one, serial_["noop"]);
                if (available("file")) record("file", round, one, serial_["file"]);
            }
            if (has("latency") && available("file")) {
                const LoadResult* peak = throughput_["file"].at(round);
                if (peak != nullptr && peak->sends_per_second > 0) {
                    LoadOptions open = base;
                    open.rate = peak->sends_per_second / 2;
                    record("file", round, open, half_peak_);
                }
            }
            if (has("fanout")) fanout_round(round);
        }
        if (has("idle")) idle();
        if (has("recovery")) recovery();
        report();
        return 0;
    }

private:
    bool has(const char* phase) const { return o_.phases.count(phase) != 0; }
    bool available(const std::string& b) const {
        return std::find(backends_.begin(), backends_.end(), b) != backends_.end();
    }

    void record(const std::string& backend, int round, const LoadOptions& lo, Runs& into) {
        std::string error;
        auto r = measure(backend, lo, &error);
        char what[160];
        std::snprintf(what, sizeof what, "%-8s %d×%d/%dch%s", backend.c_str(), lo.sessions, lo.depth, lo.channels,
                      lo.rate > 0 ? (" open loop " + fmt("%.0f/s", lo.rate)).c_str() : "");
        if (!r) {
            progress(std::string(what) + ": FAILED: " + error);
            return;
        }
        progress(std::string(what) + ": " + describe(*r));
        into.add(round, *r);
    }

    void fanout_round(int round) {
        if (!available(o_.fanout_backend) && o_.fanout_backend != "memory") {
            if (round == 1) progress("fanout: backend " + o_.fanout_backend + " not available");
            return;
        }
        FanoutOptions fo;
        fo.subscribers = o_.fanout_subscribers;
        fo.seconds = o_.seconds;
        auto one = [&](const std::string& backend, const FanoutOptions& opt) -> std::optional<FanoutResult> {
            ServerSpec spec;
            spec.backend = backend;
            Server server(spec);
            std::string error;
            if (!server.start(&error)) {
                progress("fanout " + backend + ": FAILED: " + error);
                return std::nullopt;
            }
            auto r = run_fanout(server.address(), opt);
            server.stop(SIGKILL);
            progress("fanout " + backend + " " + std::to_string(opt.subscribers) + " subscribers" +
                     (opt.rate > 0 ? fmt(" at %.0f envelopes/s", opt.rate) : std::string(" peak")) + ": " +
                     describe(r));
            if (!r.ok) return std::nullopt;
            return r;
        };
        std::optional<FanoutResult> ceiling;
        if (noop_ok_) {
            ceiling = one("noop", fo);
            if (ceiling) fan_noop_[round] = *ceiling;
        }
        if (auto r = one(o_.fanout_backend, fo)) fan_rt_[round] = *r;
        if (ceiling && ceiling->delivered_per_second > 0) {
            FanoutOptions half = fo;
            half.rate = ceiling->delivered_per_second / 2 / fo.subscribers;  // envelopes sent per second
            if (auto r = one(o_.fanout_backend, half)) fan_half_[round] = *r;
            // The issue's wording ("deliver >= 50% of the no-op's rate, with p99 <= 5 ms at half
            // that rate") also reads as half of the 50% target: a quarter of the ceiling's rate, the
            // load a runtime meeting the throughput target carries at half its peak. Both are shown.
            FanoutOptions quarter = fo;
            quarter.rate = ceiling->delivered_per_second / 4 / fo.subscribers;
            if (auto r = one(o_.fanout_backend, quarter)) fan_quarter_[round] = *r;
        }
    }

    // The target is measured on the file backend, the durable default: its sessions' stored data
    // is on disk, so the VmRSS delta is what an open session costs in memory. Memory-only is shown
    // for information: its delta also holds every session's stored start record and snapshot.
    void idle() {
        for (const std::string backend : {"file", "memory"}) {
            if (available(backend) || backend == "memory") idle_on(backend);
        }
    }

    void idle_on(const std::string& backend) {
        ServerSpec spec;
        spec.backend = backend;
        Server server(spec);
        std::string error;
        if (!server.start(&error)) {
            progress("idle " + backend + ": FAILED: " + error);
            return;
        }
        // Warm-up: the first sessions pay for one-time allocations (thread stacks, pools, channels).
        open_idle_sessions(server.address(), 200, 64, 4, &error);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        const auto rss0 = process_rss_bytes(server.pid());
        const auto t0 = Clock::now();
        const int64_t n = open_idle_sessions(server.address(), o_.idle_sessions, 64, 4, &error);
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        std::this_thread::sleep_for(std::chrono::seconds(1));
        const auto rss1 = process_rss_bytes(server.pid());
        server.stop(SIGKILL);
        if (!rss0 || !rss1 || n <= 0) {
            progress("idle " + backend + ": FAILED: " + std::to_string(n) + " sessions opened; " + error);
            return;
        }
        const double bytes = static_cast<double>(*rss1 - *rss0) / static_cast<double>(n);
        idle_bytes_[backend] = bytes;
        idle_n_ = n;
        progress("idle " + backend + ": " + std::to_string(n) + " sessions opened in " + fmt("%.1f s", secs) +
                 ", VmRSS " + fmt("%.1f", static_cast<double>(*rss0) / 1048576) + " -> " +
                 fmt("%.1f MiB", static_cast<double>(*rss1) / 1048576) + ": " + fmt("%.0f bytes/session", bytes) +
                 (error.empty() ? "" : " (first error: " + error + ")"));
    }

    // Time from process start to health SERVING (bounded by 300 s); nullopt if it did not serve.
    static std::optional<double> restart_seconds(Server& server, std::string* error) {
        const auto t0 = Clock::now();
        if (!server.start(error)) return std::nullopt;
        const auto deadline = t0 + std::chrono::seconds(300);
        while (Clock::now() < deadline) {
            if (health_serving(server.address())) return std::chrono::duration<double>(Clock::now() - t0).count();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        *error = "not SERVING within 300 s";
        return std::nullopt;
    }

    void recovery() {
        if (!available("file")) return;
        ServerSpec spec;
        spec.backend = "file";
        spec.start_timeout = std::chrono::seconds(300);
        Server server(spec);
        std::string error;
        if (!server.start(&error)) {
            progress("recovery: FAILED: " + error);
            return;
        }
        LoadOptions gen;
        gen.sessions = o_.recovery_sessions;
        gen.depth = 1;
        gen.channels = 4;
        gen.warmup_seconds = 0;
        gen.seconds = 240;  // bound; the run ends when every session has its records
        gen.sends_per_session = std::max(0, o_.recovery_records - 1);  // + the SessionStart
        const auto g = run_load(server.address(), server.pid(), gen);
        if (!g.ok) {
            progress("recovery: FAILED generating the store: " + g.error);
            return;
        }
        const int64_t records = g.acked_total + o_.recovery_sessions;
        progress("recovery: store of " + std::to_string(o_.recovery_sessions) + " sessions / " +
                 std::to_string(records) + " records written in " + fmt("%.1f s", g.open_seconds + g.seconds) +
                 fmt(" (%.0f records/s)", static_cast<double>(records) / (g.open_seconds + g.seconds)));
        recovery_records_ = records;
        server.stop(SIGTERM);
        for (int round = 1; round <= o_.rounds; ++round) {
            for (const bool strict : {false, true}) {
                Server again(ServerSpec{.backend = "file",
                                        .extra_env = {{"MACP_STRICT_RECOVERY", strict ? "1" : "0"}},
                                        .prefix = {},
                                        .start_timeout = std::chrono::seconds(300),
                                        .data_dir = server.data_dir()});
                auto secs = restart_seconds(again, &error);
                again.stop(SIGTERM);
                if (!secs) {
                    progress("recovery: FAILED restart: " + error);
                    continue;
                }
                const double rate = static_cast<double>(records) / *secs;
                progress(std::string("recovery ") + (strict ? "strict " : "default") + fmt(": %.3f s", *secs) +
                         fmt(" -> %.0f records/s", rate));
                (strict ? recovery_strict_ : recovery_default_).push_back(rate);
            }
        }
    }

    void report() {
        std::vector<Row> rows;
        Runs& noop = throughput_["noop"];
        const double noop_tp = noop.median_of([](const LoadResult& r) { return r.sends_per_second; });
        const std::string shape = std::to_string(o_.sessions) + " sessions × depth " + std::to_string(o_.depth) + ", " +
                                  std::to_string(o_.channels) + " channels";
        if (has("throughput")) {
            for (const auto& b : backends_) {
                Runs& runs = throughput_[b];
                if (runs.by_round.empty()) continue;
                Row row{backend_label(b) + ": Sends/s, " + shape,
                        fmt("%.0f", runs.median_of([](const LoadResult& r) { return r.sends_per_second; })),
                        noop_tp > 0 ? fmt("%.0f", noop_tp) : "-",
                        "-",
                        "≥ " + pct(target_ratio(b)) + " of ceiling",
                        std::nullopt};
                if (auto ratio = median_ratio(runs, noop, [](const LoadResult& r) { return r.sends_per_second; })) {
                    row.ratio = pct(*ratio);
                    row.met = *ratio >= target_ratio(b);
                }
                rows.push_back(row);
                const double p50 = runs.median_of([](const LoadResult& r) { return r.p50_us; });
                const double p99 = runs.median_of([](const LoadResult& r) { return r.p99_us; });
                rows.push_back({"  " + backend_label(b) + ": p50 / p99 latency at that load",
                                fmt("%.2f", p50 / 1000) + " / " + fmt("%.2f ms", p99 / 1000),
                                fmt("%.2f", noop.median_of([](const LoadResult& r) { return r.p50_us; }) / 1000) +
                                    " / " +
                                    fmt("%.2f ms", noop.median_of([](const LoadResult& r) { return r.p99_us; }) / 1000),
                                "-", "(information)", std::nullopt});
            }
        }
        if (has("cpu") && !noop.by_round.empty()) {
            const double noop_cpu = noop.median_of([](const LoadResult& r) { return r.cpu_us_per_send; });
            for (const auto& b : backends_) {
                Runs& runs = throughput_[b];
                if (runs.by_round.empty()) continue;
                Row row{"server CPU µs per Send, " + backend_label(b),
                        fmt("%.1f", runs.median_of([](const LoadResult& r) { return r.cpu_us_per_send; })),
                        fmt("%.1f", noop_cpu),
                        "-",
                        b == "memory" ? "≤ 2.0× ceiling" : "(information)",
                        std::nullopt};
                if (auto ratio = median_ratio(runs, noop, [](const LoadResult& r) { return r.cpu_us_per_send; })) {
                    row.ratio = fmt("%.2f×", *ratio);
                    if (b == "memory") row.met = *ratio <= 2.0;
                }
                rows.push_back(row);
            }
        }
        if (has("serial") && !serial_["file"].by_round.empty()) {
            Row row{"one serial session (depth 1), file: Sends/s",
                    fmt("%.0f", serial_["file"].median_of([](const LoadResult& r) { return r.sends_per_second; })),
                    fmt("%.0f", serial_["noop"].median_of([](const LoadResult& r) { return r.sends_per_second; })),
                    "-",
                    "≥ 40% of ceiling",
                    std::nullopt};
            if (auto ratio = median_ratio(serial_["file"], serial_["noop"],
                                          [](const LoadResult& r) { return r.sends_per_second; })) {
                row.ratio = pct(*ratio);
                row.met = *ratio >= 0.40;
            }
            rows.push_back(row);
        }
        if (has("latency") && !half_peak_.by_round.empty()) {
            const double p50 = half_peak_.median_of([](const LoadResult& r) { return r.p50_us; });
            const double p99 = half_peak_.median_of([](const LoadResult& r) { return r.p99_us; });
            const double ratio =
                half_peak_.median_of([](const LoadResult& r) { return r.p50_us > 0 ? r.p99_us / r.p50_us : 0; });
            const double rate = half_peak_.median_of([](const LoadResult& r) { return r.offered_rate; });
            rows.push_back({"file at half of peak (open loop " + fmt("%.0f/s", rate) + "): p50 / p99",
                            fmt("%.2f", p50 / 1000) + " / " + fmt("%.2f ms", p99 / 1000), "-",
                            fmt("p99 = %.1f× p50", ratio), "p99 ≤ 3× p50", ratio <= 3.0});
        }
        if (auto it = idle_bytes_.find("file"); it != idle_bytes_.end()) {
            rows.push_back({"memory per idle open session (file, " + std::to_string(idle_n_) + " sessions)",
                            fmt("%.0f bytes", it->second), "-", "-", "≤ 4096 bytes", it->second <= 4096});
        }
        if (auto it = idle_bytes_.find("memory"); it != idle_bytes_.end()) {
            rows.push_back({"  the same, memory-only (the delta also holds the stored data)",
                            fmt("%.0f bytes", it->second), "-", "-", "(information)", std::nullopt});
        }
        if (!recovery_default_.empty()) {
            const double rate = median(recovery_default_);
            rows.push_back({"recovery, file, " + std::to_string(o_.recovery_sessions) + " sessions / " +
                                std::to_string(recovery_records_) + " records → SERVING",
                            fmt("%.0f records/s", rate), "-", "-", "≥ 200000 records/s", rate >= 200'000});
        }
        if (!recovery_strict_.empty()) {
            rows.push_back({"  the same with MACP_STRICT_RECOVERY=1", fmt("%.0f records/s", median(recovery_strict_)),
                            "-", "-", "(information)", std::nullopt});
        }
        if (!fan_rt_.empty()) {
            std::vector<double> rt, ceil, ratios;
            for (const auto& [round, r] : fan_rt_) {
                rt.push_back(r.delivered_per_second);
                if (auto it = fan_noop_.find(round); it != fan_noop_.end() && it->second.delivered_per_second > 0) {
                    ratios.push_back(r.delivered_per_second / it->second.delivered_per_second);
                }
            }
            for (const auto& [round, r] : fan_noop_) ceil.push_back(r.delivered_per_second);
            Row row{"fan-out, " + std::to_string(o_.fanout_subscribers) + " subscribers of one session (" +
                        o_.fanout_backend + "): delivered/s",
                    fmt("%.0f", median(rt)),
                    ceil.empty() ? "-" : fmt("%.0f", median(ceil)),
                    "-",
                    "≥ 50% of ceiling",
                    std::nullopt};
            if (!ratios.empty()) {
                row.ratio = pct(median(ratios));
                row.met = median(ratios) >= 0.5;
            }
            rows.push_back(row);
        }
        auto fan_latency_row = [&](const std::map<int, FanoutResult>& runs, const std::string& what) {
            if (runs.empty()) return;
            std::vector<double> p50, p99, delivered, offered;
            for (const auto& [round, r] : runs) {
                p50.push_back(r.p50_us);
                p99.push_back(r.p99_us);
                delivered.push_back(r.delivered_per_second);
                offered.push_back(r.offered_per_second);
            }
            rows.push_back({"fan-out at " + what + " (" + fmt("%.0f offered", median(offered)) +
                                fmt(", %.0f delivered/s", median(delivered)) + "): p50 / p99 delivery",
                            fmt("%.2f", median(p50) / 1000) + " / " + fmt("%.2f ms", median(p99) / 1000), "-", "-",
                            "p99 ≤ 5 ms", median(p99) <= 5000});
        };
        fan_latency_row(fan_half_, "half the ceiling rate");
        fan_latency_row(fan_quarter_, "half the 50% target (a quarter of the ceiling rate)");
        std::printf(
            "\nmacp_bench: median of %d round(s); ratio = value / ceiling measured in the same round "
            "(median of the per-round ratios)\n\n",
            o_.rounds);
        print_table(rows);
    }

    Options o_;
    std::vector<std::string> backends_;
    bool noop_ok_ = true;
    std::map<std::string, Runs> throughput_;
    std::map<std::string, Runs> serial_;
    Runs half_peak_;
    std::map<int, FanoutResult> fan_noop_, fan_rt_, fan_half_, fan_quarter_;
    std::map<std::string, double> idle_bytes_;  // backend -> VmRSS bytes per idle session
    int64_t idle_n_ = 0;
    int64_t recovery_records_ = 0;
    std::vector<double> recovery_default_, recovery_strict_;
};

// --- callgrind -----------------------------------------------------------------------------------

// $VALGRIND, else valgrind from PATH; "" if there is none.
std::string valgrind_path() {
    if (const char* vg = std::getenv("VALGRIND"); vg != nullptr && *vg != '\0') return vg;
    return find_on_path("valgrind");
}

// callgrind_control next to valgrind, else from PATH.
std::string callgrind_control_path() {
    const auto next_to = std::filesystem::path(valgrind_path()).parent_path() / "callgrind_control";
    if (::access(next_to.c_str(), X_OK) == 0) return next_to.string();
    return find_on_path("callgrind_control");
}

// Total Ir of a callgrind output file ("totals:" or "summary:" line); nullopt if absent.
std::optional<double> callgrind_total(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string line;
    std::optional<double> out;
    while (std::getline(in, line)) {
        if (line.rfind("totals:", 0) == 0 || line.rfind("summary:", 0) == 0) {
            out = std::atof(line.c_str() + line.find(':') + 1);
        }
    }
    return out;
}

constexpr int kCallgrindSessions = 8;
constexpr int kCallgrindWarmup = 400;

// Instructions of the whole server process (every thread) between the first measured Send and
// the answer to the last: callgrind_control -z before, -d after (sessions opened and a warm-up
// done before the counters are zeroed). Returns the Ir total of that dump.
std::optional<double> callgrind_run(const std::string& backend, int sends, std::string* error) {
    macp::test::TempDir out;
    const auto file = out.path() / "callgrind.out";
    ServerSpec spec;
    spec.backend = backend;
    spec.prefix = {valgrind_path(), "--tool=callgrind", "--callgrind-out-file=" + file.string()};
    // No periodic storage probe in the window (it runs per wall-clock second, and valgrind is slow).
    spec.extra_env = {{"MACP_STORAGE_HEALTH_INTERVAL_MS", "3600000"}};
    spec.start_timeout = std::chrono::seconds(180);
    Server server(spec);
    if (!server.start(error)) return std::nullopt;
    LoadOptions lo;
    lo.sessions = kCallgrindSessions;
    lo.depth = 1;
    lo.channels = 1;
    lo.warmup_seconds = 0;
    lo.seconds = 900;
    lo.deadline_seconds = 120;
    lo.sends_per_session = kCallgrindWarmup / kCallgrindSessions;
    const auto warm = run_load(server.address(), server.pid(), lo);
    if (!warm.ok || warm.acked_total != lo.sends_per_session * lo.sessions) {
        *error = "warm-up: " + (warm.ok ? warm.first_error : warm.error);
        return std::nullopt;
    }
    const std::string control = callgrind_control_path();
    const pid_t pid = server.pid();
    int zero_rc = -1;
    int dump_rc = -1;
    lo.sends_per_session = sends / kCallgrindSessions;
    lo.before_measure = [&] {
        zero_rc = run_command({control, "-z", std::to_string(pid)}, out.path() / "zero.log", std::chrono::seconds(60));
    };
    lo.after_measure = [&] {
        dump_rc = run_command({control, "-d", std::to_string(pid)}, out.path() / "dump.log", std::chrono::seconds(60));
    };
    const auto r = run_load(server.address(), server.pid(), lo);
    server.stop(SIGKILL);
    if (!r.ok) {
        *error = r.error;
        return std::nullopt;
    }
    if (r.acked_total != lo.sends_per_session * lo.sessions) {
        *error = "only " + std::to_string(r.acked_total) + " Sends acknowledged; " + r.first_error;
        return std::nullopt;
    }
    if (zero_rc != 0 || dump_rc != 0) {
        *error =
            "callgrind_control failed (zero " + std::to_string(zero_rc) + ", dump " + std::to_string(dump_rc) + ")";
        return std::nullopt;
    }
    auto total = callgrind_total(out.path() / "callgrind.out.1");
    if (!total) *error = "no callgrind dump with totals";
    return total;
}

int run_callgrind(const Options& o) {
    if (valgrind_path().empty() || callgrind_control_path().empty()) {
        std::printf(
            "valgrind / callgrind_control not found on PATH (Debian: apt-get install valgrind; "
            "`make bench-callgrind` installs it)\n");
        return 1;
    }
    const int sends = std::max(1, o.callgrind_sends / kCallgrindSessions) * kCallgrindSessions;
    std::vector<std::string> targets{"noop"};
    for (const auto& b : o.backends) {
        std::string why;
        if (backend_available(b, &why)) {
            targets.push_back(b);
        } else {
            std::printf("skipping backend %s: %s\n", b.c_str(), why.c_str());
        }
    }
    struct Line {
        std::string target;
        double per_send;
    };
    std::vector<Line> lines;
    for (const auto& t : targets) {
        std::string error;
        auto total = callgrind_run(t, sends, &error);
        if (!total) {
            progress(t + ": FAILED: " + error);
            continue;
        }
        const double per = *total / sends;
        progress(t + fmt(": Ir %.0f", *total) + " for " + std::to_string(sends) + " Sends" +
                 fmt(" -> %.0f instructions per Send", per));
        lines.push_back({t, per});
    }
    const double noop = !lines.empty() && lines.front().target == "noop" ? lines.front().per_send : 0;
    std::printf(
        "\nmacp_bench --callgrind: instructions (Ir) per Send of the whole server process, %d Sends "
        "(%d sessions, one in flight each, one channel) after a warm-up of %d\n\n",
        sends, kCallgrindSessions, kCallgrindWarmup);
    std::vector<Row> rows;
    for (const auto& l : lines) {
        Row row{l.target == "noop" ? "no-op server" : "macp-runtime, " + backend_label(l.target),
                fmt("%.0f Ir/Send", l.per_send),
                noop > 0 ? fmt("%.0f", noop) : "-",
                noop > 0 ? fmt("%.2f×", l.per_send / noop) : "-",
                "(information)",
                std::nullopt};
        if (l.target == "memory" && noop > 0) {  // the CPU-per-Send target, counted in instructions
            row.target = "≤ 2.0× ceiling";
            row.met = l.per_send / noop <= 2.0;
        }
        rows.push_back(row);
    }
    print_table(rows);
    return lines.size() == targets.size() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    auto o = parse(argc, argv);
    if (!o) return 2;
    ::signal(SIGPIPE, SIG_IGN);
    if (o->callgrind) return run_callgrind(*o);
    std::printf("macp_bench: runtime %s, plugins %s, no-op %s\n", runtime_binary().c_str(), plugin_dir().c_str(),
                noop_binary().c_str());
    return Bench(*o).run();
}
