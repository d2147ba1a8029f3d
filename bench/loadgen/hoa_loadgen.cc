// hoa-loadgen: HTTPS load generator for the gateway (bench/run-load-bench.sh drives it).
//
//   hoa-loadgen --port N --certs DIR [--host H] [--client NAME] [--connections C]
//               [--duration SECONDS] [--warmup SECONDS] [--rate R]
//               --mode submit  --body FILE [--path /fhir] [--placeholder TEXT]
//               --mode get     --path /fhir/Task/ID
//
// Each connection is one thread with one keep-alive HTTPS session (mutual TLS with
// DIR/NAME.crt/.key, trusting DIR/ca.crt); a dropped session is reopened.
// --mode submit posts FILE with every occurrence of --placeholder (default
// REF-2026-000123, the identifier of the example referrals) replaced by a value unique to
// the request, so each request is a new referral; --mode get repeats a GET.
// --rate 0 (default): closed loop, as fast as the connections go. --rate R: open loop, R
// requests/s in total, each connection on a fixed schedule; a request's latency is counted
// from its scheduled start, so a slow server is not hidden by the client waiting
// (no coordinated omission).
// Prints one JSON object: requests, status counts, errors, throughput, latency
// percentiles (ms) over the measured part (after --warmup).
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string certs;
  std::string client = "referrer-a";
  int connections = 8;
  double duration = 10;
  double warmup = 2;
  double rate = 0;
  std::string mode = "submit";
  std::string path;
  std::string bodyFile;
  std::string placeholder = "REF-2026-000123";
  std::string contentType = "application/fhir+json";
};

