// A throw-away PKI for TLS tests (it_tls_test, it_macpctl_test): CAs and leaves signed by them,
// EC P-256, valid one day, made with the openssl command line.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace macp::test {

// Runs a shell command quietly; true when it exits 0.
inline bool sh(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

struct Pki {
    std::filesystem::path dir;

    bool ca(const std::string& name) const {
        return sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" + name +
                  " -keyout '" + key(name) + "' -out '" + pem(name) + "'");
    }
    // A leaf `name` signed by CA `issuer`; `san` e.g. "IP:127.0.0.1,DNS:localhost".
    bool leaf(const std::string& name, const std::string& issuer, const std::string& cn, const std::string& san) const {
        const std::string ext = (dir / (name + ".ext")).string();
        std::ofstream(ext) << "subjectAltName=" << san << "\nextendedKeyUsage=serverAuth,clientAuth\n";
        return sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + cn + " -keyout '" +
                  key(name) + "' -out '" + (dir / (name + ".csr")).string() + "'") &&
               sh("openssl x509 -req -days 1 -in '" + (dir / (name + ".csr")).string() + "' -CA '" + pem(issuer) +
                  "' -CAkey '" + key(issuer) + "' -CAcreateserial -extfile '" + ext + "' -out '" + pem(name) + "'");
    }
    [[nodiscard]] std::string pem(const std::string& name) const { return (dir / (name + ".pem")).string(); }
    [[nodiscard]] std::string key(const std::string& name) const { return (dir / (name + ".key")).string(); }
};

}  // namespace macp::test
