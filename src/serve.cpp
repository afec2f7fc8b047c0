#include "abc/serve.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "abc/abc_tune.hpp"
#include "abc/backend.hpp"
#include "abc/cells.hpp"
#include "abc/paths.hpp"

extern char** environ;

namespace abc {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kParamNames[] = {"model", "meter", "key",  "unit",        "rhythm", "title",
                                       "prime", "n",     "seed", "temperature", "max_len"};
constexpr const char* kSoundFont = "/usr/share/sounds/sf2/FluidR3_GM.sf2";

// JSON text; a byte that is not UTF-8 (a request may send any) becomes U+FFFD instead of throwing.
std::string to_json(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// A request's text as a message quotes it: at most 40 characters, control characters and
// non-ASCII bytes as '?'.
std::string shown_value(const std::string& value) {
  std::string s = value.substr(0, 40);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return "'" + s + (value.size() > 40 ? "...'" : "'");
}

long long parse_integer(const std::string& name, const std::string& value, long long lo, long long hi) {
  long long v = 0;
  const char* end = value.data() + value.size();
  const auto r = std::from_chars(value.data(), end, v);
  if (r.ec != std::errc() || r.ptr != end || v < lo || v > hi) {
    throw HttpError(400, name + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + " (got " +
                             shown_value(value) + ")");
  }
  return v;
}

bool has_control_character(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// The sampler's steering messages name the command line's flags; a web request names parameters.
std::string web_message(std::string message) {
  const std::pair<const char*, const char*> names[] = {
      {"--bars", "prime"},  {"--meter", "meter"},   {"--key", "key"},     {"--unit", "unit"},
      {"--title", "title"}, {"--rhythm", "rhythm"}, {"--prime", "prime"}, {"--no-grammar", "another prime"}};
  for (const auto& [flag, name] : names) {
    for (std::size_t at = message.find(flag); at != std::string::npos; at = message.find(flag, at)) {
      message.replace(at, std::strlen(flag), name);
    }
  }
  return message;
}

}  // namespace

// ---- Requests -------------------------------------------------------------------------------

bool valid_model_name(const std::string& name) {
  if (name.empty() || name.size() > 200 || name.front() == '.') return false;
  if (name.find("..") != std::string::npos) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

GenerateRequest parse_generate_request(const std::multimap<std::string, std::string>& params,
                                       const ServeLimits& limits) {
  std::map<std::string, std::string> v;
  for (const auto& [name, value] : params) {
    if (std::find_if(std::begin(kParamNames), std::end(kParamNames), [&](const char* k) { return name == k; }) ==
        std::end(kParamNames)) {
      std::string known;
      for (const char* k : kParamNames) known += (known.empty() ? "" : ", ") + std::string(k);
      throw HttpError(400, "unknown parameter " + shown_value(name) + " (known: " + known + ")");
    }
    if (!v.emplace(name, value).second) throw HttpError(400, "parameter " + name + " is given twice");
  }
  auto get = [&](const char* name) {
    const auto it = v.find(name);
    return it == v.end() ? std::string() : it->second;
  };
  GenerateRequest r;
  r.model = get("model");
  if (!r.model.empty() && !valid_model_name(r.model)) {
    throw HttpError(400, "model " + shown_value(r.model) + " is not a model name: give one of GET /api/models");
  }
  SampleOptions& o = r.options;
  o.n = 1;
  if (!get("n").empty()) o.n = static_cast<int>(parse_integer("n (tunes per request)", get("n"), 1, limits.max_tunes));
  o.max_len = std::min(2000, limits.max_len);
  if (!get("max_len").empty()) {
    o.max_len = static_cast<int>(parse_integer("max_len (characters per tune)", get("max_len"), 1, limits.max_len));
  }
  if (!get("temperature").empty()) {
    const std::string t = get("temperature");
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || errno != 0 || !std::isfinite(value) || value <= 0 || value > 5) {
      throw HttpError(400, "temperature must be a number above 0 and at most 5 (got " + shown_value(t) + ")");
    }
    o.temperature = static_cast<float>(value);
  }
  const std::string seed = get("seed");
  if (seed.empty() || seed == "random") {
    r.random_seed = true;
    o.seed = std::random_device{}();
  } else {
    std::uint64_t s = 0;
    const auto res = std::from_chars(seed.data(), seed.data() + seed.size(), s);
    if (res.ec != std::errc() || res.ptr != seed.data() + seed.size()) {
      throw HttpError(400,
                      "seed must be an integer in 0..18446744073709551615 or 'random' (got " + shown_value(seed) + ")");
    }
    o.seed = s;
  }
  Steering& s = r.steering;
  s.meter = get("meter");
  s.key = get("key");
  s.unit = get("unit");
  s.rhythm = get("rhythm");
  s.title = get("title");
  const std::string prime = get("prime");
  if (static_cast<int>(prime.size()) > limits.max_prime) {
    throw HttpError(400, "prime (first bars) is " + std::to_string(prime.size()) + " characters; at most " +
                             std::to_string(limits.max_prime));
  }
  for (const auto& [name, value, longest] :
       {std::tuple<const char*, const std::string&, std::size_t>{"meter", s.meter, 32},
        {"key", s.key, 32},
        {"unit", s.unit, 32},
        {"rhythm", s.rhythm, 32},
        {"title", s.title, static_cast<std::size_t>(limits.max_title)}}) {
    if (has_control_character(value) || value.size() > longest) {
      throw HttpError(400, std::string(name) + " must be one line of at most " + std::to_string(longest) +
                               " characters (got " + shown_value(value) + ")");
    }
  }
  try {
    if (s.any()) {
      s.bars = prime;  // the first bars continue the steered header
      o.prime = steering_prime(s);
    } else if (!prime.empty()) {
      r.raw_prime = prime;  // a header and bars of the user's own
      o.prime = prime.rfind(Vocab::kStartTag, 0) == 0 ? prime : Vocab::kStartTag + prime;
    }
  } catch (const HttpError&) {
    throw;
  } catch (const Error& e) {
    throw HttpError(400, web_message(e.what()));
  }
  return r;
}

std::vector<std::string> known_rhythms(const Vocab& vocab) {
  std::vector<std::string> out;
  auto known = [&](const std::string& text) {
    return std::all_of(text.begin(), text.end(), [&](char c) { return vocab.id_of(c) >= 0; });
  };
  if (!known("R:\n")) return out;
  for (const char* r : kRhythmNames) {
    if (known(r)) out.emplace_back(r);
  }
  return out;
}

std::string sse_event(const std::string& event, const std::string& data) {
  return "event: " + event + "\ndata: " + data + "\n\n";
}

// ---- Models ---------------------------------------------------------------------------------

struct ModelRegistry::Impl {
  std::string checkpoint, runs_dir;
  struct Loaded {
    fs::file_time_type mtime;
    std::shared_ptr<const Checkpoint> ckpt;
  };
  mutable std::mutex mu;
  mutable std::map<std::string, Loaded> cache;  // by checkpoint path

  // The checkpoint file of a run folder: best.ckpt, else last.ckpt; empty when neither.
  static std::string run_checkpoint(const fs::path& dir) {
    std::error_code ec;
    for (const char* name : {"best.ckpt", "last.ckpt"}) {
      if (fs::is_regular_file(dir / name, ec)) return (dir / name).string();
    }
    return {};
  }

  // name -> checkpoint file, scanned now (training may add runs while the server is up).
  std::map<std::string, std::string> scan() const {
    std::map<std::string, std::string> out;
    std::error_code ec;
    if (!checkpoint.empty()) {
      const fs::path p = fs::weakly_canonical(checkpoint, ec);
      if (fs::is_directory(p, ec)) {
        const std::string file = run_checkpoint(p);
        if (!file.empty()) out[p.filename().string()] = file;
      } else if (fs::is_regular_file(p, ec)) {
        out[p.parent_path().filename().string()] = p.string();
      }
      return out;
    }
    std::set<fs::path> real_folders;
    std::vector<fs::directory_entry> links;
    for (fs::directory_iterator it(runs_dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!valid_model_name(name) || !it->is_directory(ec)) continue;
      if (it->is_symlink(ec)) {
        links.push_back(*it);
        continue;
      }
      const std::string file = run_checkpoint(it->path());
      if (!file.empty()) {
        out[name] = file;
        real_folders.insert(fs::weakly_canonical(it->path(), ec));
      }
    }
    for (const auto& link : links) {
      if (real_folders.count(fs::weakly_canonical(link.path(), ec))) continue;  // runs/latest: listed already
      const std::string file = run_checkpoint(link.path());
      if (!file.empty()) out[link.path().filename().string()] = file;
    }
    return out;
  }
};

ModelRegistry::ModelRegistry(std::string checkpoint, std::string runs_dir) : impl_(std::make_unique<Impl>()) {
  impl_->checkpoint = std::move(checkpoint);
  impl_->runs_dir = runs_dir.empty() ? default_runs_dir() : std::move(runs_dir);
  if (!impl_->checkpoint.empty() && impl_->scan().empty()) {
    throw file_error(impl_->checkpoint, "not a checkpoint file nor a run folder holding best.ckpt or last.ckpt");
  }
}

ModelRegistry::~ModelRegistry() = default;

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : impl_->scan()) out.push_back(name);
  return out;
}

