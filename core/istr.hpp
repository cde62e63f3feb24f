#pragma once
// istr: an interned, immutable string in one pointer, for the reflector stores (issue 17 item 2).
// A cluster repeats the same few texts in every object: namespaces, images, claim and label
// values, phases, reasons. Each distinct text is kept once, with a count of the handles that
// point at it, and goes when the last of them does; an empty text is the null pointer. Handles
// compare and order by their text, exactly as std::string does, so a map keyed by them iterates in
// the same order and the state dump stays byte for byte what it was.
//
// Reads go through `str()` (a const std::string&), to which a handle also converts implicitly, so
// code written for std::string members mostly reads them unchanged. Assigning any text interns it.
// Thread-safe: interning and the last release take one mutex; copies only count.
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace qpu {

class istr {
 public:
  istr() noexcept = default;
  istr(std::string_view text);  // NOLINT(google-explicit-constructor): a string member's drop-in
  istr(const std::string& text) : istr(std::string_view(text)) {}  // NOLINT(google-explicit-constructor)
  istr(const char* text) : istr(std::string_view(text)) {}  // NOLINT(google-explicit-constructor)
  istr(const istr& other) noexcept;
  istr(istr&& other) noexcept : entry_(other.entry_) { other.entry_ = nullptr; }
  istr& operator=(const istr& other) noexcept;
  istr& operator=(istr&& other) noexcept;
  ~istr();

  const std::string& str() const noexcept;
  operator const std::string&() const noexcept { return str(); }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const noexcept { return str(); }  // NOLINT(google-explicit-constructor)
  std::string_view view() const noexcept { return str(); }
  std::string substr(std::size_t pos, std::size_t n = std::string::npos) const { return str().substr(pos, n); }
  std::size_t find(std::string_view s, std::size_t pos = 0) const noexcept { return view().find(s, pos); }
  std::size_t find(char c, std::size_t pos = 0) const noexcept { return view().find(c, pos); }
  const char* c_str() const noexcept { return str().c_str(); }
  bool empty() const noexcept { return entry_ == nullptr; }
  std::size_t size() const noexcept { return str().size(); }
  void clear() noexcept { *this = istr(); }
  bool starts_with(std::string_view prefix) const noexcept { return view().starts_with(prefix); }
  bool ends_with(std::string_view suffix) const noexcept { return view().ends_with(suffix); }

  // Equal texts share one entry, so equality is one pointer compare.
  friend bool operator==(const istr& a, const istr& b) noexcept { return a.entry_ == b.entry_; }
  friend std::strong_ordering operator<=>(const istr& a, const istr& b) noexcept;
  friend bool operator==(const istr& a, std::string_view b) noexcept { return a.view() == b; }
  friend bool operator==(const istr& a, const std::string& b) noexcept { return a.view() == std::string_view(b); }
  friend bool operator==(const istr& a, const char* b) noexcept { return a.view() == std::string_view(b); }
  friend std::strong_ordering operator<=>(const istr& a, std::string_view b) noexcept { return a.view() <=> b; }

  friend std::string operator+(const istr& a, std::string_view b) { return std::string(a.view()).append(b); }
  friend std::string operator+(std::string_view a, const istr& b) { return std::string(a).append(b.view()); }
  friend std::string operator+(const std::string& a, const istr& b) { return a + b.str(); }
  friend std::string operator+(const istr& a, const std::string& b) { return a.str() + b; }
  friend std::string operator+(const char* a, const istr& b) { return std::string(a).append(b.view()); }
  friend std::string operator+(const istr& a, const char* b) { return std::string(a.view()).append(b); }
  friend std::string operator+(std::string&& a, const istr& b) { return std::move(a.append(b.view())); }

  // The pool, for the benchmarks and tests: distinct texts held, and their bytes (entries and table).
  static std::size_t pool_size();
  static std::size_t pool_bytes();

  struct entry;

 private:
  entry* entry_ = nullptr;
};

std::ostream& operator<<(std::ostream& out, const istr& s);
void to_json(nlohmann::json& j, const istr& s);
void from_json(const nlohmann::json& j, istr& s);

}  // namespace qpu

template <>
struct std::hash<qpu::istr> {
  std::size_t operator()(const qpu::istr& s) const noexcept { return std::hash<std::string_view>{}(s.view()); }
};
