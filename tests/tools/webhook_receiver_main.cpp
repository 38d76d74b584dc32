// webhook-receiver: the tests' webhook receiver (tests/support/webhook_receiver.hpp) as a
// program, for scripts that run a pipeline process against it and stage faults
// (scripts/faults). It applies what it is sent to a store of its own, as a cache behind a
// webhook would, until stdin closes.
//
// Prints its URL (http://127.0.0.1:PORT/invalidate) on the first line of stdout, then reads
// commands, one per line, and answers each with one line:
//   put KEY          store KEY (as a cache fill would); "ok"
//   has KEY          "yes" while KEY is stored, "no" once an invalidation removed it
//   applied          "N", then the N invalidations applied so far, "<action> <key>" each
//   stop | start     close the listening socket and every connection / listen again on the
//                    same port; "ok"
#include <iostream>
#include <sstream>
#include <string>

#include "support/webhook_receiver.hpp"

int main() {
  invalidator::testing::WebhookReceiver receiver;
  std::cout << receiver.url() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command, key;
    words >> command >> key;
    if (command == "put") {
      receiver.put(key, "cached");
      std::cout << "ok" << std::endl;
    } else if (command == "has") {
      std::cout << (receiver.get(key) ? "yes" : "no") << std::endl;
    } else if (command == "applied") {
      const auto applied = receiver.applied();
      std::ostringstream out;
      out << applied.size() << '\n';
      for (const auto& invalidation : applied) out << invalidation.action << ' ' << invalidation.key << '\n';
      std::cout << out.str() << std::flush;
    } else if (command == "stop") {
      receiver.stop();
      std::cout << "ok" << std::endl;
    } else if (command == "start") {
      receiver.start();
      std::cout << "ok" << std::endl;
    } else if (!command.empty()) {
      std::cout << "not a command: " << command << std::endl;
    }
  }
  return 0;
}
