#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace invalidator::sdk {

// Success or an error message. No exception crosses the plugin boundary: plugins return these.
class Status {
 public:
  static Status success() { return Status{}; }
  static Status error(std::string message) { return Status{std::move(message)}; }
  // A failure that may pass by itself (a lost connection, a server restarting): a source's
  // run() returning one is started again after a backoff instead of stopping the engine.
  static Status transient_error(std::string message) {
    Status status{std::move(message)};
    status.transient_ = true;
    return status;
  }

  bool ok() const { return !failed_; }
  bool is_transient() const { return failed_ && transient_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }

 private:
  Status() = default;
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}

  bool failed_ = false;
  bool transient_ = false;
  std::string message_;
};

// A value or an error message.
template <typename T>
class Result {
 public:
  template <typename U>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, Status>)
  Result(U&& value) : state_(std::in_place_type<T>, std::forward<U>(value)) {}  // NOLINT
  Result(Status error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  const T& value() const& { return std::get<T>(state_); }
  T* operator->() { return &value(); }
  T& operator*() & { return value(); }
  const std::string& error() const { return std::get<Status>(state_).message(); }
  // The error, with whether it is transient.
  const Status& status() const { return std::get<Status>(state_); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace invalidator::sdk
