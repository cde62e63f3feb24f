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
#include <cstdint>
#include <expected>
#include <string>
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
  std::string sslmode = "prefer";
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

// Connects, pins the output settings (session_settings_sql), reads server_version_num, the sum
// of pg_database_size over the non-template databases this user may connect to, and whether
// pg_trgm is installed in the target database; with with_manifest also the data manifest (the
// same lines manifest_psql_script prints, in one REPEATABLE READ snapshot), has_manifest=true.
// timeout bounds the whole operation, connection included. spec is taken by value: an Asio
// awaitable starts only when awaited, after the caller's temporaries are gone.
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
