#pragma once
// Runs one coroutine to completion on a fresh io_context: the tests' bridge from sync to async.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <optional>

namespace qpu::watch::testing {

template <class T>
T run_sync(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw) {
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(
      ioc, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await std::move(aw)); },
      [&](std::exception_ptr e) { error = e; });
  ioc.restart();
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

}  // namespace qpu::watch::testing
