#include "generated_events.hpp"

#include <cstdio>

namespace invalidator::bench {

std::vector<std::string> customer_updates(std::size_t count, std::size_t distinct_customers) {
  static const char* first_names[] = {"Sally", "George", "Edward", "Anne", "Maria", "Kenji", "Amara", "Lukas"};
  static const char* last_names[] = {"Thomas", "Bailey", "Walker", "Kretchmar", "Garcia", "Sato", "Okafor", "Becker"};
  static const char* cities[] = {"Leith", "Bedford Falls", "Springfield", "Dover", "Porto", "Osaka", "Lagos", "Bremen"};
  std::vector<std::string> events;
  events.reserve(count);
  char buffer[2048];
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t id = 1000 + i % distinct_customers;
    const char* first = first_names[id % 8];
    const char* last = last_names[(id / 8) % 8];
    const char* city = cities[(id / 64) % 8];
    unsigned long long lsn = 24023128ULL + i * 328ULL;
    int length = std::snprintf(
        buffer, sizeof buffer,
        R"({"before":{"id":%zu,"first_name":"%s","last_name":"%s","email":"%s.%s%zu@example.com",)"
        R"("phone":"+44 131 496 %04zu","street":"%zu Harbour St","city":"%s","postal_code":"EH6 %zuAB",)"
        R"("loyalty_points":%zu,"updated_at":1764070000000},)"
        R"("after":{"id":%zu,"first_name":"%s","last_name":"%s","email":"%s.%s%zu@example.com",)"
        R"("phone":"+44 131 496 %04zu","street":"%zu Commercial Quay","city":"%s","postal_code":"EH6 %zuAB",)"
        R"("loyalty_points":%zu,"updated_at":%llu},)"
        R"("source":{"version":"2.1.4.Final","connector":"postgresql","name":"shop","ts_ms":%llu,"snapshot":"false",)"
        R"("db":"shop","schema":"public","table":"customers","txId":%zu,"lsn":%llu,"xmin":null},)"
        R"("op":"u","ts_ms":%llu,"transaction":null})",
        id, first, last, first, last, id, id % 10000, id % 200, city, id % 10, id % 5000, id, first, last, first, last,
        id, id % 10000, id % 200, city, id % 10, id % 5000 + 10, 1764070000000ULL + i, 1764070000000ULL + i,
        750 + i, lsn, 1764070000412ULL + i);
    events.emplace_back(buffer, static_cast<std::size_t>(length));
  }
  return events;
}

}  // namespace invalidator::bench
