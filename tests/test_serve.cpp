// abc_cuda_serve's API against a real server on a loopback port (the library's WebServer, in
// this process so the tests can watch its generation count): the event stream of a steered
// generation, rendering, the model list, bad inputs (4xx JSON, the server stays up), the busy
// limit, a client that hangs up mid-stream, and 32 streams at once. The request parsing and the
// tool runner are tested alone too.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "abc/error.hpp"
#include "abc/serve.hpp"
#include "test_helpers.hpp"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The tiny model's runs folder: the ctest fixture's ($ABC_SERVE_TEST_RUNS, trained by
// tests/serve_model.sh), else one trained here (the suite run by hand).
const std::string& runs_dir() {
  static abc_test::ScratchDir scratch("serve_runs");
  static const std::string dir = [] {
    const char* env = std::getenv("ABC_SERVE_TEST_RUNS");
    if (env && *env) return std::string(env);
    const std::string cmd = std::string(ABC_TRAIN_BIN) + " --device cpu --hidden 16 --epochs 1 --data " +
                            abc_test::data_path("tunes.abc") + " --out " + scratch.file("tiny") + " >" +
                            scratch.file("train.log") + " 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("training the test model failed: " + cmd);
    return scratch.str();
  }();
  return dir;
}

struct Event {
  std::string name, data;
};