std::shared_ptr<const Checkpoint> ModelRegistry::get(const std::string& name) const {
  if (!valid_model_name(name)) {
    throw HttpError(400, "model " + shown_value(name) + " is not a model name: give one of GET /api/models");
  }
  const auto models = impl_->scan();
  const auto it = models.find(name);
  if (it == models.end()) throw HttpError(404, "no model called " + shown_value(name) + ": GET /api/models lists them");
  std::error_code ec;
  const auto mtime = fs::last_write_time(it->second, ec);
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& slot = impl_->cache[it->second];
  if (!slot.ckpt || slot.mtime != mtime) {
    slot.ckpt = std::make_shared<const Checkpoint>(load_checkpoint(it->second));
    slot.mtime = mtime;
  }
  return slot.ckpt;
}

// ---- Tools ------------------------------------------------------------------------------------

ToolRun run_tool(const std::vector<std::string>& argv, const std::string& log_path, double timeout_s) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') throw Error("internal: run_tool needs an absolute path");
  posix_spawn_file_actions_t files;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&files);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  // Its own process group, so a timeout kills whatever it started too; the server ignores
  // SIGPIPE, the tool gets the default back.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &files, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error(argv[0] + ": cannot start: " + std::strerror(rc));
  ToolRun run;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw Error(argv[0] + ": waitpid failed: " + std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      run.timed_out = true;
      return run;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

namespace {

// A program's absolute path from $PATH; empty when it is not installed.
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string file = dir + "/" + name;
    if (access(file.c_str(), X_OK) == 0) return file;
  }
  return {};
}

