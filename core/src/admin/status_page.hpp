#pragma once

#include <string_view>

namespace invalidator::admin {

// The status page the admin endpoint serves at "/": one HTML document with its style and
// script inline (nothing fetched from elsewhere), polling /status once a second and drawing
// sources -> routes -> sinks with their rates, lag, dead letters, retries and staleness, and
// the last warnings and errors.
std::string_view status_page();

}  // namespace invalidator::admin