std::vector<Event> parse_events(const std::string& body) {
  std::vector<Event> events;
  std::size_t pos = 0;
  for (std::size_t end; (end = body.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
    Event e;
    std::istringstream block(body.substr(pos, end - pos));
    for (std::string line; std::getline(block, line);) {
      if (line.rfind("event: ", 0) == 0) e.name = line.substr(7);
      if (line.rfind("data: ", 0) == 0) e.data += line.substr(6);
    }
    events.push_back(e);
  }
  EXPECT_EQ(pos, body.size()) << "an unfinished event at the end of the stream";
  return events;
}

class ServeTest : public ::testing::Test {
 protected:
  void start(abc::ServeLimits limits = {}) {
    abc::ServeOptions o;
    o.runs_dir = runs_dir();
    o.port = 0;
    o.log_requests = false;
    o.limits = limits;
    o.device.device = "cpu";
    server_ = std::make_unique<abc::WebServer>(o);
    port_ = server_->bind();
    listener_ = std::thread([this] { server_->listen(); });
  }
  void TearDown() override {
    if (!server_) return;
    server_->stop();
    listener_.join();
    const std::string dir = server_->temp_dir();
    server_.reset();
    EXPECT_FALSE(std::filesystem::exists(dir)) << "the server's temporary folder outlived it";
  }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(30);
    return c;
  }
  httplib::Result generate(const httplib::Params& params) const {
    return client()->Get("/api/generate", params, httplib::Headers{});
  }
  // Waits up to `seconds` for no generation to be running.
  bool idle_within(double seconds) const {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (server_->active_generations() > 0) {
      if (Clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  // A client that asks for a long stream, reads its first events, keeps reading until
  // `hang_up` is set and then hangs up.
  void hang_up_mid_stream(const std::string& query, const std::atomic<bool>& hang_up) const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string request = "GET /api/generate?" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    std::string got;
    char buf[4096];
    while (got.find("event: char") == std::string::npos || got.size() < 2000) {
      const ssize_t n = read(fd, buf, sizeof buf);
      ASSERT_GT(n, 0) << "the stream ended before the client hung up: " << got.substr(0, 300);
      got.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_NE(got.find("200 OK"), std::string::npos) << got.substr(0, 300);
    while (!hang_up) ASSERT_GT(read(fd, buf, sizeof buf), 0) << "the stream ended before the client hung up";
    close(fd);
  }

  std::unique_ptr<abc::WebServer> server_;
  std::thread listener_;
  int port_ = 0;
};

// The checks every JSON error answer gets: the status, a JSON body with an "error" message.
void expect_json_error(const httplib::Result& r, int status, const std::string& says, const std::string& what) {
  ASSERT_TRUE(r) << what << ": no answer (" << httplib::to_string(r.error()) << ")";
  EXPECT_EQ(r->status, status) << what << ": " << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << what;
  const json body = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("error")) << what << ": " << r->body;
  EXPECT_NE(body["error"].get<std::string>().find(says), std::string::npos) << what << ": " << body["error"];
}

}  // namespace

TEST_F(ServeTest, SteeredGenerationStreamsCharsThenTunesAndEndsWithDone) {
  start();
  const httplib::Params params = {{"model", "tiny"}, {"meter", "6/8"},   {"key", "G"},          {"n", "2"},
                                  {"seed", "11"},    {"max_len", "300"}, {"temperature", "0.9"}};
  const auto r = generate(params);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const auto events = parse_events(r->body);
  ASSERT_GE(events.size(), 4u);
  // char+ tune char+ tune done, and the characters are exactly the tunes' text.
  std::string chars, tunes_text;
  std::vector<json> tunes;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (e.name == "char") {
      chars += json::parse(e.data).get<std::string>();
    } else if (e.name == "tune") {
      ASSERT_EQ(events[i - 1].name, "char") << "a tune event without its characters before it";
      tunes.push_back(json::parse(e.data));
      tunes_text += tunes.back()["abc"].get<std::string>() + "\n";  // a blank line between tunes
    } else {
      ASSERT_EQ(e.name, "done") << e.data;
      ASSERT_EQ(i + 1, events.size()) << "events after done";
    }
  }
  EXPECT_EQ(events.back().name, "done");
  ASSERT_EQ(tunes.size(), 2u);
  EXPECT_EQ(chars, tunes_text);
  for (std::size_t k = 0; k < tunes.size(); ++k) {
    const std::string abc = tunes[k]["abc"];
    EXPECT_EQ(abc.rfind("X:" + std::to_string(k + 1) + "\nM:6/8\nL:1/8\nK:G\n", 0), 0u) << abc;
    EXPECT_EQ(tunes[k]["index"], k + 1);
    EXPECT_EQ(tunes[k]["seed"], "11");
    EXPECT_EQ(tunes[k]["id"].get<std::string>().size(), 16u);
  }
  const json done = json::parse(events.back().data);
  EXPECT_EQ(done["tunes"], 2);
  EXPECT_EQ(done["seed"], "11");
  // The same seed, the same tunes (the sampler's reproducibility, through the server).
  const auto again = generate(params);
  ASSERT_TRUE(again);
  const auto events2 = parse_events(again->body);
  ASSERT_EQ(events2.size(), events.size());
  EXPECT_EQ(json::parse(events2[events2.size() - 2].data)["abc"], tunes[1]["abc"]);
  // The slot is given back when the server is done with the response, just after the client is.
  EXPECT_TRUE(idle_within(5));
}

