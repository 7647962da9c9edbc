// The tiled emitters every operator family shares (see lowering.h): element-wise row tiles, the
// double-buffered matrix multiply and the 2-D convolution over kernel taps.
#include <algorithm>

#include "compiler/lowering.h"

namespace npusim::compiler::lowering {

Window window(const Node& n, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw) {
  Window w;
  w.kh = kh;
  w.kw = kw;
  auto ints = [&](const char* k) {
    auto it = n.attrs.find(k);
    return it == n.attrs.end() ? std::vector<int64_t>{} : it->second.ints;
  };
  if (auto v = ints("strides"); v.size() == 2) w.sh = v[0], w.sw = v[1];
  if (auto v = ints("dilations"); v.size() == 2) w.dh = v[0], w.dw = v[1];
  const auto pads = ints("pads");
  const auto it = n.attrs.find("auto_pad");
  const std::string ap = it == n.attrs.end() ? "NOTSET" : it->second.s;
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    const int64_t th = std::max<int64_t>((OH - 1) * w.sh + (kh - 1) * w.dh + 1 - H, 0);
    const int64_t tw = std::max<int64_t>((OW - 1) * w.sw + (kw - 1) * w.dw + 1 - W, 0);
    w.pt = ap == "SAME_UPPER" ? th / 2 : th - th / 2;
    w.pl = ap == "SAME_UPPER" ? tw / 2 : tw - tw / 2;
    w.pb = th - w.pt;
    w.pr = tw - w.pl;
  } else if (ap == "NOTSET" && pads.size() == 4) {
    w.pt = pads[0], w.pl = pads[1], w.pb = pads[2], w.pr = pads[3];
    for (const int64_t p : pads)
      if (p < 0) throw CompileError(where(n) + ": pads must not be negative, got " + shape_text(pads));
  } else if (ap != "NOTSET" && ap != "VALID") {
    throw CompileError(where(n) + ": auto_pad '" + ap + "' is not supported");
  }
  return w;
}

std::vector<Tap> taps_for_band(const Window& win, int64_t KH, int64_t KW, int64_t H, int64_t W, int64_t OW, int64_t oh0,
                               int64_t th) {
  std::vector<Tap> taps;
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t oy = kh * win.dh - win.pt, ox = kw * win.dw - win.pl;  // input = out * stride + o
      const Tap t{kh,
                  kw,
                  std::max(oh0, ceil_div(-oy, win.sh)),
                  std::min(oh0 + th - 1, floor_div(H - 1 - oy, win.sh)),
                  std::max<int64_t>(0, ceil_div(-ox, win.sw)),
                  std::min(OW - 1, floor_div(W - 1 - ox, win.sw))};
      if (t.oh_lo <= t.oh_hi && t.ow_lo <= t.ow_hi) taps.push_back(t);
    }
  return taps;
}

void Lowering::unary(const Node& n, uint32_t clamp) {
  const Location in = input(n, 0);
  const Location out = output(n);
  rows_op(n, {in}, {false}, out, [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
    Instruction i = make(Opcode::Clamp);
    i.set(f::clamp::dst, dst);
    i.set(f::clamp::src, src[0]);
    i.set(f::clamp::rows, rows);
    i.set(f::clamp::cols, cols);
    i.set(f::clamp::dtype, code(in.type, n));
    i.set(f::clamp::bounds, clamp);
    return i;
  });
}

/// out = la (op) lb row by row; `bcast`: lb is one row for every row.
void Lowering::rows_binary(const Node& n, const Location& la, const Location& lb, bool bcast, const Location& out,
                           Opcode op) {
  rows_op(n, {la, lb}, {false, bcast}, out,
          [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
            Instruction i = make(op);
            i.set(f::add::dst, dst);
            i.set(f::add::src0, src[0]);
            i.set(f::add::src1, src[1]);
            i.set(f::add::rows, rows);
            i.set(f::add::cols, cols);
            i.set(f::add::dtype, code(la.type, n));
            i.set(f::add::bcast, bcast ? 1 : 0);
            i.set(f::add::q, isa::kNoParam);
            return i;
          });
}

