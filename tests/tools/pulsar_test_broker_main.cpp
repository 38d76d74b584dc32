// pulsar-test-broker: the Pulsar test broker (tests/support/pulsar_test_broker.hpp) as a
// program, for scripts that run a pipeline process against it and stage faults
// (scripts/faults). It serves Pulsar's WebSocket API on loopback until stdin closes.
//
// Prints its URL (ws://127.0.0.1:PORT) on the first line of stdout, then reads commands, one
// per line, and answers each with one line:
//   publish TOPIC KEY VALUE   store VALUE (the rest of the line) with KEY ("-": none) as a
//                             producer would; answers "ok"
//   down | up                 stop listening and drop every connection, as a broker process
//                             that dies / listen again on the same port; answers "ok"
//   drop                      drop every consumer connection without a close frame; "ok"
//   stats TOPIC SUBSCRIPTION  answers "consumers=N acknowledged=N unacknowledged=N waiting=N
//                             delivered=N redelivered=N"
#include <iostream>
#include <sstream>
#include <string>

#include "support/pulsar_test_broker.hpp"

int main() {
  invalidator::testing::PulsarTestBroker broker;
  std::cout << broker.url() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command;
    words >> command;
    if (command == "publish") {
      std::string topic, key, value;
      words >> topic >> key;
      std::getline(words, value);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (key == "-") broker.publish(topic, value);
      else broker.publish(topic, value, key);
      std::cout << "ok" << std::endl;
    } else if (command == "down") {
      broker.go_down();
      std::cout << "ok" << std::endl;
    } else if (command == "up") {
      broker.come_up();
      std::cout << "ok" << std::endl;
    } else if (command == "drop") {
      broker.drop_consumers();
      std::cout << "ok" << std::endl;
    } else if (command == "stats") {
      std::string topic, subscription;
      words >> topic >> subscription;
      const auto stats = broker.stats(topic, subscription);
      std::cout << "consumers=" << stats.consumers << " acknowledged=" << stats.acknowledged
                << " unacknowledged=" << stats.unacknowledged << " waiting=" << stats.waiting
                << " delivered=" << stats.delivered << " redelivered=" << stats.redelivered << std::endl;
    } else if (!command.empty()) {
      std::cout << "not a command: " << command << std::endl;
    }
  }
  return 0;
}
