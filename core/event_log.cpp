#include "core/event_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/codec.hpp"
#include "core/decode.hpp"

namespace qpu {

namespace od = simdjson::ondemand;

std::string to_string(const log_position& p) { return p.file + ":" + std::to_string(p.line); }

namespace {

std::string quoted(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string head(std::uint64_t seq, timestamp ts, std::string_view source) {
  std::string line;
  line.reserve(96);
  line += "{\"seq\":";
  line += std::to_string(seq);
  line += ",\"ts\":\"";
  line += format_rfc3339(ts);
  line += "\",\"source\":";
  line += quoted(source);
  return line;
}

std::string watch_source(resource_kind k) { return std::string("watch/") + plural(k); }

// The head of a watch line: "stream" only for a stream other than the first, so that logs of a
// kind watched as one stream keep their bytes.
std::string watch_head(std::uint64_t seq, timestamp ts, resource_kind k, std::uint8_t stream) {
  std::string line = head(seq, ts, watch_source(k));
  if (stream != 0) {
    line += ",\"stream\":";
    line += std::to_string(stream);
  }
  return line;
}

template <class View>
void set_stream(View& v, std::uint8_t stream) {
  v.meta.stream = stream;
}

void set_stream(object_view& o, std::uint8_t stream) {
  std::visit([&](auto& v) { set_stream(v, stream); }, o);
}

// Parses log lines: the envelope with one parser, the payload with the shared object decoder.
struct line_parser {
  od::parser parser{max_line_bytes + 4096};
  std::vector<char> buffer;
  json_decoder decoder;

  std::expected<logged_event, std::string> parse(std::string_view line) {
    const std::size_t need = line.size() + simdjson::SIMDJSON_PADDING;
    if (buffer.size() < need) buffer.resize(need);
    std::copy(line.begin(), line.end(), buffer.begin());
    od::document doc;
    if (auto err = parser.iterate(simdjson::padded_string_view(buffer.data(), line.size(), buffer.size())).get(doc))
      return std::unexpected(std::string("not JSON: ") + simdjson::error_message(err));
    od::object top;
    if (auto err = doc.get_object().get(top))
      return std::unexpected(std::string("not a JSON object: ") + simdjson::error_message(err));
    logged_event out;
    bool have_seq = false, have_ts = false;
    std::string_view watch_raw, object_raw, event_raw, relist, rv, malformed, error;
    std::uint64_t stream = 0, streams = 1;
    auto fail = [](std::string_view field, simdjson::error_code e) {
      return std::unexpected(std::string(field) + ": " + simdjson::error_message(e));
    };
    for (auto field : top) {
      std::string_view key;
      if (auto err = field.unescaped_key().get(key)) return fail("key", err);
      od::value v;
      if (auto err = field.value().get(v)) return fail(key, err);
      if (key == "seq") {
        std::uint64_t seq = 0;
        if (auto err = v.get_uint64().get(seq)) return fail("seq", err);
        out.seq = seq;
        have_seq = true;
      } else if (key == "ts") {
        std::string_view ts;
        if (auto err = v.get_string().get(ts)) return fail("ts", err);
        auto t = parse_rfc3339(ts);
        if (!t) return std::unexpected("ts: \"" + std::string(ts) + "\" is not an RFC 3339 time");
        out.ts = *t;
        have_ts = true;
      } else if (key == "source") {
        std::string_view s;
        if (auto err = v.get_string().get(s)) return fail("source", err);
        out.source = s;
      } else if (key == "watch" || key == "object" || key == "event") {
        od::object obj;
        if (auto err = v.get_object().get(obj)) return fail(key, err);
        std::string_view raw;
        if (auto err = obj.raw_json().get(raw)) return fail(key, err);
        (key == "watch" ? watch_raw : key == "object" ? object_raw : event_raw) = raw;
      } else if (key == "stream" || key == "streams") {
        if (auto err = v.get_uint64().get(key == "stream" ? stream : streams)) return fail(key, err);
        if (stream >= max_watch_streams || streams == 0 || streams > max_watch_streams)
          return std::unexpected(std::string(key) + ": out of range (at most " + std::to_string(max_watch_streams) +
                                 " streams per kind)");
      } else if (key == "relist" || key == "rv" || key == "malformed" || key == "error") {
        std::string_view s;
        if (auto err = v.get_string().get(s)) return fail(key, err);
        (key == "relist" ? relist : key == "rv" ? rv : key == "malformed" ? malformed : error) = s;
      }
    }
    if (!have_seq) return std::unexpected("no \"seq\"");
    if (!have_ts) return std::unexpected("no \"ts\"");
    if (out.source.empty()) return std::unexpected("no \"source\"");

    if (!event_raw.empty()) {
      nlohmann::json j = nlohmann::json::parse(event_raw, nullptr, false);
      if (j.is_discarded()) return std::unexpected("event: not JSON");
      auto e = event_from_payload(j);
      if (!e) return std::unexpected("event: " + e.error());
      out.body = std::move(*e);
      return out;
    }
    if (out.source.rfind("watch/", 0) != 0) return std::unexpected("source \"" + out.source + "\" carries no \"event\"");
    const auto kind = kind_from_plural(std::string_view(out.source).substr(6));
    if (!kind) return std::unexpected("source \"" + out.source + "\" names no resource this controller watches");
    if (!malformed.empty()) {
      out.body = malformed_input{out.source, std::string(error)};
      return out;
    }
    if (!watch_raw.empty()) {
      auto e = decoder.decode_watch_line(*kind, watch_raw);
      // A payload the decoder rejects was rejected live too: it becomes malformed_input, and the
      // caller warns (it is not a broken log).
      if (!e) {
        out.body = malformed_input{out.source, e.error()};
        return out;
      }
      if (auto* oe = std::get_if<object_event>(&*e)) set_stream(oe->object, static_cast<std::uint8_t>(stream));
      out.body = std::move(*e);
      return out;
    }
    const auto s = static_cast<std::uint8_t>(stream);
    if (relist == "start") {
      out.body = relist_started{*kind, s};
    } else if (relist == "item") {
      if (object_raw.empty()) return std::unexpected("relist item without \"object\"");
      auto o = decoder.decode_object(*kind, object_raw);
      if (!o) {
        out.body = malformed_input{out.source, o.error()};
        return out;
      }
      set_stream(*o, s);
      out.body = relist_item{std::move(*o)};
    } else if (relist == "done") {
      if (s >= streams) return std::unexpected("relist done of stream " + std::to_string(s) + " of " + std::to_string(streams));
      out.body = relist_done{*kind, std::string(rv), s, static_cast<std::uint8_t>(streams)};
    } else {
      return std::unexpected("watch line without \"watch\", \"relist\" or \"malformed\"");
    }
    return out;
  }
};

line_parser& thread_parser() {
  thread_local line_parser p;
  return p;
}

}  // namespace

std::expected<logged_event, std::string> parse_log_line(std::string_view line) { return thread_parser().parse(line); }

std::expected<std::uint64_t, std::string> read_event_log(const std::string& path,
                                                         const std::function<void(logged_event&&)>& on_event,
                                                         const std::function<void(const std::string&)>& on_warning,
                                                         log_resume from) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return std::unexpected(path + ": cannot open: " + std::strerror(errno));
  if (from.offset > 0 && ::fseeko(f.get(), static_cast<off_t>(from.offset), SEEK_SET) != 0)
    return std::unexpected(path + ": cannot seek to byte " + std::to_string(from.offset) + ": " + std::strerror(errno));
  char* buf = nullptr;
  std::size_t cap = 0;
  std::uint64_t line_no = 0, count = 0, last_seq = 0;
  std::expected<std::uint64_t, std::string> result = 0;
  for (;;) {
    errno = 0;
    const ssize_t n = ::getline(&buf, &cap, f.get());
    if (n < 0) {
      if (errno != 0) result = std::unexpected(path + ": read error: " + std::strerror(errno));
      break;
    }
    ++line_no;
    std::string_view line(buf, static_cast<std::size_t>(n));
    const bool terminated = !line.empty() && line.back() == '\n';
    if (terminated) line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const log_position pos{path, line_no};
    auto ev = parse_log_line(line);
    if (!ev) {
      if (!terminated) {
        on_warning(to_string(pos) + ": dropped a truncated last line (" + ev.error() +
                   "); an interrupted write, nothing after it is lost");
        break;
      }
      result = std::unexpected(to_string(pos) + ": " + ev.error());
      break;
    }
    if (ev->seq <= last_seq) {
      result =
          std::unexpected(to_string(pos) + ": seq " + std::to_string(ev->seq) + " does not follow " + std::to_string(last_seq));
      break;
    }
    if (from.after_seq > 0 && ev->seq <= from.after_seq) {  // the snapshot holds it
      last_seq = ev->seq;
      continue;
    }
    if (from.after_seq > 0 && last_seq <= from.after_seq && ev->seq != from.after_seq + 1) {
      result = std::unexpected(to_string(pos) + ": seq " + std::to_string(ev->seq) + " where the snapshot's " +
                               std::to_string(from.after_seq) + " must be followed by " + std::to_string(from.after_seq + 1) +
                               ": the lines between are missing");
      break;
    }
    last_seq = ev->seq;
    if (const auto* m = std::get_if<malformed_input>(&ev->body))
      on_warning(to_string(pos) + ": skipped a malformed " + m->source + " input: " + m->error);
    on_event(std::move(*ev));
    ++count;
  }
  std::free(buf);
  if (!result) return result;
  return count;
}

std::uint64_t event_log_writer::file_size() const {
  struct stat st {};
  return fd_ >= 0 && ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

std::string log_line_watch(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view raw, std::uint8_t stream) {
  std::string line = watch_head(seq, ts, kind, stream);
  line += ",\"watch\":";
  line += raw;
  line += "}\n";
  return line;
}

std::string log_line_relist_start(std::uint64_t seq, timestamp ts, resource_kind kind, std::uint8_t stream) {
  return watch_head(seq, ts, kind, stream) + ",\"relist\":\"start\"}\n";
}

std::string log_line_relist_item(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view raw_object,
                                 std::uint8_t stream) {
  std::string line = watch_head(seq, ts, kind, stream);
  line += ",\"relist\":\"item\",\"object\":";
  line += raw_object;
  line += "}\n";
  return line;
}

std::string log_line_relist_done(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view rv, std::uint8_t stream,
                                 std::uint8_t streams) {
  std::string line = watch_head(seq, ts, kind, stream) + ",\"relist\":\"done\",\"rv\":" + quoted(rv);
  if (streams != 1) line += ",\"streams\":" + std::to_string(streams);
  return line + "}\n";
}

std::string log_line_malformed(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view text, std::string_view error,
                               std::uint8_t stream) {
  return watch_head(seq, ts, kind, stream) + ",\"malformed\":" + quoted(text) + ",\"error\":" + quoted(error) + "}\n";
}

std::string log_line_event(std::uint64_t seq, timestamp ts, std::string_view source, const event& e) {
  return head(seq, ts, source) + ",\"event\":" + dump(event_payload(e)) + "}\n";
}

std::expected<event_log_writer, std::string> event_log_writer::open(const std::string& path, bool fsync_each_batch,
                                                                    log_resume from) {
  event_log_writer w;
  w.path_ = path;
  w.fsync_ = fsync_each_batch;
  std::uint64_t last = from.after_seq;
  if (::access(path.c_str(), F_OK) == 0) {
    auto read = read_event_log(
        path, [&](logged_event&& e) { last = e.seq; }, [](const std::string&) {}, from);
    if (!read) return std::unexpected("cannot continue the event log: " + read.error());
  }
  w.next_seq_ = last + 1;
  w.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (w.fd_ < 0) return std::unexpected(path + ": cannot open for appending: " + std::strerror(errno));
  // A crash mid-write leaves a last line without its newline. If that line is complete (only the
  // newline is missing) the reader above folded it: keep it and start ours on a fresh line. If it
  // is cut short, the reader dropped it and nothing was ever performed because of it (effects
  // run only after sync() returns): cut it off. Terminating it instead would turn it into an
  // invalid line in the middle, and the next restart would refuse the whole log.
  const off_t size = ::lseek(w.fd_, 0, SEEK_END);
  if (size > 0) {
    std::string tail;
    const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      // Lines are bounded (watch lines by max_line_bytes, plus the log line's own fields).
      const off_t window = std::min<off_t>(size, static_cast<off_t>(max_line_bytes) + 4096);
      tail.resize(static_cast<std::size_t>(window));
      const ssize_t got = ::pread(rfd, tail.data(), tail.size(), size - window);
      ::close(rfd);
      tail.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    }
    if (!tail.empty() && tail.back() != '\n') {
      const auto nl = tail.rfind('\n');
      const std::string_view last_line = nl == std::string::npos ? std::string_view(tail) : std::string_view(tail).substr(nl + 1);
      if (parse_log_line(last_line)) {
        w.buffer_ += '\n';
      } else {
        const off_t keep = size - static_cast<off_t>(last_line.size());
        if (::ftruncate(w.fd_, keep) != 0)
          return std::unexpected(path + ": cannot cut off a truncated last line: " + std::strerror(errno));
      }
    }
  }
  return w;
}

event_log_writer::event_log_writer(event_log_writer&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      path_(std::move(o.path_)),
      buffer_(std::move(o.buffer_)),
      next_seq_(o.next_seq_),
      bytes_(o.bytes_),
      fsync_(o.fsync_) {}

event_log_writer& event_log_writer::operator=(event_log_writer&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    buffer_ = std::move(o.buffer_);
    next_seq_ = o.next_seq_;
    bytes_ = o.bytes_;
    fsync_ = o.fsync_;
  }
  return *this;
}

event_log_writer::~event_log_writer() {
  if (fd_ >= 0) {
    (void)sync();
    ::close(fd_);
  }
}

void event_log_writer::append(std::string line) {
  if (line.empty() || line.back() != '\n') line += '\n';
  buffer_ += line;
  ++next_seq_;
}

std::expected<void, std::string> event_log_writer::sync() {
  std::size_t off = 0;
  while (off < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + off, buffer_.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      buffer_.erase(0, off);
      return std::unexpected(path_ + ": cannot append to the event log: " + why);
    }
    off += static_cast<std::size_t>(n);
  }
  bytes_ += off;
  buffer_.clear();
  if (fsync_ && off > 0 && ::fdatasync(fd_) != 0) return std::unexpected(path_ + ": fdatasync failed: " + std::strerror(errno));
  return {};
}

}  // namespace qpu
