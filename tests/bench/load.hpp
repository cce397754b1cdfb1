// The load generator behind macp_load and macp_bench: gRPC's callback client API, N sessions ×
// in-flight depth per session over C separate channels (one TCP connection each), closed loop
// (each acknowledged Send issues the next one of its slot) or open loop (--rate: a fixed offered
// rate, latency counted from the intended send time so queueing is not hidden). Sessions are
// opened first (SessionStart and each mode's set-up messages, not counted). Every loop is bounded
// in count and in time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace macp::bench {

struct LoadOptions {
    int sessions = 64;
    int depth = 1;     // Sends in flight per session (closed loop)
    int channels = 4;  // separate connections; sessions are spread over them round robin
    double seconds = 3;
    double warmup_seconds = 0.5;       // before the measured window (closed and open loop)
    int64_t max_sends = 10'000'000;    // bound on all Sends of the run
    int64_t sends_per_session = 0;     // > 0: each session stops after that many (closed loop)
    double rate = 0;                   // > 0: open loop at this many Sends/s in total
    int64_t max_outstanding = 20'000;  // open loop: Sends in flight at most (the rest count as dropped)
    // Mode mix: "multi_round" (Contribute, the cheap default), or a weighted list such as
    // "multi_round:70,decision:10,proposal:10,task:10" (decision: Evaluations after one Proposal;
    // proposal: a new Proposal each; task: TaskUpdates after TaskRequest + TaskAccept).
    std::string mix = "multi_round";
    int payload_bytes = 0;   // extra text in each measured message (0: a short value)
    int open_parallel = 64;  // SessionStarts in flight while opening sessions
    // Measured Sends go to the channel this many after the one the session was opened on: with a
    // cluster's addresses ("a,b,c") and an offset that is not a multiple of their count, every
    // measured Send reaches a process that does not own its session (forwarding measured).
    int send_channel_offset = 0;
    // The other processes of the server's cluster: their CPU counts as the server's.
    std::vector<pid_t> more_pids;
    int deadline_seconds = 30;
    // Called once the sessions are open, right before the first measured Send, and right after
    // the last one is answered (callgrind_control -z / -d around exactly the measured Sends).
    std::function<void()> before_measure;
    std::function<void()> after_measure;
};

struct LoadResult {
    bool ok = false;  // sessions opened and the run completed
    std::string error;
    int64_t acked = 0;    // acknowledged (ok) Sends completed inside the measured window
    int64_t errors = 0;   // failed Sends (gRPC status or ack.ok == false) inside the window
    int64_t dropped = 0;  // open loop: sends not issued because max_outstanding were in flight
    int64_t issued_total = 0;
    int64_t acked_total = 0;  // over the whole run, warm-up included
    std::string first_error;
    double seconds = 0;  // measured window
    double sends_per_second = 0;
    double offered_rate = 0;
    double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
    double server_cpu_seconds = -1;  // utime+stime of the server over the window (-1: no pid)
    double cpu_us_per_send = -1;
    double open_seconds = 0;  // time to open the sessions
};

// Runs the load against `address`; `server_pid` > 0 also measures the server's CPU.
LoadResult run_load(const std::string& address, pid_t server_pid, const LoadOptions& options);

// Opens `count` idle multi_round sessions (SessionStart only, TTL one hour) with at most
// `parallel` in flight over `channels` connections; returns how many were acknowledged.
int64_t open_idle_sessions(const std::string& address, int64_t count, int parallel, int channels,
                           std::string* first_error);

std::string describe(const LoadResult& r);

}  // namespace macp::bench
