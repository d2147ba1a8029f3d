// hoa-mock-referrer: the mock referrer FHIR endpoint of tests/gateway as a program, for
// the crash scripts (tests/crash/). Takes conditional updates like a practice's FHIR
// server would and answers GET /_dump with what it holds:
//   {"Task|system|value": {"creates": 1, "updates": 3, "status": "completed",
//                          "lastModified": ["…", …]}, …}
//
//   hoa-mock-referrer --port N [--certs DIR] [--fail-every K]
// --certs: HTTPS with DIR/server.crt (clients need a certificate from DIR/ca.crt);
// --fail-every K: every K-th request answers 503 (so retries happen too).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "fhir/json.h"
#include "tests/gateway/mock_referrer_support.h"

namespace {
volatile std::sig_atomic_t gStop = 0;
void onSignal(int) { gStop = 1; }
}  // namespace

int main(int argc, char** argv) {
  using hoa::gateway::testing::MockReferrer;
  int port = 0, failEvery = 0;
  std::string certs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "hoa-mock-referrer: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") port = std::atoi(next().c_str());
    else if (a == "--certs") certs = next();
    else if (a == "--fail-every") failEvery = std::atoi(next().c_str());
    else {
      std::cerr << "usage: hoa-mock-referrer --port N [--certs DIR] [--fail-every K]\n";
      return 2;
    }
  }
  MockReferrer mock(certs, !certs.empty(), port);
  if (failEvery > 0) mock.setFailEvery(failEvery);
  mock.start();
  std::cout << "listening on " << mock.baseUrl() << std::endl;
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  while (!gStop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  mock.stop();
  return 0;
}
