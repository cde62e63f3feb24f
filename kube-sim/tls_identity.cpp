#include "tls_identity.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace kube_sim {
namespace {

struct openssl_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <class T>
using owned = std::unique_ptr<T, openssl_free>;

bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

owned<X509> new_certificate(EVP_PKEY* key, const char* common_name, long serial) {
  owned<X509> cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  return cert;
}

std::string pem_of(X509* cert) {
  owned<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
  owned<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string random_token() {
  unsigned char bytes[24];
  RAND_bytes(bytes, sizeof bytes);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "kube-sim-";
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

bool is_ip_address(const std::string& host) {
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string::npos;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

result<tls_identity> make_tls_identity(const std::string& host) {
  owned<EVP_PKEY> ca_key(EVP_EC_gen("P-256"));
  owned<EVP_PKEY> server_key(EVP_EC_gen("P-256"));
  if (!ca_key || !server_key) return std::unexpected(internal_error("could not generate EC keys"));

  auto ca = new_certificate(ca_key.get(), "kube-sim-ca", 1);
  X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
  bool ok = add_extension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE") &&
            add_extension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") &&
            add_extension(ca.get(), ca.get(), NID_subject_key_identifier, "hash") &&
            X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0;

  auto server = new_certificate(server_key.get(), "kube-sim", 2);
  X509_set_issuer_name(server.get(), X509_get_subject_name(ca.get()));
  std::string san = "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:127.0.0.1";
  if (is_ip_address(host) && host != "127.0.0.1") san += ",IP:" + host;
  else if (!is_ip_address(host) && host != "localhost") san += ",DNS:" + host;
  ok = ok && add_extension(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") &&
       add_extension(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
       add_extension(server.get(), ca.get(), NID_ext_key_usage, "serverAuth") &&
       add_extension(server.get(), ca.get(), NID_subject_key_identifier, "hash") &&
       add_extension(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always") &&
       add_extension(server.get(), ca.get(), NID_subject_alt_name, san.c_str()) &&
       X509_sign(server.get(), ca_key.get(), EVP_sha256()) > 0;
  if (!ok) return std::unexpected(internal_error("could not build the kube-sim certificates"));
  return tls_identity{pem_of(ca.get()), pem_of(ca_key.get()), pem_of(server.get()), pem_of(server_key.get()), random_token()};
}

result<tls_identity> load_or_make_tls_identity(const std::filesystem::path& dir, const std::string& host) {
  const auto names = {"ca.crt", "ca.key", "server.crt", "server.key", "token"};
  bool all_there = true;
  for (const auto* n : names) all_there = all_there && std::filesystem::exists(dir / n);
  if (all_there)
    return tls_identity{read_file(dir / "ca.crt"), read_file(dir / "ca.key"), read_file(dir / "server.crt"),
                        read_file(dir / "server.key"), read_file(dir / "token")};
  auto made = make_tls_identity(host);
  if (!made) return made;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return std::unexpected(internal_error("cannot create " + dir.string() + ": " + ec.message()));
  const std::string* texts[] = {&made->ca_cert_pem, &made->ca_key_pem, &made->server_cert_pem, &made->server_key_pem,
                                &made->token};
  int i = 0;
  for (const auto* n : names) {
    std::ofstream out(dir / n, std::ios::trunc);
    out << *texts[i++];
    if (!out) return std::unexpected(internal_error("cannot write " + (dir / n).string()));
  }
  std::filesystem::permissions(dir / "ca.key", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::permissions(dir / "server.key", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return made;
}

}  // namespace kube_sim
