// abc_cuda_serve: a local web app to compose with a trained model (README: "Web app").
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <thread>

#include "abc/cli.hpp"
#include "abc/paths.hpp"
#include "abc/serve.hpp"

namespace {
int g_stop_pipe[2] = {-1, -1};  // SIGINT/SIGTERM write a byte; the waiter thread reads it
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "A local web app to compose with a trained model: open the printed address in a browser, choose a\n"
      "meter, key and first bars, and hear and see the tunes as they are written."};
  app.name("abc_cuda_serve");
  abc::ServeOptions o;
  app.add_option("--checkpoint", o.checkpoint,
                 "Offer only this model: a run folder (its best.ckpt, else last.ckpt) or a checkpoint file");
  app.add_option("--runs", o.runs_dir,
                 "Offer every run folder in this folder that holds best.ckpt or last.ckpt (default: " +
                     abc::default_runs_dir() + ")");
  app.add_option("--host", o.host,
                 "Address to listen on; anything but 127.0.0.1 lets other machines use this one's CPU or GPU")
      ->capture_default_str();
  app.add_option("--port", o.port, "Port (0: any free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--max-generations", o.limits.max_generations,
                 "Generations running at once; more are answered 503 busy")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--http-threads", o.http_threads,
                 "HTTP worker threads (default: 2 x --max-generations + 8, so a full house still answers)")
      ->check(CLI::Range(1, 1024));
  bool quiet = false;
  app.add_flag("--quiet", quiet, "No line per request on stderr");
  abc::add_device_options(app, o.device);
  return abc::run_cli(app, argc, argv, [&] {
    o.log_requests = !quiet;
    abc::WebServer server(o);
    const int port = server.bind();
    std::cerr << "abc_cuda_serve: " << server.device_summary() << "\n";
    for (const std::string& tool : server.missing_tools()) {
      std::cerr << "abc_cuda_serve: note: " << tool << " not found: scores or audio will not render (tools/setup.sh)\n";
    }
    if (abc::ModelRegistry(o.checkpoint, o.runs_dir).names().empty()) {
      std::cerr << "abc_cuda_serve: note: no run folder with best.ckpt or last.ckpt in "
                << (o.runs_dir.empty() ? abc::default_runs_dir() : o.runs_dir)
                << " yet: train one (abc_cuda_train) or pass --checkpoint\n";
    }
    if (o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1") {
      std::cerr << "abc_cuda_serve: note: listening on " << o.host << ": other machines can reach this server\n";
    }
    // SIGINT and SIGTERM stop the server cleanly (workers end, the temporary folder goes): the
    // handler only writes to a pipe (any thread may take the signal: OpenBLAS starts its own),
    // and a thread reading the pipe calls stop().
    if (pipe(g_stop_pipe) != 0) throw abc::Error("cannot make a pipe for the stop signals");
    struct sigaction on_stop {};
    on_stop.sa_handler = [](int) {
      const char byte = 1;
      [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &byte, 1);
    };
    sigemptyset(&on_stop.sa_mask);
    sigaction(SIGINT, &on_stop, nullptr);
    sigaction(SIGTERM, &on_stop, nullptr);
    std::thread waiter([&server] {
      char byte = 0;
      while (read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
      }
      server.stop();
    });
    const std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    std::cout << "abc_cuda_serve: listening on http://" << host << ":" << port << "/" << std::endl;
    server.listen();
    // listen() also returns when the socket fails: wake the waiter so it can be joined.
    const char byte = 0;
    [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &byte, 1);
    waiter.join();
    std::cerr << "abc_cuda_serve: stopped\n";
    return abc::kExitOk;
  });
}
