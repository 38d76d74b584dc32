// The Debezium decoder beside a bare simdjson parse of the same bytes that reads every value
// once: that parse is the ceiling a decoder built on simdjson can approach.
#include <benchmark/benchmark.h>

#include <simdjson.h>

#include "codec/debezium_decoder.hpp"
#include "bare_parse.hpp"
#include "generated_events.hpp"
#include "route/router.hpp"

namespace {

using namespace invalidator;

const std::vector<std::string>& events() {
  static const auto generated = bench::customer_updates(4096, 4096);
  return generated;
}

// The events as a transport hands them over.
const std::vector<sdk::RawMessage>& messages() {
  static const auto wrapped = [] {
    std::vector<sdk::RawMessage> all;
    for (const auto& event : events()) {
      sdk::RawMessage message;
      message.topic = "shop.public.customers";
      // With the spare capacity the sources give a message, so that it is parsed in place, as
      // in the pipeline (and as the bare parse reads padded input).
      std::string value;
      value.reserve(event.size() + sdk::kDecodePadding);
      value.assign(event);
      message.value = std::move(value);
      all.push_back(std::move(message));
    }
    return all;
  }();
  return wrapped;
}

void BM_BareSimdjsonParse(benchmark::State& state) {
  bench::BareParser parser;
  std::vector<simdjson::padded_string> padded;
  for (const auto& event : events()) padded.emplace_back(event);
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const auto& input = padded[i++ % padded.size()];
    benchmark::DoNotOptimize(parser.parse(input.data(), input.size(), input.size() + simdjson::SIMDJSON_PADDING));
    bytes += input.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_BareSimdjsonParse);

// The DOM API: simdjson picks the fastest kernel for this CPU at run time.
std::size_t touch(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::OBJECT: {
      std::size_t count = 0;
      simdjson::dom::object object;
      if (element.get_object().get(object)) return 0;
      for (auto field : object) {
        benchmark::DoNotOptimize(field.key);
        count += touch(field.value);
      }
      return count;
    }
    case simdjson::dom::element_type::ARRAY: {
      std::size_t count = 0;
      simdjson::dom::array array;
      if (element.get_array().get(array)) return 0;
      for (auto child : array) count += touch(child);
      return count;
    }
    default:
      benchmark::DoNotOptimize(element);
      return 1;
  }
}

void BM_BareSimdjsonDomParse(benchmark::State& state) {
  simdjson::dom::parser parser;
  std::vector<simdjson::padded_string> padded;
  for (const auto& event : events()) padded.emplace_back(event);
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const auto& input = padded[i++ % padded.size()];
    simdjson::dom::element root;
    if (parser.parse(input).get(root)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(touch(root));
    bytes += input.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_BareSimdjsonDomParse);

void BM_DebeziumDecode(benchmark::State& state) {
  codec::DebeziumDecoder decoder;
  const auto& all = messages();
  sdk::ChangeEvent out;
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const auto& message = all[i++ % all.size()];
    auto result = decoder.decode(message, out);
    benchmark::DoNotOptimize(result.status);
    bytes += message.value->size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_DebeziumDecode);

// What the pipeline does: only the columns its routes read are materialised.
void BM_DebeziumDecodeRouteColumnsOnly(benchmark::State& state) {
  codec::DebeziumDecoder decoder;
  decoder.set_columns({"id", "email", "street"});
  const auto& all = messages();
  sdk::ChangeEvent out;
  std::size_t i = 0;
  for (auto _ : state) {
    auto result = decoder.decode(all[i++ % all.size()], out);
    benchmark::DoNotOptimize(result.status);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DebeziumDecodeRouteColumnsOnly);

void BM_DecodeAndRoute(benchmark::State& state) {
  codec::DebeziumDecoder decoder;
  route::RouteSpec route;
  route.from = {"source"};
  route.table = "public.customers";
  route.ops = {sdk::Op::update, sdk::Op::remove};
  route.changed = {"street", "email"};
  route.keys = {"customer:{id}", "customer:by-email:{email}"};
  route.to = {"cache"};
  auto router = route::Router::build({route}, {"source"}, {"cache"}).value();
  decoder.set_columns(router.used_columns());  // as the pipeline does
  const auto& all = messages();
  sdk::ChangeEvent out;
  std::vector<route::RoutedInvalidation> routed;
  std::size_t i = 0;
  for (auto _ : state) {
    decoder.decode(all[i++ % all.size()], out);
    routed.clear();
    benchmark::DoNotOptimize(router.route(0, out, routed));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DecodeAndRoute);

}  // namespace

BENCHMARK_MAIN();
