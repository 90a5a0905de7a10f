#!/usr/bin/env bash
# shm_pages: page mode lets writers on different pages of one segment work at once: node2
# writes the even pages, node3 the odd ones, of a 64-page segment owned by node1, 200 rounds
# each (with a pause after each round, so that they overlap), at the same time; every page must end with exactly 200. Then the owner switches to
# segment mode ([dsm] mode = "segment", restart) and the same run on a new segment must give
# the same data. In each mode, a 4 MiB segment (four chunks of pages on the wire, sent from
# the owner's memfd; in segment mode a reader goes on with each chunk as it arrives) filled
# with a pattern on node1 reads back exactly on node2 (four threads at once) and node3, and
# after node2 rewrites it, on node1 and node3. In segment mode, node3 reads the first page
# of a 32 MiB segment and at once writes its last page, while the rest of the segment may
# still be on its way: every page must then hold what node1 wrote (the owner drops its copy
# for that write, with no quantum to wait for; the pages still to be sent must not be lost
# with it: without Segment::punch saving them, node3 reads zeros there).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

PAGES=64
R=200
run() {
  local k=$1 what=$2 t0
  shm_mk node1 "$k" $((PAGES * 4096))
  t0=$(now_ms)
  bg_on_t 120 node2 "$SHM" pages "$k" 0 2 $PAGES $R 300
  local pa=$BG_PID oa=$BG_OUT
  bg_on_t 120 node3 "$SHM" pages "$k" 1 2 $PAGES $R 300
  local pb=$BG_PID ob=$BG_OUT
  bg_wait $pa 120 || fail "$what: writer on node2 failed: $(cat "$oa")"
  bg_wait $pb 120 || fail "$what: writer on node3 failed: $(cat "$ob")"
  expect_eq "$(cat "$oa") $(cat "$ob")" "DONE DONE" "$what: both writers"
  log "$what: $(($(now_ms) - t0)) ms"
  expect_eq "$(on node1 "$SHM" sumpages "$k" $PAGES)" $((PAGES * R)) "$what: sum of all pages on node1"
  expect_eq "$(on node3 "$SHM" sumpages "$k" $PAGES)" $((PAGES * R)) "$what: sum of all pages on node3"
}

BIG=1024
big() {
  local k=$1 what=$2
  shm_mk node1 "$k" $((BIG * 4096))
  expect_eq "$(on node1 "$SHM" fillpat "$k" $BIG 5)" OK "$what: node1 fills $BIG pages"
  expect_eq "$(on node2 "$SHM" checkpat "$k" $BIG 5 4)" OK "$what: node2 reads them (4 threads)"
  expect_eq "$(on node3 "$SHM" checkpat "$k" $BIG 5 1)" OK "$what: node3 reads them"
  expect_eq "$(on node2 "$SHM" fillpat "$k" $BIG 6)" OK "$what: node2 rewrites them"
  expect_eq "$(on node1 "$SHM" checkpat "$k" $BIG 6 2)" OK "$what: node1 reads node2's pages"
  expect_eq "$(on node3 "$SHM" checkpat "$k" $BIG 6 3)" OK "$what: node3 reads node2's pages"
}

# No secret: on an encrypted link pages are read when their frame is sealed, so only a
# plain link sends them from the memfd as it goes, which is what the large cases test.
cluster_up 3 --no-secret
for n in node1 node2 node3; do dsm_debug $n; done
run 0x7701 "page mode"
big 0x7711 "page mode, $BIG pages"
dsm_config node1 mode '"segment"'
grep -q "segment mode" "$DIR/node1/dipcd.log" || fail "node1 did not start in segment mode"
run 0x7702 "segment mode"
big 0x7712 "segment mode, $BIG pages"
UP=8192
dsm_config node1 quantum 0  # the write is granted at once, while the grant before still leaves
shm_mk node1 0x7713 $((UP * 4096))
expect_eq "$(on node1 "$SHM" fillpat 0x7713 $UP 9)" OK "segment mode, $UP pages: node1 fills them"
expect_eq "$(on node3 "$SHM" upgrade 0x7713 $UP 9)" OK "segment mode, $UP pages: node3 reads, writes the last page, reads all"
expect_eq "$(on node1 "$SHM" checkpat 0x7713 $UP 9 1)" OK "segment mode, $UP pages: node1 reads them after node3's write"
