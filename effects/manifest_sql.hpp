// The data manifest: one line per ordinary user table, "schema.table<TAB>rows<TAB>checksum",
// ordered by name, identical on PostgreSQL 10..17 for the same data. Taken before a backup and
// after a restore or pg_upgrade, equal manifests mean the data came through unchanged.
//
// There is ONE definition of the per-table query: manifest_tables_query() asks the catalog and
// returns, per table, the SQL text of that table's digest query (one text column). psql runs it
// with \gexec (manifest_psql_script); the C++ side (db_inspect) runs the same catalog query and
// then each returned statement. Either way the server computes every line, so both forms print
// the same text.
#pragma once

#include "core/events.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace qpu::effects {

// SET statements pinning every setting that changes the text of a value or of the output
// (TimeZone, DateStyle, IntervalStyle, bytea_output, extra_float_digits, client_encoding,
// search_path). Several statements; run with PQexec (simple protocol) or psql.
std::string session_settings_sql();

// One SELECT (no trailing semicolon) over the catalog returning a single text column: for each
// ordinary table (relkind 'r', so each partition leaf once and no partitioned parent), ordered
// by schema then name in "C" collation, the SQL of its digest query. Each digest query returns
// one row with one text column, "schema.table\trows\tchecksum". Works on 9.2..17.
//
// Row text: ROW(col, ...)::text over the live columns in attnum order, with float4/float8,
// geometric types and arrays of them rendered through their binary send functions (exact and
// unaffected by PG12's float output change and by extra_float_digits) and money cast to numeric
// (independent of lc_monetary). Checksum: the sum over rows of the first 16 hex digits of
// md5(row text) read as a signed 64-bit integer, summed as numeric (exact, order-independent,
// one streaming aggregate, no sort); 0 for an empty table.
std::string manifest_tables_query();
// Each of those tables' pg_relation_size (its heap, the part a manifest reads), in the same order.
std::string manifest_sizes_query();

// The whole psql script: settings, a REPEATABLE READ READ ONLY transaction (one snapshot for
// every table), the catalog query with \gexec, COMMIT. Run it as
//   psql -X -q -At -v ON_ERROR_STOP=1 -f manifest.sql
// (psql >= 9.6 for \gexec; any server 9.2..17). It prints the manifest lines and nothing else.
std::string manifest_psql_script();

// The same as manifest_psql_script(): the name the backup Job uses.
std::string manifest_sql();

// The catalog the restore must bring back, one row per property: object, attribute, value (the
// columns of qpu::catalog_fact), unordered. Objects: "database NAME" (owner, encoding, collate,
// ctype, connection limit, acl: its items sorted, a default ACL spelled out; comment; settings),
// "role NAME" (attributes, connection limit, valid until, "member of GROUP", settings, "settings in
// database NAME"). Roles named pg_* are the server's own and differ between versions: left out.
// every_database: every database that accepts connections and is no template, as an admin's
// backup carries them; otherwise only the connected one (the app user's backup carries only it).
// Text pinned by session_settings_sql (valid until: ISO, UTC). 9.5..17.
std::string catalog_query(bool every_database);
// Each role's password hash (pg_authid: superuser only): rolname, rolpassword ('' for none).
std::string role_passwords_query();

// Parses one manifest line ("schema.table\trows\tchecksum"); nullopt when it is not one.
std::optional<qpu::table_digest> parse_manifest_line(std::string_view line);

}  // namespace qpu::effects
