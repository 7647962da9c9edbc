/* npusim's C API for user-mode drivers and runtimes: open a device, create buffer objects with
 * device addresses, submit jobs to ring pairs, wait for their completion with an absolute timeout,
 * read per-job counters, reset, inject faults, and reach the registers directly
 * (include/npusim/regs.h, docs/registers.md). Shaped like a Linux accel UAPI (ivpu, amdxdna,
 * ethosu) so the calls could become ioctls.
 *
 * Transports: "sim:CONFIG.yaml" runs the device in this process, deterministically (jobs run when
 * their doorbell is written; device time is simulated); "unix:PATH" reaches `npusim serve` over its
 * socket (include/npusim/wire.h), sharing buffers as memfds. Usable from C and C++. */
#ifndef NPUSIM_NPU_H
#define NPUSIM_NPU_H

#include <stddef.h>
#include <stdint.h>

#include "npusim/regs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. */
#define NPU_OK 0
#define NPU_EINVAL (-1)    /* bad argument, handle or struct_size */
#define NPU_ENOENT (-2)    /* no such device, config, seqno or buffer */
#define NPU_ENOMEM (-3)    /* out of device address space */
#define NPU_ETIMEDOUT (-4) /* the deadline passed first */
#define NPU_EIO (-5)       /* the device reported an error (see npu_result) */
#define NPU_EBUSY (-6)     /* the submission ring is full */
#define NPU_EPERM (-7)     /* the register belongs to another client's queue (npusim serve) */

typedef struct npu_device npu_device;

/* Identity and configuration (npu_query NPU_QUERY_IDENTITY). */
typedef struct npu_identity {
  uint32_t dev_id, version, platform, config0, config1, config2, features;
  uint32_t queues; /* queues this handle submits to (0..queues-1): all 4 in-process, one per socket client */
  uint64_t config_hash;
  uint64_t clock_hz;
} npu_identity;
#define NPU_QUERY_IDENTITY 1u

/* A job: an .npub program and the buffer objects its regions live in. struct_size = sizeof(npu_job)
 * (so the struct can grow). A const region may be left unbound (bo 0): the program's own data is used. */
typedef struct npu_job {
  uint32_t struct_size;
  uint32_t flags; /* NPU_JOB_FLAG_IRQ_ON_DONE */
  uint32_t program_bo;
  uint32_t region_count;
  uint64_t program_offset, program_bytes;
  uint32_t region_bo[16];
  uint64_t region_offset[16];
  uint32_t timeout_cycles; /* 0: the WATCHDOG register */
  uint32_t reserved;
} npu_job;

/* How a job ended. */
typedef struct npu_result {
  uint32_t status;     /* NPU_JOB_OK, ERROR, ABORTED, TIMEOUT */
  uint32_t err_code;   /* NPU_ERR_* when status is ERROR or TIMEOUT */
  uint32_t err_insn;   /* instruction index, 0xFFFFFFFF if none */
  uint32_t err_engine; /* engine of that instruction */
  uint64_t cycles;     /* job duration in device cycles */
} npu_result;

/* Per-job counters (the PMU events). */
typedef struct npu_perf_counts {
  uint64_t cycles, instructions, macs, dram_read_bytes, dram_write_bytes;
  uint64_t mxu_busy_cycles, vpu_busy_cycles, load_busy_cycles, store_busy_cycles, sem_wait_cycles;
  double energy_joules;
} npu_perf_counts;

/* "sim:CONFIG.yaml" (the device in this process) or "unix:SOCKET" (`npusim serve`). NPU_ENOENT: no
 * such file or server; NPU_EINVAL: a config the schema rejects; NPU_EBUSY: every queue of the server
 * is taken. npu_last_error() says which. */
int npu_open(const char* uri, npu_device** out);
void npu_close(npu_device* dev);
/* Size negotiation: *size in = buffer size, out = bytes written (or needed). */
int npu_query(npu_device* dev, uint32_t what, void* buf, size_t* size);

int npu_bo_create(npu_device* dev, uint64_t size, uint32_t* handle, uint64_t* dev_addr);
void* npu_bo_map(npu_device* dev, uint32_t handle);
int npu_bo_sync(npu_device* dev, uint32_t handle); /* coherent here, but drivers must call it */
int npu_bo_destroy(npu_device* dev, uint32_t handle);

int npu_submit(npu_device* dev, uint32_t queue, const npu_job* job, uint64_t* seqno);
/* Waits until job `seqno` completes or device time reaches `deadline_ns` (npu_time_ns clock).
 * NPU_OK (status OK), NPU_EIO (ERROR or ABORTED; details in *result), NPU_ETIMEDOUT. */
