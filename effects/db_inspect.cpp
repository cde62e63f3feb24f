#include "effects/db_inspect.hpp"

// g++ 12 inlines Asio 1.74's awaitable_frame operator new/delete pair and then reports them as
// mismatched (a false positive, GCC PR 109224 family); the frame allocator is Asio's own.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <libpq-fe.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <tuple>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "effects/manifest_sql.hpp"

namespace qpu::effects {

namespace {

using steady = std::chrono::steady_clock;
using net::use_awaitable;
using wait_type = net::posix::descriptor_base::wait_type;

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Drops the "LOCATION:" lines verbose error messages carry (source file and line of the server).
std::string without_location(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    const auto nl = s.find('\n');
    const auto line = s.substr(0, nl);
    if (!line.starts_with("LOCATION:")) {
      if (!out.empty()) out += ' ';
      out += line;
    }
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return trimmed(std::move(out));
}

// The deadline, shared with the timer's handler (which can run after the session is gone).
struct deadline_state {
  explicit deadline_state(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  net::posix::stream_descriptor* waiting = nullptr;  // the socket wait to cancel, if any
  bool expired = false;
  unsigned generation = 0;
  std::chrono::milliseconds limit{0};
};

// One libpq connection, driven from the Asio loop.
class session {
 public:
  session(net::any_io_executor ex, const connection_spec& spec, std::chrono::milliseconds timeout)
      : ex_(std::move(ex)),
        spec_(spec),
        start_(steady::now()),
        deadline_(start_ + timeout),
        timeout_(timeout),
        state_(std::make_shared<deadline_state>(ex_)) {}

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  ~session() {
    state_->timer.cancel();
    // A query still running on the server (we timed out, or the caller gave up): ask the server
    // to cancel it, or the backend keeps working until it next writes to the closed socket.
    // PQcancel opens its own connection and blocks until the server hangs up, so it runs on a
    // thread of its own, never on the loop.
    if (conn_ && in_query_) {
      if (PGcancel* c = PQgetCancel(conn_.get())) {
        try {
          std::thread([c] {
            char err[256];
            PQcancel(c, err, sizeof err);
            PQfreeCancel(c);
          }).detach();
        } catch (const std::system_error&) {
          PQfreeCancel(c);
        }
      }
    }
  }