void Lowering::emit_gemm(const Node& n, const GemmPlan& g) {
  const Bias bias = g.bias;
  const bool dyn_bias = bias == Bias::DynRow || bias == Bias::DynFull;
  const bool trans_a = g.trans_a, b_transposed = g.b_transposed;
  const int64_t M = g.M, K = g.K, N = g.N;
  const Location &la = g.a, &lb = g.b, &lc = g.c, &ly = g.y;
  const bool raw_out = !g.requant_for;  // Y is the i32 accumulator
  // Tiles: as large as the scratchpad (A, B, output, computed C and its row) and the accumulator allow.
  const unsigned ea = bytes_of(la.type), eb = bytes_of(lb.type), ey = raw_out ? 0 : bytes_of(ly.type),
                 ec = dyn_bias ? bytes_of(lc.type) : 0;
  int64_t tn = std::min<int64_t>(N, std::max<int64_t>(t_.mxu_cols * 4, 64)), tk = std::min<int64_t>(K, 1024),
          tm = std::min<int64_t>(M, 1024);
  tn = std::min<int64_t>(tn, 4095), tk = std::min<int64_t>(tk, 4095), tm = std::min<int64_t>(tm, 4095);
  auto a_lines = [&] { return trans_a ? lines(tk, tm, ea) : lines(tm, tk, ea); };
  auto b_lines = [&] { return b_transposed ? lines(tn, tk, eb) : lines(tk, tn, eb); };
  auto y_lines = [&] { return raw_out ? 0u : lines(tm, tn, ey); };
  auto c_lines = [&] { return dyn_bias ? lines(tm, tn, ec) + lines(1, tn, ec) : 0u; };
  auto spad_ok = [&] {
    // Two A and two B buffers (double buffering), the output tile, a computed C and its row.
    return uint64_t{2 * (a_lines() + b_lines()) + y_lines() + c_lines()} * t_.line_bytes <= t_.spad_bytes;
  };
  while (uint64_t{lines(tm, tn, 4)} * t_.line_bytes > t_.acc_bytes && tm > 1) tm = (tm + 1) / 2;
  while (!spad_ok() && (tk > 16 || tm > 1)) {
    if (tk > 16)
      tk = (tk + 1) / 2;
    else
      tm = (tm + 1) / 2;
  }
  if (!spad_ok()) throw CompileError(where(n) + ": no tile fits the scratchpad");
  const uint32_t a_buf[2] = {0, a_lines()}, b_buf[2] = {2 * a_lines(), 2 * a_lines() + b_lines()};
  const uint32_t y_line = b_buf[1] + b_lines(), c_line = y_line + y_lines(), r_line = c_line + lines(tm, tn, ec);
  const int64_t k_steps = (K + tk - 1) / tk, steps = k_steps * g.passes;
  for (int64_t m0 = 0; m0 < M; m0 += tm)
    for (int64_t n0 = 0; n0 < N; n0 += tn) {
      const auto mm = static_cast<uint32_t>(std::min(tm, M - m0)), nn = static_cast<uint32_t>(std::min(tn, N - n0));
      bool first = true;
      if (bias == Bias::ConstRow || bias == Bias::ConstFull) {
        Instruction l = make(Opcode::Load);
        l.set(f::load::dst_acc, 1);
        l.set(f::load::dst, 0);
        l.set(f::load::desc, desc(weights_region_, g.bias_type, g.bias_off, nn, mm, bias == Bias::ConstFull ? N : 0));
        l.set(f::load::off, static_cast<uint32_t>(bias == Bias::ConstFull ? m0 * N + n0 : n0));
        emit(l, kGo, 1, kL2M);
        first = false;
      } else if (dyn_bias) {
        // C (device type) and the beta/alpha row into the scratchpad; their product, in fp32, into the accumulator.
        Instruction l = make(Opcode::Load);
        l.set(f::load::dst, c_line);
        l.set(f::load::desc, desc(lc.region, lc.type, lc.offset, nn, mm, bias == Bias::DynFull ? N : 0));
        l.set(f::load::off, static_cast<uint32_t>(bias == Bias::DynFull ? m0 * N + n0 : n0));
        emit(l, kGo, 1, kL2V);
        Instruction r = make(Opcode::Load);
        r.set(f::load::dst, r_line);
        r.set(f::load::desc, desc(weights_region_, lc.type, g.ratio_off, nn, 1, N));
        r.set(f::load::off, static_cast<uint32_t>(n0));
        emit(r, -1, 1, kL2V);
        Instruction mul = make(Opcode::Mul);
        mul.set(f::mul::dst_acc, 1);
        mul.set(f::mul::dst, 0);
        mul.set(f::mul::src0, c_line);
        mul.set(f::mul::src1, r_line);
        mul.set(f::mul::bcast, 1);
        mul.set(f::mul::rows, mm);
        mul.set(f::mul::cols, nn);
        mul.set(f::mul::dtype, code(lc.type, n));
        mul.set(f::mul::q, isa::kNoParam);
        emit(mul, kL2V, 2, kL2M);  // the MXU counts it with its loads
        first = false;
      }
      const bool has_bias = bias != Bias::None;
      // Double buffering: step i uses buffers i % 2, so loading step i+1 overlaps matmul i; the
      // load of step i (i >= 2) waits for matmul i-2, which signals m2l (only matmuls 0..S-3 do,
      // so signals and waits balance within the tile). Steps run over weight passes, then K.
      for (int64_t i = 0; i < steps; ++i) {
        const int64_t pass = i / k_steps, k0 = (i % k_steps) * tk;
        const auto kk = static_cast<uint32_t>(std::min(tk, K - k0));
        const uint32_t a_line = a_buf[i % 2], b_line = b_buf[i % 2];
        const int64_t b_base = batch_.b + pass * K * N;
        // A: mm x kk of M x K (or kk x mm of K x M); B: kk x nn of K x N (or nn x kk of N x K).
        emit(trans_a ? tile_load(a_line, la, batch_.a, k0, m0, kk, mm, M)
                     : tile_load(a_line, la, batch_.a, m0, k0, mm, kk, K),
             first ? kGo : (i >= 2 ? kM2L : -1), 1, kL2M);
        first = false;
        emit(b_transposed ? tile_load(b_line, lb, b_base, n0, k0, nn, kk, K)
                          : tile_load(b_line, lb, b_base, k0, n0, kk, nn, N),
             -1, 1, kL2M);
        Instruction m = make(Opcode::Matmul);
        m.set(f::matmul::c, 0);
        m.set(f::matmul::a, a_line);
        m.set(f::matmul::b, b_line);
        m.set(f::matmul::m, mm);
        m.set(f::matmul::n, nn);
        m.set(f::matmul::k, kk);
        m.set(f::matmul::dtype, g.mm_dtype);
        m.set(f::matmul::trans_a, trans_a ? 1 : 0);
        m.set(f::matmul::trans_b, b_transposed ? 1 : 0);
        m.set(f::matmul::accumulate, (i > 0 || has_bias) ? 1 : 0);
        emit(m, kL2M, (i == 0 && has_bias) ? 3 : 2,
             i == steps - 1 ? (raw_out ? kM2S : kM2V) : (i + 2 < steps ? kM2L : -1));
      }
      uint32_t src_line = 0;
      bool src_acc = true;
      if (!raw_out) {
        Instruction rq = make(Opcode::Requant);
        rq.set(f::requant::dst, y_line);
        rq.set(f::requant::src, 0);
        rq.set(f::requant::rows, mm);
        rq.set(f::requant::cols, nn);
        rq.set(f::requant::dtype, code(ly.type, n));
        const RequantRef q = g.requant_for(n0);
        rq.set(f::requant::q, q.q);
        rq.set(f::requant::col0, q.col0);
        emit(rq, kM2V, 1, kV2S);
        src_line = y_line;
        src_acc = false;
      }
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, src_line);
      st.set(f::store::src_acc, src_acc ? 1 : 0);
      st.set(f::store::desc, desc(ly.region, ly.type, ly.offset, nn, mm, N));
      st.set(f::store::off, static_cast<uint32_t>(batch_.y + m0 * N + n0));
      emit(st, raw_out ? kM2S : kV2S, 1, kGo);
    }
}

