#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace invalidator::bench {

// Debezium update events of a realistic customers table (REPLICA IDENTITY FULL, no schema),
// about 600 bytes each, as a PostgreSQL connector writes them. Customer ids cycle through
// `distinct_customers`.
std::vector<std::string> customer_updates(std::size_t count, std::size_t distinct_customers = 100'000);

}  // namespace invalidator::bench
