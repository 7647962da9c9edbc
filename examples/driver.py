#!/usr/bin/python3
"""A user-mode driver for npusim's device in Python, written from the documents alone
(docs/wire-protocol.md, docs/registers.md, docs/npub-format.md) and not the C API: the proof that
they are enough for a driver in another language.

It connects to `npusim serve`, shares one memfd holding its rings, the program and the program's
regions, programs its queue's ring registers, submits the program as one job, reads the completion
entry (the device runs a job before it acknowledges the doorbell write), checks the fence, and
writes each output tensor as raw bytes.

    examples/driver.py SOCKET PROGRAM.npub [--input NAME=FILE.bin ...] [--out DIR]

Prints `job 1: status S, error E at instruction I, C cycles` and exits 0 when the job succeeded,
1 when the device failed it, 2 on a usage or protocol error. Standard library only (Python 3.9+).
"""
import argparse
import mmap
import os
import socket
import struct
import sys

# docs/wire-protocol.md: a 24-byte header (type, flags, len, req_id, device_cycle), then len bytes.
HEADER = struct.Struct("<HHIQQ")
HELLO, HELLO_ACK, MEM_ADD, MMIO_READ, MMIO_READ_RESP, MMIO_WRITE = 1, 2, 3, 5, 6, 7
ACK, ERROR, IRQ, BYE = 11, 12, 13, 14

# docs/registers.md.
REG_DEV_ID, REG_CTRL, REG_INT_STATUS, REG_INT_ENABLE = 0x0000, 0x0100, 0x0200, 0x0204
CTRL_ENABLE, INT_JOB_DONE, INT_ERROR = 1 << 0, 1 << 0, 1 << 2
QUEUE_BASE, QUEUE_STRIDE = 0x1000, 0x40  # ring registers of queue q at QUEUE_BASE + q * QUEUE_STRIDE +
SQ_BASE_LO, SQ_BASE_HI, SQ_SIZE, CQ_BASE_LO, CQ_BASE_HI, CQ_SIZE = 0x00, 0x04, 0x08, 0x10, 0x14, 0x18
FENCE_LO, FENCE_HI, Q_CTRL = 0x20, 0x24, 0x28
DOORBELL_BASE, DOORBELL_STRIDE = 0x8000, 0x1000  # SQ_DOORBELL of queue q (offset 0 in its page)
JOB = struct.Struct("<IIQQIIQI20x")  # magic, flags, seqno, program_addr, program_bytes, timeout, table, count
JOB_MAGIC, JOB_IRQ_ON_DONE = 0x31424F4A, 1
COMPLETION = struct.Struct("<QIIIHBxQ")  # seqno, status, err_code, err_insn, err_engine, phase, cycles

# docs/npub-format.md.
SECTION = struct.Struct("<IIII")  # type, flags, offset, size
REGION = struct.Struct("<IB3xQIIII")  # name, role, size, align, const_offset, const_size, reserved
IO = struct.Struct("<IBBBx4IQfi8x")  # name, region, dtype, rank, dims[4], offset, scale, zero_point
REGIONS, CONST, IOS, STRTAB = 4, 5, 6, 9
ROLE_INPUT, ROLE_OUTPUT, ROLE_SCRATCH, ROLE_CONST = 0, 1, 2, 3
DTYPE_BYTES = {0: 1, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2, 6: 4}  # i8 u8 i16 i32 fp16 bf16 fp32


class DeviceError(Exception):
    """An ERROR reply or a broken connection."""


