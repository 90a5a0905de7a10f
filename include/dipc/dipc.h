/* DIPC public header: the one flag a program adds to msgget/semget/shmget.
 *
 * IPC_DIPC makes the object distributed across the cluster. The value is the one Linux
 * reserves for DIPC in include/uapi/linux/ipc.h; glibc's <sys/ipc.h> does not define it,
 * so programs may include this header or define the value themselves. */
#ifndef DIPC_DIPC_H
#define DIPC_DIPC_H
#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif
#endif
