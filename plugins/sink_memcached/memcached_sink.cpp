#include "memcached_sink.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/sigpipe.hpp"

namespace invalidator::plugins {
namespace {

struct ServerAddress {
  std::string host;
  in_port_t port = 11211;
};

sdk::Result<ServerAddress> parse_server(std::string_view text) {
  ServerAddress address;
  std::string_view port_text;
  if (text.starts_with('[')) {  // [::1]:11211
    auto close = text.find(']');
    if (close == std::string_view::npos) return sdk::Status::error("unclosed '[' in '" + std::string(text) + "'");
    address.host = std::string(text.substr(1, close - 1));
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return sdk::Status::error("expected ':' after ']' in '" + std::string(text) + "'");
      port_text = text.substr(close + 2);
    }
  } else {
    auto colon = text.rfind(':');
    address.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
  }
  if (address.host.empty()) return sdk::Status::error("no host in '" + std::string(text) + "' (host:port)");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return sdk::Status::error("invalid port in '" + std::string(text) + "'");
    }
    address.port = static_cast<in_port_t>(port);
  }
  return address;
}

std::string fenced_version(std::uint64_t version) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(version));
  return digits;
}

// The version a fenced item carries, if it is one.
std::optional<std::uint64_t> stored_version(const memcached_result_st* result) {
  std::uint32_t flags = memcached_result_flags(result);
  if (flags != kFencedValueFlags && flags != kTombstoneFlags) return std::nullopt;
  if (memcached_result_length(result) < kFenceVersionDigits) return std::nullopt;
  const char* text = memcached_result_value(result);
  std::uint64_t version = 0;
  auto [end, error] = std::from_chars(text, text + kFenceVersionDigits, version);
  if (error != std::errc{} || end != text + kFenceVersionDigits) return std::nullopt;
  return version;
}

bool is_item_error(memcached_return_t rc) {
  return rc == MEMCACHED_E2BIG || rc == MEMCACHED_BAD_KEY_PROVIDED || rc == MEMCACHED_KEY_TOO_BIG;
}

}  // namespace

time_t memcached_expiration(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) return 0;
  auto seconds = static_cast<time_t>((ttl.count() + 999) / 1000);
  constexpr time_t kThirtyDays = 60 * 60 * 24 * 30;
  if (seconds > kThirtyDays) return std::time(nullptr) + seconds;
  return seconds;
}