// ---- Tunes ------------------------------------------------------------------------------------

// A generated tune and its renderings, files <dir>/<id>.{abc,mid,svg,ogg} (+ .log each).
struct Tune {
  std::string id;  // 16 hex digits, server-chosen
  std::string abc;
  std::mutex render_mu;  // one rendering of a tune at a time
};

class TuneStore {
 public:
  TuneStore(std::string dir, int capacity) : dir_(std::move(dir)), capacity_(capacity) {}

  std::shared_ptr<Tune> add(const std::string& abc) {
    auto tune = std::make_shared<Tune>();
    tune->abc = abc;
    std::lock_guard<std::mutex> lock(mu_);
    do {
      char id[17];
      std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(rng_()));
      tune->id = id;
    } while (tunes_.count(tune->id));
    std::ofstream(path(tune->id, "abc"), std::ios::binary) << abc;
    tunes_[tune->id] = tune;
    order_.push_back(tune->id);
    while (static_cast<int>(order_.size()) > capacity_) {
      const std::string old = order_.front();
      order_.pop_front();
      tunes_.erase(old);
      std::error_code ec;
      for (const char* ext : {"abc", "mid", "svg", "ogg", "abc2midi.log", "abcm2ps.log", "fluidsynth.log"}) {
        fs::remove(path(old, ext), ec);
      }
    }
    return tune;
  }

  std::shared_ptr<Tune> find(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = tunes_.find(id);
    return it == tunes_.end() ? nullptr : it->second;
  }

  std::string path(const std::string& id, const std::string& ext) const { return dir_ + "/" + id + "." + ext; }

 private:
  std::string dir_;
  int capacity_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::map<std::string, std::shared_ptr<Tune>> tunes_;
  std::deque<std::string> order_;
};

bool non_empty_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && fs::file_size(path, ec) > 0;
}

