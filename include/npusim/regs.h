/* npusim device registers. Generated from arch/regs.yaml by regs_gen: do not edit. */
#ifndef NPUSIM_REGS_H
#define NPUSIM_REGS_H

#include <stdint.h>

#define NPU_REGS_VERSION 1
#define NPU_MMIO_WINDOW_BYTES 65536u

#ifdef __cplusplus
#define NPU_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define NPU_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* DEV_ID (RO): Device identity: 'NPUS'. */
#define NPU_REG_DEV_ID 0x0000u
#define NPU_RESET_DEV_ID 0x5355504Eu
/* VERSION (RO): Architecture and ISA versions. */
#define NPU_REG_VERSION 0x0004u
#define NPU_RESET_VERSION 0x01000100u
#define NPU_VERSION_MAJOR_SHIFT 24u
#define NPU_VERSION_MAJOR_MASK 0xFF000000u /* Architecture major. */
#define NPU_VERSION_MINOR_SHIFT 16u
#define NPU_VERSION_MINOR_MASK 0x00FF0000u /* Architecture minor. */
#define NPU_VERSION_ISA_SHIFT 8u
#define NPU_VERSION_ISA_MASK 0x0000FF00u /* ISA / command-stream version (1). */
#define NPU_VERSION_PATCH_SHIFT 0u
#define NPU_VERSION_PATCH_MASK 0x000000FFu /* Patch level. */
/* PLATFORM (RO): What runs the device, and how slow it is, so drivers can scale their timeouts (as ivpu does). */
#define NPU_REG_PLATFORM 0x0008u
#define NPU_PLATFORM_TYPE_SHIFT 0u
#define NPU_PLATFORM_TYPE_MASK 0x0000000Fu /* 0 silicon, 1 simulator (analytical), 2 simulator (RTL co-simulation), 3 FPGA. */
#define NPU_PLATFORM_TIME_SCALE_SHIFT 16u
#define NPU_PLATFORM_TIME_SCALE_MASK 0xFFFF0000u /* Wall-clock microseconds per 1000 device cycles (hint, saturating). */
/* CONFIG0 (RO): Array and engines. */
#define NPU_REG_CONFIG0 0x000Cu
#define NPU_CONFIG0_ROWS_M1_SHIFT 0u
#define NPU_CONFIG0_ROWS_M1_MASK 0x000000FFu /* MXU rows - 1 (low 8 bits). */
#define NPU_CONFIG0_COLS_M1_SHIFT 8u
#define NPU_CONFIG0_COLS_M1_MASK 0x0000FF00u /* MXU columns - 1 (low 8 bits). */
#define NPU_CONFIG0_ENGINES_SHIFT 16u
#define NPU_CONFIG0_ENGINES_MASK 0x00FF0000u /* Engines present (bit per engine: ctrl, load, store, mxu, vpu). */
#define NPU_CONFIG0_DTYPES_SHIFT 24u
#define NPU_CONFIG0_DTYPES_MASK 0xFF000000u /* MXU dtype mask (bit per ISA dtype: i8, u8, fp16, bf16). */
/* CONFIG1 (RO): SRAM sizes. */
#define NPU_REG_CONFIG1 0x0010u
#define NPU_CONFIG1_SPAD_KIB_SHIFT 0u
#define NPU_CONFIG1_SPAD_KIB_MASK 0x0000FFFFu /* Scratchpad KiB (saturating). */
#define NPU_CONFIG1_ACC_KIB_SHIFT 16u
#define NPU_CONFIG1_ACC_KIB_MASK 0xFFFF0000u /* Accumulator KiB (saturating). */
/* CONFIG2 (RO): Other limits. */
#define NPU_REG_CONFIG2 0x0014u
#define NPU_CONFIG2_LINE_BYTES_SHIFT 0u
#define NPU_CONFIG2_LINE_BYTES_MASK 0x000000FFu /* SRAM line bytes / 8. */
#define NPU_CONFIG2_QUEUES_SHIFT 8u
#define NPU_CONFIG2_QUEUES_MASK 0x00000F00u /* Submission/completion ring pairs. */
#define NPU_CONFIG2_PMU_COUNTERS_SHIFT 12u
#define NPU_CONFIG2_PMU_COUNTERS_MASK 0x0000F000u /* PMU event counters. */
#define NPU_CONFIG2_CLOCK_MHZ_SHIFT 16u
#define NPU_CONFIG2_CLOCK_MHZ_MASK 0xFFFF0000u /* Nominal clock in MHz. */
/* FEATURES (RO): Optional features. */
#define NPU_REG_FEATURES 0x0018u
#define NPU_FEATURES_FAULT_INJECTION_SHIFT 0u
#define NPU_FEATURES_FAULT_INJECTION_MASK 0x00000001u /* Fault injection registers work. */
#define NPU_FEATURES_POWER_MODEL_SHIFT 3u
#define NPU_FEATURES_POWER_MODEL_MASK 0x00000008u /* TEMP/POWER/ENERGY registers follow the power and thermal model. */
#define NPU_FEATURES_RTL_MXU_SHIFT 4u
#define NPU_FEATURES_RTL_MXU_MASK 0x00000010u /* The MXU is the RTL co-simulation. */
/* SCRATCH (RW): Liveness check: reads return the bitwise inverse of what was written (QEMU edu). */
#define NPU_REG_SCRATCH 0x001Cu
#define NPU_RESET_SCRATCH 0x00000000u
/* CONFIG_HASH_LO (RO): Configuration hash, low word (what .npub targets may require). */
#define NPU_REG_CONFIG_HASH_LO 0x0020u
/* CONFIG_HASH_HI (RO): Configuration hash, high word. */
#define NPU_REG_CONFIG_HASH_HI 0x0024u
/* CTRL (RW): Device control. */
#define NPU_REG_CTRL 0x0100u
#define NPU_RESET_CTRL 0x00000000u
#define NPU_CTRL_ENABLE_SHIFT 0u
#define NPU_CTRL_ENABLE_MASK 0x00000001u /* Fetch jobs from the rings. */
#define NPU_CTRL_HALT_ON_ERROR_SHIFT 2u
#define NPU_CTRL_HALT_ON_ERROR_MASK 0x00000004u /* A failing job halts its queue until a soft reset (else the next job runs). */
/* STATUS (RO): Device status. */
#define NPU_REG_STATUS 0x0104u
#define NPU_RESET_STATUS 0x00000002u
#define NPU_STATUS_BUSY_SHIFT 0u
#define NPU_STATUS_BUSY_MASK 0x00000001u /* A job is running (hung). */
#define NPU_STATUS_IDLE_SHIFT 1u
#define NPU_STATUS_IDLE_MASK 0x00000002u /* No job queued or running. */
#define NPU_STATUS_HALTED_SHIFT 2u
#define NPU_STATUS_HALTED_MASK 0x00000004u /* A queue halted on an error. */
#define NPU_STATUS_RESET_PENDING_SHIFT 3u
#define NPU_STATUS_RESET_PENDING_MASK 0x00000008u /* A reset has not completed. */
#define NPU_STATUS_THROTTLED_SHIFT 4u
#define NPU_STATUS_THROTTLED_MASK 0x00000010u /* The governor has lowered the clock. */
/* RESET (WO): Resets; completion clears STATUS.RESET_PENDING and sets INT_STATUS.RESET_DONE. */
#define NPU_REG_RESET 0x0108u
#define NPU_RESET_RESET 0x00000000u
#define NPU_RESET_SOFT_SHIFT 0u
#define NPU_RESET_SOFT_MASK 0x00000001u /* Abort queued jobs (CQ entries ABORTED), clear errors and halts; keep configuration and ring registers. */
#define NPU_RESET_HARD_SHIFT 1u
#define NPU_RESET_HARD_MASK 0x00000002u /* Every register to its reset value, memories of the device cleared. */
/* ERR_STATUS (W1C): One bit per error class seen (bit = error code); bit 31: more than one error since the last clear. */
#define NPU_REG_ERR_STATUS 0x010Cu
#define NPU_RESET_ERR_STATUS 0x00000000u
/* ERR_INFO0 (RO): First error since ERR_STATUS was cleared. */
#define NPU_REG_ERR_INFO0 0x0110u
#define NPU_RESET_ERR_INFO0 0x00000000u
#define NPU_ERR_INFO0_CODE_SHIFT 0u
#define NPU_ERR_INFO0_CODE_MASK 0x000000FFu /* Error code (see Error codes). */
#define NPU_ERR_INFO0_ENGINE_SHIFT 8u
#define NPU_ERR_INFO0_ENGINE_MASK 0x00000700u /* Engine of the failing instruction. */
#define NPU_ERR_INFO0_OPCODE_SHIFT 16u
#define NPU_ERR_INFO0_OPCODE_MASK 0x00FF0000u /* Opcode of the failing instruction (0 when no instruction is to blame). */
#define NPU_ERR_INFO0_QUEUE_SHIFT 24u
#define NPU_ERR_INFO0_QUEUE_MASK 0xFF000000u /* Queue of the failing job. */
/* ERR_INSN (RO): Instruction index of the first error (0xFFFFFFFF: none). */
#define NPU_REG_ERR_INSN 0x0114u
#define NPU_RESET_ERR_INSN 0xFFFFFFFFu
/* ERR_ADDR_LO (RO): Device address of the first error's memory access (bus errors, region bounds; 0: none), low word. */
#define NPU_REG_ERR_ADDR_LO 0x0118u
#define NPU_RESET_ERR_ADDR_LO 0x00000000u
/* ERR_ADDR_HI (RO): Device address of the first error's memory access, high word. */
#define NPU_REG_ERR_ADDR_HI 0x011Cu
#define NPU_RESET_ERR_ADDR_HI 0x00000000u
/* ERR_SEQNO_LO (RO): Job seqno of the first error, low word. */
#define NPU_REG_ERR_SEQNO_LO 0x0120u
#define NPU_RESET_ERR_SEQNO_LO 0x00000000u
/* ERR_SEQNO_HI (RO): Job seqno of the first error, high word. */
#define NPU_REG_ERR_SEQNO_HI 0x0124u
#define NPU_RESET_ERR_SEQNO_HI 0x00000000u
/* WATCHDOG (RW): Device cycles a job may take before a WATCHDOG error (0: the job's own timeout, else off). */
#define NPU_REG_WATCHDOG 0x0128u
#define NPU_RESET_WATCHDOG 0x00000000u
/* CYCLE_LO (RO): Device cycle counter, low word (reading it latches CYCLE_HI). */
#define NPU_REG_CYCLE_LO 0x0130u
#define NPU_RESET_CYCLE_LO 0x00000000u
/* CYCLE_HI (RO): Device cycle counter, high word (as latched). */
#define NPU_REG_CYCLE_HI 0x0134u
#define NPU_RESET_CYCLE_HI 0x00000000u
/* INT_STATUS (W1C): Interrupt causes; the level interrupt is asserted while INT_STATUS & INT_ENABLE != 0. */
#define NPU_REG_INT_STATUS 0x0200u
#define NPU_RESET_INT_STATUS 0x00000000u
#define NPU_INT_STATUS_JOB_DONE_SHIFT 0u
#define NPU_INT_STATUS_JOB_DONE_MASK 0x00000001u /* A completion entry was written. */
#define NPU_INT_STATUS_QUEUE_IDLE_SHIFT 1u
#define NPU_INT_STATUS_QUEUE_IDLE_MASK 0x00000002u /* Every queue drained. */
#define NPU_INT_STATUS_ERROR_SHIFT 2u
#define NPU_INT_STATUS_ERROR_MASK 0x00000004u /* A job failed. */
#define NPU_INT_STATUS_USER_SHIFT 3u
#define NPU_INT_STATUS_USER_MASK 0x00000008u /* An irq instruction completed (IRQ_CODE). */
#define NPU_INT_STATUS_WATCHDOG_SHIFT 5u
#define NPU_INT_STATUS_WATCHDOG_MASK 0x00000020u /* A job exceeded its cycle budget. */
#define NPU_INT_STATUS_RESET_DONE_SHIFT 7u
#define NPU_INT_STATUS_RESET_DONE_MASK 0x00000080u /* A reset completed. */
/* INT_ENABLE (RW): Interrupt enables (bit per INT_STATUS cause). */
#define NPU_REG_INT_ENABLE 0x0204u
#define NPU_RESET_INT_ENABLE 0x00000000u
/* INT_SET (WO): Software-raised interrupt causes (driver interrupt-path tests). */
#define NPU_REG_INT_SET 0x0208u
#define NPU_RESET_INT_SET 0x00000000u
/* IRQ_CODE (RO): Code of the last irq instruction. */
#define NPU_REG_IRQ_CODE 0x020Cu
#define NPU_RESET_IRQ_CODE 0x00000000u
/* PMCR (RW): PMU control. */
#define NPU_REG_PMCR 0x2000u
#define NPU_RESET_PMCR 0x00000000u
#define NPU_PMCR_E_SHIFT 0u
#define NPU_PMCR_E_MASK 0x00000001u /* Count. */
#define NPU_PMCR_P_SHIFT 1u
#define NPU_PMCR_P_MASK 0x00000002u /* Write 1: reset the event counters. */
#define NPU_PMCR_C_SHIFT 2u
#define NPU_PMCR_C_MASK 0x00000004u /* Write 1: reset the cycle counter. */
/* PMCCNTR_LO (RO): Cycles spent in jobs while PMCR.E, low word. */
#define NPU_REG_PMCCNTR_LO 0x2010u
#define NPU_RESET_PMCCNTR_LO 0x00000000u
/* PMCCNTR_HI (RO): High word. */
#define NPU_REG_PMCCNTR_HI 0x2014u
#define NPU_RESET_PMCCNTR_HI 0x00000000u
/* PMEVTYPER (RW): Event of counter i (see PMU events). */
#define NPU_REG_PMEVTYPER(i) (0x2020u + (i) * 4u)
#define NPU_REG_PMEVTYPER_COUNT 4u
#define NPU_RESET_PMEVTYPER 0x00000000u
/* PMEVCNTR_LO (RO): Counter i, low word. */
#define NPU_REG_PMEVCNTR_LO(i) (0x2040u + (i) * 8u)
#define NPU_REG_PMEVCNTR_LO_COUNT 4u
#define NPU_RESET_PMEVCNTR_LO 0x00000000u
/* PMEVCNTR_HI (RO): Counter i, high word. */
#define NPU_REG_PMEVCNTR_HI(i) (0x2044u + (i) * 8u)
#define NPU_REG_PMEVCNTR_HI_COUNT 4u
#define NPU_RESET_PMEVCNTR_HI 0x00000000u
/* TEMP_MC (RO): Die temperature in milli-degrees C (starts at the ambient). */
#define NPU_REG_TEMP_MC 0x3000u
/* POWER_MW (RO): Average power of the last job in mW. */
#define NPU_REG_POWER_MW 0x3004u
#define NPU_RESET_POWER_MW 0x00000000u
/* THROTTLE_LEVEL (RO): Governor level (0: fastest operating point). */
#define NPU_REG_THROTTLE_LEVEL 0x3008u
#define NPU_RESET_THROTTLE_LEVEL 0x00000000u
/* ENERGY_UJ_LO (RO): Energy of all jobs in microjoules, low word. */
#define NPU_REG_ENERGY_UJ_LO 0x3010u
#define NPU_RESET_ENERGY_UJ_LO 0x00000000u
/* ENERGY_UJ_HI (RO): High word. */
#define NPU_REG_ENERGY_UJ_HI 0x3014u
#define NPU_RESET_ENERGY_UJ_HI 0x00000000u
/* FI_CTRL (RW): Fault injection: armed for the next job(s); cleared when used up. */
#define NPU_REG_FI_CTRL 0x4000u
#define NPU_RESET_FI_CTRL 0x00000000u
#define NPU_FI_CTRL_TYPE_SHIFT 0u
#define NPU_FI_CTRL_TYPE_MASK 0x0000000Fu /* Fault (see Fault injection types); 0: none. */
#define NPU_FI_CTRL_COUNT_SHIFT 8u
#define NPU_FI_CTRL_COUNT_MASK 0x0000FF00u /* Jobs (or resets, STUCK_RESET) it applies to; 0 counts as 1. */
/* FI_ARG (RW): Argument: instruction index (BUS_ERROR, ECC, HANG_ENGINE) or slow-down factor (SLOW_DRAM). */
#define NPU_REG_FI_ARG 0x4004u
#define NPU_RESET_FI_ARG 0x00000000u
/* ENGINE_PC (RO): Instruction index each engine was at when the last job stopped. */
#define NPU_REG_ENGINE_PC(i) (0x4100u + (i) * 4u)
#define NPU_REG_ENGINE_PC_COUNT 5u
#define NPU_RESET_ENGINE_PC 0x00000000u

