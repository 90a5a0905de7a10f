#include "dipcd/handshake.h"

#include <fmt/format.h>
#include <sodium.h>

#include "dipcd/conn.h"

namespace dipc::daemon {

using proto::FrameType;

namespace {

// HMAC-SHA256 keyed with the secret over a role, the other side's fresh nonce and, for the
// connecting side, its node name.
std::string auth_mac(const std::string& secret, std::string_view role, std::string_view nonce,
                     std::string_view name) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  for (std::string_view part : {role, nonce, name})
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()),
                                  part.size());
  std::string out(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&st, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

bool same_mac(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

static_assert(crypto_kx_PUBLICKEYBYTES == proto::kAuthBytes);
static_assert(crypto_kx_SECRETKEYBYTES == 32 && crypto_kx_SESSIONKEYBYTES == 32);

// A fresh ephemeral key pair: the public half is this side's nonce.
std::string fresh_nonce(std::array<uint8_t, 32>& sk) {
  std::string pk(crypto_kx_PUBLICKEYBYTES, '\0');
  crypto_kx_keypair(reinterpret_cast<unsigned char*>(pk.data()), sk.data());
  return pk;
}

// A session key from the exchange, bound to the secret: BLAKE2b keyed with a hash of the
// secret over the exchanged key and a label.
std::array<uint8_t, 32> mix(const unsigned char kx[32], const std::string& secret) {
  unsigned char sk[32];
  crypto_generichash(sk, sizeof sk, reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  std::array<uint8_t, 32> out{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, sk, sizeof sk, out.size());
  crypto_generichash_update(&st, kx, 32);
  static const char kLabel[] = "dipc link keys v1";
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kLabel), sizeof kLabel - 1);
  crypto_generichash_final(&st, out.data(), out.size());
  sodium_memzero(sk, sizeof sk);
  return out;
}

Handshake::Step fail(std::string why, bool by_peer = false) {
  Handshake::Step s;
  s.state = Handshake::State::kFail;
  s.reason = std::move(why);
  s.refused_by_peer = by_peer;
  return s;
}

}  // namespace

Handshake::Handshake(Role role, Settings settings, Vet vet)
    : role_(role), s_(std::move(settings)), vet_(std::move(vet)) {}

Handshake::~Handshake() { sodium_memzero(my_sk_.data(), my_sk_.size()); }

std::optional<Handshake::SessionKeys> Handshake::derive(std::string_view peer_pk) const {
  unsigned char rx[32], tx[32];
  auto pk = reinterpret_cast<const unsigned char*>(my_nonce_.data());
  auto other = reinterpret_cast<const unsigned char*>(peer_pk.data());
  int r = role_ == Role::kConnector
              ? crypto_kx_client_session_keys(rx, tx, pk, my_sk_.data(), other)
              : crypto_kx_server_session_keys(rx, tx, pk, my_sk_.data(), other);
  if (r != 0) return std::nullopt;  // a public key that is no key (low order)
  SessionKeys k{mix(tx, s_.secret), mix(rx, s_.secret)};
  sodium_memzero(rx, sizeof rx);
  sodium_memzero(tx, sizeof tx);
  return k;
}

std::vector<std::vector<uint8_t>> Handshake::start() {
  if (role_ == Role::kAcceptor) return {};
  proto::Hello h;
  h.node = s_.my_name;
  h.listen_port = s_.my_port;
  h.incarnation = s_.incarnation;
  return {make_frame(FrameType::kHello, 0, h, 512)};
}

Handshake::Step Handshake::on_frame(FrameType type, proto::Reader& r) {
  if (done_) return fail("handshake frame after the link was ready");
  Step s = role_ == Role::kAcceptor ? accept_side(type, r) : connect_side(type, r);
  if (s.state != State::kWaiting) done_ = true;
  return s;
}

Handshake::Step Handshake::refuse(std::string reason) {
  Step s;
  s.state = State::kRefuse;
  s.reason = reason;
  proto::HelloAck ack;
  ack.accepted = 0;
  ack.node = s_.my_name;
  ack.reason = reason;
  s.send.push_back(make_frame(FrameType::kHelloAck, 0, ack, 2048));
  return s;
}

