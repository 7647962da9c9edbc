// npusim's systolic array with the control that streams one fold of a matmul tile
// (C[m x n] = A[m x k] x B[k x n], 8-bit operands, 32-bit results), in either dataflow, following
// SCALE-Sim's schedule so the analytical model's closed form can be checked against it:
//
//   weight-stationary (os_mode = 0): PE(r, c) holds B[r][c] (k <= ROWS, n <= COLS). Preload: ROWS
//     cycles shifting weights down (skipped with skip_preload when they are already resident).
//     Then A[m][r] enters row r at compute cycle m + r and moves right; partial sums move down;
//     C[m][c] leaves row ROWS-1 at compute cycle m + ROWS - 1 + c. Busy cycles:
//     2 ROWS + COLS + T - 2 (T = m), or ROWS + COLS + T - 2 without the preload.
//   output-stationary (os_mode = 1): PE(r, c) accumulates C[r][c] (m <= ROWS, n <= COLS).
//     A[r][k] enters row r and B[k][c] column c at cycle k + r (k + c). Busy cycles:
//     ROWS + COLS + T - 2 (T = k); results stay in the PEs (read them with rd_*).
//
// Operands come from buffers written one element per cycle through the write ports (a co-simulation
// may fill the buffers directly instead); the fold starts with `start` and `busy` stays high for
// exactly the cycles above. Unused rows and columns must hold zeros.
`default_nettype none
module systolic_array #(
    parameter int ROWS = 4,
    parameter int COLS = 4,
    parameter int TMAX = 1024,  // longest streamed dimension (WS: m, OS: k) per fold; a power of two >= ROWS
    localparam int TW = $clog2(TMAX),                 // time index width
    localparam int LW = ROWS > 1 ? $clog2(ROWS) : 1,  // row index width
    localparam int CW = COLS > 1 ? $clog2(COLS) : 1   // column index width
) (
    input  wire         clk,
    input  wire         rst,
    // fold control
    input  wire         start,
    input  wire         os_mode,
    input  wire         a_unsigned,
    input  wire         skip_preload,
    input  wire  [15:0] t_len,        // T, 1..TMAX
    output logic        busy,
    output logic        done,         // one-cycle pulse after the last busy cycle
    // operand buffers: A lane (WS: k, OS: m) x time, B lane (WS: weight row k, OS: time k) x column
    input  wire         a_we,
    input  wire  [LW-1:0] a_lane,
    input  wire  [TW-1:0] a_t,
    input  wire  [7:0]  a_data,
    input  wire         b_we,
    input  wire  [TW-1:0] b_row,
    input  wire  [CW-1:0] b_col,
    input  wire  [7:0]  b_data,
    // results: WS: C[m][c] from the output buffer; OS: the accumulator of PE(r, c)
    input  wire  [TW-1:0] rd_row,  // WS: m; OS: the PE row (low bits)
    input  wire  [CW-1:0] rd_col,
    output logic [31:0] rd_data
);
    // Buffers (a co-simulation harness may write them directly: verilator public).
    logic [7:0]  a_buf [ROWS][TMAX] /* verilator public */;
    logic [7:0]  b_buf [TMAX][COLS] /* verilator public */;
    logic [31:0] c_buf [TMAX][COLS] /* verilator public */;

    always_ff @(posedge clk) begin
        if (a_we) a_buf[a_lane][a_t] <= a_data;
        if (b_we) b_buf[b_row][b_col] <= b_data;
    end

    // Control: cyc counts busy cycles of the current fold.
    logic [17:0] cyc;
    logic        mode_os, mode_unsigned, preload_on;
    logic [15:0] t_q;
    wire  [17:0] pre = preload_on ? 18'(ROWS) : 18'd0;           // preload length
    wire  [17:0] last = pre + 18'(t_q) + 18'(ROWS) + 18'(COLS) - 18'd3;  // index of the last busy cycle
    wire         in_pre = busy && (cyc < pre);
    wire  [17:0] tc = cyc - pre;                                   // compute cycle

    always_ff @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            cyc  <= '0;
        end else if (start && !busy) begin
            busy          <= 1'b1;
            done          <= 1'b0;
            cyc           <= '0;
            mode_os       <= os_mode;
            mode_unsigned <= a_unsigned;
            preload_on    <= !os_mode && !skip_preload;
            t_q           <= t_len;
        end else if (busy) begin
            cyc <= cyc + 18'd1;
            if (cyc == last) begin
                busy <= 1'b0;
                done <= 1'b1;
            end
        end else begin
            done <= 1'b0;
        end
    end

    // The PE grid.
    logic [7:0]  w_q   [ROWS][COLS];
    logic [7:0]  a_q   [ROWS][COLS];
    logic [7:0]  b_q   [ROWS][COLS];
    logic [31:0] ps_q  [ROWS][COLS];

    // Edge feeds for this cycle (zeros outside the valid window).
    logic [7:0] a_feed [ROWS];
    logic [7:0] b_feed [COLS];
    logic [7:0] w_feed [COLS];
    always_comb begin
        for (int r = 0; r < ROWS; r++) begin
            // Row r: element t = tc - r of its lane (WS: A[t][r]; OS: A[r][t]).
            a_feed[r] = 8'd0;
            if (busy && !in_pre && tc >= 18'(r) && tc - 18'(r) < 18'(t_q))
                a_feed[r] = a_buf[r][TW'(tc - 18'(r))];
        end
        for (int c = 0; c < COLS; c++) begin
            // OS: column c gets B[t][c] with t = tc - c. WS preload cycle p feeds B[ROWS-1-p][c].
            b_feed[c] = 8'd0;
            w_feed[c] = 8'd0;
            if (busy && mode_os && tc >= 18'(c) && tc - 18'(c) < 18'(t_q))
                b_feed[c] = b_buf[TW'(tc - 18'(c))][c];
            if (in_pre) w_feed[c] = b_buf[TW'(18'(ROWS) - 18'd1 - cyc)][c];
        end
    end

    genvar gr, gc;
    generate
        for (gr = 0; gr < ROWS; gr++) begin : row
            for (gc = 0; gc < COLS; gc++) begin : col
                // OS: PE(r, c) sees its first operands at cycle r + c: start the accumulation there.
                wire clear_here = busy && (tc == 18'(gr + gc));
                mac_pe pe (
                    .clk(clk),
                    .os_mode(mode_os),
                    .a_unsigned(mode_unsigned),
                    .w_load(in_pre),
                    .clear(clear_here),
                    .w_in(gr == 0 ? w_feed[gc] : w_q[gr-1][gc]),
                    .a_in(gc == 0 ? a_feed[gr] : a_q[gr][gc-1]),
                    .b_in(gr == 0 ? b_feed[gc] : b_q[gr-1][gc]),
                    .psum_in(gr == 0 ? 32'sd0 : ps_q[gr-1][gc]),
                    .w_out(w_q[gr][gc]),
                    .a_out(a_q[gr][gc]),
                    .b_out(b_q[gr][gc]),
                    .psum_out(ps_q[gr][gc])
                );
            end
        end
    endgenerate

    // WS outputs: at compute cycle tc, row ROWS-1 of column c holds C[m][c] with
    // m = tc - ROWS - c (computed the cycle before).
    // The last output leaves in the cycle after the last busy one (the `done` cycle).
    wire capturing = !mode_os && ((busy && !in_pre) || done);
    always_ff @(posedge clk) begin
        if (capturing)
            for (int c = 0; c < COLS; c++)
                if (tc >= 18'(ROWS + c) && tc - 18'(ROWS + c) < 18'(t_q))
                    c_buf[TW'(tc - 18'(ROWS + c))][c] <= ps_q[ROWS-1][c];
    end

    // Reads.
    wire [LW-1:0] rd_pe_row = rd_row[LW-1:0];
    always_comb rd_data = mode_os ? ps_q[rd_pe_row][rd_col] : c_buf[rd_row][rd_col];
endmodule
`default_nettype wire
