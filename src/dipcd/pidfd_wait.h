// Waiting for a process to exit through its pidfd, on the io thread.
//
// A completed wait on a descriptor is not proof that the descriptor is ready: asio's epoll
// reactor keeps a record per registered descriptor and reuses freed records, and readiness
// taken from epoll for a descriptor that was closed before its record was handled is then
// handed to the next descriptor given that record. dipcd met it when a local connection
// closed (the caller changed its effective uid and reconnected) and the pidfd opened next,
// for the same live process, took its record: the wait completed at once and the process
// was taken for exited (docs/difffuzz.md, seed 1 script 1299). So the pidfd itself is asked
// (poll, no wait) and the wait is made again while the process runs.
// Thread safety: io thread only (the descriptor's).
#pragma once

#include <asio.hpp>
#include <functional>

namespace dipc::daemon {

// True when the process behind pidfd has exited (or the descriptor is not usable).
bool pidfd_exited(int pidfd);

// Calls on_exit once the process behind fd has exited; never when the wait was cancelled
// or fd closed first. alive() is asked before fd is touched after a completion: it says
// whether fd is still the descriptor this wait was made for (its owner may have replaced
// it), so that a completion for one that is gone never reaches it.
void wait_for_exit(asio::posix::stream_descriptor& fd, std::function<bool()> alive,
                   std::function<void()> on_exit);

}  // namespace dipc::daemon
