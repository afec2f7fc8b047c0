// abc_cuda_serve: a local web app to compose with a trained model. One HTML page (web/index.html,
// compiled in), a JSON list of models, a server-sent-event stream of generated tunes (the
// sampler's grammar-constrained sampling and steering), and each tune rendered on demand as
// sheet music (abcm2ps), MIDI (abc2midi) and audio (fluidsynth), as tools/render.sh does.
//
// Safety: the server binds 127.0.0.1 unless told otherwise; a model is chosen by its run
// folder's name from the list, never by path; every request value is range-checked (HttpError,
// a 4xx JSON answer); the rendering tools run with argument arrays (no shell) under a time
// limit, on files the server names itself in its own temporary folder.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "abc/checkpoint.hpp"
#include "abc/device_options.hpp"
#include "abc/error.hpp"
#include "abc/sampler.hpp"

namespace abc {

// An error a request caused (or met), with the HTTP status it is answered with as
// {"error": what()}.
class HttpError : public Error {
 public:
  HttpError(int status, const std::string& what) : Error(what, kExitUsage), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// What one request may ask for at most (README: "Web app").
struct ServeLimits {
  int max_tunes = 20;                   // n per request
  int max_len = 4000;                   // characters per tune (max_len parameter; default 2000)
  int max_prime = 1000;                 // characters of the first bars (prime)
  int max_title = 200;                  // characters of the title
  std::size_t max_payload = 64 * 1024;  // request body bytes (no endpoint takes a body)
  int max_generations = 8;              // generation streams at once; more get 503 "busy: ..."
  int max_stored_tunes = 1000;          // tunes kept for rendering; the oldest are forgotten
  double tool_timeout_s = 30;           // each abc2midi / abcm2ps / fluidsynth run
};

// A validated generation request (GET /api/generate's query parameters).
struct GenerateRequest {
  std::string model;
  Steering steering;
  std::string raw_prime;  // the prime without steering (a header and bars); empty: none
  SampleOptions options;  // n, temperature, seed, max_len, prime
  bool random_seed = false;
};

// Reads the query parameters (name -> value; an empty value means "not given"). Throws
// HttpError 400 naming the parameter for an unknown name, a bad number or a value out of
// range, and for bad steering (the sampler's checks: meter 7/0, key Xyz, ...). The model
// name is only checked for shape here (valid_model_name); `options.prime` is built.
GenerateRequest parse_generate_request(const std::multimap<std::string, std::string>& params,
                                       const ServeLimits& limits);

// A run folder's name as a request may give it: not empty, at most 200 characters, no '/',
// '\\', "..", leading '.' or control characters.
bool valid_model_name(const std::string& name);

// The models a server offers: every folder under `runs_dir` holding best.ckpt or last.ckpt
// (a symbolic link to a folder listed under its own name, such as runs/latest, is left out),
// or only `checkpoint` (a run folder or a checkpoint file) when that is given. Each is loaded
// once and shared by every request; a checkpoint rewritten since (training goes on) is
// loaded again.
class ModelRegistry {
 public:
  ModelRegistry(std::string checkpoint, std::string runs_dir);
  ~ModelRegistry();
  std::vector<std::string> names() const;  // sorted
  // The model called `name`: HttpError 400 for a name that is not a folder name, 404 for one
  // not in the list; abc::Error for a checkpoint that does not load.
  std::shared_ptr<const Checkpoint> get(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The rhythms (R: values of kRhythmNames) whose characters the model's vocabulary holds, so
// a prime with R:<rhythm> encodes; empty when it lacks 'R' or ':'.
std::vector<std::string> known_rhythms(const Vocab& vocab);

// One server-sent event: "event: <event>\ndata: <data>\n\n" (data has no newline: JSON).
std::string sse_event(const std::string& event, const std::string& data);

// Runs a program (argv[0] an absolute path) with no shell, stdin from /dev/null, stdout and
// stderr into log_path, in its own process group, killed (the group) after timeout_s.
struct ToolRun {
  int exit_code = -1;  // the exit status, or -1 when it did not exit normally
  bool timed_out = false;
};
ToolRun run_tool(const std::vector<std::string>& argv, const std::string& log_path, double timeout_s);

struct ServeOptions {
  std::string checkpoint;  // one run folder or checkpoint file; empty: every run in runs_dir
  std::string runs_dir;    // empty: default_runs_dir()
  std::string host = "127.0.0.1";
  int port = 8080;       // 0: any free port (bind() says which)
  int http_threads = 0;  // 0: 2 * max_generations + 8, so a full house still answers
  ServeLimits limits;
  DeviceOptions device;      // where the models run (threads: per generation, default 1)
  bool log_requests = true;  // one line per request on stderr (method, path, status)
};

class WebServer {
 public:
  // Resolves the device and makes the temporary folder; throws abc::Error.
  explicit WebServer(ServeOptions options);
  ~WebServer();  // stops, waits for the workers, removes the temporary folder
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  int bind();     // binds host:port; returns the port; throws abc::Error when it cannot
  void listen();  // serves until stop(); call after bind()
  void stop();    // thread-safe; running generations end at their next step
  int active_generations() const;
  std::string temp_dir() const;
  std::string device_summary() const;
  // The rendering tools that were not found (abc2midi, abcm2ps, fluidsynth, the sound font):
  // their endpoints answer 503 saying so.
  std::vector<std::string> missing_tools() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The page served at / (web/index.html, compiled in).
extern const char* const kServePage;

}  // namespace abc