/// The shapes, groups and window of a 2-D convolution (Conv, QLinearConv, ConvInteger), checked.
/// Groups: group g maps input channels [g*Cg, (g+1)*Cg) to output channels [g*Cog, (g+1)*Cog);
/// each group is an ordinary convolution on channel slices, addressed by element offsets.
ConvPlan Lowering::conv_shapes(const Node& n, const Tensor& x, const Tensor& w, const Tensor& y) {
  if (!is_spatial(x) || !is_spatial(y) || w.shape.size() != 4)
    throw CompileError(where(n) + ": only 2-D convolution (4-D X and W) is supported");
  if (!w.is_const) throw CompileError(where(n) + ": the weights must be constant");
  ConvPlan p;
  p.N = x.shape[0], p.C = x.shape[1], p.H = x.shape[2], p.W = x.shape[3];
  p.Co = y.shape[1], p.OH = y.shape[2], p.OW = y.shape[3], p.KH = w.shape[2], p.KW = w.shape[3];
  p.G = n.attr_i("group", 1);
  if (p.G < 1 || p.C % p.G || p.Co % p.G)
    throw CompileError(where(n) + ": group " + std::to_string(p.G) + " does not divide the channels");
  if (w.shape[0] != p.Co || w.shape[1] != p.C / p.G)
    throw CompileError(where(n) + ": weights " + shape_text(w.shape) + " do not match the input and output channels");
  p.win = window(n, p.H, p.W, p.OH, p.OW, p.KH, p.KW);
  return p;
}

