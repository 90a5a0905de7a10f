// BackgroundWorker: the thread for work that may block and must never run on the io
// thread: account look-ups (NSS may be LDAP), file rewrites, the sweep over the kernel's
// objects. A task runs on the worker and its completion is posted back to the io thread.
//
// Bounds: one thread; at most kMaxQueued tasks wait, a task past that is refused (run()
// returns false and the caller answers with an error) rather than queued without limit.
// Thread safety: run() on any thread; completions run on the io thread.
#pragma once

#include <asio.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace dipc::daemon {

// Writes content to path through a temporary file and a rename, so that a reader sees the
// old file or the new one, never half of one. False when either step failed.
bool write_file_atomically(const std::string& path, const std::string& content);

class BackgroundWorker {
 public:
  static constexpr size_t kMaxQueued = 65536;

  explicit BackgroundWorker(asio::io_context& io);
  ~BackgroundWorker();
  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  // Runs task on the worker; false when the queue is full (nothing was queued).
  bool run(std::function<void()> task);
  // Runs task on the worker, then done(result) on the io thread.
  template <typename T>
  bool run(std::function<T()> task, std::function<void(T)> done) {
    return run([this, task = std::move(task), done = std::move(done)]() mutable {
      T result = task();
      asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
    });
  }
  void stop();
  asio::io_context& io() { return io_; }

 private:
  void loop();

  asio::io_context& io_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dipc::daemon
