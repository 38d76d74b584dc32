// Commit → key gone from Redis, end to end, at a steady rate of single-row UPDATE transactions
// on a real PostgreSQL, for
//   1. `invalidator run` with the postgres source and the Redis sink, and
//   2. a plain hand-written consumer in this process: libpq logical replication, pgoutput,
//      one synchronous Redis DEL per changed row, the slot confirmed every second,
// one after the other at each rate, in the same run.
//
// Each UPDATE is of a row of its own, whose key was set in Redis before; Redis's keyspace notifications (a DEL of
// an existing key publishes an event) tell a subscriber in this process when the key went.
// Latency = that moment - the moment the UPDATE's COMMIT returned to the load generator.
// Everything (PostgreSQL, Redis, the load, the consumer) shares this machine's cores.
//
//   postgres_bench --invalidator build/core/invalidator --postgres postgresql://... --redis redis://...
//                  [--rates 1000,5000,10000] [--seconds 10] [--max-delay-ms N] (the sink's batch.max_delay)
//                  [--batch-scheduling true|false] (engine.batch_scheduling)
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <sstream>
#include <time.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kGeneratorThreads = 2;    // one connection each: a single one tops out below 10k commits/s here
const char* const kSlot = "bench_slot";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "postgres_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  std::string invalidator;
  std::string postgres;
  std::string redis;
  std::vector<int> rates{1000, 5000, 10000};
  int seconds = 10;
  std::optional<int> max_delay_ms;
  std::string batch_scheduling;  // engine.batch_scheduling; empty: the engine's default
};

std::pair<std::string, int> redis_host_port(const std::string& url) {
  auto colon = url.rfind(':');
  return {"127.0.0.1", std::stoi(url.substr(colon + 1))};
}

redisContext* redis_connect(const std::string& url) {
  auto [host, port] = redis_host_port(url);
  redisContext* context = redisConnect(host.c_str(), port);
  if (context == nullptr || context->err) fail("cannot connect to Redis at " + url);
  return context;
}

class Database {
 public:
  explicit Database(const std::string& url) : connection_(PQconnectdb(url.c_str())) {
    if (PQstatus(connection_) != CONNECTION_OK) fail("cannot connect to " + url + ": " + PQerrorMessage(connection_));
  }
  ~Database() { PQfinish(connection_); }
  void run(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    auto status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string error = PQresultErrorMessage(result);
      PQclear(result);
      fail(sql + ": " + error);
    }
    PQclear(result);
  }
  std::string value(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    std::string out = PQntuples(result) > 0 && !PQgetisnull(result, 0, 0) ? PQgetvalue(result, 0, 0) : "";
    PQclear(result);
    return out;
  }
  PGconn* raw() { return connection_; }

 private:
  PGconn* connection_;
};

// Per row: when its UPDATE's commit returned, and when its key left Redis. Every UPDATE of the
// run is of a row of its own, so that a deletion is never matched to another update's commit
// (one seen before its commit returned to the generator counts as 0).
class Latencies {
 public:
  explicit Latencies(int rows) : entries_(static_cast<std::size_t>(rows)) {}
  void committed(int id, Clock::time_point at) {
    std::lock_guard lock(mutex_);
    entries_.at(static_cast<std::size_t>(id)).committed = at;
  }
  void deleted(int id, Clock::time_point at) {
    std::lock_guard lock(mutex_);
    if (static_cast<std::size_t>(id) < entries_.size()) entries_[static_cast<std::size_t>(id)].deleted = at;
  }
  // Microseconds from commit to deletion of rows [from, to), and how many of them committed.
  std::pair<std::vector<double>, std::size_t> samples(int from, int to) {
    std::lock_guard lock(mutex_);
    std::vector<double> out;
    std::size_t committed = 0;
    for (int id = from; id < to; ++id) {
      const Entry& entry = entries_[static_cast<std::size_t>(id)];
      if (!entry.committed) continue;
      ++committed;
      if (entry.deleted) {
        out.push_back(std::max(0.0, std::chrono::duration<double, std::micro>(*entry.deleted - *entry.committed).count()));
      }
    }
    return {out, committed};
  }