void Lowering::emit_conv(const Node& n, const ConvPlan& cp) {
  const Location &lx = cp.x, &ly = cp.y;
  const Window& win = cp.win;
  const int64_t N = cp.N, C = cp.C, H = cp.H, W = cp.W, Co = cp.Co, OH = cp.OH, OW = cp.OW, KH = cp.KH, KW = cp.KW,
                G = cp.G, Cg = C / G, Cog = Co / G;
  const bool raw_out = !cp.requant_for;
  if (OW > 4095) throw CompileError(where(n) + ": output width " + std::to_string(OW) + " exceeds 4095");
  const unsigned ex = bytes_of(lx.type), ew = bytes_of(cp.w.type), ey = raw_out ? 0 : bytes_of(ly.type);
  int64_t tn = std::min<int64_t>(Cog, std::max<int64_t>(t_.mxu_cols * 4, 64)), tk = std::min<int64_t>(Cg, 512);
  int64_t toh = std::max<int64_t>(1, std::min<int64_t>(OH, 4095 / OW));
  auto y_lines = [&](int64_t P) { return raw_out ? 0u : lines(P, tn, ey); };
  auto fits = [&] {
    const int64_t P = toh * OW;
    return uint64_t{lines(P, tn, 4)} * t_.line_bytes <= t_.acc_bytes &&
           uint64_t{2 * (lines(P, tk, ex) + lines(tk, tn, ew)) + y_lines(P)} * t_.line_bytes <= t_.spad_bytes;
  };
  while (!fits() && (toh > 1 || tk > 1 || tn > 1)) {
    if (toh > 1)
      toh = (toh + 1) / 2;
    else if (tk > 1)
      tk = (tk + 1) / 2;
    else
      tn = (tn + 1) / 2;
  }
  if (!fits()) throw CompileError(where(n) + ": no tile fits the scratchpad and accumulator");
  const int64_t pass_elems = G * KH * KW * Cg * Cog;
  for (int64_t b = 0; b < N; ++b)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t oh0 = 0; oh0 < OH; oh0 += toh)
        for (int64_t n0 = 0; n0 < Cog; n0 += tn) {
          const int64_t th = std::min(toh, OH - oh0), P = th * OW;
          const auto nn = static_cast<uint32_t>(std::min(tn, Cog - n0));
          // Double-buffered A (window) and B (tap weights), as in gemm(): step i uses buffers i % 2.
          const uint32_t a_buf[2] = {0, lines(P, tk, ex)},
                         b_buf[2] = {2 * lines(P, tk, ex), 2 * lines(P, tk, ex) + lines(tk, tn, ew)};
          const uint32_t y_line = b_buf[1] + lines(tk, tn, ew);
          // The taps that touch the image for this band, each in channel chunks and weight passes.
          struct Step {
            Tap tap;
            int64_t c0, ck, pass;
          };
          const std::vector<Tap> band_taps = taps_for_band(win, KH, KW, H, W, OW, oh0, th);
          std::vector<Step> steps;
          for (int64_t pass = 0; pass < cp.passes; ++pass)
            for (const Tap& t : band_taps)
              for (int64_t c0 = 0; c0 < Cg; c0 += tk) steps.push_back({t, c0, std::min(tk, Cg - c0), pass});
          if (steps.empty())
            throw CompileError(where(n) + ": output rows " + std::to_string(oh0) + ".." + std::to_string(oh0 + th - 1) +
                               " see only padding (padding as large as the kernel)");
          const int64_t bias_off = cp.bias_for_band(band_taps);
          const bool has_bias = bias_off >= 0;
          bool first = true;
          if (has_bias) {
            Instruction l = make(Opcode::Load);
            l.set(f::load::dst_acc, 1);
            l.set(f::load::desc, desc(weights_region_, cp.bias_type, static_cast<uint64_t>(bias_off), nn,
                                      static_cast<uint32_t>(P), 0));
            l.set(f::load::off, static_cast<uint32_t>(g * Cog + n0));
            emit(l, kGo, 1, kL2M);
            first = false;
          }
          for (size_t i = 0; i < steps.size(); ++i) {
            const Step& st = steps[i];
            const uint32_t a_line = a_buf[i % 2], b_line = b_buf[i % 2];
            const Instruction la = window_load(n, lx, win, st.tap, oh0, th, OW, H, W, C, b, g * Cg + st.c0,
                                               static_cast<uint32_t>(st.ck), a_line);
            emit(la, first ? kGo : (i >= 2 ? kM2L : -1), 1, kL2M);
            first = false;
            Instruction lw = make(Opcode::Load);
            lw.set(f::load::dst, b_line);
            lw.set(f::load::desc, desc(cp.w.region, cp.w.type, cp.w.offset, nn, static_cast<uint32_t>(st.ck), Cog));
            lw.set(f::load::off,
                   static_cast<uint32_t>(st.pass * pass_elems +
                                         (((g * KH + st.tap.kh) * KW + st.tap.kw) * Cg + st.c0) * Cog + n0));
            emit(lw, -1, 1, kL2M);
            Instruction m = make(Opcode::Matmul);
            m.set(f::matmul::a, a_line);
            m.set(f::matmul::b, b_line);
            m.set(f::matmul::m, static_cast<uint32_t>(P));
            m.set(f::matmul::n, nn);
            m.set(f::matmul::k, static_cast<uint32_t>(st.ck));
            m.set(f::matmul::dtype, cp.mm_dtype);
            m.set(f::matmul::accumulate, (i > 0 || has_bias) ? 1 : 0);
            emit(m, kL2M, (i == 0 && has_bias) ? 3 : 2,
                 i + 1 == steps.size() ? (raw_out ? kM2S : kM2V) : (i + 2 < steps.size() ? kM2L : -1));
          }
          uint32_t src_line = 0;
          if (!raw_out) {
            Instruction rq = make(Opcode::Requant);
            rq.set(f::requant::dst, y_line);
            rq.set(f::requant::rows, static_cast<uint32_t>(P));
            rq.set(f::requant::cols, nn);
            rq.set(f::requant::dtype, code(ly.type, n));
            const RequantRef q = cp.requant_for(g * Cog + n0);
            rq.set(f::requant::q, q.q);
            rq.set(f::requant::col0, q.col0);
            emit(rq, kM2V, 1, kV2S);
            src_line = y_line;
          }
          Instruction sto = make(Opcode::Store);
          sto.set(f::store::src, src_line);
          sto.set(f::store::src_acc, raw_out ? 1 : 0);
          sto.set(f::store::desc, desc(ly.region, ly.type, ly.offset, nn, static_cast<uint32_t>(P), Co));
          sto.set(f::store::off, static_cast<uint32_t>(((b * OH + oh0) * OW) * Co + g * Cog + n0));
          emit(sto, raw_out ? kM2S : kV2S, 1, kGo);
        }
}

