// Shared helpers for the issue #8 integration tests (it_issue8_*.cpp) and the long-session
// benchmark: a client whose channel takes messages of any size the server allows, decision-mode
// payload builders, bulky payload bodies and a passive StreamSession subscriber.
//
// Not an it_*.cpp file, so the integration CMake glob does not turn it into a test of its own.
#pragma once

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

// The server sizes its gRPC limits as MACP_MAX_PAYLOAD_BYTES + 64 KiB (CFG-23); a client that
// sends or reads such envelopes needs limits of its own at least as large.
inline constexpr int kDefaultChannelLimit = 64 * 1024 * 1024;

inline std::shared_ptr<grpc::Channel> big_channel(const std::string& address, int max_bytes = kDefaultChannelLimit) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(max_bytes);
    args.SetMaxReceiveMessageSize(max_bytes);
    // Each client gets its own connection (the harness Client does too).
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Like harness Client, with large-message limits and a longer per-call deadline.
class BigClient {
public:
    BigClient(const std::string& address, std::string bearer, std::chrono::seconds deadline = std::chrono::seconds(120))
        : channel_(big_channel(address)),
          stub_(macp::v1::MACPRuntimeService::NewStub(channel_)),
          bearer_(std::move(bearer)),
          deadline_(deadline) {}

    std::unique_ptr<grpc::ClientContext> context() const {
        auto ctx = std::make_unique<grpc::ClientContext>();
        ctx->set_deadline(std::chrono::system_clock::now() + deadline_);
        if (!bearer_.empty()) ctx->AddMetadata("authorization", "Bearer " + bearer_);
        return ctx;
    }

    macp::v1::Ack send(const macp::v1::Envelope& env, grpc::Status* status = nullptr) {
        macp::v1::SendRequest req;
        *req.mutable_envelope() = env;
        macp::v1::SendResponse resp;
        auto ctx = context();
        auto st = stub_->Send(ctx.get(), req, &resp);
        if (status != nullptr) *status = st;
        if (!st.ok()) {
            // Make a transport failure visible in the ack so that callers checking ack.ok() and
            // printing the error see why.
            resp.mutable_ack()->set_ok(false);
            resp.mutable_ack()->mutable_error()->set_code("GRPC_" + std::to_string(st.error_code()));
            resp.mutable_ack()->mutable_error()->set_message(st.error_message());
        }
        return resp.ack();
    }

    grpc::Status get_session(const std::string& id, macp::v1::SessionMetadata* out) {
        macp::v1::GetSessionRequest req;
        req.set_session_id(id);
        macp::v1::GetSessionResponse resp;
        auto ctx = context();
        auto st = stub_->GetSession(ctx.get(), req, &resp);
        if (out != nullptr) *out = resp.metadata();
        return st;
    }

    // Every session in memory (ListSessions, following page tokens; bounded to 10000 pages).
    grpc::Status list_all(std::vector<macp::v1::SessionMetadata>* out, int page_size = 1000) {
        macp::v1::ListSessionsRequest req;
        req.set_page_size(page_size);
        for (int page = 0; page < 10000; ++page) {
            macp::v1::ListSessionsResponse resp;
            auto ctx = context();
            auto st = stub_->ListSessions(ctx.get(), req, &resp);
            if (!st.ok()) return st;
            for (const auto& m : resp.sessions()) out->push_back(m);
            if (resp.next_page_token().empty()) return st;
            req.set_page_token(resp.next_page_token());
        }
        return {grpc::StatusCode::INTERNAL, "ListSessions did not finish in 10000 pages"};
    }

    macp::v1::MACPRuntimeService::Stub& stub() { return *stub_; }

private:
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<macp::v1::MACPRuntimeService::Stub> stub_;
    std::string bearer_;
    std::chrono::seconds deadline_;
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
