// JSON Web Keys (RFC 7517/7518) as OpenSSL EVP keys, and JWS signature checks with them.
#ifndef MACP_AUTH_JWT_KEYS_HPP
#define MACP_AUTH_JWT_KEYS_HPP

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

namespace macp::auth_jwt {

enum class Alg { RS256, ES256, HS256 };

// "RS256" -> Alg::RS256 (exact, case-sensitive as in RFC 7518); nullopt for anything else.
std::optional<Alg> alg_from_name(std::string_view name);
const char* alg_name(Alg alg);

enum class KeyType { Rsa, Ec, Oct };

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// One usable verification key. Immutable once built; shared read-only between threads (OpenSSL 3
// allows concurrent verifications with one EVP_PKEY when each has its own context).
class Jwk {
public:
    Jwk(KeyType type, std::optional<std::string> kid, std::optional<Alg> alg, Pkey pkey, std::string secret);
    ~Jwk();  // wipes an HMAC secret
    Jwk(Jwk&&) noexcept = default;
    Jwk& operator=(Jwk&&) noexcept = default;
    Jwk(const Jwk&) = delete;
    Jwk& operator=(const Jwk&) = delete;

    [[nodiscard]] KeyType type() const { return type_; }
    [[nodiscard]] const std::optional<std::string>& kid() const { return kid_; }
    // The JWK's own "alg" when it has one: the key is then used for that algorithm only.
    [[nodiscard]] const std::optional<Alg>& alg() const { return alg_; }
    // True when this key may check a token signed with `alg` (key type matches, JWK alg agrees).
    [[nodiscard]] bool usable_for(Alg alg) const;
    // Checks a JWS signature over `signing_input` ("<header>.<payload>"). Never throws.
    [[nodiscard]] bool verify(Alg alg, std::string_view signing_input, std::string_view signature) const noexcept;

private:
    KeyType type_;
    std::optional<std::string> kid_;
    std::optional<Alg> alg_;
    Pkey pkey_;           // RSA and EC
    std::string secret_;  // oct
};

struct KeySet {
    std::vector<Jwk> keys;
    std::vector<std::string> skipped;  // one line per JWK that was ignored, with the reason
    std::size_t count(KeyType t) const;
    bool has_kid(std::string_view kid) const;
    std::string summary() const;  // "3 keys (RSA 1, EC 1, oct 1)"
};

// Limits on a JWKS document.
inline constexpr std::size_t kMaxJwksBytes = 1024 * 1024;
inline constexpr std::size_t kMaxJwksKeys = 256;
inline constexpr std::size_t kMinRsaBits = 2048;
inline constexpr std::size_t kMinHmacKeyBytes = 32;

// Parses a JWKS document ({"keys": [...]}). Keys of other types (kty), other uses ("use" not
// "sig") or other algorithms are skipped, as is a key whose members are unusable (each noted in
// `skipped`). Throws macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT) when the document is not a
// JWKS or has no usable key.
KeySet parse_jwks(std::string_view json);

}  // namespace macp::auth_jwt

#endif  // MACP_AUTH_JWT_KEYS_HPP