/* Ring pair q (0..3) */
#define NPU_QUEUES 4u
#define NPU_Q_SQ_BASE_LO(q) (0x1000u + (q) * 0x40u + 0x00u) /* RW: Submission ring base (device address, 64-byte aligned), low word. */
#define NPU_Q_SQ_BASE_HI(q) (0x1000u + (q) * 0x40u + 0x04u) /* RW: High word. */
#define NPU_Q_SQ_SIZE(q) (0x1000u + (q) * 0x40u + 0x08u) /* RW: Submission ring entries (a power of two; 0: queue unused). */
#define NPU_Q_SQ_HEAD(q) (0x1000u + (q) * 0x40u + 0x0Cu) /* RO: Device consumer index. */
#define NPU_Q_CQ_BASE_LO(q) (0x1000u + (q) * 0x40u + 0x10u) /* RW: Completion ring base, low word. */
#define NPU_Q_CQ_BASE_HI(q) (0x1000u + (q) * 0x40u + 0x14u) /* RW: High word. */
#define NPU_Q_CQ_SIZE(q) (0x1000u + (q) * 0x40u + 0x18u) /* RW: Completion ring entries (a power of two). */
#define NPU_Q_CQ_TAIL(q) (0x1000u + (q) * 0x40u + 0x1Cu) /* RO: Device producer index. */
#define NPU_Q_FENCE_LO(q) (0x1000u + (q) * 0x40u + 0x20u) /* RW: Device address where the last completed seqno (u64) is written (0: none), low word. */
#define NPU_Q_FENCE_HI(q) (0x1000u + (q) * 0x40u + 0x24u) /* RW: High word. */
#define NPU_Q_Q_CTRL(q) (0x1000u + (q) * 0x40u + 0x28u) /* RW: Bit 0 enable; bits 3:1 priority (higher runs first). */
#define NPU_Q_Q_STATUS(q) (0x1000u + (q) * 0x40u + 0x2Cu) /* RO: Bit 0 idle, bit 1 halted (error), bits 31:16 jobs in flight. */
#define NPU_DB_SQ_DOORBELL(q) (0x8000u + (q) * 0x1000u + 0x0u) /* New submission tail: the device fetches up to it. */
#define NPU_DB_CQ_DOORBELL(q) (0x8000u + (q) * 0x1000u + 0x4u) /* New completion head: entries consumed by the driver. */

