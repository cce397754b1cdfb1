// auth-hmac: a sample third-party auth plugin. A caller sends `x-hmac-agent: <id>` and
// `x-hmac-signature: <hex HMAC-SHA256(secret, id)>`; built with the pkg-config route.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <macp/plugin/sdk/auth.hpp>

namespace {

using macp::sdk::Error;

std::string hex_hmac(const std::string& secret, std::string_view message) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len) == nullptr) {
        throw Error(MACP_STATUS_INTERNAL, "HMAC failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 0xf];
    }
    return out;
}

class HmacResolver {
public:
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::health | macp::sdk::op::check_config;

    explicit HmacResolver(const macp::sdk::Config& cfg) : secret_(cfg.get_or("MACP_HMAC_SECRET", "")) {
        check_config(cfg);
    }
    static void check_config(const macp::sdk::Config& cfg) {
        if (cfg.get_or("MACP_HMAC_SECRET", "").size() < 16) {
            throw Error(MACP_STATUS_INVALID_ARGUMENT, "MACP_HMAC_SECRET must have at least 16 bytes");
        }
    }

    std::optional<macp::sdk::Identity> resolve(const macp::sdk::Metadata& md, const macp::sdk::CallContext& call) {
        const auto agent = md.get("x-hmac-agent");
        if (!agent) return std::nullopt;  // not ours: the next resolver may know the caller
        const auto signature = md.get("x-hmac-signature");
        if (!signature || signature->size() != 64)
            throw Error(MACP_STATUS_AUTH_MALFORMED, "missing or short signature");
        const std::string expected = hex_hmac(secret_, *agent);
        if (CRYPTO_memcmp(expected.data(), signature->data(), expected.size()) != 0) {
            call.logger().warn("bad signature for agent " + std::string(*agent));
            throw Error(MACP_STATUS_AUTH_INVALID_CREDENTIAL, "signature does not match");
        }
        macp::sdk::Identity id;
        id.sender = std::string(*agent);
        return id;
    }
    std::string health() { return "hmac-sha256 signatures"; }

private:
    std::string secret_;
};

const macp_config_key kKeys[] = {
    macp::sdk::config_key("MACP_HMAC_SECRET", nullptr, "Shared HMAC-SHA256 secret (at least 16 bytes)",
                          MACP_CONFIG_REQUIRED | MACP_CONFIG_SECRET),
};

}  // namespace

MACP_AUTH_PLUGIN(HmacResolver, "hmac", "1.0.0", "HMAC-SHA256 signed agent header (sample third-party plugin)",
                 MACP_PLUGIN_FLAG_THREAD_SAFE, kKeys)
