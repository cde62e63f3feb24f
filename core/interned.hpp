#pragma once
// interned<T>: one pointer to an immutable T kept once per distinct value (hash-consing), for a
// store's values that repeat across objects, such as the credentials' sources that every
// database Deployment of a namespace names alike (issue 17 item 2). The default T is the null
// pointer. Handles compare by identity, which is value equality since equal values share one
// entry; they read as a const T&. istr (core/istr.hpp) is the same idea for texts, with a table
// sized for many of them; this one suits a few distinct values of a small struct.
#include <atomic>
#include <compare>
#include <mutex>
#include <set>
#include <utility>

namespace qpu {

template <class T>
class interned {
 public:
  interned() noexcept = default;
  interned(const T& value) : entry_(value == default_value() ? nullptr : intern(value)) {}  // NOLINT(google-explicit-constructor)
  interned(const interned& o) noexcept : entry_(o.entry_) {
    if (entry_ != nullptr) entry_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  interned(interned&& o) noexcept : entry_(std::exchange(o.entry_, nullptr)) {}
  interned& operator=(interned o) noexcept {
    std::swap(entry_, o.entry_);
    return *this;
  }
  ~interned() {
    if (entry_ != nullptr) release(entry_);
  }

  const T& get() const noexcept { return entry_ == nullptr ? default_value() : entry_->value; }
  const T& operator*() const noexcept { return get(); }
  const T* operator->() const noexcept { return &get(); }
  operator const T&() const noexcept { return get(); }  // NOLINT(google-explicit-constructor)
  bool empty() const noexcept { return entry_ == nullptr; }

  friend bool operator==(const interned& a, const interned& b) noexcept { return a.entry_ == b.entry_; }

 private:
  struct entry {
    std::atomic<unsigned> refs{1};
    T value;
  };
  struct by_value {
    using is_transparent = void;
    bool operator()(const entry* a, const entry* b) const { return a->value < b->value; }
    bool operator()(const entry* a, const T& b) const { return a->value < b; }
    bool operator()(const T& a, const entry* b) const { return a < b->value; }
  };
  struct pool {
    std::mutex mutex;
    std::set<entry*, by_value> entries;
  };
  static pool& the_pool() {
    static auto* p = new pool;  // never destroyed: static handles may be released after main returns
    return *p;
  }
  static const T& default_value() {
    static const T v{};
    return v;
  }
  static entry* intern(const T& value) {
    auto& p = the_pool();
    const std::lock_guard lock(p.mutex);
    if (auto it = p.entries.find(value); it != p.entries.end()) {
      (*it)->refs.fetch_add(1, std::memory_order_relaxed);
      return *it;
    }
    auto* e = new entry{1, value};
    p.entries.insert(e);
    return e;
  }
  static void release(entry* e) {
    auto& p = the_pool();
    const std::lock_guard lock(p.mutex);
    if (e->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    p.entries.erase(e);
    delete e;
  }

  entry* entry_ = nullptr;
};

}  // namespace qpu
