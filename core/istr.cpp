#include "core/istr.hpp"

#include <atomic>
#include <mutex>
#include <ostream>
#include <vector>

#include <nlohmann/json.hpp>

namespace qpu {

struct istr::entry {
  std::atomic<std::uint32_t> refs{1};
  std::uint32_t hash = 0;
  std::string text;
};

namespace {

std::uint32_t hash_of(std::string_view s) {
  // FNV-1a, folded: stable, and cheap for the short texts of object fields.
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

// Open addressing with linear probing; a removal shifts the run after it back, so that no
// tombstone is ever left. At most three quarters full.
class pool {
 public:
  istr::entry* intern(std::string_view text) {
    const std::uint32_t h = hash_of(text);
    const std::lock_guard lock(mutex_);
    if ((count_ + 1) * 4 > slots_.size() * 3) grow();
    std::size_t i = h & mask();
    for (; slots_[i] != nullptr; i = (i + 1) & mask()) {
      auto* e = slots_[i];
      if (e->hash == h && e->text == text) {
        e->refs.fetch_add(1, std::memory_order_relaxed);
        return e;
      }
    }
    auto* e = new istr::entry;
    e->hash = h;
    e->text.assign(text);
    slots_[i] = e;
    ++count_;
    bytes_ += sizeof(istr::entry) + (e->text.capacity() > 15 ? e->text.capacity() + 1 : 0);
    return e;
  }

  void release(istr::entry* e) {
    const std::lock_guard lock(mutex_);
    if (e->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    std::size_t i = e->hash & mask();
    while (slots_[i] != e) i = (i + 1) & mask();
    slots_[i] = nullptr;
    --count_;
    bytes_ -= sizeof(istr::entry) + (e->text.capacity() > 15 ? e->text.capacity() + 1 : 0);
    delete e;
    // Backward shift: move each following entry of the run into the hole if its home allows.
    for (std::size_t hole = i, j = (i + 1) & mask(); slots_[j] != nullptr; j = (j + 1) & mask()) {
      const std::size_t home = slots_[j]->hash & mask();
      const bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        slots_[hole] = slots_[j];
        slots_[j] = nullptr;
        hole = j;
      }
    }
  }

  std::size_t size() {
    const std::lock_guard lock(mutex_);
    return count_;
  }
  std::size_t bytes() {
    const std::lock_guard lock(mutex_);
    return bytes_ + slots_.size() * sizeof(istr::entry*);
  }

 private:
  std::size_t mask() const { return slots_.size() - 1; }
  void grow() {
    std::vector<istr::entry*> old(slots_.empty() ? 64 : slots_.size() * 2, nullptr);
    old.swap(slots_);
    for (auto* e : old) {
      if (e == nullptr) continue;
      std::size_t i = e->hash & mask();
      while (slots_[i] != nullptr) i = (i + 1) & mask();
      slots_[i] = e;
    }
  }

  std::mutex mutex_;
  std::vector<istr::entry*> slots_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

// Never destroyed: handles in static objects may be released after main returns.
pool& the_pool() {
  static auto* p = new pool;
  return *p;
}

const std::string& empty_text() {
  static const std::string empty;
  return empty;
}

}  // namespace

istr::istr(std::string_view text) : entry_(text.empty() ? nullptr : the_pool().intern(text)) {}

istr::istr(const istr& other) noexcept : entry_(other.entry_) {
  if (entry_ != nullptr) entry_->refs.fetch_add(1, std::memory_order_relaxed);
}

istr& istr::operator=(const istr& other) noexcept {
  if (entry_ != other.entry_) {
    istr copy(other);
    std::swap(entry_, copy.entry_);
  }
  return *this;
}

istr& istr::operator=(istr&& other) noexcept {
  if (this != &other) {
    if (entry_ != nullptr) the_pool().release(entry_);
    entry_ = other.entry_;
    other.entry_ = nullptr;
  }
  return *this;
}

istr::~istr() {
  if (entry_ != nullptr) the_pool().release(entry_);
}

const std::string& istr::str() const noexcept { return entry_ == nullptr ? empty_text() : entry_->text; }

std::strong_ordering operator<=>(const istr& a, const istr& b) noexcept {
  if (a.entry_ == b.entry_) return std::strong_ordering::equal;
  return a.view().compare(b.view()) <=> 0;
}

std::size_t istr::pool_size() { return the_pool().size(); }
std::size_t istr::pool_bytes() { return the_pool().bytes(); }

std::ostream& operator<<(std::ostream& out, const istr& s) { return out << s.view(); }
void to_json(nlohmann::json& j, const istr& s) { j = s.str(); }
void from_json(const nlohmann::json& j, istr& s) { s = istr(j.get_ref<const std::string&>()); }

}  // namespace qpu