/* error_codes */
#define NPU_ERR_NONE 0u
#define NPU_ERR_REGION_BOUNDS 1u
#define NPU_ERR_SRAM_BOUNDS 2u
#define NPU_ERR_SEM_OVERFLOW 3u
#define NPU_ERR_SEM_CONSUMER 4u
#define NPU_ERR_DEADLOCK 5u
#define NPU_ERR_WATCHDOG 6u
#define NPU_ERR_TARGET_MISMATCH 7u
#define NPU_ERR_BAD_BINDING 8u
#define NPU_ERR_COSIM_MISMATCH 9u
#define NPU_ERR_THERMAL_CRITICAL 10u
#define NPU_ERR_JOB_INVALID 16u
#define NPU_ERR_BUS_ERROR 17u
#define NPU_ERR_ECC 18u

/* job_status */
#define NPU_JOB_OK 0u
#define NPU_JOB_ERROR 1u
#define NPU_JOB_ABORTED 2u
#define NPU_JOB_TIMEOUT 3u

/* fault_injection */
#define NPU_FI_NONE 0u
#define NPU_FI_BUS_ERROR 1u
#define NPU_FI_ECC 2u
#define NPU_FI_DROP_IRQ 3u
#define NPU_FI_SPURIOUS_IRQ 4u
#define NPU_FI_HANG_ENGINE 5u
#define NPU_FI_SLOW_DRAM 6u
#define NPU_FI_STUCK_RESET 7u