// The first line of a tool's log that says what went wrong, for the error message.
std::string log_excerpt(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line, first;
  while (std::getline(in, line)) {
    if (first.empty() && !line.empty()) first = line;
    if (line.find("rror") != std::string::npos) return line.substr(0, 200);
  }
  return first.substr(0, 200);
}

// A tune's text as stored and sent: as the sampler wrote it, with one trailing newline.
std::string tune_text(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text + "\n";
}

// Collects what the sampler writes and hands it on at every flush (the sampler flushes after
// each character): one "char" event per flush, and the text of the tune being written.
class EventBuf : public std::streambuf {
 public:
  explicit EventBuf(httplib::DataSink& sink) : sink_(sink) {}
  bool ok() const { return ok_; }
  // Sends an event unless the client is gone; false once it is.
  bool send(const std::string& event, const std::string& data) {
    if (ok_) {
      const std::string bytes = sse_event(event, data);
      ok_ = sink_.write(bytes.data(), bytes.size());
    }
    return ok_;
  }
  std::string take_tune() { return std::exchange(tune_, std::string()); }

 protected:
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) put(static_cast<char>(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) put(s[i]);
    return n;
  }
  int sync() override {
    if (!pending_.empty()) send("char", to_json(std::exchange(pending_, std::string())));
    return 0;
  }

 private:
  void put(char c) {
    pending_ += c;
    tune_ += c;
  }
  httplib::DataSink& sink_;
  bool ok_ = true;
  std::string pending_, tune_;
};

void set_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(to_json(body), "application/json");
}

void set_error(httplib::Response& res, int status, const std::string& message, json extra = json::object()) {
  extra["error"] = message;
  set_json(res, status, extra);
}

}  // namespace

// ---- The server -------------------------------------------------------------------------------

struct WebServer::Impl {
  ServeOptions options;
  ResolvedDevice device;
  ModelRegistry models;
  std::string temp_dir;
  std::unique_ptr<TuneStore> tunes;
  httplib::Server http;
  std::atomic<int> active{0};
  std::atomic<bool> stopping{false};
  std::string abc2midi, abcm2ps, fluidsynth;
  bool soundfont = false;

  explicit Impl(ServeOptions o) : options(std::move(o)), models(options.checkpoint, options.runs_dir) {}

  void routes();
  void generate(const httplib::Request& req, httplib::Response& res);
  void tune_file(const httplib::Request& req, httplib::Response& res);
  // Renders a tune's .mid, .svg or .ogg once; throws HttpError saying why it cannot.
  void render(Tune& tune, const std::string& ext);
};

void WebServer::Impl::routes() {
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    // Everything the page needs is in it or on this server.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "img-src 'self' data:; media-src 'self'; connect-src 'self'");
    res.set_content(kServePage, "text/html; charset=utf-8");
  });
  http.Get("/api/models", [this](const httplib::Request&, httplib::Response& res) {
    set_json(res, 200, {{"models", models.names()}});
  });
  http.Get(R"(/api/models/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const auto ckpt = models.get(name);
    set_json(res, 200,
             {{"name", name},
              {"cell", cell_kind_name(ckpt->model.cell)},
              {"hidden", ckpt->model.hidden},
              {"layers", ckpt->model.layers},
              {"rhythms", known_rhythms(ckpt->vocab)}});
  });
  http.Get("/api/generate", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res); });
  http.Get(R"(/api/tune/([0-9a-f]{16})\.(abc|mid|svg|ogg))",
           [this](const httplib::Request& req, httplib::Response& res) { tune_file(req, res); });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const HttpError& e) {
      set_error(res, e.status(), e.what());
    } catch (const std::exception& e) {
      set_error(res, 500, e.what());
    } catch (...) {
      set_error(res, 500, "internal error");
    }
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own JSON answer
    set_error(res, res.status,
              res.status == 404   ? "not found: " + req.path
              : res.status == 413 ? "request too large"
              : res.status == 414 ? "request URI too long"
                                  : "HTTP error " + std::to_string(res.status));
  });
  http.set_post_routing_handler(
      [](const httplib::Request&, httplib::Response& res) { res.set_header("X-Content-Type-Options", "nosniff"); });
  if (options.log_requests) {
    http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      // The path only: a query holds the user's text.
      std::cerr << "abc_cuda_serve: " << req.method << " " << req.path << " " << res.status << "\n";
    });
  }
}

