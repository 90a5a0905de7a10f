// The layout of a local cluster: its directory, the names and paths derived from it, the
// layout file, and the lock that keeps two `dipc cluster` commands apart.
//
// Each `dipc cluster` command is a separate process, so all state lives in the cluster
// directory (DIR):
//
//   DIR/cluster          the layout: nodes=N, netns=0|1, id=ID, arch.K=ARCH for a node of
//                        another architecture (written before anything is made, so `down`
//                        can undo a half-made cluster)
//   DIR/.lock            flock'ed by up and down so two of them never interleave
//   DIR/nodeK/dipc.conf  node K's configuration (TOML), DIR/nodeK/dipc.allow its allow file
//   DIR/nodeK/ipcns      an empty file with node K's IPC namespace bind-mounted on it
//   DIR/nodeK/dipcd.pid  the pid of node K's dipcd, DIR/nodeK/dipcd.log its output
//   DIR/nodeK/run/       dipcd's run dir: dipcd.sock, dipcd.port, state
//
// With --netns, each node's network namespace is /run/netns/dipcID-nodeK and the hub's
// /run/netns/dipcID-hub, ID coming from DIR (ChooseId). Single-threaded, like the commands.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dipc::tools::cluster {

using Clock = std::chrono::steady_clock;

constexpr int kMaxNodes = 16;
constexpr const char* kDefaultDir = "/tmp/dipc-cluster";
constexpr const char* kDirEnv = "DIPC_CLUSTER_DIR";
// Cluster ids name the network namespaces and pick the /24 inside 10.213.0.0/16.
constexpr int kIdCount = 250;
constexpr const char* kNetnsDir = "/run/netns";
// How often every wait of the commands looks again.
constexpr auto kPollInterval = std::chrono::milliseconds(20);
// A concurrent up may hold the lock for its 15 s plus its own teardown.
constexpr auto kLockTimeout = std::chrono::seconds(25);

struct Layout {
  std::string dir;  // absolute
  int nodes = 0;
  bool netns = false;
  int id = 0;
  std::vector<std::string> arch;  // index = node number: "" for this machine's, else ARCH

  const std::string& arch_of(int k) const {
    static const std::string native;
    return k >= 0 && k < static_cast<int>(arch.size()) ? arch[k] : native;
  }
};

std::string NodeName(int k);  // "nodeK"
std::string NodeDir(const std::string& dir, int k);
std::string ConfigPath(const std::string& dir, int k);
std::string AllowPath(const std::string& dir, int k);
// The cluster secret every node is given (unless --no-secret).
std::string SecretPath(const std::string& dir);
std::string LogPath(const std::string& dir, int k);
std::string PidPath(const std::string& dir, int k);
std::string IpcnsPath(const std::string& dir, int k);
std::string RunDir(const std::string& dir, int k);
std::string LayoutPath(const std::string& dir);

// Short enough for /run/netns and for `ip`'s output: "dipc249-node16".
std::string NetnsName(int id, int k);
std::string HubName(int id);
std::string NetnsPath(const std::string& name);

std::string Subnet(int id);                       // "10.213.ID"
std::string NodeAddress(const Layout& l, int k);  // 10.213.ID.K with netns, else 127.0.0.1

// DIR as given, else $DIPC_CLUSTER_DIR, else the default; made absolute and, when it
// exists, canonical, so that every invocation derives the same paths (the config path is
// how a dipcd is recognised as ours). With create, DIR and missing parents are made.
std::string ResolveDir(const std::string& given, bool create);

// Checks that other users may search (o+x) path and each of its parents that exists: a
// program run as another user must reach the nodes' sockets below, or it silently uses
// plain local objects. With fix, adds o+x where it is missing and says so on stderr;
// without, throws a Failure that names the directories and how to fix them.
void EnsureSearchable(const std::string& path, bool fix);

// nullopt when DIR/cluster does not exist; a Failure when it exists but is unreadable.
std::optional<Layout> LoadLayout(const std::string& dir);
void SaveLayout(const Layout& l);

// Node numbers that may own something in dir: those of the layout, plus any nodeK
// directory left by an earlier, larger cluster or a damaged layout file.
std::vector<int> KnownNodes(const std::string& dir, const std::optional<Layout>& l);

// Accepts "node2" and, as a shorthand, "2".
std::optional<int> ParseNodeName(const std::string& name, int nodes);

// The hash of the directory picks the id, so clusters in different directories get
// different namespace names and subnets; a clash (another cluster, or leftovers of one
// that was never taken down) moves on to the next free id.
int ChooseId(const std::string& dir, bool netns);

// Serialises up and down on one directory (flock on DIR/.lock, waited for at most
// kLockTimeout).
class DirLock {
 public:
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace dipc::tools::cluster
