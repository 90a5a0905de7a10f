#include "dipcd/pidfd_wait.h"

#include <errno.h>
#include <poll.h>
#include <spdlog/spdlog.h>

namespace dipc::daemon {

bool pidfd_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  int n = ::poll(&p, 1, 0);
  if (n < 0) return errno != EINTR && errno != ENOMEM;  // transient: not an exit
  // POLLIN: exited (POLLHUP too once reaped); POLLNVAL/POLLERR: nothing left to wait on.
  return n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void wait_for_exit(asio::posix::stream_descriptor& fd, std::function<bool()> alive,
                   std::function<void()> on_exit) {
  asio::posix::stream_descriptor* d = &fd;
  fd.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [d, alive = std::move(alive), on_exit = std::move(on_exit)](std::error_code ec) mutable {
        if (ec || !alive()) return;
        if (!pidfd_exited(d->native_handle())) {
          spdlog::debug("pidfd {}: a wait completed while its process runs; waiting again",
                        d->native_handle());
          return wait_for_exit(*d, std::move(alive), std::move(on_exit));
        }
        on_exit();
      });
}

}  // namespace dipc::daemon
