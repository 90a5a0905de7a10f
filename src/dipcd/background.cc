#include "dipcd/background.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>

namespace dipc::daemon {

bool write_file_atomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << content;
    if (!f) return false;
  }
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

BackgroundWorker::BackgroundWorker(asio::io_context& io) : io_(io), thread_([this] { loop(); }) {}

BackgroundWorker::~BackgroundWorker() { stop(); }

void BackgroundWorker::stop() {
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool BackgroundWorker::run(std::function<void()> task) {
  {
    std::lock_guard lk(mu_);
    if (stop_ || tasks_.size() >= kMaxQueued) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void BackgroundWorker::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to do
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      // A broken invariant: say so and stop the daemon rather than go on half done.
      spdlog::critical("background task failed: {}: exiting", e.what());
      std::abort();
    }
  }
}

}  // namespace dipc::daemon