  net::awaitable<std::expected<void, db_error>> connect() {
    const auto port = std::to_string(spec_.port);
    // Keywords, not a conninfo string: the password is never formatted into text, and
    // expand_dbname=0 keeps a dbname like "host=... password=..." from being parsed.
    std::vector<const char*> keys{"host", "port", "user", "dbname", "sslmode", "application_name"};
    std::vector<const char*> values{spec_.host.c_str(),   port.c_str(),          spec_.user.c_str(),
                                    spec_.dbname.c_str(), spec_.sslmode.c_str(), "quay-pg-upgrader"};
    if (!spec_.password.empty()) {
      keys.push_back("password");
      values.push_back(spec_.password.c_str());
    }
    if (!spec_.sslrootcert.empty()) {
      keys.push_back("sslrootcert");
      values.push_back(spec_.sslrootcert.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);

    const bool connect_bounded = spec_.connect_timeout.count() > 0 && steady::now() + spec_.connect_timeout < deadline_;
    arm(connect_bounded ? steady::now() + spec_.connect_timeout : deadline_, connect_bounded ? spec_.connect_timeout : timeout_);

    conn_.reset(PQconnectStartParams(keys.data(), values.data(), 0));
    if (!conn_) co_return fail(db_error_kind::connection_failed, "connecting to", "libpq: out of memory");
    // Verbose messages carry the SQLSTATE ("FATAL:  28P01: ..."): during the start-up the
    // server's error reaches us only as text, and the code is what tells auth from the rest.
    PQsetErrorVerbosity(conn_.get(), PQERRORS_VERBOSE);
    if (PQstatus(conn_.get()) == CONNECTION_BAD) co_return connect_failure();

    // libpq: after PQconnectStart, act as if PQconnectPoll had returned PGRES_POLLING_WRITING.
    PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
    while (poll != PGRES_POLLING_OK) {
      if (poll == PGRES_POLLING_FAILED) co_return connect_failure();
      const auto w = poll == PGRES_POLLING_READING ? wait_type::wait_read : wait_type::wait_write;
      if (auto r = co_await wait(w, "connecting to"); !r) co_return r;
      poll = PQconnectPoll(conn_.get());
    }
    if (PQsetnonblocking(conn_.get(), 1) != 0) co_return connect_failure();
    PQsetErrorVerbosity(conn_.get(), PQERRORS_DEFAULT);
    arm(deadline_, timeout_);
    co_return std::expected<void, db_error>{};
  }

  // Moves the deadline to `total` after the session began (the work turned out to need more, or
  // less); `why` says in a timeout's message how the limit was reached.
  void extend_to(std::chrono::milliseconds total, std::string why) {
    deadline_ = start_ + total;
    timeout_ = total;
    limit_why_ = std::move(why);
    if (!state_->expired) arm(deadline_, timeout_);
  }

  // Runs sql (simple protocol) and returns the rows of the last result that had rows.
  net::awaitable<std::expected<text_rows, db_error>> exec(const std::string& sql, std::string_view phase) {
    PGconn* c = conn_.get();
    if (!PQsendQuery(c, sql.c_str())) co_return query_failure(nullptr, phase);
    in_query_ = true;
    for (int f = PQflush(c); f != 0; f = PQflush(c)) {
      if (f < 0) co_return query_failure(nullptr, phase);
      if (auto r = co_await wait(wait_type::wait_write, phase); !r) co_return std::unexpected(r.error());
      if (!PQconsumeInput(c)) co_return query_failure(nullptr, phase);
    }
    text_rows rows;
    std::optional<db_error> error;
    for (;;) {
      while (PQisBusy(c)) {
        if (auto r = co_await wait(wait_type::wait_read, phase); !r) co_return std::unexpected(r.error());
        if (!PQconsumeInput(c)) co_return query_failure(nullptr, phase);
      }
      result_ptr res{PQgetResult(c)};
      if (!res) break;
      switch (PQresultStatus(res.get())) {
        case PGRES_TUPLES_OK: rows = to_rows(res.get()); break;
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY: break;
        default:
          if (!error) error = query_failure(res.get(), phase).error();
      }
    }
    in_query_ = false;
    if (error) co_return std::unexpected(*error);
    co_return rows;
  }

 private:
  // Re-arms the deadline; a handler from an earlier arming sees a newer generation and stays out.
  void arm(steady::time_point at, std::chrono::milliseconds limit) {
    auto& s = *state_;
    ++s.generation;
    s.limit = limit;
    s.timer.expires_at(at);
    s.timer.async_wait([st = state_, gen = s.generation](const boost::system::error_code& ec) {
      if (ec || gen != st->generation) return;
      st->expired = true;
      if (st->waiting) {
        boost::system::error_code ignored;
        st->waiting->cancel(ignored);
      }
    });
  }

  // Waits until the socket is readable or writable. The descriptor wraps libpq's socket for this
  // one wait and is released (not closed) after: libpq owns the socket and may replace it while
  // connecting (next address, SSL retry).
  net::awaitable<std::expected<void, db_error>> wait(wait_type w, std::string_view phase) {
    if (state_->expired) co_return timed_out(phase);
    const int fd = PQsocket(conn_.get());
    if (fd < 0) co_return fail(db_error_kind::connection_failed, phase, "the connection has no socket");
    struct borrowed {
      borrowed(const net::any_io_executor& ex, int fd, deadline_state& s) : sd(ex, fd), st(s) { st.waiting = &sd; }
      ~borrowed() {
        st.waiting = nullptr;
        sd.release();
      }
      borrowed(const borrowed&) = delete;
      borrowed& operator=(const borrowed&) = delete;
      net::posix::stream_descriptor sd;
      deadline_state& st;
    } b(ex_, fd, *state_);
    boost::system::error_code ec;
    co_await b.sd.async_wait(w, net::redirect_error(use_awaitable, ec));
    if (state_->expired) co_return timed_out(phase);
    if (ec) co_return fail(db_error_kind::connection_failed, phase, "waiting on the socket: " + ec.message());
    co_return std::expected<void, db_error>{};
  }

  static text_rows to_rows(const PGresult* r) {
    text_rows rows(static_cast<std::size_t>(PQntuples(r)));
    const int cols = PQnfields(r);
    for (int i = 0; i < PQntuples(r); ++i) {
      auto& row = rows[static_cast<std::size_t>(i)];
      row.reserve(static_cast<std::size_t>(cols));
      for (int j = 0; j < cols; ++j) row.emplace_back(PQgetvalue(r, i, j), static_cast<std::size_t>(PQgetlength(r, i, j)));
    }
    return rows;
  }

  std::string where() const {
    return "postgres at " + spec_.host + ":" + std::to_string(spec_.port) + " (database " + spec_.dbname + ", user " +
           spec_.user + ")";
  }

  // The password never leaves this object: libpq does not echo it, and this makes sure.
  std::string scrubbed(std::string s) const {
    const auto& pw = spec_.password;
    if (pw.empty()) return s;
    for (auto pos = s.find(pw); pos != std::string::npos; pos = s.find(pw, pos + 3)) {
      s.replace(pos, pw.size(), "***");
    }
    return s;
  }

  std::unexpected<db_error> fail(db_error_kind kind, std::string_view phase, std::string detail) const {
    return std::unexpected(db_error{kind, scrubbed(std::string(phase) + " " + where() + ": " + detail)});
  }

  std::unexpected<db_error> timed_out(std::string_view phase) const {
    if (!limit_why_.empty() && state_->limit == timeout_)
      return fail(db_error_kind::timeout, phase,
                  "not done within " + std::to_string(state_->limit.count()) + " ms (" + limit_why_ +
                      "); the server is up but slower than that: check its load and storage, or allow more with "
                      "--database-timeout or a lower --database-min-rate");
    return fail(db_error_kind::timeout, phase,
                "no answer within " + std::to_string(state_->limit.count()) + " ms; check that the server is up and reachable");
  }

  std::unexpected<db_error> connect_failure() const {
    const std::string msg = PQerrorMessage(conn_.get());
    // 28P01 invalid_password, 28000 invalid_authorization_specification (no pg_hba.conf entry,
    // role does not exist), as verbose messages print them: "FATAL:  28P01: ...".
    const bool auth = msg.find(" 28P01: ") != std::string::npos || msg.find(" 28000: ") != std::string::npos;
    return fail(auth ? db_error_kind::auth_failed : db_error_kind::connection_failed, "connecting to", without_location(msg));
  }

  std::unexpected<db_error> query_failure(const PGresult* r, std::string_view phase) const {
    if (!r || PQstatus(conn_.get()) == CONNECTION_BAD) {
      const std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get());
      const auto kind = PQstatus(conn_.get()) == CONNECTION_BAD ? db_error_kind::connection_failed : db_error_kind::query_failed;
      return fail(kind, phase, "connection lost: " + trimmed(msg));
    }
    const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    std::string detail = trimmed(PQresultErrorMessage(r));
    if (code) detail += std::string(" (SQLSTATE ") + code + ")";
    // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now: the server is going
    // away or not ready, which a retry can outlive.
    const std::string_view sqlstate = code ? code : "";
    const bool transient = sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
    return fail(transient ? db_error_kind::connection_failed : db_error_kind::query_failed, phase, detail);
  }

