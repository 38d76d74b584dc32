#pragma once

// A TLS front for a plain loopback server, as a TLS-terminating proxy in front of a broker
// would be: it accepts TLS connections on a port of its own, with the certificate and key it
// is given, and relays the bytes to the server. Lets a test reach the Pulsar test broker over
// wss:// without the broker knowing TLS.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace invalidator::testing {

class TlsFront {
 public:
  TlsFront(const std::filesystem::path& certificate, const std::filesystem::path& key, std::uint16_t backend_port);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;
  std::uint16_t port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A self-signed certificate for "localhost" (and 127.0.0.1), made with the openssl command in
// `directory`: cert.pem and key.pem. False when openssl failed.
bool make_self_signed_certificate(const std::filesystem::path& directory);

}  // namespace invalidator::testing
