#include "service/cluster_peers.hpp"

#include <algorithm>

namespace macp::service {

macp::v1::MACPRuntimeService::Stub& PeerChannels::stub(const std::string& address) {
    std::lock_guard lock(mu_);
    auto found = stubs_.find(address);
    if (found != stubs_.end()) return *found->second.second;
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (options_.tls) {
        grpc::SslCredentialsOptions ssl;
        ssl.pem_root_certs = options_.ca_pem;
        ssl.pem_cert_chain = options_.cert_pem;
        ssl.pem_private_key = options_.key_pem;
        creds = grpc::SslCredentials(ssl);
    } else {
        creds = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments args;
    if (options_.max_message_bytes > 0) {
        args.SetMaxReceiveMessageSize(options_.max_message_bytes);
        args.SetMaxSendMessageSize(options_.max_message_bytes);
    }
    auto channel = grpc::CreateCustomChannel(address, creds, args);
    auto stub = macp::v1::MACPRuntimeService::NewStub(channel);
    auto& slot = stubs_[address];
    slot = {std::move(channel), std::move(stub)};
    return *slot.second;
}

bool is_forwarded(const grpc::ServerContextBase& ctx) {
    return ctx.client_metadata().count(kForwardedHeader) != 0;
}

std::vector<std::pair<std::string, std::string>> forwardable_metadata(const grpc::ServerContextBase& ctx) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : ctx.client_metadata()) {
        std::string key(k.data(), k.size());
        if (key.empty() || key[0] == ':' || key.rfind("grpc-", 0) == 0 || key == "content-type" || key == "te" ||
            key == "user-agent" || key == "host" || key == kForwardedHeader) {
            continue;
        }
        out.emplace_back(std::move(key), std::string(v.data(), v.size()));
    }
    return out;
}

std::unique_ptr<grpc::ClientContext> forwarding_context(const std::vector<std::pair<std::string, std::string>>& md,
                                                        const std::string& node_id,
                                                        std::chrono::system_clock::time_point deadline) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    for (const auto& [k, v] : md) ctx->AddMetadata(k, v);
    ctx->AddMetadata(kForwardedHeader, node_id);
    ctx->set_deadline(deadline);
    return ctx;
}

bool reroute_after(const grpc::Status& status) {
    // UNAVAILABLE: the owner cannot be reached, or answered that it no longer owns the session.
    return status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

}  // namespace macp::service
