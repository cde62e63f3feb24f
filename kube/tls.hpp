#pragma once
// TLS set-up for the API server connection: the trust anchors (the configured CA, else the
// system store), the client certificate, and per-connection SNI and peer-name checks.
#include <boost/asio/ssl.hpp>

#include <expected>
#include <string>

#include "kube/kube_config.hpp"

namespace qpu::kube {

// verify_peer unless the config says insecure-skip-tls-verify. Errors name the config's origin.
std::expected<boost::asio::ssl::context, std::string> make_tls_context(const kube_config& cfg);

// Sets SNI (for names only: RFC 6066 forbids IP literals there) and makes OpenSSL check that the
// certificate is for `host` (a DNS name or an IP address SAN), as Go's crypto/tls does.
std::expected<void, std::string> prepare_tls_session(SSL* ssl, const std::string& host, bool verify);

// A failed handshake in words: OpenSSL's certificate verdict when there is one
// ("certificate verify failed: unable to get local issuer certificate").
std::string describe_tls_failure(SSL* ssl, const std::string& what);

bool is_ip_literal(const std::string& host);

}  // namespace qpu::kube
