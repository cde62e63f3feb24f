// Database inspection through libpq without blocking the Asio loop.
//
// Every wait is on the connection's socket (PQconnectPoll / PQconsumeInput driven by
// stream_descriptor::async_wait), under one deadline (steady_timer). On the deadline a query in
// flight is cancelled (PQcancel, off the loop thread, since it blocks) and the connection closed;
// the caller gets db_error_kind::timeout. The password goes to libpq as a keyword value only:
// it is never part of a conninfo string, a log line or an error message.
#pragma once

#include "core/events.hpp"

#include <utility>  // before Asio: 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace qpu::effects {

namespace net = boost::asio;

// Where and as whom to connect. host may be a name, an address or a unix-socket directory.
struct connection_spec {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::string user = "postgres";
  std::string password;  // empty: none (libpq may still use ~/.pgpass)
  std::string dbname = "postgres";
  std::string sslmode = "prefer";  // libpq's sslmode (run --database-sslmode)
  std::string sslrootcert;  // the CA bundle verify-ca / verify-full check the server against (run --database-ca-file)
  // Bounds the connection phase (0: only the operation's timeout does). libpq ignores its own
  // connect_timeout in the non-blocking API, so this one is enforced here.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
  bool operator==(const connection_spec&) const = default;
};

enum class db_error_kind {
  connection_failed,  // refused, unreachable, lost mid-query, server shutting down: transient
  auth_failed,  // SQLSTATE 28P01 (wrong password) or 28000 (no pg_hba entry, no role)
  timeout,  // the deadline passed: transient
  query_failed,  // the server rejected a query (message carries the SQLSTATE)
};

// A failed database operation. message names the server (host:port, database, user), the phase
// and libpq's or the server's words; never the password.
struct db_error {
  db_error_kind kind = db_error_kind::connection_failed;
  std::string message;
  bool operator==(const db_error&) const = default;
};

// What an effect_failed carries for a db_error: reason ConnectionFailed, AuthFailed, Timeout or
// QueryFailed, and the message.
struct db_failure {
  std::string reason;
  std::string message;
  bool operator==(const db_failure&) const = default;
};
db_failure to_failure(const db_error& e);

// connection_failed and timeout: worth retrying as they are.
bool is_transient(const db_error& e);

std::string_view to_string(db_error_kind k);

// How long one inspection may take (issue 15, item 1): `base` for connecting and the catalog
// reads, plus, once the size is read and a manifest follows, that size at `min_bytes_per_s`. A
// manifest reads every row, so a fixed ceiling would fail every database above it, for good;
// below the minimum rate the server is stuck or starved, which a retry may outlive. min 0: the
// base alone bounds everything (a fixed ceiling).
struct time_limit {
  std::chrono::milliseconds base{120'000};
  double min_bytes_per_s = 0;
  // The whole session's limit for a database of `bytes` with a manifest.
  std::chrono::milliseconds for_bytes(std::int64_t bytes) const;
  bool operator==(const time_limit&) const = default;
};

// How an inspection with a manifest reads the cluster's catalog (catalog_query) beside the tables.
struct catalog_options {
  // A role's password hash as the facts carry it: a keyed digest (the controller's redaction
  // token), never the hash itself. Unset: only whether the role has a password.
  std::function<std::string(std::string_view)> fingerprint;
  // Roles whose password the database image sets from its Secret at start (the app user, and
  // postgres with an admin password): a restore keeps them but the image may hash them anew, so
  // only whether they have one is compared.
  std::vector<std::string> image_roles;
  // As a superuser, also the manifest of every other database the catalog lists (the controller
  // always: an admin's backup carries them all).
  bool other_databases = false;
};

// Connects, pins the output settings (session_settings_sql), reads server_version_num, the sum
// of pg_database_size over the non-template databases this user may connect to, and whether
// pg_trgm is installed in the target database; with with_manifest also the data manifest (the
// same lines manifest_psql_script prints, in one REPEATABLE READ snapshot), has_manifest=true,
// and the catalog (catalog_query; has_catalog=true). As a superuser, the catalog covers every
// database and each role's password (catalog_options), and with other_databases every other
// database's tables are read too (their digests name the database), each in a snapshot of its
// own: an admin's backup carries them all, so the verification compares them all.
// limit bounds the whole operation, connection included (time_limit above). spec is taken by
// value: an Asio awaitable starts only when awaited, after the caller's temporaries are gone.
// on_table, when set, is told after each table of the app database's manifest how many bytes of
// its tables' heap (pg_relation_size, in the manifest's order) are done out of all of them.
using manifest_progress_fn = std::function<void(std::int64_t done_bytes, std::int64_t total_bytes)>;
net::awaitable<std::expected<qpu::database_facts, db_error>> inspect_database(net::any_io_executor ex, connection_spec spec,
                                                                              bool with_manifest, time_limit limit,
                                                                              manifest_progress_fn on_table = {},
                                                                              catalog_options catalog = {});
// The same under a fixed limit.
net::awaitable<std::expected<qpu::database_facts, db_error>> inspect_database(net::any_io_executor ex, connection_spec spec,
                                                                              bool with_manifest,
                                                                              std::chrono::milliseconds timeout);

// Rows of a query result, as text (NULL as the empty string).
using text_rows = std::vector<std::vector<std::string>>;

// Connects, runs sql (the simple protocol: several statements allowed) and returns the rows of
// the last result that had rows. Same deadline and error rules as inspect_database.
net::awaitable<std::expected<text_rows, db_error>> query_rows(net::any_io_executor ex, connection_spec spec, std::string sql,
                                                              std::chrono::milliseconds timeout);

}  // namespace qpu::effects
