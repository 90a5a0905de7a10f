// Namespaces of a local cluster: the persistent IPC namespace of each node (an nsfs bind
// mount on DIR/nodeK/ipcns) and, with --netns, the network: a namespace per node and a hub
// namespace holding a bridge, made with iproute2's `ip`.
//
// An IPC namespace lives as long as something references it; the bind mount is that
// reference, so the namespace survives its creator and later invocations enter it with
// setns(2). The network namespaces are made the way `ip netns add` makes them (bind mounts
// under /run/netns), joined by veth pairs to a bridge in a separate hub namespace so that
// nothing in the host's own network namespace changes. Needs root (CAP_SYS_ADMIN).
// Single-threaded; EnterNamespace alone is also safe in a forked child.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tools/cluster_layout.h"

namespace dipc::tools::cluster {

bool IsNamespaceFile(const std::string& path);  // an nsfs mount is on path

// Returns 0 or an errno. Used in forked children, so it only makes system calls.
int EnterNamespace(const char* path, int nstype);

// Makes a new IPC namespace that outlives every process: a child unshares into it and
// bind-mounts its /proc/self/ns/ipc on file. The child stays in our mount namespace, so
// the mount is visible to later `dipc` invocations.
void MakeIpcNamespace(const std::string& file);

// Undoes MakeIpcNamespace (possibly stacked by an interrupted earlier run). Returns "" or
// a problem.
std::string UnmountNamespaceFile(const std::string& file);

// What `ip netns delete` does: the namespace goes once its last process has gone.
// Returns "" or a problem.
std::string DeleteNetns(const std::string& name);

// Runs `ip ARGS...`; throws a Failure with its output when it fails.
class Ip {
 public:
  explicit Ip(std::string binary) : binary_(std::move(binary)) {}
  void operator()(std::vector<std::string> args) const;

 private:
  std::string binary_;
};

// Hub namespace with a bridge; per node a namespace, a veth pair (nK on the bridge, eth0
// in the node), the node's address, and loopback up. check runs between nodes (it throws
// to stop on an interrupt or the deadline).
void MakeNetwork(const Layout& l, const Ip& ip, const std::function<void()>& check);

}  // namespace dipc::tools::cluster
