/* mpipingpong: the Open MPI side-by-side of the DIPC benchmarks: a blocking MPI_Send +
 * MPI_Recv ping-pong of N bytes between rank 0 and rank 1 (bench/run.sh, "side by side";
 * docs/benchmarks.md). run.sh starts it with mpirun over the TCP transport only
 * (--mca btl tcp,self), rank 0 on node1 and rank 1 on node2.
 *
 *   mpirun -np 2 mpipingpong [--size N] [timing]
 *       Rank 0 times send(N) + recv(N) and prints the result line; rank 1 echoes until a
 *       message with tag 2 arrives.
 *
 * Timing options (benchutil.h): --warm MS --dur MS --reps R --cpu C --limit S, --turn-in
 * FIFO --turn-out FIFO (rank 0 only takes turns). Output (rank 0): "median_us X ..."
 * (one round trip). Needs Open MPI (Debian: libopenmpi-dev, openmpi-bin); built only when
 * CMake finds MPI. */
#include "../benchutil.h"

#include <mpi.h>

#define MAX_SIZE 65536

static char g_out[MAX_SIZE], g_in[MAX_SIZE];
static int g_size = 8;

static int ping_once(void* v) {
  (void)v;
  if (MPI_Send(g_out, g_size, MPI_CHAR, 1, 1, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
  if (MPI_Recv(g_in, g_size, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return -1;
  return 0;
}

/* The CPU of this rank (--cpu for rank 0, --cpu2 for rank 1), from the arguments and the
 * rank mpirun passes in the environment, so that the process is pinned before MPI_Init
 * starts its threads (they inherit it). */
static void pin_early(int argc, char** argv) {
  const char* r = getenv("OMPI_COMM_WORLD_RANK");
  if (r == NULL) return;
  const char* want = strcmp(r, "0") ? "--cpu2" : "--cpu";
  for (int i = 1; i + 1 < argc; ++i)
    if (!strcmp(argv[i], want)) bu_pin(bu_int(argv[i + 1], want));
}

int main(int argc, char** argv) {
  pin_early(argc, argv);
  MPI_Init(&argc, &argv);
  int rank = 0, nranks = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  if (nranks != 2) bu_die("needs exactly 2 ranks (mpirun -np 2)");
  struct bu_opts o;
  bu_defaults(&o);
  for (int i = 1; i < argc; ++i) {
    if (bu_common_opt(&o, argc, argv, &i)) continue;
    if (!strcmp(argv[i], "--size") && i + 1 < argc) g_size = bu_int(argv[++i], "--size");
    else bu_die("unknown option %s", argv[i]);
  }
  if (g_size < 1 || g_size > MAX_SIZE) bu_die("--size must be 1..%d", MAX_SIZE);
  if (rank != 0) o.turn_in = o.turn_out = NULL;
  bu_check(&o);
  memset(g_out, 'x', (size_t)g_size);
  int rc = 0;
  if (rank == 0) {
    bu_pin(o.cpu);
    rc = bu_measure(&o, ping_once, NULL);
    if (rc < 0) fprintf(stderr, "mpipingpong: round trip failed\n");
    MPI_Send(g_out, 1, MPI_CHAR, 1, 2, MPI_COMM_WORLD);
  } else {
    bu_pin(o.cpu2);
    for (;;) {
      MPI_Status st;
      if (MPI_Recv(g_in, g_size, MPI_CHAR, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st) != MPI_SUCCESS)
        bu_die("recv");
      if (st.MPI_TAG == 2) break;
      if (MPI_Send(g_in, g_size, MPI_CHAR, 0, 1, MPI_COMM_WORLD) != MPI_SUCCESS) bu_die("send");
    }
  }
  MPI_Finalize();
  return rc < 0 ? 1 : 0;
}
