/* An example user-mode driver in C for npusim's device (include/npusim/npu.h): it opens the
 * device, checks its identity, loads a compiled program (.npub) into a buffer object, binds the
 * program's regions to buffer objects, submits the job with an interrupt on completion, waits,
 * checks the interrupt, reads the outputs and the job's PMU counters; then it injects a bus error,
 * sees the job fail with the error code and instruction index, recovers with a soft reset and runs
 * the job again, which must give the same outputs and cycles.
 *
 *   driver [sim:]CONFIG.yaml|unix:SOCKET PROGRAM.npub      (exit 0 when everything behaved as documented) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npusim/npu.h"

#define CHECK(call)                                                                        \
  do {                                                                                     \
    int rc_ = (call);                                                                      \
    if (rc_ != NPU_OK) {                                                                   \
      fprintf(stderr, "%s:%d: %s: %s%s%s\n", __FILE__, __LINE__, #call, npu_strerror(rc_), \
              *npu_last_error() ? ": " : "", npu_last_error());                            \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* buf = malloc((size_t)n);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static int irq_seen; /* the interrupt line after the last submission */

/* Runs the job once; returns the npu_wait code and fills *res. */
static int run(npu_device* dev, const npu_job* job, npu_result* res, uint64_t* seqno) {
  CHECK(npu_submit(dev, 0, job, seqno));
  irq_seen = npu_irq_level(dev); /* JOB_DONE (or ERROR) is pending until npu_wait acknowledges it */
  return npu_wait(dev, *seqno, npu_time_ns(dev) + 1000000000ull, res); /* 1 s of device time */
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s [sim:]CONFIG.yaml|unix:SOCKET PROGRAM.npub\n", argv[0]);
    return 2;
  }
  char uri[4096];
  /* A config file runs the device in this process; "unix:PATH" reaches `npusim serve`. */
  if (strncmp(argv[1], "unix:", 5) == 0 || strncmp(argv[1], "sim:", 4) == 0)
    snprintf(uri, sizeof uri, "%s", argv[1]);
  else
    snprintf(uri, sizeof uri, "sim:%s", argv[1]);
  npu_device* dev = NULL;
  CHECK(npu_open(uri, &dev));

  npu_identity id;
  size_t size = sizeof id;
  CHECK(npu_query(dev, NPU_QUERY_IDENTITY, &id, &size));
  if (id.dev_id != 0x5355504Eu) {
    fprintf(stderr, "not an npusim device: 0x%08x\n", id.dev_id);
    return 1;
  }
  printf("device 0x%08x version 0x%08x platform %u, %ux%u MXU at %llu MHz\n", id.dev_id, id.version, id.platform & 0xF,
         (id.config0 & 0xFF) + 1, ((id.config0 >> 8) & 0xFF) + 1, (unsigned long long)(id.clock_hz / 1000000));

  /* The program into a buffer object; one buffer object per region it needs. */
  size_t bytes = 0;
  unsigned char* npub = read_file(argv[2], &bytes);
  if (!npub) {
    fprintf(stderr, "%s: cannot read\n", argv[2]);
    return 1;
  }
  npu_region_info regions[16];
  uint32_t count = 16;
  CHECK(npu_program_regions(npub, bytes, regions, &count));
  npu_job job;
  memset(&job, 0, sizeof job);
  job.struct_size = sizeof job;
  job.flags = NPU_JOB_FLAG_IRQ_ON_DONE;
  uint64_t addr;
  CHECK(npu_bo_create(dev, bytes, &job.program_bo, &addr));
  memcpy(npu_bo_map(dev, job.program_bo), npub, bytes);
  CHECK(npu_bo_sync(dev, job.program_bo));
  job.program_bytes = bytes;
  job.region_count = count;
  for (uint32_t i = 0; i < count; ++i) {
    if (regions[i].role == NPU_REGION_CONST) continue; /* the program's own data */
    CHECK(npu_bo_create(dev, regions[i].size, &job.region_bo[i], &addr));
    unsigned char* p = npu_bo_map(dev, job.region_bo[i]);
    if (regions[i].role == NPU_REGION_INPUT)
      for (uint64_t k = 0; k < regions[i].size; ++k) p[k] = (unsigned char)(k * 7 + i); /* a pattern */
    CHECK(npu_bo_sync(dev, job.region_bo[i]));
  }

  /* Run, wait, look at the interrupt, read the outputs and the counters. */
  npu_result res;
  uint64_t seqno;
  CHECK(run(dev, &job, &res, &seqno));
  printf("job %llu: status %u, %llu cycles, interrupt %s\n", (unsigned long long)seqno, res.status,
         (unsigned long long)res.cycles, irq_seen ? "raised" : "MISSING");
  if (!irq_seen) return 1;
  uint64_t checksum = 0;
  for (uint32_t i = 0; i < count; ++i)
    if (regions[i].role == NPU_REGION_OUTPUT) {
      const unsigned char* p = npu_bo_map(dev, job.region_bo[i]);
      for (uint64_t k = 0; k < regions[i].size; ++k) checksum = checksum * 31 + p[k];
      printf("output %s: %llu bytes, first %02x %02x %02x %02x\n", regions[i].name, (unsigned long long)regions[i].size,
             p[0], p[1], p[2], p[3]);
    }
  npu_perf_counts perf;
  CHECK(npu_perf(dev, seqno, &perf));
  printf("perf: %llu cycles, %llu instructions, %llu MACs, %llu DRAM bytes read, %.3g uJ\n",
         (unsigned long long)perf.cycles, (unsigned long long)perf.instructions, (unsigned long long)perf.macs,
         (unsigned long long)perf.dram_read_bytes, perf.energy_joules * 1e6);
  const uint64_t first_cycles = res.cycles;

  /* A bus error on the first DMA: the job fails, naming the error and the instruction. */
  CHECK(npu_fault_inject(dev, NPU_FI_BUS_ERROR, 1, 0));
  int rc = run(dev, &job, &res, &seqno);
  uint32_t err_info = 0, err_insn = 0;
  CHECK(npu_mmio_read(dev, NPU_REG_ERR_INFO0, &err_info));
  CHECK(npu_mmio_read(dev, NPU_REG_ERR_INSN, &err_insn));
  printf("injected bus error: %s, status %u, error %u at instruction %u (ERR_INFO0 0x%08x)\n", npu_strerror(rc),
         res.status, res.err_code, res.err_insn, err_info);
  if (rc != NPU_EIO || res.err_code != NPU_ERR_BUS_ERROR || (err_info & 0xFF) != NPU_ERR_BUS_ERROR ||
      err_insn != res.err_insn) {
    fprintf(stderr, "the bus error was not reported as documented\n");
    return 1;
  }

  /* Recover: soft reset, then the same job again. */
  CHECK(npu_reset(dev, NPU_RESET_KIND_SOFT));
  CHECK(run(dev, &job, &res, &seqno));
  uint64_t again = 0;
  for (uint32_t i = 0; i < count; ++i)
    if (regions[i].role == NPU_REGION_OUTPUT) {
      const unsigned char* p = npu_bo_map(dev, job.region_bo[i]);
      for (uint64_t k = 0; k < regions[i].size; ++k) again = again * 31 + p[k];
    }
  printf("after the reset: status %u, %llu cycles, outputs %s\n", res.status, (unsigned long long)res.cycles,
         again == checksum ? "identical" : "DIFFERENT");
  npu_close(dev);
  free(npub);
  return again == checksum && res.cycles == first_cycles ? 0 : 1;
}
