/* npusim's socket protocol (npusim serve --socket PATH), the one definition of its messages. A
 * driver in any language can speak it: see docs/wire-protocol.md.
 *
 * Every message is a 24-byte header followed by `len` payload bytes, all little-endian, on a UNIX
 * stream socket. Host memory is shared, not copied: MEM_ADD carries a memfd (SCM_RIGHTS) that the
 * server maps at the given device address. The server answers every request with exactly one
 * reply carrying the same req_id (or ERROR); IRQ messages come unsolicited whenever the interrupt
 * line changes, to every client, and to the client whose request changed it just before its reply. Jobs run when their doorbell is written, before the
 * write's ACK: the server is deterministic ("lockstep"); SYNC advances device time while idle. */
#ifndef NPUSIM_WIRE_H
#define NPUSIM_WIRE_H

#include <stdint.h>

#define NPU_WIRE_VERSION 1u
#define NPU_WIRE_MAX_PAYLOAD 4096u /* larger `len` is a protocol error (the server closes the connection) */

typedef struct npu_wire_header {
  uint16_t type;         /* NPU_MSG_* */
  uint16_t flags;        /* 0 */
  uint32_t len;          /* payload bytes */
  uint64_t req_id;       /* echoed in the reply */
  uint64_t device_cycle; /* replies: the device cycle counter after the request */
} npu_wire_header;

/* Client -> server requests (payload), server -> client replies. */
/* HELLO {u32 version} -> HELLO_ACK {u32 version, u32 dev_id, u64 config_hash, u64 clock_hz, u32 queue,
 * u32 reserved, u64 window_base, u64 window_size}: the client owns ring pair `queue` and places its
 * buffers at device addresses inside its window; both are released when it disconnects. */
#define NPU_MSG_HELLO 1u
#define NPU_MSG_HELLO_ACK 2u
#define NPU_MSG_MEM_ADD 3u          /* {u64 device_addr, u64 size} + memfd (MFD_ALLOW_SEALING, >= size bytes; sealed against shrinking) -> ACK */
#define NPU_MSG_MEM_REMOVE 4u       /* {u64 device_addr} -> ACK */
#define NPU_MSG_MMIO_READ 5u        /* {u32 offset} -> MMIO_READ_RESP {u32 value} */
#define NPU_MSG_MMIO_READ_RESP 6u
#define NPU_MSG_MMIO_WRITE 7u       /* {u32 offset, u32 value} -> ACK */
#define NPU_MSG_SYNC 8u             /* {u64 until_cycle}: idle until then -> ACK */
#define NPU_MSG_PERF 9u             /* {u64 seqno} -> PERF_RESP {11 x u64: npu_perf_counts, energy in pJ} */
#define NPU_MSG_PERF_RESP 10u
#define NPU_MSG_ACK 11u             /* {} */
#define NPU_MSG_ERROR 12u           /* {i32 code (NPU_E*), char message[]} */
#define NPU_MSG_IRQ 13u             /* server -> client, unsolicited: {u32 level} */
#define NPU_MSG_BYE 14u             /* -> ACK, then the server closes the connection */

#endif /* NPUSIM_WIRE_H */
