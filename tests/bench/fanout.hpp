// StreamSession fan-out measurement behind macp_bench and macp_fanout_bench: one session, N
// passive subscribers (callback-API bidi streams subscribed with subscribe_session_id, spread
// over several connections), one producer sending Contribute envelopes with unary Send (the
// envelope carries its send time; delivery latency = subscriber receipt - send time, same host).
//
// Peak (rate 0): the producer keeps at most `producer_depth` Sends in flight and at most `window`
// envelopes not yet delivered to every subscriber, so it runs as fast as delivery allows without
// overflowing a subscriber's buffer (which ends the stream with RESOURCE_EXHAUSTED).
// Fixed rate (rate > 0): the producer sends at that many envelopes/s, whatever the delivery.
#pragma once

#include <cstdint>
#include <string>

namespace macp::bench {

struct FanoutOptions {
    int subscribers = 100;
    int channels = 4;  // connections the subscribers are spread over (the producer has its own)
    double seconds = 3;
    double warmup_seconds = 0.5;
    double rate = 0;  // envelopes/s sent by the producer; 0 = peak (delivery-paced)
    int producer_depth = 16;
    int window = 64;
    int64_t max_messages = 1'000'000;
};

struct FanoutResult {
    bool ok = false;
    std::string error;
    int64_t sent = 0;
    int64_t delivered = 0;  // envelopes received by subscribers inside the measured window
    double seconds = 0;
    double delivered_per_second = 0;
    double sent_per_second = 0;
    double offered_per_second = 0;  // fixed rate: rate × subscribers
    double p50_us = 0, p99_us = 0, max_us = 0;
    int streams_ended = 0;  // subscriber streams that ended before the run did
    std::string first_error;
};

FanoutResult run_fanout(const std::string& address, const FanoutOptions& options);

std::string describe(const FanoutResult& r);

}  // namespace macp::bench
