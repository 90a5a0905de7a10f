// PendingCalls: the one table of requests waiting for an answer, used by every room that
// sends requests (calls forwarded to owners, referee look-ups and lists).
//
// Each entry has a request id (unique for this run of dipcd), the tag of the link it left
// on, and the completion to run. An answer completes an entry only when it arrives with the
// same tag (a reply is accepted only on the link its request left on, and only while the
// request is pending); everything that left on a link that is lost is failed at once.
// Taking an entry out before running its completion means a completion that re-enters the
// table (a new call) never sees a half-updated map, and each completion runs at most once.
// Thread safety: one thread (the io thread).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace dipc::daemon {

template <typename Tag, typename Done>
class PendingCalls {
 public:
  // A new request id, with no entry yet (for requests whose link is not known yet).
  uint64_t next_id() { return next_++; }
  uint64_t add(Tag tag, Done done) {
    uint64_t id = next_++;
    put(id, std::move(tag), std::move(done));
    return id;
  }
  void put(uint64_t id, Tag tag, Done done) { calls_[id] = Entry{std::move(tag), std::move(done)}; }
  bool contains(uint64_t id) const { return calls_.count(id) != 0; }
  const Tag* tag_of(uint64_t id) const {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : &it->second.tag;
  }
  void retag(uint64_t id, Tag tag) {
    if (auto it = calls_.find(id); it != calls_.end()) it->second.tag = std::move(tag);
  }
  // The completion of id, taken out, if it is pending with that tag.
  std::optional<Done> take(uint64_t id, const Tag& tag) {
    auto it = calls_.find(id);
    if (it == calls_.end() || !(it->second.tag == tag)) return std::nullopt;
    Done d = std::move(it->second.done);
    calls_.erase(it);
    return d;
  }
  std::optional<Done> take(uint64_t id) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return std::nullopt;
    Done d = std::move(it->second.done);
    calls_.erase(it);
    return d;
  }
  // Every completion whose tag satisfies pred, taken out (in request order).
  template <typename Pred>
  std::vector<Done> take_if(Pred pred) {
    std::vector<Done> out;
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (pred(it->second.tag)) {
        out.push_back(std::move(it->second.done));
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  size_t size() const { return calls_.size(); }

 private:
  struct Entry {
    Tag tag;
    Done done;
  };
  uint64_t next_ = 1;
  std::map<uint64_t, Entry> calls_;
};

}  // namespace dipc::daemon