Handshake::Step Handshake::accept() {
  Step s;
  s.state = State::kReady;
  proto::HelloAck ack;
  ack.accepted = 1;
  ack.node = s_.my_name;
  ack.incarnation = s_.incarnation;
  s.send.push_back(make_frame(FrameType::kHelloAck, 0, ack, 1024));
  return s;
}

Handshake::Step Handshake::accept_side(FrameType type, proto::Reader& r) {
  if (!my_nonce_.empty()) {  // we challenged its hello: this must be the proof
    proto::Auth a;
    if (type != FrameType::kAuth || !a.decode(r) || a.nonce.empty() || a.mac.empty())
      return fail("expected the proof of the cluster secret");
    if (!same_mac(a.mac, auth_mac(s_.secret, "connector", my_nonce_, peer_name_)))
      return refuse(fmt::format("authentication failed: node '{}' does not know this "
                                "cluster's secret ({})", peer_name_, s_.secret_file));
    auto keys = derive(a.nonce);
    if (!keys) return fail("the connector's key exchange is not valid");
    proto::Auth proof;
    std::string mac = auth_mac(s_.secret, "acceptor", a.nonce, "");
    proof.mac = mac;
    Step s = accept();
    s.send.insert(s.send.begin(), make_frame(FrameType::kAuth, 0, proof, 128));
    s.keys = keys;
    return s;
  }
  proto::Hello h;
  if (type != FrameType::kHello || !h.decode(r)) return fail("first frame is not a valid hello");
  peer_name_ = std::string(h.node);
  peer_port_ = h.listen_port;
  peer_incarnation_ = h.incarnation;
  if (peer_name_ == s_.my_name)
    return refuse(fmt::format("node name '{}' is this node's own name", peer_name_));
  if (vet_) {
    std::string why = vet_(peer_name_);
    if (!why.empty()) return refuse(why);
  }
  if (s_.secret.empty()) return accept();
  my_nonce_ = fresh_nonce(my_sk_);
  proto::Auth challenge;
  challenge.nonce = my_nonce_;
  Step s;
  s.send.push_back(make_frame(FrameType::kAuth, 0, challenge, 128));
  return s;
}

Handshake::Step Handshake::connect_side(FrameType type, proto::Reader& r) {
  if (type == FrameType::kAuth) {
    proto::Auth a;
    if (!a.decode(r)) return fail("malformed authentication");
    if (s_.secret.empty())
      return fail("the peer requires a cluster secret: set [security] secret_file to the "
                  "cluster's secret", true);
    if (!a.nonce.empty() && a.mac.empty() && my_nonce_.empty()) {  // its challenge
      peer_nonce_ = std::string(a.nonce);
      my_nonce_ = fresh_nonce(my_sk_);
      std::string mac = auth_mac(s_.secret, "connector", a.nonce, s_.my_name);
      proto::Auth proof{my_nonce_, mac};
      Step s;
      s.send.push_back(make_frame(FrameType::kAuth, 0, proof, 128));
      return s;
    }
    if (a.nonce.empty() && !a.mac.empty() && !my_nonce_.empty() && !peer_proved_) {  // its proof
      if (!same_mac(a.mac, auth_mac(s_.secret, "acceptor", my_nonce_, "")))
        return fail("authentication failed: the peer does not know this cluster's secret", true);
      peer_proved_ = true;
      return Step{};
    }
    return fail("unexpected authentication step");
  }
  proto::HelloAck ack;
  if (type != FrameType::kHelloAck || !ack.decode(r)) return fail("bad hello answer");
  if (!ack.accepted) return fail(std::string(ack.reason), true);
  if (!s_.secret.empty() && !peer_proved_)
    return fail("authentication failed: the peer did not prove the cluster secret (does it "
                "have [security] secret_file?)", true);
  peer_name_ = std::string(ack.node);
  peer_incarnation_ = ack.incarnation;
  Step s;
  s.state = State::kReady;
  if (!s_.secret.empty()) {
    s.keys = derive(peer_nonce_);
    if (!s.keys) return fail("the acceptor's key exchange is not valid");
  }
  return s;
}

}  // namespace dipc::daemon