void WebServer::Impl::generate(const httplib::Request& req, httplib::Response& res) {
  GenerateRequest g = parse_generate_request(req.params, options.limits);
  if (g.model.empty()) {
    const auto names = models.names();
    if (names.size() != 1) throw HttpError(400, "model is required: give one of GET /api/models");
    g.model = names.front();
  }
  const auto ckpt = models.get(g.model);
  try {
    check_prime(ckpt->vocab, g.options);
  } catch (const Error& e) {
    throw HttpError(400, web_message(e.what()));
  }
  // A slot, or busy: the slot is given back when the response is done with (the releaser
  // runs whether or not the stream ever started).
  const int limit = options.limits.max_generations;
  if (active.fetch_add(1) >= limit) {
    active.fetch_sub(1);
    // 429: the limit is on this client's kind of request, and the issue's limits are 4xx.
    set_error(res, 429,
              "busy: " + std::to_string(limit) + " generations are running (the limit); try again in a moment",
              {{"busy", true}, {"limit", limit}});
    res.set_header("Retry-After", "2");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, g, ckpt](std::size_t, httplib::DataSink& sink) {
        EventBuf buf(sink);
        std::ostream out(&buf);
        SampleOptions o = g.options;
        const std::string seed = std::to_string(o.seed);
        int index = 0;
        o.stop = [&] { return !buf.ok() || stopping.load(); };
        o.tune_done = [&](bool ended) {
          const auto tune = tunes->add(tune_text(buf.take_tune()));
          buf.send(
              "tune",
              to_json({{"id", tune->id}, {"abc", tune->abc}, {"index", ++index}, {"ended", ended}, {"seed", seed}}));
        };
        try {
          // A backend of its own per stream (a backend carries its hidden state); the
          // checkpoint's parameters are shared.
          const auto backend = make_backend(device.backend, ckpt->model, AdamConfig{}, 1, 1, device.options);
          backend->upload_params(ckpt->params.data());
          const SampleStats stats = sample_tunes(sampling_model(*backend, o), ckpt->vocab, o, out);
          if (!stopping.load()) {
            buf.send("done", to_json({{"tunes", stats.tunes},
                                      {"ended", stats.ended},
                                      {"chars", stats.tokens},
                                      {"forced", stats.forced},
                                      {"seconds", stats.seconds},
                                      {"seed", seed}}));
          }
        } catch (const std::exception& e) {
          buf.send("error", to_json({{"error", web_message(e.what())}}));
        }
        if (!buf.ok()) return false;  // the client went away: close the connection
        sink.done();
        return true;
      },
      [this](bool) { active.fetch_sub(1); });
}

void WebServer::Impl::render(Tune& tune, const std::string& ext) {
  const std::string abc = tunes->path(tune.id, "abc");
  const double timeout = options.limits.tool_timeout_s;
  auto need = [](const std::string& tool, const std::string& what) {
    if (tool.empty()) throw HttpError(503, what + " is not installed here: run tools/setup.sh");
  };
  auto check = [&](const ToolRun& run, const std::string& tool, const std::string& out, const std::string& log) {
    if (run.timed_out) throw HttpError(504, tool + " took longer than " + std::to_string(int(timeout)) + " s");
    if (!non_empty_file(out)) throw HttpError(422, tool + " could not render this tune: " + log_excerpt(log));
  };
  const std::string mid = tunes->path(tune.id, "mid");
  if ((ext == "mid" || ext == "ogg") && !non_empty_file(mid)) {
    need(abc2midi, "abc2midi (package abcmidi)");
    const std::string log = tunes->path(tune.id, "abc2midi.log");
    check(run_tool({abc2midi, abc, "-o", mid}, log, timeout), "abc2midi", mid, log);
  }
  if (ext == "svg") {
    const std::string svg = tunes->path(tune.id, "svg");
    if (non_empty_file(svg)) return;
    need(abcm2ps, "abcm2ps");
    const std::string log = tunes->path(tune.id, "abcm2ps.log");
    const ToolRun run = run_tool({abcm2ps, "-q", "-g", abc, "-O", svg}, log, timeout);
    // A tune of more than one page comes as <id>001.svg, <id>002.svg, ...: the first page
    // is the score shown (a 2000-character tune fits on one page).
    std::error_code ec;
    if (!non_empty_file(svg) && non_empty_file(tunes->path(tune.id + "001", "svg"))) {
      fs::rename(tunes->path(tune.id + "001", "svg"), svg, ec);
    }
    check(run, "abcm2ps", svg, log);
  }
  if (ext == "ogg") {
    const std::string ogg = tunes->path(tune.id, "ogg");
    if (non_empty_file(ogg)) return;
    need(fluidsynth, "fluidsynth");
    if (!soundfont) throw HttpError(503, std::string(kSoundFont) + " is missing: run tools/setup.sh");
    const std::string log = tunes->path(tune.id, "fluidsynth.log");
    check(run_tool({fluidsynth, "-ni", "-q", "-T", "oga", "-F", ogg, "-r", "22050", kSoundFont, mid}, log, timeout),
          "fluidsynth", ogg, log);
  }
}