sdk::OptionsSpec<MemcachedSinkOptions> MemcachedSink::options() {
  using O = MemcachedSinkOptions;
  sdk::OptionsSpec<O> spec(
      "Deletes, touches or sets keys in memcached (binary protocol, consistent hashing over several servers); "
      "acknowledged by default, optionally fire-and-forget, optionally version-fenced with CAS.");
  spec.option("servers", &O::servers)
      .description("host:port of each server; keys are spread over them by consistent (ketama) hashing, as most clients do.")
      .default_value(std::vector<std::string>{"127.0.0.1:11211"});
  spec.option("key_prefix", &O::key_prefix).description("Prepended to every key.").default_value("");
  spec.option("reliable", &O::reliable)
      .description("Wait for each server's reply (true). false sends noreply commands in buffered batches: several "
                   "times faster, but a command lost with a connection is not noticed.")
      .default_value(true);
  spec.option("fence", &O::fence)
      .description("Version-fenced sets and deletes with gets/CAS (see the plugin's README); needs reliable = true.")
      .default_value(false);
  spec.option("tombstone_ttl", &O::tombstone_ttl)
      .description("How long a fenced delete's tombstone lives: longer than any reader takes from cache miss to fill.")
      .default_value(std::chrono::seconds(60))
      .min(1000);
  spec.option("connect_timeout", &O::connect_timeout)
      .description("How long a connection attempt may take.")
      .default_value(std::chrono::seconds(1))
      .min(1);
  spec.option("command_timeout", &O::command_timeout)
      .description("How long a reply may take before the batch is retried.")
      .default_value(std::chrono::seconds(2))
      .min(1);
  spec.option("pool", &O::pool)
      .description("Client instances (each with its connections); as many batches are delivered at once.")
      .default_value(4)
      .min(1)
      .max(64);
  spec.option("on_pattern", &O::on_pattern)
      .description("memcached cannot list keys, so a pattern (a truncate's on_truncate) cannot be deleted: \"fail\" "
                   "reports it (dead-lettered), \"flush_all\" empties every server instead.")
      .choices({{"fail", MemcachedPatternPolicy::fail}, {"flush_all", MemcachedPatternPolicy::flush_all}})
      .default_value(MemcachedPatternPolicy::fail);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Sink>> MemcachedSink::create(MemcachedSinkOptions options,
                                                            const sdk::PluginContext& context) {
  if (options.servers.empty()) return sdk::Status::error("servers: give at least one host:port");
  for (const auto& server : options.servers) {
    if (auto parsed = parse_server(server); !parsed) return sdk::Status::error("servers: " + parsed.error());
  }
  if (options.fence && !options.reliable) {
    return sdk::Status::error("fence = true needs reliable = true: a fenced write reads the server's reply");
  }
  return std::unique_ptr<sdk::Sink>(std::make_unique<MemcachedSink>(std::move(options), context.logger));
}

MemcachedSink::MemcachedSink(MemcachedSinkOptions options, sdk::Logger* logger)
    : options_(std::move(options)), logger_(logger) {
  for (std::size_t i = 0; i < options_.pool; ++i) {
    Client client(memcached_create(nullptr));
    memcached_st* raw = client.get();
    for (const auto& server : options_.servers) {
      auto address = parse_server(server);  // validated by create()
      memcached_server_add(raw, address->host.c_str(), address->port);
    }
    // Binary for acknowledged commands (CAS, precise status codes); text for noreply: a
    // binary quiet delete of a missing key still gets a "not found" reply, which nobody reads
    // and which stalls the connection once the socket buffers fill.
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, options_.reliable ? 1 : 0);
    // The same ketama hashing as most clients, so that readers and this sink agree on the
    // server of a key.
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_KETAMA, 1);
    // Never move a dead server's keys to another one: its invalidations must wait for it.
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS, 0);
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 0);
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, static_cast<std::uint64_t>(options_.connect_timeout.count()));
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, static_cast<std::uint64_t>(options_.command_timeout.count()));
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, static_cast<std::uint64_t>(options_.command_timeout.count()) * 1000);
    memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_SND_TIMEOUT, static_cast<std::uint64_t>(options_.command_timeout.count()) * 1000);
    if (options_.fence) memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    if (!options_.reliable) {
      memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_NOREPLY, 1);
      memcached_behavior_set(raw, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    }
    slots_.push_back(std::make_unique<Slot>(Slot{std::move(client), {}}));
    pool_.add(*slots_.back());
  }
}

MemcachedSink::~MemcachedSink() = default;

bool MemcachedSink::pipelinable(const sdk::Invalidation& item) const {
  bool is_delete = item.action == sdk::Action::delete_key || (item.action == sdk::Action::expire && item.ttl.count() <= 0);
  std::size_t length = options_.key_prefix.size() + item.key.size();
  return is_delete && options_.reliable && !options_.fence && length > 0 && length <= 250 &&
         DeletePipeline::is_text_safe(options_.key_prefix) && DeletePipeline::is_text_safe(item.key);
}

MemcachedSink::ItemResult MemcachedSink::delete_run(Slot& slot, std::span<const sdk::Invalidation> batch,
                                                    std::size_t begin, std::size_t end,
                                                    std::vector<sdk::ItemFailure>& failures) {
  // Group by server, keeping each server's keys in batch order (one key, one server).
  struct Group {
    DeletePipeline* pipeline;
    std::vector<std::string> keys;
    std::vector<std::size_t> indexes;
  };
  std::map<std::string, Group, std::less<>> groups;
  std::string key;
  for (std::size_t i = begin; i < end; ++i) {
    key.assign(options_.key_prefix).append(batch[i].key);
    memcached_return_t rc;
    const memcached_instance_st* instance = memcached_server_by_key(slot.client.get(), key.data(), key.size(), &rc);
    if (instance == nullptr) return classify(slot.client.get(), rc, key, "server of key");
    std::string server = std::string(memcached_server_name(instance)) + ":" + std::to_string(memcached_server_port(instance));
    auto& pipeline = slot.pipelines[server];
    if (!pipeline) {
      pipeline = std::make_unique<DeletePipeline>(memcached_server_name(instance), memcached_server_port(instance),
                                                  options_.connect_timeout, options_.command_timeout);
    }
    Group& group = groups[server];
    group.pipeline = pipeline.get();
    group.keys.push_back(key);
    group.indexes.push_back(i);
  }
  for (auto& [server, group] : groups) {
    std::vector<std::string_view> keys(group.keys.begin(), group.keys.end());
    std::vector<DeletePipeline::Failure> refused;
    if (auto error = group.pipeline->run(keys, refused)) return {Outcome::retry, "memcached " + *error};
    for (auto& failure : refused) {
      failures.push_back({group.indexes[failure.index], "memcached " + failure.reason, failure.retryable});
    }
  }
  return {};
}

