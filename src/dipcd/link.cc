#include "dipcd/link.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace dipc::daemon {

int64_t Link::rtt_us() const {
  tcp_info ti{};
  socklen_t n = sizeof ti;
  if (!conn || conn->native_handle() < 0 ||
      getsockopt(conn->native_handle(), IPPROTO_TCP, TCP_INFO, &ti, &n) != 0)
    return -1;
  return ti.tcpi_rtt;
}

void Link::set_fault(std::chrono::milliseconds d, bool stall) {
  delay = d;
  stalled = stall;
  if (stall) delayed.clear();
  faulty = stall || d.count() > 0 || !delayed.empty();
}

void Link::send_faulty(OutFrame frame) {
  if (stalled) return;  // lost in the partition
  bool arm = delayed.empty();
  delayed.emplace_back(std::chrono::steady_clock::now() + delay, std::move(frame));
  if (arm) arm_delay();
}

void Link::arm_delay() {
  delay_timer.expires_at(delayed.front().first);
  // On destruction of the link the wait completes with an error and touches nothing.
  delay_timer.async_wait([this](std::error_code ec) {
    if (!ec) flush_delayed();
  });
}

void Link::flush_delayed() {
  auto now = std::chrono::steady_clock::now();
  while (!delayed.empty() && delayed.front().first <= now) {
    if (conn) conn->send(std::move(delayed.front().second));
    delayed.pop_front();
  }
  if (!delayed.empty()) return arm_delay();
  faulty = stalled || delay.count() > 0;
}

}  // namespace dipc::daemon
