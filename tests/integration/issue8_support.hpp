// Shared helpers for the issue #8 integration tests (it_issue8_*.cpp) and the long-session
// benchmark: a client whose channel takes messages of any size the server allows, decision-mode
// payload builders, bulky payload bodies and a passive StreamSession subscriber.
//
// Not an it_*.cpp file, so the integration CMake glob does not turn it into a test of its own.
#pragma once

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "harness.hpp"
#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/v1/core.grpc.pb.h"

namespace macp::test::issue8 {

inline constexpr const char* kDecision = "macp.mode.decision.v1";

// Large enough for every envelope these tests move (the server allows payload + 64 KiB).
inline constexpr int kDefaultChannelLimit = 64 * 1024 * 1024;

// The harness Client with large-message limits and a longer per-call deadline; a transport
// failure of Send also shows in the returned ack, so callers printing ack errors see why.
class BigClient : public Client {
public:
    BigClient(const std::string& address, std::string bearer, std::chrono::seconds deadline = std::chrono::seconds(120))
        : Client(address, std::move(bearer), ClientOptions{kDefaultChannelLimit, deadline}) {}

    macp::v1::Ack send(const macp::v1::Envelope& env, grpc::Status* status = nullptr) {
        grpc::Status st;
        auto ack = Client::send(env, &st);
        if (status != nullptr) *status = st;
        if (!st.ok()) {
            ack.set_ok(false);
            ack.mutable_error()->set_code("GRPC_" + std::to_string(st.error_code()));
            ack.mutable_error()->set_message(st.error_message());
        }
        return ack;
    }
};

using Stream = grpc::ClientReaderWriter<macp::v1::StreamSessionRequest, macp::v1::StreamSessionResponse>;

// A passive StreamSession subscriber (STR-SUB-4): history after `after`, then live traffic.
struct Subscription {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<Stream> stream;

    Subscription(BigClient& c, const std::string& session_id, uint64_t after) : ctx(c.context()) {
        stream = c.stub().StreamSession(ctx.get());
        macp::v1::StreamSessionRequest r;
        r.set_subscribe_session_id(session_id);
        r.set_after_sequence(after);
        subscribed = stream->Write(r);
    }
    ~Subscription() {
        if (ctx) ctx->TryCancel();
        if (stream && !finished) stream->Finish();  // after the cancel this returns at once
    }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Next frame: true with an envelope; false at end of stream or on an inline error (in `error`).
    bool next(macp::v1::Envelope* out, std::string* error = nullptr) {
        macp::v1::StreamSessionResponse r;
        if (!stream->Read(&r)) {
            if (error != nullptr) {
                ended = true;
                auto st = stream->Finish();
                finished = true;
                *error = "stream ended: " + std::to_string(st.error_code()) + " " + st.error_message();
            }
            return false;
        }
        if (r.has_error()) {
            if (error != nullptr) *error = "inline error " + r.error().code() + " " + r.error().message();
            return false;
        }
        *out = r.envelope();
        return true;
    }

    bool subscribed = false;
    bool ended = false;
    bool finished = false;
};

// --- Payloads ------------------------------------------------------------------------------------

inline std::string decision_start(const std::vector<std::string>& participants, int64_t ttl_ms = 3'600'000) {
    return session_start_payload(participants, ttl_ms);  // mode_version 1.0.0, configuration cfg-1
}

inline std::string proposal(const std::string& id, const std::string& option = "ship it") {
    macp::modes::decision::v1::ProposalPayload p;
    p.set_proposal_id(id);
    p.set_option(option);
    p.set_rationale("because");
    return p.SerializeAsString();
}

inline std::string evaluation(const std::string& proposal_id, std::string reason,
                              const std::string& recommendation = "APPROVE") {
    macp::modes::decision::v1::EvaluationPayload e;
    e.set_proposal_id(proposal_id);
    e.set_recommendation(recommendation);
    e.set_confidence(0.9);
    e.set_reason(std::move(reason));
    return e.SerializeAsString();
}

inline std::string vote(const std::string& proposal_id, const std::string& v = "APPROVE") {
    macp::modes::decision::v1::VotePayload p;
    p.set_proposal_id(proposal_id);
    p.set_vote(v);
    p.set_reason("fine");
    return p.SerializeAsString();
}

inline std::string decision_commitment() {
    return commitment_payload("decision.approved", true);  // 1.0.0 / cfg-1 / bound policy
}

// `n` bytes of C0 control characters: valid UTF-8 for a proto3 string, and each one becomes a
// six-byte \u00XX escape in a JSON encoding of the mode state. \b \t \n \f \r are left out:
// they have two-byte escapes, and with them 3 x 1,000,000 bytes would encode to just under 16 MiB.
inline std::string control_chars(size_t n) {
    static constexpr char kSixByteEscapes[] = {1,  2,  3,  4,  5,  6,  7,  11, 14, 15, 16, 17, 18,
                                               19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = kSixByteEscapes[i % sizeof kSixByteEscapes];
    return s;
}

// `n` bytes cycling through every ASCII byte 0x01..0x7F (quotes, backslashes and control
// characters included): "a reason field full of bytes".
inline std::string mixed_bytes(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(1 + i % 127);
    return s;
}

// `n` bytes of printable text.
inline std::string text(size_t n, char salt = 'a') {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (salt - 'a' + i) % 26);
    return s;
}

// --- Inspection ----------------------------------------------------------------------------------

inline std::map<std::string, uint32_t> activity(const macp::v1::SessionMetadata& md) {
    std::map<std::string, uint32_t> out;
    for (const auto& a : md.participant_activity()) out[a.participant_id()] = a.message_count();
    return out;
}

inline std::string describe(const macp::v1::Ack& a) {
    return "ok=" + std::to_string(a.ok()) + " duplicate=" + std::to_string(a.duplicate()) + " code='" +
           a.error().code() + "' message='" + a.error().message() + "'";
}

// An acknowledged, first-time acceptance (REQUIRE: the rest of a test builds on it).
inline void expect_ok(const macp::v1::Ack& ack, const std::string& what) {
    INFO(what << ": " << describe(ack));
    REQUIRE(ack.ok());
    CHECK_FALSE(ack.duplicate());
}

// Identity of a file as a rewrite would change it: inode (atomic rename), size and mtime (ns).
struct FileStamp {
    bool exists = false;
    ino_t ino = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp& o) const {
        return exists == o.exists && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
    }
    bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

inline FileStamp stamp(const std::filesystem::path& p) {
    struct stat st {};
    FileStamp out;
    if (::stat(p.c_str(), &st) != 0) return out;
    out.exists = true;
    out.ino = st.st_ino;
    out.size = st.st_size;
    out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    return out;
}

}  // namespace macp::test::issue8
