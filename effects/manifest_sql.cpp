#include "effects/manifest_sql.hpp"

#include <charconv>

namespace qpu::effects {

std::string session_settings_sql() {
  // Output-affecting settings, pinned so the same data prints the same text on every server
  // and from every client. search_path = pg_catalog: the built-in md5, format, ... are the
  // ones called even if a user schema defines functions with those names.
  return "SET client_encoding = 'UTF8';\n"
         "SET TimeZone = 'UTC';\n"
         "SET DateStyle = 'ISO, YMD';\n"
         "SET IntervalStyle = 'postgres';\n"
         "SET bytea_output = 'hex';\n"
         "SET extra_float_digits = 0;\n"
         "SET search_path = pg_catalog;\n";
}

namespace {
// The tables a manifest covers, in its order: the FROM ... ORDER BY both catalog queries share.
constexpr const char* manifest_table_set = R"sql(
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
  AND n.nspname !~ '^pg_temp_'
ORDER BY n.nspname::text COLLATE "C", c.relname::text COLLATE "C")sql";
}  // namespace

std::string manifest_tables_query() {
  // Column rendering, by the column's type (a domain counts as its base type):
  //  - float4, float8 and the geometric types (whose text output is built from float8out):
  //    PG12 switched float output to the shortest exact form, so their text differs between
  //    10/11 and 12+; their send functions give the exact bits, the same on every version.
  //  - arrays of those: array_send (binary: dims, element OID, elements via the element's send).
  //  - money: its text depends on lc_monetary; money::numeric (9.1+) does not.
  //  - everything else: its text output (stable across 10..17 with the settings pinned).
  // Only 9.2-era catalog columns and functions are used (no LATERAL, no relispartition).
  return R"sql(SELECT format(
    'SELECT %L || E''\t'' || count(*) || E''\t'' || coalesce(sum((''x'' || substr(md5(%s::text), 1, 16))::bit(64)::bigint), 0) FROM ONLY %I.%I t',
    n.nspname || '.' || c.relname,
    coalesce('ROW(' || (
      SELECT string_agg(
        CASE
          WHEN bt.oid IN (700, 701, 600, 601, 602, 603, 604, 628, 718)
            THEN format('%s(t.%I::%s)', bt.typsend::regproc, a.attname, format_type(bt.oid, NULL))
          WHEN bt.typcategory = 'A' AND bt.typelem IN (700, 701, 600, 601, 602, 603, 604, 628, 718)
            THEN format('array_send(t.%I)', a.attname)
          WHEN bt.oid = 790
            THEN format('t.%I::numeric', a.attname)
          ELSE format('t.%I', a.attname)
        END, ', ' ORDER BY a.attnum)
      FROM pg_attribute a
      JOIN pg_type ty ON ty.oid = a.atttypid
      JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    ) || ')', '''()'''),
    n.nspname, c.relname))sql" +
         std::string(manifest_table_set);
}

std::string manifest_sizes_query() {
  return "SELECT pg_relation_size(c.oid) + coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0)" +
         std::string(manifest_table_set);
}

