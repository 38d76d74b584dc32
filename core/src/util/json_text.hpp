#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace invalidator::util {

// Appends `text` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view text);

// "2026-11-25T13:08:20.851Z"
std::string utc_timestamp(std::chrono::system_clock::time_point time);

}  // namespace invalidator::util