int npu_wait(npu_device* dev, uint64_t seqno, uint64_t deadline_ns, npu_result* result);
uint64_t npu_time_ns(npu_device* dev);
int npu_perf(npu_device* dev, uint64_t seqno, npu_perf_counts* out);

#define NPU_RESET_KIND_SOFT 1u
#define NPU_RESET_KIND_HARD 2u
/* Resets and waits for RESET_DONE; NPU_ETIMEDOUT when the reset does not complete (STUCK_RESET). */
int npu_reset(npu_device* dev, uint32_t kind);
/* Arms a fault (NPU_FI_*) for the next `count` jobs (or resets); `arg` as FI_ARG. */
int npu_fault_inject(npu_device* dev, uint32_t type, uint32_t count, uint32_t arg);

/* Registers (offsets in regs.h); NPU_EINVAL outside the window or not 4-byte aligned; NPU_EPERM
 * (npusim serve) for a register of a queue this client does not own, or any but the identity
 * registers before the session's HELLO. */
int npu_mmio_read(npu_device* dev, uint32_t offset, uint32_t* value);
int npu_mmio_write(npu_device* dev, uint32_t offset, uint32_t value);
/* Current level of the interrupt line. */
int npu_irq_level(npu_device* dev);

/* The regions an .npub program needs (what its job must bind), read from the container. */
typedef struct npu_region_info {
  uint64_t size; /* bytes */
  uint32_t role; /* NPU_REGION_INPUT, OUTPUT, CONST (may stay unbound), SCRATCH */
  char name[52]; /* NUL-terminated */
} npu_region_info;
#define NPU_REGION_INPUT 0u
#define NPU_REGION_OUTPUT 1u
#define NPU_REGION_CONST 2u
#define NPU_REGION_SCRATCH 3u
/* *count in: capacity of `out`; out: regions in the program. NPU_EINVAL for a malformed container. */
int npu_program_regions(const void* npub, size_t bytes, npu_region_info* out, uint32_t* count);

/* The tensors an .npub program binds (its IO table), with the user-facing element type and layout
 * `npusim compile` records (docs/npub-format.md, IO): what a host converts a model's own tensors
 * from and to (float32 NCHW for a float32 NCHW model), as `npusim run` does. */
typedef struct npu_io_info {
  char name[52];      /* NUL-terminated */
  uint32_t region;    /* the region its bytes live in (npu_program_regions' index) */
  uint32_t role;      /* NPU_REGION_INPUT or NPU_REGION_OUTPUT */
  uint32_t dtype;     /* device element type: NPU_DTYPE_* */
  uint32_t host_type; /* the user's: NPU_HOST_DEVICE (dtype itself), NPU_HOST_F32, NPU_HOST_I64, NPU_HOST_BOOL */
  uint32_t host_nchw; /* 1: rank 4, the user's [N, C, H, W] is stored as dims [N, H, W, C] */
  uint32_t rank;      /* 1..4 */
  uint32_t dims[4];   /* device shape, outermost first */
  uint64_t offset;    /* byte offset in the region */
} npu_io_info;
#define NPU_DTYPE_I8 0u
#define NPU_DTYPE_U8 1u
#define NPU_DTYPE_I16 2u
#define NPU_DTYPE_I32 3u
#define NPU_DTYPE_FP16 4u
#define NPU_DTYPE_BF16 5u
#define NPU_DTYPE_FP32 6u
#define NPU_HOST_DEVICE 0u
#define NPU_HOST_F32 1u
#define NPU_HOST_I64 2u
#define NPU_HOST_BOOL 3u
/* *count in: capacity of `out`; out: IO tensors in the program. NPU_EINVAL for a malformed container. */
int npu_program_io(const void* npub, size_t bytes, npu_io_info* out, uint32_t* count);
/* Converts one tensor in the user's format (host_type elements in the user's layout, C order) to
 * device bytes, and back. Byte counts must be exact (elements x element size); NPU_EINVAL
 * otherwise, or for an int64 outside the int32 range the device holds it in. */
int npu_io_to_device(const npu_io_info* io, const void* user, size_t user_bytes, void* device, size_t device_bytes);
int npu_io_from_device(const npu_io_info* io, const void* device, size_t device_bytes, void* user, size_t user_bytes);

const char* npu_strerror(int code);
/* Why the last failing call on this thread failed, in words ("" when it gave no reason): the
 * config's file:line and key for npu_open("sim:..."), the connect error for "unix:...", or the
 * server's ERROR text for any call over the socket. */
const char* npu_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* NPUSIM_NPU_H */
