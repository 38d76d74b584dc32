#include <gtest/gtest.h>
#include <simdjson.h>

#include <sstream>

#include "devtools_client.hpp"
#include "support/pipeline_fakes.hpp"
#include "support/test_support.hpp"

namespace invalidator {
namespace {

using testing::Chromium;
using testing::ControlledSink;
using testing::DevToolsPage;
using testing::FedSource;

// What the page shows, read from its DOM.
constexpr const char* kReadPage = R"js((() => {
  const text = (selector) => { const found = document.querySelector(selector); return found ? found.textContent : ""; };
  const node = (kind, id) => `.node[data-kind="${kind}"][data-id="${id}"]`;
  const field = (kind, id, name) => text(`${node(kind, id)} .field[data-field="${name}"] .value`);
  const sink = document.querySelector(node("sink", "sink"));
  return JSON.stringify({
    state: text("#state"),
    received: field("source", "source", "received"),
    delivered: field("sink", "sink", "delivered"),
    retries: field("sink", "sink", "retries"),
    p99: field("sink", "sink", "p99"),
    sink_ready: sink !== null && !sink.classList.contains("not-ready"),
    sink_reason: text(`${node("sink", "sink")} .reason`),
    routes: document.querySelectorAll('.node[data-kind="route"]').length,
    edges: document.querySelectorAll("#edges path").length,
    errors: Array.from(document.querySelectorAll("#errors li")).map((item) => item.textContent),
  });
})())js";

struct PageState {
  std::string state;
  std::string received;
  std::string delivered;
  std::string retries;
  std::string p99;
  bool sink_ready = false;
  std::string sink_reason;
  std::uint64_t routes = 0;
  std::uint64_t edges = 0;
  std::vector<std::string> errors;
};

PageState read_page(DevToolsPage& page) {
  const std::string json = page.evaluate_string(kReadPage);
  simdjson::dom::parser parser;
  simdjson::dom::element shown = parser.parse(json);
  PageState out;
  out.state = std::string(std::string_view(shown["state"]));
  out.received = std::string(std::string_view(shown["received"]));
  out.delivered = std::string(std::string_view(shown["delivered"]));
  out.retries = std::string(std::string_view(shown["retries"]));
  out.p99 = std::string(std::string_view(shown["p99"]));
  out.sink_ready = bool(shown["sink_ready"]);
  out.sink_reason = std::string(std::string_view(shown["sink_reason"]));
  out.routes = std::uint64_t(shown["routes"]);
  out.edges = std::uint64_t(shown["edges"]);
  for (simdjson::dom::element line : simdjson::dom::array(shown["errors"])) out.errors.emplace_back(std::string_view(line));
  return out;
}

// As the page writes counts: en-US, thousands separated by commas.
std::string as_shown(std::uint64_t count) {
  std::string digits = std::to_string(count);
  for (int at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) digits.insert(static_cast<std::size_t>(at), ",");
  return digits;
}

// Polls the page until `done` holds of what it shows, a while at most; the last state seen
// otherwise, for the failure's message.
template <typename Condition>
bool page_shows(DevToolsPage& page, Condition done, PageState& last) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    last = read_page(page);
    if (done(last)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string describe(const PageState& shown) {
  std::ostringstream out;
  out << "state=" << shown.state << " received=" << shown.received << " delivered=" << shown.delivered
      << " retries=" << shown.retries << " sink_ready=" << shown.sink_ready << " routes=" << shown.routes
      << " edges=" << shown.edges << " errors=" << shown.errors.size();
  return out.str();
}

// The status page in a real browser: it renders the pipeline's graph, its numbers follow a
// running pipeline (counts, a sink retrying and recovering, the warning it logged), and the
// browser reports no console error, exception or failed load.
TEST(StatusPage, FollowsARunningPipelineInHeadlessChromium) {
  const auto executable = Chromium::find();
  if (!executable) GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps installs it)";

  auto source = std::make_unique<FedSource>();
  FedSource* fed = source.get();
  auto sink = std::make_unique<ControlledSink>();
  ControlledSink* controlled = sink.get();
  auto engine = testing::customers_engine(std::move(source), std::move(sink), "[engine]\nadmin = \"127.0.0.1:0\"\n");
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  for (int i = 0; i < 100; ++i) {
    fed->push(testing::customer_update_at(i, "m" + std::to_string(i), static_cast<std::uint64_t>(i + 1), now_ms));
  }
  ASSERT_TRUE(testing::eventually([&] { return engine->stats().acknowledged == 100; }));

  testing::TempDir profile;
  Chromium browser(*executable, profile.path());
  const auto port = browser.devtools_port(std::chrono::seconds(60));
  ASSERT_TRUE(port) << "Chromium did not open its DevTools endpoint:\n" << browser.output();
  std::string error;
  auto page = DevToolsPage::connect(*port, error);
  ASSERT_NE(page, nullptr) << error;
  page->call("Runtime.enable");
  page->call("Log.enable");
  page->call("Page.enable");
  const std::string url = "http://127.0.0.1:" + std::to_string(*engine->admin_port()) + "/?interval=200";
  page->call("Page.navigate", "{\"url\":\"" + url + "\"}");

  PageState shown;
  EXPECT_TRUE(page_shows(
      *page,
      [&](const PageState& now) {
        return now.received == "100" && now.delivered == as_shown(engine->stats().delivered) && now.state == "ready";
      },
      shown))
      << describe(shown);
  EXPECT_EQ(shown.routes, 1u);
  EXPECT_EQ(shown.edges, 2u) << "source -> route -> sink";
  EXPECT_NE(shown.p99, "\u2014") << "staleness observed";
  EXPECT_TRUE(shown.errors.empty());

  // More changes: the page follows, counts written with separators.
  for (int i = 0; i < 1500; ++i) {
    fed->push(testing::customer_update_at(i % 50, "n" + std::to_string(i), static_cast<std::uint64_t>(200 + i), now_ms));
  }
  ASSERT_TRUE(testing::eventually([&] { return engine->stats().acknowledged == 1600; }));
  EXPECT_TRUE(page_shows(
      *page,
      [&](const PageState& now) { return now.received == "1,600" && now.delivered == as_shown(engine->stats().delivered); },
      shown))
      << describe(shown);

  // The sink's server refusing: not ready, the sink marked with its reason, the warning listed.
  controlled->fail_next(1'000'000);
  fed->push(testing::customer_update_at(1, "outage", 5000, now_ms));
  EXPECT_TRUE(page_shows(
      *page,
      [](const PageState& now) {
        return now.state == "not ready" && !now.sink_ready && !now.errors.empty() && now.retries != "0";
      },
      shown))
      << describe(shown);
  EXPECT_NE(shown.sink_reason.find("simulated outage"), std::string::npos) << shown.sink_reason;
  ASSERT_FALSE(shown.errors.empty());
  EXPECT_NE(shown.errors.front().find("not delivered"), std::string::npos) << shown.errors.front();

  controlled->fail_next(0);
  EXPECT_TRUE(page_shows(
      *page, [](const PageState& now) { return now.state == "ready" && now.sink_ready && now.received == "1,601"; },
      shown))
      << describe(shown);

  EXPECT_TRUE(page->problems().empty()) << page->problems().front();
  page.reset();
  ASSERT_TRUE(engine->stop().ok());
}

}  // namespace
}  // namespace invalidator
