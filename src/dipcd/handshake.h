// Handshake: the opening of a peer link, as a state machine with no socket.
//
// The side that connects sends kHello (protocol version, node name, listening port, its
// incarnation: which run of the node it is; the acceptor's answer carries its own). The
// side that accepts checks it (the owner's vet function: allow list, name in use) and, when
// the cluster has a secret, challenges the connector (kAuth with a fresh nonce), which
// answers with its own nonce and HMAC-SHA256(secret, "connector" | nonce | its name); the
// acceptor then proves itself with HMAC-SHA256(secret, "acceptor" | the connector's nonce)
// and accepts (kHelloAck). Either side that sees a wrong proof gives up. A link is ready
// only when both sides have proved what the configuration asks for.
//
// With a secret the two nonces are the sides' ephemeral X25519 public keys (libsodium's
// crypto_kx), so the MACs above authenticate them; both sides derive per-direction session
// keys from that exchange mixed with the secret, and from then on every frame of the link
// travels sealed (Conn: XChaCha20-Poly1305 with a per-direction counter as nonce, which also
// refuses replayed, reordered or dropped frames). Fresh keys for every link.
//
// The owner feeds every frame that arrives before the link is ready to on_frame() and
// sends what each Step says; it never interprets handshake frames itself. Link encryption
// will land here. Thread safety: one Handshake is used by one thread (the io thread).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace dipc::daemon {

class Handshake {
 public:
  enum class Role { kConnector, kAcceptor };
  struct Settings {
    std::string my_name;
    uint16_t my_port = 0;
    std::string secret;       // empty: no authentication
    std::string secret_file;  // named in refusals
    uint64_t incarnation = 0;  // this run of this node (proto::Hello)
  };
  // Acceptor side: "" when a node of that name may join now, else the refusal reason.
  using Vet = std::function<std::string(const std::string& peer_name)>;

  enum class State {
    kWaiting,  // more frames to come
    kReady,    // the link is usable; peer_name() and peer_port() are known
    kRefuse,   // send the frames (a refusal) and close shortly after
    kFail,     // close now
  };
  struct SessionKeys {
    std::array<uint8_t, 32> tx{}, rx{};
  };
  struct Step {
    State state = State::kWaiting;
    std::optional<SessionKeys> keys;  // kReady with a secret: seal the link with these
    std::vector<std::vector<uint8_t>> send;  // frames to send, in order
    std::string reason;                      // kRefuse / kFail: why, for logs and state
    bool refused_by_peer = false;            // kFail because the peer refused us
  };

  Handshake(Role role, Settings settings, Vet vet = nullptr);
  ~Handshake();
  // The first frames of this side (the connector's hello; nothing for the acceptor).
  std::vector<std::vector<uint8_t>> start();
  Step on_frame(proto::FrameType type, proto::Reader& r);

  Role role() const { return role_; }
  const std::string& peer_name() const { return peer_name_; }
  // The acceptor challenged the peer's hello and waits for its proof of the secret.
  bool awaiting_proof() const { return role_ == Role::kAcceptor && !my_nonce_.empty() && !done_; }
  uint16_t peer_port() const { return peer_port_; }
  // The peer's run (proto::Hello::incarnation), once ready.
  uint64_t peer_incarnation() const { return peer_incarnation_; }

 private:
  Step accept_side(proto::FrameType type, proto::Reader& r);
  Step connect_side(proto::FrameType type, proto::Reader& r);
  Step refuse(std::string reason);
  Step accept();

  Role role_;
  Settings s_;
  Vet vet_;
  std::string peer_name_;
  uint16_t peer_port_ = 0;
  uint64_t peer_incarnation_ = 0;
  std::optional<SessionKeys> derive(std::string_view peer_pk) const;

  std::string my_nonce_;      // the nonce this side sent: its ephemeral public key
  std::array<uint8_t, 32> my_sk_{};  // and the secret half
  std::string peer_nonce_;           // connector: the acceptor's public key
  bool peer_proved_ = false;  // connector: the acceptor proved the secret
  bool done_ = false;
};

}  // namespace dipc::daemon