TEST_F(ServeTest, TunesRenderAsAbcMidiScoreAndAudio) {
  start();
  const auto r = generate({{"model", "tiny"}, {"meter", "4/4"}, {"key", "D"}, {"seed", "3"}, {"max_len", "200"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::string id, abc;
  for (const Event& e : parse_events(r->body)) {
    if (e.name == "tune") {
      id = json::parse(e.data)["id"];
      abc = json::parse(e.data)["abc"];
    }
  }
  ASSERT_EQ(id.size(), 16u);
  const auto c = client();
  const auto text = c->Get("/api/tune/" + id + ".abc");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200);
  EXPECT_EQ(text->body, abc);
  if (!server_->missing_tools().empty()) {
    expect_json_error(c->Get("/api/tune/" + id + ".ogg"), 503, "tools/setup.sh", "audio without the tools");
    GTEST_SKIP() << "rendering tools missing (tools/setup.sh installs them): " << server_->missing_tools()[0];
  }
  const auto midi = c->Get("/api/tune/" + id + ".mid");
  ASSERT_TRUE(midi);
  EXPECT_EQ(midi->status, 200) << midi->body;
  EXPECT_EQ(midi->body.substr(0, 4), "MThd");
  const auto svg = c->Get("/api/tune/" + id + ".svg");
  ASSERT_TRUE(svg);
  EXPECT_EQ(svg->status, 200) << svg->body;
  EXPECT_EQ(svg->get_header_value("Content-Type"), "image/svg+xml");
  EXPECT_NE(svg->body.find("<svg"), std::string::npos);
  const auto ogg = c->Get("/api/tune/" + id + ".ogg");
  ASSERT_TRUE(ogg);
  EXPECT_EQ(ogg->status, 200) << ogg->body;
  EXPECT_EQ(ogg->body.substr(0, 4), "OggS");
  expect_json_error(c->Get("/api/tune/0123456789abcdef.svg"), 404, "no tune", "an unknown tune");
  expect_json_error(c->Get("/api/tune/" + id + ".sh"), 404, "not found", "an unknown kind");
}

TEST_F(ServeTest, ModelsAreListedByNameAndThePageIsSelfContained) {
  start();
  const auto c = client();
  const auto r = c->Get("/api/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json models = json::parse(r->body)["models"];
  ASSERT_EQ(models, json::array({"tiny"}));
  const auto info = c->Get("/api/models/tiny");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200) << info->body;
  EXPECT_EQ(json::parse(info->body)["hidden"], 16);
  EXPECT_TRUE(json::parse(info->body)["rhythms"].is_array());
  const auto page = c->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("/api/generate"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "the page refers to another site";
  EXPECT_EQ(page->body.find("https://"), std::string::npos) << "the page refers to another site";
  EXPECT_EQ(page->body.find("<script src"), std::string::npos);
}

TEST_F(ServeTest, BadInputsAre4xxJsonAndTheServerStaysUp) {
  start();
  const httplib::Params ok = {{"model", "tiny"}, {"meter", "6/8"}, {"key", "G"}, {"max_len", "100"}};
  auto with = [&](const std::string& name, const std::string& value) {
    httplib::Params p = ok;
    p.erase(name);
    p.emplace(name, value);
    return p;
  };
  struct Case {
    httplib::Params params;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {with("meter", "7/0"), 400, "meter '7/0'"},
      {with("key", "Xyz"), 400, "key 'Xyz'"},
      {with("unit", "1/3"), 400, "unit"},
      {with("temperature", "-1"), 400, "temperature"},
      {with("temperature", "0"), 400, "temperature"},
      {with("temperature", "5.5"), 400, "temperature"},
      {with("temperature", "nan"), 400, "temperature"},
      {with("n", "1000000"), 400, "n (tunes per request) must be an integer in 1..20"},
      {with("n", "0"), 400, "n (tunes per request)"},
      {with("n", "2x"), 400, "n (tunes per request)"},
      {with("max_len", "100000"), 400, "max_len"},
      {with("seed", "-5"), 400, "seed"},
      {with("seed", "1.5"), 400, "seed"},
      {with("model", "nosuch"), 404, "no model called 'nosuch'"},
      {with("model", "../x"), 400, "not a model name"},
      {with("model", "a/b"), 400, "not a model name"},
      {with("model", ".."), 400, "not a model name"},
      {with("model", "/etc"), 400, "not a model name"},
      {with("prime", std::string(1001, 'A')), 400, "prime (first bars) is 1001 characters; at most 1000"},
      {with("prime", "|ABCDEFGAB|"), 400, "do not fit the meter"},
      {with("rhythm", "tango"), 400, "rhythm 'tango'"},
      {with("title", "a\nK:C"), 400, "title must be one line of at most 200 characters"},
      {with("bogus", "1"), 400, "unknown parameter 'bogus'"},
      {with("meter", "\xff/8"), 400, "0xff is not allowed here"},       // not UTF-8: still a JSON answer
      {with("title", "Caf\xc3\xa9"), 400, "0xc3 is not allowed here"},  // the corpus is ASCII
  };
  for (const Case& c : cases) {
    std::string what;
    for (const auto& [k, v] : c.params) what += k + "=" + v.substr(0, 20) + " ";
    expect_json_error(generate(c.params), c.status, c.says, what);
  }
  const auto cl = client();
  expect_json_error(cl->Get("/api/models/..%2Fx"), 404, "", "a path-like model name in the path");
  expect_json_error(cl->Get("/api/models/nosuch"), 404, "no model called", "an unknown model's info");
  expect_json_error(cl->Get("/api/generate?model=tiny&prime=" + std::string(9000, 'A')), 414, "too long",
                    "a request line over httplib's limit");
  expect_json_error(cl->Post("/api/generate", std::string(100 * 1024, 'x'), "application/json"), 413, "too large",
                    "a body over the payload limit");
  expect_json_error(cl->Get("/no/such/page"), 404, "not found", "an unknown path");
  // Still up, and nothing left running.
  const auto models = cl->Get("/api/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(server_->active_generations(), 0);
  const auto good = generate(ok);
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200);
}

TEST_F(ServeTest, BusyBeyondTheLimitAndAClientThatHangsUpStopsItsWork) {
  abc::ServeLimits limits;
  limits.max_generations = 1;
  limits.max_tunes = 100000;  // a stream that would run for minutes unless stopped
  start(limits);
  std::atomic<bool> hang_up{false};
  std::thread long_stream([&] { hang_up_mid_stream("model=tiny&n=100000&seed=1", hang_up); });
  // While it runs, the next request is turned away with the documented busy error.
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (server_->active_generations() == 0 && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(server_->active_generations(), 1);
  const auto busy = generate({{"model", "tiny"}, {"max_len", "50"}});
  expect_json_error(busy, 429, "busy: 1 generations are running", "over the limit");
  if (busy) {
    EXPECT_EQ(json::parse(busy->body)["busy"], true);
    EXPECT_EQ(busy->get_header_value("Retry-After"), "2");
  }
  hang_up = true;
  long_stream.join();
  EXPECT_TRUE(idle_within(5)) << "the generation went on after its client hung up";
  const auto after = generate({{"model", "tiny"}, {"max_len", "50"}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

// Threads of this process (the server runs in it): /proc/self/task has one entry each.
int thread_count() {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) n += entry.is_directory() ? 1 : 0;
  return n;
}

TEST_F(ServeTest, ThirtyTwoStreamsAtOnceWithAKilledClientAmongThem) {
  abc::ServeLimits limits;
  limits.max_tunes = 100000;
  start(limits);
  ASSERT_TRUE(client()->Get("/api/models"));   // httplib starts its worker pool as it listens
  const int threads_before = thread_count();  // the server's pool, before any generation
  constexpr int kClients = 32;
  std::atomic<int> ok{0}, busy{0};
  std::vector<std::string> failures(kClients);
  std::atomic<bool> go{false};
  std::vector<std::thread> clients;
  std::thread killed([&] { hang_up_mid_stream("model=tiny&n=100000&seed=99", go); });
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      const auto r = generate({{"model", "tiny"},
                               {"meter", i % 2 ? "6/8" : "4/4"},
                               {"key", "D"},
                               {"n", "2"},
                               {"seed", std::to_string(i)},
                               {"max_len", "200"}});
      if (!r) {
        failures[i] = "no answer: " + httplib::to_string(r.error());
      } else if (r->status == 200) {
        const auto events = parse_events(r->body);
        int tunes = 0;
        for (const Event& e : events) tunes += e.name == "tune";
        if (events.empty() || events.back().name != "done" || tunes != 2) {
          failures[i] = "a stream without 2 tunes and done: " + r->body.substr(0, 200);
        } else {
          ++ok;
        }
      } else if (r->status == 429 && r->body.find("\"error\":\"busy: ") != std::string::npos) {
        ++busy;
      } else {
        failures[i] = std::to_string(r->status) + " " + r->body;
      }
    });
  }
  go = true;
  for (auto& t : clients) t.join();
  killed.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(failures[i], "") << "client " << i;
  EXPECT_EQ(ok + busy, kClients);
  EXPECT_GE(ok, 1);
  std::cout << "[          ] " << ok << " streams completed, " << busy << " answered busy\n";
  EXPECT_TRUE(idle_within(5)) << "the killed client's generation went on";
  const auto models = client()->Get("/api/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  // No thread outlives its request: the count settles back to the server's pool.
  int threads_after = thread_count();
  for (int i = 0; i < 100 && threads_after > threads_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    threads_after = thread_count();
  }
  EXPECT_LE(threads_after, threads_before) << "threads leaked by the 32 requests";
}

TEST(ServeRequest, ParsesDefaultsAndSteering) {
  const abc::ServeLimits limits;
  const auto r = abc::parse_generate_request({{"meter", "6/8"}, {"key", "G"}, {"prime", "|:GAB c2d|"}}, limits);
  EXPECT_EQ(r.options.n, 1);
  EXPECT_EQ(r.options.max_len, 2000);
  EXPECT_FLOAT_EQ(r.options.temperature, 0.7f);
  EXPECT_TRUE(r.random_seed);
  EXPECT_EQ(r.options.prime, "<start>X:1\nM:6/8\nL:1/8\nK:G\n|:GAB c2d|");
  const auto seeded = abc::parse_generate_request({{"seed", "18446744073709551615"}, {"n", "20"}}, limits);
  EXPECT_EQ(seeded.options.seed, 18446744073709551615ull);
  EXPECT_FALSE(seeded.random_seed);
  EXPECT_EQ(seeded.options.prime, "<start>");
  // Without steering, the first bars are a prime of the user's own.
  EXPECT_EQ(abc::parse_generate_request({{"prime", "X:1\nK:D\n"}}, limits).options.prime, "<start>X:1\nK:D\n");
  // Empty values are "not given" (an HTML form sends them).
  EXPECT_EQ(abc::parse_generate_request({{"meter", ""}, {"seed", ""}}, limits).options.prime, "<start>");
  try {
    abc::parse_generate_request({{"n", "3"}, {"n", "4"}}, limits);
    FAIL() << "a parameter given twice was taken";
  } catch (const abc::HttpError& e) {
    EXPECT_EQ(e.status(), 400);
  }
}

TEST(ServeRequest, ModelNamesAreFolderNamesOnly) {
  for (const char* good : {"default", "20261125-051200-lstm-h100", "sweep-gru", "a.b"}) {
    EXPECT_TRUE(abc::valid_model_name(good)) << good;
  }
  for (const char* bad : {"", ".", "..", "../x", "a/b", "/etc", "a\\b", ".hidden", "x..y", "a\nb"}) {
    EXPECT_FALSE(abc::valid_model_name(bad)) << bad;
  }
  EXPECT_FALSE(abc::valid_model_name(std::string(201, 'a')));
}

TEST(ServeRequest, EventsAreOneDataLineOfJson) {
  EXPECT_EQ(abc::sse_event("char", json("a\nb").dump()), "event: char\ndata: \"a\\nb\"\n\n");
}

TEST(ServeTools, ToolsRunWithoutAShellAndTimeOut) {
  abc_test::ScratchDir dir("serve_tools");
  const std::string log = dir.file("echo.log");
  // An argument is one argument: nothing in it is run.
  const auto echo = abc::run_tool({"/bin/echo", "$(touch " + dir.file("pwned") + ")", "`id`;"}, log, 10);
  EXPECT_EQ(echo.exit_code, 0);
  EXPECT_FALSE(echo.timed_out);
  EXPECT_EQ(abc_test::read_text(log), "$(touch " + dir.file("pwned") + ") `id`;\n");
  EXPECT_FALSE(std::filesystem::exists(dir.file("pwned")));
  EXPECT_EQ(abc::run_tool({"/bin/false"}, log, 10).exit_code, 1);
  const auto start = Clock::now();
  const auto slow = abc::run_tool({"/bin/sleep", "30"}, log, 0.3);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 5.0);
  EXPECT_THROW(abc::run_tool({"sleep", "1"}, log, 1), abc::Error);  // absolute paths only
}