struct Sample {
  double startOffset;  // seconds since the run began (scheduled start in open loop)
  double latencyMs;
  int status;          // 0 = transport error
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "hoa-loadgen: " << why << "\n"
            << "usage: hoa-loadgen --port N --certs DIR [--host H] [--client NAME] [--connections C]\n"
            << "         [--duration S] [--warmup S] [--rate R] --mode submit|get [--path P] [--body FILE]\n"
            << "         [--placeholder TEXT] [--content-type T]\n";
  std::exit(2);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) usage("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  auto lo = static_cast<size_t>(rank);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = rank - static_cast<double>(lo);
  return sorted[lo] * (1 - frac) + sorted[hi] * frac;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next().c_str());
    else if (a == "--certs") o.certs = next();
    else if (a == "--client") o.client = next();
    else if (a == "--connections") o.connections = std::atoi(next().c_str());
    else if (a == "--duration") o.duration = std::atof(next().c_str());
    else if (a == "--warmup") o.warmup = std::atof(next().c_str());
    else if (a == "--rate") o.rate = std::atof(next().c_str());
    else if (a == "--mode") o.mode = next();
    else if (a == "--path") o.path = next();
    else if (a == "--body") o.bodyFile = next();
    else if (a == "--placeholder") o.placeholder = next();
    else if (a == "--content-type") o.contentType = next();
    else usage("unknown option " + a);
  }
  if (o.port <= 0 || o.port > 65535) usage("--port is required");
  if (o.certs.empty()) usage("--certs is required");
  if (o.connections < 1 || o.connections > 1024) usage("--connections must be 1..1024");
  if (o.duration <= 0 || o.warmup < 0) usage("--duration must be > 0 and --warmup >= 0");
  if (o.mode != "submit" && o.mode != "get") usage("--mode is submit or get");
  std::string body;
  if (o.mode == "submit") {
    if (o.bodyFile.empty()) usage("--mode submit needs --body");
    body = readFile(o.bodyFile);
    if (body.find(o.placeholder) == std::string::npos) usage("the body does not contain the placeholder " + o.placeholder);
    if (o.path.empty()) o.path = "/fhir";
  } else if (o.path.empty()) {
    usage("--mode get needs --path");
  }

  Poco::Net::Context::Ptr context = new Poco::Net::Context(
      Poco::Net::Context::TLS_CLIENT_USE, o.certs + "/" + o.client + ".key", o.certs + "/" + o.client + ".crt",
      o.certs + "/ca.crt", Poco::Net::Context::VERIFY_STRICT);

  const auto runId = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  const double total = o.warmup + o.duration;
  const auto begin = Clock::now() + std::chrono::milliseconds(200);  // all threads start together
  std::vector<std::vector<Sample>> perThread(static_cast<size_t>(o.connections));
  std::vector<std::map<std::string, long>> errors(static_cast<size_t>(o.connections));
  std::atomic<long> reconnects{0};

  auto worker = [&](int t) {
    auto& samples = perThread[static_cast<size_t>(t)];
    samples.reserve(100000);
    std::unique_ptr<Poco::Net::HTTPSClientSession> session;
    auto open = [&] {
      session = std::make_unique<Poco::Net::HTTPSClientSession>(o.host, static_cast<Poco::UInt16>(o.port), context);
      session->setKeepAlive(true);
      session->setTimeout(Poco::Timespan(30, 0));
    };
    open();
    std::this_thread::sleep_until(begin);
    const double interval = o.rate > 0 ? static_cast<double>(o.connections) / o.rate : 0;
    // Spread the connections' schedules over one interval.
    double nextStart = interval * static_cast<double>(t) / static_cast<double>(o.connections);
    long n = 0;
    std::string out;
    while (true) {
      double now = std::chrono::duration<double>(Clock::now() - begin).count();
      if (now >= total) break;
      double scheduled = now;
      if (interval > 0) {
        if (nextStart >= total) break;
        if (nextStart > now) {
          std::this_thread::sleep_until(begin + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(nextStart)));
        }
        scheduled = nextStart;
        nextStart += interval;
      }
      Poco::Net::HTTPRequest req(o.mode == "submit" ? "POST" : "GET", o.path, Poco::Net::HTTPMessage::HTTP_1_1);
      req.setKeepAlive(true);
      req.set("Accept", "application/fhir+json");
      std::string payload;
      if (o.mode == "submit") {
        payload = replaceAll(body, o.placeholder, "LOAD-" + runId + "-" + std::to_string(t) + "-" + std::to_string(n));
        req.setContentType(o.contentType);
        req.setContentLength64(static_cast<Poco::Int64>(payload.size()));
      }
      ++n;
      int status = 0;
      try {
        std::ostream& os = session->sendRequest(req);
        if (!payload.empty()) os.write(payload.data(), static_cast<std::streamsize>(payload.size()));
        Poco::Net::HTTPResponse resp;
        std::istream& is = session->receiveResponse(resp);
        out.assign(std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>());
        status = resp.getStatus();
        if (!resp.getKeepAlive()) {
          session->reset();
          ++reconnects;
        }
      } catch (const Poco::Exception& e) {
        errors[static_cast<size_t>(t)][e.className()] += 1;
        open();
        ++reconnects;
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)][e.what()] += 1;
        open();
        ++reconnects;
      }
      double end = std::chrono::duration<double>(Clock::now() - begin).count();
      samples.push_back({scheduled, (end - scheduled) * 1000.0, status});
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < o.connections; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();

  std::vector<double> lat;
  std::map<int, long> statuses;
  std::map<std::string, long> errorCounts;
  long measured = 0;
  for (size_t t = 0; t < perThread.size(); ++t) {
    for (const auto& s : perThread[t]) {
      if (s.startOffset < o.warmup) continue;
      ++measured;
      statuses[s.status] += 1;
      lat.push_back(s.latencyMs);
    }
    for (const auto& [k, v] : errors[t]) errorCounts[k] += v;
  }
  std::sort(lat.begin(), lat.end());
  long ok = 0;
  for (const auto& [k, v] : statuses)
    if (k >= 200 && k < 300) ok += v;
  std::ostringstream js;
  js.setf(std::ios::fixed);
  js.precision(3);
  js << "{\"mode\":\"" << o.mode << "\",\"path\":\"" << o.path << "\",\"connections\":" << o.connections
     << ",\"rate\":" << o.rate << ",\"duration\":" << o.duration << ",\"requests\":" << measured << ",\"ok\":" << ok
     << ",\"throughput\":" << static_cast<double>(measured) / o.duration
     << ",\"okThroughput\":" << static_cast<double>(ok) / o.duration << ",\"statuses\":{";
  bool first = true;
  for (const auto& [k, v] : statuses) {
    js << (first ? "" : ",") << "\"" << k << "\":" << v;
    first = false;
  }
  js << "},\"errors\":{";
  first = true;
  for (const auto& [k, v] : errorCounts) {
    js << (first ? "" : ",") << "\"" << k << "\":" << v;
    first = false;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  js << "},\"loaderCpuSeconds\":" << cpu << ",\"reconnects\":" << reconnects.load() << ",\"latencyMs\":{\"p50\":" << percentile(lat, 50)
     << ",\"p90\":" << percentile(lat, 90) << ",\"p99\":" << percentile(lat, 99)
     << ",\"p999\":" << percentile(lat, 99.9) << ",\"max\":" << (lat.empty() ? 0.0 : lat.back()) << "}}";
  std::cout << js.str() << std::endl;
  return ok == measured && measured > 0 ? 0 : 1;
}