 private:
  struct Entry {
    std::optional<Clock::time_point> committed;
    std::optional<Clock::time_point> deleted;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
};

// Listens to Redis's "a key was deleted" events for the whole run.
void subscribe(const std::string& redis_url, Latencies& latencies, std::atomic<bool>& ready, std::atomic<bool>& done) {
  redisContext* context = redis_connect(redis_url);
  freeReplyObject(redisCommand(context, "CONFIG SET notify-keyspace-events Eg"));
  freeReplyObject(redisCommand(context, "SUBSCRIBE __keyevent@0__:del"));
  timeval timeout{0, 200'000};
  redisSetTimeout(context, timeout);
  ready = true;
  while (!done) {
    void* reply = nullptr;
    if (redisGetReply(context, &reply) != REDIS_OK) {
      if (context->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        context->err = 0;
        continue;
      }
      break;
    }
    auto* message = static_cast<redisReply*>(reply);
    const auto now = Clock::now();
    if (message->type == REDIS_REPLY_ARRAY && message->elements == 3 && message->element[2]->type == REDIS_REPLY_STRING) {
      std::string key(message->element[2]->str, message->element[2]->len);
      if (key.rfind("customer:", 0) == 0) latencies.deleted(std::stoi(key.substr(9)), now);
    }
    freeReplyObject(message);
  }
  redisFree(context);
}

// Caches the keys of rows [from, to) in Redis, pipelined: before the load, so that the load
// generator spends its time on the UPDATEs alone.
void cache_keys(const std::string& redis_url, int from, int to) {
  redisContext* redis = redis_connect(redis_url);
  for (int id = from; id < to; ++id) redisAppendCommand(redis, "SET customer:%d cached", id);
  for (int id = from; id < to; ++id) {
    void* reply = nullptr;
    if (redisGetReply(redis, &reply) != REDIS_OK) fail("cannot cache the keys in Redis");
    freeReplyObject(reply);
  }
  redisFree(redis);
}

// Single-row UPDATE transactions at `rate` per second for `seconds`, spread over threads, of rows
// first_id, first_id + 1, ... (their keys cached first). Returns the next row.
int generate_load(const Options& options, int rate, int seconds, int first_id, Latencies& latencies) {
  cache_keys(options.redis, first_id, first_id + rate * seconds);
  std::vector<std::thread> threads;
  const int per_thread = rate / kGeneratorThreads;
  for (int t = 0; t < kGeneratorThreads; ++t) {
    threads.emplace_back([&, t] {
      Database database(options.postgres);
      PGresult* prepared = PQprepare(database.raw(), "update", "UPDATE bench_customers SET email = $1 WHERE id = $2", 2, nullptr);
      PQclear(prepared);
      const auto interval = std::chrono::duration<double>(1.0 / per_thread);
      const auto start = Clock::now();
      const long total = static_cast<long>(per_thread) * seconds;
      for (long i = 0; i < total; ++i) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i)));
        const int id = first_id + static_cast<int>(i * kGeneratorThreads + t);
        const std::string email = "e" + std::to_string(i) + "@x";
        const std::string id_text = std::to_string(id);
        const char* values[] = {email.c_str(), id_text.c_str()};
        PGresult* result = PQexecPrepared(database.raw(), "update", 2, values, nullptr, nullptr, 0);
        const auto committed = Clock::now();
        if (PQresultStatus(result) != PGRES_COMMAND_OK) fail(std::string("UPDATE: ") + PQresultErrorMessage(result));
        PQclear(result);
        latencies.committed(id, committed);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return first_id + per_thread * kGeneratorThreads * seconds;
}

// ---------------------------------------------------------------------------------------------
// The plain consumer: what one writes by hand with libpq and hiredis.

std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}

void plain_consumer(const Options& options, std::atomic<bool>& stop) {
  Database database(options.postgres + "?replication=database");
  redisContext* redis = redis_connect(options.redis);
  PGresult* started = PQexec(database.raw(), ("START_REPLICATION SLOT " + std::string(kSlot) +
                                              " LOGICAL 0/0 (proto_version '1', publication_names 'bench_pub')").c_str());
  if (PQresultStatus(started) != PGRES_COPY_BOTH) fail(std::string("START_REPLICATION: ") + PQresultErrorMessage(started));
  PQclear(started);
  std::uint64_t flushed = 0;
  auto last_status = Clock::now();
  auto send_status = [&] {
    char frame[34] = {'r'};
    put_u64(frame + 1, flushed);
    put_u64(frame + 9, flushed);
    put_u64(frame + 17, flushed);
    put_u64(frame + 25, 0);
    frame[33] = 0;
    PQputCopyData(database.raw(), frame, sizeof frame);
    PQflush(database.raw());
    last_status = Clock::now();
  };
  while (!stop) {
    char* buffer = nullptr;
    int length = PQgetCopyData(database.raw(), &buffer, 1);
    if (length == 0) {
      pollfd ready{PQsocket(database.raw()), POLLIN, 0};
      ::poll(&ready, 1, 100);
      PQconsumeInput(database.raw());
      if (Clock::now() - last_status > std::chrono::seconds(1)) send_status();
      continue;
    }
    if (length < 0) break;
    if (buffer[0] == 'w' && length > 25) {
      const char* message = buffer + 25;
      if (message[0] == 'U' || message[0] == 'I') {
        // Relation OID (4), then 'N' or 'K'/'O' with an old tuple; the key is the first column.
        const char* tuple = message + 5;
        if (*tuple == 'K' || *tuple == 'O') {
          ++tuple;
          const int columns = (static_cast<unsigned char>(tuple[0]) << 8) | static_cast<unsigned char>(tuple[1]);
          tuple += 2;
          for (int c = 0; c < columns; ++c) {
            char kind = *tuple++;
            if (kind == 't') tuple += 4 + get_u32(tuple);
          }
        }
        tuple += 1 + 2;  // 'N', column count
        if (*tuple == 't') {
          std::string key = "customer:" + std::string(tuple + 5, get_u32(tuple + 1));
          freeReplyObject(redisCommand(redis, "DEL %s", key.c_str()));
        }
      } else if (message[0] == 'C') {
        flushed = get_u64(message + 1 + 1 + 8);  // flags, commit LSN, end LSN
      }
    } else if (buffer[0] == 'k' && length >= 18 && buffer[17] != 0) {
      send_status();
    }
    PQfreemem(buffer);
  }
  send_status();
  redisFree(redis);
}

// ---------------------------------------------------------------------------------------------

pid_t spawn_invalidator(const Options& options, const std::filesystem::path& directory) {
  const auto config = directory / "bench.toml";
  std::ofstream(config) << "[engine]\nstate_dir = \"" << (directory / "state").string() << "\"\n"
                        << (options.batch_scheduling.empty() ? "" : "batch_scheduling = " + options.batch_scheduling + "\n")
                        << "[sources.db]\ntype = \"postgres\"\ndsn = \"" << options.postgres << "\"\nslot = \"" << kSlot
                        << "\"\npublication = \"bench_pub\"\n"
                        << "[sinks.cache]\ntype = \"redis\"\nurl = \"" << options.redis << "\"\n"
                        << (options.max_delay_ms ? "[sinks.cache.batch]\nmax_delay = \"" +
                                                       std::to_string(*options.max_delay_ms) + "ms\"\n"
                                                 : std::string())
                        << "[[routes]]\nfrom = [\"db\"]\ntable = \"public.bench_customers\"\nkeys = [\"customer:{id}\"]\n"
                        << "to = [\"cache\"]\n";
  pid_t child = ::fork();
  if (child == 0) {
    if (std::freopen((directory / "invalidator.log").c_str(), "w", stderr) == nullptr) ::_exit(126);
    ::execl(options.invalidator.c_str(), options.invalidator.c_str(), "run", "-c", config.c_str(), nullptr);
    ::_exit(127);
  }
  return child;
}

// CPU seconds (user + system) a process has used so far.
double process_cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double thread_cpu_seconds(std::thread& thread) {
  clockid_t clock{};
  timespec now{};
  if (pthread_getcpuclockid(thread.native_handle(), &clock) != 0 || clock_gettime(clock, &now) != 0) return 0;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[at];
}

void report(const char* who, int rate, Latencies& latencies, int from, int to, double elapsed, double cpu) {
  auto [samples, committed] = latencies.samples(from, to);
  std::sort(samples.begin(), samples.end());
  std::printf("%-11s %6d/s  achieved %7.0f/s  timed %7zu of %7zu  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  "
              "max %7.2f ms  CPU %5.1f us/change\n",
              who, rate, static_cast<double>(committed) / elapsed, samples.size(), committed,
              percentile(samples, 0.5) / 1000, percentile(samples, 0.99) / 1000, percentile(samples, 0.999) / 1000,
              samples.empty() ? 0.0 : samples.back() / 1000,
              committed == 0 ? 0.0 : cpu * 1e6 / static_cast<double>(committed));
  std::fflush(stdout);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) fail(arg + " needs a value");
      return std::string(argv[++i]);
    };
    if (arg == "--invalidator") options.invalidator = next();
    else if (arg == "--postgres") options.postgres = next();
    else if (arg == "--redis") options.redis = next();
    else if (arg == "--seconds") options.seconds = std::stoi(next());
    else if (arg == "--max-delay-ms") options.max_delay_ms = std::stoi(next());
    else if (arg == "--batch-scheduling") options.batch_scheduling = next();
    else if (arg == "--rates") {
      options.rates.clear();
      std::string list = next();
      for (std::size_t start = 0; start < list.size();) {
        auto comma = list.find(',', start);
        options.rates.push_back(std::stoi(list.substr(start, comma - start)));
        start = comma == std::string::npos ? list.size() : comma + 1;
      }
    } else fail("unknown argument " + arg);
  }
  if (options.invalidator.empty() || options.postgres.empty() || options.redis.empty()) {
    fail("usage: postgres_bench --invalidator PATH --postgres URL --redis URL [--rates 1000,5000,10000] [--seconds N]");
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  Database database(options.postgres);
  int rows = 0;
  for (int rate : options.rates) rows += 2 * rate * (options.seconds + 1);
  database.run("DROP TABLE IF EXISTS bench_customers");
  database.run("CREATE TABLE bench_customers (id int PRIMARY KEY, email text)");
  database.run("INSERT INTO bench_customers SELECT g, 'a@x' FROM generate_series(0, " + std::to_string(rows - 1) + ") g");
  database.run("DROP PUBLICATION IF EXISTS bench_pub");
  database.run("CREATE PUBLICATION bench_pub FOR TABLE bench_customers");
  const auto directory = std::filesystem::temp_directory_path() / ("postgres_bench." + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);

  Latencies latencies(rows);
  int next_id = 0;
  std::atomic<bool> subscribed{false}, finished{false};
  std::thread subscriber(subscribe, options.redis, std::ref(latencies), std::ref(subscribed), std::ref(finished));
  while (!subscribed) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  for (int rate : options.rates) {
    for (const char* who : {"invalidator", "plain"}) {
      database.value("SELECT pg_drop_replication_slot('" + std::string(kSlot) + "') FROM pg_replication_slots WHERE slot_name = '" + kSlot + "'");
      database.value("SELECT lsn FROM pg_create_logical_replication_slot('" + std::string(kSlot) + "', 'pgoutput')");
      std::atomic<bool> stop_plain{false};
      pid_t child = -1;
      std::thread plain;
      if (std::strcmp(who, "invalidator") == 0) {
        child = spawn_invalidator(options, directory);
      } else {
        plain = std::thread(plain_consumer, std::cref(options), std::ref(stop_plain));
      }
      for (int i = 0; i < 500 && database.value("SELECT active FROM pg_replication_slots WHERE slot_name = '" +
                                                 std::string(kSlot) + "'") != "t";
           ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      next_id = generate_load(options, rate, 1, next_id, latencies);  // warm-up, not counted
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      const int first = next_id;
      auto consumer_cpu = [&] { return child > 0 ? process_cpu_seconds(child) : thread_cpu_seconds(plain); };
      const double cpu_before = consumer_cpu();
      const auto start = Clock::now();
      next_id = generate_load(options, rate, options.seconds, next_id, latencies);
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      std::this_thread::sleep_for(std::chrono::seconds(2));  // the last deletions
      report(who, rate, latencies, first, next_id, elapsed, consumer_cpu() - cpu_before);
      if (child > 0) {
        ::kill(child, SIGTERM);
        ::waitpid(child, nullptr, 0);
      } else {
        stop_plain = true;
        plain.join();
      }
    }
  }
  finished = true;
  subscriber.join();
  database.value("SELECT pg_drop_replication_slot('" + std::string(kSlot) + "')");
  std::filesystem::remove_all(directory);
  return 0;
}
