// The shim's side of distributed shared memory: attaching a distributed segment.
//
// shmat on a distributed id asks dipcd's fault server (RUN_DIR/dipcd-dsm.sock, one
// SOCK_SEQPACKET connection per attachment, kept open while it lasts) for the segment's
// memfd, maps it as Linux's shmat would (shmaddr, SHM_RND, SHM_RDONLY, SHM_REMAP, SHM_EXEC),
// registers the mapping on the process's userfaultfd (made from the /dev/userfaultfd
// descriptor dipcd passes) for MISSING and WP faults, and hands the userfaultfd back, so
// that dipcd serves every fault. Closing the connection is the detach: shmdt closes it, and
// exit and exec close it too (it is close-on-exec). A forked child registers its copies
// again before fork() returns in it (pthread_atfork).
//
// Thread safety: a spin lock guards the attachment table (also across fork). Nothing here
// runs on a fault or signal path: faults are served by dipcd, not by the process.
#pragma once

namespace dipc::shim {

// Attaches distributed segment shmid. *fallback is set when no fault server answers (no
// dipcd): the caller then attaches the local System V segment, as on plain Linux.
void* dsm_attach(int shmid, const void* shmaddr, int shmflg, bool* fallback);
// shmat of a plain segment with SHM_REMAP (shmaddr set), through plain_shmat: what it maps
// over of this process's distributed attachments is cut from them, as Linux's unmap does.
void* dsm_plain_remap(int shmid, const void* shmaddr, int shmflg,
                      void* (*plain_shmat)(int, const void*, int));
// Detaches a distributed attachment at shmaddr: returns 1 (done) or 0 (not one of ours).
int dsm_detach(const void* shmaddr);

}  // namespace dipc::shim