sdk::Status MemcachedSink::start() {
  stopped_.store(false, std::memory_order_release);
  sdk::ScopedSigpipeBlock no_sigpipe;
  auto slot = pool_.lease();
  memcached_return_t rc = memcached_version(slot->client.get());
  std::string error = memcached_last_error_message(slot->client.get());
  // A server down at start-up is retried by the deliveries, not a reason to stop.
  if (rc != MEMCACHED_SUCCESS && logger_) {
    logger_->warn("memcached not reachable yet (" + error + "); retrying");
    reported_unreachable_ = true;
  }
  return sdk::Status::success();
}

MemcachedSink::ItemResult MemcachedSink::classify(memcached_st* client, memcached_return_t rc, std::string_view key,
                                                  std::string_view what) {
  std::string server = "memcached";
  if (const memcached_instance_st* instance = memcached_server_by_key(client, key.data(), key.size(), &rc)) {
    server += " " + std::string(memcached_server_name(instance)) + ":" + std::to_string(memcached_server_port(instance));
  }
  const char* detail = memcached_last_error_message(client);
  std::string reason = server + ": " + std::string(what) + ": " + (detail ? detail : memcached_strerror(client, rc));
  if (is_item_error(rc)) return {Outcome::failed, std::move(reason)};
  return {Outcome::retry, std::move(reason)};
}

MemcachedSink::ItemResult MemcachedSink::fenced_write(memcached_st* client, std::string_view key, std::uint64_t version,
                                                      const std::string* value, std::chrono::milliseconds ttl) {
  // gets, then cas (or add when absent); a concurrent writer makes us read again.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const char* keys[] = {key.data()};
    const std::size_t lengths[] = {key.size()};
    memcached_return_t rc = memcached_mget(client, keys, lengths, 1);
    if (rc != MEMCACHED_SUCCESS) return classify(client, rc, key, "gets");
    std::optional<std::uint64_t> stored;
    std::uint64_t cas = 0;
    bool present = false;
    while (memcached_result_st* result = memcached_fetch_result(client, nullptr, &rc)) {
      present = true;
      cas = memcached_result_cas(result);
      stored = stored_version(result);
      memcached_result_free(result);
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_SUCCESS) {
      return classify(client, rc, key, "gets");
    }

    std::uint64_t new_version = version;
    if (stored && *stored >= version) {
      if (value != nullptr) return {};  // an older write than what is there: refused, and done
      new_version = *stored;            // a delete keeps the newest version in its tombstone
    }
    std::string payload = fenced_version(new_version);
    if (value != nullptr) payload.append(":").append(*value);
    std::uint32_t flags = value != nullptr ? kFencedValueFlags : kTombstoneFlags;
    time_t expiration = memcached_expiration(value != nullptr ? ttl : options_.tombstone_ttl);
    rc = present ? memcached_cas(client, key.data(), key.size(), payload.data(), payload.size(), expiration, flags, cas)
                 : memcached_add(client, key.data(), key.size(), payload.data(), payload.size(), expiration, flags);
    if (rc == MEMCACHED_SUCCESS) return {};
    // Someone wrote or removed the item since our gets: look again.
    if (rc == MEMCACHED_DATA_EXISTS || rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_NOTFOUND) continue;
    return classify(client, rc, key, present ? "cas" : "add");
  }
  return {Outcome::retry, "memcached: a fenced write to '" + std::string(key) + "' kept racing with other writers"};
}