class Connection:
    """One client of `npusim serve`: requests and their replies; IRQ messages update `irq`."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.req = 0
        self.irq = 0

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise DeviceError("npusim serve closed the connection")
            data += chunk
        return data

    def call(self, msg_type, payload=b"", fds=()):
        self.req += 1
        frame = HEADER.pack(msg_type, 0, len(payload), self.req, 0) + payload
        if fds:
            socket.send_fds(self.sock, [frame], list(fds))  # the memfd as SCM_RIGHTS
        else:
            self.sock.sendall(frame)
        while True:
            kind, _, length, req, _ = HEADER.unpack(self._read(HEADER.size))
            body = self._read(length)
            if kind == IRQ:  # unsolicited: the interrupt line changed
                self.irq = struct.unpack("<I", body)[0]
                continue
            if kind == ERROR:
                code = struct.unpack_from("<i", body)[0]
                raise DeviceError(f"npusim serve: {body[4:].decode(errors='replace')} (code {code})")
            if req != self.req:
                raise DeviceError(f"reply to request {req}, expected {self.req}")
            return kind, body

    def write(self, offset, value):
        self.call(MMIO_WRITE, struct.pack("<II", offset, value & 0xFFFFFFFF))

    def read(self, offset):
        kind, body = self.call(MMIO_READ, struct.pack("<I", offset))
        assert kind == MMIO_READ_RESP
        return struct.unpack("<I", body)[0]


def parse_npub(data):
    """Regions [(name, role, size, align, init bytes)] and I/O tensors [(name, region, bytes, offset)]."""
    if data[:4] != b"NPUB":
        raise ValueError("not an .npub container (bad magic)")
    count, table = struct.unpack_from("<H", data, 36)[0], struct.unpack_from("<I", data, 40)[0]
    sections = {}
    for i in range(count):
        kind, _, offset, size = SECTION.unpack_from(data, table + SECTION.size * i)
        sections[kind] = data[offset:offset + size]
    strtab = sections[STRTAB]

    def name(at):
        return strtab[at:strtab.index(b"\0", at)].decode()

    const = sections.get(CONST, b"")
    regions = []
    for i in range(len(sections.get(REGIONS, b"")) // REGION.size):
        nm, role, size, align, c_off, c_size, _ = REGION.unpack_from(sections[REGIONS], REGION.size * i)
        regions.append((name(nm), role, size, align, const[c_off:c_off + c_size]))
    ios = []
    for i in range(len(sections.get(IOS, b"")) // IO.size):
        nm, region, dtype, rank, d0, d1, d2, d3, offset, _, _ = IO.unpack_from(sections[IOS], IO.size * i)
        elements = 1
        for d in (d0, d1, d2, d3)[:rank]:
            elements *= d
        ios.append((name(nm), region, elements * DTYPE_BYTES[dtype], offset))
    return regions, ios


def align_up(x, a):
    return (x + a - 1) // a * a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("socket")
    ap.add_argument("program")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.bin")
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    program = open(a.program, "rb").read()
    regions, ios = parse_npub(program)

    dev = Connection(a.socket)
    _, ack = dev.call(HELLO, struct.pack("<I", 1))
    _, dev_id, _, clock_hz, queue, _, window, _ = struct.unpack("<IIQQIIQQ", ack)
    if dev_id != 0x5355504E:
        raise DeviceError(f"DEV_ID 0x{dev_id:08x} is not an npusim device")

    # One shared buffer at the start of this client's window: rings, fence, region table, program,
    # then every region but the constants (those the device takes from the container).
    ring_entries = 4
    sq, cq, fence, table = 0, 256, 384, 512
    layout, at = {}, align_up(1024 + len(program), 4096)
    for i, (_, role, size, align, _) in enumerate(regions):
        if role != ROLE_CONST:
            at = align_up(at, max(align, 64))
            layout[i] = at
            at += size
    size = align_up(at, 4096)
    fd = os.memfd_create("npusim-driver", os.MFD_ALLOW_SEALING)  # the server seals it against shrinking
    os.ftruncate(fd, size)
    buf = mmap.mmap(fd, size)
    dev.call(MEM_ADD, struct.pack("<QQ", window, size), fds=[fd])
    os.close(fd)

    buf[1024:1024 + len(program)] = program
    for i, (_, role, rsize, _, init) in enumerate(regions):
        struct.pack_into("<QQ", buf, table + 16 * i, window + layout[i] if i in layout else 0, rsize)
        if i in layout and init:
            buf[layout[i]:layout[i] + len(init)] = init  # scratch regions' initial contents
    for spec in a.input:
        tensor, path = spec.split("=", 1)
        match = [io for io in ios if io[0] == tensor and regions[io[1]][1] == ROLE_INPUT]
        if not match:
            raise SystemExit(f"driver.py: the program has no input '{tensor}'")
        _, region, nbytes, offset = match[0]
        data = open(path, "rb").read()
        if len(data) != nbytes:
            raise SystemExit(f"driver.py: {path}: {len(data)} bytes, input '{tensor}' takes {nbytes}")
        buf[layout[region] + offset:layout[region] + offset + nbytes] = data

    q = QUEUE_BASE + QUEUE_STRIDE * queue
    for offset, value in [(q + SQ_BASE_LO, window + sq), (q + SQ_BASE_HI, (window + sq) >> 32),
                          (q + SQ_SIZE, ring_entries), (q + CQ_BASE_LO, window + cq),
                          (q + CQ_BASE_HI, (window + cq) >> 32), (q + CQ_SIZE, ring_entries),
                          (q + FENCE_LO, window + fence), (q + FENCE_HI, (window + fence) >> 32),
                          (q + Q_CTRL, 1), (REG_INT_ENABLE, INT_JOB_DONE | INT_ERROR), (REG_CTRL, CTRL_ENABLE)]:
        dev.write(offset, value)

    seqno = 1
    buf[sq:sq + JOB.size] = JOB.pack(JOB_MAGIC, JOB_IRQ_ON_DONE, seqno, window + 1024, len(program), 0,
                                     window + table, len(regions))
    dev.write(DOORBELL_BASE + DOORBELL_STRIDE * queue, 1)  # new tail: the job runs before the ACK
    got, status, err, insn, _, phase, cycles = COMPLETION.unpack_from(buf, cq)
    if phase != 1 or got != seqno:
        raise DeviceError(f"no completion entry for job {seqno} (phase {phase}, seqno {got})")
    if struct.unpack_from("<Q", buf, fence)[0] != seqno:
        raise DeviceError("the fence does not hold the completed seqno")
    # The interrupt: the causes pending (the line is high while INT_STATUS & INT_ENABLE != 0; IRQ
    # messages report changes), acknowledged by writing them back (W1C).
    causes = dev.read(REG_INT_STATUS)
    dev.write(REG_INT_STATUS, causes)
    print(f"job {seqno}: status {status}, error {err} at instruction {insn if insn != 0xFFFFFFFF else '-'}, "
          f"{cycles} cycles ({cycles / clock_hz * 1e6:.3f} us), INT_STATUS 0x{causes:x}")
    os.makedirs(a.out, exist_ok=True)
    for tensor, region, nbytes, offset in ios:
        if regions[region][1] == ROLE_OUTPUT:
            with open(os.path.join(a.out, tensor + ".bin"), "wb") as f:
                f.write(buf[layout[region] + offset:layout[region] + offset + nbytes])
    dev.call(BYE)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DeviceError, OSError, ValueError) as e:
        print(f"driver.py: {e}", file=sys.stderr)
        sys.exit(2)