std::string catalog_query(bool every_database) {
  // Sorted lists are sorted in "C" collation, so the text does not depend on the server's locale.
  std::string q = R"sql(WITH dbs AS (
  SELECT d.oid, d.datname, d.datdba, d.encoding, d.datcollate, d.datctype, d.datconnlimit, d.datacl FROM pg_database d
  WHERE d.datallowconn AND NOT d.datistemplate AND (%EVERY% OR d.datname = current_database())
)
SELECT 'database ' || d.datname, v.attribute, v.value
FROM dbs d CROSS JOIN LATERAL (VALUES
  ('owner', pg_get_userbyid(d.datdba)::text),
  ('encoding', pg_encoding_to_char(d.encoding)::text),
  ('collate', d.datcollate::text),
  ('ctype', d.datctype::text),
  ('connection limit', d.datconnlimit::text),
  ('acl', array_to_string(ARRAY(SELECT a::text FROM unnest(coalesce(d.datacl, acldefault('d', d.datdba))) a
                                ORDER BY a::text COLLATE "C"), ' ')),
  ('comment', coalesce(shobj_description(d.oid, 'pg_database'), ''))
) v(attribute, value)
UNION ALL
SELECT 'role ' || r.rolname, v.attribute, v.value
FROM pg_roles r CROSS JOIN LATERAL (VALUES
  ('attributes', concat_ws(' ',
     CASE WHEN r.rolsuper THEN 'SUPERUSER' ELSE 'NOSUPERUSER' END,
     CASE WHEN r.rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END,
     CASE WHEN r.rolcreaterole THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END,
     CASE WHEN r.rolcreatedb THEN 'CREATEDB' ELSE 'NOCREATEDB' END,
     CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
     CASE WHEN r.rolreplication THEN 'REPLICATION' ELSE 'NOREPLICATION' END,
     CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END)),
  ('connection limit', r.rolconnlimit::text),
  ('valid until', coalesce(r.rolvaliduntil::text, ''))
) v(attribute, value)
WHERE r.rolname !~ '^pg_'
UNION ALL
SELECT 'role ' || m.rolname, 'member of ' || g.rolname, CASE WHEN a.admin_option THEN 'with admin option' ELSE 'member' END
FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid
WHERE m.rolname !~ '^pg_'
UNION ALL
SELECT CASE WHEN s.setrole = 0 THEN 'database ' || db.datname ELSE 'role ' || r.rolname END,
       CASE WHEN s.setrole = 0 OR s.setdatabase = 0 THEN 'settings' ELSE 'settings in database ' || db.datname END,
       array_to_string(ARRAY(SELECT c FROM unnest(s.setconfig) c ORDER BY c COLLATE "C"), ', ')
FROM pg_db_role_setting s
LEFT JOIN pg_roles r ON r.oid = s.setrole
LEFT JOIN pg_database db ON db.oid = s.setdatabase
WHERE (s.setdatabase = 0 OR s.setdatabase IN (SELECT oid FROM dbs)) AND (s.setrole = 0 OR r.rolname !~ '^pg_'))sql";
  const std::string every = every_database ? "true" : "false";
  q.replace(q.find("%EVERY%"), 7, every);
  return q;
}

std::string role_passwords_query() {
  return "SELECT rolname, coalesce(rolpassword, '') FROM pg_authid WHERE rolname !~ '^pg_'";
}

namespace {
// Settings, one REPEATABLE READ READ ONLY snapshot for every table, the catalog query run with
// psql's \gexec, COMMIT.
std::string psql_script_in_one_snapshot(const std::string& catalog_query) {
  return session_settings_sql() + "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n" + catalog_query + "\n\\gexec\n" +
         "COMMIT;\n";
}
}  // namespace

std::string manifest_psql_script() { return psql_script_in_one_snapshot(manifest_tables_query()); }
std::string manifest_sql() { return manifest_psql_script(); }

std::optional<qpu::table_digest> parse_manifest_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const auto t1 = line.find('\t');
  if (t1 == std::string_view::npos || t1 == 0) return std::nullopt;
  const auto t2 = line.find('\t', t1 + 1);
  if (t2 == std::string_view::npos || line.find('\t', t2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  qpu::table_digest d;
  d.table = std::string(line.substr(0, t1));
  const auto rows = line.substr(t1 + 1, t2 - t1 - 1);
  const auto [p, ec] = std::from_chars(rows.data(), rows.data() + rows.size(), d.rows);
  if (ec != std::errc{} || p != rows.data() + rows.size()) return std::nullopt;
  d.checksum = std::string(line.substr(t2 + 1));
  if (d.checksum.empty()) return std::nullopt;
  return d;
}

}  // namespace qpu::effects