/* pmu_events */
#define NPU_PMU_CYCLES 0u
#define NPU_PMU_INSTRUCTIONS 1u
#define NPU_PMU_MXU_MACS 2u
#define NPU_PMU_DRAM_READ_BYTES 3u
#define NPU_PMU_DRAM_WRITE_BYTES 4u
#define NPU_PMU_MXU_BUSY_CYCLES 5u
#define NPU_PMU_VPU_BUSY_CYCLES 6u
#define NPU_PMU_LOAD_BUSY_CYCLES 7u
#define NPU_PMU_STORE_BUSY_CYCLES 8u
#define NPU_PMU_SEM_WAIT_CYCLES 9u
#define NPU_PMU_JOBS 10u

/* Submission ring entry. (64 bytes, little-endian) */
typedef struct npu_job_entry {
  uint32_t magic; /* 'JOB1' (0x31424F4A). */
  uint32_t flags; /* Bit 0 IRQ_ON_DONE; other bits reserved (zero). */
  uint64_t seqno; /* Driver-chosen sequence number, echoed in the completion. */
  uint64_t program_addr; /* Device address of the job's .npub container. */
  uint32_t program_bytes; /* Its size. */
  uint32_t timeout_cycles; /* Cycle budget (0: the WATCHDOG register). */
  uint64_t region_table_addr; /* Device address of 16 x {u64 address, u64 size}: where each program region lives (address 0 for a const region: use the container's data). */
  uint32_t region_count; /* Entries in the region table (the program's region count). */
  uint8_t reserved0[20];
} npu_job_entry;
NPU_STATIC_ASSERT(sizeof(npu_job_entry) == 64, "npu_job_entry");

/* Completion ring entry. (32 bytes, little-endian) */
typedef struct npu_completion_entry {
  uint64_t seqno; /* The job's seqno. */
  uint32_t status; /* Job status (OK, ERROR, ABORTED, TIMEOUT). */
  uint32_t err_code; /* Error code when ERROR. */
  uint32_t err_insn; /* Instruction index of the error (0xFFFFFFFF: none). */
  uint16_t err_engine; /* Engine of the error. */
  uint8_t phase; /* Phase bit: flips each time the ring wraps (first pass: 1). */
  uint8_t reserved0[1];
  uint64_t cycles; /* Job duration in device cycles. */
} npu_completion_entry;
NPU_STATIC_ASSERT(sizeof(npu_completion_entry) == 32, "npu_completion_entry");
#define NPU_JOB_MAGIC 0x31424F4Au /* 'JOB1' */
#define NPU_JOB_FLAG_IRQ_ON_DONE 1u

#endif /* NPUSIM_REGS_H */