void WebServer::Impl::tune_file(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1], ext = req.matches[2];
  const auto tune = tunes->find(id);
  if (!tune)
    throw HttpError(404, "no tune " + id + " (tunes are kept while the server runs, the newest " +
                             std::to_string(options.limits.max_stored_tunes) + ")");
  if (ext != "abc") {
    std::lock_guard<std::mutex> lock(tune->render_mu);
    render(*tune, ext);
  }
  std::ifstream in(tunes->path(id, ext), std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const char* type = ext == "abc"   ? "text/vnd.abc; charset=utf-8"
                     : ext == "mid" ? "audio/midi"
                     : ext == "svg" ? "image/svg+xml"
                                    : "audio/ogg";
  if (ext == "abc" || ext == "mid") {
    res.set_header("Content-Disposition", "attachment; filename=\"tune-" + id + "." + ext + "\"");
  }
  if (ext == "svg") res.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  res.set_header("Cache-Control", "max-age=3600");
  res.set_content(bytes.str(), type);
}

WebServer::WebServer(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& s = *impl_;
  // A client that hangs up must not kill the server: a failed write is an error, not a signal.
  signal(SIGPIPE, SIG_IGN);
  DeviceOptions device = s.options.device;
  if (device.threads == 0) device.threads = 1;  // generations run side by side, one core each
  s.device = resolve_device(device);
  std::string dir = (fs::temp_directory_path() / "abc_cuda_serve.XXXXXX").string();
  if (!mkdtemp(dir.data())) throw file_error(dir, std::string("cannot make a temporary folder: ") + strerror(errno));
  s.temp_dir = dir;
  s.tunes = std::make_unique<TuneStore>(dir, s.options.limits.max_stored_tunes);
  s.abc2midi = find_program("abc2midi");
  s.abcm2ps = find_program("abcm2ps");
  s.fluidsynth = find_program("fluidsynth");
  s.soundfont = access(kSoundFont, R_OK) == 0;
  const int threads = s.options.http_threads > 0 ? s.options.http_threads : 2 * s.options.limits.max_generations + 8;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  s.http.set_payload_max_length(s.options.limits.max_payload);
  s.http.set_keep_alive_timeout(2);  // an idle keep-alive connection holds a worker thread
  s.routes();
}

WebServer::~WebServer() {
  stop();
  std::error_code ec;
  fs::remove_all(impl_->temp_dir, ec);
}

int WebServer::bind() {
  Impl& s = *impl_;
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
    if (port <= 0) throw Error("cannot listen on " + s.options.host + " (any port)");
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    throw Error("cannot listen on " + s.options.host + ":" + std::to_string(port) +
                " (in use? another --port, or --port 0 for any free one)");
  }
  return port;
}

void WebServer::listen() { impl_->http.listen_after_bind(); }

void WebServer::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

int WebServer::active_generations() const { return impl_->active.load(); }
std::string WebServer::temp_dir() const { return impl_->temp_dir; }
std::string WebServer::device_summary() const { return impl_->device.summary(); }

std::vector<std::string> WebServer::missing_tools() const {
  std::vector<std::string> out;
  if (impl_->abc2midi.empty()) out.push_back("abc2midi");
  if (impl_->abcm2ps.empty()) out.push_back("abcm2ps");
  if (impl_->fluidsynth.empty()) out.push_back("fluidsynth");
  if (!impl_->soundfont) out.push_back(kSoundFont);
  return out;
}

}  // namespace abc
