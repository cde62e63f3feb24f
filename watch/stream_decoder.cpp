#include "watch/stream_decoder.hpp"

namespace qpu::watch {

bool stream_decoder::feed(std::string_view bytes, const handler& on_input) {
  counters_.bytes += bytes.size();
  splitter_.feed(bytes, [&](const split_line& line) {
    if (stopped_) return;
    ++counters_.lines;
    // Built only for a line that failed: formatting it for every line was a visible share of
    // decoding a stream.
    auto where = [&] {
      return std::string("watch/") + plural(kind_) + " line " + std::to_string(line.number) + " (stream byte " +
             std::to_string(line.offset) + ")";
    };
    if (line.oversized) {
      ++counters_.malformed;
      ++counters_.oversized;
      std::string error = where() + ": " + std::to_string(line.size) + " bytes, over the " + std::to_string(max_line_) +
                          " byte line limit; dropped";
      const event e = malformed_input{std::string("watch/") + plural(kind_), error};
      const std::string text = redact_ ? redact_->text(line.text) : std::string(line.text);
      if (!on_input(watch_input{kind_, input_origin::malformed, text, error, e, stream_})) stopped_ = true;
      return;
    }
    const auto redacted = redact_ ? redact_->json(line.text) : std::nullopt;
    const std::string_view text = redacted ? std::string_view(*redacted) : line.text;
    auto decoded = decoder_.decode_watch_line(kind_, text);
    if (!decoded) {
      ++counters_.malformed;
      std::string error = where() + ": " + decoded.error();
      const event e = malformed_input{std::string("watch/") + plural(kind_), error};
      const std::string logged = redact_ ? redact_->text(line.text) : std::string(line.text);
      if (!on_input(watch_input{kind_, input_origin::malformed, logged, error, e, stream_})) stopped_ = true;
      return;
    }
    if (auto* oe = std::get_if<object_event>(&*decoded)) std::visit([&](auto& v) { v.meta.stream = stream_; }, oe->object);
    if (!on_input(watch_input{kind_, input_origin::watch_line, text, {}, *decoded, stream_})) stopped_ = true;
  });
  return !stopped_;
}

}  // namespace qpu::watch
