// One processing element of npusim's systolic array: an 8-bit multiply (A signed or unsigned, B
// signed) accumulated in 32 bits, for both dataflows.
//   weight-stationary: `w` holds B[k][n]; the partial sum enters from above (psum_in) and leaves
//     below (psum_out = psum_in + a * w); A moves right.
//   output-stationary: `acc` accumulates a * b; A moves right, B moves down.
// Weights load by shifting down one row per cycle (w_load).
`default_nettype none
module mac_pe (
    input  wire               clk,
    input  wire               os_mode,    // 1: output-stationary, 0: weight-stationary
    input  wire               a_unsigned, // A operands are uint8 (else int8)
    input  wire               w_load,     // WS preload: w <= w_in
    input  wire               clear,      // OS: start a new accumulation with this product
    input  wire        [7:0]  w_in,
    input  wire        [7:0]  a_in,
    input  wire        [7:0]  b_in,
    input  wire signed [31:0] psum_in,
    output logic       [7:0]  w_out,
    output logic       [7:0]  a_out,
    output logic       [7:0]  b_out,
    output logic signed [31:0] psum_out   // WS: partial sum to the PE below; OS: the accumulator
);
    logic [7:0] w;  // the stationary weight
    // 9-bit signed A: sign- or zero-extended; B is int8. The product fits 17 bits.
    wire signed [8:0]  a9   = {a_unsigned ? 1'b0 : a_in[7], a_in};
    wire signed [8:0]  b9   = {os_mode ? b_in[7] : w[7], os_mode ? b_in : w};
    wire signed [17:0] prod = a9 * b9;
    wire signed [31:0] prod32 = {{14{prod[17]}}, prod};

    assign w_out = w;

    always_ff @(posedge clk) begin
        if (w_load) w <= w_in;
        a_out <= a_in;
        b_out <= b_in;
        if (os_mode) psum_out <= (clear ? 32'sd0 : psum_out) + prod32;
        else psum_out <= psum_in + prod32;
    end
endmodule
`default_nettype wire
