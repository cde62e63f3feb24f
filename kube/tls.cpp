#include "kube/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace qpu::kube {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::expected<ssl::context, std::string> make_tls_context(const kube_config& cfg) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                  ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (cfg.insecure_skip_tls_verify) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    ctx.set_verify_mode(ssl::verify_peer, ec);
    if (!cfg.ca_pem.empty()) {
      ctx.add_certificate_authority(net::buffer(cfg.ca_pem), ec);
      if (ec) return std::unexpected(cfg.origin + ": certificate-authority is not a usable PEM certificate: " + ec.message());
    } else {
      ctx.set_default_verify_paths(ec);
      if (ec) return std::unexpected("cannot load the system's CA certificates: " + ec.message());
    }
  }
  if (!cfg.client_cert_pem.empty()) {
    ctx.use_certificate_chain(net::buffer(cfg.client_cert_pem), ec);
    if (ec) return std::unexpected(cfg.origin + ": client-certificate is not a usable PEM certificate: " + ec.message());
    ctx.use_private_key(net::buffer(cfg.client_key_pem), ssl::context::pem, ec);
    if (ec) return std::unexpected(cfg.origin + ": client-key is not a usable PEM key: " + ec.message());
  }
  return ctx;
}

std::expected<void, std::string> prepare_tls_session(SSL* ssl, const std::string& host, bool verify) {
  const bool ip = is_ip_literal(host);
  if (!ip && !SSL_set_tlsext_host_name(ssl, host.c_str())) return std::unexpected("cannot set TLS SNI to " + host);
  if (!verify) return {};
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  if (ok != 1) return std::unexpected("cannot set the expected certificate name " + host);
  return {};
}

std::string describe_tls_failure(SSL* ssl, const std::string& what) {
  long verdict = SSL_get_verify_result(ssl);
  if (verdict != X509_V_OK)
    return what + ": certificate verify failed: " + X509_verify_cert_error_string(verdict) +
           " (check the cluster's certificate-authority, or the server address it was issued for)";
  return what;
}

}  // namespace qpu::kube
