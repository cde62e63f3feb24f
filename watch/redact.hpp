#pragma once
// Secrets never reach the event log: before a watch line or a listed object is decoded and
// logged, every literal value of a container's env (`env[].value`, wherever an `env` list sits:
// Deployments, Pods, Jobs) and the `kubectl.kubernetes.io/last-applied-configuration` annotation
// (which repeats a whole applied object) are replaced by a token
//
//   qpu-redacted:<32 hex digits of HMAC-SHA256(key, value)>
//
// The key is the controller's (a file beside the event log, made once): a value keeps its token
// across restarts, so a replay still sees when a value changed, and nobody holding only the log
// can test guesses of a password against it. The env values the reducers read are kept as they
// are (kept_env_names: user and database names, PGDATA, the Quay operator's image names); the
// password variables are not among them, which is why the upgrade refuses a database Deployment
// whose password is a literal (reducers: LiteralPassword).
//
// Decoding reads the redacted text, live and in a replay alike, so both fold the same input.
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace qpu::watch {

// The env variables whose literal values are logged as they are: none of them is a secret, and the
// reducers read them (core/decode.cpp, read_container).
inline constexpr std::string_view kept_env_names[] = {"POSTGRESQL_USER", "POSTGRESQL_DATABASE", "PGDATA",
                                                      "RELATED_IMAGE_COMPONENT_POSTGRES",
                                                      "RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES"};
inline constexpr std::string_view redacted_prefix = "qpu-redacted:";
inline constexpr std::string_view last_applied_annotation = "kubectl.kubernetes.io/last-applied-configuration";

class redactor {
 public:
  explicit redactor(std::string key) : key_(std::move(key)) {}

  // The key in `path`, made (32 random bytes, mode 0600) when the file does not exist yet.
  static std::expected<redactor, std::string> from_key_file(const std::string& path);

  // A JSON document (a watch line or one object): its text with every secret-bearing value
  // replaced, or nullopt when it holds none (the common case: the text is then logged verbatim)
  // or is not JSON (see text()).
  std::optional<std::string> json(std::string_view text) const;

  // Any text, JSON or not (a malformed line is logged as text): json() when it parses, else every
  // string that follows a "value" key or the last-applied annotation's key replaced, lexically.
  std::string text(std::string_view text) const;

  // The token of one value; a value that already is a token is its own token.
  std::string token(std::string_view value) const;

 private:
  std::string key_;
};

}  // namespace qpu::watch
