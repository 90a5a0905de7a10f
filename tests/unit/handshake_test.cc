// Handshake: the opening of a peer link, driven frame by frame with no socket.
#include "dipcd/handshake.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "dipcd/conn.h"

namespace dipc::daemon {
namespace {

using proto::FrameType;
using State = Handshake::State;

struct Wire {
  proto::Header h;
  std::vector<uint8_t> payload;
};

Wire parse(const std::vector<uint8_t>& frame) {
  Wire w;
  EXPECT_GE(frame.size(), proto::kHeaderSize);
  EXPECT_EQ(proto::decode_header(frame.data(), w.h), proto::HeaderError::kNone);
  w.payload.assign(frame.begin() + proto::kHeaderSize, frame.end());
  EXPECT_EQ(w.payload.size(), w.h.length);
  return w;
}

Handshake::Step feed(Handshake& to, const std::vector<uint8_t>& frame) {
  Wire w = parse(frame);
  proto::Reader r(w.payload.data(), w.payload.size());
  return to.on_frame(w.h.type, r);
}

// Runs both sides against each other until neither has anything more to say; returns the
// last step of each.
std::pair<Handshake::Step, Handshake::Step> run(Handshake& c, Handshake& a) {
  std::vector<std::vector<uint8_t>> to_a = c.start(), to_c;
  Handshake::Step sc, sa;
  for (int round = 0; round < 10 && (!to_a.empty() || !to_c.empty()); ++round) {
    for (auto& f : std::exchange(to_a, {})) {
      sa = feed(a, f);
      for (auto& out : sa.send) to_c.push_back(out);
    }
    for (auto& f : std::exchange(to_c, {})) {
      sc = feed(c, f);
      for (auto& out : sc.send) to_a.push_back(out);
    }
  }
  return {sc, sa};
}

class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
  Handshake::Settings node(std::string name, std::string secret = "") {
    return Handshake::Settings{name, 7710, secret, "/etc/dipc.secret"};
  }
};

TEST_F(HandshakeTest, WithoutSecretBothSidesAreReadyAndKnowEachOther) {
  Handshake c(Handshake::Role::kConnector, node("node2"));
  Handshake a(Handshake::Role::kAcceptor, node("node1"), [](const std::string&) { return ""; });
  auto [sc, sa] = run(c, a);
  EXPECT_EQ(sc.state, State::kReady);
  EXPECT_EQ(sa.state, State::kReady);
  EXPECT_EQ(c.peer_name(), "node1");
  EXPECT_EQ(a.peer_name(), "node2");
  EXPECT_EQ(a.peer_port(), 7710);
}

TEST_F(HandshakeTest, EachSideLearnsThePeersIncarnation) {
  for (std::string secret : {std::string(), std::string(32, 'k')}) {
    auto sc = node("node2", secret), sa = node("node1", secret);
    sc.incarnation = 0x1122334455667788u;
    sa.incarnation = 42;
    Handshake c(Handshake::Role::kConnector, sc);
    Handshake a(Handshake::Role::kAcceptor, sa, [](const std::string&) { return ""; });
    auto [stc, sta] = run(c, a);
    ASSERT_EQ(stc.state, State::kReady);
    ASSERT_EQ(sta.state, State::kReady);
    EXPECT_EQ(c.peer_incarnation(), 42u);
    EXPECT_EQ(a.peer_incarnation(), 0x1122334455667788u);
  }
}

TEST_F(HandshakeTest, SameSecretAuthenticatesBothWays) {
  std::string s(32, 'k');
  Handshake c(Handshake::Role::kConnector, node("node2", s));
  Handshake a(Handshake::Role::kAcceptor, node("node1", s), [](const std::string&) { return ""; });
  auto [sc, sa] = run(c, a);
  EXPECT_EQ(sc.state, State::kReady);
  EXPECT_EQ(sa.state, State::kReady);
}

TEST_F(HandshakeTest, SecretGivesMatchingFreshKeysPerLink) {
  std::string s(32, 'k');
  auto keys_of_a_link = [&] {
    Handshake c(Handshake::Role::kConnector, node("node2", s));
    Handshake a(Handshake::Role::kAcceptor, node("node1", s), nullptr);
    auto [sc, sa] = run(c, a);
    EXPECT_TRUE(sc.keys.has_value());
    EXPECT_TRUE(sa.keys.has_value());
    EXPECT_EQ(sc.keys->tx, sa.keys->rx);
    EXPECT_EQ(sc.keys->rx, sa.keys->tx);
    EXPECT_NE(sc.keys->tx, sc.keys->rx);
    return *sc.keys;
  };
  auto k1 = keys_of_a_link(), k2 = keys_of_a_link();
  EXPECT_NE(k1.tx, k2.tx);  // fresh for every link
  // Without a secret there is nothing to seal with.
  Handshake c(Handshake::Role::kConnector, node("node2"));
  Handshake a(Handshake::Role::kAcceptor, node("node1"), nullptr);
  auto [sc, sa] = run(c, a);
  EXPECT_FALSE(sc.keys.has_value());
  EXPECT_FALSE(sa.keys.has_value());
}

TEST_F(HandshakeTest, WrongSecretIsRefusedByTheAcceptor) {
  Handshake c(Handshake::Role::kConnector, node("node2", std::string(32, 'x')));
  Handshake a(Handshake::Role::kAcceptor, node("node1", std::string(32, 'k')),
              [](const std::string&) { return ""; });
  auto [sc, sa] = run(c, a);
  EXPECT_EQ(sa.state, State::kRefuse);
  EXPECT_NE(sa.reason.find("does not know this cluster's secret"), std::string::npos);
  EXPECT_EQ(sc.state, State::kFail);
  EXPECT_TRUE(sc.refused_by_peer);
}

TEST_F(HandshakeTest, ConnectorWithoutSecretIsToldToSetOne) {
  Handshake c(Handshake::Role::kConnector, node("node2"));
  Handshake a(Handshake::Role::kAcceptor, node("node1", std::string(32, 'k')),
              [](const std::string&) { return ""; });
  auto [sc, sa] = run(c, a);
  EXPECT_EQ(sc.state, State::kFail);
  EXPECT_NE(sc.reason.find("secret_file"), std::string::npos);
  EXPECT_NE(sa.state, State::kReady);
}

TEST_F(HandshakeTest, AcceptorThatSkipsItsProofIsNotBelieved) {
  // A connector with a secret must not take a plain accept from a peer that never proved
  // it knows the secret (a fake acceptor).
  std::string s(32, 'k');
  Handshake c(Handshake::Role::kConnector, node("node2", s));
  c.start();
  proto::HelloAck ack;
  ack.accepted = 1;
  ack.node = "node1";
  auto step = feed(c, make_frame(FrameType::kHelloAck, 0, ack, 256));
  EXPECT_EQ(step.state, State::kFail);
  EXPECT_NE(c.peer_name(), "node1");
}

TEST_F(HandshakeTest, VetRefusalAndOwnNameAreRefusedWithAReason) {
  Handshake c(Handshake::Role::kConnector, node("node2"));
  Handshake a(Handshake::Role::kAcceptor, node("node1"),
              [](const std::string& n) { return n == "node2" ? "already connected" : ""; });
  auto [sc, sa] = run(c, a);
  EXPECT_EQ(sa.state, State::kRefuse);
  EXPECT_EQ(sc.state, State::kFail);
  EXPECT_TRUE(sc.refused_by_peer);
  EXPECT_EQ(sc.reason, "already connected");

  Handshake c2(Handshake::Role::kConnector, node("node1"));
  Handshake a2(Handshake::Role::kAcceptor, node("node1"), nullptr);
  auto [sc2, sa2] = run(c2, a2);
  EXPECT_EQ(sa2.state, State::kRefuse);
  EXPECT_NE(sa2.reason.find("own name"), std::string::npos);
}

TEST_F(HandshakeTest, AnythingButAHelloFirstFails) {
  Handshake a(Handshake::Role::kAcceptor, node("node1"), nullptr);
  auto step = feed(a, make_empty_frame(FrameType::kRegList, 1));
  EXPECT_EQ(step.state, State::kFail);
  // And nothing after the end of a handshake is taken as part of it.
  Handshake c(Handshake::Role::kConnector, node("node2"));
  Handshake a2(Handshake::Role::kAcceptor, node("node1"), nullptr);
  run(c, a2);
  proto::Hello h;
  h.node = "node3";
  EXPECT_EQ(feed(a2, make_frame(FrameType::kHello, 0, h, 256)).state, State::kFail);
}

}  // namespace
}  // namespace dipc::daemon