/// The load of one tap's window for a band: `cc` channels from `c_off` of image `b` (NHWC, C
/// channels), strided by the convolution's strides and zero-padded where the tap leaves the image.
Instruction Lowering::window_load(const Node& n, const Location& lx, const Window& win, const Tap& t, int64_t oh0,
                                  int64_t th, int64_t OW, int64_t H, int64_t W, int64_t C, int64_t b, int64_t c_off,
                                  uint32_t cc, uint32_t dst) {
  const int64_t pt = t.oh_lo - oh0, pb = oh0 + th - 1 - t.oh_hi, pl = t.ow_lo, pr = OW - 1 - t.ow_hi;
  if (pt > 15 || pb > 15 || pl > 15 || pr > 15)
    throw CompileError(where(n) + ": more than 15 padding rows or columns in one tile (the load's padding fields)");
  const int64_t y0 = t.oh_lo * win.sh + t.kh * win.dh - win.pt, x0 = t.ow_lo * win.sw + t.kw * win.dw - win.pl;
  Instruction la = make(Opcode::Load);
  la.set(f::load::dst, dst);
  la.set(f::load::desc,
         desc_nd(lx.region, lx.type, lx.offset,
                 {cc, static_cast<uint32_t>(t.ow_hi - t.ow_lo + 1), static_cast<uint32_t>(t.oh_hi - t.oh_lo + 1)},
                 {win.sw * C, win.sh * W * C}, lx.zp));
  if (lx.zp != 0) la.set(f::load::pad_zp, 1);  // a quantized image pads with its zero point
  la.set(f::load::off, static_cast<uint32_t>(((b * H + y0) * W + x0) * C + c_off));
  la.set(f::load::pad_top, static_cast<uint32_t>(pt));
  la.set(f::load::pad_bottom, static_cast<uint32_t>(pb));
  la.set(f::load::pad_left, static_cast<uint32_t>(pl));
  la.set(f::load::pad_right, static_cast<uint32_t>(pr));
  return la;
}

/// 2-D convolution on NHWC activations: for each band of output rows and tile of output
/// channels, the sum over kernel taps (kh, kw) and input-channel chunks of

}  // namespace npusim::compiler::lowering
