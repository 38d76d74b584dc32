#include "redis_sink.hpp"

#include <algorithm>

#include "fence_script.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/sigpipe.hpp"

namespace invalidator::plugins {
namespace {

// SCAN MATCH takes a glob: the key prefix must match itself only.
std::string escape_glob(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

std::vector<sdk::ItemFailure> fail_all(std::size_t count, const std::string& reason) {
  std::vector<sdk::ItemFailure> failures;
  failures.reserve(count);
  for (std::size_t i = 0; i < count; ++i) failures.push_back({i, reason, false});
  return failures;
}

}  // namespace

sdk::OptionsSpec<RedisSinkOptions> RedisSink::options() {
  using O = RedisSinkOptions;
  sdk::OptionsSpec<O> spec(
      "Deletes, expires or sets keys in Redis: each batch one pipeline on one of a pool of connections, "
      "optionally version-fenced by a Lua script so that a stale write-back cannot outlive an invalidation.");
  spec.option("url", &O::url)
      .description("redis://[user:password@]host:port/db or unix:///path/to/redis.sock?db=N.")
      .default_value("redis://127.0.0.1:6379");
  spec.option("password", &O::password)
      .description("Password (AUTH), instead of one in the URL; write it as \"${REDIS_PASSWORD}\" to keep it out of the file. Never logged.")
      .default_value("")
      .secret();
  spec.option("key_prefix", &O::key_prefix)
      .description("Prepended to every key and pattern, e.g. \"app1:\".")
      .default_value("");
  spec.option("connect_timeout", &O::connect_timeout)
      .description("How long a connection attempt may take.")
      .default_value(std::chrono::seconds(2))
      .min(1);
  spec.option("command_timeout", &O::command_timeout)
      .description("How long a reply may take before the connection is dropped and the batch retried.")
      .default_value(std::chrono::seconds(5))
      .min(1);
  spec.option("pool", &O::pool)
      .description("Connections; as many batches are delivered at once (the sink's `lanes` is capped by it).")
      .default_value(4)
      .min(1)
      .max(64);
  spec.option("delete_command", &O::delete_command)
      .description("\"del\" frees memory at once; \"unlink\" frees it in the background (large values).")
      .choices({{"del", RedisDeleteCommand::del}, {"unlink", RedisDeleteCommand::unlink}})
      .default_value(RedisDeleteCommand::del);
  spec.option("keys_per_delete", &O::keys_per_delete)
      .description("Consecutive deletes of a batch sent as one multi-key command; 1: a command per key.")
      .default_value(64)
      .min(1)
      .max(10000);
  spec.option("pipeline_depth", &O::pipeline_depth)
      .description("Commands written before their replies are read.")
      .default_value(1024)
      .min(1)
      .max(100000);
  spec.option("fence", &O::fence)
      .description("Version-fenced sets and deletes through a Lua script (see the plugin's README): a value is written "
                   "only over an older version, and a delete leaves a tombstone that refuses a reader's stale fill.")
      .default_value(false);
  spec.option("fence_suffix", &O::fence_suffix)
      .description("Appended to a key to name its fence key (the newest version applied, or a tombstone).")
      .default_value("#fence");
  spec.option("tombstone_ttl", &O::tombstone_ttl)
      .description("How long a fence key lives after its last write: longer than any reader takes from cache miss to fill.")
      .default_value(std::chrono::seconds(60))
      .min(1);
  spec.option("scan_count", &O::scan_count)
      .description("COUNT hint of each SCAN round when deleting a pattern (truncates).")
      .default_value(1000)
      .min(1);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Sink>> RedisSink::create(RedisSinkOptions options, const sdk::PluginContext& context) {
  auto address = parse_redis_url(options.url);
  if (!address) return sdk::Status::error("url: " + address.error());
  if (!options.password.empty()) address->password = options.password;
  return std::unique_ptr<sdk::Sink>(std::make_unique<RedisSink>(std::move(options), std::move(*address), context.logger));
}

RedisSink::RedisSink(RedisSinkOptions options, RedisAddress address, sdk::Logger* logger)
    : options_(std::move(options)),
      address_(std::move(address)),
      logger_(logger),
      tombstone_ttl_ms_(std::to_string(options_.tombstone_ttl.count())) {
  for (std::size_t i = 0; i < options_.pool; ++i) {
    slots_.push_back(std::make_unique<Slot>(address_, options_));
    pool_.add(*slots_.back());
  }
}

RedisSink::~RedisSink() = default;

sdk::Status RedisSink::start() {
  stopped_.store(false, std::memory_order_release);
  sdk::ScopedSigpipeBlock no_sigpipe;
  auto failed = connect(*pool_.lease(), 1);
  // A cache that is down at start-up is not a reason to stop: deliveries retry until it is
  // back. A refusal (bad password, no such database) is: no retry will cure it.
  if (failed && failed->kind() == sdk::DeliveryResult::Kind::partial) {
    return sdk::Status::error(failed->failures().front().reason);
  }
  return sdk::Status::success();
}

void RedisSink::stop() {
  stopped_.store(true, std::memory_order_release);
  for (auto& slot : slots_) slot->connection.interrupt();
}

void RedisSink::report_unreachable(const std::string& reason) {
  if (!reported_unreachable_.exchange(true) && logger_) logger_->warn(reason + "; retrying");
}

void RedisSink::report_reachable() {
  if (reported_unreachable_.exchange(false) && logger_) {
    logger_->info("connected to " + address_.describe() + " again");
  }
}

sdk::DeliveryResult RedisSink::deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) {
  if (stopped_.load(std::memory_order_acquire)) return sdk::DeliveryResult::retry("the Redis sink is stopped");
  // stop() shuts sockets down under a running delivery; hiredis then writes to a closed socket.
  sdk::ScopedSigpipeBlock no_sigpipe;
  auto slot = pool_.lease();
  if (auto failed = connect(*slot, batch.size())) return std::move(*failed);
  return apply(*slot, batch);
}

std::optional<sdk::DeliveryResult> RedisSink::connect(Slot& slot, std::size_t batch_size) {
  bool fresh = !slot.connection.connected();
  auto outcome = slot.connection.ensure_connected();
  if (outcome == RedisConnection::Outcome::unreachable) {
    report_unreachable(slot.connection.error());
    return sdk::DeliveryResult::retry(slot.connection.error());
  }
  if (outcome == RedisConnection::Outcome::refused) {
    return sdk::DeliveryResult::partial(fail_all(batch_size, slot.connection.error()));
  }
  if (fresh && options_.fence) {
    // Scripts do not survive a server restart: load on every new connection.
    RespWriter load;
    load.command(3);
    load.argument("SCRIPT");
    load.argument("LOAD");
    load.argument(kFenceScript);
    RedisReply reply = slot.connection.call(load);
    if (!reply) return lost(slot);
    if (reply->type != REDIS_REPLY_STRING) {
      std::string reason = "cannot load the fence script: " +
                           (reply->type == REDIS_REPLY_ERROR ? reply_text(*reply) : std::string("unexpected reply"));
      slot.connection.disconnect();
      return sdk::DeliveryResult::retry(reason);
    }
    slot.fence_sha = reply_text(*reply);
  }
  report_reachable();
  return std::nullopt;
}

sdk::DeliveryResult RedisSink::lost(Slot& slot) {
  if (stopped_.load(std::memory_order_acquire)) return sdk::DeliveryResult::retry("the Redis sink is stopped");
  report_unreachable(slot.connection.error());
  return sdk::DeliveryResult::retry(slot.connection.error());
}

// Writes the command for batch[index] (and the deletes following it that join it); returns
// the index after the last item it covers.
std::size_t RedisSink::write_command(RespWriter& writer, const Slot& slot, std::span<const sdk::Invalidation> batch,
                                     std::size_t index) const {
  const sdk::Invalidation& item = batch[index];
  const std::string_view prefix = options_.key_prefix;
  const std::string_view delete_verb = options_.delete_command == RedisDeleteCommand::unlink ? "UNLINK" : "DEL";
  // An expire to zero is a delete: PEXPIRE 0 would do the same, less plainly.
  bool is_delete = item.action == sdk::Action::delete_key ||
                   (item.action == sdk::Action::expire && item.ttl.count() <= 0);

  if (is_delete && !options_.fence) {
    std::size_t end = index + 1;
    auto joins = [&](const sdk::Invalidation& next) {
      return next.action == sdk::Action::delete_key || (next.action == sdk::Action::expire && next.ttl.count() <= 0);
    };
    while (end < batch.size() && end - index < options_.keys_per_delete && joins(batch[end])) ++end;
    writer.command(1 + (end - index));
    writer.argument(delete_verb);
    for (std::size_t i = index; i < end; ++i) writer.argument(prefix, batch[i].key);
    return end;
  }
  if (is_delete) {
    writer.command(8);
    writer.argument("EVALSHA");
    writer.argument(slot.fence_sha);
    writer.argument("2");
    writer.argument(prefix, item.key);
    writer.argument(prefix, item.key, options_.fence_suffix);
    writer.argument("delete");
    writer.argument(fence_version(item.version));
    writer.argument(tombstone_ttl_ms_);
    return index + 1;
  }
  switch (item.action) {
    case sdk::Action::set_value: {
      const std::string empty;
      const std::string& value = item.value ? *item.value : empty;
      if (options_.fence) {
        writer.command(10);
        writer.argument("EVALSHA");
        writer.argument(slot.fence_sha);
        writer.argument("2");
        writer.argument(prefix, item.key);
        writer.argument(prefix, item.key, options_.fence_suffix);
        writer.argument("set");
        writer.argument(fence_version(item.version));
        writer.argument(value);
        writer.argument(static_cast<std::uint64_t>(std::max<std::int64_t>(item.ttl.count(), 0)));
        writer.argument(tombstone_ttl_ms_);
      } else if (item.ttl.count() > 0) {
        writer.command(5);
        writer.argument("SET");
        writer.argument(prefix, item.key);
        writer.argument(value);
        writer.argument("PX");
        writer.argument(static_cast<std::uint64_t>(item.ttl.count()));
      } else {
        writer.command(3);
        writer.argument("SET");
        writer.argument(prefix, item.key);
        writer.argument(value);
      }
      return index + 1;
    }
    case sdk::Action::expire:
      writer.command(3);
      writer.argument("PEXPIRE");
      writer.argument(prefix, item.key);
      writer.argument(static_cast<std::uint64_t>(item.ttl.count()));
      return index + 1;
    case sdk::Action::delete_key:
    case sdk::Action::delete_pattern:
      break;
  }
  return index + 1;  // not reached: deletes are handled above, patterns by delete_pattern()
}

namespace {

// A cluster node's redirection: the key lives on another node, which this sink cannot follow.
bool is_redirection(std::string_view code) { return code == "MOVED" || code == "ASK"; }
const char* const kClusterUnsupported =
    "Redis Cluster is not supported yet: use a standalone server or a cluster proxy";

// What a successful reply to the command of `item` looks like: SET answers +OK, the others
// (DEL, UNLINK, PEXPIRE, the fence script) an integer. Anything else was not a success,
// whatever sits between (a proxy, another server on the port) made of it.
bool is_expected_reply(const redisReply& reply, const sdk::Invalidation& item, bool fenced) {
  const bool set = item.action == sdk::Action::set_value && !fenced;
  if (set) return reply.type == REDIS_REPLY_STATUS && reply_text(reply) == "OK";
  return reply.type == REDIS_REPLY_INTEGER;
}

std::string describe(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_STATUS: return "+" + reply_text(reply);
    case REDIS_REPLY_INTEGER: return ":" + std::to_string(reply.integer);
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STRING: return "a string";
    case REDIS_REPLY_ARRAY: return "an array";
    default: return "a reply of type " + std::to_string(reply.type);
  }
}

}  // namespace

sdk::DeliveryResult RedisSink::apply(Slot& slot, std::span<const sdk::Invalidation> batch) {
  std::vector<sdk::ItemFailure> failures;
  std::vector<CommandSpan> spans;
  RespWriter writer;
  std::size_t index = 0;
  while (index < batch.size()) {
    if (stopped_.load(std::memory_order_acquire)) return sdk::DeliveryResult::retry("the Redis sink is stopped");
    if (batch[index].action == sdk::Action::delete_pattern) {
      if (auto outcome = delete_pattern(slot, batch[index])) {
        if (outcome->kind() != sdk::DeliveryResult::Kind::failed) return std::move(*outcome);
        failures.push_back({index, outcome->reason(), false});
      }
      ++index;
      continue;
    }
    // One round: up to pipeline_depth commands written, then their replies read.
    writer.clear();
    spans.clear();
    while (index < batch.size() && spans.size() < options_.pipeline_depth &&
           batch[index].action != sdk::Action::delete_pattern) {
      std::size_t next = write_command(writer, slot, batch, index);
      spans.push_back({index, next});
      index = next;
    }
    if (!slot.connection.append(writer)) return lost(slot);
    std::optional<std::string> transient;
    bool script_missing = false;
    for (const CommandSpan& span : spans) {
      RedisReply reply = slot.connection.read_reply();
      if (!reply) return lost(slot);
      if (reply->type != REDIS_REPLY_ERROR) {
        if (is_expected_reply(*reply, batch[span.begin], options_.fence)) continue;
        const std::string why = "Redis answered " + describe(*reply) + ", which is not a success for " +
                                std::string(sdk::to_string(batch[span.begin].action)) + "; not taken as applied";
        for (std::size_t i = span.begin; i < span.end; ++i) failures.push_back({i, why, false});
        continue;
      }
      std::string_view code = error_code(*reply);
      if (is_redirection(code)) {
        const std::string why = std::string(kClusterUnsupported) + " (" + reply_text(*reply) + ")";
        for (std::size_t i = span.begin; i < span.end; ++i) failures.push_back({i, why, false});
      } else if (code == "NOSCRIPT") {
        script_missing = true;
      } else if (is_transient_server_error(code)) {
        transient = reply_text(*reply);
      } else {
        // WRONGTYPE, NOAUTH, OOM...: the server's own words, per item. Only OOM may pass.
        bool retryable = code == "OOM";
        for (std::size_t i = span.begin; i < span.end; ++i) failures.push_back({i, reply_text(*reply), retryable});
      }
    }
    if (script_missing) {
      // SCRIPT FLUSH under our feet: load it again on the next connection and redo the batch,
      // which is harmless (fenced writes are idempotent).
      slot.connection.disconnect();
      return sdk::DeliveryResult::retry("the fence script was flushed from the server; reloading it");
    }
    if (transient) return sdk::DeliveryResult::retry("Redis: " + *transient);
  }
  if (!failures.empty()) return sdk::DeliveryResult::partial(std::move(failures));
  return sdk::DeliveryResult::ok();
}

std::optional<sdk::DeliveryResult> RedisSink::delete_pattern(Slot& slot, const sdk::Invalidation& invalidation) {
  const std::string match = escape_glob(options_.key_prefix) + invalidation.key;
  const std::string count = std::to_string(options_.scan_count);
  // A pattern may match millions of keys: free them in the background whatever delete_command says.
  const std::string_view delete_verb = "UNLINK";
  std::string cursor = "0";
  RespWriter writer;
  do {
    if (stopped_.load(std::memory_order_acquire)) return sdk::DeliveryResult::retry("the Redis sink is stopped");
    writer.clear();
    writer.command(6);
    writer.argument("SCAN");
    writer.argument(cursor);
    writer.argument("MATCH");
    writer.argument(match);
    writer.argument("COUNT");
    writer.argument(count);
    RedisReply reply = slot.connection.call(writer);
    if (!reply) return lost(slot);
    if (reply->type == REDIS_REPLY_ERROR) {
      if (is_redirection(error_code(*reply))) {
        return sdk::DeliveryResult::failed(std::string(kClusterUnsupported) + " (" + reply_text(*reply) + ")");
      }
      return sdk::DeliveryResult::retry("Redis SCAN: " + reply_text(*reply));
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
      return sdk::DeliveryResult::retry("Redis SCAN: unexpected reply");
    }
    cursor = reply_text(*reply->element[0]);
    const redisReply& keys = *reply->element[1];
    if (keys.elements == 0) continue;
    writer.clear();
    writer.command(1 + keys.elements);
    writer.argument(delete_verb);
    for (std::size_t i = 0; i < keys.elements; ++i) writer.argument(reply_text(*keys.element[i]));
    RedisReply deleted = slot.connection.call(writer);
    if (!deleted) return lost(slot);
    if (deleted->type == REDIS_REPLY_ERROR) {
      if (is_redirection(error_code(*deleted))) {
        return sdk::DeliveryResult::failed(std::string(kClusterUnsupported) + " (" + reply_text(*deleted) + ")");
      }
      return sdk::DeliveryResult::retry("Redis " + std::string(delete_verb) + ": " + reply_text(*deleted));
    }
    if (deleted->type != REDIS_REPLY_INTEGER) {
      return sdk::DeliveryResult::failed("Redis answered " + describe(*deleted) + " to " + std::string(delete_verb) +
                                         ", which is not a success; not taken as applied");
    }
  } while (cursor != "0");
  return std::nullopt;
}

}  // namespace invalidator::plugins

INVALIDATOR_SINK_PLUGIN(redis, "0.2.0", invalidator::plugins::RedisSink::options, invalidator::plugins::RedisSink::create)