MemcachedSink::ItemResult MemcachedSink::apply(memcached_st* client, const sdk::Invalidation& item, std::string& key) {
  key.assign(options_.key_prefix).append(item.key);
  bool is_delete = item.action == sdk::Action::delete_key || (item.action == sdk::Action::expire && item.ttl.count() <= 0);
  if (is_delete) {
    if (options_.fence) return fenced_write(client, key, item.version, nullptr, {});
    memcached_return_t rc = memcached_delete(client, key.data(), key.size(), 0);
    if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_BUFFERED) return {};
    return classify(client, rc, key, "delete");
  }
  switch (item.action) {
    case sdk::Action::set_value: {
      static const std::string kEmpty;
      const std::string& value = item.value ? *item.value : kEmpty;
      if (options_.fence) return fenced_write(client, key, item.version, &value, item.ttl);
      memcached_return_t rc = memcached_set(client, key.data(), key.size(), value.data(), value.size(),
                                            memcached_expiration(item.ttl), 0);
      if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_BUFFERED) return {};
      return classify(client, rc, key, "set");
    }
    case sdk::Action::expire: {
      memcached_return_t rc = memcached_touch(client, key.data(), key.size(), memcached_expiration(item.ttl));
      if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_BUFFERED) return {};
      return classify(client, rc, key, "touch");
    }
    case sdk::Action::delete_pattern: {
      if (options_.on_pattern != MemcachedPatternPolicy::flush_all) {
        return {Outcome::failed, "memcached cannot list its keys, so the pattern '" + item.key +
                                     "' cannot be deleted; set on_pattern = \"flush_all\" to empty the cache instead"};
      }
      memcached_return_t rc = memcached_flush(client, 0);
      if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_BUFFERED) return {};
      return classify(client, rc, key, "flush_all");
    }
    case sdk::Action::delete_key:
      break;
  }
  return {};
}

sdk::DeliveryResult MemcachedSink::deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) {
  if (stopped_.load(std::memory_order_acquire)) return sdk::DeliveryResult::retry("the memcached sink is stopped");
  sdk::ScopedSigpipeBlock no_sigpipe;
  auto slot = pool_.lease();
  memcached_st* client = slot->client.get();
  std::vector<sdk::ItemFailure> failures;
  std::string key;
  auto give_up = [&](std::string reason) {
    if (!reported_unreachable_.exchange(true) && logger_) logger_->warn(reason + "; retrying");
    return sdk::DeliveryResult::retry(std::move(reason));
  };
  // Runs of acknowledged deletes go through the pipelines, up to this many at a time, so
  // that stop() is noticed between runs.
  constexpr std::size_t kRun = 4096;
  std::size_t i = 0;
  while (i < batch.size()) {
    if (stopped_.load(std::memory_order_acquire)) return sdk::DeliveryResult::retry("the memcached sink is stopped");
    ItemResult result;
    if (pipelinable(batch[i])) {
      std::size_t end = i + 1;
      while (end < batch.size() && end - i < kRun && pipelinable(batch[end])) ++end;
      result = delete_run(*slot, batch, i, end, failures);
      i = end;
    } else {
      result = apply(client, batch[i], key);
      if (result.outcome == Outcome::failed) failures.push_back({i, std::move(result.reason), false});
      ++i;
    }
    if (result.outcome == Outcome::retry) return give_up(std::move(result.reason));
  }
  if (!options_.reliable) {
    memcached_return_t rc = memcached_flush_buffers(client);
    if (rc != MEMCACHED_SUCCESS) {
      return give_up("memcached: sending buffered commands: " + std::string(memcached_last_error_message(client)));
    }
  }
  if (reported_unreachable_.exchange(false) && logger_) logger_->info("memcached reachable again");
  if (!failures.empty()) return sdk::DeliveryResult::partial(std::move(failures));
  return sdk::DeliveryResult::ok();
}

}  // namespace invalidator::plugins

INVALIDATOR_SINK_PLUGIN(memcached, "0.2.0", invalidator::plugins::MemcachedSink::options,
                        invalidator::plugins::MemcachedSink::create)
