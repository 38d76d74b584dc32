#include "admin/engine_status.hpp"

#include <fmt/format.h>

#include "util/json_text.hpp"

namespace invalidator::admin {
namespace {

// Members written one after another; the caller opens and closes the object.
class JsonObject {
 public:
  explicit JsonObject(std::string& out) : out_(out) {}
  void string(std::string_view name, std::string_view value) {
    key(name);
    util::append_json_string(out_, value);
  }
  void number(std::string_view name, std::uint64_t value) {
    key(name);
    out_ += std::to_string(value);
  }
  void real(std::string_view name, double value) {
    key(name);
    out_ += fmt::format("{}", value);
  }
  void boolean(std::string_view name, bool value) {
    key(name);
    out_ += value ? "true" : "false";
  }
  void strings(std::string_view name, const std::vector<std::string>& values) {
    key(name);
    out_ += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out_ += ',';
      util::append_json_string(out_, values[i]);
    }
    out_ += ']';
  }
  // The caller writes the value that follows.
  void key(std::string_view name) {
    if (!first_) out_ += ',';
    first_ = false;
    util::append_json_string(out_, name);
    out_ += ':';
  }

 private:
  std::string& out_;
  bool first_ = true;
};

template <typename Items, typename Write>
void array_of_objects(std::string& out, const Items& items, Write write) {
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    out += '{';
    JsonObject object(out);
    write(object, item);
    out += '}';
  }
  out += ']';
}

void write_source(std::string& out, JsonObject& object, const SourceStats& source) {
  object.string("id", source.id);
  object.string("state", source.state);
  object.boolean("ready", source.ready);
  object.string("reason", source.not_ready_reason);
  object.number("received", source.received);
  std::uint64_t skipped = 0;
  for (const auto& [reason, count] : source.skipped) skipped += count;
  object.number("skipped", skipped);
  object.number("undecodable", source.undecodable);
  object.key("lag");
  array_of_objects(out, source.lag, [](JsonObject& lag, const SourceStats::Lag& stream) {
    lag.string("stream", stream.stream);
    lag.number("lag", stream.lag);
    lag.string("unit", stream.unit);
  });
}

void write_sink(JsonObject& object, const SinkStats& sink) {
  object.string("id", sink.id);
  object.boolean("ready", sink.ready);
  object.string("reason", sink.not_ready_reason);
  object.number("delivered", sink.delivered);
  object.number("dead_lettered", sink.dead_lettered);
  object.number("retries", sink.retries);
  object.number("queued", sink.queued);
  object.number("staleness_observations", sink.staleness_observations);
  object.real("staleness_p50_seconds", sink.staleness_p50_seconds);
  object.real("staleness_p99_seconds", sink.staleness_p99_seconds);
}

void write_route(JsonObject& object, const RouteStats& route) {
  object.string("name", route.route);
  object.string("table", route.table);
  object.string("action", route.action);
  object.strings("from", route.from);
  object.strings("to", route.to);
  object.number("matched", route.matched);
  object.number("unrendered", route.unrendered_total());
}

}  // namespace

HttpAnswer readiness(const EngineStats& stats) {
  struct NotReady {
    std::string_view component;
    std::string_view id;
    std::string_view reason;
  };
  std::vector<NotReady> not_ready;
  for (const auto& source : stats.sources) {
    if (!source.ready) not_ready.push_back({"source", source.id, source.not_ready_reason});
  }
  for (const auto& sink : stats.sinks) {
    if (!sink.ready) not_ready.push_back({"sink", sink.id, sink.not_ready_reason});
  }
  if (not_ready.empty()) return {200, "application/json", "{\"status\":\"ready\"}\n"};
  std::string body = "{\"status\":\"not ready\",\"not_ready\":";
  array_of_objects(body, not_ready, [](JsonObject& object, const NotReady& component) {
    object.string("component", component.component);
    object.string("id", component.id);
    object.string("reason", component.reason);
  });
  body += "}\n";
  return {503, "application/json", std::move(body)};
}

std::string status_json(const EngineStats& stats, const StatusContext& context) {
  std::string out = "{";
  JsonObject top(out);
  top.string("version", context.version);
  top.string("time", util::utc_timestamp(context.now));
  top.real("uptime_seconds", std::chrono::duration<double>(context.uptime).count());
  top.boolean("ready", readiness(stats).status == 200);

  top.key("totals");
  out += '{';
  JsonObject totals(out);
  totals.number("messages", stats.messages);
  totals.number("events", stats.events);
  totals.number("skipped", stats.skipped);
  totals.number("malformed", stats.malformed);
  totals.number("invalidations", stats.invalidations);
  totals.number("delivered", stats.delivered);
  totals.number("dead_lettered", stats.dead_lettered);
  totals.number("retries", stats.retries);
  totals.number("acknowledged", stats.acknowledged);
  totals.number("decode_queue_depth", stats.decode_queue_depth);
  out += '}';

  top.key("sources");
  array_of_objects(out, stats.sources,
                   [&out](JsonObject& object, const SourceStats& source) { write_source(out, object, source); });
  top.key("routes");
  array_of_objects(out, stats.routes, write_route);
  top.key("sinks");
  array_of_objects(out, stats.sinks, write_sink);
  top.key("errors");
  array_of_objects(out, context.errors, [](JsonObject& object, const RecentErrors::Entry& entry) {
    object.string("time", util::utc_timestamp(entry.time));
    object.string("level", entry.level);
    object.string("message", entry.message);
  });
  out += "}\n";
  return out;
}

}  // namespace invalidator::admin