  net::any_io_executor ex_;
  connection_spec spec_;
  steady::time_point start_;
  steady::time_point deadline_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<deadline_state> state_;
  conn_ptr conn_;
  bool in_query_ = false;
  std::string limit_why_;
};

template <class T>
std::optional<T> to_number(std::string_view s) {
  T v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// One row: server_version_num, bytes of the databases this user may connect to (pg_database_size
// fails on the others), pg_trgm installed in this database; then template0's encoding, collation
// and ctype and the install user (the role of OID 10), which every role may read: what the
// pg_upgrade Job's initdb repeats (the Job reads them the same way when they are not given).
// Catalog names valid on 9.2..17.
constexpr const char* facts_sql =
    "SELECT current_setting('server_version_num'),"
    " (SELECT coalesce(sum(pg_database_size(d.oid)), 0)::bigint FROM pg_database d"
    "   WHERE NOT d.datistemplate AND has_database_privilege(d.oid, 'CONNECT')),"
    " EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'),"
    " (SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template0'),"
    " (SELECT datcollate FROM pg_database WHERE datname = 'template0'),"
    " (SELECT datctype FROM pg_database WHERE datname = 'template0'),"
    " (SELECT rolname FROM pg_roles WHERE oid = 10)";
constexpr std::size_t facts_columns = 7;

db_error bad_answer(const connection_spec& spec, std::string_view what) {
  return {db_error_kind::query_failed, "reading " + std::string(what) + " from postgres at " + spec.host + ":" +
                                           std::to_string(spec.port) + ": unexpected answer"};
}

}  // namespace

std::string_view to_string(db_error_kind k) {
  switch (k) {
    case db_error_kind::connection_failed: return "ConnectionFailed";
    case db_error_kind::auth_failed: return "AuthFailed";
    case db_error_kind::timeout: return "Timeout";
    case db_error_kind::query_failed: return "QueryFailed";
  }
  return "QueryFailed";
}

db_failure to_failure(const db_error& e) { return {std::string(to_string(e.kind)), e.message}; }

bool is_transient(const db_error& e) { return e.kind == db_error_kind::connection_failed || e.kind == db_error_kind::timeout; }

std::chrono::milliseconds time_limit::for_bytes(std::int64_t bytes) const {
  if (min_bytes_per_s <= 0 || bytes <= 0) return base;
  const double seconds = static_cast<double>(bytes) / min_bytes_per_s;
  // Saturates far beyond any real database (a year).
  const double ms = std::min(seconds * 1000.0, 365.0 * 24 * 3600 * 1000);
  return base + std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

net::awaitable<std::expected<qpu::database_facts, db_error>> inspect_database(net::any_io_executor ex, connection_spec spec,
                                                                              bool with_manifest,
                                                                              std::chrono::milliseconds timeout) {
  return inspect_database(std::move(ex), std::move(spec), with_manifest, time_limit{timeout, 0});
}

namespace {

// The manifest of the session's database, in one REPEATABLE READ snapshot, appended to `out`
// (digests named `database`; empty for the app's). on_table: as inspect_database's.
net::awaitable<std::expected<void, db_error>> read_manifest(session& s, const connection_spec& spec, std::vector<qpu::table_digest>& out,
                                                            const std::string& database, const manifest_progress_fn& on_table) {
  if (auto r = co_await s.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting the manifest on"); !r) {
    co_return std::unexpected(r.error());
  }
  auto queries = co_await s.exec(manifest_tables_query(), "listing tables on");
  if (!queries) co_return std::unexpected(queries.error());
  // The tables' sizes in the same order, for the progress only (read in the same snapshot).
  std::vector<std::int64_t> sizes;
  std::int64_t total = 0, done = 0;
  if (on_table) {
    auto rows = co_await s.exec(manifest_sizes_query(), "measuring tables on");
    if (!rows) co_return std::unexpected(rows.error());
    for (const auto& r : *rows) sizes.push_back(r.size() == 1 ? to_number<std::int64_t>(r[0]).value_or(0) : 0);
    if (sizes.size() != queries->size()) sizes.clear();  // a table came or went between the two reads: no progress
    for (const auto b : sizes) total += b;
  }
  for (std::size_t i = 0; i < queries->size(); ++i) {
    const auto& q = (*queries)[i];
    if (q.size() != 1) co_return std::unexpected(bad_answer(spec, "the table list"));
    auto line = co_await s.exec(q[0], "digesting a table on");
    if (!line) co_return std::unexpected(line.error());
    std::optional<qpu::table_digest> d;
    if (line->size() == 1 && (*line)[0].size() == 1) d = parse_manifest_line((*line)[0][0]);
    if (!d) co_return std::unexpected(bad_answer(spec, "a table digest"));
    d->database = database;
    out.push_back(std::move(*d));
    if (!sizes.empty()) {
      done += sizes[i];
      on_table(done, total);
    }
  }
  if (auto r = co_await s.exec("COMMIT", "ending the manifest on"); !r) co_return std::unexpected(r.error());
  co_return std::expected<void, db_error>{};
}

// The catalog (catalog_query), sorted by object then attribute; as a superuser with every
// database and the roles' passwords (as catalog_options says). Returns whether it was a superuser.
net::awaitable<std::expected<bool, db_error>> read_catalog(session& s, const connection_spec& spec, const catalog_options& options,
                                                           std::vector<qpu::catalog_fact>& out) {
  auto super = co_await s.exec("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", "reading the role of");
  if (!super) co_return std::unexpected(super.error());
  const bool superuser = super->size() == 1 && (*super)[0].size() == 1 && (*super)[0][0] == "t";
  auto rows = co_await s.exec(catalog_query(superuser), "reading databases and roles from");
  if (!rows) co_return std::unexpected(rows.error());
  for (auto& r : *rows) {
    if (r.size() != 3) co_return std::unexpected(bad_answer(spec, "the catalog"));
    out.push_back({std::move(r[0]), std::move(r[1]), std::move(r[2])});
  }
  if (superuser) {
    auto passwords = co_await s.exec(role_passwords_query(), "reading role passwords from");
    if (!passwords) co_return std::unexpected(passwords.error());
    for (const auto& r : *passwords) {
      if (r.size() != 2) co_return std::unexpected(bad_answer(spec, "the role passwords"));
      const bool image_sets = std::ranges::find(options.image_roles, r[0]) != options.image_roles.end();
      std::string value = r[1].empty() ? "none" : "set";
      if (!r[1].empty() && !image_sets && options.fingerprint) value = options.fingerprint(r[1]);
      out.push_back({"role " + r[0], image_sets ? "password (set by the image)" : "password", std::move(value)});
    }
  }
  std::ranges::sort(out, [](const auto& a, const auto& b) { return std::tie(a.object, a.attribute) < std::tie(b.object, b.attribute); });
  co_return superuser;
}

}  // namespace

net::awaitable<std::expected<qpu::database_facts, db_error>> inspect_database(net::any_io_executor ex, connection_spec spec,
                                                                              bool with_manifest, time_limit limit,
                                                                              manifest_progress_fn on_table,
                                                                              catalog_options catalog) {
  session s(ex, spec, limit.base);
  if (auto r = co_await s.connect(); !r) co_return std::unexpected(r.error());
  if (auto r = co_await s.exec(session_settings_sql(), "pinning settings on"); !r) {
    co_return std::unexpected(r.error());
  }
  auto facts_rows = co_await s.exec(facts_sql, "reading version and sizes from");
  if (!facts_rows) co_return std::unexpected(facts_rows.error());
  if (facts_rows->size() != 1 || (*facts_rows)[0].size() != facts_columns) {
    co_return std::unexpected(bad_answer(spec, "server_version_num"));
  }
  const auto& row = (*facts_rows)[0];
  qpu::database_facts facts;
  const auto version = to_number<std::int32_t>(row[0]);
  const auto bytes = to_number<std::int64_t>(row[1]);
  if (!version || !bytes) co_return std::unexpected(bad_answer(spec, "server_version_num"));
  facts.server_version_num = *version;
  facts.database_bytes = *bytes;
  facts.has_pg_trgm = row[2] == "t";
  facts.cluster_encoding = row[3];
  facts.cluster_collate = row[4];
  facts.cluster_ctype = row[5];
  facts.install_user = row[6];
  if (!with_manifest) co_return facts;
  // database_bytes counts every database this user may connect to: the limit covers them all.
  const auto whole = limit.for_bytes(facts.database_bytes);
  const auto deadline = steady::now() + whole;
  if (limit.min_bytes_per_s > 0) {
    char why[160];
    std::snprintf(why, sizeof why, "%lld s plus %.1f MB at %.1f MB/s", static_cast<long long>(limit.base.count() / 1000),
                  static_cast<double>(facts.database_bytes) / 1e6, limit.min_bytes_per_s / 1e6);
    s.extend_to(whole, why);
  }
  auto superuser = co_await read_catalog(s, spec, catalog, facts.catalog);
  if (!superuser) co_return std::unexpected(superuser.error());
  facts.has_catalog = true;
  if (auto r = co_await read_manifest(s, spec, facts.tables, "", on_table); !r) co_return std::unexpected(r.error());
  if (*superuser && catalog.other_databases) {
    // Every other database the catalog lists, each on a connection of its own, within what is left.
    for (const auto& c : facts.catalog) {
      if (c.attribute != "owner" || !c.object.starts_with("database ")) continue;
      auto other = spec;
      other.dbname = c.object.substr(9);
      if (other.dbname == spec.dbname) continue;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      session o(ex, other, std::max(left, std::chrono::milliseconds{1}));
      if (auto r = co_await o.connect(); !r) co_return std::unexpected(r.error());
      if (auto r = co_await o.exec(session_settings_sql(), "pinning settings on"); !r) co_return std::unexpected(r.error());
      if (auto r = co_await read_manifest(o, other, facts.tables, other.dbname, {}); !r) co_return std::unexpected(r.error());
    }
  }
  facts.has_manifest = true;
  co_return facts;
}

net::awaitable<std::expected<text_rows, db_error>> query_rows(net::any_io_executor ex, connection_spec spec, std::string sql,
                                                              std::chrono::milliseconds timeout) {
  session s(ex, spec, timeout);
  if (auto r = co_await s.connect(); !r) co_return std::unexpected(r.error());
  co_return co_await s.exec(sql, "querying");
}

}  // namespace qpu::effects
