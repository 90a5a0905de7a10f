// The dipc tool's exit statuses, documented in dipc(1) (EXIT STATUS); scripts rely on them.
#pragma once

namespace dipc::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;     // the operation failed, or dipcd can't be reached
inline constexpr int kExitUsage = 2;      // bad command line
inline constexpr int kExitNotJoined = 3;  // dipc status: dipcd runs but the node has not joined
inline constexpr int kExitNotEnabled = 4;  // dipc preload status: the shim is not preloaded

}  // namespace dipc::tools
